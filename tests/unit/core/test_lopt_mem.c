/* test_lopt_mem.c — mem_lopt and the optimization-history memory
 * (lopt_memory.h) it shares with lstm_lopt: the pieces of mem_lopt's
 * network that have a backward (the memory read with its learned Wq, Wk
 * and the per-tensor head, composed as the optimizer composes them)
 * against a double-precision reference written here from lopt_mem_net.h
 * and lopt_memory.h (central finite differences, fdref.h); the memory's
 * ring, its values and its save/load; the untrained optimizer is Adam-like;
 * memory_reads = 0 makes the update independent of the memory; a restored
 * state continues bit for bit (mem_lopt, and lstm_lopt with a memory);
 * hostile memory sizes are refused; lstm_lopt's forget_gate_bias sets the
 * default init's forget biases and its default and memory_size 0 change
 * nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "layers.h"
#include "lopt.h"
#include "lopt_mem_net.h"
#include "lopt_memory.h"
#include "opt.h"
#include "tasks.h"
#include "core/fdref.h"

enum { NK = LOPT_MEM_NKEY, NV = LOPT_MEM_NVAL, DK = LOPT_MEM_DK, NIN = LOPT_MEM_NIN };

typedef struct { int H, D, T, fill; const double *feat, *key, *mk, *mv, *r; } ref_ctx;

/* L = Σ r .* out, out from theta through the read and the head. */
static double ref_loss(const double *th, const void *c)
{
    const ref_ctx *k = c;
    int H = k->H, D = k->D;
    lopt_mem_off o;
    lopt_mem_offsets(H, D, &o);
    double q[DK], read[NV] = {0}, a[64], mx = -1e300, z = 0;
    for (int d = 0; d < DK; d++) {
        q[d] = 0;
        for (int f = 0; f < NK; f++) q[d] += th[o.wq + d * NK + f] * k->key[f];
    }
    for (int i = 0; i < k->fill; i++) {
        double s = 0;
        for (int d = 0; d < DK; d++) {
            double kd = 0;
            for (int f = 0; f < NK; f++) kd += th[o.wk + d * NK + f] * k->mk[i * NK + f];
            s += q[d] * kd;
        }
        a[i] = s / sqrt((double)DK);
        if (a[i] > mx) mx = a[i];
    }
    for (int i = 0; i < k->fill; i++) { a[i] = exp(a[i] - mx); z += a[i]; }
    for (int i = 0; i < k->fill; i++)
        for (int v = 0; v < NV; v++) read[v] += a[i] / z * k->mv[i * NV + v];
    double L = 0, x[NIN], h[2][LOPT_MAX_HIDDEN];
    for (int t = 0; t < k->T; t++) {
        for (int f = 0; f < LOPT_MEM_NTF; f++) x[f] = k->feat[t * LOPT_MEM_NTF + f];
        for (int f = 0; f < NK; f++) x[LOPT_MEM_NTF + f] = k->key[f];
        for (int v = 0; v < NV; v++) x[LOPT_MEM_NTF + NK + v] = read[v];
        const double *in = x;
        int nin = NIN;
        for (int l = 0; l < D; l++) {
            double *hl = h[l % 2];
            for (int i = 0; i < H; i++) {
                double s = th[o.b[l] + i];
                for (int j = 0; j < nin; j++) s += th[o.w[l] + (size_t)i * nin + j] * in[j];
                hl[i] = tanh(s);
            }
            in = hl;
            nin = H;
        }
        for (int m = 0; m < LOPT_MEM_NOUT; m++) {
            double s = th[o.bo + m];
            for (int i = 0; i < H; i++) s += th[o.wo + (size_t)m * H + i] * in[i];
            L += k->r[t * LOPT_MEM_NOUT + m] * s;
        }
    }
    return L;
}

