/* online_es.c — persistent-ES online learner of step scales; see online_es.h. */
#include "online_es.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "vecmath.h"

#define ONLINE_ES_STATE_VERSION 1u
#define ES_BETA1 0.9
#define ES_BETA2 0.99
#define ES_EPS   1e-12

void online_es_config_defaults(online_es_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->rate = ONLINE_ES_RATE_DEFAULT;
    cfg->memory = ONLINE_ES_MEMORY_DEFAULT;
    cfg->sigma = ONLINE_ES_SIGMA_DEFAULT;
    cfg->window = ONLINE_ES_WINDOW_DEFAULT;
    cfg->per_tensor = ONLINE_ES_PER_TENSOR_DEFAULT;
}

int online_es_config_check(const online_es_config *cfg)
{
    if (!isfinite(cfg->rate) || !isfinite(cfg->sigma)) return ERR_NON_FINITE;
    if (cfg->enabled != 0 && cfg->enabled != 1) return ERR_OUT_OF_RANGE;
    if (!(cfg->rate > 0 && cfg->rate <= 1)) return ERR_OUT_OF_RANGE;
    if (!(cfg->sigma > 0 && cfg->sigma <= 1)) return ERR_OUT_OF_RANGE;
    if (cfg->memory < 1 || cfg->memory > ONLINE_ES_MEMORY_MAX) return ERR_OUT_OF_RANGE;
    if (cfg->window < 1 || cfg->window > ONLINE_ES_WINDOW_MAX) return ERR_OUT_OF_RANGE;
    if (cfg->per_tensor != 0 && cfg->per_tensor != 1) return ERR_OUT_OF_RANGE;
    if ((double)cfg->seed > ONLINE_ES_SEED_MAX) return ERR_OUT_OF_RANGE;
    return 0;
}

int online_es_init(online_es *es, const online_es_config *cfg, const layout *lay)
{
    memset(es, 0, sizeof *es);
    int rc = online_es_config_check(cfg);
    if (rc) return rc;
    if (!lay || lay->ntensors < 1) return ERR_INVALID_ARGUMENT;
    es->cfg = *cfg;
    es->K = cfg->per_tensor ? lay->ntensors : 1;
    size_t K = (size_t)es->K;
    int W2 = 2 * cfg->window;
    /* ξ of a loss in block b reaches back M steps: blocks b − ⌈M/2W⌉ … b. */
    es->nbmax = (cfg->memory + W2 - 1) / W2 + 2;
    /* Stored losses: steps of blocks not used yet, from (k − M − 2W, k + 1]. */
    es->cap = cfg->memory + W2 + 2;
    es->c = calloc(K, sizeof *es->c);
    es->m = calloc(K, sizeof *es->m);
    es->v = calloc(K, sizeof *es->v);
    es->g = calloc(K, sizeof *es->g);
    es->e = calloc(K, sizeof *es->e);
    es->scale = calloc(K, sizeof *es->scale);
    es->w = calloc((size_t)es->nbmax, sizeof *es->w);
    es->ring_step = calloc((size_t)es->cap, sizeof *es->ring_step);
    es->ring_loss = calloc((size_t)es->cap, sizeof *es->ring_loss);
    if (!es->c || !es->m || !es->v || !es->g || !es->e || !es->scale || !es->w || !es->ring_step ||
        !es->ring_loss) {
        online_es_deinit(es);
        return ERR_NO_MEMORY;
    }
    for (size_t k = 0; k < K; k++) es->scale[k] = 1.0f;
    rng_seed(&es->root, cfg->seed);
    return 0;
}

void online_es_deinit(online_es *es)
{
    if (!es) return;
    free(es->c);
    free(es->m);
    free(es->v);
    free(es->g);
    free(es->e);
    free(es->scale);
    free(es->w);
    free(es->ring_step);
    free(es->ring_loss);
    memset(es, 0, sizeof *es);
}

