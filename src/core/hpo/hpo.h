/* hpo.h — hyperparameter search as pure math: the search space, the trial
 * history as the samplers and pruners see it, the samplers (random, TPE, GP) and
 * the pruners (median, ASHA).  No I/O, no locks, no clock: a study's service
 * (src/service/study.c) reads the history from the store and calls these.
 *
 * Values.  A trial's parameters are one double per parameter of the space,
 * in the space's order: a float's value, an int's value (integral, on its
 * step grid), a categorical's choice index (0 .. nchoices-1; the choices'
 * labels are the caller's).  NAN marks a parameter the trial does not have
 * (a conditional one that was inactive).
 *
 * Determinism.  hpo_sample draws from rng_split(seed, trial number), so the
 * same (space, seed, trial number, history) always gives the same values,
 * on every machine; the history's order matters (it is read oldest first).
 * The GP sampler's fit goes through OpenBLAS, whose kernels differ between
 * CPUs: it is bit-identical on one machine, not promised across CPUs.
 *
 * References: TPE after Bergstra et al. 2011 with Optuna 3.1's defaults
 * (n_startup_trials 10, n_ei_candidates 24, gamma(n) = min(ceil(0.1 n), 25),
 * Optuna's default_weights ramp, a prior of weight 1.0, magic-clip
 * bandwidths, univariate — or multivariate, hpo_mtpe.h; categoricals by
 * weighted counts); the median
 * pruner (n_startup_trials 5, n_warmup_steps 0) and successive halving /
 * ASHA (min_resource, reduction factor, min_early_stopping_rate 0) as
 * Optuna's MedianPruner and SuccessiveHalvingPruner decide.  The GP sampler
 * (hpo_gp.h): Matérn-5/2 ARD, marginal-likelihood fit, expected improvement;
 * floats and ints only.
 *
 * Errors: 0 or a negative ERR_* (errors.h): ERR_INVALID_ARGUMENT for a bad
 * space or argument (with a message where the function takes one),
 * ERR_NO_MEMORY.
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_HPO_H
#define OPTIRS_HPO_H

#include <stddef.h>
#include <stdint.h>

#define HPO_MAX_PARAMS  64      /* parameters of one space */
#define HPO_MAX_CHOICES 256     /* choices of one categorical */
#define HPO_NAME_MAX    64      /* bytes of a parameter name, NUL excluded */
#define HPO_MAX_DEPTH   8       /* conditions chained: a parameter has at most this many ancestors */

typedef enum { HPO_FLOAT, HPO_INT, HPO_CATEGORICAL } hpo_kind;

typedef struct hpo_param {
    char     name[HPO_NAME_MAX + 1];
    hpo_kind kind;
    double   low, high;         /* float, int: the closed range */
    double   step;              /* int: the grid step (>= 1; 1 with log); float: 0 */
    int      log;               /* float, int: sampled uniformly in log space (low > 0) */
    int      nchoices;          /* categorical: 1 .. HPO_MAX_CHOICES */
    /* Conditional parameters (hpo_cond.c): present in a trial only when
     * categorical parameter parent - 1 is present and takes one of the
     * choices set in `when` (bit c of when[c / 64]).  parent 0: always
     * present (so a zeroed hpo_param is unconditional). */
    int      parent;
    uint64_t when[HPO_MAX_CHOICES / 64];
} hpo_param;

typedef struct hpo_space {
    int       n;                /* 1 .. HPO_MAX_PARAMS */
    hpo_param p[HPO_MAX_PARAMS];
} hpo_space;

/* 0 when p is a valid parameter (finite bounds, low <= high, log only with
 * low > 0, an int's bounds integral and high - low a multiple of its step,
 * a log int's step 1, 1..HPO_MAX_CHOICES choices); else ERR_INVALID_ARGUMENT
 * with the reason in msg. */
int hpo_param_check(const hpo_param *p, char *msg, size_t msgcap);
/* 0 when v is a value p can take (in range, on the grid, a choice index). */
int hpo_param_contains(const hpo_param *p, double v);

typedef enum { HPO_RUNNING, HPO_COMPLETE, HPO_PRUNED, HPO_FAILED, HPO_LOST } hpo_state;

/* One trial of the history.  Pointers are the caller's; steps ascend. */
typedef struct hpo_trial {
    int64_t        number;
    hpo_state      state;
    const double  *x;           /* space.n values (NAN: absent) */
    double         value;       /* HPO_COMPLETE: the objective */
    int            nsteps;      /* intermediate values reported */
    const int64_t *steps;
    const double  *values;
} hpo_trial;

