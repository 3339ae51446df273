/* study_store.h — the one interface the study service (src/service/study.c)
 * stores studies through, with two implementations behind it: this
 * daemon's SQLite file (store_studies.h, store_studies_store) and, in cluster
 * mode (`--cluster-db`), the cluster's PostgreSQL (pg_studies.h), which
 * every daemon of the cluster shares.
 *
 * The operations are those of store_studies.h (same rows, same callbacks,
 * same errors, listed there), plus a unit of work:
 *   hold(id)   starts a unit of work on study `id`: until release, no other
 *              unit of work on that study runs — in this process or, for a
 *              shared store, in any process sharing it — and the calling
 *              thread's operations are part of it (one transaction where
 *              the store has them).
 *   release()  ends it: its changes are committed, or none of them is when
 *              one failed (a store with transactions).
 * The SQLite implementation has one daemon per file and the service's own
 * mutex around every unit of work, so its hold and release do nothing and
 * each write commits on its own, exactly as before this interface.  The
 * PostgreSQL one holds its connection for the thread and locks the study's
 * row (SELECT … FOR UPDATE) in a transaction: an ask's count, draw and
 * insert are one step cluster-wide.
 * Errors: those of store_studies.h, and ERR_CLUSTER_DB from the cluster's
 * store when PostgreSQL cannot be reached or did not commit.
 * Thread rules: any thread; hold and release in pairs on one thread, with
 * no other hold in between. */
#ifndef OPTIRS_STUDY_STORE_H
#define OPTIRS_STUDY_STORE_H

#include <stdint.h>

#include "store_studies.h"

typedef struct study_store_ops {
    int (*study_insert)(void *ctx, const store_study_row *r);
    int (*study_delete)(void *ctx, const char *id);
    int (*study_get)(void *ctx, const char *id, int (*fn)(void *c, const store_study_row *r), void *fctx);
    int (*studies_list)(void *ctx, const char *tenant, int limit, int (*fn)(void *c, const store_study_row *r),
                        void *fctx);
    int (*trial_insert)(void *ctx, const char *study, int64_t number, const char *params_json, const double *x,
                        int nx, int64_t now_ms);
    int (*trial_finish)(void *ctx, const char *study, int64_t number, const char *state, double value,
                        int64_t now_ms);
    int (*trial_report)(void *ctx, const char *study, int64_t number, int64_t step, double value, int64_t now_ms);
    int (*trials_lose)(void *ctx, const char *study, int64_t before_ms, int64_t now_ms, int *n);
    int (*study_trials)(void *ctx, const char *study, int (*trial_fn)(void *c, const store_trial_row *t),
                        int (*value_fn)(void *c, int64_t number, int64_t step, double value), void *fctx);
    int (*hold)(void *ctx, const char *id);
    int (*release)(void *ctx);
} study_store_ops;

/* A value: the table of operations and the implementation's state (not
 * owned: the implementation's owner closes it after the last use). */
typedef struct study_store {
    const study_store_ops *ops;
    void                  *ctx;
} study_store;

/* The studies of db's SQLite file (store_studies.h). */
study_store store_studies_store(store *db);

/* Cluster mode: from now on store_study_store answers the cluster's studies
 * (pg_studies.h) instead of db's file (whose studies stay as they were,
 * unused).  Call once, before serving; store_close closes it.  0,
 * ERR_INVALID_ARGUMENT (twice), or pg_studies_open's codes with the reason
 * in err. */
int         store_cluster_studies_open(store *db, const char *target, char *err, size_t errn);
/* The study store the daemon uses: the cluster's once opened, else
 * store_studies_store(db). */
study_store store_study_store(store *db);

#endif
