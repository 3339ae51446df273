/* bench_core.c — core figures as ratios to references measured in the same
 * run (absolute numbers on a shared 2-vCPU machine are noise; ratios are not).
 *
 *   membw       a plain read-modify-write loop with Adam's traffic (read p, g,
 *               m, v; write p, m, v: 28 bytes per parameter) over 1e7 floats:
 *               GB/s, and the "params/s bound" = bandwidth / 28.
 *   adam        opt_step of "adam" at N = 1e4, 1e6, 1e7 (params/s), ratio to
 *               the bound (target at 1e7: >= 0.8); at 1e7 also its parts:
 *               the kernel alone (vt->step, without opt_step's checks, norms
 *               and apply), the fused pass (vt->step_apply) and the
 *               gradient's pass (vm_sumsq) alone, and the whole step with
 *               the gradient's sum taken in the binary decoder's finite
 *               check instead (opt_step_gsq + what vm_sumsq costs there
 *               more than today's isfinite loop; the decoder does not do
 *               this yet), next to that loop's cost against vm_sumsq.
 *   json        a round trip at N = 1e5: parse grads and format the update
 *               with f32json vs cJSON (ParseWithLengthOpts + walk, and
 *               CreateFloatArray + PrintUnformatted); target >= 3x.  Also the
 *               parse alone on 17-digit input (how Python clients print
 *               float32) and the format alone vs snprintf("%.9g").  "exact"
 *               says whether every float32 survived f32json's trip bit for bit.
 *   learned     mlp_lopt, lstm_lopt (and gru_lopt), nn_adam step cost at N = 1e6 on one
 *               thread as a multiple of Adam's (target <= 10x; mlp_lopt's, with
 *               and without its hypergradient scale, with its anneal scaling
 *               every step and on the AVX2 build of its network, timed in
 *               alternation with Adam: paired_cost);
 *               attn_lopt's
 *               on one tensor and on 64 (target <= 20x, issue 18).  lstm_lopt
 *               also on the AVX2 and SSE2 builds of its vectorised kernel
 *               (the plain step uses the CPU's best, AVX-512 where present),
 *               and at N = 1e5 its batched sgemm path and its one-coordinate
 *               reference loop as multiples of the vectorised kernel's cost.
 *   step        a session step through core's step_run (adam with global
 *               hypergradient adaptation, analytics and diagnostics) at
 *               N = 1e6, as a cost multiple of the same calls made one by one
 *               (what sessions.c did before step_run; target: 1, within noise).
 *
 * Each figure is the best of 5 runs of >= 0.2 s (--quick: 2 runs of 0.05 s);
 * the paired ones the median of 9 rounds of 3 such runs.
 * --learned: only adam_step_1e6 and the learned optimizers' figures.
 * --cpu: time by the thread's CPU time instead of the wall clock (time the
 * program spent preempted by other work on a busy machine does not count;
 * the memory and caches it shares still do).
 * Output: one aligned table, then one line per figure
 *   BENCH name value unit ratio target
 * for scripts (ratio and target are "-" when there is none). */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "f32json.h"
#include "lopt_internal.h"   /* lstm_lopt's kernel and ISA switches */
#include "opt.h"
#include "step.h"
#include "vecmath.h"

static double g_min_time = 0.2;
static int    g_reps = 5;
static clockid_t g_clock = CLOCK_MONOTONIC;   /* --cpu: the thread's CPU time */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(g_clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Seconds per call of fn(ctx) over one run of >= g_min_time, NAN on failure. */
static double time_run(int (*fn)(void *), void *ctx)
{
    long calls = 0;
    double t0 = now_s(), t;
    do {
        if (fn(ctx)) return NAN;
        calls++;
        t = now_s() - t0;
    } while (t < g_min_time);
    return t / (double)calls;
}

/* Best seconds per call of fn(ctx) over g_reps runs of >= g_min_time each.
 * fn returns nonzero on failure, which is reported and ends the program's
 * figure with NAN. */
static double time_best(int (*fn)(void *), void *ctx)
{
    double best = INFINITY;
    if (fn(ctx)) return NAN;                   /* warm-up: page faults, caches */
    for (int r = 0; r < g_reps; r++) {
        double t = time_run(fn, ctx);
        if (isnan(t)) return NAN;
        if (t < best) best = t;
    }
    return best;
}

/* ---- the table ----------------------------------------------------------- */

typedef struct row {
    char   name[48];
    double value;
    char   unit[16];
    double ratio;            /* NAN: none */
    char   ref[40];          /* what the ratio is to */
    char   target[16];       /* "-" when none */
    char   note[64];
} row;

static row g_rows[64];
static int g_nrows;

static void add_row(const char *name, double value, const char *unit, double ratio,
                    const char *ref, const char *target, const char *note)
{
    if (g_nrows >= (int)(sizeof g_rows / sizeof g_rows[0])) return;
    row *r = &g_rows[g_nrows++];
    snprintf(r->name, sizeof r->name, "%s", name);
    r->value = value;
    snprintf(r->unit, sizeof r->unit, "%s", unit);
    r->ratio = ratio;
    snprintf(r->ref, sizeof r->ref, "%s", ref ? ref : "");
    snprintf(r->target, sizeof r->target, "%s", target ? target : "-");
    snprintf(r->note, sizeof r->note, "%.63s", note ? note : "");
}

static void print_table(void)
{
    printf("\n%-30s %12s %-9s %9s  %-26s %-8s %s\n", "figure", "value", "unit", "ratio",
           "ratio to", "target", "note");
    for (int i = 0; i < g_nrows; i++) {
        row *r = &g_rows[i];
        char v[32], ra[32];
        if (isnan(r->value)) snprintf(v, sizeof v, "-");
        else snprintf(v, sizeof v, "%.4g", r->value);
        if (isnan(r->ratio)) snprintf(ra, sizeof ra, "-");
        else snprintf(ra, sizeof ra, "%.3f", r->ratio);
        printf("%-30s %12s %-9s %9s  %-26s %-8s %s\n", r->name, v, r->unit, ra, r->ref, r->target, r->note);
    }
    printf("\n");
    for (int i = 0; i < g_nrows; i++) {
        row *r = &g_rows[i];
        printf("BENCH %s ", r->name);
        if (isnan(r->value)) printf("- "); else printf("%.6g ", r->value);
        printf("%s ", r->unit);
        if (isnan(r->ratio)) printf("- "); else printf("%.4f ", r->ratio);
        printf("%s\n", r->target);
    }
}

/* ---- data ---------------------------------------------------------------- */

static uint64_t g_rng = 0x243f6a8885a308d3u;
static uint64_t rnd_u64(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545f4914f6cdd1du;
}
static double rnd_unit(void) { return (double)(rnd_u64() >> 11) * 0x1p-53; }
/* Gradient-like values: roughly normal, scale 10^U(-6, -1). */
static float rnd_grad(void)
{
    double s = 0;
    for (int i = 0; i < 4; i++) s += rnd_unit() - 0.5;
    return (float)(s * pow(10.0, -6.0 + 5.0 * rnd_unit()));
}

static float *alloc_floats(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) { fprintf(stderr, "bench_core: out of memory (%zu floats)\n", n); exit(1); }
    return p;
}

