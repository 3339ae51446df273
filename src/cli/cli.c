/* cli.c — `optirsd meta-train` (foreground meta-training with a progress
 * line per outer step, meta-checkpoints in SQLite, --resume) and the
 * helpers the subcommands share; `optirsd eval` is cli_eval.c.  See cli.h.
 * Drives the service layer (the meta-training spec, run and weights
 * registry) and the store directly; of the server it uses only the
 * configuration table (the default --db). */
#include "cli.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "errors.h"
#include "lopt.h"
#include "meta_run.h"
#include "meta_spec.h"
#include "meta_weights.h"
#include "store.h"

const char *cli_db_path(const char *flag, config *cfg)
{
    if (flag) return flag;
    if (config_load(cfg, 0, NULL) != 0) return "data/optirs.db";
    return cfg->db;
}

int cli_parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* ---- meta-train ---------------------------------------------------------- */

static _Atomic int train_cancel;

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&train_cancel, 1);
}

/* total: the job's outer steps; stop_after > 0: interrupt (with a
 * checkpoint) after that many outer steps of this run. */
typedef struct progress_ctx { int64_t total, done, stop_after; store *db; const char *job; } progress_ctx;

static int status_cb(void *ctx, const store_meta_job_row *j)
{
    snprintf(ctx, 16, "%s", j->status);
    return 1;
}

/* "1h02m", "3m07s", "42s", "2.5s", "0s", or "-" when not measurable. */
static void duration_text(double s, char *out, size_t cap)
{
    if (!isfinite(s) || s < 0) snprintf(out, cap, "-");
    else if (s >= 3600 * 24 * 999.0) snprintf(out, cap, ">999d");
    else if (s >= 3600) snprintf(out, cap, "%lldh%02lldm", (long long)(s / 3600), (long long)fmod(s / 60, 60));
    else if (s >= 60) snprintf(out, cap, "%lldm%02llds", (long long)(s / 60), (long long)fmod(s, 60));
    else if (s >= 10 || s == 0) snprintf(out, cap, "%.0fs", s);
    else snprintf(out, cap, "%.1fs", s);
}

static void print_stage(void *ctx, const char *line)
{
    (void)ctx;
    printf("%s\n", line);
    fflush(stdout);
}

static void print_progress(void *ctx, const meta_report *rep, double wall_s)
{
    progress_ctx *c = ctx;
    double rate, eta;
    meta_run_pace(rep->step, c->total, wall_s, &rate, &eta);
    char rtext[32], etext[32];
    if (isfinite(rate)) snprintf(rtext, sizeof rtext, rate >= 100 ? "%.0f steps/s" : "%.3g steps/s", rate);
    else snprintf(rtext, sizeof rtext, "- steps/s");
    duration_text(eta, etext, sizeof etext);
    printf("step %lld/%lld  meta-loss %.6f  grad-norm %.4g%s  failed-paths %d  elapsed %.1fs  %s  ETA %s\n",
           (long long)rep->step, (long long)c->total, rep->meta_loss, rep->grad_norm, rep->clipped ? " (clipped)" : "",
           rep->failed_paths, wall_s, rtext, etext);
    fflush(stdout);
    if (c->stop_after > 0 && ++c->done >= c->stop_after) atomic_store(&train_cancel, 2);
    /* --job: the row is the run's lease — a daemon that restarted meanwhile
     * has marked it "interrupted" (or anything but "running"): stop */
    char st[16] = "";
    if (c->job && store_meta_job_get(c->db, c->job, 0, status_cb, st) == 0 && strcmp(st, "running") != 0) {
        printf("job %s is %s in the database: stopping\n", c->job, st);
        atomic_store(&train_cancel, 2);
    }
}

typedef struct resume_ctx {
    char id[40];
    void *ckpt;
    size_t ckpt_len;
    int64_t step;
    double wall_s;
} resume_ctx;

static int resume_cb(void *ctx, const store_meta_job_row *j)
{
    resume_ctx *r = ctx;
    snprintf(r->id, sizeof r->id, "%s", j->id);
    r->step = j->step;
    r->wall_s = isfinite(j->wall_s) ? j->wall_s : 0;
    if (j->checkpoint && j->checkpoint_len) {
        r->ckpt = malloc(j->checkpoint_len);
        if (r->ckpt) {
            memcpy(r->ckpt, j->checkpoint, j->checkpoint_len);
            r->ckpt_len = j->checkpoint_len;
        }
    }
    return 1;
}

