/* fewshot.c — MAML, FOMAML, Meta-SGD, Reptile and the pretrained baseline on
 * the sinusoid family (see fewshot.h). */
#include "fewshot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "meta_outer.h"

static const char *const method_names[FEWSHOT_NMETHODS] = {"maml", "fomaml", "meta_sgd", "reptile", "pretrain"};

const char *fewshot_method_name(int method)
{
    return method >= 0 && method < FEWSHOT_NMETHODS ? method_names[method] : NULL;
}

int fewshot_method_from_name(const char *name)
{
    for (int i = 0; name && i < FEWSHOT_NMETHODS; i++)
        if (strcmp(name, method_names[i]) == 0) return i;
    return -1;
}

void fewshot_config_defaults(fewshot_config *c)
{
    memset(c, 0, sizeof *c);
    c->method = FEWSHOT_MAML;
    c->shots = 10;
    c->query = 0;
    c->inner_steps = 1;
    c->inner_lr = 0.01;
    c->meta_batch = 25;
    c->outer_lr = 1e-3;
    c->seed = 0;
    c->hidden = 40;
    c->depth = 2;
}

int fewshot_net(const fewshot_config *c, fsnet *n)
{
    if (c->depth < 1 || c->depth > FSNET_MAX_LAYERS - 1) return ERR_INVALID_ARGUMENT;
    int sizes[FSNET_MAX_LAYERS + 1];
    sizes[0] = 1;
    for (int l = 1; l <= c->depth; l++) sizes[l] = c->hidden;
    sizes[c->depth + 1] = 1;
    return fsnet_init(n, c->depth + 1, sizes);
}

void fewshot_sine_draw(rng *r, fewshot_sine *t)
{
    t->amp = 0.1 + 4.9 * rng_uniform(r);
    t->phase = M_PI * rng_uniform(r);
}

void fewshot_sine_points(const fewshot_sine *t, rng *r, double *x, double *y, int n)
{
    for (int i = 0; i < n; i++) {
        x[i] = -5.0 + 10.0 * rng_uniform(r);
        y[i] = t->amp * sin(x[i] - t->phase);
    }
}

/* ---- one task's outer gradient ------------------------------------------ */

size_t fewshot_task_work(const fsnet *n, int inner_steps, int batch)
{
    return (2 * (size_t)inner_steps + 5) * n->nparams + fsnet_work_size(n, batch);
}

void fewshot_task_grad(const fsnet *n, int method, const double *theta, const double *alpha, double alpha_s,
                       int steps, const double *xs, const double *ys, int ns, const double *xq, const double *yq,
                       int nq, double *gtheta, double *galpha, double *loss, double *work)
{
    size_t P = n->nparams;
    double *th = work;                          /* θ_0 … θ_N: (N+1)·P */
    double *gs = th + (size_t)(steps + 1) * P;  /* ∇L_s(θ_i): N·P */
    double *v = gs + (size_t)steps * P, *hv = v + P, *u = hv + P, *g2 = u + P;
    double *nw = g2 + P;
    if (galpha) memset(galpha, 0, P * sizeof *galpha);
    if (method == FEWSHOT_PRETRAIN) {
        double ls = fsnet_grad(n, theta, xs, ys, ns, gtheta, nw);
        double lq = fsnet_grad(n, theta, xq, yq, nq, g2, nw);
        double ws = (double)ns / (ns + nq), wq = (double)nq / (ns + nq);
        for (size_t i = 0; i < P; i++) gtheta[i] = ws * gtheta[i] + wq * g2[i];
        *loss = ws * ls + wq * lq;
        return;
    }
    memcpy(th, theta, P * sizeof *th);
    for (int s = 0; s < steps; s++) {
        double *cur = th + (size_t)s * P, *next = cur + P, *g = gs + (size_t)s * P;
        fsnet_grad(n, cur, xs, ys, ns, g, nw);
        for (size_t i = 0; i < P; i++) next[i] = cur[i] - (alpha ? alpha[i] : alpha_s) * g[i];
    }
    const double *last = th + (size_t)steps * P;
    if (method == FEWSHOT_REPTILE) {
        *loss = fsnet_loss(n, last, xq, yq, nq, nw);
        for (size_t i = 0; i < P; i++) gtheta[i] = theta[i] - last[i];
        return;
    }
    *loss = fsnet_grad(n, last, xq, yq, nq, v, nw);
    if (method == FEWSHOT_FOMAML) {
        memcpy(gtheta, v, P * sizeof *v);
        return;
    }
    /* MAML / Meta-SGD: back through the inner steps. */
    for (int s = steps - 1; s >= 0; s--) {
        const double *g = gs + (size_t)s * P;
        if (galpha)
            for (size_t i = 0; i < P; i++) galpha[i] -= g[i] * v[i];
        for (size_t i = 0; i < P; i++) u[i] = (alpha ? alpha[i] : alpha_s) * v[i];
        fsnet_hvp(n, th + (size_t)s * P, xs, ys, ns, u, hv, nw);
        for (size_t i = 0; i < P; i++) v[i] -= hv[i];
    }
    memcpy(gtheta, v, P * sizeof *v);
}