/* ---- memory bandwidth ---------------------------------------------------- */

typedef struct rmw_ctx { float *p, *g, *m, *v; size_t n; } rmw_ctx;

/* Adam's access pattern with trivial arithmetic: the reference loop. */
static int rmw_run(void *vctx)
{
    rmw_ctx *c = vctx;
    float *restrict p = c->p, *restrict m = c->m, *restrict v = c->v;
    const float *restrict g = c->g;
    for (size_t i = 0; i < c->n; i++) {
        float gi = g[i];
        float mi = 0.9f * m[i] + 0.1f * gi;
        float vi = 0.999f * v[i] + 0.001f * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= 1e-3f * mi * vi;
    }
    return 0;
}

static double bench_membw(void)
{
    size_t n = 10000000;
    rmw_ctx c = {alloc_floats(n), alloc_floats(n), alloc_floats(n), alloc_floats(n), n};
    for (size_t i = 0; i < n; i++) { c.p[i] = 0.5f; c.g[i] = rnd_grad(); c.m[i] = 0; c.v[i] = 0; }
    double t = time_best(rmw_run, &c);
    double gbs = 28.0 * (double)n / t / 1e9;
    double bound = gbs * 1e9 / 28.0;
    add_row("membw_rmw_28B", gbs, "GB/s", NAN, "", "-", "1e7 floats x4 arrays");
    add_row("membw_params_bound", bound, "params/s", NAN, "", "-", "= bandwidth / 28 B");
    free(c.p); free(c.g); free(c.m); free(c.v);
    return bound;
}

/* ---- optimizers ---------------------------------------------------------- */

/* What opt_run times: opt_step; the kernel alone (vt->step: no norms, no
 * apply); the fused pass alone (vt->step_apply: update, apply and the
 * update/param norms, without the gradient's pass); the gradient's pass
 * alone (vm_sumsq); opt_step_gsq (the step when the caller already has the
 * gradient's sum of squares). */
enum { RUN_STEP, RUN_KERNEL, RUN_FUSED, RUN_GNORM, RUN_STEP_GSQ };

typedef struct opt_ctx {
    opt        o;
    float     *params, *grads, *update;
    size_t     n;
    int        mode;
    double     gsq;          /* RUN_STEP_GSQ: vm_sumsq(grads) */
    int        with_loss;    /* 1: each step gets a loss (mem_lopt's memory writes), else NAN */
} opt_ctx;

static int opt_run(void *vctx)
{
    opt_ctx *c = vctx;
    step_info info = {.loss = c->with_loss ? 1.0 / (double)(c->o.t + 1) : NAN};
    double usq, psq;
    switch (c->mode) {
    case RUN_KERNEL:
        info.t = c->o.t + 1;
        return c->o.vt->step(&c->o, c->params, c->grads, c->update, 1e-3, &info);
    case RUN_FUSED:
        info.t = c->o.t + 1;
        return c->o.vt->step_apply(&c->o, c->params, c->grads, 1.0f, c->update, 1e-3, &info, &usq, &psq);
    case RUN_GNORM:
        return !isfinite(vm_sumsq(c->grads, c->n));
    case RUN_STEP_GSQ:
        return opt_step_gsq(&c->o, c->params, c->grads, c->gsq, c->update, &info);
    default:
        return opt_step(&c->o, c->params, c->grads, c->update, &info);
    }
}