/* Block of 1-based step j. */
static int64_t block_of(const online_es *es, int64_t j) { return (j - 1) / (2 * es->cfg.window); }
static int64_t block_start(const online_es *es, int64_t b) { return b * 2 * es->cfg.window + 1; }

/* S(j) = Σ_{i=1..j} sgn(i): +1 for the first W steps of each block, −1 for
 * the last W, so S restarts at 0 at every block end. */
static int64_t sign_prefix(const online_es *es, int64_t j)
{
    if (j <= 0) return 0;
    int64_t W = es->cfg.window, p = j % (2 * W);
    return p <= W ? p : 2 * W - p;
}

/* e_b: block b's perturbation, regenerated from stream b of the root. */
static void block_eps(const online_es *es, int64_t b, double *e)
{
    rng r;
    rng_split(&es->root, (uint64_t)b, &r);
    for (int k = 0; k < es->K; k++) e[k] = rng_normal(&r);
}

static int slot_of(const online_es *es, int64_t step) { return (int)(step % es->cap); }

static int have_loss(const online_es *es, int64_t step, double *loss)
{
    int s = slot_of(es, step);
    if (es->ring_step[s] != step) return 0;
    if (loss) *loss = es->ring_loss[s];
    return 1;
}

int online_es_observe(online_es *es, int64_t step, double loss)
{
    if (!isfinite(loss) || step < 1 || step > es->last_step + 1 || step <= es->last_step - es->cfg.memory ||
        block_of(es, step) < es->next_block || have_loss(es, step, NULL)) {
        es->ignored++;
        return 0;
    }
    int s = slot_of(es, step);
    es->ring_step[s] = step;
    es->ring_loss[s] = loss;
    es->used++;
    return 1;
}

/* Uses block b's losses (n >= 3 of them) to update the controls. */
static void use_block(online_es *es, int64_t b)
{
    int W2 = 2 * es->cfg.window, M = es->cfg.memory;
    int64_t s0 = block_start(es, b), s1 = s0 + W2 - 1;
    double n = 0, st = 0, sl = 0, sal = 0;
    for (int64_t t = s0; t <= s1; t++) {
        double l;
        if (!have_loss(es, t, &l)) continue;
        n++;
        st += (double)t;
        sl += l;
        sal += fabs(l);
    }
    if (n < 3) {
        es->dropped++;
        return;
    }
    double tm = st / n, lm = sl / n, scale = sal / n;
    double sxx = 0, sxy = 0;
    for (int64_t t = s0; t <= s1; t++) {
        double l;
        if (!have_loss(es, t, &l)) continue;
        sxx += ((double)t - tm) * ((double)t - tm);
        sxy += ((double)t - tm) * (l - lm);
    }
    double slope = sxx > 0 ? sxy / sxx : 0;
    if (!(scale > 1e-300)) scale = 1;
    /* Blocks whose perturbations reach the losses of block b. */
    int64_t b0 = block_of(es, s0 - M > 1 ? s0 - M : 1);
    int nb = (int)(b - b0 + 1);
    memset(es->w, 0, (size_t)es->nbmax * sizeof *es->w);
    for (int64_t t = s0; t <= s1; t++) {
        double l;
        if (!have_loss(es, t, &l)) continue;
        double r = (l - (lm + slope * ((double)t - tm))) / scale;
        int64_t lo = t - M > 1 ? t - M : 1, hi = t - 1;
        for (int64_t bb = block_of(es, lo); hi >= lo && bb <= block_of(es, hi); bb++) {
            int64_t a0 = block_start(es, bb), a1 = a0 + W2 - 1;
            int64_t from = lo > a0 ? lo : a0, to = hi < a1 ? hi : a1;
            double a = (double)(sign_prefix(es, to) - sign_prefix(es, from - 1));
            es->w[bb - b0] += r * a;
        }
    }
    for (int k = 0; k < es->K; k++) es->g[k] = 0;
    for (int i = 0; i < nb; i++) {
        if (es->w[i] == 0) continue;
        block_eps(es, b0 + i, es->e);
        for (int k = 0; k < es->K; k++) es->g[k] += es->w[i] * es->e[k];
    }
    es->updates++;
    double bc1 = 1 - pow(ES_BETA1, (double)es->updates), bc2 = 1 - pow(ES_BETA2, (double)es->updates);
    for (int k = 0; k < es->K; k++) {
        double g = es->g[k] / (n * es->cfg.sigma);
        es->g[k] = g;
        es->m[k] = ES_BETA1 * es->m[k] + (1 - ES_BETA1) * g;
        es->v[k] = ES_BETA2 * es->v[k] + (1 - ES_BETA2) * g * g;
        double c = es->c[k] - es->cfg.rate * (es->m[k] / bc1) / (sqrt(es->v[k] / bc2) + ES_EPS);
        if (c > ONLINE_ES_C_MAX) c = ONLINE_ES_C_MAX;
        if (c < -ONLINE_ES_C_MAX) c = -ONLINE_ES_C_MAX;
        es->c[k] = c;
    }
}

