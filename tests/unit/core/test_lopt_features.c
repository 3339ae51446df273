/* test_lopt_features.c — mlp_lopt's input feature sets (lopt.h): each set
 * steps as the full network with the inputs it drops replaced by zeros (on
 * every kernel, FiLM included), the record carries the set (old records
 * read as full, a reader without sets refuses a set), other architectures
 * refuse one, and meta-training never moves a dropped weight. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "lopt.h"
#include "lopt_internal.h"
#include "meta.h"
#include "opt.h"
#include "rng.h"

#define BLOCK 256

/* A (7,9) matrix, a (300) vector (two blocks) and a (2,1,3) tensor. */
static void small_layout(layout *lay)
{
    const char *names[] = {"w", "b", "k"};
    int ndims[] = {2, 1, 3};
    int64_t shapes[3][LAYOUT_MAX_DIMS] = {{7, 9}, {300}, {2, 1, 3}};
    assert_int_equal(layout_init(lay, 3, names, ndims, (const int64_t (*)[LAYOUT_MAX_DIMS])shapes, 10000), 0);
}

/* The reference: the accumulators of every tensor, stepped by hand. */
typedef struct ref_state {
    lopt_feat_tensor ft[3];
    float *acc;
    float rowsum[16], colsum[16];
} ref_state;

static void ref_init(ref_state *R, const layout *lay)
{
    size_t nacc = 0;
    for (int t = 0; t < lay->ntensors; t++) nacc += 6 * lay->tensors[t].size;   /* an upper bound */
    R->acc = calloc(nacc, sizeof(float));
    assert_non_null(R->acc);
    float *p = R->acc;
    for (int t = 0; t < lay->ntensors; t++) {
        const layout_tensor *lt = &lay->tensors[t];
        lopt_feat_tensor *ft = &R->ft[t];
        memset(ft, 0, sizeof *ft);
        ft->n = lt->size;
        for (int k = 0; k < 3; k++) { ft->m[k] = p; p += lt->size; }
        ft->v = p; p += lt->size;
        if (lt->ndim == 2 && lt->shape[0] > 1 && lt->shape[1] > 1) {
            ft->rows = lt->shape[0]; ft->cols = lt->shape[1];
            ft->r = p; p += ft->rows;
            ft->c = p; p += ft->cols;
        } else {
            ft->d = p; p += lt->size;
        }
    }
}

/* One step t (1-based) of the FULL network theta at the default lr, guard
 * and hold off, with every input outside `keep` (lopt_fset_inputs) set to
 * 0: the per-parameter features' rows, the time features (into the first
 * layer and the head), the per-tensor features.  Writes u. */
static void ref_step(ref_state *R, const layout *lay, const float *theta, int H, int D, uint32_t keep, int64_t t,
                     const float *p, const float *g, float *u)
{
    float b[LOPT_NDECAY], tf[LOPT_NTIME], bias0[LOPT_MAX_HIDDEN];
    for (int k = 0; k < LOPT_NDECAY; k++) b[k] = lopt_sigmoidf(theta[k]);
    double corr[LOPT_NCORR];
    lopt_bias_corrections(b, t, corr);
    lopt_time_features(t, tf);
    if (!(keep & LOPT_FSET_TIME)) memset(tf, 0, sizeof tf);
    const float *W0 = theta + LOPT_NDECAY, *b0 = W0 + (size_t)H * LOPT_MLP_IN;
    const float *head = theta + lopt_theta_count(LOPT_ARCH_MLP, H, D) - LOPT_MLP_NSCALE;
    for (int i = 0; i < H; i++) {
        float z = b0[i];
        for (int j = 0; j < LOPT_NTIME; j++) z += W0[i * LOPT_MLP_IN + LOPT_NFEAT + j] * tf[j];
        bias0[i] = z;
    }
    float *x = malloc(LOPT_NFEAT * BLOCK * sizeof(float)), *work = malloc(2 * (size_t)H * BLOCK * sizeof(float));
    float o0[BLOCK], o1[BLOCK];
    for (int ti = 0; ti < lay->ntensors; ti++) {
        lopt_feat_tensor *ft = &R->ft[ti];
        size_t off = lay->tensors[ti].offset;
        float inv_rms[LOPT_NFEAT], tens[LOPT_NTENS];
        lopt_features_update(ft, g + off, p + off, b, R->rowsum, R->colsum, inv_rms);
        lopt_tensor_features(inv_rms, corr, tens);
        if (!(keep & LOPT_FSET_TENSOR)) memset(tens, 0, sizeof tens);
        float tmult = (float)lopt_lr_mult(opt_common_hparams()[HP_LR].def) * LOPT_MLP_LAMBDA1 * 1.0f *
                      lopt_mlp_tensor_scale(head, tens, tf);
        for (size_t i0 = 0; i0 < ft->n; i0 += BLOCK) {
            size_t cnt = ft->n - i0 < BLOCK ? ft->n - i0 : BLOCK;
            lopt_features_block(ft, g + off, p + off, inv_rms, i0, cnt, x, BLOCK);
            for (int f = 0; f < LOPT_NFEAT; f++)
                if (!(keep & 1u << f)) memset(x + (size_t)f * BLOCK, 0, cnt * sizeof(float));
            lopt_mlp_net_loop(theta, H, D, LOPT_ACT_RELU, bias0, x, BLOCK, cnt, work, o0, o1);
            for (size_t k = 0; k < cnt; k++) u[off + i0 + k] = -tmult * o0[k] * expf(LOPT_MLP_LAMBDA2 * o1[k]);
        }
    }
    free(x); free(work);
}