/* Sets up the optimizer `cfg` over n parameters.  Returns 0 or an error. */
/* ntens == 1: one flat tensor of n; else ntens vectors of n / ntens. */
static int opt_ctx_init_tensors(opt_ctx *c, const opt_config *cfg, size_t n, int ntens)
{
    memset(c, 0, sizeof *c);
    layout lay;
    int rc;
    if (ntens <= 1) {
        rc = layout_init_flat(&lay, n, n);
    } else {
        const char **names = calloc((size_t)ntens, sizeof *names);
        char (*buf)[16] = calloc((size_t)ntens, sizeof *buf);
        int *ndims = calloc((size_t)ntens, sizeof *ndims);
        int64_t (*shapes)[LAYOUT_MAX_DIMS] = calloc((size_t)ntens, sizeof *shapes);
        rc = names && buf && ndims && shapes ? 0 : ERR_NO_MEMORY;
        for (int i = 0; !rc && i < ntens; i++) {
            snprintf(buf[i], sizeof buf[i], "t%d", i);
            names[i] = buf[i];
            ndims[i] = 1;
            shapes[i][0] = (int64_t)(n / (size_t)ntens);
        }
        if (!rc) rc = layout_init(&lay, ntens, names, ndims, (const int64_t (*)[LAYOUT_MAX_DIMS])shapes, n);
        free(names); free(buf); free(ndims); free(shapes);
        n = n / (size_t)ntens * (size_t)ntens;
    }
    if (rc) return rc;
    rc = opt_init(&c->o, cfg, &lay);
    layout_deinit(&lay);
    if (rc) return rc;
    c->n = n;
    c->params = alloc_floats(n);
    c->grads = alloc_floats(n);
    c->update = alloc_floats(n);
    for (size_t i = 0; i < n; i++) {
        c->params[i] = (float)(rnd_unit() - 0.5);
        c->grads[i] = rnd_grad();
        c->update[i] = 0;
    }
    return 0;
}

static int opt_ctx_init(opt_ctx *c, const opt_config *cfg, size_t n)
{
    return opt_ctx_init_tensors(c, cfg, n, 1);
}

static void opt_ctx_deinit(opt_ctx *c)
{
    opt_deinit(&c->o);
    free(c->params); free(c->grads); free(c->update);
}

/* Seconds per step of the optimizer `cfg` at n (kernel_only: vt->step
 * alone), or NAN with *err set; time_opt: the same for `name` with its
 * default hyperparameters. */
static double time_opt_cfg(const opt_config *cfg, size_t n, int mode, int *err)
{
    opt_ctx c;
    *err = opt_ctx_init(&c, cfg, n);
    if (*err) return NAN;
    c.mode = mode;
    c.gsq = vm_sumsq(c.grads, n);
    double t = time_best(opt_run, &c);
    if (isnan(t)) *err = ERR_INTERNAL;
    opt_ctx_deinit(&c);
    return t;
}

/* time_opt_cfg over ntens equal tensors (cost of per-tensor work). */
static double time_opt_tensors(const opt_config *cfg, size_t n, int ntens, int *err)
{
    opt_ctx c;
    *err = opt_ctx_init_tensors(&c, cfg, n, ntens);
    if (*err) return NAN;
    c.gsq = vm_sumsq(c.grads, c.n);
    c.with_loss = 1;   /* learned optimizers other than mem_lopt ignore it */
    double t = time_best(opt_run, &c);
    if (isnan(t)) *err = ERR_INTERNAL;
    opt_ctx_deinit(&c);
    return t;
}

static double time_opt(const char *name, size_t n, int mode, int *err)
{
    opt_config cfg;
    *err = opt_config_defaults(&cfg, name);
    return *err ? NAN : time_opt_cfg(&cfg, n, mode, err);
}

/* Rounds of paired_cost. */
#define PAIR_ROUNDS 9

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The step of `cfg` at N = 1e6 as a multiple of Adam's, the two timed in
 * alternation: PAIR_ROUNDS rounds of Adam, cfg, Adam (each one time_run),
 * a round's ratio being cfg's time over the mean of the two Adam times
 * around it.  Returns the median round's ratio and puts the lowest and
 * highest in *lo and *hi, cfg's best time in *best.  A machine whose speed
 * drifts (another job starting, the clock scaling) slows both sides of a
 * round alike, where two best-of-5 figures taken seconds apart can each
 * catch a different machine.  NAN with *err set on failure. */
static double paired_cost(const opt_config *cfg, double *best, double *lo, double *hi, int *err)
{
    opt_config adam;
    opt_ctx a, c;
    *err = opt_config_defaults(&adam, "adam");
    if (*err || (*err = opt_ctx_init(&a, &adam, 1000000))) return NAN;
    if ((*err = opt_ctx_init(&c, cfg, 1000000))) { opt_ctx_deinit(&a); return NAN; }
    double r[PAIR_ROUNDS], ratio = NAN;
    *best = INFINITY;
    int ok = !opt_run(&a) && !opt_run(&c);   /* warm-up: page faults, caches */
    for (int k = 0; ok && k < PAIR_ROUNDS; k++) {
        double t0 = time_run(opt_run, &a), t = time_run(opt_run, &c), t1 = time_run(opt_run, &a);
        ok = !isnan(t0) && !isnan(t) && !isnan(t1);
        r[k] = t / (0.5 * (t0 + t1));
        if (t < *best) *best = t;
    }
    if (ok) {
        qsort(r, PAIR_ROUNDS, sizeof r[0], cmp_double);
        ratio = r[PAIR_ROUNDS / 2];
        *lo = r[0];
        *hi = r[PAIR_ROUNDS - 1];
    } else {
        *err = ERR_INTERNAL;
    }
    opt_ctx_deinit(&a);
    opt_ctx_deinit(&c);
    return ratio;
}

