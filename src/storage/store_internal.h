/* store_internal.h — the private parts of the storage module, shared by its
 * files and by nothing outside src/storage/ (tests aside):
 *
 *   store_schema.c    open/close, pragmas, the schema and its migrations
 *   store_writer.c    the job queue, the writer thread (group commit,
 *                     per-job fallback, snapshot coalescing, checkpoints),
 *                     store_call, store_health, the test hooks
 *   store_read.c      the pool of read-only connections
 *   store_sessions.c  sessions, snapshots (and their chunks), metrics,
 *                     feedback: their statements, jobs and queries
 *   store_files.c     the identity of the database files
 *   store_analytics.c, store_auth.c, store_weights.c: through store_call and
 *                     store_reader_acquire only (store_auth.c's keys through
 *                     pg_keys.h instead once store_cluster_open attached one).
 *
 * Invariants: the write connection `w` and its statements belong to the
 * writer thread (and to store_open/store_close before it starts and after
 * it ends); the queue and the stats are under `mu`; the reader pool is
 * under `rmu`, never taken together with `mu`. */
#ifndef OPTIRS_STORE_INTERNAL_H
#define OPTIRS_STORE_INTERNAL_H

#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "errors.h"
#include "store.h"

#define STORE_BUSY_TIMEOUT_MS 5000

/* ---- the database files (store_files.c) ----------------------------------- */

/* The identity (device, inode) of the database file and of its -wal file as
 * the writer opened them, to notice them being deleted, replaced or made
 * read-only under the running daemon.  Immutable after store_files_init, so
 * store_files_check is safe from any thread. */
typedef struct store_files {
    char  *db, *wal;            /* absolute paths; db NULL: in memory, nothing to check */
    dev_t  db_dev, wal_dev;
    ino_t  db_ino, wal_ino;
    int    have_wal;            /* the -wal file existed at init */
} store_files;

/* Records the files of `db`'s main database.  0, ERR_NO_MEMORY, or
 * ERR_STORAGE (the file cannot be stat'ed).  Free with store_files_deinit. */
int  store_files_init(store_files *f, sqlite3 *db);
void store_files_deinit(store_files *f);
/* 0 while both files are the ones recorded and writable; else ERR_STORAGE
 * and *reason (may be NULL) one of "database_deleted", "database_replaced",
 * "database_read_only", "database_unreachable" (stat failed otherwise). */
int  store_files_check(const store_files *f, const char **reason);

/* ---- jobs (queued by every writing file, run by store_writer.c) ---------- */

typedef enum { JOB_CREATE, JOB_SNAPSHOT, JOB_UPDATE, JOB_METRIC, JOB_STEP, JOB_FEEDBACK, JOB_DELETE, JOB_FLUSH,
               JOB_EXEC, JOB_CALL } store_job_kind;

typedef struct store_job {
    struct store_job *next;    /* queue order */
    struct store_job *snext;   /* list of queued asynchronous snapshots (under mu) */
    store_job_kind kind;
    int         wait;          /* a caller waits for the result (it frees the job) */
    int         done, result;  /* set by the writer under mu */
    int         skip;          /* superseded snapshot: nothing to write */
    int64_t     i1, i2;        /* create: created_ms, step; snapshot/feedback: step */
    double      loss;
    step_metric m;             /* metric, step (m.group_lr points to glr) */
    double     *glr;           /* metric, step: the copy of m.group_lr (NULL: none) */
    int         has_extra;     /* step: x_*, xc and text2 hold its extras row */
    double      x_cos, x_ratio, x_mult;   /* step: update_cos, update_ratio, lr_mult */
    struct store_xcopy *xc;    /* step: the extras' numbers and names (NULL: none), formatted by the writer */
    char       *text;          /* meta_json (create), status (update), metrics_json, SQL (exec) */
    char       *text2;         /* meta_json (update) */
    void       *blob;
    size_t      blob_len;
    int       (*fn)(sqlite3 *db, void *ctx);   /* JOB_CALL */
    void       *ctx;
    char        id[];          /* session id, NUL-terminated */
} store_job;

/* A zeroed job of `kind` for session `id` (may be NULL); NULL without
 * memory.  store_job_free(NULL) does nothing; it frees text, text2, xc, blob. */
store_job *store_job_new(store_job_kind kind, const char *id);
void store_job_free(store_job *j);
/* Queues j; with j->wait, waits for its commit and returns its result.
 * Frees j in every case except an async job that was queued (the writer
 * frees that one). */
int  store_submit(store *s, store_job *j);
/* ---- a step's extras (store_extras.c) ------------------------------------ */

