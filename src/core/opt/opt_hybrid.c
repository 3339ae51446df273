/* opt_hybrid.c — `hybrid`: mlp_lopt and Adam mixed by online exponential
 * weights with fixed share (see opt_hybrid.h for the rule).
 *
 * The components are full `opt` instances made with opt_init and stepped
 * through their vtbl's plain `step` (never step_apply: the hybrid must not
 * touch the parameters), with their own step counters advanced here as
 * opt_step would.  The learned proposal is written into the caller's update
 * buffer and the classic one into a scratch vector; the state keeps the
 * last proposals (u_L, u_C), which the next step's rewards are computed
 * from, and changes only once the whole step has succeeded.
 *
 * Tried and dropped: rewarding each component for an exponentially decayed
 * trace of its past proposals (a longer horizon than one step) instead of
 * the last one.  Measured with bench/hybrid_bench.py's tasks (1000 steps, 2
 * seeds, traces 0.9 and 0.99) it never helped and on the MLP task pushed the
 * weights to the worse component (final loss 0.44-0.48 against 0.41). */
#include "opt_hybrid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "lopt.h"

#define HYB_FORMAT      1u     /* layout of the hybrid's own part of the state */
#define HYB_SCALE_DECAY 0.9    /* EMA decay of the reward scale */

enum {
    HYB_LO_SCALE, HYB_BETA1, HYB_BETA2, HYB_EPS, HYB_ETA, HYB_SHARE, HYB_INIT_LEARNED,
    HYB_HIDDEN, HYB_DEPTH, HYB_NHP
};

static const hparam_def hybrid_hparams[HYB_NHP] = {
    [HYB_LO_SCALE]     = {"lo_scale", 1, 0, 1000, 1, 0, 0,
                          "step multiplier of the learned component (1 = its meta-trained step size)"},
    [HYB_BETA1]        = {"beta1", 0.9, 0, 1, 0, 1, 0, "Adam component: decay of the first-moment average"},
    [HYB_BETA2]        = {"beta2", 0.999, 0, 1, 0, 1, 0, "Adam component: decay of the second-moment average"},
    [HYB_EPS]          = {"eps", 1e-8, 0, 1, 1, 0, 0, "Adam component: added to the denominator"},
    [HYB_ETA]          = {"eta", 0.2, 0, 10, 1, 0, 0,
                          "mixing rate: log-weight change per step for a normalised reward of 1"},
    [HYB_SHARE]        = {"share", 0.002, 0, 1, 1, 0, 0,
                          "fixed share: each component keeps a weight of at least share/2 (1 = fixed 50/50 mix)"},
    [HYB_INIT_LEARNED] = {"init_learned", 0.5, 0, 1, 0, 0, 0,
                          "initial weight of the learned component (before the share is mixed in)"},
    [HYB_HIDDEN]       = {"hidden", 8, 1, LOPT_MAX_HIDDEN, 0, 0, 1,
                          "learned component: hidden width when no weights record is used"},
    [HYB_DEPTH]        = {"depth", 1, 1, LOPT_MAX_DEPTH, 0, 0, 1,
                          "learned component: hidden layers when no weights record is used"},
};

typedef struct hybrid_state {
    opt     learned;           /* mlp_lopt */
    opt     classic;           /* adam */
    size_t  n;
    float  *u;                 /* (2, n): u_L then u_C of the last step */
    float  *uc;                /* (n) scratch: the classic proposal of this step */
    int     have_prev;         /* 1: u holds the proposals of the last step taken */
    double  wl;                /* weight of the learned component; w_C = 1 − wl */
    double  scale;             /* running scale of the rewards */
    double  r_l, r_c;          /* last normalised rewards */
} hybrid_state;

static double own_hp(const opt_config *cfg, int j) { return cfg->hp[HP_COMMON_COUNT + j]; }