static void check_net(int H, int D, int T, int fill, uint64_t seed)
{
    rng g;
    rng_seed(&g, seed);
    size_t nt = lopt_mem_theta_count(H, D);
    assert_true(nt > 0);
    float *th = malloc(nt * sizeof(float));
    lopt_mem_init_params(th, H, D, &g);
    for (size_t i = 0; i < nt; i++) th[i] += 0.3f * (float)(rng_uniform(&g) - 0.5);
    lopt_memory m;
    assert_int_equal(lopt_memory_init(&m, 64), 0);
    float *feat = fdref_randf(&g, (size_t)T * LOPT_MEM_NTF, 1.0f), *key = fdref_randf(&g, NK, 1.0f);
    float *r = fdref_randf(&g, (size_t)T * LOPT_MEM_NOUT, 1.0f);
    /* fill entries through the public calls: propose, then observe the next loss */
    double loss = 1.0;
    lopt_memory_observe(&m, loss);
    for (int i = 0; i < fill; i++) {
        float *kk = fdref_randf(&g, NK, 1.0f);
        lopt_memory_propose(&m, kk, (float)rng_uniform(&g) - 0.5f, (float)rng_uniform(&g) - 0.5f, loss);
        double next = loss * (0.7 + 0.6 * rng_uniform(&g));
        lopt_memory_observe(&m, next);
        loss = next;
        free(kk);
    }
    assert_int_equal(m.fill, fill);
    /* the optimizer's composition: read, inputs, head; backward through both */
    float read[NV], *x = malloc((size_t)T * NIN * sizeof(float)), *dx = malloc((size_t)T * NIN * sizeof(float));
    float *out = malloc((size_t)T * LOPT_MEM_NOUT * sizeof(float)), *dth = calloc(nt, sizeof(float));
    float *cache = malloc(lopt_mem_cache_size(H, D, T) * sizeof(float)), *scr = malloc(lopt_mem_scratch_size(H) * sizeof(float));
    lopt_mem_off o;
    lopt_mem_offsets(H, D, &o);
    lopt_memory_read(&m, th + o.wq, th + o.wk, key, read);
    for (int t = 0; t < T; t++) {
        memcpy(x + (size_t)t * NIN, feat + (size_t)t * LOPT_MEM_NTF, LOPT_MEM_NTF * sizeof(float));
        memcpy(x + (size_t)t * NIN + LOPT_MEM_NTF, key, NK * sizeof(float));
        memcpy(x + (size_t)t * NIN + LOPT_MEM_NTF + NK, read, NV * sizeof(float));
    }
    lopt_mem_head_forward(th, H, D, T, x, cache, out);
    lopt_mem_head_backward(th, H, D, T, x, cache, r, dth, dx, scr);
    float dread[NV] = {0};
    for (int t = 0; t < T; t++)
        for (int v = 0; v < NV; v++) dread[v] += dx[(size_t)t * NIN + LOPT_MEM_NTF + NK + v];
    lopt_memory_read_backward(&m, th + o.wq, th + o.wk, key, dread, dth + o.wq, dth + o.wk);

    double *thd = fdref_to_d(th, nt), *fd = fdref_to_d(feat, (size_t)T * LOPT_MEM_NTF), *kd = fdref_to_d(key, NK);
    double *mk = fdref_to_d(m.keys, (size_t)fill * NK), *mv = fdref_to_d(m.vals, (size_t)fill * NV);
    double *rd = fdref_to_d(r, (size_t)T * LOPT_MEM_NOUT);
    ref_ctx k = {H, D, T, fill, fd, kd, mk, mv, rd};
    double Lf = 0, Ld = ref_loss(thd, &k);
    for (int i = 0; i < T * LOPT_MEM_NOUT; i++) Lf += (double)r[i] * out[i];
    assert_true(fabs(Lf - Ld) < FDREF_FWD_TOL * (1 + fabs(Ld)));
    /* each piece against its own scale: the projections, then the head */
    double e1 = fdref_grad_err(ref_loss, &k, thd, o.wq, o.w[0], dth + o.wq);
    double e2 = fdref_grad_err(ref_loss, &k, thd, o.w[0], nt, dth + o.w[0]);
    if (getenv("MEM_DEBUG") || e1 >= FDREF_GRAD_TOL || e2 >= FDREF_GRAD_TOL)
        fprintf(stderr, "H %d D %d T %d fill %d: grad err read %g head %g\n", H, D, T, fill, e1, e2);
    assert_true(e1 < FDREF_GRAD_TOL);
    assert_true(e2 < FDREF_GRAD_TOL);
    lopt_memory_deinit(&m);
    free(th); free(feat); free(key); free(r); free(x); free(dx); free(out); free(dth); free(cache); free(scr);
    free(thd); free(fd); free(kd); free(mk); free(mv); free(rd);
}

