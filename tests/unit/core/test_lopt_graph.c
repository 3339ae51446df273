/* test_lopt_graph.c — graph_lopt and the layout's tensor graph: the
 * message-passing network's forward and backward against a double-precision
 * reference written here from the formulas in lopt_graph_net.h (central
 * finite differences, method and tolerances in fdref.h); the layout's default
 * graph and layout_set_graph's refusals; the untrained optimizer is
 * Adam-like and lowers a quadratic as Adam does; the graph changes the
 * outputs and isolated_nodes removes it; a saved state continues bit for
 * bit and loads only into the same graph setting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "layout.h"
#include "lopt.h"
#include "lopt_graph_net.h"
#include "opt.h"
#include "tasks.h"
#include "core/fdref.h"

typedef struct { int H, R; const lopt_graph_topo *g; const double *x, *r; } ref_ctx;

/* y (out) = b + x (in) W (in, out) */
static void lin(double *y, const double *x, const double *W, int in, int out)
{
    for (int j = 0; j < out; j++)
        for (int i = 0; i < in; i++) y[j] += x[i] * W[i * out + j];
}

/* L = sum r .* out(theta) through the network as lopt_graph_net.h defines it. */
static double ref_loss(const double *th, const void *c)
{
    const ref_ctx *k = c;
    int H = k->H, R = k->R, nn = k->g->nn, ne = k->g->ne, NI = LOPT_GRAPH_NIN;
    double *h = calloc((size_t)nn * H, sizeof(double)), *hn = calloc((size_t)nn * H, sizeof(double));
    double *a = calloc((size_t)nn * H, sizeof(double)), *cc = calloc((size_t)nn * H, sizeof(double));
    double gbar[64], m[64], cat[4 * 64];
    const double *p = th;
    const double *We = p, *be = We + NI * H;
    p = be + H;
    for (int j = 0; j < nn; j++) {
        double *hj = h + j * H;
        for (int q = 0; q < H; q++) hj[q] = be[q];
        lin(hj, k->x + j * NI, We, NI, H);
        for (int q = 0; q < H; q++) hj[q] = tanh(hj[q]);
    }
    for (int r = 0; r < R; r++) {
        const double *Wf = p, *bf = Wf + 2 * H * H, *Wb = bf + H, *bb = Wb + 2 * H * H, *Wu = bb + H, *bu = Wu + 4 * H * H;
        p = bu + H;
        for (int q = 0; q < H; q++) {
            gbar[q] = 0;
            for (int j = 0; j < nn; j++) gbar[q] += h[j * H + q] / nn;
        }
        memset(a, 0, sizeof(double) * nn * H);
        memset(cc, 0, sizeof(double) * nn * H);
        for (int e = 0; e < ne; e++) {
            int s = k->g->src[e], d = k->g->dst[e];
            memcpy(cat, h + s * H, H * sizeof(double));
            memcpy(cat + H, h + d * H, H * sizeof(double));
            for (int q = 0; q < H; q++) m[q] = bf[q];
            lin(m, cat, Wf, 2 * H, H);
            for (int q = 0; q < H; q++) a[d * H + q] += tanh(m[q]) * k->g->inv_in[d];
            memcpy(cat, h + d * H, H * sizeof(double));
            memcpy(cat + H, h + s * H, H * sizeof(double));
            for (int q = 0; q < H; q++) m[q] = bb[q];
            lin(m, cat, Wb, 2 * H, H);
            for (int q = 0; q < H; q++) cc[s * H + q] += tanh(m[q]) * k->g->inv_out[s];
        }
        for (int j = 0; j < nn; j++) {
            memcpy(cat, h + j * H, H * sizeof(double));
            memcpy(cat + H, a + j * H, H * sizeof(double));
            memcpy(cat + 2 * H, cc + j * H, H * sizeof(double));
            memcpy(cat + 3 * H, gbar, H * sizeof(double));
            for (int q = 0; q < H; q++) m[q] = bu[q];
            lin(m, cat, Wu, 4 * H, H);
            for (int q = 0; q < H; q++) hn[j * H + q] = h[j * H + q] + tanh(m[q]);
        }
        memcpy(h, hn, sizeof(double) * nn * H);
    }
    const double *Wr = p, *br = Wr + 2 * H * 2;
    for (int q = 0; q < H; q++) {
        gbar[q] = 0;
        for (int j = 0; j < nn; j++) gbar[q] += h[j * H + q] / nn;
    }
    double L = 0;
    for (int j = 0; j < nn; j++) {
        double o[2] = {br[0], br[1]};
        memcpy(cat, h + j * H, H * sizeof(double));
        memcpy(cat + H, gbar, H * sizeof(double));
        lin(o, cat, Wr, 2 * H, 2);
        L += k->r[2 * j] * o[0] + k->r[2 * j + 1] * o[1];
    }
    free(h); free(hn); free(a); free(cc);
    return L;
}