/* A row of paired_cost: the value is cfg's best params/s, the ratio the
 * median round's, the note gives the rounds' range. */
static void paired_row(const opt_config *cfg, const char *fig, const char *target, const char *what)
{
    double best = NAN, lo = NAN, hi = NAN;
    int err;
    double ratio = paired_cost(cfg, &best, &lo, &hi, &err);
    char note[64];
    if (isnan(ratio)) snprintf(note, sizeof note, "%s", err_name(err));
    else snprintf(note, sizeof note, "%s; paired, %d rounds %.2f-%.2f", what, PAIR_ROUNDS, lo, hi);
    add_row(fig, isnan(ratio) ? NAN : 1e6 / best, "params/s", ratio, "adam_step_1e6 (cost x)", target, note);
}

/* At 1e7: where opt_step's time goes (the kernel alone, the fused pass, the
 * gradient's pass), and the daemon's binary step, whose decoder takes the
 * gradient's sum (timed apart, then added). */
static void bench_adam_parts(double bound, size_t n)
{
    static const struct { int mode; const char *fig, *note; } parts[] = {
        {RUN_KERNEL, "adam_kernel_1e7", "vt->step only"},
        {RUN_FUSED, "adam_fused_pass_1e7", "vt->step_apply: update+apply+norms"},
        {RUN_GNORM, "adam_gnorm_pass_1e7", "vm_sumsq: finite check, norm"},
    };
    int err;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        double t = time_opt("adam", n, parts[i].mode, &err);
        add_row(parts[i].fig, isnan(t) ? NAN : (double)n / t, "params/s", isnan(t) ? NAN : (double)n / t / bound,
                "membw_params_bound", "-", isnan(t) ? err_name(err) : parts[i].note);
    }
    /* The daemon's binary step: the decoder's vm_sumsq (its non-finite
     * check, whose sum is the gradient norm) then opt_step_gsq — the same
     * passes as opt_step, which takes the sum itself. */
    double tg = time_opt("adam", n, RUN_STEP_GSQ, &err);
    int err2;
    double ts = time_opt("adam", n, RUN_GNORM, &err2);
    if (!isnan(tg)) err = err2;
    double t = tg + ts;
    add_row("adam_step_daemon_1e7", isnan(t) ? NAN : (double)n / t, "params/s",
            isnan(t) ? NAN : (double)n / t / bound, "membw_params_bound", "-",
            isnan(t) ? err_name(err) : "decoder's vm_sumsq + opt_step_gsq");
}

static double bench_adam(double bound)
{
    static const size_t ns[] = {10000, 1000000, 10000000};
    static const char *const tags[] = {"1e4", "1e6", "1e7"};
    double t_1e6 = NAN;
    for (int i = 0; i < 3; i++) {
        char name[48];
        int err;
        double t = time_opt("adam", ns[i], 0, &err);
        snprintf(name, sizeof name, "adam_step_%s", tags[i]);
        if (isnan(t)) {
            add_row(name, NAN, "params/s", NAN, "membw_params_bound", "-", err_name(err));
            continue;
        }
        double rate = (double)ns[i] / t;
        add_row(name, rate, "params/s", rate / bound, "membw_params_bound",
                i == 2 ? ">=0.8" : "-", i == 0 ? "in cache" : "opt_step");
        if (i == 1) t_1e6 = t;
        if (i == 2) bench_adam_parts(bound, ns[i]);
    }
    return t_1e6;
}

/* A session step: step_run, or the calls it makes one by one (hand). */
typedef struct sstep_ctx {
    opt_ctx  c;
    adapt    ad;
    layout   lay;
    float   *prev;        /* (n) the previous update (adaptation, cosine) */
    int64_t  k;
    int      hand;
} sstep_ctx;

static int sstep_run(void *vctx)
{
    sstep_ctx *x = vctx;
    step_result res;
    x->k++;
    if (!x->hand) {
        step_state st = {.o = &x->c.o, .ad = &x->ad, .lay = &x->lay, .params = x->c.params,
                         .prev_update = x->prev, .update = x->c.update};
        return step_run(&st, x->k, x->c.grads, 1.0, 0, &res);
    }
    res.info = (step_info){.loss = 1.0, .grad_norm = NAN, .update_norm = 0, .param_norm = NAN, .lr = NAN};
    adapt_before_step(&x->ad, &x->c.o, x->c.grads, x->prev);
    int rc = opt_step(&x->c.o, x->c.params, x->c.grads, x->c.update, &res.info);
    if (rc) return rc;
    adapt_after_step(&x->ad, &x->c.o, x->c.params, x->c.update, &res.info);
    analytics_step_stats(&x->lay, x->c.grads, x->c.params, x->c.update, x->prev, res.info.update_norm,
                         res.info.param_norm, &res.stats);
    res.ndiag = opt_diag(&x->c.o, res.diag, OPT_DIAG_MAX);
    res.lr_mult = adapt_mean_multiplier(&x->ad, &x->c.o);
    return 0;
}