/* mlp_lopt (H, D) on the default init with feature set `set`, guard, hold,
 * hypergradient scale and gradient clipping off; weights: a record name, or NULL for "@default". */
static void make_mlp(opt *o, const layout *lay, int H, int D, int set, const char *weights, int film_row)
{
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "mlp_lopt"), 0);
    assert_int_equal(opt_config_set(&cfg, "hidden", H), 0);
    assert_int_equal(opt_config_set(&cfg, "depth", D), 0);
    assert_int_equal(opt_config_set(&cfg, "features", set), 0);
    assert_int_equal(opt_config_set(&cfg, "guard", 0), 0);
    assert_int_equal(opt_config_set(&cfg, "clip_norm", 0), 0);
    assert_int_equal(opt_config_set(&cfg, "hold_zero_grad", 0), 0);
    assert_int_equal(opt_config_set(&cfg, "hypergrad", 0), 0);
    cfg.weights = weights ? weights : LOPT_WEIGHTS_DEFAULT;
    cfg.film_row = film_row;
    assert_int_equal(opt_init(o, &cfg, lay), 0);
}

/* A random full theta (std 0.3 around the default init: every input's
 * weights nonzero, the head too). */
static void random_theta(lopt_weights *w, int H, int D, uint64_t seed)
{
    assert_int_equal(lopt_weights_init_default(w, LOPT_ARCH_MLP, H, D, seed), 0);
    rng r;
    rng_seed(&r, seed);
    for (size_t i = LOPT_NDECAY; i < w->ntheta; i++) w->theta[i] += rng_normal(&r) * 0.3f;
}

/* Largest |a − b| / max(|b|, 1e-3·max|b|). */
static double rel_err(const float *a, const float *b, size_t n)
{
    double bmax = 0, worst = 0;
    for (size_t i = 0; i < n; i++) bmax = fmax(bmax, fabs(b[i]));
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]) / fmax(fabs(b[i]), 1e-3 * bmax));
    return worst;
}

/* Steps `o` and the reference on ref_theta and `keep` side by side
 * for 3 steps; the loop kernel must equal the reference exactly, blas and
 * fast within 5e-4 relative.  Returns the largest difference between the
 * reference and the full network's reference (how much the set changes). */