/* ---- the job ---------------------------------------------------------------- */

struct fewshot_job {
    fewshot_config c;
    fsnet   net;
    int     nq;
    size_t  P, nmeta;    /* θ's length; meta-parameters (θ, plus α for Meta-SGD) */
    double *meta;        /* θ then α */
    double *m, *v;       /* Adam moments (nmeta) */
    double *grad;        /* the averaged outer gradient (nmeta) */
    double *tg;          /* one task's gradient (nmeta) */
    double *data;        /* xs, ys, xq, yq */
    double *work;
    size_t  nwork;
    int64_t step;
    rng     root;
};

static int config_ok(const fewshot_config *c)
{
    return c->method >= 0 && c->method < FEWSHOT_NMETHODS && c->shots >= 1 && c->shots <= FEWSHOT_MAX_SHOTS &&
           c->query >= 0 && c->query <= FEWSHOT_MAX_SHOTS && c->inner_steps >= 1 &&
           c->inner_steps <= FEWSHOT_MAX_STEPS && isfinite(c->inner_lr) && c->inner_lr >= 0 && c->inner_lr <= 10 &&
           c->meta_batch >= 1 && c->meta_batch <= 1000 && isfinite(c->outer_lr) && c->outer_lr >= 0 &&
           c->outer_lr <= 10 && c->hidden >= 1 && c->hidden <= FSNET_MAX_WIDTH && c->depth >= 1 &&
           c->depth <= FSNET_MAX_LAYERS - 1;
}

/* The doubles of a job: meta, m, v, grad, tg (nmeta each), data, work. */
static int job_sizes(const fewshot_config *c, fsnet *n, size_t *nmeta, size_t *ndata, size_t *nwork)
{
    if (!config_ok(c) || fewshot_net(c, n)) return ERR_INVALID_ARGUMENT;
    int nq = c->query ? c->query : c->shots;
    *nmeta = n->nparams * (c->method == FEWSHOT_META_SGD ? 2 : 1);
    *ndata = 2 * (size_t)c->shots + 2 * (size_t)nq;
    *nwork = fewshot_task_work(n, c->inner_steps, c->shots > nq ? c->shots : nq);
    return 0;
}

int fewshot_job_bytes(const fewshot_config *c, uint64_t *out)
{
    fsnet n;
    size_t nm, nd, nw;
    if (job_sizes(c, &n, &nm, &nd, &nw)) return ERR_INVALID_ARGUMENT;
    *out = (uint64_t)(5 * nm + nd + nw) * sizeof(double) + sizeof(fewshot_job);
    return 0;
}

int fewshot_job_new(const fewshot_config *c, fewshot_job **out)
{
    *out = NULL;
    fewshot_job *j = calloc(1, sizeof *j);
    if (!j) return ERR_NO_MEMORY;
    size_t nd;
    if (job_sizes(c, &j->net, &j->nmeta, &nd, &j->nwork)) {
        free(j);
        return ERR_INVALID_ARGUMENT;
    }
    j->c = *c;
    j->nq = c->query ? c->query : c->shots;
    j->P = j->net.nparams;
    j->meta = calloc(5 * j->nmeta + nd + j->nwork, sizeof(double));
    if (!j->meta) {
        free(j);
        return ERR_NO_MEMORY;
    }
    j->m = j->meta + j->nmeta;
    j->v = j->m + j->nmeta;
    j->grad = j->v + j->nmeta;
    j->tg = j->grad + j->nmeta;
    j->data = j->tg + j->nmeta;
    j->work = j->data + nd;
    rng seedr, initr;
    rng_seed(&seedr, c->seed);
    rng_split(&seedr, 1, &j->root);
    rng_split(&seedr, 0, &initr);
    fsnet_init_params(&j->net, j->meta, &initr);
    if (c->method == FEWSHOT_META_SGD)
        for (size_t i = 0; i < j->P; i++) j->meta[j->P + i] = c->inner_lr;
    *out = j;
    return 0;
}

void fewshot_job_free(fewshot_job *j)
{
    if (!j) return;
    free(j->meta);
    free(j);
}