/* The daemon's queued job: its status and its config (malloc'd). */
typedef struct job_ctx { char status[16]; char *config_json; } job_ctx;

static int job_cb(void *ctx, const store_meta_job_row *j)
{
    job_ctx *c = ctx;
    snprintf(c->status, sizeof c->status, "%s", j->status);
    c->config_json = j->config_json ? strdup(j->config_json) : NULL;
    return 1;
}

/* --job ID: sp from the row of job `id`, which must be "queued" (the daemon
 * inserted it and nothing runs it yet).  0 or an ERR_* with msg. */
static int spec_from_job(store *db, const char *id, meta_spec *sp, char *msg, size_t cap)
{
    job_ctx c = {"", NULL};
    int rc = store_meta_job_get(db, id, 0, job_cb, &c);
    if (rc == ERR_NOT_FOUND) snprintf(msg, cap, "no meta-training job %.40s in this database", id);
    else if (rc) snprintf(msg, cap, "cannot read job %.40s (%s)", id, err_message(rc));
    else if (strcmp(c.status, "queued") != 0) {
        snprintf(msg, cap, "job %.40s is %s, not queued: only a queued job can be run", id, c.status);
        rc = ERR_INVALID_ARGUMENT;
    }
    cJSON *cj = rc ? NULL : cJSON_Parse(c.config_json ? c.config_json : "");
    if (!rc && !cj) {
        snprintf(msg, cap, "job %.40s has no readable configuration", id);
        rc = ERR_CORRUPT;
    }
    if (!rc) rc = meta_spec_from_json(sp, cj, msg, cap);
    cJSON_Delete(cj);
    free(c.config_json);
    return rc;
}

static int train_usage(void)
{
    fprintf(stderr, "usage: optirsd meta-train --config FILE [--db PATH] [--threads N] [--resume] [--out FILE]\n"
                    "                          [--stop-after N]\n"
                    "       optirsd meta-train --job ID [--db PATH] [--threads N] [--out FILE] [--stop-after N]\n"
                    "  FILE holds `key = value` lines; deploy/meta/README.md documents the keys.\n"
                    "  --job ID: run the daemon's queued job ID (its row in the database says what to\n"
                    "  run; the daemon's --meta-launcher starts it so, docs/operations.md).\n"
                    "  --stop-after N: stop after N outer steps of this run with a meta-checkpoint\n"
                    "  (rerun with --resume to continue; e.g. a batch scheduler's time slice).\n");
    return 2;
}

int cli_meta_train(int argc, char **argv)
{
    return cli_meta_train_on(argc, argv, NULL);
}