/* Seconds per session step at n (hand: the calls one by one), or NAN with
 * *err set. */
static double time_sstep(size_t n, int hand, int *err)
{
    sstep_ctx x;
    memset(&x, 0, sizeof x);
    opt_config cfg;
    adapt_config ac;
    adapt_config_defaults(&ac);
    ac.lr = ADAPT_LR_HYPERGRADIENT;
    *err = opt_config_defaults(&cfg, "adam");
    if (!*err) *err = opt_ctx_init(&x.c, &cfg, n);
    if (*err) return NAN;
    *err = layout_init_flat(&x.lay, n, n);
    if (!*err) *err = adapt_init(&x.ad, &ac, &x.c.o);
    double t = NAN;
    if (!*err) {
        x.prev = alloc_floats(n);
        for (size_t i = 0; i < n; i++) x.prev[i] = rnd_grad() * 1e-3f;
        x.hand = hand;
        t = time_best(sstep_run, &x);
        if (isnan(t)) *err = ERR_INTERNAL;
        free(x.prev);
    }
    adapt_deinit(&x.ad);
    layout_deinit(&x.lay);
    opt_ctx_deinit(&x.c);
    return t;
}

static void bench_step(double t_adam_1e6)
{
    int err;
    double th = time_sstep(1000000, 1, &err);
    double ts = isnan(th) ? NAN : time_sstep(1000000, 0, &err);
    if (isnan(ts)) {
        add_row("step_run_adam_adapt_1e6", NAN, "params/s", NAN, "hand-sequenced calls", "-", err_name(err));
        return;
    }
    add_row("step_hand_adam_adapt_1e6", 1e6 / th, "params/s", th / t_adam_1e6, "adam_step_1e6 (cost x)", "-",
            "the calls one by one");
    add_row("step_run_adam_adapt_1e6", 1e6 / ts, "params/s", ts / th, "hand-sequenced (cost x)", "-",
            "one step_run");
}

/* lstm_lopt's kernels: the N = 1e6 step on the AVX2 and SSE2 builds of the
 * vectorised kernel (cost x Adam), then at N = 1e5 the vectorised kernel,
 * the batched sgemm path (LOPT_KERNEL_BLAS) and the reference loop
 * (LOPT_KERNEL_LOOP) as cost multiples of the vectorised kernel. */
static void bench_lstm_kernels(double t_adam_1e6)
{
    static const struct { const char *fig; int force; } isa[] = {
        {"lstm_lopt_step_1e6_avx2", 2}, {"lstm_lopt_step_1e6_sse2", 1}};
    int err;
    for (int i = 0; i < 2; i++) {
        lopt_fast_force_generic = isa[i].force;
        double t = time_opt("lstm_lopt", 1000000, 0, &err);
        lopt_fast_force_generic = 0;
        add_row(isa[i].fig, isnan(t) ? NAN : 1e6 / t, "params/s", t / t_adam_1e6, "adam_step_1e6 (cost x)",
                "-", isnan(t) ? err_name(err) : "1 thread");
    }
    double tf = time_opt("lstm_lopt", 100000, 0, &err);
    add_row("lstm_lopt_step_1e5", isnan(tf) ? NAN : 1e5 / tf, "params/s", NAN, "", "-",
            isnan(tf) ? err_name(err) : "vectorised kernel");
    static const struct { const char *fig; int kern; const char *note; } k[] = {
        {"lstm_lopt_blas_1e5", LOPT_KERNEL_BLAS, "sgemm, blocks of 256"},
        {"lstm_lopt_loop_1e5", LOPT_KERNEL_LOOP, "reference loop"}};
    for (int i = 0; i < 2; i++) {
        lopt_lstm_kernel = k[i].kern;
        double t = time_opt("lstm_lopt", 100000, 0, &err);
        lopt_lstm_kernel = LOPT_KERNEL_FAST;
        add_row(k[i].fig, isnan(t) ? NAN : 1e5 / t, "params/s", t / tf, "lstm_lopt_step_1e5 cost x", "-",
                isnan(t) ? err_name(err) : k[i].note);
    }
}

/* mlp_lopt's wider variant (hidden 32, depth 2; the default is 8 x 1): no
 * cost target, measured so that its price is known. */
static void bench_mlp_wide(double t_adam_1e6)
{
    opt_config cfg;
    int err = opt_config_defaults(&cfg, "mlp_lopt");
    if (!err) err = opt_config_set(&cfg, "hidden", 32);
    if (!err) err = opt_config_set(&cfg, "depth", 2);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    double t = err ? NAN : time_opt_cfg(&cfg, 1000000, 0, &err);
    add_row("mlp_lopt_32x2_step_1e6", isnan(t) ? NAN : 1e6 / t, "params/s", isnan(t) ? NAN : t / t_adam_1e6,
            "adam_step_1e6 (cost x)", "-", isnan(t) ? err_name(err) : "wider variant, 1 thread");
}

/* One row: optimizer `name` on its untrained default network ("@default")
 * with hyperparameter hp = v (hp NULL: none set), its N = 1e6 step as a
 * multiple of Adam's, no target. */