static double clamp(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* The initial learned weight: init_learned with the share mixed in. */
static double initial_wl(const opt_config *cfg)
{
    double a = own_hp(cfg, HYB_SHARE);
    return clamp((1.0 - a) * own_hp(cfg, HYB_INIT_LEARNED) + a / 2, a / 2, 1.0 - a / 2);
}

/* The configs of the two components (lc, cc) from the hybrid's config;
 * `weights` is the learned part's weights record (see lopt_weights_resolve). */
static int components_config(const opt_config *cfg, const char *weights, opt_config *lc, opt_config *cc)
{
    int rc = opt_config_defaults(lc, "mlp_lopt");
    if (!rc) rc = opt_config_set(lc, "hidden", own_hp(cfg, HYB_HIDDEN));
    if (!rc) rc = opt_config_set(lc, "depth", own_hp(cfg, HYB_DEPTH));
    if (!rc) rc = opt_config_defaults(cc, "adam");
    if (!rc) rc = opt_config_set(cc, "lr", cfg->hp[HP_LR]);
    if (!rc) rc = opt_config_set(cc, "beta1", own_hp(cfg, HYB_BETA1));
    if (!rc) rc = opt_config_set(cc, "beta2", own_hp(cfg, HYB_BETA2));
    if (!rc) rc = opt_config_set(cc, "eps", own_hp(cfg, HYB_EPS));
    if (rc) return rc == ERR_UNKNOWN_OPTIMIZER || rc == ERR_UNKNOWN_HYPERPARAM ? ERR_INTERNAL : rc;
    lc->weights = weights;
    lc->film_row = cfg->film_row;   /* a FiLM record's row: the learned part's */
    return 0;
}

/* Builds the two components for `lay` from the hybrid's config.  On
 * failure neither is left initialised. */
static int components_init(const opt_config *cfg, const char *weights, const layout *lay,
                           opt *learned, opt *classic)
{
    opt_config lc, cc;
    int rc = components_config(cfg, weights, &lc, &cc);
    if (rc) return rc;
    rc = opt_init(learned, &lc, lay);
    if (rc) return rc;
    learned->cfg.weights = NULL;   /* used by init only; never keep a borrowed pointer */
    rc = opt_init(classic, &cc, lay);
    if (rc) { opt_deinit(learned); return rc; }
    return 0;
}

/* Its own 3 n floats (two proposals and the combined update) and both
 * components. */
static int hybrid_state_bytes(const opt_config *cfg, const layout *lay, uint64_t *out)
{
    opt_config lc, cc;
    uint64_t bl, bc;
    int rc = components_config(cfg, cfg->weights, &lc, &cc);
    if (!rc) rc = opt_bytes(&lc, lay, &bl);
    if (!rc) rc = opt_bytes(&cc, lay, &bc);
    if (rc) return rc;
    uint64_t own = opt_bytes_add(sizeof(hybrid_state), opt_bytes_mul(3 * sizeof(float), lay->n));
    *out = opt_bytes_add(own, opt_bytes_add(bl, bc));
    return 0;
}

static void hybrid_deinit(opt *o)
{
    hybrid_state *s = o->state;
    if (!s) return;
    opt_deinit(&s->learned);
    opt_deinit(&s->classic);
    free(s->u);
    free(s->uc);
    free(s);
    o->state = NULL;
}

static int hybrid_init(opt *o, const opt_config *cfg, const layout *lay)
{
    hybrid_state *s = calloc(1, sizeof *s);
    if (!s) return ERR_NO_MEMORY;
    if (lay->n > SIZE_MAX / 2 / sizeof(float)) { free(s); return ERR_TOO_MANY_PARAMS; }
    s->n = lay->n;
    s->u = calloc(2 * s->n, sizeof(float));
    s->uc = malloc(s->n * sizeof(float));
    if (!s->u || !s->uc) { free(s->u); free(s->uc); free(s); return ERR_NO_MEMORY; }
    int rc = components_init(cfg, cfg->weights, lay, &s->learned, &s->classic);
    if (rc) { free(s->u); free(s->uc); free(s); return rc; }
    s->wl = initial_wl(cfg);
    o->state = s;
    return 0;
}

/* Moves the weights by the rewards of the last step's proposals at the new
 * gradient g; returns the new learned weight and sets the scale and
 * the normalised rewards (nothing in s changes). */
static double reward_update(const opt *o, const hybrid_state *s, const float *g,
                            double *scale, double *r_l, double *r_c)
{
    const float *ul = s->u, *uc = s->u + s->n;
    double dl = 0, dc = 0;
    for (size_t i = 0; i < s->n; i++) {
        dl += (double)g[i] * ul[i];
        dc += (double)g[i] * uc[i];
    }
    double xl = -dl, xc = -dc;
    if (!isfinite(xl) || !isfinite(xc)) {  /* cannot happen with finite inputs; never poison the weights */
        *scale = s->scale; *r_l = *r_c = 0;
        return s->wl;
    }
    double m = fmax(fabs(xl), fabs(xc));
    /* the EMA starts at the first non-zero reward */
    *scale = s->scale > 0 ? HYB_SCALE_DECAY * s->scale + (1.0 - HYB_SCALE_DECAY) * m : m;
    if (*scale > 0 && isfinite(*scale)) {
        *r_l = clamp(xl / *scale, -1, 1);
        *r_c = clamp(xc / *scale, -1, 1);
    } else {
        *r_l = *r_c = 0;
    }
    double eta = own_hp(&o->cfg, HYB_ETA), a = own_hp(&o->cfg, HYB_SHARE);
    /* v_L = w_L e^{η r_L} / (w_L e^{η r_L} + w_C e^{η r_C}); the exponent is
     * within ±2η, and w_k >= share/2 > 0, so this never overflows. */
    double v = s->wl / (s->wl + (1.0 - s->wl) * exp(eta * (*r_c - *r_l)));
    return clamp((1.0 - a) * v + a / 2, a / 2, 1.0 - a / 2);
}

/* One component's proposal into u through its own kernel, at lr. */
static int component_step(opt *c, const float *params, const float *grads, float *u, double lr, double loss)
{
    step_info ci = {.t = c->t + 1, .loss = loss, .lr = lr};
    int e = c->vt->step(c, params, grads, u, lr, &ci);
    if (e) return e;
    c->t = ci.t;
    return 0;
}

static int hybrid_step(opt *o, const float *params, const float *grads, float *update,
                       double lr, step_info *info)
{
    hybrid_state *s = o->state;
    size_t n = s->n;
    const int rewarded = s->have_prev;
    double wl = s->wl, scale = s->scale, r_l = s->r_l, r_c = s->r_c;
    if (rewarded) wl = reward_update(o, s, grads, &scale, &r_l, &r_c);

    /* The learned part follows the schedule's shape, not the base lr (a
     * base lr of 0 is a schedule of zeros: no learned movement either). */
    double base = o->cfg.hp[HP_LR];
    double lr_lo = base > 0 ? own_hp(&o->cfg, HYB_LO_SCALE) * opt_common_hparams()[HP_LR].def * (lr / base) : 0;
    int e = component_step(&s->learned, params, grads, update, lr_lo, info->loss);
    if (!e) e = component_step(&s->classic, params, grads, s->uc, lr, info->loss);
    if (e) return e;
    const float *uc = s->uc;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(update[i]) || !isfinite(uc[i])) return ERR_NON_FINITE_UPDATE;
    /* Everything is finite: keep the proposals and the weights, and mix. */
    const float fl = (float)wl, fc = (float)(1.0 - wl);
    float *pl = s->u, *pc = s->u + n;
    for (size_t i = 0; i < n; i++) {
        float ul = update[i];
        pl[i] = ul;
        pc[i] = uc[i];
        update[i] = fl * ul + fc * uc[i];
    }
    s->have_prev = 1;
    if (rewarded) {
        s->wl = wl;
        s->scale = scale;
        s->r_l = r_l;
        s->r_c = r_c;
    }
    return 0;
}

