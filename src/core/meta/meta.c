/* meta.c — ES / PES meta-training of learned optimizers.  See meta.h. */
#include "meta.h"
#include "meta_internal.h"
#include "meta_continual.h"
#include "lopt_internal.h"
#include "errors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOSS_CAP 1e30
#define STREAM_EPISODE (1ull << 40)

void meta_config_defaults(meta_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->optimizer, sizeof c->optimizer, "mlp_lopt");
    c->hidden = 8; c->depth = 1;
    c->estimator = META_ES;
    c->ntasks = 1;
    snprintf(c->tasks[0].family, META_FAMILY_MAX, "quadratic");
    c->nparticles = 8;
    c->unroll = 20;
    c->horizon_min = 100; c->horizon_max = 1000;
    c->pes_offsets = 1;
    c->sigma = 0.01;
    c->outer_lr = 3e-3; c->outer_beta1 = 0.9; c->outer_beta2 = 0.999; c->outer_eps = 1e-8;
    c->clip = 1.0;
    c->log_loss = 1;
    c->seed = 1;
    c->ref_lr = 1e-3;
    c->hold_zero_grad = -1;
    c->trust = -1;
    c->hypergrad = -1;
    c->anneal = -1;
    c->memory_reads = -1;
    c->ewc_window = 10;
}

int meta_inner_config(const meta_config *c, opt_config *oc)
{
    const lopt_arch *a = lopt_arch_by_name(c->optimizer);
    int rc = opt_config_defaults(oc, c->optimizer);
    if (!rc) rc = opt_config_set(oc, a && a->hidden_hp ? a->hidden_hp : "hidden", c->hidden);
    if (!rc) rc = opt_config_set(oc, a && a->depth_hp ? a->depth_hp : "depth", c->depth);
    if (!rc && c->heads && a && a->heads_hp) rc = opt_config_set(oc, a->heads_hp, c->heads);
    if (!rc && c->seq && a && a->seq_hp) rc = opt_config_set(oc, a->seq_hp, c->seq);
    if (!rc && c->act && a && a->act_hp) rc = opt_config_set(oc, a->act_hp, c->act);
    else if (!rc && c->act) rc = ERR_INVALID_ARGUMENT;   /* only mlp_lopt has an activation */
    if (!rc && c->fset && a && a->features_hp) rc = opt_config_set(oc, a->features_hp, c->fset);
    else if (!rc && c->fset) rc = ERR_INVALID_ARGUMENT;   /* only mlp_lopt has feature sets */
    if (!rc && c->hold_zero_grad >= 0) rc = opt_config_set(oc, "hold_zero_grad", c->hold_zero_grad);
    if (!rc && c->trust >= 0) rc = opt_config_set(oc, "trust", c->trust);
    if (!rc && c->memory_reads >= 0) rc = opt_config_set(oc, "memory_reads", c->memory_reads);
    /* mlp_lopt's hypergradient step scale and anneal are rules of sessions:
     * meta-training trains the network without them (lopt_mlp.c), as before
     * they existed, unless the config turns them on */
    if (!rc && opt_hparam_index(opt_find(c->optimizer), "hypergrad") >= 0)
        rc = opt_config_set(oc, "hypergrad", c->hypergrad >= 0 ? c->hypergrad : 0);
    if (!rc && opt_hparam_index(opt_find(c->optimizer), "anneal") >= 0)
        rc = opt_config_set(oc, "anneal", c->anneal >= 0 ? c->anneal : 0);
    oc->weights = LOPT_WEIGHTS_DEFAULT;
    return rc;
}

static double clamp_loss(double loss)
{
    if (!isfinite(loss) || loss > LOSS_CAP) loss = LOSS_CAP;
    if (loss < 1e-30) loss = 1e-30;
    return loss;
}

static double phi(const meta_config *c, double loss)
{
    loss = clamp_loss(loss);
    return c->log_loss ? log(loss) : loss;
}

/* The outlier-punishing term against the reference's loss (meta.h). */
static double phi_ref(const meta_config *c, double loss, double ref)
{
    double r = log(clamp_loss(loss)) - log(clamp_loss(ref));
    return r + (r > 0 ? c->outlier_alpha * r * r : 0.0);
}

/* Geometric interpolation from start to final over the curriculum. */
static int curriculum_at(const meta_config *c, int64_t step, int start, int final)
{
    if (c->curriculum_steps <= 0 || start <= 0 || step >= c->curriculum_steps) return final;
    double f = (double)step / (double)c->curriculum_steps;
    long v = lround(exp(log((double)start) + f * (log((double)final) - log((double)start))));
    return v < 1 ? 1 : v > final && final >= start ? final : (int)v;
}

int meta_unroll_at(const meta_config *c, int64_t step)
{
    return curriculum_at(c, step, c->unroll_start, c->unroll);
}

int meta_horizon_max_at(const meta_config *c, int64_t step)
{
    int h = curriculum_at(c, step, c->horizon_max_start, c->horizon_max);
    return h < c->horizon_min ? c->horizon_min : h;
}

/* The reference lr of task i (META_OBJ_REF). */
static double task_ref_lr(const meta_config *c, int i)
{
    return c->tasks[i].ref_lr > 0 ? c->tasks[i].ref_lr : c->ref_lr;
}

/* The task of a draw: k mod ntasks (cycle), or ∝ weight from a stream
 * split off r (r itself is not advanced, so the other draws stay as in
 * cycle mode). */
