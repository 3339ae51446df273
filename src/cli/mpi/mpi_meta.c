/* mpi_meta.c — `optirsd-mpi meta-train`: meta-training with the particles of
 * each outer step spread over MPI ranks.  A binary of its own
 * (build/optirsd-mpi, built only where mpicc is), so that optirsd itself
 * never needs MPI; docs/operations.md, "Meta-training on a cluster".
 *
 * MPI is transport here, as HTTP is in src/server: core's split steps
 * (meta.h, "Split steps") do the work.  Rank 0, the chief, runs the ordinary
 * meta-train (cli_meta_train_on: the database, --resume, the progress line,
 * the weights record) with meta_run's transport hooks; every other rank
 * follows the commands the chief broadcasts:
 *   INIT  the chief's config (as JSON) and job (as a meta-checkpoint: fresh,
 *         from init_weights, or resumed): every rank checks that its own
 *         config file says the same, loads the job, and all report whether
 *         they could (MPI_Allgather of one int);
 *   STEP  rank r evaluates its particle range [P·r/R, P·(r+1)/R), then one
 *         MPI_Iallgatherv of (its status, META_RET_N scalars per particle of
 *         its range) — for TBPTT a second of the range's gradients, ntheta
 *         floats per particle, gathered rank by rank and summed by core in
 *         particle order — and every rank completes the same step
 *         (meta_step_end_split): theta is bit-identical on every rank and for
 *         every R;
 *   SAVE  each rank's particle sections go to the chief (MPI_Igather of the
 *         sizes, MPI_Igatherv of the bytes), which assembles the checkpoint
 *         (meta_save_parts); at checkpoints only;
 *   END   the chief's exit code.
 * Only the chief opens the database.  The config file is read by every rank
 * (a shared file system, or the same file at the same path on every host);
 * with --job ID (the daemon's queued job, started by its --meta-launcher)
 * there is none: the chief reads the job's config from the database and the
 * followers take the one INIT broadcasts.
 *
 * Failures: MPI_ERRORS_RETURN on MPI_COMM_WORLD, so a failed collective comes
 * back as a code: the chief records the job as failed with "MPI_… failed on
 * rank r: …" (its last meta-checkpoint stays: --resume continues it, with any
 * number of ranks), prints it, and ends the job with MPI_Abort (exit status
 * non-zero); a follower prints it and aborts likewise.  The same with
 * --step-timeout S when a rank waits over S seconds in an outer step's
 * exchange, a checkpoint's gather or (a follower, once the job runs) for
 * the next command: a rank stopped or stuck (every collective is
 * non-blocking, tested until done or the deadline).  A rank that dies is
 * the MPI runtime's to notice (it ends every rank).  A rank whose outer step fails (a task,
 * memory) reports it through the gathered status: every rank sees it, the
 * chief records the job as failed and ends the run. */
#include <mpi.h>

#include <cblas.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "errors.h"
#include "meta.h"
#include "meta_spec.h"
#include "tasks.h"

enum { CMD_INIT = 1, CMD_STEP = 2, CMD_SAVE = 3, CMD_END = 4 };

static int g_rank, g_size;
static int g_broken;                /* an MPI call failed: the job ends with MPI_Abort */
static char g_mpi_msg[512];

/* --profile: a barrier before each exchange separates the wait for the
 * slowest rank from the exchange itself; rank 0 sums its own times (s) and
 * the bytes every rank receives, and prints them at the end. */
typedef struct mpi_meta_prof {
    int    on;
    long   steps;
    double eval_s, wait_s, xchg_s, bytes;
} mpi_meta_prof;
static mpi_meta_prof g_prof;

/* --step-timeout S (> 0): the longest a rank waits in an outer step's
 * exchange for the others; 0 = no limit. */
static double g_step_timeout;

/* 0, or ERR_INTERNAL with the failure in msg (and g_mpi_msg). */
static int mpi_check(int mrc, const char *op, char *msg, size_t cap)
{
    if (mrc == MPI_SUCCESS) return 0;
    char es[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(mrc, es, &n) != MPI_SUCCESS) snprintf(es, sizeof es, "error %d", mrc);
    snprintf(g_mpi_msg, sizeof g_mpi_msg,
             "%s failed on rank %d of %d: %s (the job is resumable from its last meta-checkpoint: rerun with "
             "--resume, with any number of ranks)", op, g_rank, g_size, es);
    if (msg && cap) snprintf(msg, cap, "%s", g_mpi_msg);
    g_broken = 1;
    return ERR_INTERNAL;
}