/* A small graph: 0 -> 1 -> 2, 0 -> 2, 3 isolated, 4 <- 2 (nn = 5, ne = 4). */
static const int G_SRC[] = {0, 1, 0, 2}, G_DST[] = {1, 2, 2, 4};
static const float G_INV_IN[] = {0, 1, 0.5f, 0, 1}, G_INV_OUT[] = {0.5f, 1, 1, 0, 0};

static void check_net(int H, int R, int ne, uint64_t seed)
{
    lopt_graph_topo topo = {5, ne, G_SRC, G_DST, G_INV_IN, G_INV_OUT};
    float zin[5] = {0}, zout[5] = {0};
    if (!ne) { topo.inv_in = zin; topo.inv_out = zout; }
    rng g;
    rng_seed(&g, seed);
    size_t nt = lopt_graph_theta_count(H, R);
    assert_true(nt > 0);
    float *th = malloc(nt * sizeof(float));
    lopt_graph_init_params(th, H, R, &g);
    for (size_t i = 0; i < nt; i++) th[i] += 0.3f * (float)(rng_uniform(&g) - 0.5);   /* away from the init */
    int nn = topo.nn;
    float *x = fdref_randf(&g, (size_t)nn * LOPT_GRAPH_NIN, 1.0f), *r = fdref_randf(&g, 2 * (size_t)nn, 1.0f);
    float *cache = malloc(lopt_graph_cache_size(H, R, nn, ne) * sizeof(float));
    float *scr = malloc(lopt_graph_scratch_size(H, nn) * sizeof(float));
    float *out = malloc(2 * (size_t)nn * sizeof(float)), *dth = calloc(nt, sizeof(float));
    lopt_graph_forward(th, H, R, &topo, x, cache, out);
    lopt_graph_backward(th, H, R, &topo, x, cache, r, dth, scr);
    double *thd = fdref_to_d(th, nt), *xd = fdref_to_d(x, (size_t)nn * LOPT_GRAPH_NIN), *rd = fdref_to_d(r, 2 * (size_t)nn);
    ref_ctx k = {H, R, &topo, xd, rd};
    double Lf = 0, Ld = ref_loss(thd, &k);
    for (int i = 0; i < 2 * nn; i++) Lf += (double)r[i] * out[i];
    assert_true(fabs(Lf - Ld) < FDREF_FWD_TOL * (1 + fabs(Ld)));
    double err = fdref_grad_err(ref_loss, &k, thd, 0, nt, dth);
    if (getenv("GRAPH_DEBUG") || err >= FDREF_GRAD_TOL) fprintf(stderr, "H %d R %d ne %d: grad err %g\n", H, R, ne, err);
    assert_true(err < FDREF_GRAD_TOL);
    free(th); free(x); free(r); free(cache); free(scr); free(out); free(dth);
    free(thd); free(xd); free(rd);
}

static void test_net_matches_reference_and_gradcheck(void **st)
{
    (void)st;
    check_net(3, 1, 4, 1);
    check_net(6, 2, 4, 2);
    check_net(4, 3, 0, 3);   /* isolated nodes: only the global mean connects them */
}

