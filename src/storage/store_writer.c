/* store_writer.c — the single writer thread and its queue.  Every write is
 * a job: the writer takes whatever is queued and runs it in one transaction
 * (group commit); if that fails, each job runs again in a transaction of its
 * own so a bad job fails alone.  An asynchronous snapshot still queued when
 * a newer one of its session arrives is dropped (coalescing).  Under load
 * (the previous batch held STORE_LINGER_BUSY_JOBS jobs or more: one client's step
 * queues at most a metrics row, a snapshot and a status change, so it never
 * counts as load and its jobs commit at once) the writer lingers up to
 * LINGER_US for more jobs before it begins, so that a commit carries many
 * rows: each commit writes its dirty pages to the WAL whatever the number of
 * rows they gained (measured at 32 clients of N = 100 steps: 1.3 WAL frames
 * written per step without it, 0.45 at 4 ms, 0.34 at 12 ms).  A job with a
 * waiter (a flush, a reader's store_flush, a synchronous snapshot) ends the
 * linger at once, so nobody waits for it.  The writer
 * refuses to commit into database files that were deleted, replaced or made
 * read-only (store_files.c), and runs the PASSIVE WAL checkpoints itself.
 * Also here: store_call (a function run on the writer), store_flush,
 * store_health, the stats and the test hooks.
 *
 * Invariants: jobs are processed in queue order, so a synchronous call
 * returns only after every job queued before it; the write connection is
 * used by the writer thread alone; no other connection ever checkpoints;
 * a waiter frees its own job, the writer frees the others. */
#include "store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "store_internal.h"

#define CKPT_EVERY_COMMITS   256    /* PASSIVE checkpoint after this many commits */
#define CKPT_WAL_FRAMES      4096   /* … or once the WAL holds this many frames (16 MiB at 4 KiB pages) */
#define CKPT_MIN_COMMITS     16     /* … but not more often than this while the WAL stays large */
#define LINGER_US            12000  /* under load, gather a batch for up to this long … */
#define LINGER_JOBS          4096   /* … or until this many jobs are queued */

/* ---- jobs ------------------------------------------------------------------ */

store_job *store_job_new(store_job_kind kind, const char *id)
{
    size_t n = id ? strlen(id) : 0;
    store_job *j = calloc(1, sizeof *j + n + 1);
    if (!j) return NULL;
    j->kind = kind;
    if (id) memcpy(j->id, id, n + 1);
    return j;
}

void store_job_free(store_job *j)
{
    if (!j) return;
    free(j->text);
    free(j->text2);
    free(j->xc);
    free(j->glr);
    free(j->blob);
    free(j);
}

/* Runs one job's statements on the write connection, inside the caller's
 * transaction.  SQLITE_OK or an SQLite error code. */
static int job_run(store *s, store_job *j)
{
    switch (j->kind) {
    case JOB_CREATE: case JOB_SNAPSHOT: case JOB_UPDATE: case JOB_METRIC: case JOB_STEP: case JOB_FEEDBACK:
    case JOB_DELETE:
        return store_sessions_job_run(s, j);
    case JOB_EXEC:
        return store_exec(s->w, j->text);
    case JOB_CALL:
        return j->fn(s->w, j->ctx);
    case JOB_FLUSH:
        return SQLITE_OK;
    }
    return SQLITE_MISUSE;
}

/* ---- the writer ------------------------------------------------------------------ */

static int has_work(const store_job *j)
{
    return !j->skip && j->kind != JOB_FLUSH;
}

/* Remembers whether the newest transaction failed for want of storage (a
 * full disk, an I/O error, a read-only or vanished file); a constraint
 * failure is a bad job, not a storage fault, and changes nothing. */
static void note_result(store *s, int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK: atomic_store(&s->write_fault, 0); break;
    case SQLITE_FULL: case SQLITE_IOERR: case SQLITE_READONLY: case SQLITE_CANTOPEN:
    case SQLITE_CORRUPT: case SQLITE_NOTADB: atomic_store(&s->write_fault, 1); break;
    default: break;
    }
}

/* 1 when the database files are no longer the ones opened, or not writable.
 * Each change between the two states is reported once on stderr. */
static int files_lost(store *s)
{
    const char *why;
    int lost = store_files_check(&s->files, &why) != 0;
    if (atomic_exchange(&s->lost_logged, lost) != lost) {
        if (lost) fprintf(stderr, "optirsd: %s: %s: every write is refused (a deleted or replaced database "
                                  "does not come back: restart the daemon)\n", s->files.db, why);
        else fprintf(stderr, "optirsd: %s: writable again\n", s->files.db);
    }
    return lost;
}

/* Per-batch counters, folded into store_stats under mu. */
typedef struct batch_stats {
    int64_t commits, errors, jobs_failed, us_total, us_max;
} batch_stats;