/* A failure after which this rank cannot take part in the next collective
 * (out of memory for its buffers): the job ends with MPI_Abort. */
static int broken(const char *what)
{
    snprintf(g_mpi_msg, sizeof g_mpi_msg, "rank %d of %d: %s (the job is resumable from its last meta-checkpoint: "
             "rerun with --resume)", g_rank, g_size, what);
    g_broken = 1;
    return ERR_NO_MEMORY;
}

/* Completes the non-blocking collective rq, waiting at most --step-timeout
 * seconds when timed (the collectives of outer steps and checkpoints, and a
 * follower's wait for the next command once the job runs; not the start,
 * where loading a large checkpoint may rightly take long): 0, ERR_INTERNAL
 * (MPI failed) or ERR_STEP_TIMEOUT, both ending the job (g_broken).  Tests
 * in a tight loop for the first millisecond, then every 100 µs, so that a
 * waiting rank leaves its core to the others. */
static int wait_all(MPI_Request *rq, const char *op, int timed, char *msg, size_t cap)
{
    double t0 = MPI_Wtime();
    for (;;) {
        int done = 0;
        int rc = mpi_check(MPI_Test(rq, &done, MPI_STATUS_IGNORE), op, msg, cap);
        if (rc || done) return rc;
        double dt = MPI_Wtime() - t0;
        if (timed && g_step_timeout > 0 && dt > g_step_timeout) {
            snprintf(g_mpi_msg, sizeof g_mpi_msg,
                     "%s: rank %d of %d waited %.0f s for the other ranks (--step-timeout %g): a rank is stuck or "
                     "too slow (the job is resumable from its last meta-checkpoint: rerun with --resume)",
                     op, g_rank, g_size, dt, g_step_timeout);
            if (msg && cap) snprintf(msg, cap, "%s", g_mpi_msg);
            g_broken = 1;
            return ERR_STEP_TIMEOUT;
        }
        if (dt > 1e-3) nanosleep(&(struct timespec){0, 100000}, NULL);
    }
}

/* Starts a collective (mrc: the MPI_I… call's result) and completes it. */
static int coll(int mrc, MPI_Request *rq, const char *op, int timed, char *msg, size_t cap)
{
    int rc = mpi_check(mrc, op, msg, cap);
    return rc ? rc : wait_all(rq, op, timed, msg, cap);
}

/* The first particle of rank r's range. */
static int range_lo(int r, int P)
{
    return (int)((long long)P * r / g_size);
}

/* ---- STEP ---------------------------------------------------------------- */

/* One outer step on this rank's range, the scalars (and TBPTT's gradients)
 * exchanged, the step completed.  Every rank calls it for the same step. */