static void test_net_matches_reference_and_gradcheck(void **st)
{
    (void)st;
    check_net(8, 1, 3, 5, 1);
    check_net(5, 2, 4, 17, 2);
    check_net(4, 3, 1, 1, 3);
}

/* The ring: entries complete on the next finite loss with the clipped
 * relative change, a missing loss writes nothing, the oldest is overwritten;
 * save/load restores it bit for bit; a hostile size is refused. */
static void test_memory_ring_and_values(void **st)
{
    (void)st;
    lopt_memory m;
    assert_int_equal(lopt_memory_init(&m, 0), ERR_OUT_OF_RANGE);
    assert_int_equal(lopt_memory_init(&m, LOPT_MEM_MAX + 1), ERR_OUT_OF_RANGE);
    assert_int_equal(lopt_memory_init(&m, 3), 0);
    float key[NK] = {0};
    double losses[] = {2.0, 1.0, NAN, 4.0, 3.0, 30.0, 1.5};
    for (int i = 0; i < 7; i++) {
        lopt_memory_observe(&m, losses[i]);
        key[0] = (float)i;
        lopt_memory_propose(&m, key, 0.1f * (float)i, -0.1f, losses[i]);
    }
    /* written: (0: 2→1, −0.5), (3: 4→3, −0.25), (4: 3→30, +9 clipped to 1), (5: 30→1.5, −0.95) */
    assert_int_equal(m.fill, 3);
    assert_int_equal(m.next, 1);
    assert_true(m.keys[0 * NK] == 5.0f && m.vals[0 * NV + 2] == (float)((1.5 - 30.0) / 30.0));
    assert_true(m.keys[1 * NK] == 3.0f && m.vals[1 * NV + 2] == -0.25f && m.vals[1 * NV] == 0.3f);
    assert_true(m.keys[2 * NK] == 4.0f && m.vals[2 * NV + 2] == 1.0f);
    float rd[NV];
    lopt_memory_read(&m, NULL, NULL, key, rd);
    double asum = 0;
    for (int i = 0; i < 3; i++) asum += m.att[i];
    assert_true(fabs(asum - 1) < 1e-6);
    blob_writer w;
    blob_writer_init(&w, BLOB_KIND_OPT_STATE, 1);
    lopt_memory_save(&m, &w);
    uint8_t *buf; size_t len;
    assert_int_equal(blob_writer_finish(&w, &buf, &len), 0);
    lopt_memory b;
    assert_int_equal(lopt_memory_init(&b, 3), 0);
    blob_reader r;
    uint32_t ver;
    assert_int_equal(blob_reader_init(&r, buf, len, BLOB_KIND_OPT_STATE, &ver), 0);
    assert_int_equal(lopt_memory_load(&b, &r), 0);
    assert_int_equal(memcmp(b.keys, m.keys, 3 * NK * sizeof(float)), 0);
    assert_int_equal(memcmp(b.vals, m.vals, 3 * NV * sizeof(float)), 0);
    assert_true(b.fill == 3 && b.next == 1 && b.pending == 1 && b.trend == m.trend && b.ploss == m.ploss);
    lopt_memory c;
    assert_int_equal(lopt_memory_init(&c, 4), 0);
    assert_int_equal(blob_reader_init(&r, buf, len, BLOB_KIND_OPT_STATE, &ver), 0);
    assert_int_equal(lopt_memory_load(&c, &r), ERR_CORRUPT);
    free(buf);
    lopt_memory_deinit(&m); lopt_memory_deinit(&b); lopt_memory_deinit(&c);
}