static int hybrid_diag(const opt *o, opt_diag_value *out, int cap)
{
    const hybrid_state *s = o->state;
    const opt_diag_value v[] = {
        {"mix_learned", s->wl},
        {"mix_classic", 1.0 - s->wl},
        {"reward_learned", s->r_l},
        {"reward_classic", s->r_c},
        {"reward_scale", s->scale},
    };
    int k = (int)(sizeof v / sizeof v[0]);
    if (k > cap) k = cap;
    memcpy(out, v, (size_t)k * sizeof v[0]);
    return k;
}

/* Own part, then the learned component (t, state), then the classic one
 * last: Adam's loader insists that its buffers end the blob. */
static int hybrid_save(const opt *o, blob_writer *w)
{
    const hybrid_state *s = o->state;
    blob_put_u32(w, HYB_FORMAT);
    blob_put_u32(w, (uint32_t)s->have_prev);
    blob_put_f64(w, s->wl);
    blob_put_f64(w, s->scale);
    blob_put_f64(w, s->r_l);
    blob_put_f64(w, s->r_c);
    blob_put_u64(w, (uint64_t)s->n);
    blob_put_f32s(w, s->u, 2 * s->n);
    blob_put_u64(w, (uint64_t)s->learned.t);
    int rc = s->learned.vt->save(&s->learned, w);
    if (rc) return rc;
    blob_put_u64(w, (uint64_t)s->classic.t);
    rc = s->classic.vt->save(&s->classic, w);
    if (rc) return rc;
    return w->err;
}

