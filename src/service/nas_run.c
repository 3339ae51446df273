/* nas_run.c — the architecture search's run: short runs, the predictor,
 * the long runs and the scores (see nas_run.h). */
#include "nas_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "hpo_ridge.h"
#include "lopt.h"
#include "meta_score.h"
#include "meta_weights.h"

/* family one-hot, 4 shape features, 4 curve features, then mlp_lopt's
 * activation as gelu and swish indicators (relu the reference level: all
 * zero, so that in a space without the axis these columns are constant and
 * hpo_ridge drops them — the fit is the one from before the axis), then its
 * feature set as one indicator per set but full (the reference level, the
 * same way). */
#define NFEAT_ACT  (LOPT_ACT_COUNT - 1)
#define NFEAT_FSET (LOPT_FSET_COUNT - 1)
#define NFEAT (NAS_NFAMILIES + 4 + 4 + NFEAT_ACT + NFEAT_FSET)

typedef struct cand {
    nas_arch a;
    size_t   ntheta;
    double  *curve;         /* outer_steps early meta-losses */
    double   sec_per_step;
    double   feat[NFEAT];
    double   early;         /* the curve's last-quarter mean */
    int      full_rank;     /* 0: not fully trained, else 1.. in order of selection */
    double   pred_at_pick, pred_loo, score;
} cand;

typedef struct run_ctx {
    store *db;
    const char *id;
    const meta_run_io *io;
    int64_t done;           /* outer steps over all runs */
    double t0;
} run_ctx;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int64_t nas_run_total(const nas_spec *sp)
{
    return (int64_t)sp->ncand * sp->outer_steps + (int64_t)sp->full * sp->full_steps;
}

/* Runs a fresh job of candidate a for `steps` outer steps; curve (may be
 * NULL) gets each step's meta-loss; *out the job (caller frees).  0, 1
 * (cancelled: *stopped) or ERR_*. */
static int train(run_ctx *x, const nas_spec *sp, const nas_arch *a, int64_t steps, double *curve, meta_job **out,
                 int *stopped, char *msg, size_t cap)
{
    meta_spec ms;
    int rc = nas_spec_candidate(sp, a, steps, &ms, msg, cap);
    if (!rc) rc = meta_job_new(&ms.mc, NULL, out);
    if (rc) {
        if (!*msg) snprintf(msg, cap, "cannot create a candidate's job (%s)", err_message(rc));
        return rc;
    }
    while (meta_job_step(*out) < steps) {
        int c = x->io && x->io->cancel ? atomic_load(x->io->cancel) : 0;
        if (c) {
            *stopped = c;
            return 1;
        }
        meta_report rep;
        rc = meta_step(*out, &rep);
        if (rc) {
            snprintf(msg, cap, "%s %dx%d%s%s%s%s: outer step failed: %s (%.150s)", nas_family_names[a->family],
                     a->hidden, a->depth, a->act ? " " : "", a->act ? lopt_act_name(a->act) : "", a->fset ? " " : "",
                     a->fset ? lopt_fset_name(a->fset) : "", err_message(rc), tasks_last_error());
            return rc;
        }
        if (curve) curve[rep.step - 1] = rep.meta_loss;
        x->done++;
        rc = store_meta_curve_add(x->db, x->id, x->done, rep.meta_loss, rep.grad_norm);
        if (!rc) rc = store_meta_job_update(x->db, x->id, NULL, x->done, mono_s() - x->t0, NULL, NULL, 0, NULL, 0);
        if (rc) {
            snprintf(msg, cap, "cannot record progress (%s)", err_message(rc));
            return rc;
        }
        if (x->io && x->io->progress) x->io->progress(x->io->ctx, &rep, mono_s() - x->t0);
    }
    return 0;
}

/* The selection score of theta for a job of config mc (see nas_run.h). */
static int score(const nas_spec *sp, const meta_config *mc, const float *theta, double *out, char *msg, size_t cap)
{
    return meta_score_selection_of(mc, theta, META_SCORE_SELECTION_N, sp->eval_steps, sp->eval_seeds, out, msg, cap);
}

