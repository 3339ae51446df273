/* lopt_graph.c — graph_lopt: a graph neural network over the model's tensor
 * graph (layout.h: each tensor's inputs and role) that steers a cheap
 * per-parameter Adam-direction rule with per-tensor outputs.
 *
 * Per parameter (state: Adam's two moments, 2 floats) — the rule of
 * attn_lopt (lopt_attn.c):
 *   m = β₁ m + (1−β₁) g,  v = β₂ v + (1−β₂) g²   (β₁ 0.9, β₂ 0.999)
 *   update = −(lr / lr_default) · 1e-3 · exp(s_j) · (m̂ + γ_j (g − m̂)) / (√v̂ + ε)
 * where s_j (log step scale, clipped to ±GRAPH_SCLIP) and γ_j = tanh(·)
 * (momentum mix: 0 = Adam) are the network's two outputs for tensor j.
 *
 * Nodes.  One per tensor, LOPT_GRAPH_NIN features each step: log RMS of the
 * gradient /10, of Adam's bias-corrected direction m̂/(√v̂+ε), of the
 * parameters /10, of the tensor's last update /10 (RMS floor 1e-12), cos(g, m
 * before the step), log(size)/10, log(1+fan-in)/log 9, log(1+fan-out)/log 9,
 * depth / max depth, log(1+depth)/3 (each clipped to ±10); the role one-hot;
 * the time features tanh(t/τ − 1) of mlp_lopt (step progress).  Edges: one
 * per declared input (input → tensor); the network (lopt_graph_net.h) passes
 * messages along and against them for message_rounds rounds, with a global
 * mean node, and reads (s_j, γ_j) off each node.
 *
 * isolated_nodes = 1 drops every edge and the features the graph gives
 * (fan-in, fan-out, depth: 0), keeping the role and the global mean: the
 * ablation of the graph.
 *
 * theta: lopt_graph_net.h's layout; the weights record's hidden and depth are
 * hidden_size and message_rounds.  Default init: lopt_graph_init_params — the
 * read-out is small, so the untrained optimizer is Adam(lr) with per-tensor
 * step scales within a few percent of 1.
 *
 * State: m, v (2n floats); per tensor the last update RMS, the static graph
 * features, node inputs and outputs; the edges (2 ints each); the network's
 * forward cache.  The snapshot holds m, v, the last update RMS and the
 * weights; the graph comes from the layout (the session's spec keeps it). */
#include "lopt.h"
#include "lopt_internal.h"
#include "lopt_graph_net.h"
#include "errors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRAPH_B1    0.9f
#define GRAPH_B2    0.999f
#define GRAPH_EPS   1e-8f
#define GRAPH_STEP  1e-3f
#define GRAPH_SCLIP 5.0f
#define GRAPH_FLOOR 1e-12
#define GRAPH_NGEO  4          /* fan-in, fan-out, depth/max, log(1+depth) */

enum { HP_HIDDEN = HP_COMMON_COUNT, HP_ROUNDS, HP_ISOLATED };

typedef struct graph_state {
    lopt_weights w;            /* first: see lopt_opt_weights */
    int H, R, iso, nt, ne;
    size_t n;
    float *m, *v;              /* (n) each */
    float *lastu;              /* (nt) RMS of each tensor's last update */
    float *geo;                /* (nt, GRAPH_NGEO) static graph features */
    float *x, *out, *cache;    /* node inputs (nt, NIN), outputs (nt, 2), forward cache */
    float *inv_in, *inv_out;   /* (nt) */
    int *src, *dst;            /* (ne) */
    float *sg;                 /* (nt, 2): s_j, γ_j of this step */
} graph_state;

static const hparam_def graph_hparams[] = {
    {"hidden_size", 16, 1, LOPT_MAX_HIDDEN, 0, 0, 1, "node embedding width when no weights record is used"},
    {"message_rounds", 2, 1, LOPT_MAX_DEPTH, 0, 0, 1, "rounds of message passing over the tensor graph when no weights record is used"},
    {"isolated_nodes", 0, 0, 1, 0, 0, 1, "1: drop every edge of the tensor graph (and fan-in, fan-out, depth) — the ablation"},
};

static size_t graph_theta_count(int hidden, int depth) { return lopt_graph_theta_count(hidden, depth); }

static void graph_theta_default(float *theta, int hidden, int depth, rng *r)
{
    lopt_graph_init_params(theta, hidden, depth, r);
}