typedef enum { HPO_SAMPLER_RANDOM, HPO_SAMPLER_TPE, HPO_SAMPLER_GP } hpo_sampler;

typedef struct hpo_tpe_opts {
    int    n_startup_trials;    /* random until this many trials finished (complete or pruned) */
    int    n_ei_candidates;     /* candidates drawn from l(x), the best l/g kept */
    double prior_weight;        /* weight of the prior component */
    int    multivariate;        /* 1: one joint estimator per group of parameters (hpo_mtpe.h) */
} hpo_tpe_opts;
/* Optuna 3.1's defaults: 10, 24, 1.0, univariate. */
void hpo_tpe_defaults(hpo_tpe_opts *o);

/* The values of trial `number`: random, TPE over `hist` (nhist trials,
 * oldest first; only complete and pruned trials inform it) or the GP (only
 * complete trials inform it; a space with a categorical or a condition is
 * ERR_INVALID_ARGUMENT).  A conditional parameter that is not active for
 * the drawn values of its parent (hpo_space_active) is NAN; TPE splits the
 * finished trials into good and bad as a whole and fits each parameter
 * (univariate) or each group of parameters with the same condition
 * (multivariate, hpo_space_groups) on the trials of each part in which it
 * was present.  TPE and GP draw at random until
 * opts->n_startup_trials trials are finished (complete or pruned); the GP
 * also until one is complete.  direction: +1 minimize, -1 maximize.  opts
 * NULL: the defaults (the GP uses only n_startup_trials).  x receives sp->n
 * values.  0, ERR_INVALID_ARGUMENT or ERR_NO_MEMORY. */
int hpo_sample(const hpo_space *sp, hpo_sampler kind, const hpo_tpe_opts *opts, int direction, uint64_t seed,
               int64_t number, const hpo_trial *hist, int nhist, double *x);

/* TPE's split: how many of n finished trials form the "good" group,
 * min(ceil(0.1 n), 25). */
int hpo_tpe_gamma(int n);

typedef enum { HPO_PRUNER_NONE, HPO_PRUNER_MEDIAN, HPO_PRUNER_ASHA } hpo_pruner;

typedef struct hpo_prune_opts {
    int     n_startup_trials;   /* median: no pruning before this many complete trials (5) */
    int64_t n_warmup_steps;     /* median: no pruning below this step (0) */
    int64_t min_resource;       /* asha: the first rung's step (1) */
    int     reduction_factor;   /* asha: eta (3) */
} hpo_prune_opts;
void hpo_prune_defaults(hpo_prune_opts *o);

/* Whether trial hist[self] should stop after its newest report (its last
 * step/value): *prune = 1 or 0.  The other trials of hist are its
 * competitors as they stand.  0 or ERR_INVALID_ARGUMENT. */
int hpo_should_prune(hpo_pruner kind, const hpo_prune_opts *opts, int direction, const hpo_trial *hist, int nhist,
                     int self, int *prune);

/* ---- conditions (hpo_cond.c) ------------------------------------------- */

/* 0 when every parameter's condition is valid: its parent a categorical of
 * the space other than itself, `when` a non-empty subset of the parent's
 * choices, no cycle, at most HPO_MAX_DEPTH ancestors; else
 * ERR_INVALID_ARGUMENT with the reason (naming the parameter) in msg. */
int hpo_space_check_conditions(const hpo_space *sp, char *msg, size_t msgcap);
/* 1 when the space has a conditional parameter. */
int hpo_space_conditional(const hpo_space *sp);
/* active[i] = 1 when parameter i is present given the values x (the
 * parents' choice indices; the others are not read): its parent is
 * present and x[parent] is among its `when`.  The space must have passed
 * hpo_space_check_conditions. */
void hpo_space_active(const hpo_space *sp, const double *x, int *active);
/* The parameters grouped by condition (those that are always present
 * together): group[i] = the smallest index of a parameter with the same
 * effective condition (a `when` holding every choice of its parent is its
 * parent's condition).  Returns the number of groups. */
int hpo_space_groups(const hpo_space *sp, int *group);

/* ---- shared by the samplers (hpo_space.c) ------------------------------- */

typedef struct rng rng;
/* One value of p drawn uniformly (log-uniformly with log) from r. */
double hpo_random_value(const hpo_param *p, rng *r);
/* v snapped to p's grid and clamped into its range (ints, floats). */
double hpo_snap(const hpo_param *p, double v);

#endif