int meta_draw_task(const meta_config *c, int k, const rng *r)
{
    if (c->task_draw != META_DRAW_WEIGHTED) return k % c->ntasks;
    rng rt;
    rng_split(r, 0x7461736bull, &rt);
    double tot = 0;
    for (int i = 0; i < c->ntasks; i++) tot += c->tasks[i].weight > 0 ? c->tasks[i].weight : 1.0;
    double u = rng_uniform(&rt) * tot;
    for (int i = 0; i < c->ntasks; i++) {
        u -= c->tasks[i].weight > 0 ? c->tasks[i].weight : 1.0;
        if (u < 0) return i;
    }
    return c->ntasks - 1;
}

/* The outer step within its stage (the run's step without stages): every
 * stream and the curriculum restart with each stage. */
static int64_t lstep(const meta_job *j)
{
    return j->step - meta_stage_start(&j->cfg, meta_stage_at(&j->cfg, j->step));
}

/* ---- sides ------------------------------------------------------------- */

static void side_free(side *s)
{
    if (s->o_ok) opt_deinit(&s->o);
    free(s->params); free(s->grad); free(s->upd);
    memset(s, 0, sizeof *s);
}

/* The learned optimizer with theta on a task of `domain` (film: the FiLM
 * row of that domain, lopt.h). */
static int make_opt(const meta_config *c, const float *theta, const layout *lay, const char *domain, opt *o)
{
    opt_config oc;
    int rc = meta_inner_config(c, &oc);
    if (rc) return rc;
    rc = opt_init(o, &oc, lay);
    if (rc) return rc;
    lopt_weights *w = lopt_opt_weights(o);
    if (!w) { opt_deinit(o); return ERR_INVALID_ARGUMENT; }
    if (c->film) {
        rc = lopt_weights_set_film(w);
        if (rc) { opt_deinit(o); return rc; }
        o->cfg.film_row = lopt_film_row(domain);
    }
    if (theta) memcpy(w->theta, theta, w->ntheta * sizeof(float));
    w->mup_base = c->mup_base;
    w->act = c->act;
    w->fset = c->fset;   /* opt_init set it from the hyperparameter; the step masks the copied theta */
    return 0;
}

double meta_inner_trust(const meta_config *c)
{
    opt_config oc;
    int ti = opt_hparam_index(opt_find(c->optimizer), "trust");
    return ti >= 0 && !meta_inner_config(c, &oc) ? oc.hp[ti] : 0;
}

const char *meta_inner_unrecorded(const meta_config *c)
{
    if (meta_inner_trust(c) > 0) return "trust";
    if (c->hypergrad > 0) return "hypergrad";
    if (c->anneal > 0) return "anneal";
    return NULL;
}

/* The reference path's optimizer: Adam at lr. */
static int make_ref_opt(double lr, const layout *lay, opt *o)
{
    opt_config oc;
    int rc = opt_config_defaults(&oc, "adam");
    if (!rc) rc = opt_config_set(&oc, "lr", lr);
    return rc ? rc : opt_init(o, &oc, lay);
}

/* Fresh path on task tk: params from init_seed, minibatches from data_seed;
 * the learned optimizer with theta, or (ref_lr > 0) Adam at ref_lr. */
static int side_reset(const meta_config *c, side *s, task *tk, const float *theta, double ref_lr,
                      uint64_t init_seed, uint64_t data_seed)
{
    if (s->o_ok) { opt_deinit(&s->o); s->o_ok = 0; }
    if (!s->params) {
        s->params = malloc(tk->n * sizeof(float));
        s->grad = malloc(tk->n * sizeof(float));
        s->upd = malloc(tk->n * sizeof(float));
        if (!s->params || !s->grad || !s->upd) return ERR_NO_MEMORY;
    }
    int rc = ref_lr > 0 ? make_ref_opt(ref_lr, &tk->lay, &s->o) : make_opt(c, theta, &tk->lay, tk->domain, &s->o);
    if (rc) return rc;
    s->o_ok = 1;
    task_init_params(tk, init_seed, s->params);
    rng_seed(&s->data, data_seed);
    s->loss = task_loss_grad(tk, s->params, s->grad, &s->data);
    return 0;
}

/* Runs k steps with theta (NULL: the reference path); returns the sum of
 * the per-step terms (not normalised): φ(ℓ), or φ_ref(ℓ, ref[i]) when ref
 * is given.  losses (k, or NULL) receives each step's loss (LOSS_CAP once
 * failed).  *failed is set when the path hit a non-finite value. */
static double side_unroll(const meta_config *c, side *s, task *tk, const float *theta, int k,
                          int *failed, const double *ref, double *losses)
{
    lopt_weights *w = theta ? lopt_opt_weights(&s->o) : NULL;
    if (w) memcpy(w->theta, theta, w->ntheta * sizeof(float));
    double sum = 0;
    for (int i = 0; i < k; i++) {
        double l = LOSS_CAP;
        if (!*failed) {
            step_info info = {0};
            info.t = s->o.t + 1;
            info.loss = s->loss;
            int rc = opt_step(&s->o, s->params, s->grad, s->upd, &info);
            if (rc) *failed = 1;
            else {
                s->loss = l = task_loss_grad(tk, s->params, s->grad, &s->data);
                if (!isfinite(s->loss)) *failed = 1;
                for (size_t q = 0; q < tk->n && !*failed; q++)
                    if (!isfinite(s->grad[q])) *failed = 1;
            }
        }
        if (losses) losses[i] = *failed ? LOSS_CAP : l;
        sum += ref ? phi_ref(c, l, ref[i]) : phi(c, l);
    }
    return sum;
}

/* ---- particles ---------------------------------------------------------- */

static void particle_free(particle *p)
{
    for (int s = 0; s < 3; s++) side_free(&p->s[s]);
    task_free(p->tk);
    free(p->eps); free(p->xi); free(p->theta_pm); free(p->ref);
    memset(p, 0, sizeof *p);
}