/* The metrics row's group_lr text: a JSON array of the n values (exact,
 * non-finite as null); NULL for n <= 0 or without memory.  The caller frees. */
char *store_group_lr_json(const double *v, int n);
/* Parses such a text into out (cap values): how many, or 0 for NULL, more
 * than cap values or anything but "[number|null, …]" (null: NAN). */
int   store_group_lr_parse(const char *text, double *out, int cap);

/* What a step job carries of store_step_extras: one malloc'd block (free()). */
typedef struct store_xcopy {
    int                   ntensors, ndiag;
    const opt_diag_value *diag;    /* ndiag entries, in the block (names: core's literals) */
    const double         *fig;     /* grad, update, param of tensor k at 3k, 3k+1, 3k+2 */
    const char           *names;   /* ntensors NUL-ended names, one after the other */
} store_xcopy;

/* Copies x's figures, names and diagnostics (*out NULL when it has none).
 * 0 or ERR_NO_MEMORY. */
int   store_xcopy_new(const store_step_extras *x, store_xcopy **out);
/* The extras row's texts (store.h, store_step_extras); NULL for none, past
 * the limit or on OOM.  The caller frees them. */
char *store_xcopy_tensors_json(const store_xcopy *c);
char *store_xcopy_extra_json(const store_xcopy *c);

/* The writer thread (started by store_open, joined by store_close). */
void *store_writer_main(void *arg);
/* Installed by store_open as the WAL hook: records the WAL size. */
int  store_wal_hook(void *arg, sqlite3 *db, const char *name, int frames);

/* Write statements of the session tables (store_sessions.c), prepared on the
 * write connection by store_open. */
enum { ST_CREATE, ST_SNAPSHOT, ST_UPDATE, ST_METRIC, ST_EXTRA, ST_FEEDBACK, ST_CHUNK, ST_DEL_METRICS, ST_DEL_FEEDBACK,
       ST_DEL_CHUNKS, ST_DEL_SESSION, ST_COUNT };
extern const char *const store_stmt_sql[ST_COUNT];
/* Runs a session job (JOB_CREATE … JOB_DELETE, not FLUSH/EXEC/CALL) on the write connection,
 * inside the writer's transaction.  SQLITE_OK or an SQLite error code. */
int  store_sessions_job_run(store *s, store_job *j);

/* ---- the reader pool (store_read.c) --------------------------------------- */

/* Read statements (store_sessions.c), prepared lazily on each reader. */
enum { RQ_LOAD, RQ_LOAD_ONE, RQ_LIST_FIRST, RQ_LIST_AFTER, RQ_METRICS, RQ_FEEDBACK, RQ_CHUNKS_SIZE, RQ_CHUNKS,
       RQ_COUNT };
extern const char *const store_rq_sql[RQ_COUNT];

typedef struct store_reader {
    sqlite3      *db;
    sqlite3_stmt *st[RQ_COUNT];
} store_reader;

/* A read-only connection for the calling thread: an idle one from the pool
 * or a new one.  NULL when the database cannot be opened. */
store_reader *store_reader_get(store *s);
/* Returns r to the pool; a reader that failed is closed instead. */
void          store_reader_put(store *s, store_reader *r, int failed);
/* The prepared statement `q` of reader r, prepared on first use (NULL on failure). */
sqlite3_stmt *store_reader_stmt(store_reader *r, int q);
/* Resets st (ending its read transaction, so it pins no WAL snapshot),
 * returns the reader and maps the last step result to 0/ERR_STORAGE. */
int           store_query_end(store *s, store_reader *r, sqlite3_stmt *st, int rc);
/* Closes every pooled and lent reader (store_close). */
void          store_readers_close(store *s);

/* For store_analytics.c, store_auth.c, store_weights.c: runs fn(write
 * connection, ctx) on the writer thread inside a transaction and waits for
 * the commit.  fn returns SQLITE_OK or an SQLite error (the job then fails
 * alone).  0 or ERR_STORAGE. */
int      store_call(store *s, int (*fn)(sqlite3 *db, void *ctx), void *ctx);

/* One write statement on the writer's connection: sql with up to 8 bound
 * values (text, int64, real or blob, as `types` says: t, i, r, b), and
 * the rows it changed. */
typedef struct store_wr {
    const char *sql;
    const char *types;
    const char *t[8];
    int64_t     i[8];
    double      r[8];
    const void *b[8];
    int         blen[8];
    int         changed;
} store_wr;
/* Runs w on db (inside a store_call function); an SQLite code. */
int store_wr_fn(sqlite3 *db, void *ctx);
/* Runs w through store_call: 0 or the store's error. */
int store_wr_run(store *s, store_wr *w);