static double run_quadratic(const char *name, int steps)
{
    task *tk;
    task_params tp = {0};
    tp.dim = 10;
    assert_int_equal(task_create("quadratic", &tp, 3, &tk), 0);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, name), 0);
    assert_int_equal(opt_config_set(&cfg, "lr", 1e-2), 0);
    if (strcmp(name, "adam") != 0) cfg.weights = LOPT_WEIGHTS_DEFAULT;
    opt o;
    assert_int_equal(opt_init(&o, &cfg, &tk->lay), 0);
    float *x = malloc(tk->n * sizeof(float)), *gr = malloc(tk->n * sizeof(float)), *up = malloc(tk->n * sizeof(float));
    task_init_params(tk, 1, x);
    double l0 = task_eval_loss(tk, x);
    rng r;
    rng_seed(&r, 1);
    for (int t = 0; t < steps; t++) {
        step_info info = {0};
        info.loss = task_loss_grad(tk, x, gr, &r);
        assert_int_equal(opt_step(&o, x, gr, up, &info), 0);
    }
    double l1 = task_eval_loss(tk, x);
    opt_deinit(&o);
    task_free(tk);
    free(x); free(gr); free(up);
    return l1 / l0;
}

/* Untrained mem_lopt lowers a quadratic about as Adam at the same lr does. */
static void test_default_descends_quadratic_like_adam(void **st)
{
    (void)st;
    double ra = run_quadratic("adam", 300), rl = run_quadratic("mem_lopt", 300);
    if (getenv("MEM_DEBUG")) fprintf(stderr, "loss ratio after 300 steps: adam %g, mem_lopt %g\n", ra, rl);
    assert_true(ra < 0.5);
    assert_true(rl < 0.5);
    assert_true(fabs(rl - ra) < 0.1 * ra);
}

static void two_tensor_layout(layout *lay)
{
    const char *names[2] = {"w", "b"};
    int ndims[2] = {2, 1};
    int64_t shapes[2][LAYOUT_MAX_DIMS] = {{5, 4}, {4}};
    assert_int_equal(layout_init(lay, 2, names, ndims, (const int64_t (*)[LAYOUT_MAX_DIMS])shapes, 100000), 0);
}

/* Runs k steps of o on a fixed pseudo-quadratic from p, with losses (NAN: none). */
static void run_steps(opt *o, float *p, int k, int t0, int with_loss, float *u)
{
    size_t n = o->lay.n;
    float g[64];
    for (int t = t0; t < t0 + k; t++) {
        double loss = 0;
        for (size_t i = 0; i < n; i++) {
            float c = (float)((i * 7 + (size_t)t) % 5) - 2.0f;
            g[i] = 2 * (p[i] - 0.3f * c);
            loss += (double)(p[i] - 0.3f * c) * (p[i] - 0.3f * c);
        }
        step_info info = {0};
        info.loss = with_loss ? loss : NAN;
        assert_int_equal(opt_step(o, p, g, u, &info), 0);
    }
}

/* A state saved mid-run and loaded into a fresh optimizer continues bit for
 * bit: mem_lopt (trained-looking weights, so the read matters) and lstm_lopt
 * with a memory. */