void meta_particle_drop(particle *p)
{
    for (int s = 0; s < 3; s++) side_free(&p->s[s]);
    task_free(p->tk);
    p->tk = NULL;
}

static int particle_task(const meta_job *j, int ti, uint64_t task_seed, particle *p)
{
    meta_particle_drop(p);
    const meta_task_spec *ts = &j->cfg.tasks[ti];
    p->task_seed = task_seed;
    p->task_index = ti;
    return task_create(ts->family, &ts->params, task_seed, &p->tk);
}

/* Paths of a particle: 2, and the reference with META_OBJ_REF. */
static int nsides(const meta_config *c) { return c->objective == META_OBJ_REF ? 3 : 2; }

/* Resets particle p's paths on its task (the reference's at its lr). */
static int particle_sides(meta_job *j, particle *p, uint64_t init_seed, uint64_t data_seed)
{
    int rc = 0;
    for (int s = 0; s < nsides(&j->cfg) && !rc; s++)
        rc = side_reset(&j->cfg, &p->s[s], p->tk, j->w.theta, s == 2 ? task_ref_lr(&j->cfg, p->task_index) : 0,
                        init_seed, data_seed);
    return rc;
}

/* Starts a new episode for particle k from rng r (task, params, data). */
static int particle_episode(meta_job *j, int k, rng *r)
{
    particle *p = &j->P[k];
    int ti = meta_stage_draw(&j->cfg, j->step, k, r);
    uint64_t ts = rng_u64(r), init_seed = rng_u64(r), data_seed = rng_u64(r);
    if (j->cfg.task_seed) { ts = init_seed = j->cfg.task_seed; data_seed = j->cfg.task_seed + 1; }
    int rc = particle_task(j, ti, ts, p);
    if (!rc) rc = particle_sides(j, p, init_seed, data_seed);
    if (rc) return rc;
    memset(p->xi, 0, j->w.ntheta * sizeof(float));
    p->t = 0;
    p->failed = 0;
    p->active = 1;
    return 0;
}

/* The part of theta that meta-training changes: [*lo, *hi). */
static void trained_range(const meta_job *j, size_t *lo, size_t *hi)
{
    size_t n = j->w.ntheta;
    *lo = j->cfg.train == META_TRAIN_STEP_SCALE ? n - LOPT_MLP_NSCALE : 0;
    *hi = j->cfg.train == META_TRAIN_NETWORK ? n - LOPT_MLP_NSCALE : n;
}

void meta_draw_eps(const meta_job *j, int k, particle *p)
{
    rng rs, rp, re;
    rng_split(&j->base, 1 + (uint64_t)lstep(j), &rs);
    rng_split(&rs, (uint64_t)k, &rp);
    rng_split(&rp, 7, &re);
    rng_normal_fill(&re, p->eps, j->w.ntheta, 0.0f, (float)j->cfg.sigma);
    size_t lo, hi;
    trained_range(j, &lo, &hi);
    memset(p->eps, 0, lo * sizeof(float));
    memset(p->eps + hi, 0, (j->w.ntheta - hi) * sizeof(float));
    meta_film_mask_eps(&j->cfg, &j->w, p->eps);
    lopt_weights_mask_features(&j->w, p->eps);   /* a dropped weight is never perturbed: its estimate is 0 */
}

static void eval_pair(meta_job *j, particle *p, int K, int norm)
{
    size_t nt = j->w.ntheta;
    int fp = 0, fm = 0, fr = 0;
    const double *ref = NULL;
    if (j->cfg.objective == META_OBJ_REF) {
        /* the reference's failure is not the particle's: it counts LOSS_CAP */
        side_unroll(&j->cfg, &p->s[2], p->tk, NULL, K, &fr, NULL, p->ref);
        ref = p->ref;
    }
    for (size_t i = 0; i < nt; i++) p->theta_pm[i] = j->w.theta[i] + p->eps[i];
    p->Lp = side_unroll(&j->cfg, &p->s[0], p->tk, p->theta_pm, K, &fp, ref, NULL) / norm;
    for (size_t i = 0; i < nt; i++) p->theta_pm[i] = j->w.theta[i] - p->eps[i];
    p->Lm = side_unroll(&j->cfg, &p->s[1], p->tk, p->theta_pm, K, &fm, ref, NULL) / norm;
    p->nfail = fp + fm;
    if (fp || fm) p->failed = 1;
}

static int eval_es(meta_job *j, int k)
{
    particle *p = &j->P[k];
    rng rs, rp;
    rng_split(&j->base, 1 + (uint64_t)lstep(j), &rs);
    rng_split(&rs, (uint64_t)k, &rp);
    int rc = particle_episode(j, k, &rp);
    if (rc) return rc;
    meta_draw_eps(j, k, p);
    int U = meta_unroll_at(&j->cfg, lstep(j));
    eval_pair(j, p, U, U);
    p->active = 0;
    return 0;
}

