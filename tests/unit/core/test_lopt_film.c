/* test_lopt_film.c — FiLM records of mlp_lopt (lopt.h; docs/meta-learning.md
 * #multi-task-optimizer): the domain → row map, the record's blob and
 * copies, the folding against the unfolded forward, the step on a row
 * against a plain record holding the folded trunk (bit for bit, every
 * kernel), the identity / no row against the trunk (bit for bit), the
 * optimizer state round trip, and meta-training with film = 1 (which rows
 * it trains, what it refuses). */
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

/* A (3,4) matrix, a (5) vector, a (37,45) matrix: blocks of several sizes. */
static void film_layout(layout *lay)
{
    const char *names[] = {"w", "b", "big"};
    int ndims[] = {2, 1, 2};
    int64_t shapes[3][LAYOUT_MAX_DIMS] = {{3, 4}, {5}, {37, 45}};
    assert_int_equal(layout_init(lay, 3, names, ndims, (const int64_t (*)[LAYOUT_MAX_DIMS])shapes, 1 << 20), 0);
}

/* A FiLM record 8 x depth with a random trunk (std 0.3 around the default)
 * and random rows (gamma around 1, beta around 0). */
static void random_film(lopt_weights *w, int depth, uint64_t seed)
{
    assert_int_equal(lopt_weights_init_default(w, LOPT_ARCH_MLP, 8, depth, seed), 0);
    size_t trunk = w->ntheta;
    assert_int_equal(lopt_weights_set_film(w), 0);
    rng r;
    rng_seed(&r, seed + 100);
    for (size_t i = LOPT_NDECAY; i < trunk; i++) w->theta[i] += rng_normal(&r) * 0.3f;
    for (size_t i = trunk; i < w->ntheta; i++) {
        size_t k = (i - trunk) % 16;                      /* gamma (8) then beta (8) */
        w->theta[i] = (k < 8 ? 1.0f : 0.0f) + rng_normal(&r) * 0.4f;
    }
}