/* ntens tensors alternating (3..5, 4) matrices and (3..5) vectors. */
static void test_layout(layout *lay, int ntens)
{
    const char *names[64];
    int ndims[64];
    int64_t shapes[64][LAYOUT_MAX_DIMS];
    char buf[64][8];
    for (int i = 0; i < ntens; i++) {
        snprintf(buf[i], sizeof buf[i], "t%d", i);
        names[i] = buf[i];
        ndims[i] = i % 2 ? 1 : 2;
        memset(shapes[i], 0, sizeof shapes[i]);
        shapes[i][0] = 3 + i % 3;
        shapes[i][1] = 4;
    }
    assert_int_equal(layout_init(lay, ntens, names, ndims, (const int64_t (*)[LAYOUT_MAX_DIMS])shapes, 100000), 0);
}

static void test_layout_default_graph_and_refusals(void **st)
{
    (void)st;
    layout lay;
    test_layout(&lay, 4);
    assert_int_equal(lay.graph_declared, 0);
    assert_int_equal(lay.tensors[0].ninputs, 0);
    for (int i = 1; i < 4; i++) {
        assert_int_equal(lay.tensors[i].ninputs, 1);
        assert_int_equal(lay.tensors[i].inputs[0], i - 1);
    }
    assert_int_equal(lay.tensors[0].role, LAYOUT_ROLE_WEIGHT);
    assert_int_equal(lay.tensors[1].role, LAYOUT_ROLE_BIAS);
    assert_int_equal(layout_graph_edges(&lay), 3);
    int depth[4];
    assert_int_equal(layout_graph_depths(&lay, depth), 0);
    for (int i = 0; i < 4; i++) assert_int_equal(depth[i], i);
    int roles[4] = {LAYOUT_ROLE_EMBEDDING, LAYOUT_ROLE_BIAS, LAYOUT_ROLE_WEIGHT, LAYOUT_ROLE_NORM};
    int nin[4] = {0, 1, 2, 1}, in[4][LAYOUT_MAX_INPUTS] = {{0}, {0}, {0, 1}, {0}}, bad;
    assert_int_equal(layout_set_graph(&lay, roles, nin, (const int (*)[LAYOUT_MAX_INPUTS])in, &bad), 0);
    assert_int_equal(lay.graph_declared, 1);
    assert_int_equal(layout_graph_depths(&lay, depth), 0);
    assert_int_equal(depth[2], 2);
    assert_int_equal(depth[3], 1);
    layout cp;
    assert_int_equal(layout_copy(&cp, &lay), 0);   /* the graph travels with the layout */
    assert_int_equal(cp.graph_declared, 1);
    assert_int_equal(cp.tensors[2].inputs[1], 1);
    assert_int_equal(cp.tensors[0].role, LAYOUT_ROLE_EMBEDDING);
    layout_deinit(&cp);
    /* refusals leave the graph as it was */
    in[1][0] = 1;   /* self-loop */
    assert_int_equal(layout_set_graph(&lay, roles, nin, (const int (*)[LAYOUT_MAX_INPUTS])in, &bad), ERR_INVALID_ARGUMENT);
    assert_int_equal(bad, 1);
    in[1][0] = 0; in[2][1] = 0;   /* an input twice */
    assert_int_equal(layout_set_graph(&lay, roles, nin, (const int (*)[LAYOUT_MAX_INPUTS])in, &bad), ERR_INVALID_ARGUMENT);
    assert_int_equal(bad, 2);
    in[2][1] = 4;   /* out of range */
    assert_int_equal(layout_set_graph(&lay, roles, nin, (const int (*)[LAYOUT_MAX_INPUTS])in, &bad), ERR_OUT_OF_RANGE);
    in[2][1] = 1; nin[0] = 1; in[0][0] = 2;   /* cycle 0 -> 2 -> 0 */
    assert_int_equal(layout_set_graph(&lay, roles, nin, (const int (*)[LAYOUT_MAX_INPUTS])in, &bad), ERR_INVALID_ARGUMENT);
    assert_int_equal(bad, -1);
    nin[0] = LAYOUT_MAX_INPUTS + 1;
    assert_int_equal(layout_set_graph(&lay, roles, nin, (const int (*)[LAYOUT_MAX_INPUTS])in, &bad), ERR_OUT_OF_RANGE);
    nin[0] = 0; roles[3] = LAYOUT_NROLES;
    assert_int_equal(layout_set_graph(&lay, roles, nin, (const int (*)[LAYOUT_MAX_INPUTS])in, &bad), ERR_OUT_OF_RANGE);
    assert_int_equal(lay.tensors[0].ninputs, 0);
    assert_int_equal(lay.tensors[3].role, LAYOUT_ROLE_NORM);
    assert_int_equal(layout_role_from_name("norm"), LAYOUT_ROLE_NORM);
    assert_int_equal(layout_role_from_name("Norm"), -1);
    assert_string_equal(layout_role_name(LAYOUT_ROLE_EMBEDDING), "embedding");
    layout_deinit(&lay);
}