static int eval_pes(meta_job *j, int k)
{
    particle *p = &j->P[k];
    const meta_config *c = &j->cfg;
    if (!p->active || p->failed || p->t >= p->horizon) {
        int first = p->episode == 0;
        rng rk, re;
        rng_split(&j->base, STREAM_EPISODE + (uint64_t)k, &rk);
        rng_split(&rk, p->episode, &re);
        p->episode++;
        double lo = log((double)c->horizon_min), hi = log((double)meta_horizon_max_at(c, lstep(j)));
        p->horizon = (int64_t)llround(exp(lo + (hi - lo) * rng_uniform(&re)));
        if (p->horizon < 1) p->horizon = 1;
        int rc = particle_episode(j, k, &re);
        if (rc) return rc;
        if (first && c->pes_offsets) {
            int64_t burn = (int64_t)rng_below(&re, (uint64_t)p->horizon);
            int f0 = 0, f1 = 0, f2 = 0;
            side_unroll(c, &p->s[0], p->tk, j->w.theta, (int)burn, &f0, NULL, NULL);
            side_unroll(c, &p->s[1], p->tk, j->w.theta, (int)burn, &f1, NULL, NULL);
            if (c->objective == META_OBJ_REF) side_unroll(c, &p->s[2], p->tk, NULL, (int)burn, &f2, NULL, NULL);
            p->t = burn;
            if (f0 || f1) p->failed = 1;
        }
    }
    meta_draw_eps(j, k, p);
    for (size_t i = 0; i < j->w.ntheta; i++) p->xi[i] += p->eps[i];
    int64_t left = p->horizon - p->t;
    int U = meta_unroll_at(c, lstep(j));
    int K = left < U ? (int)left : U;
    eval_pair(j, p, K, U);
    p->t += K;
    return 0;
}

/* TBPTT: one fresh unroll of `unroll` steps; the gradient goes to p->eps. */
static int eval_tbptt(meta_job *j, int k)
{
    particle *p = &j->P[k];
    const meta_config *c = &j->cfg;
    rng rs, rp;
    rng_split(&j->base, 1 + (uint64_t)lstep(j), &rs);
    rng_split(&rs, (uint64_t)k, &rp);
    int ti = meta_stage_draw(c, j->step, k, &rp);
    uint64_t ts = rng_u64(&rp), init_seed = rng_u64(&rp), data_seed = rng_u64(&rp);
    if (c->task_seed) { ts = init_seed = c->task_seed; data_seed = c->task_seed + 1; }
    size_t nt = j->w.ntheta;
    double *g = malloc(nt * sizeof(double)), L;
    if (!g) return ERR_NO_MEMORY;
    int rc = meta_unroll_grad(c, j->w.theta, ti, ts, init_seed, data_seed, meta_unroll_at(c, lstep(j)),
                              c->tbptt_exact, &L, g);
    if (rc == ERR_NON_FINITE) {
        /* a diverged unroll: counts as failed, contributes no gradient */
        memset(p->eps, 0, nt * sizeof(float));
        p->Lp = p->Lm = phi(c, LOSS_CAP);
        p->nfail = 1;
        free(g);
        return 0;
    }
    if (rc) { free(g); return rc; }
    for (size_t i = 0; i < nt; i++) p->eps[i] = (float)g[i];
    p->Lp = p->Lm = L;
    free(g);
    return 0;
}

/* ---- the job ------------------------------------------------------------ */

void meta_job_free(meta_job *j)
{
    if (!j) return;
    if (j->P)
        for (int k = 0; k < j->cfg.nparticles; k++) particle_free(&j->P[k]);
    free(j->P);
    lopt_weights_deinit(&j->w);
    free(j->am); free(j->av); free(j->grad);
    free(j->ewc_F); free(j->ewc_b); free(j->ewc_acc);
    free(j);
}