static void untrained_row(double t_adam_1e6, const char *name, const char *hp, double v, const char *fig,
                          const char *note)
{
    opt_config cfg;
    int err = opt_config_defaults(&cfg, name);
    if (!err && hp) err = opt_config_set(&cfg, hp, v);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    double t = err ? NAN : time_opt_cfg(&cfg, 1000000, 0, &err);
    add_row(fig, isnan(t) ? NAN : 1e6 / t, "params/s", isnan(t) ? NAN : t / t_adam_1e6, "adam_step_1e6 (cost x)",
            "-", isnan(t) ? err_name(err) : note);
}

/* mlp_lopt's default 8 x 1 network under gelu and swish (the activation
 * hyperparameter; mlp_lopt_step_1e6 is relu): no cost target, measured so
 * that the price of an activation other than relu is known. */
static void bench_mlp_act(double t_adam_1e6)
{
    static const char *const acts[] = {"gelu", "swish"};
    const opt_vtbl *vt = opt_find("mlp_lopt");
    int hi = opt_hparam_index(vt, "activation");
    for (int i = 0; i < 2; i++) {
        char fig[48], note[64];
        snprintf(fig, sizeof fig, "mlp_lopt_%s_step_1e6", acts[i]);
        snprintf(note, sizeof note, "activation %s, 1 thread", acts[i]);
        untrained_row(t_adam_1e6, "mlp_lopt", "activation", opt_hparam_value_index(vt, hi, acts[i]), fig, note);
    }
}

/* mlp_lopt's default 8 x 1 network on the momentum feature set (the
 * features hyperparameter): the same kernels as mlp_lopt_step_1e6 plus the
 * mask's few stores per step, so its cost should not move. */
static void bench_mlp_features(double t_adam_1e6)
{
    untrained_row(t_adam_1e6, "mlp_lopt", "features", LOPT_FSET_MOMENTUM, "mlp_lopt_momentum_step_1e6",
                  "features momentum, 1 thread");
}

/* mlp_lopt with its hyperparameter hp set to v, timed by paired_row; a
 * config it refuses is a row naming the error, not a missing row. */
static void mlp_variant_paired_row(const char *hp, double v, const char *fig, const char *note)
{
    opt_config cfg;
    int err = opt_config_defaults(&cfg, "mlp_lopt");
    if (!err) err = opt_config_set(&cfg, hp, v);
    if (err) add_row(fig, NAN, "params/s", NAN, "adam_step_1e6 (cost x)", "-", err_name(err));
    else paired_row(&cfg, fig, "-", note);
}

/* mlp_lopt's default 8 x 1 network with the hypergradient scale off (the
 * hypergrad hyperparameter, on by default): mlp_lopt_step_1e6 less the
 * rule's sums and its copy of the update, so the two rows read its cost.
 * And with its anneal scaling every step (anneal 1e-6: k q^(1/4) < 1
 * always; at the default it scales only once the gradient has fallen far
 * below its running scale, which this bench's fixed gradient never does,
 * so mlp_lopt_step_1e6 pays only its one square root a tensor): the
 * default step plus the anneal's pass over the update. */
static void bench_mlp_rules(void)
{
    mlp_variant_paired_row("hypergrad", 0, "mlp_lopt_nohg_step_1e6", "hypergrad 0, 1 thread");
    mlp_variant_paired_row("anneal", 1e-6, "mlp_lopt_anneal_step_1e6", "anneal scaling every step, 1 thread");
}

/* gru_lopt (issue 20's GRU family): its one kernel, blocks of 256
 * coordinates through gru_forward, on the default untrained 8 x 2 network
 * (no record ships); lstm_lopt_step_1e6 is the same rule with LSTM cells
 * and a vectorised kernel. */
static void bench_gru(double t_adam_1e6)
{
    untrained_row(t_adam_1e6, "gru_lopt", NULL, 0, "gru_lopt_step_1e6", "8 x 2, gru_forward blocks, 1 thread");
}

/* attn_lopt (issue 18's target: <= 20x Adam at N = 1e6): its per-parameter
 * rule on one tensor, then with 64 tensors x sequence_length 4 = 256 tokens
 * through the default 16 x 2 transformer, the network's cost at a size
 * typical of a model's tensor count. */
static void bench_attn(double t_adam_1e6)
{
    opt_config cfg;
    int err = opt_config_defaults(&cfg, "attn_lopt");
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    static const struct { int ntens; const char *fig, *target, *note; } v[] = {
        {1, "attn_lopt_step_1e6", "<=20", "1 tensor, 1 thread"},
        {64, "attn_lopt_step_1e6_64t", "<=20", "64 tensors = 256 tokens, 1 thread"},
    };
    for (int i = 0; i < 2; i++) {
        double t = err ? NAN : time_opt_tensors(&cfg, 1000000, v[i].ntens, &err);
        add_row(v[i].fig, isnan(t) ? NAN : 1e6 / t, "params/s", isnan(t) ? NAN : t / t_adam_1e6,
                "adam_step_1e6 (cost x)", v[i].target, isnan(t) ? err_name(err) : v[i].note);
    }
}

/* A learned optimizer whose network works per tensor (issue 18: graph_lopt,
 * mem_lopt), as a ratio to Adam's step: its per-parameter rule on one tensor
 * of 1e6, then the same 1e6 parameters in 64 tensors.  graph_lopt: the
 * default 16-wide, 2-round message passing over the default chain (63
 * edges); mem_lopt: memory_size 1000 with a loss every step (its read and
 * write). */