int fewshot_step(fewshot_job *j, double *meta_loss, double *gnorm)
{
    const fewshot_config *c = &j->c;
    size_t P = j->P;
    int msgd = c->method == FEWSHOT_META_SGD;
    int steps = c->method == FEWSHOT_PRETRAIN ? 0 : c->inner_steps;
    double *xs = j->data, *ys = xs + c->shots, *xq = ys + c->shots, *yq = xq + j->nq;
    memset(j->grad, 0, j->nmeta * sizeof *j->grad);
    rng sr;
    rng_split(&j->root, (uint64_t)j->step, &sr);
    double lsum = 0;
    for (int k = 0; k < c->meta_batch; k++) {
        rng tr;
        rng_split(&sr, (uint64_t)k, &tr);
        fewshot_sine t;
        fewshot_sine_draw(&tr, &t);
        fewshot_sine_points(&t, &tr, xs, ys, c->shots);
        fewshot_sine_points(&t, &tr, xq, yq, j->nq);
        double l;
        fewshot_task_grad(&j->net, c->method, j->meta, msgd ? j->meta + P : NULL, c->inner_lr, steps, xs, ys,
                          c->shots, xq, yq, j->nq, j->tg, msgd ? j->tg + P : NULL, &l, j->work);
        lsum += l;
        for (size_t i = 0; i < j->nmeta; i++) j->grad[i] += j->tg[i];
    }
    double gsq = 0;
    for (size_t i = 0; i < j->nmeta; i++) {
        j->grad[i] /= c->meta_batch;
        gsq += j->grad[i] * j->grad[i];
    }
    *meta_loss = lsum / c->meta_batch;
    *gnorm = sqrt(gsq);
    if (!isfinite(gsq) || !isfinite(*meta_loss)) return ERR_NON_FINITE;
    /* Adam (0.9, 0.999, 1e-8) with bias correction (meta_outer.h) */
    int64_t t = j->step + 1;
    meta_outer_adam(j->meta, j->m, j->v, j->grad, j->nmeta, c->outer_lr, t);
    j->step = t;
    return 0;
}

int64_t               fewshot_job_step(const fewshot_job *j) { return j->step; }
const fsnet          *fewshot_job_net(const fewshot_job *j) { return &j->net; }
const fewshot_config *fewshot_job_config(const fewshot_job *j) { return &j->c; }
const double         *fewshot_job_theta(const fewshot_job *j) { return j->meta; }
const double         *fewshot_job_alpha(const fewshot_job *j)
{
    return j->c.method == FEWSHOT_META_SGD ? j->meta + j->P : NULL;
}

/* ---- evaluation -------------------------------------------------------------- */

int fewshot_eval(const fsnet *n, const double *theta, const double *alpha, double alpha_s, int shots, int nquery,
                 int ntasks, const int *steps, int nsteps, uint64_t eval_seed, double *mean, double *ci95)
{
    if (shots < 1 || shots > FEWSHOT_MAX_SHOTS || nquery < 1 || nquery > 100000 || ntasks < 2 ||
        ntasks > 1000000 || nsteps < 1 || nsteps > FEWSHOT_EVAL_MAX)
        return ERR_INVALID_ARGUMENT;
    int maxs = 0;
    for (int i = 0; i < nsteps; i++) {
        if (steps[i] < 0 || steps[i] > 5 * FEWSHOT_MAX_STEPS) return ERR_INVALID_ARGUMENT;
        if (steps[i] > maxs) maxs = steps[i];
    }
    size_t P = n->nparams;
    int big = shots > nquery ? shots : nquery;
    size_t need = 2 * P + 2 * (size_t)shots + 2 * (size_t)nquery + fsnet_work_size(n, big);
    double *buf = malloc(need * sizeof *buf);
    double *sum = calloc(2 * (size_t)nsteps, sizeof *sum);
    if (!buf || !sum) {
        free(buf);
        free(sum);
        return ERR_NO_MEMORY;
    }
    double *p = buf, *g = p + P, *xs = g + P, *ys = xs + shots, *xq = ys + shots, *yq = xq + nquery;
    double *w = yq + nquery;
    rng root;
    rng_seed(&root, eval_seed);
    for (int k = 0; k < ntasks; k++) {
        rng tr;
        rng_split(&root, (uint64_t)k, &tr);
        fewshot_sine t;
        fewshot_sine_draw(&tr, &t);
        fewshot_sine_points(&t, &tr, xs, ys, shots);
        fewshot_sine_points(&t, &tr, xq, yq, nquery);
        memcpy(p, theta, P * sizeof *p);
        for (int s = 0; s <= maxs; s++) {
            double lq = NAN;
            for (int i = 0; i < nsteps; i++)
                if (steps[i] == s) {
                    if (isnan(lq)) lq = fsnet_loss(n, p, xq, yq, nquery, w);
                    sum[i] += lq;
                    sum[nsteps + i] += lq * lq;
                }
            if (s == maxs) break;
            fsnet_grad(n, p, xs, ys, shots, g, w);
            for (size_t i = 0; i < P; i++) p[i] -= (alpha ? alpha[i] : alpha_s) * g[i];
        }
    }
    for (int i = 0; i < nsteps; i++) {
        double m = sum[i] / ntasks;
        double var = (sum[nsteps + i] - ntasks * m * m) / (ntasks - 1);
        mean[i] = m;
        ci95[i] = 1.96 * sqrt(var > 0 ? var : 0) / sqrt((double)ntasks);
    }
    free(buf);
    free(sum);
    return 0;
}