int meta_job_new(const meta_config *cfg, const lopt_weights *init, meta_job **out)
{
    *out = NULL;
    int arch = lopt_arch_from_name(cfg->optimizer);
    if (arch < 0) return ERR_UNKNOWN_OPTIMIZER;
    if (cfg->nparticles < 1 || cfg->unroll < 1 || cfg->ntasks < 1 || cfg->ntasks > META_MAX_TASKS ||
        cfg->horizon_min < 1 || cfg->horizon_max < cfg->horizon_min || !(cfg->sigma > 0) ||
        !(cfg->outer_lr >= 0) ||
        (cfg->estimator != META_ES && cfg->estimator != META_PES && cfg->estimator != META_TBPTT))
        return ERR_INVALID_ARGUMENT;
    if (cfg->estimator == META_TBPTT && arch != LOPT_ARCH_MLP && arch != LOPT_ARCH_LSTM && arch != LOPT_ARCH_ATTN)
        return ERR_INVALID_ARGUMENT;
    if (cfg->estimator == META_TBPTT && meta_inner_unrecorded(cfg)) return ERR_INVALID_ARGUMENT;   /* not recorded */
    if ((cfg->task_draw != META_DRAW_CYCLE && cfg->task_draw != META_DRAW_WEIGHTED) ||
        (cfg->objective != META_OBJ_LOG && cfg->objective != META_OBJ_REF) ||
        (cfg->objective == META_OBJ_REF && cfg->estimator == META_TBPTT) ||
        !(cfg->ref_lr > 0) || !(cfg->outlier_alpha >= 0) || cfg->curriculum_steps < 0 ||
        cfg->mup_base < 0 || cfg->mup_base > LOPT_MUP_MAX_BASE || (cfg->mup_base && arch != LOPT_ARCH_MLP) ||
        cfg->act < 0 || cfg->act >= LOPT_ACT_COUNT || (cfg->act && arch != LOPT_ARCH_MLP) ||
        cfg->fset < 0 || cfg->fset >= LOPT_FSET_COUNT || (cfg->fset && arch != LOPT_ARCH_MLP) ||
        cfg->hold_zero_grad < -1 || cfg->hold_zero_grad > 1 || (cfg->hold_zero_grad >= 0 && arch != LOPT_ARCH_MLP) ||
        !(cfg->trust == -1 || (cfg->trust >= 0 && cfg->trust <= 1e6)) || (cfg->trust >= 0 && arch != LOPT_ARCH_MLP) ||
        !(cfg->hypergrad == -1 || (cfg->hypergrad >= 0 && cfg->hypergrad <= 1)) ||
        (cfg->hypergrad >= 0 && arch != LOPT_ARCH_MLP) ||
        !(cfg->anneal == -1 || (cfg->anneal >= 0 && cfg->anneal <= 1e6)) || (cfg->anneal >= 0 && arch != LOPT_ARCH_MLP) ||
        cfg->memory_reads < -1 || cfg->memory_reads > 1 || (cfg->memory_reads >= 0 && arch != LOPT_ARCH_MEM) ||
        cfg->heads < 0 || cfg->seq < 0 || ((cfg->heads || cfg->seq) && !lopt_arch_by_id(arch)->heads_hp) ||
        cfg->unroll_start < 0 || cfg->unroll_start > cfg->unroll || cfg->horizon_max_start < 0 ||
        cfg->horizon_max_start > cfg->horizon_max || cfg->maml_inner_steps < 0 ||
        (cfg->maml_inner_steps > 0 && cfg->nstages > 0) ||
        !(cfg->maml_step >= 0 && cfg->maml_step <= 1) || cfg->film < 0 || cfg->film > 1 ||
        (cfg->film && (arch != LOPT_ARCH_MLP || cfg->estimator == META_TBPTT || cfg->train != META_TRAIN_ALL)))
        return ERR_INVALID_ARGUMENT;
    if (init && init->film && !cfg->film) return ERR_INVALID_ARGUMENT;   /* a FiLM record trains as one */
    for (int i = 0; i < cfg->ntasks; i++)
        if (!(cfg->tasks[i].weight >= 0) || !(cfg->tasks[i].ref_lr >= 0) ||
            (cfg->task_draw == META_DRAW_CYCLE && cfg->tasks[i].weight != 0 && cfg->tasks[i].weight != 1))
            return ERR_INVALID_ARGUMENT;
    if (cfg->train < META_TRAIN_ALL || cfg->train > META_TRAIN_STEP_SCALE ||
        (cfg->train != META_TRAIN_ALL && arch != LOPT_ARCH_MLP))
        return ERR_INVALID_ARGUMENT;
    for (int i = 0; i < cfg->ntasks; i++)
        if (!tasks_find(cfg->tasks[i].family)) return ERR_INVALID_ARGUMENT;
    if (meta_stages_check(cfg)) return ERR_INVALID_ARGUMENT;
    meta_job *j = calloc(1, sizeof *j);
    if (!j) return ERR_NO_MEMORY;
    j->cfg = *cfg;
    int rc = init ? lopt_weights_copy(&j->w, init)
                  : lopt_weights_init_default_act(&j->w, arch, cfg->hidden, cfg->depth, cfg->act, cfg->seed);
    if (!rc && !init) rc = lopt_weights_set_features(&j->w, cfg->fset);
    /* an init record trains as what it is: its shape, activation and feature set must be the job's */
    if (!rc && (j->w.arch != arch || j->w.hidden != cfg->hidden || j->w.depth != cfg->depth ||
                j->w.act != cfg->act || j->w.fset != cfg->fset))
        rc = ERR_INVALID_ARGUMENT;
    if (!rc && cfg->film) rc = lopt_weights_set_film(&j->w);   /* identity rows on a plain init */
    j->w.mup_base = cfg->mup_base;   /* the record carries what it was trained with */
    const lopt_arch *la = lopt_arch_by_id(arch);
    if (!rc && la->heads_hp) {       /* likewise attn_lopt's heads and S (an init record's must agree) */
        opt_config oc;
        rc = meta_inner_config(cfg, &oc);
        const opt_vtbl *vt = opt_find(cfg->optimizer);
        int hh = rc ? 0 : (int)oc.hp[opt_hparam_index(vt, la->heads_hp)];
        int ss = rc ? 0 : (int)oc.hp[opt_hparam_index(vt, la->seq_hp)];
        if (!rc && init && init->heads && (init->heads != hh || init->seq != ss)) rc = ERR_INVALID_ARGUMENT;
        j->w.heads = hh; j->w.seq = ss;
    }
    if (rc) { meta_job_free(j); return rc; }
    size_t nt = j->w.ntheta;
    j->am = calloc(nt, sizeof(double));
    j->av = calloc(nt, sizeof(double));
    j->grad = calloc(nt, sizeof(float));
    j->P = calloc((size_t)cfg->nparticles, sizeof *j->P);
    if (!j->am || !j->av || !j->grad || !j->P) { meta_job_free(j); return ERR_NO_MEMORY; }
    if (cfg->nstages > 0) {
        j->ewc_F = calloc(nt, sizeof(double));
        j->ewc_b = calloc(nt, sizeof(double));
        j->ewc_acc = calloc(nt, sizeof(double));
        if (!j->ewc_F || !j->ewc_b || !j->ewc_acc) { meta_job_free(j); return ERR_NO_MEMORY; }
    }
    for (int k = 0; k < cfg->nparticles; k++) {
        particle *p = &j->P[k];
        p->eps = calloc(nt, sizeof(float));
        p->xi = calloc(nt, sizeof(float));
        p->theta_pm = calloc(nt, sizeof(float));
        p->ref = calloc((size_t)cfg->unroll, sizeof(double));
        if (!p->eps || !p->xi || !p->theta_pm || !p->ref) { meta_job_free(j); return ERR_NO_MEMORY; }
    }
    rng_seed(&j->base, cfg->seed);
    *out = j;
    return 0;
}

