/* meta_internal.h — the meta_job's insides, shared by meta.c (the outer
 * step, the checkpoint), meta_split.c (an outer step whose particles were
 * evaluated by several processes), meta_reptile.c (Reptile's update of
 * theta), meta_continual.c (a stage's end) and meta_film.c (the FiLM rows'
 * perturbation).  Not a public interface: only these files include it.
 *
 * Invariants: P has cfg.nparticles entries; eps, xi and theta_pm have
 * w.ntheta floats each; a particle whose task is NULL has no paths (its
 * sides are zeroed). */
#ifndef OPTIRS_META_INTERNAL_H
#define OPTIRS_META_INTERNAL_H

#include "meta.h"
#include "blob.h"
#include "rng.h"

/* One inner training path: a task's params and an optimizer instance. */
typedef struct side {
    opt    o;
    int    o_ok;
    float *params, *grad, *upd;   /* (n) each */
    double loss;                  /* minibatch loss at params */
    rng    data;                  /* minibatch stream */
} side;

typedef struct particle {
    task    *tk;
    uint64_t task_seed, episode;
    int      task_index;          /* into cfg.tasks */
    int      active, failed;
    int64_t  t, horizon;
    side     s[3];                /* θ+ε path, θ−ε path, the reference path (META_OBJ_REF) */
    double  *ref;                 /* (unroll) the reference's losses of this truncation */
    float   *eps, *xi, *theta_pm; /* (ntheta) each */
    double   Lp, Lm;
    int      nfail;
} particle;

struct meta_job {
    meta_config  cfg;
    lopt_weights w;
    double      *am, *av;         /* outer Adam moments (ntheta) */
    int64_t      at;              /* outer Adam steps */
    int64_t      step;
    float       *grad;            /* last estimate (ntheta) */
    particle    *P;
    rng          base;
    double      *ewc_F, *ewc_b;   /* (ntheta) Σ_s F_s and Σ_s F_s⊙θ*_s (stages only) */
    double      *ewc_acc;         /* (ntheta) the current stage's Fisher accumulator */
};

/* Particle k's perturbation of the current outer step into p->eps: a
 * function of (cfg.seed, step, k) only, so any process regenerates it. */
void     meta_draw_eps(const meta_job *j, int k, particle *p);
/* FiLM (meta_film.c): zeroes eps (w->ntheta) on the rows of w that c does
 * not train (meta_film_row_trained); nothing for a plain w. */
void     meta_film_mask_eps(const meta_config *c, const lopt_weights *w, float *eps);
/* After outer step j->step − 1 (meta_continual.c): when it ended a stage
 * other than the last, adds the stage's Fisher estimate and theta to the
 * EWC penalty and restarts the outer Adam and the particles as a fresh job
 * would. */
void     meta_stage_boundary(meta_job *j);
/* Frees p's task and paths (keeps its buffers and bookkeeping). */
void     meta_particle_drop(particle *p);
/* The checkpoint's fingerprint of the job's configuration. */
uint64_t meta_cfg_fingerprint(const meta_job *j);
/* Particle k's section of a checkpoint, written to w.  0, opt_save's error,
 * or ERR_INVALID_ARGUMENT for a PES particle this process does not own. */
int      meta_put_particle(blob_writer *w, const meta_job *j, int k);
/* Checks part (meta_particle_save's blob of particle k of this job's
 * configuration and step) and appends its section to w.  0 or ERR_CORRUPT. */
int      meta_part_copy(blob_writer *w, const meta_job *j, int k, const uint8_t *part, size_t len);

#endif