static void batch_time(batch_stats *bs, int64_t dt)
{
    bs->us_total += dt;
    if (dt > bs->us_max) bs->us_max = dt;
}

/* Runs `list` in one transaction (group commit).  If that fails, rolls back
 * and runs each job in a transaction of its own, so a bad job fails alone.
 * When no transaction can even begin (the database is locked by another
 * process past busy_timeout), the remaining jobs fail without a retry each:
 * retrying would cost busy_timeout per job.  Sets every job's result. */
static void batch_run(store *s, store_job *list, batch_stats *bs)
{
    int any = 0;
    for (store_job *j = list; j; j = j->next) {
        j->result = 0;
        any |= has_work(j);
    }
    if (!any) return;              /* only flushes and superseded snapshots */

    /* A database deleted, replaced or made read-only under the daemon takes
     * no more commits: they would "succeed" into a file nobody will read. */
    int lost = files_lost(s);
    int64_t t0 = store_mono_us();
    int rc = lost ? SQLITE_IOERR : store_exec(s->w, "BEGIN IMMEDIATE");
    for (store_job *j = list; rc == SQLITE_OK && j; j = j->next)
        if (has_work(j)) rc = job_run(s, j);
    if (rc == SQLITE_OK) rc = store_exec(s->w, "COMMIT");
    batch_time(bs, store_mono_us() - t0);
    if (!lost) note_result(s, rc);
    if (rc == SQLITE_OK) {
        bs->commits++;
        return;
    }
    store_rollback(s->w);
    bs->errors++;

    int failed_before = 0, unavailable = lost;
    for (store_job *j = list; j; j = j->next) {
        if (!has_work(j)) {
            /* A flush reports whether the jobs before it in its batch landed. */
            if (j->kind == JOB_FLUSH && failed_before) j->result = ERR_STORAGE;
            continue;
        }
        if (unavailable) {
            bs->jobs_failed++;
            failed_before = 1;
            j->result = ERR_STORAGE;
            continue;
        }
        t0 = store_mono_us();
        int r = store_exec(s->w, "BEGIN IMMEDIATE");
        unavailable = r != SQLITE_OK;
        if (r == SQLITE_OK) r = job_run(s, j);
        if (r == SQLITE_OK) r = store_exec(s->w, "COMMIT");
        batch_time(bs, store_mono_us() - t0);
        note_result(s, r);
        if (r == SQLITE_OK) {
            bs->commits++;
        } else {
            store_rollback(s->w);
            bs->errors++;
            bs->jobs_failed++;
            failed_before = 1;
            j->result = ERR_STORAGE;
        }
    }
}

int store_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    ((store *)arg)->wal_frames = frames;
    return SQLITE_OK;
}

/* PASSIVE checkpoints, only ever from the write connection (PITFALLS: the
 * WAL-reset bug of 3.40 needs two connections checkpointing/writing). */
static int maybe_checkpoint(store *s, int64_t commits)
{
    s->since_ckpt += (int)commits;
    int due = s->since_ckpt >= CKPT_EVERY_COMMITS ||
              (s->wal_frames >= CKPT_WAL_FRAMES && s->since_ckpt >= CKPT_MIN_COMMITS);
    if (!due) return 0;
    sqlite3_wal_checkpoint_v2(s->w, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    s->since_ckpt = 0;
    return 1;
}

/* Under mu: waits up to LINGER_US for the queue to grow to LINGER_JOBS,
 * unless a queued job has a waiter, or the store stops or is held.  While
 * s->lingering, store_submit signals only for those reasons. */
static void linger(store *s)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);   /* cv_work runs on this clock (store_open) */
    dl.tv_nsec += LINGER_US * 1000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    s->lingering = 1;
    while (!s->stop && !s->hold && !s->wait_queued && s->stats.queue_depth < LINGER_JOBS)
        if (pthread_cond_timedwait(&s->cv_work, &s->mu, &dl) != 0) break;   /* ETIMEDOUT */
    s->lingering = 0;
}