static double compare_to_reference(opt *o, const layout *lay, const float *ref_theta, int H, int D, uint32_t keep,
                                   int kernel)
{
    size_t n = lay->n;
    ref_state R, F;
    ref_init(&R, lay);
    ref_init(&F, lay);
    float *p = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    float *u = malloc(n * sizeof(float)), *ur = malloc(n * sizeof(float)), *uf = malloc(n * sizeof(float));
    rng r;
    rng_seed(&r, 11);
    rng_normal_fill(&r, p, n, 0, 1);
    double changed = 0;
    for (int64_t t = 1; t <= 3; t++) {
        rng_normal_fill(&r, g, n, 0, 1);
        ref_step(&R, lay, ref_theta, H, D, keep, t, p, g, ur);
        ref_step(&F, lay, ref_theta, H, D, lopt_fset_inputs(LOPT_FSET_FULL), t, p, g, uf);
        lopt_mlp_kernel = kernel;
        assert_int_equal(opt_step(o, p, g, u, NULL), 0);   /* then p += u */
        lopt_mlp_kernel = LOPT_KERNEL_FAST;
        if (kernel == LOPT_KERNEL_LOOP)
            for (size_t i = 0; i < n; i++) assert_true(u[i] == ur[i]);
        else
            assert_true(rel_err(u, ur, n) < 5e-4);
        changed = fmax(changed, rel_err(ur, uf, n));
    }
    free(p); free(g); free(u); free(ur); free(uf); free(R.acc); free(F.acc);
    return changed;
}

/* The entries of theta (H, D) a set drops are exactly 0, every other equals
 * full's. */
static void check_masked(const float *theta, const float *full, int H, int D, uint32_t keep)
{
    size_t nt = lopt_theta_count(LOPT_ARCH_MLP, H, D);
    const float *head = theta + nt - LOPT_MLP_NSCALE;
    for (size_t i = 0; i < nt; i++) {
        int dropped = 0;
        if (i >= LOPT_NDECAY && i < LOPT_NDECAY + (size_t)H * LOPT_MLP_IN) {
            size_t c = (i - LOPT_NDECAY) % LOPT_MLP_IN;
            dropped = c < LOPT_NFEAT ? !(keep & 1u << c) : !(keep & LOPT_FSET_TIME);
        } else if (theta + i >= head && theta + i < head + LOPT_NTENS) {
            dropped = !(keep & LOPT_FSET_TENSOR);
        } else if (theta + i >= head + LOPT_NTENS && theta + i < head + LOPT_MLP_SCALE_IN) {
            dropped = !(keep & LOPT_FSET_TIME);
        }
        if (dropped) assert_true(theta[i] == 0.0f);
        else assert_true(theta[i] == full[i]);
    }
}

static void test_every_set_steps_as_the_full_network_with_dropped_inputs_zeroed(void **st)
{
    (void)st;
    layout lay;
    small_layout(&lay);
    for (int D = 1; D <= 2; D++)
        for (int set = 0; set < LOPT_FSET_COUNT; set++)
            for (int kernel = LOPT_KERNEL_LOOP; kernel <= LOPT_KERNEL_FAST; kernel++) {
                const int H = 8;
                lopt_weights full;
                random_theta(&full, H, D, 5 + (uint64_t)D);
                opt o;
                make_mlp(&o, &lay, H, D, set, NULL, 0);
                lopt_weights *w = lopt_opt_weights(&o);
                assert_int_equal(w->fset, set);
                memcpy(w->theta, full.theta, full.ntheta * sizeof(float));   /* unmasked: the step masks */
                uint32_t keep = lopt_fset_inputs(set);
                double changed = compare_to_reference(&o, &lay, full.theta, H, D, keep, kernel);
                check_masked(w->theta, full.theta, H, D, keep);
                printf("features %s, depth %d, kernel %d: differs from full by %.2e\n", lopt_fset_name(set), D,
                       kernel, changed);
                if (set == LOPT_FSET_FULL) assert_true(changed == 0);
                else assert_true(changed > 1e-2);   /* the set changes the update: the mask is not a no-op */
                opt_deinit(&o);
                lopt_weights_deinit(&full);
            }
    layout_deinit(&lay);
}

/* A FiLM record with a set: the fold scales W0's rows by gamma, so the
 * dropped columns stay 0, and the step equals the reference on the folded
 * full trunk with the dropped inputs zeroed (loop kernel: exactly). */
