/* cli.c — `optirsd meta-train` (foreground meta-training with a progress
 * line per outer step, meta-checkpoints in SQLite, --resume) and `optirsd
 * eval` (a learned optimizer's final losses next to lr-tuned Adam and
 * Adam@1e-3 on a task suite).  See cli.h.  Drives the service layer (the
 * meta-training spec, run and weights registry) and the store directly; of
 * the server it uses only the configuration table (the default --db). */
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
#include "evalsuite.h"
#include "lopt.h"
#include "meta_run.h"
#include "meta_spec.h"
#include "meta_weights.h"
#include "store.h"

/* The database path: --db, else OPTIRS_DB / the daemon's default. */
static const char *db_path(const char *flag, config *cfg)
{
    if (flag) return flag;
    if (config_load(cfg, 0, NULL) != 0) return "data/optirs.db";
    return cfg->db;
}

static int parse_pos_int(const char *s, long lo, long hi, long *out)
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

typedef struct progress_ctx { int64_t total; } progress_ctx;

static void print_progress(void *ctx, const meta_report *rep, double wall_s)
{
    progress_ctx *c = ctx;
    printf("step %lld/%lld  meta-loss %.6f  grad-norm %.4g%s  failed-paths %d  elapsed %.1fs\n",
           (long long)rep->step, (long long)c->total, rep->meta_loss, rep->grad_norm, rep->clipped ? " (clipped)" : "",
           rep->failed_paths, wall_s);
    fflush(stdout);
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

static int train_usage(void)
{
    fprintf(stderr, "usage: optirsd meta-train --config FILE [--db PATH] [--threads N] [--resume] [--out FILE]\n"
                    "  FILE holds `key = value` lines; deploy/meta/README.md documents the keys.\n");
    return 2;
}

int cli_meta_train(int argc, char **argv)
{
    const char *cfg_file = NULL, *db_flag = NULL, *out = NULL;
    long threads = -1;
    int resume = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) cfg_file = argv[++i];
        else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) db_flag = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) out = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (parse_pos_int(argv[++i], 0, 256, &threads)) return train_usage();
        } else if (strcmp(argv[i], "--resume") == 0) resume = 1;
        else return train_usage();
    }
    if (!cfg_file) return train_usage();
    meta_spec sp;
    meta_spec_defaults(&sp);
    char msg[400];
    int rc = meta_spec_load_file(&sp, cfg_file, msg, sizeof msg);
    if (!rc && threads >= 0) sp.threads = (int)threads;
    if (!rc) rc = meta_spec_check(&sp, msg, sizeof msg);
    if (rc) {
        fprintf(stderr, "optirsd meta-train: %s\n", msg);
        return 1;
    }
    config cfg;
    const char *db_file = db_path(db_flag, &cfg);
    store *db;
    if (store_open(db_file, &db) != 0) {
        fprintf(stderr, "optirsd meta-train: cannot open %s\n", db_file);
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
    if (!resumed) {
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
    free(cfg_json);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int nthreads = sp.threads > 0 ? sp.threads : (int)(cores > 0 ? cores : 1);
    size_t ntheta = lopt_theta_count(lopt_arch_from_name(sp.mc.optimizer), sp.mc.hidden, sp.mc.depth);
    static const char *const est[] = {"es", "pes", "tbptt"};
    printf("meta-train job %s%s: %s %dx%d (%zu meta-parameters), %s, %d particles, unroll %d, %lld outer steps, "
           "%d threads, db %s\n",
           r.id, resumed ? " (resumed)" : "", sp.mc.optimizer, sp.mc.hidden, sp.mc.depth, ntheta, est[sp.mc.estimator],
           sp.mc.nparticles, sp.mc.unroll, (long long)sp.outer_steps, nthreads, db_file);
    for (int i = 0; i < sp.mc.ntasks; i++) printf("  task %d: %s\n", i, sp.task_text[i]);
    if (resumed) printf("resuming at outer step %lld (%.1fs spent)\n", (long long)(r.ckpt ? r.step : 0), r.wall_s);
    fflush(stdout);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    progress_ctx pc = {sp.outer_steps};
    meta_run_io io = {.cancel = &train_cancel, .progress = print_progress, .ctx = &pc, .out_path = out};
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

/* ---- eval ------------------------------------------------------------------ */

typedef struct suite_task {
    char           text[META_TASK_TEXT];
    meta_task_spec t;
} suite_task;

/* Families and sizes that the shipped weights never saw in meta-training
 * (the configs in deploy/meta/: quadratics and logistic regression at dim=10 and
 * Fashion-MNIST MLPs of other widths, depths, activations and batch sizes). */
static const char *const validation_suite[] = {
    "rosenbrock dim=2",
    "rosenbrock dim=8",
    "styblinski_tang dim=10",
    "noisy_quadratic dim=100",
    "logistic_regression dim=40 batch=64",
    "softmax_regression",
    "softmax_regression dim=50 classes=10 batch=64",
    "fmnist_mlp width=32 batch=128",
    "fmnist_mlp width=64 activation=tanh batch=64",
    "quadratic dim=30",
};

/* One unit of work: an optimizer config on a task at a horizon. */
typedef struct eval_job {
    int            task, h;
    int            kind;            /* 0 = the LO, 1 + i = Adam at grid lr i */
    eval_result    res;
    int            rc;
} eval_job;

typedef struct eval_plan {
    suite_task   *tasks;
    int           ntasks;
    const int64_t *horizons;
    int           nh;
    const uint64_t *seeds;
    int           nseeds;
    const char   *optimizer, *weights;
    double        lo_lr;            /* the learned optimizer's lr; 0 = its default */
    eval_job     *jobs;
    int           njobs;
    _Atomic int   next;
} eval_plan;

static void *eval_worker(void *p)
{
    eval_plan *pl = p;
    for (;;) {
        int i = atomic_fetch_add(&pl->next, 1);
        if (i >= pl->njobs) break;
        eval_job *j = &pl->jobs[i];
        opt_config oc;
        int rc;
        if (j->kind == 0) {
            rc = opt_config_defaults(&oc, pl->optimizer);
            oc.weights = pl->weights;
            if (!rc && pl->lo_lr > 0) rc = opt_config_set(&oc, "lr", pl->lo_lr);
        } else {
            rc = opt_config_defaults(&oc, "adam");
            if (!rc) rc = opt_config_set(&oc, "lr", eval_grid_lr(j->kind - 1));
        }
        if (!rc)
            rc = eval_run(&oc, pl->tasks[j->task].t.family, &pl->tasks[j->task].t.params, pl->horizons[j->h],
                          pl->seeds, pl->nseeds, &j->res);
        j->rc = rc;
    }
    return NULL;
}

typedef struct wrow_ctx {
    char arch[32];
    int64_t version;
    cJSON *prov, *evaluation;
} wrow_ctx;

static int wrow_cb(void *ctx, const store_weights_row *w)
{
    wrow_ctx *c = ctx;
    snprintf(c->arch, sizeof c->arch, "%s", w->arch);
    c->version = w->version;
    c->prov = cJSON_Parse(w->provenance_json);
    c->evaluation = cJSON_Parse(w->eval_json);
    meta_weights_publish(w);
    return 1;
}

static int eval_usage(void)
{
    fprintf(stderr, "usage: optirsd eval --weights NAME[@VERSION] --suite train|validation [--db PATH]\n"
                    "                    [--horizons 1000,5000] [--seeds 5] [--threads N] [--lr X]\n"
                    "  train: the distinct tasks the weights were meta-trained on (from their provenance);\n"
                    "  validation: families and sizes never seen in meta-training;\n"
                    "  --lr: the learned optimizer's lr in (0, 10] (its step scales with lr / 1e-3);\n"
                    "        figures at a non-default lr are printed, not recorded.\n");
    return 2;
}

static const char *fmt_loss(double v, char *buf, size_t cap)
{
    if (!isfinite(v)) snprintf(buf, cap, "non-finite");
    else snprintf(buf, cap, "%.4e", v);
    return buf;
}

int cli_eval(int argc, char **argv)
{
    const char *wref = NULL, *suite = NULL, *db_flag = NULL, *hs = "1000,5000";
    long nseeds = 5, threads = 0;
    double lo_lr = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--weights") == 0 && i + 1 < argc) wref = argv[++i];
        else if (strcmp(argv[i], "--suite") == 0 && i + 1 < argc) suite = argv[++i];
        else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) db_flag = argv[++i];
        else if (strcmp(argv[i], "--horizons") == 0 && i + 1 < argc) hs = argv[++i];
        else if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            if (parse_pos_int(argv[++i], 1, EVAL_MAX_SEEDS, &nseeds)) return eval_usage();
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (parse_pos_int(argv[++i], 0, 256, &threads)) return eval_usage();
        } else if (strcmp(argv[i], "--lr") == 0 && i + 1 < argc) {
            char *end;
            lo_lr = strtod(argv[++i], &end);
            if (end == argv[i] || *end || !(lo_lr > 0 && lo_lr <= 10)) return eval_usage();
        } else return eval_usage();
    }
    if (!wref || !suite || (strcmp(suite, "train") != 0 && strcmp(suite, "validation") != 0)) return eval_usage();
    int64_t horizons[8];
    int nh = 0;
    {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", hs);
        char *save = NULL;
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            long v;
            if (nh == 8 || parse_pos_int(t, 1, 10000000, &v)) return eval_usage();
            horizons[nh++] = v;
        }
        if (!nh) return eval_usage();
    }
    char name[META_WNAME_MAX];
    int64_t version;
    if (meta_weights_parse_ref(wref, name, sizeof name, &version)) {
        fprintf(stderr, "optirsd eval: \"%s\" is not NAME or NAME@VERSION\n", wref);
        return 2;
    }
    config cfg;
    const char *db_file = db_path(db_flag, &cfg);
    store *db;
    if (store_open(db_file, &db) != 0) {
        fprintf(stderr, "optirsd eval: cannot open %s\n", db_file);
        return 1;
    }
    int code = 1;
    wrow_ctx wc = {0};
    suite_task *tasks = NULL;
    eval_job *jobs = NULL;
    int rc = meta_weights_bootstrap(db);
    if (rc >= 0) rc = store_weights_get(db, name, version, 1, wrow_cb, &wc);
    if (rc) {
        fprintf(stderr, "optirsd eval: no weights record %s in %s\n", wref, db_file);
        goto out;
    }
    char ref[META_WNAME_MAX + 24];
    snprintf(ref, sizeof ref, "%s@%lld", name, (long long)wc.version);
    /* The suite's tasks. */
    int ntasks = 0;
    tasks = calloc(32, sizeof *tasks);
    if (!tasks) goto out;
    char msg[300];
    if (strcmp(suite, "train") == 0) {
        cJSON *fam = cJSON_GetObjectItemCaseSensitive(wc.prov, "task_families");
        cJSON *t;
        cJSON_ArrayForEach(t, fam) {
            if (!cJSON_IsString(t) || ntasks >= 32) continue;
            int seen = 0;   /* a task listed twice (weighted double in meta-training) is evaluated once */
            for (int i = 0; i < ntasks && !seen; i++) seen = strcmp(tasks[i].text, t->valuestring) == 0;
            if (!seen) snprintf(tasks[ntasks++].text, META_TASK_TEXT, "%s", t->valuestring);
        }
        if (!ntasks) {
            fprintf(stderr, "optirsd eval: %s has no training tasks in its provenance\n", ref);
            goto out;
        }
    } else {
        for (size_t i = 0; i < sizeof validation_suite / sizeof validation_suite[0]; i++)
            snprintf(tasks[ntasks++].text, META_TASK_TEXT, "%s", validation_suite[i]);
    }
    for (int i = 0; i < ntasks; i++)
        if ((rc = meta_task_parse(tasks[i].text, &tasks[i].t, msg, sizeof msg)) != 0) {
            fprintf(stderr, "optirsd eval: %s\n", msg);
            goto out;
        }
    uint64_t seeds[EVAL_MAX_SEEDS];
    for (int i = 0; i < nseeds; i++) seeds[i] = 1000 + (uint64_t)i;
    int per = 1 + EVAL_GRID;
    int njobs = ntasks * nh * per;
    jobs = calloc((size_t)njobs, sizeof *jobs);
    if (!jobs) goto out;
    /* Longest first, so the threads finish together. */
    int n = 0;
    for (int h = nh - 1; h >= 0; h--)
        for (int t = 0; t < ntasks; t++)
            for (int k = 0; k < per; k++) jobs[n++] = (eval_job){.task = t, .h = h, .kind = k};
    eval_plan pl = {tasks, ntasks, horizons, nh, seeds, (int)nseeds, wc.arch, ref, lo_lr, jobs, njobs, 0};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int nthreads = threads > 0 ? (int)threads : (int)(cores > 0 ? cores : 1);
    if (nthreads > 64) nthreads = 64;
    printf("eval %s (%s) on suite \"%s\": %d tasks, horizons %s, %ld seeds, %d threads\n", ref, wc.arch, suite,
           ntasks, hs, nseeds, nthreads);
    if (lo_lr > 0) printf("LO at lr %g (its default: %g)\n", lo_lr, opt_common_hparams()[HP_LR].def);
    printf("final loss = mean training loss over the last 10%% of steps, averaged over seeds; "
           "Adam tuned = best of %d lrs log-spaced in [1e-4, 1e-1] per task and horizon\n", EVAL_GRID);
    fflush(stdout);
    pthread_t th[64];
    int started[64] = {0};
    for (int i = 1; i < nthreads; i++) started[i] = pthread_create(&th[i], NULL, eval_worker, &pl) == 0;
    eval_worker(&pl);
    for (int i = 1; i < nthreads; i++)
        if (started[i]) pthread_join(th[i], NULL);
    for (int i = 0; i < njobs; i++)
        if (jobs[i].rc) {
            fprintf(stderr, "optirsd eval: task \"%s\": %s (%s)\n", tasks[jobs[i].task].text, err_message(jobs[i].rc),
                    tasks_last_error());
            goto out;
        }
    printf("\n%-46s %6s  %-11s  %-11s %-8s  %-11s  %-8s %-8s %s\n", "task", "H", "LO", "Adam tuned", "best lr",
           "Adam@1e-3", "vs tuned", "vs 1e-3", "LO - tuned");
    cJSON *ev = cJSON_CreateObject();
    cJSON *rows = cJSON_AddArrayToObject(ev, "tasks");
    int tot = 0, win_t = 0, win_3 = 0, nonfin = 0, nrel = 0;
    double rel_sum = 0;   /* LO / Adam@1e-3 over the entries where both losses are positive */
    int hw_t[8] = {0}, hw_3[8] = {0};
    for (int t = 0; t < ntasks; t++)
        for (int h = 0; h < nh; h++) {
            eval_job *base = NULL;
            for (int i = 0; i < njobs; i++)
                if (jobs[i].task == t && jobs[i].h == h && jobs[i].kind == 0) base = &jobs[i];
            const eval_result *lo = &base->res;
            const eval_result *a3 = &base[1 + 3].res;   /* grid lr 3 is 1e-3 */
            int best = 0;
            for (int k = 1; k < EVAL_GRID; k++)
                if (base[1 + k].res.mean < base[1 + best].res.mean) best = k;
            const eval_result *at = &base[1 + best].res;
            int bt = isfinite(lo->mean) && lo->mean < at->mean;
            int b3 = isfinite(lo->mean) && lo->mean < a3->mean;
            tot++;
            win_t += bt;
            win_3 += b3;
            hw_t[h] += bt;
            hw_3[h] += b3;
            nonfin += lo->nonfinite;
            if (isfinite(lo->mean) && isfinite(a3->mean) && lo->mean > 0 && a3->mean > 0) {
                rel_sum += lo->mean / a3->mean;
                nrel++;
            }
            /* how close the call is: (LO − tuned) / |tuned|, e.g. −4.1% (a win) or +5.1e-05% */
            char b1[32], b2[32], b4[32], gap[32] = "-";
            if (isfinite(lo->mean) && isfinite(at->mean) && at->mean != 0) {
                double pc = 100.0 * (lo->mean - at->mean) / fabs(at->mean);
                snprintf(gap, sizeof gap, fabs(pc) >= 1 ? "%+.1f%%" : "%+.2g%%", pc);
            }
            printf("%-46s %6lld  %-11s  %-11s %-8.2g  %-11s  %-8s %-8s %s\n", tasks[t].text, (long long)horizons[h],
                   fmt_loss(lo->mean, b1, sizeof b1), fmt_loss(at->mean, b2, sizeof b2), eval_grid_lr(best),
                   fmt_loss(a3->mean, b4, sizeof b4), bt ? "WIN" : "loss", b3 ? "WIN" : "loss", gap);
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "task", tasks[t].text);
            cJSON_AddNumberToObject(r, "horizon", (double)horizons[h]);
            if (isfinite(lo->mean)) cJSON_AddNumberToObject(r, "lo", lo->mean);
            else cJSON_AddNullToObject(r, "lo");
            if (isfinite(at->mean)) cJSON_AddNumberToObject(r, "adam_tuned", at->mean);
            else cJSON_AddNullToObject(r, "adam_tuned");
            cJSON_AddNumberToObject(r, "adam_tuned_lr", eval_grid_lr(best));
            if (isfinite(a3->mean)) cJSON_AddNumberToObject(r, "adam_1e-3", a3->mean);
            else cJSON_AddNullToObject(r, "adam_1e-3");
            cJSON_AddItemToArray(rows, r);
        }
    printf("\n");
    for (int h = 0; h < nh; h++)
        printf("H=%lld: beats tuned Adam on %d of %d, beats Adam@1e-3 on %d of %d\n", (long long)horizons[h], hw_t[h],
               ntasks, hw_3[h], ntasks);
    printf("summary (%s, suite %s): beats tuned Adam on %d of %d, beats Adam@1e-3 on %d of %d, non-finite LO runs: %d\n",
           ref, suite, win_t, tot, win_3, tot, nonfin);
    if (nrel)
        printf("mean LO / Adam@1e-3 over the %d entries with positive losses: %.4f (lower is better; the tie-break "
               "between records that beat tuned Adam equally often)\n", nrel, rel_sum / nrel);
    cJSON_AddNumberToObject(ev, "seeds", (double)nseeds);
    if (nrel) cJSON_AddNumberToObject(ev, "mean_lo_over_adam_1e-3", rel_sum / nrel);
    cJSON_AddNumberToObject(ev, "beats_tuned_adam", win_t);
    cJSON_AddNumberToObject(ev, "beats_adam_1e-3", win_3);
    cJSON_AddNumberToObject(ev, "total", tot);
    cJSON_AddNumberToObject(ev, "nonfinite_runs", nonfin);
    if (lo_lr > 0) {
        /* the record's figures are the default lr's */
        printf("(figures at lr %g: not recorded in %s)\n", lo_lr, ref);
        cJSON_Delete(ev);
        code = 0;
        goto out;
    }
    /* The figures go into the record's evaluation JSON, one key per suite. */
    if (!wc.evaluation) wc.evaluation = cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(wc.evaluation, suite);
    cJSON_AddItemToObject(wc.evaluation, suite, ev);
    char *ej = cJSON_PrintUnformatted(wc.evaluation);
    if (ej && store_weights_set_eval(db, name, wc.version, ej) != 0)
        fprintf(stderr, "optirsd eval: could not record the figures in %s\n", db_file);
    free(ej);
    code = 0;
out:
    cJSON_Delete(wc.prov);
    cJSON_Delete(wc.evaluation);
    free(tasks);
    free(jobs);
    store_close(db);
    return code;
}