/* Edges of lay (0 with isolated nodes); a layout without its tensor array
 * (opt.c's probe) counts as the default chain. */
static int graph_edges(const layout *lay, int iso)
{
    if (iso) return 0;
    return lay->tensors ? layout_graph_edges(lay) : lay->ntensors - 1;
}

static uint64_t graph_side_bytes(int H, int R, int nt, int ne)
{
    uint64_t f = (uint64_t)nt * (1 + GRAPH_NGEO + LOPT_GRAPH_NIN + LOPT_GRAPH_NOUT + 2 + 2) +
                 lopt_graph_cache_size(H, R, nt, ne);
    return f * sizeof(float) + 2 * (uint64_t)ne * sizeof(int);
}

static int graph_state_bytes(const opt_config *cfg, const layout *lay, uint64_t *out)
{
    int H, R;
    size_t nt;
    int rc = lopt_weights_resolve_shape(cfg, LOPT_ARCH_GRAPH, (int)cfg->hp[HP_HIDDEN], (int)cfg->hp[HP_ROUNDS], &H,
                                        &R, &nt);
    if (rc) return rc;
    uint64_t b = opt_bytes_mul(opt_bytes_add(opt_bytes_mul(2, lay->n), nt), sizeof(float));
    b = opt_bytes_add(b, graph_side_bytes(H, R, lay->ntensors, graph_edges(lay, (int)cfg->hp[HP_ISOLATED])));
    *out = opt_bytes_add(sizeof(graph_state), b);
    return 0;
}

static void graph_deinit(opt *o)
{
    graph_state *s = o->state;
    if (!s) return;
    lopt_weights_deinit(&s->w);
    free(s->m); free(s->v); free(s->lastu); free(s->geo); free(s->x); free(s->out); free(s->cache);
    free(s->inv_in); free(s->inv_out); free(s->src); free(s->dst); free(s->sg);
    free(s);
    o->state = NULL;
}

static float clip10(double z)
{
    if (!(z == z)) return 0.0f;
    return (float)(z > 10 ? 10 : z < -10 ? -10 : z);
}

/* Edges, degrees and the static features from the layout's graph. */
static int graph_topology(graph_state *s, const layout *lay)
{
    int nt = s->nt, e = 0;
    int *indeg = calloc((size_t)nt, sizeof *indeg), *outdeg = calloc((size_t)nt, sizeof *outdeg);
    int *depth = calloc((size_t)nt, sizeof *depth);
    int rc = (indeg && outdeg && depth) ? 0 : ERR_NO_MEMORY;
    if (!rc && !s->iso) rc = layout_graph_depths(lay, depth);
    for (int b = 0; !rc && !s->iso && b < nt; b++)
        for (int k = 0; k < lay->tensors[b].ninputs; k++) {
            int a = lay->tensors[b].inputs[k];
            s->src[e] = a; s->dst[e] = b; e++;
            outdeg[a]++; indeg[b]++;
        }
    int maxd = 0;
    for (int j = 0; !rc && j < nt; j++) maxd = depth[j] > maxd ? depth[j] : maxd;
    for (int j = 0; !rc && j < nt; j++) {
        s->inv_in[j] = indeg[j] ? 1.0f / (float)indeg[j] : 0.0f;
        s->inv_out[j] = outdeg[j] ? 1.0f / (float)outdeg[j] : 0.0f;
        float *gf = s->geo + (size_t)j * GRAPH_NGEO;
        gf[0] = clip10(log1p((double)indeg[j]) / log(9.0));
        gf[1] = clip10(log1p((double)outdeg[j]) / log(9.0));
        gf[2] = maxd ? (float)depth[j] / (float)maxd : 0.0f;
        gf[3] = clip10(log1p((double)depth[j]) / 3.0);
    }
    free(indeg); free(outdeg); free(depth);
    return rc;
}