int meta_particle_bytes(const meta_config *c, size_t ntheta, const layout *lay, uint64_t *out)
{
    opt_config oc;
    uint64_t lo = 0, ad = 0;
    int rc = meta_inner_config(c, &oc);
    if (!rc) rc = opt_bytes(&oc, lay, &lo);
    if (!rc && c->objective == META_OBJ_REF) {
        rc = opt_config_defaults(&oc, "adam");
        if (!rc) rc = opt_bytes(&oc, lay, &ad);
    }
    if (rc) return rc;
    uint64_t sides = (uint64_t)nsides(c);
    uint64_t b = opt_bytes_mul(opt_bytes_mul(sides, lay->n), 3 * sizeof(float));   /* params, grad, upd */
    b = opt_bytes_add(b, opt_bytes_add(opt_bytes_mul(2, lo), ad));
    b = opt_bytes_add(b, opt_bytes_mul(ntheta, 3 * sizeof(float)));                /* eps, xi, theta± */
    *out = opt_bytes_add(b, opt_bytes_mul((uint64_t)c->unroll, sizeof(double)));
    return 0;
}

int meta_step_begin(meta_job *j)
{
    for (int k = 0; k < j->cfg.nparticles; k++) { j->P[k].Lp = j->P[k].Lm = NAN; j->P[k].nfail = 0; }
    return 0;
}

int meta_eval_particle(meta_job *j, int k)
{
    if (k < 0 || k >= j->cfg.nparticles) return ERR_INVALID_ARGUMENT;
    switch (j->cfg.estimator) {
    case META_ES: return eval_es(j, k);
    case META_PES: return eval_pes(j, k);
    default: return eval_tbptt(j, k);
    }
}

int meta_step_end(meta_job *j, meta_report *rep)
{
    const meta_config *c = &j->cfg;
    size_t nt = j->w.ntheta;
    int P = c->nparticles, nfail = 0;
    double ml = 0;
    size_t lo, hi;
    trained_range(j, &lo, &hi);
    memset(j->grad, 0, nt * sizeof(float));
    for (int k = 0; k < P; k++) {
        particle *p = &j->P[k];
        if (!isfinite(p->Lp) || !isfinite(p->Lm)) return ERR_INTERNAL;  /* particle not evaluated */
        double coef = c->estimator == META_TBPTT ? 1.0 / P
                                                 : (p->Lp - p->Lm) / (2.0 * P * c->sigma * c->sigma);
        const float *dir = c->estimator == META_PES ? p->xi : p->eps;
        for (size_t i = lo; i < hi; i++) j->grad[i] += (float)(coef * dir[i]);
        ml += 0.5 * (p->Lp + p->Lm) / P;
        nfail += p->nfail;
        if (c->ewc_lambda > 0 && meta_fisher_window(c, j->step)) {   /* this particle's own estimate, squared */
            int64_t len = c->stage_steps[meta_stage_at(c, j->step)];
            double W = (double)(c->ewc_window < len ? c->ewc_window : len);
            meta_fisher_add(j->ewc_acc, dir, coef * P, 1.0 / (W * P), lo, hi);
        }
    }
    if (c->ewc_lambda > 0 && meta_stage_at(c, j->step) > 0)
        meta_ewc_grad(j->grad, j->ewc_F, j->ewc_b, j->w.theta, c->ewc_lambda, lo, hi);
    /* a weight the feature set drops is a constant 0, not a parameter: its gradient is 0 (TBPTT's tape
       gives the dropped input's, nonzero), so it never moves, whatever the estimator */
    lopt_weights_mask_features(&j->w, j->grad);
    double gn = 0;
    for (size_t i = 0; i < nt; i++) gn += (double)j->grad[i] * j->grad[i];
    gn = sqrt(gn);
    double scale = (c->clip > 0 && gn > c->clip) ? c->clip / gn : 1.0;
    j->at++;
    double b1 = c->outer_beta1, b2 = c->outer_beta2;
    double c1 = 1 - pow(b1, (double)j->at), c2 = 1 - pow(b2, (double)j->at);
    for (size_t i = 0; i < nt; i++) {
        double g = j->grad[i] * scale;
        j->am[i] = b1 * j->am[i] + (1 - b1) * g;
        j->av[i] = b2 * j->av[i] + (1 - b2) * g * g;
        j->w.theta[i] -= (float)(c->outer_lr * (j->am[i] / c1) / (sqrt(j->av[i] / c2) + c->outer_eps));
    }
    j->step++;
    meta_stage_boundary(j);
    if (rep) {
        rep->step = j->step;
        rep->meta_loss = ml;
        rep->grad_norm = gn;
        rep->clipped = scale < 1.0;
        rep->failed_paths = nfail;
    }
    return 0;
}

int meta_step(meta_job *j, meta_report *rep)
{
    int rc = meta_step_begin(j);
    for (int k = 0; k < j->cfg.nparticles && !rc; k++) rc = meta_eval_particle(j, k);
    return rc ? rc : meta_step_end(j, rep);
}

int                 meta_job_nparticles(const meta_job *j) { return j->cfg.nparticles; }
int64_t             meta_job_step(const meta_job *j) { return j->step; }
const lopt_weights *meta_job_weights(const meta_job *j) { return &j->w; }
const float        *meta_job_grad(const meta_job *j) { return j->grad; }
void meta_job_ewc(const meta_job *j, const double **F, const double **b) { *F = j->ewc_F; *b = j->ewc_b; }