int cli_meta_train_on(int argc, char **argv, const cli_transport *tr)
{
    const char *cfg_file = NULL, *db_flag = NULL, *out = NULL, *job = NULL;
    long threads = -1, stop_after = 0;
    int resume = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) cfg_file = argv[++i];
        else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) db_flag = argv[++i];
        else if (strcmp(argv[i], "--job") == 0 && i + 1 < argc) job = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) out = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (cli_parse_int(argv[++i], 0, 256, &threads)) return train_usage();
        } else if (strcmp(argv[i], "--stop-after") == 0 && i + 1 < argc) {
            if (cli_parse_int(argv[++i], 1, META_MAX_OUTER_STEPS, &stop_after)) return train_usage();
        } else if (strcmp(argv[i], "--resume") == 0) resume = 1;
        else return train_usage();
    }
    if (!cfg_file == !job || (job && resume)) return train_usage();   /* --config or --job */
    meta_spec sp;
    meta_spec_defaults(&sp);
    char msg[400];
    int rc = cfg_file ? meta_spec_load_file(&sp, cfg_file, msg, sizeof msg) : 0;
    if (rc) {
        fprintf(stderr, "optirsd meta-train: %s\n", msg);
        return 1;
    }
    config cfg;
    const char *db_file = cli_db_path(db_flag, &cfg);
    store *db;
    if (store_open(db_file, &db) != 0) {
        fprintf(stderr, "optirsd meta-train: cannot open %s\n", db_file);
        return 1;
    }
    if (job) rc = spec_from_job(db, job, &sp, msg, sizeof msg);
    if (!rc && threads >= 0) sp.threads = (int)threads;
    if (!rc) rc = meta_spec_check(&sp, msg, sizeof msg);
    if (rc) {
        fprintf(stderr, "optirsd meta-train: %s\n", msg);
        store_close(db);
        return 1;
    }
    int loaded = meta_weights_bootstrap(db);
    if (loaded < 0) fprintf(stderr, "optirsd meta-train: cannot load the weights records (%s)\n", err_message(loaded));
    cJSON *cj = meta_spec_to_json(&sp);
    char *cfg_json = cj ? cJSON_PrintUnformatted(cj) : NULL;
    cJSON_Delete(cj);
    if (!cfg_json) {
        store_close(db);
        return 1;
    }
    resume_ctx r = {0};
    int resumed = 0;
    if (resume) {
        rc = store_meta_job_find_resumable(db, sp.name, cfg_json, resume_cb, &r);
        if (rc == 0) resumed = 1;
        else if (rc == ERR_NOT_FOUND) printf("nothing to resume for \"%s\" with this configuration: starting afresh\n", sp.name);
        else fprintf(stderr, "optirsd meta-train: cannot read the jobs (%s)\n", err_message(rc));
        if (resumed && !r.ckpt) {
            /* Interrupted before its first checkpoint: start over under the same id. */
            r.step = 0;
            r.wall_s = 0;
        }
    }
    if (job) snprintf(r.id, sizeof r.id, "%s", job);   /* the daemon's row, "queued" */
    else if (!resumed) {
        unsigned char b[6] = {0};
        if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) memset(b, 0x5a, sizeof b);
        snprintf(r.id, sizeof r.id, "cli-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
        store_meta_job_row row = {.id = r.id, .name = sp.name, .source = "cli", .status = "running",
                                  .config_json = cfg_json, .outer_steps = sp.outer_steps};
        rc = store_meta_job_insert(db, &row);
        if (rc) {
            fprintf(stderr, "optirsd meta-train: cannot record the job in %s\n", db_file);
            free(cfg_json);
            store_close(db);
            return 1;
        }
    }
    if (tr && tr->spec) tr->spec(tr->tctx, cfg_json);
    free(cfg_json);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int nthreads = sp.threads > 0 ? sp.threads : (int)(cores > 0 ? cores : 1);
    size_t ntheta = lopt_theta_count(lopt_arch_from_name(sp.mc.optimizer), sp.mc.hidden, sp.mc.depth);
    if (sp.mc.film) ntheta += lopt_film_count(sp.mc.hidden);   /* the FiLM rows */
    static const char *const est[] = {"es", "pes", "tbptt"};
    printf("meta-train job %s%s: %s %dx%d (%zu meta-parameters), %s, %d particles, unroll %d, %lld outer steps, "
           "%d %s, db %s\n",
           r.id, resumed ? " (resumed)" : "", sp.mc.optimizer, sp.mc.hidden, sp.mc.depth, ntheta, est[sp.mc.estimator],
           sp.mc.nparticles, sp.mc.unroll, (long long)sp.outer_steps, tr ? tr->nprocs : nthreads,
           tr ? "processes" : "threads", db_file);
    for (int i = 0; i < sp.mc.ntasks; i++) printf("  task %d: %s\n", i, sp.task_text[i]);
    if (resumed) printf("resuming at outer step %lld (%.1fs spent)\n", (long long)(r.ckpt ? r.step : 0), r.wall_s);
    fflush(stdout);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    progress_ctx pc = {sp.outer_steps, 0, stop_after, db, job};
    meta_run_io io = {.cancel = &train_cancel, .progress = print_progress, .ctx = &pc, .out_path = out,
                     .stage_end = print_stage};
    if (tr) {
        io.begin = tr->begin;
        io.step = tr->step;
        io.save = tr->save;
        io.tctx = tr->tctx;
    }
    int64_t version = 0;
    rc = meta_run(db, r.id, &sp, r.ckpt, r.ckpt_len, r.wall_s, &io, &version, msg, sizeof msg);
    free(r.ckpt);
    int code = 0;
    if (rc < 0) {
        fprintf(stderr, "optirsd meta-train: %s\n", msg);
        code = 1;
    } else if (rc == 1) {
        printf("stopped; the meta-checkpoint is in %s: rerun with --resume to continue\n", db_file);
        code = 1;
    } else {
        printf("stored weights %s@%lld in %s%s%s\n", sp.name, (long long)version, db_file, out ? "; blob written to " : "",
               out ? out : "");
    }
    store_close(db);
    return code;
}