static void test_film_record_with_a_set(void **st)
{
    (void)st;
    layout lay;
    small_layout(&lay);
    const int H = 8, D = 2, row = 2;
    lopt_weights full, rec;
    random_theta(&full, H, D, 9);
    assert_int_equal(lopt_weights_set_film(&full), 0);
    rng r;
    rng_seed(&r, 3);
    size_t nt = lopt_theta_count(LOPT_ARCH_MLP, H, D);
    for (size_t i = nt; i < full.ntheta; i++) full.theta[i] += rng_normal(&r) * 0.5f;   /* gamma, beta */
    assert_int_equal(lopt_weights_copy(&rec, &full), 0);
    assert_int_equal(lopt_weights_set_features(&rec, LOPT_FSET_ADAM), 0);
    assert_int_equal(lopt_registry_put("film_adam", &rec), 0);
    float *folded = malloc(nt * sizeof(float)), *folded_rec = malloc(nt * sizeof(float));
    lopt_mlp_film_fold(full.theta, H, D, row, folded);
    lopt_mlp_film_fold(rec.theta, H, D, row, folded_rec);
    uint32_t keep = lopt_fset_inputs(LOPT_FSET_ADAM);
    check_masked(folded_rec, folded, H, D, keep);   /* gamma·0 = 0 where the set drops, gamma·w elsewhere */
    for (int kernel = LOPT_KERNEL_LOOP; kernel <= LOPT_KERNEL_FAST; kernel++) {
        opt o;
        make_mlp(&o, &lay, 4, 1, LOPT_FSET_FULL, "film_adam", row);   /* the record's shape and set win */
        assert_int_equal(lopt_opt_weights(&o)->fset, LOPT_FSET_ADAM);
        assert_true(compare_to_reference(&o, &lay, folded, H, D, keep, kernel) > 1e-2);
        opt_deinit(&o);
    }
    lopt_registry_clear();
    free(folded); free(folded_rec);
    lopt_weights_deinit(&full);
    lopt_weights_deinit(&rec);
    layout_deinit(&lay);
}

/* Every set round-trips through a record; full's depth word is the one
 * from before sets; a forged record (a dropped weight not 0) is corrupt. */
static void test_record_carries_the_set(void **st)
{
    (void)st;
    lopt_weights w, back;
    random_theta(&w, 8, 2, 21);
    lopt_weights full_copy;
    assert_int_equal(lopt_weights_copy(&full_copy, &w), 0);
    for (int set = 0; set < LOPT_FSET_COUNT; set++) {
        lopt_weights s;
        assert_int_equal(lopt_weights_copy(&s, &full_copy), 0);
        assert_int_equal(lopt_weights_set_features(&s, set), 0);
        check_masked(s.theta, full_copy.theta, 8, 2, lopt_fset_inputs(set));
        uint8_t *blob;
        size_t len;
        assert_int_equal(lopt_weights_save(&s, &blob, &len), 0);
        assert_int_equal(lopt_weights_load(&back, blob, len), 0);
        assert_int_equal(back.fset, set);
        assert_int_equal(back.depth, 2);
        assert_memory_equal(back.theta, s.theta, s.ntheta * sizeof(float));
        lopt_weights_deinit(&back);
        free(blob);
        lopt_weights_deinit(&s);
    }
    /* full writes the depth word as before sets (an old record reads as full); adam differs in that word
       only, by the set in bits 8..11, so a reader without sets sees a depth out of range */
    assert_int_equal(lopt_weights_set_features(&w, LOPT_FSET_ADAM), 0);
    uint8_t *a, *b;
    size_t la, lb;
    assert_int_equal(lopt_weights_save(&w, &b, &lb), 0);
    w.fset = LOPT_FSET_FULL;   /* same theta, the set's bits 0 */
    assert_int_equal(lopt_weights_save(&w, &a, &la), 0);
    assert_int_equal(la, lb);
    const size_t depth_at = 20 + 8;   /* blob.h's header (magic, kind, version, length), arch, hidden */
    uint32_t x, y;
    memcpy(&x, a + depth_at, 4);
    memcpy(&y, b + depth_at, 4);
    assert_int_equal(x, 2u);
    assert_int_equal(y, 2u | (uint32_t)LOPT_FSET_ADAM << 8);
    assert_true((y & 0x0fffu) > LOPT_MAX_DEPTH);
    assert_memory_equal(a, b, depth_at);
    assert_memory_equal(a + depth_at + 4, b + depth_at + 4, la - depth_at - 8);   /* all but the checksum */
    assert_int_equal(lopt_weights_load(&back, a, la), 0);
    assert_int_equal(back.fset, LOPT_FSET_FULL);
    lopt_weights_deinit(&back);
    free(a); free(b);
    /* a forged record, whose dropped weights are not 0 (one -0.0 is enough), is corrupt: a record
       loads as the bytes it was saved as or not at all; an unknown set is corrupt too */
    lopt_weights_deinit(&w);
    random_theta(&w, 8, 2, 21);
    w.fset = LOPT_FSET_MOMENTUM;
    assert_int_equal(lopt_weights_save(&w, &a, &la), 0);
    assert_int_equal(lopt_weights_load(&back, a, la), ERR_CORRUPT);
    free(a);
    assert_int_equal(lopt_weights_set_features(&w, LOPT_FSET_MOMENTUM), 0);
    assert_int_equal(lopt_weights_save(&w, &a, &la), 0);
    assert_int_equal(lopt_weights_load(&back, a, la), 0);
    check_masked(back.theta, full_copy.theta, 8, 2, lopt_fset_inputs(LOPT_FSET_MOMENTUM));
    lopt_weights_deinit(&back);
    free(a);
    size_t dropped = 0;   /* a dropped weight: 0 in the masked theta where the random one is not */
    while (dropped < w.ntheta && !(w.theta[dropped] == 0.0f && full_copy.theta[dropped] != 0.0f)) dropped++;
    assert_true(dropped < w.ntheta);
    w.theta[dropped] = -0.0f;
    assert_int_equal(lopt_weights_save(&w, &a, &la), 0);
    assert_int_equal(lopt_weights_load(&back, a, la), ERR_CORRUPT);
    free(a);
    w.fset = LOPT_FSET_COUNT;
    assert_int_equal(lopt_weights_save(&w, &a, &la), 0);
    assert_int_equal(lopt_weights_load(&back, a, la), ERR_CORRUPT);
    free(a);
    lopt_weights_deinit(&w);
    lopt_weights_deinit(&full_copy);
}