int meta_unroll_loss(const meta_config *cfg, const float *theta, int task_index,
                     uint64_t task_seed, uint64_t init_seed, uint64_t data_seed,
                     int steps, double *loss)
{
    *loss = NAN;
    if (task_index < 0 || task_index >= cfg->ntasks || steps < 1) return ERR_INVALID_ARGUMENT;
    const meta_task_spec *ts = &cfg->tasks[task_index];
    task *tk = NULL;
    int rc = task_create(ts->family, &ts->params, task_seed, &tk);
    if (rc) return rc;
    side s, r;
    memset(&s, 0, sizeof s);
    memset(&r, 0, sizeof r);
    double *ref = NULL;
    rc = side_reset(cfg, &s, tk, theta, 0, init_seed, data_seed);
    if (!rc && cfg->objective == META_OBJ_REF) {
        ref = malloc((size_t)steps * sizeof(double));
        rc = ref ? side_reset(cfg, &r, tk, NULL, task_ref_lr(cfg, task_index), init_seed, data_seed) : ERR_NO_MEMORY;
        int fr = 0;
        if (!rc) side_unroll(cfg, &r, tk, NULL, steps, &fr, NULL, ref);
    }
    if (!rc) {
        int failed = 0;
        *loss = side_unroll(cfg, &s, tk, theta, steps, &failed, ref, NULL) / steps;
    }
    free(ref);
    side_free(&s);
    side_free(&r);
    task_free(tk);
    return rc;
}

/* ---- checkpoint ---------------------------------------------------------- */

uint64_t meta_cfg_fingerprint(const meta_job *j)
{
    const meta_config *c = &j->cfg;
    uint64_t v[] = {(uint64_t)c->hidden, (uint64_t)c->depth, (uint64_t)c->estimator,
                    (uint64_t)c->nparticles, (uint64_t)c->unroll, (uint64_t)c->ntasks,
                    c->seed, (uint64_t)j->w.ntheta, c->task_seed, (uint64_t)c->tbptt_exact};
    uint32_t h = blob_crc32(0, c->optimizer, strlen(c->optimizer));
    h = blob_crc32(h, v, sizeof v);
    if (c->train) h = blob_crc32(h, &c->train, sizeof c->train);   /* older checkpoints still match */
    for (int i = 0; i < c->ntasks; i++) h = blob_crc32(h, c->tasks[i].family, strlen(c->tasks[i].family));
    if (c->task_draw || c->objective || c->mup_base) {   /* likewise: only when not the defaults */
        uint64_t x[] = {(uint64_t)c->task_draw, (uint64_t)c->objective, (uint64_t)c->mup_base};
        h = blob_crc32(h, x, sizeof x);
    }
    if (c->heads || c->seq) {
        uint64_t x[] = {(uint64_t)c->heads, (uint64_t)c->seq};
        h = blob_crc32(h, x, sizeof x);
    }
    if (c->act) h = blob_crc32(h, &c->act, sizeof c->act);   /* likewise: relu jobs' checkpoints still match */
    if (c->fset) h = blob_crc32(h, &c->fset, sizeof c->fset);   /* likewise for full */
    if (c->maml_inner_steps) {   /* a Reptile job's checkpoint fits only the same k and step size */
        double x[] = {(double)c->maml_inner_steps, c->maml_step};
        h = blob_crc32(h, x, sizeof x);
    }
    if (c->nstages) {   /* stages: only when set, as above */
        h = blob_crc32(h, &c->nstages, sizeof c->nstages);
        h = blob_crc32(h, c->stage_steps, sizeof c->stage_steps);
        h = blob_crc32(h, c->stage_tasks, sizeof c->stage_tasks);
        double x[] = {c->ewc_lambda, c->replay, (double)c->ewc_window};
        h = blob_crc32(h, x, sizeof x);
    }
    /* The hold on: checkpoints from before it existed (held nothing) do not match. */
    opt_config oc;
    int hi = opt_hparam_index(opt_find(c->optimizer), "hold_zero_grad");
    if (hi >= 0 && !meta_inner_config(c, &oc) && oc.hp[hi] != 0) h = blob_crc32(h, "hold", 4);
    double trust = meta_inner_trust(c);   /* likewise the trust region on */
    if (trust > 0) h = blob_crc32(h, &trust, sizeof trust);
    if (c->hypergrad > 0) h = blob_crc32(h, &c->hypergrad, sizeof c->hypergrad);   /* the session rules on */
    if (c->anneal > 0) h = blob_crc32(h, &c->anneal, sizeof c->anneal);
    if (c->memory_reads == 0) h = blob_crc32(h, "noreads", 7);   /* mem_lopt's ablation */
    return h;
}

static void put_rng(blob_writer *w, const rng *r)
{
    for (int i = 0; i < 4; i++) blob_put_u64(w, r->s[i]);
    blob_put_u32(w, (uint32_t)r->has_spare);
    blob_put_f64(w, r->spare);
}

static void get_rng(blob_reader *r, rng *g)
{
    for (int i = 0; i < 4; i++) g->s[i] = blob_get_u64(r);
    g->has_spare = (int)blob_get_u32(r);
    g->spare = blob_get_f64(r);
}

int meta_put_particle(blob_writer *w, const meta_job *j, int k)
{
    const particle *p = &j->P[k];
    size_t nt = j->w.ntheta;
    int persist = j->cfg.estimator == META_PES && p->active;
    blob_put_u32(w, (uint32_t)persist);
    blob_put_u64(w, p->episode);
    if (!persist) return 0;
    if (!p->tk) return ERR_INVALID_ARGUMENT;   /* a split step's particle: its owner has the paths */
    blob_put_u64(w, p->task_seed);
    if (j->cfg.task_draw == META_DRAW_WEIGHTED || j->cfg.nstages) blob_put_u32(w, (uint32_t)p->task_index);
    blob_put_u32(w, (uint32_t)p->failed);
    blob_put_u64(w, (uint64_t)p->t);
    blob_put_u64(w, (uint64_t)p->horizon);
    blob_put_f32s(w, p->xi, nt);
    for (int s = 0; s < nsides(&j->cfg); s++) {
        const side *sd = &p->s[s];
        blob_put_f32s(w, sd->params, p->tk->n);
        blob_put_f32s(w, sd->grad, p->tk->n);
        blob_put_f64(w, sd->loss);
        put_rng(w, &sd->data);
        uint8_t *ob = NULL;
        size_t olen = 0;
        int rc = opt_save(&sd->o, &ob, &olen);
        if (rc) return rc;
        blob_put_u64(w, olen);
        blob_put_bytes(w, ob, olen);
        free(ob);
    }
    return 0;
}