/* More than LAYOUT_MAX_EDGES edges in all is refused. */
static void test_layout_edge_bound(void **st)
{
    (void)st;
    int nt = 600;
    layout lay;
    const char **names = calloc((size_t)nt, sizeof *names);
    int *nd = calloc((size_t)nt, sizeof *nd), *roles = calloc((size_t)nt, sizeof *roles), *nin = calloc((size_t)nt, sizeof *nin);
    int64_t (*sh)[LAYOUT_MAX_DIMS] = calloc((size_t)nt, sizeof *sh);
    int (*in)[LAYOUT_MAX_INPUTS] = calloc((size_t)nt, sizeof *in);
    for (int i = 0; i < nt; i++) { nd[i] = 1; sh[i][0] = 2; }
    assert_int_equal(layout_init(&lay, nt, names, nd, (const int64_t (*)[LAYOUT_MAX_DIMS])sh, 100000), 0);
    int edges = 0;
    for (int i = 8; i < nt; i++) {   /* each tensor takes the 8 before it: 592 · 8 = 4736 edges */
        nin[i] = 8;
        for (int k = 0; k < 8; k++) in[i][k] = i - 1 - k;
        edges += 8;
    }
    assert_true(edges > LAYOUT_MAX_EDGES);
    int bad;
    assert_int_equal(layout_set_graph(&lay, roles, nin, (const int (*)[LAYOUT_MAX_INPUTS])in, &bad), ERR_OUT_OF_RANGE);
    assert_int_equal(bad, -1);
    for (int i = 8 + LAYOUT_MAX_EDGES / 8; i < nt; i++) nin[i] = 0;   /* exactly the bound */
    assert_int_equal(layout_set_graph(&lay, roles, nin, (const int (*)[LAYOUT_MAX_INPUTS])in, &bad), 0);
    assert_int_equal(layout_graph_edges(&lay), LAYOUT_MAX_EDGES);
    layout_deinit(&lay);
    free(names); free(nd); free(roles); free(nin); free(sh); free(in);
}

static void make_opt(opt *o, const layout *lay, int iso)
{
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "graph_lopt"), 0);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    assert_int_equal(opt_config_set(&cfg, "isolated_nodes", iso), 0);
    assert_int_equal(opt_init(o, &cfg, lay), 0);
}

/* Untrained: the first update is Adam's first (−lr·sign g) within the few
 * percent of the read-out's small random step scale and momentum mix. */
static void test_default_first_step_is_adam_like(void **st)
{
    (void)st;
    layout lay;
    test_layout(&lay, 3);
    opt o;
    make_opt(&o, &lay, 0);
    size_t n = lay.n;
    float *p = calloc(n, sizeof(float)), *g = malloc(n * sizeof(float)), *u = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) g[i] = (float)((i % 3) + 1) * (i % 2 ? 1.0f : -1.0f);
    assert_int_equal(opt_step(&o, p, g, u, NULL), 0);
    for (size_t i = 0; i < n; i++) {
        float want = -1e-3f * (g[i] > 0 ? 1.0f : -1.0f);
        assert_true(fabsf(u[i] - want) < 0.05f * 1e-3f);
    }
    opt_deinit(&o);
    free(p); free(g); free(u);
    layout_deinit(&lay);
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
        task_loss_grad(tk, x, gr, &r);
        assert_int_equal(opt_step(&o, x, gr, up, NULL), 0);
    }
    double l1 = task_eval_loss(tk, x);
    opt_deinit(&o);
    task_free(tk);
    free(x); free(gr); free(up);
    return l1 / l0;
}