static int load_component(opt *c, blob_reader *r)
{
    uint64_t t = blob_get_u64(r);
    if (blob_reader_status(r) || t > (uint64_t)INT64_MAX) return ERR_CORRUPT;
    int rc = c->vt->load(c, r);
    if (rc || blob_reader_status(r)) return ERR_CORRUPT;
    c->t = (int64_t)t;
    return 0;
}

/* Loads into fresh components and buffers and swaps them in only when the
 * whole state is valid, so a bad blob changes nothing.  The fresh learned
 * component starts from the default weights (no access to the named table)
 * and takes the saved theta from the blob. */
static int hybrid_load(opt *o, blob_reader *r)
{
    hybrid_state *s = o->state;
    const double a = own_hp(&o->cfg, HYB_SHARE);
    uint32_t format = blob_get_u32(r), have_prev = blob_get_u32(r);
    double wl = blob_get_f64(r), scale = blob_get_f64(r), r_l = blob_get_f64(r), r_c = blob_get_f64(r);
    uint64_t n = blob_get_u64(r);
    if (blob_reader_status(r) || format != HYB_FORMAT || have_prev > 1 || n != (uint64_t)s->n
        || !(wl >= a / 2 && wl <= 1.0 - a / 2) || !(scale >= 0 && isfinite(scale))
        || !(r_l >= -1 && r_l <= 1) || !(r_c >= -1 && r_c <= 1)
        || r->len - r->pos < 2 * s->n * sizeof(float))
        return ERR_CORRUPT;
    float *tr = malloc(2 * s->n * sizeof(float));
    if (!tr) return ERR_NO_MEMORY;
    blob_get_f32s(r, tr, 2 * s->n);
    int bad = blob_reader_status(r) != 0;
    for (size_t i = 0; !bad && i < 2 * s->n; i++) bad = !isfinite(tr[i]);
    if (bad) { free(tr); return ERR_CORRUPT; }
    opt learned, classic;
    int e = components_init(&o->cfg, LOPT_WEIGHTS_DEFAULT, &o->lay, &learned, &classic);
    if (e) { free(tr); return e; }
    e = load_component(&learned, r);
    if (!e) e = load_component(&classic, r);
    if (e) {
        opt_deinit(&learned);
        opt_deinit(&classic);
        free(tr);
        return ERR_CORRUPT;
    }
    opt_deinit(&s->learned);
    opt_deinit(&s->classic);
    free(s->u);
    s->learned = learned;
    s->classic = classic;
    s->u = tr;
    s->have_prev = (int)have_prev;
    s->wl = wl;
    s->scale = scale;
    s->r_l = r_l;
    s->r_c = r_c;
    return 0;
}

opt *opt_hybrid_learned(opt *o)
{
    if (!o || o->vt != &opt_hybrid_vtbl || !o->state) return NULL;
    return &((hybrid_state *)o->state)->learned;
}

opt *opt_hybrid_classic(opt *o)
{
    if (!o || o->vt != &opt_hybrid_vtbl || !o->state) return NULL;
    return &((hybrid_state *)o->state)->classic;
}

const opt_vtbl opt_hybrid_vtbl = {
    .name = "hybrid",
    .weights_arch = "mlp_lopt",
    .kind = OPT_KIND_HYBRID,
    .description = "mlp_lopt and Adam on the same gradients, mixed by online exponential weights with fixed share",
    .hparams = hybrid_hparams,
    .nhparams = HYB_NHP,
    .init = hybrid_init,
    .state_bytes = hybrid_state_bytes,
    .step = hybrid_step,
    .save = hybrid_save,
    .load = hybrid_load,
    .deinit = hybrid_deinit,
    .diag = hybrid_diag,
};