static int split_step(meta_job *j, meta_report *rep, char *msg, size_t cap)
{
    int P = meta_job_nparticles(j), k0 = range_lo(g_rank, P), k1 = range_lo(g_rank + 1, P);
    size_t nt = meta_job_weights(j)->ntheta;
    int tbptt = meta_particle_grad(j, 0) != NULL;
    int *counts = calloc((size_t)g_size, sizeof(int)), *displs = calloc((size_t)g_size, sizeof(int));
    double *send = malloc(((size_t)(k1 - k0) * META_RET_N + 1) * sizeof(double));
    double *recv = malloc(((size_t)P * META_RET_N + (size_t)g_size) * sizeof(double));
    double *ret = malloc((size_t)P * META_RET_N * sizeof(double));
    float *grads = tbptt ? malloc((size_t)P * nt * sizeof(float)) : NULL;
    int rc = counts && displs && send && recv && ret && (!tbptt || grads) ? 0 : broken("out of memory");
    double t0 = MPI_Wtime();
    int status = rc ? rc : meta_step_begin(j);
    for (int k = k0; k < k1 && !status; k++) status = meta_eval_particle(j, k);
    double t1 = MPI_Wtime(), t2 = t1;
    if (!rc && g_prof.on) {
        MPI_Request rq;
        rc = coll(MPI_Ibarrier(MPI_COMM_WORLD, &rq), &rq, "MPI_Ibarrier (--profile)", 1, msg, cap);
        t2 = MPI_Wtime();
    }
    if (status && !rc) fprintf(stderr, "optirsd-mpi: rank %d: outer step failed: %s (%.150s)\n", g_rank,
                                err_message(status), tasks_last_error());
    if (!rc) {
        send[0] = status;
        for (int k = k0; k < k1; k++) {
            double *r = send + 1 + (size_t)(k - k0) * META_RET_N;
            if (status) memset(r, 0, META_RET_N * sizeof(double));
            else meta_particle_returns(j, k, r);
        }
        for (int r = 0, at = 0; r < g_size; r++) {
            counts[r] = 1 + (range_lo(r + 1, P) - range_lo(r, P)) * META_RET_N;
            displs[r] = at;
            at += counts[r];
        }
        const char *op = "MPI_Iallgatherv (the particles' returns)";
        MPI_Request rq;
        rc = coll(MPI_Iallgatherv(send, counts[g_rank], MPI_DOUBLE, recv, counts, displs, MPI_DOUBLE, MPI_COMM_WORLD,
                                  &rq), &rq, op, 1, msg, cap);
        /* every rank receives the whole array (its own part included) */
        g_prof.bytes += (double)g_size * ((double)P * META_RET_N + g_size) * sizeof(double);
    }
    for (int r = 0; r < g_size && !rc; r++) {
        if (recv[displs[r]] != 0) {
            rc = (int)recv[displs[r]];
            snprintf(msg, cap, "outer step failed on rank %d: %s (that rank's log says why)", r, err_message(rc));
        }
        memcpy(ret + (size_t)range_lo(r, P) * META_RET_N, recv + displs[r] + 1, (size_t)(counts[r] - 1) * sizeof(double));
    }
    if (!rc && tbptt) {
        /* counts in floats: P × ntheta fits an int (checked at INIT) */
        for (int k = k0; k < k1; k++) memcpy(grads + (size_t)k * nt, meta_particle_grad(j, k), nt * sizeof(float));
        for (int r = 0; r < g_size; r++) {
            counts[r] = (range_lo(r + 1, P) - range_lo(r, P)) * (int)nt;
            displs[r] = range_lo(r, P) * (int)nt;
        }
        const char *op = "MPI_Iallgatherv (the TBPTT gradients)";
        MPI_Request rq;
        rc = coll(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, grads, counts, displs, MPI_FLOAT, MPI_COMM_WORLD,
                                  &rq), &rq, op, 1, msg, cap);
        g_prof.bytes += (double)g_size * P * nt * sizeof(float);
    }
    double t3 = MPI_Wtime();
    g_prof.steps++;
    g_prof.eval_s += t1 - t0;
    g_prof.wait_s += t2 - t1;
    g_prof.xchg_s += t3 - t2;
    if (!rc) {
        rc = meta_step_end_split(j, k0, k1, ret, grads, rep);
        if (rc) snprintf(msg, cap, "outer step failed: %s", err_message(rc));
    }
    free(counts); free(displs); free(send); free(recv); free(ret); free(grads);
    return rc;
}

/* ---- SAVE ---------------------------------------------------------------- */

/* This rank's particle sections: [u64 length][blob] per particle of its
 * range, in particle order.  0 or an ERR_*. */
static int pack_parts(const meta_job *j, uint8_t **out, size_t *len)
{
    int P = meta_job_nparticles(j), k0 = range_lo(g_rank, P), k1 = range_lo(g_rank + 1, P);
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = 0;
    for (int k = k0; k < k1 && !rc; k++) {
        uint8_t *b = NULL;
        size_t bl = 0;
        rc = meta_particle_save(j, k, &b, &bl);
        uint8_t *nb = rc ? NULL : realloc(buf, n + 8 + bl);
        if (!rc && !nb) rc = ERR_NO_MEMORY;
        if (!rc) {
            buf = nb;
            uint64_t l = bl;
            memcpy(buf + n, &l, 8);
            memcpy(buf + n + 8, b, bl);
            n += 8 + bl;
        }
        free(b);
    }
    if (rc) { free(buf); return rc; }
    *out = buf;
    *len = n;
    return 0;
}