static void test_film_rows_name_the_session_domains(void **st)
{
    (void)st;
    assert_int_equal(lopt_film_row("vision"), 1);
    assert_int_equal(lopt_film_row("text"), 2);
    assert_int_equal(lopt_film_row("tabular"), 3);
    assert_int_equal(lopt_film_row("synthetic"), 4);
    const char *bad[] = {NULL, "", "mixed", "Vision", " vision", "vision ", "visio", "vision\n", "text\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_int_equal(lopt_film_row(bad[i]), 0);
    for (int r = 1; r <= LOPT_FILM_NDOM; r++) assert_int_equal(lopt_film_row(lopt_film_domain(r)), r);
    assert_null(lopt_film_domain(0));
    assert_null(lopt_film_domain(LOPT_FILM_NDOM + 1));
    assert_int_equal(lopt_film_count(8), 64);
}

/* set_film appends identity rows; the blob, copies and the table keep them;
 * a FiLM bit on another architecture or a length that does not match is
 * refused. */
static void test_film_record_roundtrips(void **st)
{
    (void)st;
    lopt_weights w, r, c;
    assert_int_equal(lopt_weights_init_default(&w, LOPT_ARCH_MLP, 8, 1, 3), 0);
    size_t trunk = w.ntheta;
    assert_int_equal(lopt_weights_set_film(&w), 0);
    assert_int_equal(w.film, 1);
    assert_int_equal(w.ntheta, trunk + lopt_film_count(8));
    for (size_t i = 0; i < lopt_film_count(8); i++) assert_true(w.theta[trunk + i] == ((i % 16) < 8 ? 1.0f : 0.0f));
    assert_int_equal(lopt_weights_set_film(&w), 0);       /* already one: unchanged */
    assert_int_equal(w.ntheta, trunk + lopt_film_count(8));
    w.theta[trunk + 3] = 1.5f;
    w.theta[w.ntheta - 1] = -0.25f;
    w.mup_base = 16;                                     /* both bits of the depth word */
    uint8_t *buf;
    size_t len;
    assert_int_equal(lopt_weights_save(&w, &buf, &len), 0);
    assert_int_equal(lopt_weights_load(&r, buf, len), 0);
    assert_int_equal(r.film, 1);
    assert_int_equal(r.depth, 1);
    assert_int_equal(r.mup_base, 16);
    assert_int_equal(r.ntheta, w.ntheta);
    assert_memory_equal(r.theta, w.theta, w.ntheta * sizeof(float));
    assert_int_equal(lopt_weights_copy(&c, &r), 0);
    assert_int_equal(c.film, 1);
    assert_memory_equal(c.theta, w.theta, w.ntheta * sizeof(float));
    lopt_weights_deinit(&c);
    assert_int_equal(lopt_registry_put("film-rt", &r), 0);
    assert_int_equal(lopt_registry_get("film-rt", &c), 0);
    assert_int_equal(c.film, 1);
    assert_memory_equal(c.theta, w.theta, w.ntheta * sizeof(float));
    lopt_weights_deinit(&c);
    lopt_registry_remove("film-rt");
    lopt_weights_deinit(&r);
    free(buf);
    /* the rows' length, but no FiLM bit: refused; the bit on a trunk-long theta: refused */
    lopt_weights p = w;
    p.film = 0;
    assert_int_equal(lopt_weights_save(&p, &buf, &len), 0);
    assert_int_equal(lopt_weights_load(&r, buf, len), ERR_CORRUPT);
    free(buf);
    p = w;
    p.ntheta = trunk;
    assert_int_equal(lopt_weights_save(&p, &buf, &len), 0);
    assert_int_equal(lopt_weights_load(&r, buf, len), ERR_CORRUPT);
    free(buf);
    lopt_weights_deinit(&w);
    /* other architectures have no FiLM rows */
    assert_int_equal(lopt_weights_init_default(&w, LOPT_ARCH_LSTM, 4, 1, 1), 0);
    assert_int_equal(lopt_weights_set_film(&w), ERR_INVALID_ARGUMENT);
    assert_int_equal(w.film, 0);
    w.film = 1;                                          /* forged */
    assert_int_equal(lopt_weights_save(&w, &buf, &len), 0);
    assert_int_equal(lopt_weights_load(&r, buf, len), ERR_CORRUPT);
    free(buf);
    lopt_weights_deinit(&w);
}

/* The unfolded forward: h = relu(gamma ⊙ (W0·[x, tf] + b0) + beta), then
 * the plain hidden layers and outputs. */
static void unfolded_forward(const float *theta, int H, int depth, int row, const float *x, const float *tf,
                             float *o0, float *o1)
{
    size_t I = LOPT_MLP_IN, nt = lopt_theta_count(LOPT_ARCH_MLP, H, depth);
    const float *W0 = theta + LOPT_NDECAY, *b0 = W0 + (size_t)H * I, *p = b0 + H;
    const float *gamma = theta + nt + (size_t)(row - 1) * 2 * (size_t)H, *beta = gamma + H;
    double h[LOPT_MAX_HIDDEN], h2[LOPT_MAX_HIDDEN];
    for (int i = 0; i < H; i++) {
        double s = b0[i];
        for (int f = 0; f < LOPT_NFEAT; f++) s += (double)W0[(size_t)i * I + (size_t)f] * x[f];
        for (int t = 0; t < LOPT_NTIME; t++) s += (double)W0[(size_t)i * I + LOPT_NFEAT + (size_t)t] * tf[t];
        s = gamma[i] * s + beta[i];
        h[i] = s > 0 ? s : 0;
    }
    for (int l = 1; l < depth; l++) {
        const float *W = p, *b = p + (size_t)H * H;
        for (int i = 0; i < H; i++) {
            double s = b[i];
            for (int j = 0; j < H; j++) s += (double)W[(size_t)i * H + (size_t)j] * h[j];
            h2[i] = s > 0 ? s : 0;
        }
        memcpy(h, h2, sizeof h);
        p += (size_t)H * H + (size_t)H;
    }
    double a = p[2 * H], b = p[2 * H + 1];
    for (int j = 0; j < H; j++) { a += p[j] * h[j]; b += p[H + j] * h[j]; }
    *o0 = (float)a;
    *o1 = (float)b;
}

/* lopt_mlp_film_fold + the reference network (the time features folded
 * into the bias as the step does) equal the unfolded forward within float
 * rounding (1e-5 relative to max(1, |o|)), for every row, depths 1 and 2. */
static void test_fold_equals_unfolded_forward(void **st)
{
    (void)st;
    for (int depth = 1; depth <= 2; depth++) {
        lopt_weights w;
        random_film(&w, depth, 11 + (uint64_t)depth);
        int H = w.hidden;
        size_t nt = lopt_theta_count(LOPT_ARCH_MLP, H, depth), ld = 64, cnt = 50;
        float *thf = malloc(nt * sizeof(float)), *x = malloc(LOPT_NFEAT * ld * sizeof(float));
        float *work = malloc(2 * (size_t)H * ld * sizeof(float)), o0[64], o1[64], bias0[LOPT_MAX_HIDDEN];
        float tf[LOPT_NTIME];
        lopt_time_features(37, tf);
        rng r;
        rng_seed(&r, 5);
        rng_normal_fill(&r, x, LOPT_NFEAT * ld, 0, 1);
        double worst = 0;
        for (int row = 1; row <= LOPT_FILM_NDOM; row++) {
            lopt_mlp_film_fold(w.theta, H, depth, row, thf);
            const float *W0 = thf + LOPT_NDECAY, *b0 = W0 + (size_t)H * LOPT_MLP_IN;
            for (int i = 0; i < H; i++) {
                float z = b0[i];
                for (int t = 0; t < LOPT_NTIME; t++) z += W0[(size_t)i * LOPT_MLP_IN + LOPT_NFEAT + (size_t)t] * tf[t];
                bias0[i] = z;
            }
            lopt_mlp_net_loop(thf, H, depth, LOPT_ACT_RELU, bias0, x, ld, cnt, work, o0, o1);
            for (size_t k = 0; k < cnt; k++) {
                float xk[LOPT_NFEAT], e0, e1;
                for (int f = 0; f < LOPT_NFEAT; f++) xk[f] = x[(size_t)f * ld + k];
                unfolded_forward(w.theta, H, depth, row, xk, tf, &e0, &e1);
                worst = fmax(worst, fabs((double)o0[k] - e0) / fmax(1.0, fabs(e0)));
                worst = fmax(worst, fabs((double)o1[k] - e1) / fmax(1.0, fabs(e1)));
            }
            /* the trunk outside W0, b0 is copied as it is */
            assert_memory_equal(thf, w.theta, LOPT_NDECAY * sizeof(float));
            size_t after = LOPT_NDECAY + (size_t)H * LOPT_MLP_IN + (size_t)H;
            assert_memory_equal(thf + after, w.theta + after, (nt - after) * sizeof(float));
        }
        printf("FiLM fold vs unfolded forward, depth %d: max rel err %.2e\n", depth, worst);
        assert_true(worst < 1e-5);
        free(thf); free(x); free(work);
        lopt_weights_deinit(&w);
    }
}

/* Steps `steps` times on the same gradients with two mlp_lopt optimizers on
 * records `a` and `b` (film rows ra and rb); asserts every update is equal
 * bit for bit. */
static void same_steps(const char *a, int ra, const char *b, int rb, int kernel, int steps)
{
    layout lay;
    film_layout(&lay);
    size_t n = lay.n;
    opt oa, ob;
    opt_config ca, cb;
    assert_int_equal(opt_config_defaults(&ca, "mlp_lopt"), 0);
    cb = ca;
    ca.weights = a; ca.film_row = ra;
    cb.weights = b; cb.film_row = rb;
    assert_int_equal(opt_init(&oa, &ca, &lay), 0);
    assert_int_equal(opt_init(&ob, &cb, &lay), 0);
    float *p = malloc(n * sizeof(float)), *q = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    float *ua = malloc(n * sizeof(float)), *ub = malloc(n * sizeof(float));
    rng r;
    rng_seed(&r, 21);
    rng_normal_fill(&r, p, n, 0, 1);
    memcpy(q, p, n * sizeof(float));
    int saved = lopt_mlp_kernel;
    lopt_mlp_kernel = kernel;
    for (int t = 0; t < steps; t++) {
        rng_normal_fill(&r, g, n, 0, 1);
        g[7] = 0.0f;
        assert_int_equal(opt_step(&oa, p, g, ua, NULL), 0);
        assert_int_equal(opt_step(&ob, q, g, ub, NULL), 0);
        assert_memory_equal(ua, ub, n * sizeof(float));
    }
    lopt_mlp_kernel = saved;
    opt_deinit(&oa); opt_deinit(&ob);
    free(p); free(q); free(g); free(ua); free(ub);
    layout_deinit(&lay);
}

/* A FiLM record on row r steps bit for bit as a plain record holding the
 * folded trunk (the fold is the same arithmetic), on every kernel; its
 * identity rows, and no row at all, step as its trunk. */
static void test_row_steps_as_the_folded_plain_record(void **st)
{
    (void)st;
    lopt_weights f, plain, folded, fresh;
    random_film(&f, 1, 31);
    size_t nt = lopt_theta_count(LOPT_ARCH_MLP, 8, 1);
    assert_int_equal(lopt_registry_put("film-t", &f), 0);
    assert_int_equal(lopt_weights_init_default(&plain, LOPT_ARCH_MLP, 8, 1, 1), 0);
    memcpy(plain.theta, f.theta, nt * sizeof(float));          /* the trunk alone */
    assert_int_equal(lopt_registry_put("film-trunk", &plain), 0);
    assert_int_equal(lopt_weights_copy(&folded, &plain), 0);
    assert_int_equal(lopt_weights_copy(&fresh, &plain), 0);
    assert_int_equal(lopt_weights_set_film(&fresh), 0);          /* identity rows */
    assert_int_equal(lopt_registry_put("film-fresh", &fresh), 0);
    int kernels[] = {LOPT_KERNEL_FAST, LOPT_KERNEL_LOOP, LOPT_KERNEL_BLAS};
    for (int row = 1; row <= LOPT_FILM_NDOM; row++) {
        lopt_mlp_film_fold(f.theta, 8, 1, row, folded.theta);
        assert_int_equal(lopt_registry_put("film-folded", &folded), 0);
        for (size_t k = 0; k < 3; k++) same_steps("film-t", row, "film-folded", 0, kernels[k], 4);
        same_steps("film-fresh", row, "film-trunk", 0, LOPT_KERNEL_FAST, 3);
    }
    same_steps("film-t", 0, "film-trunk", 0, LOPT_KERNEL_FAST, 3);         /* no row: the trunk */
    same_steps("film-t", 0, "film-trunk", 2, LOPT_KERNEL_LOOP, 3);         /* a plain record ignores a row */
    lopt_registry_remove("film-t"); lopt_registry_remove("film-trunk");
    lopt_registry_remove("film-folded"); lopt_registry_remove("film-fresh");
    lopt_weights_deinit(&f); lopt_weights_deinit(&plain);
    lopt_weights_deinit(&folded); lopt_weights_deinit(&fresh);
}

/* The rows matter: two rows of a random record give different steps. */
static void test_rows_step_differently(void **st)
{
    (void)st;
    lopt_weights f;
    random_film(&f, 1, 41);
    assert_int_equal(lopt_registry_put("film-d", &f), 0);
    layout lay;
    film_layout(&lay);
    size_t n = lay.n;
    float *u[3], *g = malloc(n * sizeof(float)), *p = calloc(n, sizeof(float));
    for (int row = 0; row < 3; row++) {
        opt o;
        opt_config c;
        assert_int_equal(opt_config_defaults(&c, "mlp_lopt"), 0);
        c.weights = "film-d";
        c.film_row = row;
        assert_int_equal(opt_init(&o, &c, &lay), 0);
        rng r;
        rng_seed(&r, 3);
        rng_normal_fill(&r, g, n, 0, 1);
        u[row] = malloc(n * sizeof(float));
        assert_int_equal(opt_step(&o, p, g, u[row], NULL), 0);
        opt_deinit(&o);
    }
    assert_true(memcmp(u[0], u[1], n * sizeof(float)) != 0);
    assert_true(memcmp(u[1], u[2], n * sizeof(float)) != 0);
    for (int row = 0; row < 3; row++) free(u[row]);
    free(g); free(p);
    layout_deinit(&lay);
    lopt_registry_remove("film-d");
    lopt_weights_deinit(&f);
}

/* The optimizer state of a FiLM session (its theta with the rows) restores
 * bit for bit: the restored optimizer, on the same row, continues as the
 * original. */
static void test_film_state_roundtrips(void **st)
{
    (void)st;
    lopt_weights f;
    random_film(&f, 1, 51);
    assert_int_equal(lopt_registry_put("film-s", &f), 0);
    layout lay;
    film_layout(&lay);
    size_t n = lay.n;
    opt_config c;
    assert_int_equal(opt_config_defaults(&c, "mlp_lopt"), 0);
    c.weights = "film-s";
    c.film_row = 3;
    opt a, b;
    assert_int_equal(opt_init(&a, &c, &lay), 0);
    float *p = calloc(n, sizeof(float)), *g = malloc(n * sizeof(float)), *ua = malloc(n * sizeof(float));
    float *ub = malloc(n * sizeof(float)), *pb = malloc(n * sizeof(float));
    rng r;
    rng_seed(&r, 8);
    for (int t = 0; t < 3; t++) {
        rng_normal_fill(&r, g, n, 0, 1);
        assert_int_equal(opt_step(&a, p, g, ua, NULL), 0);
    }
    uint8_t *blob;
    size_t len;
    assert_int_equal(opt_save(&a, &blob, &len), 0);
    lopt_registry_remove("film-s");                    /* the state carries theta */
    opt_config cp;
    assert_int_equal(opt_config_defaults(&cp, "mlp_lopt"), 0);
    cp.weights = LOPT_WEIGHTS_DEFAULT;
    cp.film_row = 3;
    assert_int_equal(opt_init(&b, &cp, &lay), 0);
    assert_int_equal(opt_load(&b, blob, len), 0);
    assert_int_equal(lopt_opt_weights(&b)->film, 1);
    memcpy(pb, p, n * sizeof(float));
    for (int t = 0; t < 3; t++) {
        rng_normal_fill(&r, g, n, 0, 1);
        assert_int_equal(opt_step(&a, p, g, ua, NULL), 0);
        assert_int_equal(opt_step(&b, pb, g, ub, NULL), 0);
        assert_memory_equal(ua, ub, n * sizeof(float));
    }
    free(blob);
    opt_deinit(&a); opt_deinit(&b);
    free(p); free(g); free(ua); free(ub); free(pb);
    layout_deinit(&lay);
    lopt_weights_deinit(&f);
}

/* meta-training with film = 1: theta is the trunk plus the rows (identity
 * on a plain init); the rows of the tasks' domains move, the others stay
 * exactly the identity; refused with another optimizer, TBPTT, train !=
 * all, and a FiLM init without film = 1. */
static void test_meta_film_trains_the_tasks_rows(void **st)
{
    (void)st;
    meta_config c;
    meta_config_defaults(&c);
    c.estimator = META_PES;
    c.ntasks = 2;
    snprintf(c.tasks[0].family, META_FAMILY_MAX, "quadratic");           /* synthetic */
    snprintf(c.tasks[1].family, META_FAMILY_MAX, "logistic_regression"); /* tabular */
    c.tasks[1].params.dim = 5;
    c.nparticles = 4;
    c.unroll = 5;
    c.horizon_min = 20; c.horizon_max = 40;
    c.outer_lr = 1e-2;
    c.film = 1;
    assert_true(meta_film_row_trained(&c, 3) && meta_film_row_trained(&c, 4));
    assert_false(meta_film_row_trained(&c, 1) || meta_film_row_trained(&c, 2));
    meta_job *j;
    assert_int_equal(meta_job_new(&c, NULL, &j), 0);
    const lopt_weights *w = meta_job_weights(j);
    size_t nt = lopt_theta_count(LOPT_ARCH_MLP, 8, 1), H = 8;
    assert_int_equal(w->film, 1);
    assert_int_equal(w->ntheta, nt + lopt_film_count(8));
    float *before = malloc(w->ntheta * sizeof(float));
    memcpy(before, w->theta, w->ntheta * sizeof(float));
    for (int s = 0; s < 3; s++) assert_int_equal(meta_step(j, NULL), 0);
    w = meta_job_weights(j);
    for (int row = 1; row <= LOPT_FILM_NDOM; row++) {
        const float *a = before + nt + (size_t)(row - 1) * 2 * H, *b = w->theta + nt + (size_t)(row - 1) * 2 * H;
        int same = memcmp(a, b, 2 * H * sizeof(float)) == 0;
        assert_int_equal(same, !meta_film_row_trained(&c, row));
    }
    assert_true(memcmp(before, w->theta, nt * sizeof(float)) != 0);   /* the trunk trains too */
    /* a FiLM record as init: with film = 1 it goes on from its rows; without, refused */
    lopt_weights init;
    assert_int_equal(lopt_weights_copy(&init, w), 0);
    meta_job_free(j);
    assert_int_equal(meta_job_new(&c, &init, &j), 0);
    assert_memory_equal(meta_job_weights(j)->theta, init.theta, init.ntheta * sizeof(float));
    meta_job_free(j);
    c.film = 0;
    assert_int_equal(meta_job_new(&c, &init, &j), ERR_INVALID_ARGUMENT);
    assert_null(j);
    c.film = 1;
    c.estimator = META_TBPTT;
    c.objective = META_OBJ_LOG;
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    c.estimator = META_PES;
    c.train = META_TRAIN_NETWORK;
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    c.train = META_TRAIN_ALL;
    c.film = 2;
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    c.film = 1;
    snprintf(c.optimizer, sizeof c.optimizer, "lstm_lopt");
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    lopt_weights_deinit(&init);
    free(before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_film_rows_name_the_session_domains),
        cmocka_unit_test(test_film_record_roundtrips),
        cmocka_unit_test(test_fold_equals_unfolded_forward),
        cmocka_unit_test(test_row_steps_as_the_folded_plain_record),
        cmocka_unit_test(test_rows_step_differently),
        cmocka_unit_test(test_film_state_roundtrips),
        cmocka_unit_test(test_meta_film_trains_the_tasks_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