static void test_sets_are_mlp_lopt_only_and_keep_feature_7(void **st)
{
    (void)st;
    for (int set = 0; set < LOPT_FSET_COUNT; set++) {
        assert_true(lopt_fset_inputs(set) & 1u << 7);
        assert_int_equal(lopt_fset_from_name(lopt_fset_name(set)), set);
    }
    assert_int_equal(lopt_fset_inputs(LOPT_FSET_FULL), (1u << (LOPT_NFEAT + 2)) - 1);
    assert_int_equal(lopt_fset_inputs(LOPT_FSET_COUNT), 0);
    assert_null(lopt_fset_name(LOPT_FSET_COUNT));
    assert_null(lopt_fset_name(-1));
    const char *bad[] = {"FULL", "", "tanh", "full ", NULL};
    for (int i = 0; i < 5; i++) assert_int_equal(lopt_fset_from_name(bad[i]), -1);
    /* a record fixes it, as its activation */
    assert_int_equal(lopt_shape_hp("mlp_lopt", "features"), 1);
    assert_int_equal(lopt_shape_hp("lstm_lopt", "features"), 0);
    lopt_weights w, back;
    assert_int_equal(lopt_weights_init_default(&w, LOPT_ARCH_MLP, 4, 1, 1), 0);
    assert_int_equal(lopt_weights_set_features(&w, LOPT_FSET_COUNT), ERR_INVALID_ARGUMENT);
    assert_int_equal(lopt_weights_set_features(&w, -1), ERR_INVALID_ARGUMENT);
    assert_int_equal(w.fset, LOPT_FSET_FULL);
    lopt_weights_deinit(&w);
    int archs[] = {LOPT_ARCH_LSTM, LOPT_ARCH_NNADAM, LOPT_ARCH_ATTN, LOPT_ARCH_GRAPH, LOPT_ARCH_MEM};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(lopt_weights_init_default(&w, archs[i], 4, 1, 1), 0);
        assert_int_equal(lopt_weights_set_features(&w, LOPT_FSET_ADAM), ERR_INVALID_ARGUMENT);
        assert_int_equal(lopt_weights_set_features(&w, LOPT_FSET_FULL), 0);
        w.fset = LOPT_FSET_NO_TIME;   /* as a forged blob would carry it */
        uint8_t *blob;
        size_t len;
        assert_int_equal(lopt_weights_save(&w, &blob, &len), 0);
        assert_int_equal(lopt_weights_load(&back, blob, len), ERR_CORRUPT);
        free(blob);
        lopt_weights_deinit(&w);
    }
}