int meta_save_parts(const meta_job *j, const uint8_t *const *parts, const size_t *lens, uint8_t **out,
                    size_t *out_len)
{
    blob_writer w;
    int rc = blob_writer_init(&w, BLOB_KIND_META, META_VERSION);
    if (rc) return rc;
    size_t nt = j->w.ntheta;
    blob_put_u64(&w, meta_cfg_fingerprint(j));
    lopt_weights_put(&w, &j->w);
    blob_put_u64(&w, (uint64_t)j->step);
    blob_put_u64(&w, (uint64_t)j->at);
    for (size_t i = 0; i < nt; i++) blob_put_f64(&w, j->am[i]);
    for (size_t i = 0; i < nt; i++) blob_put_f64(&w, j->av[i]);
    for (int k = 0; k < j->cfg.nparticles && !rc; k++)
        rc = parts && parts[k] ? meta_part_copy(&w, j, k, parts[k], lens[k]) : meta_put_particle(&w, j, k);
    if (j->cfg.nstages)   /* the EWC state (the fingerprint says it is there) */
        for (size_t i = 0; i < nt; i++) {
            blob_put_f64(&w, j->ewc_F[i]);
            blob_put_f64(&w, j->ewc_b[i]);
            blob_put_f64(&w, j->ewc_acc[i]);
        }
    if (rc) { blob_writer_deinit(&w); return rc; }
    return blob_writer_finish(&w, out, out_len);
}

int meta_save(const meta_job *j, uint8_t **out, size_t *out_len)
{
    return meta_save_parts(j, NULL, NULL, out, out_len);
}

int meta_load(meta_job *j, const void *data, size_t len)
{
    blob_reader r;
    uint32_t version;
    int rc = blob_reader_init(&r, data, len, BLOB_KIND_META, &version);
    if (rc) return rc;
    if (version != META_VERSION || blob_get_u64(&r) != meta_cfg_fingerprint(j)) return ERR_CORRUPT;
    lopt_weights w;
    rc = lopt_weights_get(&r, &w);
    if (rc) return rc;
    if (w.ntheta != j->w.ntheta || w.arch != j->w.arch) { lopt_weights_deinit(&w); return ERR_CORRUPT; }
    lopt_weights_deinit(&j->w);
    j->w = w;
    size_t nt = j->w.ntheta;
    j->step = (int64_t)blob_get_u64(&r);
    j->at = (int64_t)blob_get_u64(&r);
    for (size_t i = 0; i < nt; i++) j->am[i] = blob_get_f64(&r);
    for (size_t i = 0; i < nt; i++) j->av[i] = blob_get_f64(&r);
    for (int k = 0; k < j->cfg.nparticles && !rc; k++) {
        particle *p = &j->P[k];
        int persist = (int)blob_get_u32(&r);
        p->episode = blob_get_u64(&r);
        p->active = 0;
        if (blob_reader_status(&r)) return ERR_CORRUPT;
        if (!persist) continue;
        uint64_t ts = blob_get_u64(&r);
        uint32_t ti = j->cfg.task_draw == META_DRAW_WEIGHTED || j->cfg.nstages ? blob_get_u32(&r) : (uint32_t)(k % j->cfg.ntasks);
        if (blob_reader_status(&r) || ti >= (uint32_t)j->cfg.ntasks) return ERR_CORRUPT;
        rc = particle_task(j, (int)ti, ts, p);
        if (rc) return rc;
        p->failed = (int)blob_get_u32(&r);
        p->t = (int64_t)blob_get_u64(&r);
        p->horizon = (int64_t)blob_get_u64(&r);
        blob_get_f32s(&r, p->xi, nt);
        for (int s = 0; s < nsides(&j->cfg) && !rc; s++) {
            side *sd = &p->s[s];
            rc = side_reset(&j->cfg, sd, p->tk, j->w.theta, s == 2 ? task_ref_lr(&j->cfg, p->task_index) : 0, 0, 0);
            if (rc) return rc;
            blob_get_f32s(&r, sd->params, p->tk->n);
            blob_get_f32s(&r, sd->grad, p->tk->n);
            sd->loss = blob_get_f64(&r);
            get_rng(&r, &sd->data);
            uint64_t olen = blob_get_u64(&r);
            if (blob_reader_status(&r) || olen > r.len - r.pos) return ERR_CORRUPT;
            rc = opt_load(&sd->o, r.p + r.pos, (size_t)olen);
            r.pos += (size_t)olen;
        }
        p->active = 1;
    }
    if (rc) return rc;
    if (j->cfg.nstages)
        for (size_t i = 0; i < nt; i++) {
            j->ewc_F[i] = blob_get_f64(&r);
            j->ewc_b[i] = blob_get_f64(&r);
            j->ewc_acc[i] = blob_get_f64(&r);
        }
    if (blob_reader_status(&r) || r.pos != r.len) return ERR_CORRUPT;
    return 0;
}
