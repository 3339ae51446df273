/* evalsuite.c — see evalsuite.h. */
#include "evalsuite.h"
#include "errors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One seed: returns 0 and the final loss (+inf on a non-finite run). */
static int eval_one(const opt_config *cfg, const char *family, const task_params *tp,
                    int64_t horizon, uint64_t seed, double *final)
{
    task *tk = NULL;
    int rc = task_create(family, tp, seed, &tk);
    if (rc) return rc;
    size_t n = tk->n;
    float *p = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float)), *u = malloc(n * sizeof(float));
    opt o;
    int o_ok = 0;
    if (!p || !g || !u) rc = ERR_NO_MEMORY;
    if (!rc) rc = opt_init(&o, cfg, &tk->lay);
    if (!rc) {
        o_ok = 1;
        task_init_params(tk, seed, p);
        rng r;
        rng_seed(&r, seed + 1);
        int64_t tail = (horizon + 9) / 10;
        double sum = 0;
        *final = INFINITY;
        int64_t t;
        for (t = 0; t < horizon; t++) {
            step_info info = {0};
            double loss = task_loss_grad(tk, p, g, &r);
            if (!isfinite(loss)) break;
            if (t >= horizon - tail) sum += loss;
            info.loss = loss;
            if (opt_step(&o, p, g, u, &info)) break;
        }
        if (t == horizon) *final = sum / (double)tail;
    }
    if (o_ok) opt_deinit(&o);
    free(p); free(g); free(u);
    task_free(tk);
    return rc;
}

int eval_run(const opt_config *cfg, const char *family, const task_params *tp, int64_t horizon,
             const uint64_t *seeds, int nseeds, eval_result *res)
{
    memset(res, 0, sizeof *res);
    if (nseeds < 1 || nseeds > EVAL_MAX_SEEDS || horizon < 1) return ERR_INVALID_ARGUMENT;
    res->nseeds = nseeds;
    double s = 0, ss = 0;
    for (int i = 0; i < nseeds; i++) {
        int rc = eval_one(cfg, family, tp, horizon, seeds[i], &res->final_loss[i]);
        if (rc) return rc;
        if (!isfinite(res->final_loss[i])) res->nonfinite++;
        s += res->final_loss[i];
        ss += res->final_loss[i] * res->final_loss[i];
    }
    res->mean = s / nseeds;
    res->std = res->nonfinite ? INFINITY : sqrt(fmax(0.0, ss / nseeds - res->mean * res->mean));
    return 0;
}

double eval_grid_lr(int i)
{
    return 1e-4 * pow(1000.0, (double)i / (EVAL_GRID - 1));
}

int eval_adam_tuned(const char *family, const task_params *tp, int64_t horizon,
                    const uint64_t *seeds, int nseeds, double *best_lr, eval_result *best)
{
    *best_lr = NAN;
    memset(best, 0, sizeof *best);
    best->mean = INFINITY;
    int found = 0;
    for (int i = 0; i < EVAL_GRID; i++) {
        opt_config cfg;
        int rc = opt_config_defaults(&cfg, "adam");
        if (!rc) rc = opt_config_set(&cfg, "lr", eval_grid_lr(i));
        if (rc) return rc;
        eval_result r;
        rc = eval_run(&cfg, family, tp, horizon, seeds, nseeds, &r);
        if (rc) return rc;
        if (!found || r.mean < best->mean) { *best = r; *best_lr = eval_grid_lr(i); found = 1; }
    }
    return 0;
}