static void features(cand *c, int64_t S)
{
    memset(c->feat, 0, sizeof c->feat);
    c->feat[c->a.family] = 1;
    double *f = c->feat + NAS_NFAMILIES;
    f[0] = log2((double)c->a.hidden);
    f[1] = c->a.depth;
    f[2] = c->a.heads;
    f[3] = log((double)c->ntheta + 1);
    int64_t q0 = S - (S + 3) / 4;
    double m = 0;
    for (int64_t s = q0; s < S; s++) m += c->curve[s] / (double)(S - q0);
    c->early = m;
    f[4] = c->curve[0];
    f[5] = c->curve[S - 1];
    f[6] = m;
    f[7] = S > 1 ? (c->curve[S - 1] - c->curve[0]) / (double)(S - 1) : 0;
    if (c->a.act != LOPT_ACT_RELU) f[8 + c->a.act - 1] = 1;
    if (c->a.fset != LOPT_FSET_FULL) f[8 + NFEAT_ACT + c->a.fset - 1] = 1;
}

/* Fits the predictor on the scored candidates other than `skip` (-1: all),
 * the features scaled over every candidate; 0 when fewer than two: the
 * early curve ranks. */
static int fit(const cand *c, int n, int skip, hpo_ridge *m)
{
    double X[NAS_MAX_CANDIDATES * NFEAT], y[NAS_MAX_CANDIDATES], mu[NFEAT] = {0}, sd[NFEAT] = {0};
    for (int j = 0; j < NFEAT; j++) {
        for (int i = 0; i < n; i++) mu[j] += c[i].feat[j] / n;
        for (int i = 0; i < n; i++) sd[j] += (c[i].feat[j] - mu[j]) * (c[i].feat[j] - mu[j]) / n;
        sd[j] = sqrt(sd[j]);
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!c[i].full_rank || i == skip) continue;
        memcpy(X + k * NFEAT, c[i].feat, sizeof c[i].feat);
        y[k++] = c[i].score;
    }
    if (k < 2) return 0;
    return hpo_ridge_fit_scaled(m, X, y, k, NFEAT, NAS_RIDGE_LAMBDA, sd) == 0;
}

static double predict(const cand *c, int fitted, const hpo_ridge *m)
{
    return fitted ? hpo_ridge_predict(m, c->feat) : c->early;
}

static cJSON *num_or_null(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *result_json(const nas_spec *sp, const cand *c, double fastest, double rho, double rho_early,
                          double shipped, int best)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "candidates");
    for (int i = 0; i < sp->ncand; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToObject(e, "architecture", nas_arch_to_json(&c[i].a));
        cJSON_AddNumberToObject(e, "ntheta", (double)c[i].ntheta);
        cJSON_AddItemToObject(e, "early_curve", cJSON_CreateDoubleArray(c[i].curve, (int)sp->outer_steps));
        cJSON_AddNumberToObject(e, "early_meta_loss", c[i].early);
        cJSON_AddNumberToObject(e, "sec_per_outer_step", c[i].sec_per_step);
        cJSON_AddItemToObject(e, "cost_vs_fastest", num_or_null(c[i].sec_per_step / fastest));
        cJSON_AddNumberToObject(e, "full_rank", c[i].full_rank);
        cJSON_AddItemToObject(e, "predicted_at_pick", num_or_null(c[i].full_rank ? c[i].pred_at_pick : NAN));
        cJSON_AddItemToObject(e, "predicted_loo", num_or_null(c[i].full_rank ? c[i].pred_loo : NAN));
        cJSON_AddItemToObject(e, "score", num_or_null(c[i].full_rank ? c[i].score : NAN));
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_AddItemToObject(o, "spearman", num_or_null(rho));
    cJSON_AddItemToObject(o, "spearman_early_curve", num_or_null(rho_early));
    cJSON_AddItemToObject(o, "best", nas_arch_to_json(&c[best].a));
    cJSON_AddNumberToObject(o, "best_score", c[best].score);
    cJSON_AddItemToObject(o, "shipped_mlp_lopt_score", num_or_null(shipped));
    cJSON *s = cJSON_AddArrayToObject(o, "selection_subset");
    for (int i = 0; i < META_SCORE_SELECTION_N; i++) cJSON_AddItemToArray(s, cJSON_CreateString(meta_score_selection[i]));
    cJSON_AddNumberToObject(o, "eval_steps", sp->eval_steps);
    cJSON_AddNumberToObject(o, "eval_seeds", sp->eval_seeds);
    return o;
}