static void check_restart(const char *name, const char *hp, double v)
{
    layout lay;
    two_tensor_layout(&lay);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, name), 0);
    assert_int_equal(opt_config_set(&cfg, hp, v), 0);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    opt a, b;
    assert_int_equal(opt_init(&a, &cfg, &lay), 0);
    lopt_weights *w = lopt_opt_weights(&a);
    rng g;
    rng_seed(&g, 7);
    for (size_t i = 0; i < w->ntheta; i++) w->theta[i] += 0.5f * (float)(rng_uniform(&g) - 0.5);
    size_t n = lay.n;
    float pa[64], pb[64], ua[64], ub[64];
    for (size_t i = 0; i < n; i++) pa[i] = 0.1f * (float)i - 1.0f;
    run_steps(&a, pa, 25, 0, 1, ua);
    int64_t size, fill;
    assert_int_equal(opt_memory(&a, &size, &fill), 1);
    assert_int_equal(size, (int64_t)v);
    assert_int_equal(fill, 24 < v ? 24 : (int64_t)v);
    uint8_t *blob; size_t len;
    assert_int_equal(opt_save(&a, &blob, &len), 0);
    assert_int_equal(opt_init(&b, &cfg, &lay), 0);
    assert_int_equal(opt_load(&b, blob, len), 0);
    memcpy(pb, pa, n * sizeof(float));
    run_steps(&a, pa, 15, 25, 1, ua);
    run_steps(&b, pb, 15, 25, 1, ub);
    assert_int_equal(memcmp(pa, pb, n * sizeof(float)), 0);
    assert_int_equal(memcmp(ua, ub, n * sizeof(float)), 0);
    /* a state with another memory size does not load */
    opt c;
    assert_int_equal(opt_config_set(&cfg, hp, v + 1), 0);
    assert_int_equal(opt_init(&c, &cfg, &lay), 0);
    assert_int_equal(opt_load(&c, blob, len), ERR_CORRUPT);
    free(blob);
    opt_deinit(&a); opt_deinit(&b); opt_deinit(&c);
    layout_deinit(&lay);
}

static void test_restart_continues_bit_for_bit(void **st)
{
    (void)st;
    check_restart("mem_lopt", "memory_size", 16);
    check_restart("mem_lopt", "memory_size", 1000);
    check_restart("lstm_lopt", "memory_size", 16);
}

/* memory_reads = 0: the updates do not depend on what the memory holds (a
 * memory of 2 entries and one of 1000 hold different histories; the loss
 * trend, which is an input of its own, is the same); with reads on they do
 * (so the test can fail both ways). */
static void check_reads(int reads, int want_equal)
{
    layout lay;
    two_tensor_layout(&lay);
    opt_config cfg, cfg2;
    assert_int_equal(opt_config_defaults(&cfg, "mem_lopt"), 0);
    assert_int_equal(opt_config_set(&cfg, "memory_reads", reads), 0);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    cfg2 = cfg;
    assert_int_equal(opt_config_set(&cfg2, "memory_size", 2), 0);
    opt a, b;
    assert_int_equal(opt_init(&a, &cfg, &lay), 0);
    assert_int_equal(opt_init(&b, &cfg2, &lay), 0);
    lopt_weights *wa = lopt_opt_weights(&a), *wb = lopt_opt_weights(&b);
    rng g;
    rng_seed(&g, 9);
    for (size_t i = 0; i < wa->ntheta; i++) wb->theta[i] = wa->theta[i] += 0.5f * (float)(rng_uniform(&g) - 0.5);
    size_t n = lay.n;
    float pa[64], pb[64], u[64];
    for (size_t i = 0; i < n; i++) pa[i] = pb[i] = 0.1f * (float)i - 1.0f;
    run_steps(&a, pa, 30, 0, 1, u);
    run_steps(&b, pb, 30, 0, 1, u);
    int64_t size, fa, fb;
    opt_memory(&a, &size, &fa);
    opt_memory(&b, &size, &fb);
    assert_true(fa == 29 && fb == 2);
    assert_int_equal(memcmp(pa, pb, n * sizeof(float)) == 0, want_equal);
    opt_deinit(&a); opt_deinit(&b);
    layout_deinit(&lay);
}

static void test_reads_zeroed_ignore_the_memory(void **st)
{
    (void)st;
    check_reads(0, 1);
    check_reads(1, 0);
}