/* The gather of every rank's sections to the chief.  On the chief, *all
 * gets the bytes (rank by rank) and displs/counts where each rank's are;
 * elsewhere nothing.  0 or an ERR_* (the same on every rank after the go). */
static int gather_parts(const meta_job *j, uint8_t **all, int *counts, int *displs, char *msg, size_t cap)
{
    uint8_t *mine = NULL;
    size_t mlen = 0;
    int status = g_rank == 0 ? 0 : pack_parts(j, &mine, &mlen);   /* the chief has its own */
    if (!status && mlen > INT_MAX) status = ERR_OUTPUT_TOO_LARGE;
    long long pair[2] = {status, status ? 0 : (long long)mlen};
    long long *pairs = g_rank == 0 ? malloc((size_t)g_size * sizeof pair) : NULL;
    int go = 0;
    MPI_Request rq;
    int rc = g_rank == 0 && !pairs ? broken("out of memory") : 0;
    if (!rc)
        rc = coll(MPI_Igather(pair, 2, MPI_LONG_LONG, pairs, 2, MPI_LONG_LONG, 0, MPI_COMM_WORLD, &rq), &rq,
                  "MPI_Igather (checkpoint sizes)", 1, msg, cap);
    if (!rc && g_rank == 0) {
        long long total = 0;
        go = 1;
        for (int r = 0; r < g_size; r++) {
            if (pairs[r * 2]) {
                go = 0;
                snprintf(msg, cap, "rank %d cannot save its particles: %s", r, err_message((int)pairs[r * 2]));
            }
            counts[r] = (int)pairs[r * 2 + 1];
            displs[r] = (int)total;
            total += pairs[r * 2 + 1];
            if (total > INT_MAX && go) {
                go = 0;
                snprintf(msg, cap, "the meta-checkpoint is over 2 GiB: too large to gather");
            }
        }
        *all = go ? malloc(total ? (size_t)total : 1) : NULL;
        if (go && !*all) {
            go = 0;
            snprintf(msg, cap, "out of memory for the meta-checkpoint");
            status = ERR_NO_MEMORY;
        }
    }
    if (!rc)
        rc = coll(MPI_Ibcast(&go, 1, MPI_INT, 0, MPI_COMM_WORLD, &rq), &rq, "MPI_Ibcast (checkpoint go)", 1, msg, cap);
    if (!rc && go)
        rc = coll(MPI_Igatherv(mine, (int)mlen, MPI_BYTE, g_rank == 0 ? *all : NULL, counts, displs, MPI_BYTE, 0,
                               MPI_COMM_WORLD, &rq), &rq, "MPI_Igatherv (the particles' checkpoint sections)", 1, msg, cap);
    if (!rc && !go) rc = status ? status : ERR_INTERNAL;
    free(mine);
    free(pairs);
    return rc;
}

/* ---- the chief's hooks ----------------------------------------------------- */

static int bcast_cmd(int cmd, char *msg, size_t cap)
{
    if (cmd == CMD_STEP) g_prof.bytes += (double)(g_size - 1) * sizeof cmd;
    MPI_Request rq;
    return coll(MPI_Ibcast(&cmd, 1, MPI_INT, 0, MPI_COMM_WORLD, &rq), &rq, "MPI_Ibcast (command)", cmd != CMD_INIT,
                msg, cap);
}