/* The shipped mlp_lopt record scored like the candidates; NAN when absent. */
static double shipped_score(const nas_spec *sp)
{
    lopt_weights w = {0};
    meta_weights_lock();
    int rc = lopt_registry_get("mlp_lopt", &w);
    meta_weights_unlock();
    if (rc) return NAN;
    double s = NAN;
    meta_spec ms;
    char m[200];
    nas_arch a = {0, w.hidden, w.depth, 0, w.act, w.fset};
    if (nas_spec_candidate(sp, &a, 1, &ms, m, sizeof m) == 0) {
        ms.mc.mup_base = w.mup_base;
        if (score(sp, &ms.mc, w.theta, &s, m, sizeof m) != 0) s = NAN;
    }
    lopt_weights_deinit(&w);
    return s;
}

static int store_best(run_ctx *x, const nas_spec *sp, const nas_arch *best, const meta_job *j, cJSON *result, int64_t *v, char *msg,
                      size_t cap)
{
    const lopt_weights *w = meta_job_weights(j);
    meta_spec ms;   /* the best's request: its optimizer name and domain */
    int rc = nas_spec_candidate(sp, best, 1, &ms, msg, cap);
    if (rc) {
        cJSON_Delete(result);
        return rc;
    }
    uint8_t *blob = NULL;
    size_t len = 0;
    rc = lopt_weights_save(w, &blob, &len);
    if (rc) {
        cJSON_Delete(result);
        snprintf(msg, cap, "cannot encode the weights (%s)", err_message(rc));
        return rc;
    }
    cJSON *prov = cJSON_CreateObject();
    cJSON_AddStringToObject(prov, "job_id", x->id);
    cJSON_AddNumberToObject(prov, "seed", (double)sp->seed);
    cJSON_AddStringToObject(prov, "estimator", "pes");
    cJSON *t = cJSON_AddArrayToObject(prov, "task_families");   /* the task, or the recipe's tasks */
    for (int i = 0; i < ms.mc.ntasks; i++) cJSON_AddItemToArray(t, cJSON_CreateString(ms.task_text[i]));
    cJSON_AddNumberToObject(prov, "outer_steps", (double)meta_job_step(j));
    cJSON_AddNumberToObject(prov, "wall_time_s", mono_s() - x->t0);
    cJSON_AddItemToObject(prov, "config", nas_spec_to_json(sp));
    cJSON_AddItemToObject(prov, "nas", result);
    char *pj = cJSON_PrintUnformatted(prov);
    cJSON_Delete(prov);
    store_weights_row row = {.name = sp->name, .version = 0, .arch = ms.mc.optimizer,
                             .hidden = w->hidden, .depth = w->depth, .ntheta = (int64_t)w->ntheta, .domain = ms.domain,
                             .provenance_json = pj ? pj : "{}", .eval_json = "{}", .blob = blob, .blob_len = len};
    rc = store_weights_put(x->db, &row, 0, v);
    if (!rc) {
        row.version = *v;
        rc = meta_weights_publish(&row);
    }
    if (rc) snprintf(msg, cap, "cannot store the weights record (%s)", err_message(rc));
    free(pj);
    free(blob);
    return rc;
}