static int graph_init(opt *o, const opt_config *cfg, const layout *lay)
{
    graph_state *s = calloc(1, sizeof *s);
    if (!s) return ERR_NO_MEMORY;
    o->state = s;
    int rc = lopt_weights_resolve(cfg, LOPT_ARCH_GRAPH, (int)cfg->hp[HP_HIDDEN], (int)cfg->hp[HP_ROUNDS], &s->w);
    if (rc) { graph_deinit(o); return rc; }
    s->H = s->w.hidden; s->R = s->w.depth;
    s->iso = cfg->hp[HP_ISOLATED] != 0;
    s->n = lay->n; s->nt = lay->ntensors;
    s->ne = graph_edges(lay, s->iso);
    size_t nt = (size_t)s->nt, ne = (size_t)s->ne;
    s->m = calloc(s->n ? s->n : 1, sizeof(float));
    s->v = calloc(s->n ? s->n : 1, sizeof(float));
    s->lastu = calloc(nt, sizeof(float));
    s->geo = calloc(nt * GRAPH_NGEO, sizeof(float));
    s->x = calloc(nt * LOPT_GRAPH_NIN, sizeof(float));
    s->out = calloc(nt * LOPT_GRAPH_NOUT, sizeof(float));
    s->cache = calloc(lopt_graph_cache_size(s->H, s->R, s->nt, s->ne), sizeof(float));
    s->inv_in = calloc(nt, sizeof(float));
    s->inv_out = calloc(nt, sizeof(float));
    s->src = calloc(ne + 1, sizeof(int));
    s->dst = calloc(ne + 1, sizeof(int));
    s->sg = calloc(2 * nt, sizeof(float));
    if (!s->m || !s->v || !s->lastu || !s->geo || !s->x || !s->out || !s->cache || !s->inv_in || !s->inv_out ||
        !s->src || !s->dst || !s->sg)
        rc = ERR_NO_MEMORY;
    if (!rc) rc = graph_topology(s, lay);
    if (rc) graph_deinit(o);
    return rc;
}

static float lg(double ss, double n) { return (float)log(sqrt(ss / n) + GRAPH_FLOOR); }

/* Moments of tensor j and its node features at step t (time features tf). */
static void graph_node(graph_state *s, int j, const layout_tensor *lt, const float *params, const float *grads,
                       double c1, double c2, const float *tf)
{
    size_t off = lt->offset, n = lt->size;
    const float *g = grads + off, *p = params + off;
    float *m = s->m + off, *v = s->v + off;
    float ic1 = (float)(1.0 / c1), ic2 = (float)(1.0 / c2);
    double sg = 0, sp = 0, sd = 0, sgm = 0, sm = 0;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i], mo = m[i];
        sgm += (double)gi * mo; sm += (double)mo * mo;
        float mi = GRAPH_B1 * mo + (1 - GRAPH_B1) * gi;
        float vi = GRAPH_B2 * v[i] + (1 - GRAPH_B2) * gi * gi;
        m[i] = mi; v[i] = vi;
        float d = mi * ic1 / (sqrtf(vi * ic2) + GRAPH_EPS);
        sg += (double)gi * gi; sp += (double)p[i] * p[i]; sd += (double)d * d;
    }
    double dn = n ? (double)n : 1.0;
    float *x = s->x + (size_t)j * LOPT_GRAPH_NIN;
    x[0] = clip10(lg(sg, dn) / 10);
    x[1] = clip10(lg(sd, dn));
    x[2] = clip10(lg(sp, dn) / 10);
    x[3] = clip10(log((double)s->lastu[j] + GRAPH_FLOOR) / 10);
    x[4] = (sg > 0 && sm > 0) ? clip10(sgm / sqrt(sg * sm)) : 0.0f;
    x[5] = clip10(log(dn) / 10);
    memcpy(x + 6, s->geo + (size_t)j * GRAPH_NGEO, GRAPH_NGEO * sizeof(float));
    for (int r = 0; r < LOPT_GRAPH_NROLE; r++) x[LOPT_GRAPH_NSTAT + r] = (float)(lt->role == r);
    memcpy(x + LOPT_GRAPH_NSTAT + LOPT_GRAPH_NROLE, tf, LOPT_GRAPH_NTIME * sizeof(float));
}