/* Broadcasts len bytes from the chief (len itself first). */
static int bcast_bytes(void **data, size_t *len, char *msg, size_t cap)
{
    unsigned long long l = *len;
    int rc = mpi_check(MPI_Bcast(&l, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD), "MPI_Bcast (length)", msg, cap);
    if (rc) return rc;
    if (l > INT_MAX) {
        if (msg && cap) snprintf(msg, cap, "a broadcast of %llu bytes is over 2 GiB", l);
        return ERR_OUTPUT_TOO_LARGE;
    }
    if (g_rank != 0) {
        *data = malloc(l ? (size_t)l : 1);
        if (!*data) return broken("out of memory");
        *len = (size_t)l;
    }
    return mpi_check(MPI_Bcast(*data, (int)l, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast (bytes)", msg, cap);
}

typedef struct chief_ctx { const char *config_json; char *from_job; } chief_ctx;

/* --job ID: the config is the daemon's job row's, known once the chief has
 * read it (cli_transport.spec); the followers take it from the chief. */
static void chief_spec(void *tctx, const char *config_json)
{
    chief_ctx *c = tctx;
    if (c->config_json[0] || c->from_job) return;
    c->from_job = strdup(config_json);
    if (c->from_job) c->config_json = c->from_job;
}

static const char *const join_error[] = {
    "joined", "cannot read or check its config file", "its config file differs from rank 0's",
    "cannot create or load the job", "the job is too large for one exchange",
};

/* Every rank's INIT status gathered; 0, or ERR_INVALID_ARGUMENT with the
 * first failing rank's reason in msg. */
static int gather_join(int status, char *msg, size_t cap)
{
    int *st = malloc((size_t)g_size * sizeof(int));
    if (!st) return ERR_NO_MEMORY;
    int rc = mpi_check(MPI_Allgather(&status, 1, MPI_INT, st, 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather (join)",
                       msg, cap);
    for (int r = 0; r < g_size && !rc; r++)
        if (st[r]) {
            int s = st[r] > 0 && st[r] < (int)(sizeof join_error / sizeof *join_error) ? st[r] : 3;
            if (msg && cap) snprintf(msg, cap, "rank %d: %s", r, join_error[s]);
            rc = ERR_INVALID_ARGUMENT;
        }
    free(st);
    return rc;
}

/* P × ntheta floats must fit one exchange (TBPTT's gradients). */
static int exchange_fits(const meta_job *j)
{
    return (unsigned long long)meta_job_nparticles(j) * meta_job_weights(j)->ntheta <= INT_MAX;
}

static int chief_begin(void *tctx, meta_job *j, char *msg, size_t cap)
{
    chief_ctx *c = tctx;
    uint8_t *ck = NULL;
    size_t ckl = 0;
    int rc = bcast_cmd(CMD_INIT, msg, cap);
    void *cj = (void *)c->config_json;
    size_t cjl = strlen(c->config_json) + 1;
    if (!rc) rc = bcast_bytes(&cj, &cjl, msg, cap);
    int status = meta_save(j, &ck, &ckl) ? 3 : exchange_fits(j) ? 0 : 4;
    if (!rc) {
        void *p = ck;
        size_t l = status ? 0 : ckl;
        rc = bcast_bytes(&p, &l, msg, cap);
    }
    free(ck);
    if (!rc) rc = gather_join(status, msg, cap);
    return rc;
}

static int chief_step(void *tctx, meta_job *j, meta_report *rep, char *msg, size_t cap)
{
    (void)tctx;
    int rc = bcast_cmd(CMD_STEP, msg, cap);
    return rc ? rc : split_step(j, rep, msg, cap);
}

static int chief_save(void *tctx, const meta_job *j, uint8_t **out, size_t *out_len, char *msg, size_t cap)
{
    (void)tctx;
    int P = meta_job_nparticles(j);
    int *counts = calloc((size_t)g_size, sizeof(int)), *displs = calloc((size_t)g_size, sizeof(int));
    const uint8_t **parts = calloc((size_t)P, sizeof *parts);
    size_t *lens = calloc((size_t)P, sizeof *lens);
    uint8_t *all = NULL;
    int rc = counts && displs && parts && lens ? bcast_cmd(CMD_SAVE, msg, cap) : ERR_NO_MEMORY;
    if (!rc) rc = gather_parts(j, &all, counts, displs, msg, cap);
    for (int r = 1; r < g_size && !rc; r++) {
        const uint8_t *p = all + displs[r], *end = p + counts[r];
        for (int k = range_lo(r, P); k < range_lo(r + 1, P) && !rc; k++) {
            uint64_t l;
            if (end - p < 8) { rc = ERR_CORRUPT; break; }
            memcpy(&l, p, 8);
            if (l > (uint64_t)(end - p - 8)) { rc = ERR_CORRUPT; break; }
            parts[k] = p + 8;
            lens[k] = (size_t)l;
            p += 8 + l;
        }
        if (!rc && p != end) rc = ERR_CORRUPT;
        if (rc && msg && cap) snprintf(msg, cap, "rank %d's particle sections are damaged", r);
    }
    if (!rc) rc = meta_save_parts(j, parts, lens, out, out_len);
    free(all); free(counts); free(displs); free(parts); free(lens);
    return rc;
}

/* ---- the followers ----------------------------------------------------------- */

/* The spec of this rank's --config (the same argv as the chief's). */
static int follower_spec(int argc, char **argv, meta_spec *sp, char **json)
{
    const char *file = NULL;
    int job = 0;
    for (int i = 0; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) file = argv[i + 1];
        if (strcmp(argv[i], "--job") == 0) job = 1;
    }
    char msg[400];
    meta_spec_defaults(sp);
    if (job && !file) {
        *json = NULL;   /* the daemon's job: the chief's config is the one */
        return 0;
    }
    int rc = file ? meta_spec_load_file(sp, file, msg, sizeof msg) : ERR_MISSING_FIELD;
    if (!rc) rc = meta_spec_check(sp, msg, sizeof msg);
    if (rc) {
        fprintf(stderr, "optirsd-mpi: rank %d: %s\n", g_rank, file ? msg : "no --config");
        return rc;
    }
    cJSON *cj = meta_spec_to_json(sp);
    *json = cj ? cJSON_PrintUnformatted(cj) : NULL;
    cJSON_Delete(cj);
    return *json ? 0 : ERR_NO_MEMORY;
}

static int follower_init(meta_spec *sp, int spec_rc, const char *json, meta_job **job, char *msg, size_t cap)
{
    void *cj = NULL, *ck = NULL;
    size_t cjl = 0, ckl = 0;
    int rc = bcast_bytes(&cj, &cjl, msg, cap);
    if (!rc) rc = bcast_bytes(&ck, &ckl, msg, cap);
    if (g_broken) {
        free(cj);
        return ERR_INTERNAL;
    }
    int status = spec_rc ? 1 : 0;
    if (!status && (cjl == 0 || ((char *)cj)[cjl - 1] != '\0')) status = 2;
    if (!status && !json) {
        /* --job: the chief's config (it read the daemon's row) */
        cJSON *o = cJSON_Parse(cj);
        char why[400];
        meta_spec_defaults(sp);
        if (!o || meta_spec_from_json(sp, o, why, sizeof why) || meta_spec_check(sp, why, sizeof why)) status = 1;
        cJSON_Delete(o);
    } else if (!status && strcmp(cj, json) != 0) status = 2;
    if (!status) {
        meta_job_free(*job);
        *job = NULL;
        if (ckl == 0 || meta_job_new(&sp->mc, NULL, job) || meta_load(*job, ck, ckl)) status = 3;
    }
    free(cj);
    free(ck);
    return gather_join(status, msg, cap);
}

static int follower_save(const meta_job *j, char *msg, size_t cap)
{
    return gather_parts(j, NULL, NULL, NULL, msg, cap);
}

/* Follows the chief until END (its exit code) or a broken transport. */
static int follow(int argc, char **argv)
{
    meta_spec sp;
    char *json = NULL, msg[600] = "";
    int spec_rc = follower_spec(argc, argv, &sp, &json);
    meta_job *j = NULL;
    int code = 1;
    for (;;) {
        int cmd = 0;
        MPI_Request rq;
        if (coll(MPI_Ibcast(&cmd, 1, MPI_INT, 0, MPI_COMM_WORLD, &rq), &rq, "MPI_Ibcast (command)", j != NULL, msg,
                 sizeof msg))
            break;
        int rc = 0;
        if (cmd == CMD_INIT) rc = follower_init(&sp, spec_rc, json, &j, msg, sizeof msg);
        else if (cmd == CMD_STEP && j) {
            meta_report rep;
            rc = split_step(j, &rep, msg, sizeof msg);
        } else if (cmd == CMD_SAVE && j) rc = follower_save(j, msg, sizeof msg);
        else if (cmd == CMD_END) {
            if (!mpi_check(MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast (exit code)", msg, sizeof msg))
                break;
        } else {
            snprintf(g_mpi_msg, sizeof g_mpi_msg, "rank %d: unexpected command %d from rank 0", g_rank, cmd);
            g_broken = 1;
        }
        (void)rc;   /* every rank sees a step's or a save's failure; the chief records it */
        if (g_broken) break;
    }
    meta_job_free(j);
    free(json);
    return code;
}

/* ---- main ------------------------------------------------------------------ */

static int usage(void)
{
    fprintf(stderr, "usage: mpirun -np R optirsd-mpi meta-train --config FILE [--db PATH] [--resume] [--out FILE]\n"
                    "                                              [--stop-after N] [--profile] [--step-timeout S]\n"
                    "       mpirun -np R optirsd-mpi meta-train --job ID --db PATH [...]  (the daemon's queued\n"
                    "  job ID, as its --meta-launcher starts it: rank 0 reads its config from the database)\n"
                    "  the particles of each outer step are split over the R ranks (one thread each: no\n"
                    "  --threads); rank 0 writes the database; every rank reads FILE (docs/operations.md,\n"
                    "  \"Meta-training on a cluster\").  --profile: a barrier before each exchange, and the\n"
                    "  time per outer step in evaluation, waiting and exchange printed at the end.\n"
                    "  --step-timeout S: a rank that waits over S seconds (0 < S <= 1e6) for the others in\n"
                    "  an outer step's exchange ends the job (resumable); default: no limit.\n");
    return 2;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
    openblas_set_num_threads(1);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fprintf(stderr, "optirsd-mpi: MPI_Init failed\n");
        return 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    int code;
    /* --profile is this driver's; --threads would mean nothing (one thread per rank) */
    int bad = argc < 2 || strcmp(argv[1], "meta-train") != 0, n = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0) bad = 1;
        if (strcmp(argv[i], "--profile") == 0) g_prof.on = 1;
        else if (strcmp(argv[i], "--step-timeout") == 0) {
            char *end = NULL;
            g_step_timeout = i + 1 < argc ? strtod(argv[i + 1], &end) : -1;
            if (!end || end == argv[i + 1] || *end || !(g_step_timeout > 0 && g_step_timeout <= 1e6)) bad = 1;
            i++;
        } else argv[n++] = argv[i];
    }
    argc = n;
    if (bad) {
        code = g_rank == 0 ? usage() : 2;   /* every rank sees the same argv */
        MPI_Finalize();
        return code;
    }
    if (g_rank != 0) {
        code = follow(argc - 2, argv + 2);
    } else {
        meta_spec sp;
        char msg[400], *json = NULL;
        meta_spec_defaults(&sp);
        chief_ctx c = {NULL, NULL};
        /* the config as the followers will check it (their own file, same JSON) */
        const char *file = NULL;
        for (int i = 2; i + 1 < argc; i++)
            if (strcmp(argv[i], "--config") == 0) file = argv[i + 1];
        if (file && !meta_spec_load_file(&sp, file, msg, sizeof msg) && !meta_spec_check(&sp, msg, sizeof msg)) {
            cJSON *cj = meta_spec_to_json(&sp);
            json = cj ? cJSON_PrintUnformatted(cj) : NULL;
            cJSON_Delete(cj);
        }
        c.config_json = json ? json : "";
        cli_transport tr = {chief_begin, chief_step, chief_save, &c, g_size, chief_spec};
        code = cli_meta_train_on(argc - 2, argv + 2, &tr);
        free(json);
        free(c.from_job);
        if (g_prof.on && g_prof.steps > 0)
            printf("profile (rank 0, %d ranks, %ld outer steps): per outer step evaluation %.3f ms, waiting for the "
                   "slowest rank %.3f ms, exchange %.3f ms; %.0f bytes received over all ranks per outer step\n",
                   g_size, g_prof.steps, 1e3 * g_prof.eval_s / g_prof.steps, 1e3 * g_prof.wait_s / g_prof.steps,
                   1e3 * g_prof.xchg_s / g_prof.steps, g_prof.bytes / g_prof.steps);
        char m2[64];
        if (!g_broken && !bcast_cmd(CMD_END, m2, sizeof m2))
            mpi_check(MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast (exit code)", m2, sizeof m2);
    }
    if (g_broken) {
        fprintf(stderr, "optirsd-mpi: ending the job (MPI_Abort): %s\n", g_mpi_msg);
        MPI_Abort(MPI_COMM_WORLD, 3);
        return 3;
    }
    MPI_Finalize();
    return code;
}
