/* evalsuite.h — evaluation of an optimizer on built-in tasks: train for H
 * steps over several seeds and report the final training loss and the
 * held-out loss, the numbers that decide whether a learned optimizer earns
 * its place (issue #3 §6, issue #15 §3).
 *
 * One run (seed s): task created with seed s, params initialised from seed
 * s, minibatches from rng seed s + 1; opt_step after opt_step.  For each
 * horizon H of the run: the final loss = mean of the minibatch training
 * losses of the last ceil(H/10) steps before step H (each loss measured at
 * the params the step starts from), and the held-out loss = the task's
 * eval_loss at the params after H steps.  A run whose loss or update
 * becomes non-finite stops; every horizon it had not completed counts as
 * final loss +inf (res->nonfinite counts those runs); a non-finite held-out
 * loss counts as +inf.
 *
 * One run serves every horizon: nothing in a run depends on its horizon (the
 * optimizers' configs here have a constant schedule and total_steps 0, the
 * learned optimizers' time features read the step number t only, and
 * eval_loss reads the params without touching the task's rng or state), so
 * the figures of horizon H recorded during a run of horizon H' > H equal the
 * figures of a separate run of horizon H bit for bit (tested).
 *
 * Adam's lr grid: index i is lr 10^((i − 12)/3), three points a decade.  The
 * search starts with i = 0..9 (1e-4 .. 1e-1); while some horizon's best lr
 * (the lowest mean final loss, ties to the lower lr) is at an edge of the
 * points run, one point is added at that edge, up to the hard limits
 * i = EVAL_GRID_MIN (1e-7) and EVAL_GRID_MAX (10).  A best lr still at an
 * edge there is flagged.  Deterministic: the points run depend only on the
 * runs' results.
 *
 * Ratios LO / tuned Adam: see eval_ratio.
 *
 * Pure computation; one thread per call; no global state except the
 * learned optimizers' weights table read by opt_init (see lopt.h). */
#ifndef OPTIRS_EVALSUITE_H
#define OPTIRS_EVALSUITE_H

#include <stdint.h>
#include "opt.h"
#include "tasks.h"

#define EVAL_MAX_SEEDS    16
#define EVAL_MAX_HORIZONS 8
#define EVAL_GRID         10     /* the starting grid: indices 0 .. 9, lr 1e-4 .. 1e-1 */
#define EVAL_GRID_MIN     (-9)   /* hard limit: lr 1e-7 */
#define EVAL_GRID_MAX     15     /* hard limit: lr 10 */
#define EVAL_GRID_POINTS  (EVAL_GRID_MAX - EVAL_GRID_MIN + 1)
#define EVAL_GRID_1E3     3      /* the index of lr 1e-3 (Adam@1e-3) */

typedef struct eval_result {
    int    nseeds;
    double final_loss[EVAL_MAX_SEEDS];  /* per seed (+inf: the run did not reach H) */
    double heldout[EVAL_MAX_SEEDS];     /* per seed: eval_loss after H steps (+inf: none) */
    double mean, std;                   /* of final_loss over seeds (+inf when any run failed) */
    double heldout_mean;                /* of heldout over seeds (+inf when any is) */
    int    nonfinite;                   /* runs that hit a non-finite value before H */
} eval_result;

/* Runs cfg on family(tp) for each of seeds[0..nseeds), one run of the
 * longest horizon, recording res[j] for horizons[j] (strictly increasing,
 * nh in [1, EVAL_MAX_HORIZONS]).  0 or ERR_INVALID_ARGUMENT (nseeds out of
 * [1, EVAL_MAX_SEEDS], a horizon < 1, horizons not increasing), or the error
 * of task_create / opt_init / ERR_NO_MEMORY. */
int eval_run_horizons(const opt_config *cfg, const char *family, const task_params *tp, const int64_t *horizons,
                      int nh, const uint64_t *seeds, int nseeds, eval_result *res);

/* eval_run_horizons with one horizon. */
int eval_run(const opt_config *cfg, const char *family, const task_params *tp, int64_t horizon,
             const uint64_t *seeds, int nseeds, eval_result *res);

/* The grid's i-th learning rate, 10^((i − 12)/3), for i in
 * [EVAL_GRID_MIN, EVAL_GRID_MAX]. */
double eval_grid_lr(int i);

/* The state of one lr search: the points run so far, [lo, hi], with their
 * results for each of nh horizons. */
typedef struct eval_grid {
    int         nh;
    int         lo, hi;      /* points handed out by eval_grid_next (lo > hi: none yet) */
    eval_result res[EVAL_GRID_POINTS][EVAL_MAX_HORIZONS];   /* [i − EVAL_GRID_MIN][h] */
} eval_grid;

void eval_grid_init(eval_grid *g, int nh);
/* The result slots of point i (nh of them), for the caller to fill. */
eval_result *eval_grid_at(eval_grid *g, int i);
/* The points to run next, written to out (room for EVAL_GRID_POINTS); call
 * it again once every point it handed out has its results.  First call: the
 * starting grid 0..9.  Then the point beyond each edge of [lo, hi] where
 * some horizon's best lies, within the hard limits.  Returns how many; 0
 * when the search is over. */
int eval_grid_next(eval_grid *g, int *out);
/* Horizon h's best point (lowest mean final loss, ties to the lower lr);
 * *at_edge = 1 when it is an edge of the points run (after the search: a
 * hard limit).  */
int eval_grid_best(const eval_grid *g, int h, int *at_edge);

/* The whole search run here, one point after another (the command line
 * runs the same search on several threads).  Errors as eval_run_horizons. */
int eval_adam_tuned(const char *family, const task_params *tp, const int64_t *horizons, int nh,
                    const uint64_t *seeds, int nseeds, eval_grid *g);

/* The ratio LO / tuned Adam of two mean losses, under one rule for the
 * training and the held-out loss:
 *   - LO non-finite: +inf (a defined, worst-possible ratio);
 *   - has_min (the task's known minimum, given by the suite): (lo − min) /
 *     (tuned − min);
 *   - the two losses (or, with has_min, both differences) must be > 0 and
 *     tuned finite, else the ratio is undefined: the entry is left out of the
 *     ratio statistics and counted as skipped (never a silent figure).
 * Returns 1 with *ratio set, or 0 when undefined. */
int eval_ratio(double lo, double tuned, int has_min, double min, double *ratio);

/* One task at one horizon, as the report sees it (means over seeds). */
typedef struct eval_entry {
    double lo, lo_heldout;
    double tuned, tuned_heldout, tuned_lr;
    double a3, a3_heldout;            /* Adam@1e-3 */
    int    lo_nonfinite;              /* the LO's non-finite runs */
    int    lr_at_edge;                /* tuned Adam's best lr at a hard limit */
    int    has_min;
    double min;
} eval_entry;

typedef struct eval_summary {
    int    n, win_tuned, win_1e3, nonfinite_runs, lr_at_edge;
    int    nratio, nratio_skipped;            /* training loss */
    double ratio_median, ratio_worst;         /* NAN when nratio == 0 */
    int    nheld, nheld_skipped;              /* held-out loss */
    double held_median, held_worst;
    int    nrel13;                            /* entries with LO, Adam@1e-3 > 0 */
    double rel13_mean;                        /* mean LO / Adam@1e-3 over them (NAN: none) */
} eval_summary;

/* A win: LO finite and strictly below the other's mean.  Median of an even
 * count: the mean of the two middle ratios.  0 or ERR_NO_MEMORY. */
int eval_summarize(const eval_entry *e, int n, eval_summary *s);

#endif