static void test_hostile_memory_size_refused(void **st)
{
    (void)st;
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "mem_lopt"), 0);
    assert_int_equal(opt_config_set(&cfg, "memory_size", 0), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "memory_size", LOPT_MEM_MAX + 1), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "memory_size", 1e12), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "memory_size", 2.5), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_defaults(&cfg, "lstm_lopt"), 0);
    assert_int_equal(opt_config_set(&cfg, "memory_size", -1), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "forget_gate_bias", 11), ERR_OUT_OF_RANGE);
    /* the memory's bytes are counted before anything is allocated */
    layout lay;
    two_tensor_layout(&lay);
    uint64_t b1, b2;
    assert_int_equal(opt_config_defaults(&cfg, "mem_lopt"), 0);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    assert_int_equal(opt_bytes(&cfg, &lay, &b1), 0);
    assert_int_equal(opt_config_set(&cfg, "memory_size", LOPT_MEM_MAX), 0);
    assert_int_equal(opt_bytes(&cfg, &lay, &b2), 0);
    assert_true(b2 - b1 == lopt_memory_bytes(LOPT_MEM_MAX) - lopt_memory_bytes(LOPT_MEM_DEFAULT));
    layout_deinit(&lay);
}

/* forget_gate_bias sets every layer's forget-gate bias of the default init
 * and nothing else; its default and memory_size 0 are today's lstm_lopt. */
static void test_lstm_forget_gate_bias(void **st)
{
    (void)st;
    layout lay;
    two_tensor_layout(&lay);
    opt_config c1, c2;
    assert_int_equal(opt_config_defaults(&c1, "lstm_lopt"), 0);
    c1.weights = LOPT_WEIGHTS_DEFAULT;
    c2 = c1;
    assert_int_equal(opt_config_set(&c2, "forget_gate_bias", 2.5), 0);
    opt a, b;
    assert_int_equal(opt_init(&a, &c1, &lay), 0);
    assert_int_equal(opt_init(&b, &c2, &lay), 0);
    lopt_weights *wa = lopt_opt_weights(&a), *wb = lopt_opt_weights(&b);
    lopt_weights d;
    assert_int_equal(lopt_weights_init_default(&d, LOPT_ARCH_LSTM, wa->hidden, wa->depth, 0x6c6f7074ull + LOPT_ARCH_LSTM), 0);
    assert_int_equal(memcmp(wa->theta, d.theta, d.ntheta * sizeof(float)), 0);
    size_t off = 1, changed = 0;
    int H = wa->hidden;
    for (int l = 0; l < wa->depth; l++) {
        lstm cell;
        assert_int_equal(layer_lstm_init(&cell, l == 0 ? 2 : H, H), 0);
        for (int j = 0; j < H; j++) {
            assert_true(wa->theta[off + cell.b_off + (size_t)H + j] == 1.0f);
            assert_true(wb->theta[off + cell.b_off + (size_t)H + j] == 2.5f);
        }
        off += cell.nparams;
    }
    for (size_t i = 0; i < wa->ntheta; i++) changed += wa->theta[i] != wb->theta[i];
    assert_int_equal(changed, (size_t)wa->depth * (size_t)H);
    int64_t size, fill;
    assert_int_equal(opt_memory(&a, &size, &fill), 0);
    lopt_weights_deinit(&d);
    opt_deinit(&a); opt_deinit(&b);
    layout_deinit(&lay);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_matches_reference_and_gradcheck),
        cmocka_unit_test(test_memory_ring_and_values),
        cmocka_unit_test(test_default_descends_quadratic_like_adam),
        cmocka_unit_test(test_restart_continues_bit_for_bit),
        cmocka_unit_test(test_reads_zeroed_ignore_the_memory),
        cmocka_unit_test(test_hostile_memory_size_refused),
        cmocka_unit_test(test_lstm_forget_gate_bias),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