int online_es_begin_step(online_es *es, int64_t k)
{
    if (k != es->last_step && k != es->last_step + 1) return ERR_INVALID_ARGUMENT;
    if (k == es->last_step + 1) {
        es->last_step = k;
        int W2 = 2 * es->cfg.window;
        /* Ready: every loss present, or none can come any more (the block's
         * last step is at least M steps old). */
        while (es->next_block < block_of(es, k) + 1) {
            int64_t b = es->next_block, s0 = block_start(es, b), s1 = s0 + W2 - 1;
            int complete = 1;
            for (int64_t t = s0; t <= s1 && complete; t++) complete = have_loss(es, t, NULL);
            if (!complete && s1 > k - es->cfg.memory) break;
            use_block(es, b);
            es->next_block++;
        }
    }
    int64_t b = block_of(es, k);
    double sg = sign_prefix(es, k) > sign_prefix(es, k - 1) ? 1.0 : -1.0;
    block_eps(es, b, es->e);
    for (int j = 0; j < es->K; j++)
        es->scale[j] = (float)exp(es->c[j] + es->cfg.sigma * sg * es->e[j]);
    return 0;
}

void online_es_after_step(const online_es *es, const layout *lay, float *params, float *update,
                          step_info *info)
{
    double usq = 0, psq = 0, wsum = 0;
    for (int k = 0; k < lay->ntensors; k++) {
        const layout_tensor *tn = &lay->tensors[k];
        float s = es->scale[es->K == 1 ? 0 : k];
        vm_rescale_applied(params + tn->offset, update + tn->offset, tn->size, s, &usq, &psq);
        wsum += (double)s * (double)tn->size;
    }
    if (isfinite(info->lr)) info->lr *= wsum / (double)lay->n;
    info->update_norm = sqrt(usq);
    info->param_norm = sqrt(psq);
}

double online_es_mean_scale(const online_es *es, const layout *lay)
{
    if (es->K == 1) return exp(es->c[0]);
    double s = 0;
    for (int k = 0; k < es->K; k++) s += exp(es->c[k]) * (double)lay->tensors[k].size;
    return s / (double)lay->n;
}

int online_es_diag(const online_es *es, const layout *lay, opt_diag_value *out, int cap)
{
    double lo = INFINITY, hi = -INFINITY, gn = 0;
    for (int k = 0; k < es->K; k++) {
        double s = exp(es->c[k]);
        if (s < lo) lo = s;
        if (s > hi) hi = s;
        gn += es->g[k] * es->g[k];
    }
    const opt_diag_value v[] = {
        {"es_scale_mean", online_es_mean_scale(es, lay)},
        {"es_scale_min", lo},
        {"es_scale_max", hi},
        {"es_updates", (double)es->updates},
        {"es_losses_used", (double)es->used},
        {"es_losses_ignored", (double)es->ignored},
        {"es_grad_norm", sqrt(gn)},
    };
    int n = (int)(sizeof v / sizeof v[0]);
    if (n > cap) n = cap;
    if (n > 0) memcpy(out, v, (size_t)n * sizeof v[0]);
    return n < 0 ? 0 : n;
}