static int graph_step(opt *o, const float *params, const float *grads, float *update, double lr, step_info *info)
{
    (void)info;
    graph_state *s = o->state;
    int64_t t = o->t + 1;
    double c1 = 1.0 - pow(GRAPH_B1, (double)t), c2 = 1.0 - pow(GRAPH_B2, (double)t);
    float tf[LOPT_NTIME];
    lopt_time_features(t, tf);
    for (int j = 0; j < s->nt; j++) graph_node(s, j, &o->lay.tensors[j], params, grads, c1, c2, tf);
    lopt_graph_topo topo = {s->nt, s->ne, s->src, s->dst, s->inv_in, s->inv_out};
    lopt_graph_forward(s->w.theta, s->H, s->R, &topo, s->x, s->cache, s->out);
    for (int j = 0; j < s->nt; j++) {
        float a = s->out[2 * j], b = s->out[2 * j + 1];
        a = a == a ? a : 0.0f;
        s->sg[2 * j] = a > GRAPH_SCLIP ? GRAPH_SCLIP : a < -GRAPH_SCLIP ? -GRAPH_SCLIP : a;
        s->sg[2 * j + 1] = b == b ? tanhf(b) : 0.0f;
    }
    float base = (float)lopt_lr_mult(lr) * GRAPH_STEP;
    float ic1 = (float)(1.0 / c1), ic2 = (float)(1.0 / c2);
    int bad = 0;
    for (int j = 0; j < s->nt; j++) {
        const layout_tensor *lt = &o->lay.tensors[j];
        size_t off = lt->offset, n = lt->size;
        const float *g = grads + off, *m = s->m + off, *v = s->v + off;
        float *u = update + off;
        float k = -base * expf(s->sg[2 * j]), gam = s->sg[2 * j + 1];
        double su = 0;
        for (size_t i = 0; i < n; i++) {
            float mh = m[i] * ic1;
            u[i] = k * (mh + gam * (g[i] - mh)) / (sqrtf(v[i] * ic2) + GRAPH_EPS);
            su += (double)u[i] * u[i];
        }
        if (!isfinite(su)) bad = 1;
        s->lastu[j] = (float)sqrt(su / (n ? (double)n : 1.0));
    }
    return bad ? ERR_NON_FINITE_UPDATE : 0;
}

static int graph_save(const opt *o, blob_writer *w)
{
    const graph_state *s = o->state;
    lopt_weights_put(w, &s->w);
    blob_put_u32(w, (uint32_t)s->iso);
    blob_put_u64(w, s->n);
    blob_put_u32(w, (uint32_t)s->nt);
    blob_put_u32(w, (uint32_t)s->ne);
    blob_put_f32s(w, s->m, s->n);
    blob_put_f32s(w, s->v, s->n);
    blob_put_f32s(w, s->lastu, (size_t)s->nt);
    return w->err;
}

static int graph_load(opt *o, blob_reader *r)
{
    graph_state *s = o->state;
    lopt_weights w;
    int rc = lopt_weights_get(r, &w);
    if (rc) return rc;
    uint32_t iso = blob_get_u32(r);
    uint64_t n = blob_get_u64(r);
    uint32_t nt = blob_get_u32(r), ne = blob_get_u32(r);
    if (blob_reader_status(r) || w.arch != LOPT_ARCH_GRAPH || w.hidden != s->H || w.depth != s->R ||
        iso != (uint32_t)s->iso || n != s->n || nt != (uint32_t)s->nt || ne != (uint32_t)s->ne) {
        lopt_weights_deinit(&w);
        return ERR_CORRUPT;
    }
    blob_get_f32s(r, s->m, s->n);
    blob_get_f32s(r, s->v, s->n);
    blob_get_f32s(r, s->lastu, (size_t)s->nt);
    if (blob_reader_status(r)) { lopt_weights_deinit(&w); return ERR_CORRUPT; }
    lopt_weights_deinit(&s->w);
    s->w = w;
    return 0;
}

const opt_vtbl lopt_graph_vtbl = {
    .name = "graph_lopt",
    .weights_arch = "graph_lopt",
    .kind = OPT_KIND_LEARNED,
    .description = "graph neural network learned optimizer: message passing over the model's tensor graph (the session's tensors' inputs and roles) sets a per-tensor step scale and momentum mix of an Adam-direction rule; no shipped weights yet (docs/learned-optimizers.md)",
    .hparams = graph_hparams,
    .nhparams = (int)(sizeof graph_hparams / sizeof graph_hparams[0]),
    .init = graph_init,
    .state_bytes = graph_state_bytes,
    .step = graph_step,
    .save = graph_save,
    .load = graph_load,
    .deinit = graph_deinit,
};

const lopt_arch lopt_arch_graph = {
    .id = LOPT_ARCH_GRAPH,
    .name = "graph_lopt",
    .vt = &lopt_graph_vtbl,
    .theta_count = graph_theta_count,
    .theta_default = graph_theta_default,
    .legacy_tail = 0,
    .hidden_hp = "hidden_size",
    .depth_hp = "message_rounds",
};