static void bench_tensor_lopt(double t_adam_1e6, const char *name, const char *note)
{
    opt_config cfg;
    int err = opt_config_defaults(&cfg, name);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    for (int i = 0; i < 2; i++) {
        int ntens = i ? 64 : 1;
        char fig[48], what[96];
        snprintf(fig, sizeof fig, "%s_step_1e6%s", name, i ? "_64t" : "");
        snprintf(what, sizeof what, "%d tensor%s, %s, 1 thread", ntens, i ? "s" : "", note);
        double t = err ? NAN : time_opt_tensors(&cfg, 1000000, ntens, &err);
        add_row(fig, isnan(t) ? NAN : 1e6 / t, "params/s", isnan(t) ? NAN : t / t_adam_1e6,
                "adam_step_1e6 (cost x)", "-", isnan(t) ? err_name(err) : what);
    }
}

static void bench_learned(double t_adam_1e6)
{
    static const char *const names[] = {"mlp_lopt", "lstm_lopt", "nn_adam"};
    for (int i = 0; i < 3; i++) {
        char fig[48];
        snprintf(fig, sizeof fig, "%s_step_1e6", names[i]);
        if (!opt_find(names[i])) {
            add_row(fig, NAN, "params/s", NAN, "adam_step_1e6 cost", "<=10", "not built yet");
            continue;
        }
        if (i == 0) {
            /* the target's figure: timed in alternation with Adam */
            opt_config cfg;
            opt_config_defaults(&cfg, names[i]);
            paired_row(&cfg, fig, "<=10", "1 thread");
            /* its network on the AVX2 build (the row above: the CPU's best, AVX-512 where present) */
            lopt_fast_force_generic = 2;
            paired_row(&cfg, "mlp_lopt_step_1e6_avx2", "-", "AVX2 build, 1 thread");
            lopt_fast_force_generic = 0;
            bench_mlp_wide(t_adam_1e6);
            bench_mlp_act(t_adam_1e6);
            bench_mlp_features(t_adam_1e6);
            bench_mlp_rules();
            continue;
        }
        int err;
        double t = time_opt(names[i], 1000000, 0, &err);
        if (isnan(t)) {
            add_row(fig, NAN, "params/s", NAN, "adam_step_1e6 cost", "<=10", err_name(err));
            continue;
        }
        /* The ratio here is a cost: this optimizer's seconds per step over
         * Adam's (lower is better). */
        add_row(fig, 1e6 / t, "params/s", t / t_adam_1e6, "adam_step_1e6 (cost x)", "<=10", "1 thread");
        if (i == 1) bench_lstm_kernels(t_adam_1e6);
        if (i == 1) bench_gru(t_adam_1e6);
    }
    bench_attn(t_adam_1e6);
    bench_tensor_lopt(t_adam_1e6, "graph_lopt", "chain graph");
    bench_tensor_lopt(t_adam_1e6, "mem_lopt", "memory 1000, a loss every step");
}

/* ---- JSON ---------------------------------------------------------------- */

typedef struct json_ctx {
    const char  *text;        /* the request's array */
    size_t       len;
    float       *vals;        /* parsed */
    size_t       n;
    f32json_buf  out;         /* the answer's array */
    char        *scratch;     /* snprintf reference */
} json_ctx;

static int ours_parse(void *vctx)
{
    json_ctx *c = vctx;
    size_t count, used;
    int rc = f32json_parse_array(c->text, c->len, c->vals, c->n, &count, &used);
    return rc || count != c->n;
}

static int ours_format(void *vctx)
{
    json_ctx *c = vctx;
    c->out.len = 0;
    return f32json_write_array(&c->out, c->vals, c->n);
}

static int ours_round_trip(void *vctx)
{
    return ours_parse(vctx) || ours_format(vctx);
}

/* cJSON as the daemon would use it: parse, walk reading valuedouble with the
 * float32 range check, free. */
static int cjson_parse(void *vctx)
{
    json_ctx *c = vctx;
    const char *end = NULL;
    cJSON *a = cJSON_ParseWithLengthOpts(c->text, c->len, &end, 0);
    if (!a || !cJSON_IsArray(a)) { cJSON_Delete(a); return 1; }
    size_t i = 0;
    int bad = 0;
    for (cJSON *it = a->child; it; it = it->next) {
        if (!cJSON_IsNumber(it) || i >= c->n) { bad = 1; break; }
        double d = it->valuedouble;
        if (!(fabs(d) <= 3.4028234663852886e38)) { bad = 1; break; }
        c->vals[i++] = (float)d;
    }
    cJSON_Delete(a);
    return bad || i != c->n;
}

static int cjson_format(void *vctx)
{
    json_ctx *c = vctx;
    cJSON *a = cJSON_CreateFloatArray(c->vals, (int)c->n);
    if (!a) return 1;
    char *s = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    if (!s) return 1;
    free(s);
    return 0;
}

static int cjson_round_trip(void *vctx)
{
    return cjson_parse(vctx) || cjson_format(vctx);
}

static int snprintf_format(void *vctx)
{
    json_ctx *c = vctx;
    char *p = c->scratch;
    *p++ = '[';
    for (size_t i = 0; i < c->n; i++) {
        if (i) *p++ = ',';
        p += snprintf(p, 32, "%.9g", (double)c->vals[i]);
    }
    *p++ = ']';
    return 0;
}