void *store_writer_main(void *arg)
{
    store *s = arg;
    int busy = 0;                 /* the previous batch held STORE_LINGER_BUSY_JOBS jobs or more */
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while ((!s->head || s->hold) && !s->stop) pthread_cond_wait(&s->cv_work, &s->mu);
        if (!s->head) break;      /* stopping and drained */
        if (busy) {
            linger(s);
            busy = 0;
            if (s->hold && !s->stop) continue;
        }
        store_job *list = s->head;
        busy = s->stats.queue_depth >= STORE_LINGER_BUSY_JOBS;
        s->head = s->tail = NULL;
        s->snaps = NULL;          /* taken jobs can no longer be superseded */
        s->stats.queue_depth = 0;
        s->wait_queued = 0;
        pthread_mutex_unlock(&s->mu);

        batch_stats bs = {0};
        batch_run(s, list, &bs);
        int ckpt = maybe_checkpoint(s, bs.commits);

        pthread_mutex_lock(&s->mu);
        s->stats.commits += bs.commits;
        s->stats.errors += bs.errors;
        s->stats.jobs_failed += bs.jobs_failed;
        s->stats.commit_us_total += bs.us_total;
        if (bs.us_max > s->stats.commit_us_max) s->stats.commit_us_max = bs.us_max;
        s->stats.checkpoints += ckpt;
        for (store_job *j = list, *next; j; j = next) {
            next = j->next;       /* a waiter may free j as soon as done is set */
            s->stats.jobs++;
            if (j->wait) j->done = 1;
            else store_job_free(j);
        }
        pthread_cond_broadcast(&s->cv_done);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Drops the queued async snapshot of j->id, if any, from the coalescing
 * list; returns it.  Under mu. */
static store_job *snaps_take(store *s, const char *id)
{
    for (store_job **p = &s->snaps; *p; p = &(*p)->snext) {
        if (strcmp((*p)->id, id) == 0) {
            store_job *k = *p;
            *p = k->snext;
            k->snext = NULL;
            return k;
        }
    }
    return NULL;
}

int store_submit(store *s, store_job *j)
{
    pthread_mutex_lock(&s->mu);
    if (s->stop) {
        pthread_mutex_unlock(&s->mu);
        store_job_free(j);
        return ERR_STORAGE;
    }
    if (j->kind == JOB_SNAPSHOT || j->kind == JOB_CREATE || j->kind == JOB_DELETE) {
        /* An async snapshot still in the queue is superseded by a newer
         * snapshot of the same session: free its buffer now.  The newer job
         * keeps its own place in the queue, so ordering is unchanged. */
        store_job *old = snaps_take(s, j->id);
        if (old && j->kind == JOB_SNAPSHOT) {
            old->skip = 1;
            free(old->blob);
            old->blob = NULL;
            s->stats.coalesced++;
        }
        if (j->kind == JOB_SNAPSHOT && !j->wait) {
            j->snext = s->snaps;
            s->snaps = j;
        }
    }
    j->next = NULL;
    if (s->tail) s->tail->next = j;
    else s->head = j;
    s->tail = j;
    s->stats.queue_depth++;
    s->wait_queued |= j->wait;
    if (!s->lingering || j->wait || s->stats.queue_depth >= LINGER_JOBS) pthread_cond_signal(&s->cv_work);
    int wait = j->wait, rc = 0;
    if (wait) {
        while (!j->done) pthread_cond_wait(&s->cv_done, &s->mu);
        rc = j->result;
    }
    pthread_mutex_unlock(&s->mu);
    if (wait) store_job_free(j);
    return rc;
}

/* ---- synchronous calls, health, stats ----------------------------------------------- */

int store_flush(store *s)
{
    if (!s) return ERR_INVALID_ARGUMENT;
    store_job *j = store_job_new(JOB_FLUSH, NULL);
    if (!j) return ERR_NO_MEMORY;
    j->wait = 1;
    return store_submit(s, j);
}

void store_get_stats(store *s, store_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
}

void store_test_hold(store *s, int hold)
{
    pthread_mutex_lock(&s->mu);
    s->hold = hold != 0 && !s->stop;
    pthread_cond_signal(&s->cv_work);
    pthread_mutex_unlock(&s->mu);
}

/* Runs `sql` on the writer thread in its transaction; waits for the commit. */
static int exec_wait(store *s, const char *sql)
{
    if (!s || !sql) return ERR_INVALID_ARGUMENT;
    store_job *j = store_job_new(JOB_EXEC, NULL);
    if (!j || store_dup_opt(sql, &j->text)) {
        store_job_free(j);
        return ERR_NO_MEMORY;
    }
    j->wait = 1;
    return store_submit(s, j);
}

int store_health(store *s, int writes, const char **reason)
{
    const char *why = NULL;
    if (!s) return ERR_INVALID_ARGUMENT;
    if (store_files_check(&s->files, &why) == 0 && writes && atomic_load(&s->write_fault)) {
        /* The newest write failed: is there room again?  A one-page write
         * (user_version set to what it is) tells, and clears the fault. */
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", store_schema_version());
        exec_wait(s, sql);
        if (atomic_load(&s->write_fault)) why = "storage_write_failed";
    }
    if (reason) *reason = why;
    return why ? ERR_STORAGE : 0;
}

int store_test_exec(store *s, const char *sql)
{
    return exec_wait(s, sql);
}

int store_call(store *s, int (*fn)(sqlite3 *db, void *ctx), void *ctx)
{
    if (!s || !fn) return ERR_INVALID_ARGUMENT;
    store_job *j = store_job_new(JOB_CALL, NULL);
    if (!j) return ERR_NO_MEMORY;
    j->fn = fn;
    j->ctx = ctx;
    j->wait = 1;
    return store_submit(s, j);
}