/* Untrained graph_lopt lowers a quadratic about as Adam at the same lr does. */
static void test_default_descends_quadratic_like_adam(void **st)
{
    (void)st;
    double ra = run_quadratic("adam", 300), rl = run_quadratic("graph_lopt", 300);
    if (getenv("GRAPH_DEBUG")) fprintf(stderr, "loss ratio after 300 steps: adam %g, graph_lopt %g\n", ra, rl);
    assert_true(ra < 0.5);
    assert_true(rl < 0.5);
    assert_true(rl < 1.5 * ra && ra < 1.5 * rl);
}

/* 5 steps of a random gradient; the updates into u (5n). */
static void run5(opt *o, size_t n, float *u)
{
    float *p = calloc(n, sizeof(float)), *g = malloc(n * sizeof(float));
    rng r;
    rng_seed(&r, 4);
    for (int t = 0; t < 5; t++) {
        rng_normal_fill(&r, g, n, 0, 1);
        assert_int_equal(opt_step(o, p, g, u + (size_t)t * n, NULL), 0);
    }
    free(p); free(g);
}

/* The declared graph changes the steps; with isolated_nodes = 1 it does not
 * (two different graphs step alike). */
static void test_graph_matters_and_isolated_nodes_drops_it(void **st)
{
    (void)st;
    layout a, b;
    test_layout(&a, 4);
    test_layout(&b, 4);
    int roles[4] = {0, 1, 0, 1}, nin[4] = {0, 0, 2, 1}, in[4][LAYOUT_MAX_INPUTS] = {{0}, {0}, {0, 1}, {2}}, bad;
    assert_int_equal(layout_set_graph(&b, roles, nin, (const int (*)[LAYOUT_MAX_INPUTS])in, &bad), 0);
    size_t n = a.n;
    float *ua = malloc(5 * n * sizeof(float)), *ub = malloc(5 * n * sizeof(float));
    for (int iso = 0; iso <= 1; iso++) {
        opt oa, ob;
        make_opt(&oa, &a, iso);
        make_opt(&ob, &b, iso);
        run5(&oa, n, ua);
        run5(&ob, n, ub);
        int same = memcmp(ua, ub, 5 * n * sizeof(float)) == 0;
        assert_int_equal(same, iso);
        opt_deinit(&oa); opt_deinit(&ob);
    }
    free(ua); free(ub);
    layout_deinit(&a); layout_deinit(&b);
}

/* Save after 5 steps, 4 more; a fresh optimizer (other theta) loaded from the
 * blob repeats them bit for bit; a flipped byte is refused; a state saved
 * with isolated_nodes 0 does not load into 1. */
static void test_state_roundtrips_bitwise(void **st)
{
    (void)st;
    layout lay;
    test_layout(&lay, 4);
    int roles[4] = {2, 1, 0, 3}, nin[4] = {0, 1, 2, 1}, in[4][LAYOUT_MAX_INPUTS] = {{0}, {0}, {0, 1}, {2}}, bad;
    assert_int_equal(layout_set_graph(&lay, roles, nin, (const int (*)[LAYOUT_MAX_INPUTS])in, &bad), 0);
    size_t n = lay.n;
    opt a, b;
    make_opt(&a, &lay, 0);
    float *p = calloc(n, sizeof(float)), *g = malloc(n * sizeof(float)), *u = malloc(n * sizeof(float));
    float *pb = malloc(n * sizeof(float)), *ua = malloc(4 * n * sizeof(float));
    rng r;
    rng_seed(&r, 9);
    for (int t = 0; t < 5; t++) {
        rng_normal_fill(&r, g, n, 0, 1);
        assert_int_equal(opt_step(&a, p, g, u, NULL), 0);
    }
    uint8_t *blob;
    size_t len;
    assert_int_equal(opt_save(&a, &blob, &len), 0);
    memcpy(pb, p, n * sizeof(float));
    rng r2 = r;
    for (int t = 0; t < 4; t++) {
        rng_normal_fill(&r, g, n, 0, 1);
        assert_int_equal(opt_step(&a, p, g, ua + (size_t)t * n, NULL), 0);
    }
    make_opt(&b, &lay, 0);
    lopt_opt_weights(&b)->theta[1] += 1.0f;   /* the blob's theta must win */
    assert_int_equal(opt_load(&b, blob, len), 0);
    for (int t = 0; t < 4; t++) {
        rng_normal_fill(&r2, g, n, 0, 1);
        assert_int_equal(opt_step(&b, pb, g, u, NULL), 0);
        assert_memory_equal(u, ua + (size_t)t * n, n * sizeof(float));
    }
    assert_memory_equal(p, pb, n * sizeof(float));
    opt c;
    make_opt(&c, &lay, 1);
    assert_int_equal(opt_load(&c, blob, len), ERR_CORRUPT);
    opt_deinit(&c);
    blob[len - 7] ^= 1;
    assert_int_equal(opt_load(&b, blob, len), ERR_CORRUPT);
    free(blob);
    opt_deinit(&a); opt_deinit(&b);
    free(p); free(g); free(u); free(pb); free(ua);
    layout_deinit(&lay);
}