int nas_run(store *db, const char *id, const nas_spec *sp, const meta_run_io *io, int64_t *wversion, char *msg,
            size_t cap)
{
    if (msg && cap) msg[0] = '\0';
    run_ctx x = {db, id, io, 0, mono_s()};
    int n = sp->ncand, stopped = 0, best = -1;
    cand *c = calloc((size_t)n, sizeof *c);
    double *curves = calloc((size_t)n * (size_t)sp->outer_steps, sizeof *curves);
    meta_job *bestj = NULL;
    int rc = c && curves ? 0 : ERR_NO_MEMORY;
    if (rc) snprintf(msg, cap, "out of memory");
    if (!rc) rc = store_meta_job_update(db, id, "running", 0, 0, NULL, NULL, 0, NULL, 0);
    double fastest = INFINITY;
    for (int i = 0; !rc && !stopped && i < n; i++) {
        c[i].a = sp->cand[i];
        c[i].curve = curves + (size_t)i * (size_t)sp->outer_steps;
        meta_job *j = NULL;
        double t = mono_s();
        rc = train(&x, sp, &c[i].a, sp->outer_steps, c[i].curve, &j, &stopped, msg, cap);
        if (rc == 1) rc = 0;
        if (!rc && !stopped) {
            c[i].sec_per_step = (mono_s() - t) / (double)sp->outer_steps;
            if (c[i].sec_per_step < fastest) fastest = c[i].sec_per_step;
            c[i].ntheta = meta_job_weights(j)->ntheta;
            features(&c[i], sp->outer_steps);
        }
        meta_job_free(j);
    }
    for (int r = 1; !rc && !stopped && r <= sp->full; r++) {
        hpo_ridge m;
        int fitted = fit(c, n, -1, &m);
        int pick = -1;
        double pp = INFINITY;
        for (int i = 0; i < n; i++) {
            if (c[i].full_rank) continue;
            double p = predict(&c[i], fitted, &m);
            if (pick < 0 || p < pp || (p == pp && c[i].early < c[pick].early)) pick = i, pp = p;
        }
        c[pick].full_rank = r;
        c[pick].pred_at_pick = pp;
        meta_job *j = NULL;
        rc = train(&x, sp, &c[pick].a, sp->full_steps, NULL, &j, &stopped, msg, cap);
        if (rc == 1) rc = 0;
        if (!rc && !stopped) {
            meta_spec ms;
            rc = nas_spec_candidate(sp, &c[pick].a, sp->full_steps, &ms, msg, cap);
            if (!rc) rc = score(sp, &ms.mc, meta_job_weights(j)->theta, &c[pick].score, msg, cap);
        }
        if (!rc && !stopped && (best < 0 || c[pick].score < c[best].score)) {
            best = pick;
            meta_job_free(bestj);
            bestj = j;
        } else meta_job_free(j);
    }
    double wall = mono_s() - x.t0;
    int result;
    if (rc) {
        store_meta_job_update(db, id, "failed", x.done, wall, msg && *msg ? msg : err_message(rc), NULL, 0, NULL, 0);
        result = rc;
    } else if (stopped) {
        store_meta_job_update(db, id, stopped == 2 ? "interrupted" : "cancelled", x.done, wall, NULL, NULL, 0, NULL, 0);
        result = 1;
    } else {
        double pr[NAS_MAX_CANDIDATES], real[NAS_MAX_CANDIDATES], early[NAS_MAX_CANDIDATES];
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (!c[i].full_rank) continue;
            hpo_ridge m;
            c[i].pred_loo = fit(c, n, i, &m) ? hpo_ridge_predict(&m, c[i].feat) : NAN;
            pr[k] = c[i].pred_loo;
            early[k] = c[i].early;
            real[k++] = c[i].score;
        }
        double rho = hpo_spearman(pr, real, k);
        cJSON *res = result_json(sp, c, fastest, rho, hpo_spearman(early, real, k), shipped_score(sp), best);
        int64_t v = 0;
        rc = store_best(&x, sp, &c[best].a, bestj, res, &v, msg, cap);
        if (rc) {
            store_meta_job_update(db, id, "failed", x.done, wall, msg, NULL, 0, NULL, 0);
            result = rc;
        } else {
            store_meta_job_update(db, id, "done", x.done, wall, NULL, sp->name, v, NULL, 0);
            if (wversion) *wversion = v;
            result = 0;
        }
    }
    meta_job_free(bestj);
    free(curves);
    free(c);
    return result;
}