/* A record's set wins over the hyperparameter, and lopt_shape_to_config
 * writes it into the config (what a session shows). */
static void test_record_set_wins_and_is_shown(void **st)
{
    (void)st;
    layout lay;
    small_layout(&lay);
    lopt_weights w;
    random_theta(&w, 4, 1, 2);
    assert_int_equal(lopt_weights_set_features(&w, LOPT_FSET_MOMENTUM), 0);
    assert_int_equal(lopt_registry_put("mom", &w), 0);
    opt o;
    make_mlp(&o, &lay, 8, 1, LOPT_FSET_NO_TIME, "mom", 0);
    assert_int_equal(lopt_opt_weights(&o)->fset, LOPT_FSET_MOMENTUM);
    opt_config cfg = o.cfg;
    lopt_shape_to_config(&o, &cfg);
    int i = opt_hparam_index(o.vt, "features");
    assert_true(i >= 0 && cfg.hp[i] == LOPT_FSET_MOMENTUM);
    assert_string_equal(opt_hparam_value_name(o.vt, i, cfg.hp[i]), "momentum");
    opt_deinit(&o);
    lopt_registry_clear();
    lopt_weights_deinit(&w);
    layout_deinit(&lay);
}

/* Meta-training on a set: ES, PES and TBPTT never move a dropped weight
 * (their perturbation and gradient are masked), and do move the others. */
static void test_meta_training_never_moves_a_dropped_weight(void **st)
{
    (void)st;
    int est[] = {META_ES, META_PES, META_TBPTT};
    for (int e = 0; e < 3; e++) {
        meta_config c;
        meta_config_defaults(&c);
        c.hidden = 4;
        c.depth = 1;
        c.estimator = est[e];
        c.tasks[0].params.dim = 5;
        c.task_seed = 7;
        c.unroll = 5;
        c.nparticles = 2;
        c.outer_lr = 0.01;
        c.fset = LOPT_FSET_ADAM;
        meta_job *j;
        assert_int_equal(meta_job_new(&c, NULL, &j), 0);
        const lopt_weights *w = meta_job_weights(j);
        assert_int_equal(w->fset, LOPT_FSET_ADAM);
        float *before = malloc(w->ntheta * sizeof(float));
        memcpy(before, w->theta, w->ntheta * sizeof(float));
        meta_report rep;
        for (int s = 0; s < 3; s++) assert_int_equal(meta_step(j, &rep), 0);
        size_t moved = 0;
        for (size_t i = 0; i < w->ntheta; i++) moved += w->theta[i] != before[i];
        assert_true(moved > 10);
        memcpy(before, w->theta, w->ntheta * sizeof(float));
        lopt_weights_mask_features(w, before);
        assert_memory_equal(before, w->theta, w->ntheta * sizeof(float));   /* the dropped ones still 0 */
        free(before);
        meta_job_free(j);
        /* an init record of another set, or a set on another architecture, is refused */
        lopt_weights other;
        assert_int_equal(lopt_weights_init_default(&other, LOPT_ARCH_MLP, 4, 1, 1), 0);
        assert_int_equal(meta_job_new(&c, &other, &j), ERR_INVALID_ARGUMENT);
        lopt_weights_deinit(&other);
        snprintf(c.optimizer, sizeof c.optimizer, "lstm_lopt");
        assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_set_steps_as_the_full_network_with_dropped_inputs_zeroed),
        cmocka_unit_test(test_film_record_with_a_set),
        cmocka_unit_test(test_record_carries_the_set),
        cmocka_unit_test(test_sets_are_mlp_lopt_only_and_keep_feature_7),
        cmocka_unit_test(test_record_set_wins_and_is_shown),
        cmocka_unit_test(test_meta_training_never_moves_a_dropped_weight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