static void bench_json(void)
{
    const size_t n = 100000;
    float *grads = alloc_floats(n);
    for (size_t i = 0; i < n; i++) grads[i] = rnd_grad();

    /* The request, as f32json writes it (shortest digits). */
    f32json_buf req;
    f32json_buf_init(&req);
    if (f32json_write_array(&req, grads, n)) { fprintf(stderr, "bench_core: write failed\n"); exit(1); }
    /* The same values as 17-digit doubles (Python's json.dumps of float32
     * values turned into doubles). */
    f32json_buf req17;
    f32json_buf_init(&req17);
    {
        char tmp[40];
        f32json_buf_append(&req17, "[", 1);
        for (size_t i = 0; i < n; i++) {
            int k = snprintf(tmp, sizeof tmp, "%s%.17g", i ? "," : "", (double)grads[i]);
            if (f32json_buf_append(&req17, tmp, (size_t)k)) exit(1);
        }
        f32json_buf_append(&req17, "]", 1);
    }

    json_ctx c = {.text = req.data, .len = req.len, .vals = alloc_floats(n), .n = n};
    f32json_buf_init(&c.out);
    c.scratch = malloc(n * 32 + 8);
    if (!c.scratch) exit(1);

    double t_ours = time_best(ours_round_trip, &c);
    /* exact: parse the update we just wrote and compare bits with grads. */
    int exact = 0;
    {
        float *back = alloc_floats(n);
        size_t count = 0, used = 0;
        c.out.len = 0;
        if (ours_round_trip(&c) == 0
            && f32json_parse_array(c.out.data, c.out.len, back, n, &count, &used) == 0
            && count == n && memcmp(back, grads, n * sizeof(float)) == 0
            && memcmp(c.vals, grads, n * sizeof(float)) == 0)
            exact = 1;
        free(back);
    }
    double t_cj = time_best(cjson_round_trip, &c);
    double t_op = time_best(ours_parse, &c);
    double t_cp = time_best(cjson_parse, &c);
    double t_of = time_best(ours_format, &c);
    double t_cf = time_best(cjson_format, &c);
    double t_sf = time_best(snprintf_format, &c);
    c.text = req17.data;
    c.len = req17.len;
    double t_op17 = time_best(ours_parse, &c);
    double t_cp17 = time_best(cjson_parse, &c);

    double nn = (double)n;
    add_row("json_roundtrip_f32json_1e5", nn / t_ours, "floats/s", t_cj / t_ours, "cJSON round trip", ">=3",
            exact ? "exact: yes" : "exact: NO");
    add_row("json_roundtrip_cjson_1e5", nn / t_cj, "floats/s", NAN, "", "-", "parse+walk+print");
    add_row("json_parse_f32json", nn / t_op, "floats/s", t_cp / t_op, "cJSON parse+walk", "-", "shortest-digit input");
    add_row("json_parse_f32json_17digit", nn / t_op17, "floats/s", t_cp17 / t_op17, "cJSON parse+walk", "-", "%.17g input");
    add_row("json_format_f32json", nn / t_of, "floats/s", t_cf / t_of, "cJSON print", "-", "");
    add_row("json_format_vs_snprintf", nn / t_of, "floats/s", t_sf / t_of, "snprintf %.9g", "-", "");
    add_row("json_exact", exact ? 1 : 0, "bool", NAN, "", "1", exact ? "exact: yes" : "exact: no");

    printf("json: request %zu bytes (%.2f B/float), 17-digit request %zu bytes, update %zu bytes; exact: %s\n",
           req.len, (double)req.len / nn, req17.len, c.out.len, exact ? "yes" : "no");
    f32json_buf_deinit(&req);
    f32json_buf_deinit(&req17);
    f32json_buf_deinit(&c.out);
    free(c.vals);
    free(c.scratch);
    free(grads);
}

/* --learned: Adam at N = 1e6 and the learned optimizers' figures only
 * (their ratios, a fraction of the whole run's time, so that they can be
 * repeated on a busy machine). */
static void bench_learned_only(void)
{
    int err;
    double t = time_opt("adam", 1000000, 0, &err);
    add_row("adam_step_1e6", isnan(t) ? NAN : 1e6 / t, "params/s", NAN, "", "-",
            isnan(t) ? err_name(err) : "opt_step (reference)");
    if (!isnan(t)) bench_learned(t);
}

int main(int argc, char **argv)
{
    int learned_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) { g_min_time = 0.05; g_reps = 2; }
        else if (strcmp(argv[i], "--learned") == 0) learned_only = 1;
        else if (strcmp(argv[i], "--cpu") == 0) g_clock = CLOCK_THREAD_CPUTIME_ID;
        else {
            fprintf(stderr, "usage: %s [--quick] [--learned] [--cpu]\n", argv[0]);
            return 2;
        }
    }
    openblas_set_num_threads(1);
    printf("bench_core: best of %d runs of >= %.2f s each\n", g_reps, g_min_time);
    fflush(stdout);
    if (learned_only) {
        bench_learned_only();
        print_table();
        return 0;
    }
    double bound = bench_membw();
    double t_adam_1e6 = bench_adam(bound);
    bench_step(t_adam_1e6);
    bench_learned(t_adam_1e6);
    bench_json();
    print_table();
    return 0;
}