int online_es_save(const online_es *es, blob_writer *w)
{
    blob_put_u32(w, ONLINE_ES_STATE_VERSION);
    blob_put_u32(w, (uint32_t)es->K);
    blob_put_u32(w, (uint32_t)es->cfg.memory);
    blob_put_u32(w, (uint32_t)es->cfg.window);
    blob_put_u64(w, es->cfg.seed);
    blob_put_u64(w, (uint64_t)es->last_step);
    blob_put_u64(w, (uint64_t)es->next_block);
    blob_put_u64(w, (uint64_t)es->updates);
    blob_put_u64(w, (uint64_t)es->dropped);
    blob_put_u64(w, (uint64_t)es->used);
    blob_put_u64(w, (uint64_t)es->ignored);
    for (int k = 0; k < es->K; k++) {
        blob_put_f64(w, es->c[k]);
        blob_put_f64(w, es->m[k]);
        blob_put_f64(w, es->v[k]);
        blob_put_f64(w, es->g[k]);
    }
    blob_put_u32(w, (uint32_t)es->cap);
    for (int i = 0; i < es->cap; i++) {
        blob_put_u64(w, (uint64_t)es->ring_step[i]);
        blob_put_f64(w, es->ring_loss[i]);
    }
    return 0;
}

int online_es_load(online_es *es, blob_reader *r)
{
    if (blob_get_u32(r) != ONLINE_ES_STATE_VERSION) return ERR_CORRUPT;
    if (blob_get_u32(r) != (uint32_t)es->K || blob_get_u32(r) != (uint32_t)es->cfg.memory ||
        blob_get_u32(r) != (uint32_t)es->cfg.window || blob_get_u64(r) != es->cfg.seed || blob_reader_status(r))
        return ERR_CORRUPT;
    int64_t last = (int64_t)blob_get_u64(r), next = (int64_t)blob_get_u64(r);
    int64_t upd = (int64_t)blob_get_u64(r), drop = (int64_t)blob_get_u64(r);
    int64_t used = (int64_t)blob_get_u64(r), ign = (int64_t)blob_get_u64(r);
    size_t K = (size_t)es->K;
    double *tmp = malloc(4 * K * sizeof *tmp + (size_t)es->cap * (sizeof(int64_t) + sizeof(double)));
    if (!tmp) return ERR_NO_MEMORY;
    for (size_t k = 0; k < 4 * K; k++) tmp[k] = blob_get_f64(r);
    int rc = blob_get_u32(r) != (uint32_t)es->cap ? ERR_CORRUPT : 0;
    int64_t *rs = (int64_t *)(tmp + 4 * K);
    double *rl = (double *)(rs + es->cap);
    for (int i = 0; !rc && i < es->cap; i++) {
        rs[i] = (int64_t)blob_get_u64(r);
        rl[i] = blob_get_f64(r);
    }
    if (!rc && (blob_reader_status(r) || last < 0 || next < 0 || upd < 0)) rc = ERR_CORRUPT;
    if (!rc) {
        /* Only now, so that a failed load leaves the state unchanged. */
        es->last_step = last;
        es->next_block = next;
        es->updates = upd;
        es->dropped = drop;
        es->used = used;
        es->ignored = ign;
        for (size_t k = 0; k < K; k++) {
            es->c[k] = tmp[4 * k];
            es->m[k] = tmp[4 * k + 1];
            es->v[k] = tmp[4 * k + 2];
            es->g[k] = tmp[4 * k + 3];
        }
        memcpy(es->ring_step, rs, (size_t)es->cap * sizeof *rs);
        memcpy(es->ring_loss, rl, (size_t)es->cap * sizeof *rl);
    }
    free(tmp);
    return rc;
}