/* A read-only connection from the pool (NULL on failure); give it back. */
sqlite3 *store_reader_acquire(store *s);
void     store_reader_release(store *s, sqlite3 *db);

/* ---- the store ------------------------------------------------------------- */

/* A batch of this many jobs means load: the writer lingers before the next
 * (store_writer.c). */
#define STORE_LINGER_BUSY_JOBS 8

/* The write statements store_analytics.c prepares on first use (on the
 * writer thread) and keeps; store_analytics_close finalizes them, before the
 * write connection closes. */
#define STORE_AN_STMTS 5
void store_analytics_close(store *s);

struct store {
    char           *path;
    /* writer side: the connection and its statements belong to the writer
     * thread (and to store_open/store_close before it starts/after it ends). */
    sqlite3        *w;
    sqlite3_stmt   *st[ST_COUNT];
    sqlite3_stmt   *an_st[STORE_AN_STMTS];   /* store_analytics.c's, prepared there on first use */
    int             wal_frames;        /* set by the WAL hook after each commit */
    int             since_ckpt;        /* commits since the last checkpoint */
    pthread_t       thread;
    store_files     files;             /* the database and WAL files opened (immutable) */
    atomic_int      write_fault;       /* the newest transaction failed with a full disk or I/O error */
    atomic_int      lost_logged;       /* files_lost's last answer, as reported on stderr */
    /* the queue, under mu */
    pthread_mutex_t mu;
    pthread_cond_t  cv_work, cv_done;
    store_job      *head, *tail;
    store_job      *snaps;             /* queued async snapshots, for coalescing */
    size_t          chunk_bytes;       /* snapshots longer than this are stored in chunks */
    int             stop, hold;
    int             lingering;         /* the writer gathers a batch (store_writer.c): submit wakes it only if needed */
    int             wait_queued;       /* a queued job has a waiter: no lingering */
    store_stats     stats;
    /* idle read-only connections, under rmu (never mu) */
    pthread_mutex_t rmu;
    store_reader  **idle;
    int             nidle, cap_idle;
    store_reader  **lent;              /* lent out raw by store_reader_acquire */
    int             nlent, cap_lent;
    /* cluster mode (store_cluster_open): the keys are in PostgreSQL; set
     * before the daemon serves, closed by store_close */
    struct pg_keys *cluster;
    /* and the weights records (pg_weights.h), mirrored into this file;
     * weights_fn is the daemon's (store_cluster_on_weights) */
    struct pg_weights *cluster_w;
    int           (*weights_fn)(void *ctx, const store_weights_row *w);
    void           *weights_ctx;
    /* the cluster's session index (store_cluster_sessions_open), or NULL */
    struct pg_sessions *csess;
    /* the cluster's studies (store_cluster_studies_open, pg_studies.h), or NULL */
    struct pg_studies *cstudies;
    /* the cluster's meta-training jobs (store_cluster_meta_open), or NULL;
     * cmeta_cancel is the daemon's (a cancel asked through the database) */
    struct pg_meta_jobs *cmeta;
    void              (*cmeta_cancel)(void *ctx, const char *id);
    void               *cmeta_cancel_ctx;
};

/* Cluster mode: fn(ctx) on the keys' refresh thread after each read
 * (pg_keys_on_tick).  Nothing without a cluster. */
void store_cluster_on_tick(store *s, void (*fn)(void *ctx), void *ctx);

/* ---- small helpers ----------------------------------------------------------- */

static inline int64_t store_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t store_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Binds v, or NULL when it is not finite: SQLite would turn NaN into NULL
 * anyway, and ±inf would poison aggregates. */
static inline void store_bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isfinite(v)) sqlite3_bind_double(st, i, v);
    else sqlite3_bind_null(st, i);
}

static inline void store_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s) sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, i);
}

static inline double store_col_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static inline int store_exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Steps a bound write statement to completion and resets it. */
static inline int store_step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static inline void store_rollback(sqlite3 *db)
{
    /* SQLITE_FULL/IOERR may already have rolled the transaction back. */
    if (!sqlite3_get_autocommit(db)) store_exec(db, "ROLLBACK");
}

/* *dst = a copy of src (NULL stays NULL).  0 or ERR_NO_MEMORY. */
static inline int store_dup_opt(const char *src, char **dst)
{
    *dst = NULL;
    if (!src) return 0;
    *dst = strdup(src);
    return *dst ? 0 : ERR_NO_MEMORY;
}

#endif