/* The memory check counts the network's cache, which grows with the edges. */
static void test_state_bytes_count_the_graph(void **st)
{
    (void)st;
    layout lay;
    test_layout(&lay, 6);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "graph_lopt"), 0);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    uint64_t chain, iso;
    assert_int_equal(opt_bytes(&cfg, &lay, &chain), 0);
    assert_int_equal(opt_config_set(&cfg, "isolated_nodes", 1), 0);
    assert_int_equal(opt_bytes(&cfg, &lay, &iso), 0);
    assert_true(chain > iso);
    assert_true(iso > 2 * lay.n * sizeof(float));
    assert_int_equal(opt_config_set(&cfg, "message_rounds", 5), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "isolated_nodes", 2), ERR_OUT_OF_RANGE);
    layout_deinit(&lay);
}

/* A task's layout carries its layers' graph (tasks_internal.h): for the deep
 * MLP, l.w and l.b take (l−1).w and (l−1).b as inputs; a flat task is one
 * node. */
static void test_task_layouts_carry_the_layers_graph(void **st)
{
    (void)st;
    task *tk;
    task_params tp = {0};
    assert_int_equal(task_create("deep_mlp", &tp, 1, &tk), 0);
    const layout *lay = &tk->lay;
    if (getenv("GRAPH_DEBUG"))
        for (int i = 0; i < lay->ntensors; i++)
            fprintf(stderr, "%s ninputs %d role %d\n", lay->tensors[i].name, lay->tensors[i].ninputs, lay->tensors[i].role);
    assert_true(lay->ntensors >= 4 && lay->ntensors % 2 == 0);
    assert_int_equal(lay->tensors[0].ninputs, 0);
    assert_int_equal(lay->tensors[1].ninputs, 0);
    for (int i = 2; i < lay->ntensors; i++) {
        int l0 = (i / 2 - 1) * 2;
        assert_int_equal(lay->tensors[i].ninputs, 2);
        assert_int_equal(lay->tensors[i].inputs[0], l0);
        assert_int_equal(lay->tensors[i].inputs[1], l0 + 1);
        assert_int_equal(lay->tensors[i].role, i % 2 ? LAYOUT_ROLE_BIAS : LAYOUT_ROLE_WEIGHT);
    }
    task_free(tk);
    tp.dim = 10;
    assert_int_equal(task_create("quadratic", &tp, 1, &tk), 0);
    assert_int_equal(layout_graph_edges(&tk->lay), 0);
    task_free(tk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_matches_reference_and_gradcheck),
        cmocka_unit_test(test_layout_default_graph_and_refusals),
        cmocka_unit_test(test_layout_edge_bound),
        cmocka_unit_test(test_default_first_step_is_adam_like),
        cmocka_unit_test(test_default_descends_quadratic_like_adam),
        cmocka_unit_test(test_graph_matters_and_isolated_nodes_drops_it),
        cmocka_unit_test(test_state_roundtrips_bitwise),
        cmocka_unit_test(test_state_bytes_count_the_graph),
        cmocka_unit_test(test_task_layouts_carry_the_layers_graph),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
