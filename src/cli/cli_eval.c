/* cli_eval.c — `optirsd eval`: a learned optimizer's final training and
 * held-out losses next to lr-tuned Adam and Adam@1e-3 on a suite of tasks
 * read from a file (deploy/eval/NAME.suite, or --suite-file), with win
 * counts and the median and worst ratio LO / tuned Adam, overall, per
 * horizon and per domain; printed, and recorded in the weights record's
 * evaluation JSON under the suite's name.  See cli.h; the method is in
 * docs/learned-optimizers.md#how-they-compare.
 *
 * Work: one job = one optimizer config on one task, nseeds runs of the
 * longest horizon (every horizon's figures come from that run, evalsuite.h).
 * Jobs run on --threads threads; a task's Adam lr search (eval_grid_next)
 * hands out new points when its previous ones are in, and those jobs go
 * ahead of the queue so no task's search trails behind.  The figures do not
 * depend on the thread count or the order the jobs run in. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "domain.h"
#include "errors.h"
#include "eval_suite.h"
#include "evalsuite.h"
#include "lopt.h"
#include "meta_weights.h"
#include "spec.h"
#include "store.h"

#define KIND_LO (-100)   /* a job's kind: the learned optimizer, or a grid index */

typedef struct task_state {
    eval_grid   grid;
    eval_result lo[EVAL_MAX_HORIZONS];
    int         adam_pending;          /* grid points handed out and not yet in */
} task_state;

typedef struct eval_job { int task, kind; } eval_job;

/* The learned optimizer's hyperparameters set on the command line (--lr X is
 * --set lr=X); with any, the figures are printed and not recorded. */
#define EVAL_MAX_SETS 8
typedef struct eval_sets {
    int    n;
    char   name[EVAL_MAX_SETS][32];
    double value[EVAL_MAX_SETS];
} eval_sets;

typedef struct eval_plan {
    const eval_suite *suite;
    task_state       *st;
    const int64_t    *horizons;
    int               nh;
    const uint64_t   *seeds;
    int               nseeds;
    const char       *optimizer, *weights;
    const eval_sets  *sets;            /* applied to the learned optimizer's config */
    int               film_trunk;      /* 1: a FiLM record runs on its trunk (no row) */
    pthread_mutex_t   mu;
    pthread_cond_t    cv;
    eval_job         *queue;           /* front: queue[head .. n) ; extensions are put at head − 1 */
    int               head, n, cap, running;
    int               rc, rc_task;     /* the first error */
    char              rc_msg[200];     /* its task message (tasks_last_error is per thread) */
} eval_plan;

/* Under pl->mu: hands out task t's next lr points, ahead of the queue. */
static void plan_grid_next(eval_plan *pl, int t)
{
    int pts[EVAL_GRID_POINTS];
    int k = eval_grid_next(&pl->st[t].grid, pts);
    for (int i = k - 1; i >= 0; i--) {
        pl->queue[--pl->head] = (eval_job){t, pts[i]};   /* head starts with room for every extension */
    }
    pl->st[t].adam_pending += k;
}

static int run_job(eval_plan *pl, const eval_job *j)
{
    const eval_suite_entry *e = &pl->suite->e[j->task];
    opt_config oc;
    int rc;
    eval_result *out;
    if (j->kind == KIND_LO) {
        rc = opt_config_defaults(&oc, pl->optimizer);
        oc.weights = pl->weights;
        /* a FiLM record (lopt.h) runs each entry on its domain's row, as a session of that domain would */
        oc.film_row = pl->film_trunk ? 0 : lopt_film_row(e->domain);
        for (int k = 0; !rc && k < pl->sets->n; k++) rc = opt_config_set(&oc, pl->sets->name[k], pl->sets->value[k]);
        out = pl->st[j->task].lo;
    } else {
        rc = opt_config_defaults(&oc, "adam");
        if (!rc) rc = opt_config_set(&oc, "lr", eval_grid_lr(j->kind));
        out = eval_grid_at(&pl->st[j->task].grid, j->kind);
    }
    if (!rc) rc = eval_run_horizons(&oc, e->t.family, &e->t.params, pl->horizons, pl->nh, pl->seeds, pl->nseeds, out);
    return rc;
}

static void *eval_worker(void *p)
{
    eval_plan *pl = p;
    pthread_mutex_lock(&pl->mu);
    for (;;) {
        while (!pl->rc && pl->head == pl->n && pl->running > 0) pthread_cond_wait(&pl->cv, &pl->mu);
        if (pl->rc || pl->head == pl->n) break;
        eval_job j = pl->queue[pl->head++];
        pl->running++;
        pthread_mutex_unlock(&pl->mu);
        int rc = run_job(pl, &j);
        pthread_mutex_lock(&pl->mu);
        pl->running--;
        if (rc && !pl->rc) {
            pl->rc = rc;
            pl->rc_task = j.task;
            snprintf(pl->rc_msg, sizeof pl->rc_msg, "%s", tasks_last_error());
        }
        if (!rc && j.kind != KIND_LO && --pl->st[j.task].adam_pending == 0) plan_grid_next(pl, j.task);
        pthread_cond_broadcast(&pl->cv);
    }
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
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

/* Adds NAME=TEXT to sets (a name given twice keeps the last value); the
 * optimizer checks the name and range when the runs are set up. */
static int add_set(eval_sets *sets, const char *name, const char *text)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end || errno || !isfinite(v)) return -1;
    int k = 0;
    while (k < sets->n && strcmp(sets->name[k], name) != 0) k++;
    if (k == EVAL_MAX_SETS) return -1;
    if (k == sets->n) snprintf(sets->name[sets->n++], sizeof sets->name[0], "%s", name);
    sets->value[k] = v;
    return 0;
}

static int eval_usage(void)
{
    fprintf(stderr, "usage: optirsd eval --weights NAME[@VERSION] (--suite NAME | --suite-file PATH) [--db PATH]\n"
                    "                    [--horizons 1000,5000] [--seeds 5] [--threads N] [--lr X] [--set NAME=VALUE]... [--domain D]\n"
                    "  --suite NAME: the suite file deploy/eval/NAME.suite (from the current directory):\n"
                    "    train (the tasks the weights were meta-trained on), selection (for choosing\n"
                    "    checkpoints), test (never used to choose anything);\n"
                    "  --suite-file PATH: any suite file; its figures are recorded under the file's name\n"
                    "    without .suite (the format: docs/learned-optimizers.md#how-they-compare);\n"
                    "  --domain D: only the suite's entries of domain D (vision, text, tabular, synthetic);\n"
                    "    recorded under SUITE.D (e.g. test.vision);\n"
                    "  a FiLM record runs each entry on the row of the entry's domain; --film-trunk: on its\n"
                    "    trunk alone (no row);\n"
                    "  --lr: the learned optimizer's lr in (0, 10] (its step scales with lr / 1e-3);\n"
                    "  --set NAME=VALUE: a hyperparameter of the learned optimizer (its names and ranges:\n"
                    "        GET /v1/optimizers), up to 8; --lr X is --set lr=X;\n"
                    "  with --lr, --set or --film-trunk the figures are printed, not recorded.\n");
    return 2;
}

static const char *fmt_loss(double v, char *buf, size_t cap)
{
    if (!isfinite(v)) snprintf(buf, cap, "non-finite");
    else snprintf(buf, cap, "%.4e", v);
    return buf;
}

static const char *fmt_ratio(int ok, double r, char *buf, size_t cap)
{
    if (!ok) snprintf(buf, cap, "n/a");
    else if (!isfinite(r)) snprintf(buf, cap, "inf");
    else snprintf(buf, cap, "%.4g", r);
    return buf;
}

/* A number, or null when it is not finite. */
static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static cJSON *summary_json(const eval_summary *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "total", s->n);
    cJSON_AddNumberToObject(o, "beats_tuned_adam", s->win_tuned);
    cJSON_AddNumberToObject(o, "beats_adam_1e-3", s->win_1e3);
    cJSON_AddNumberToObject(o, "nonfinite_runs", s->nonfinite_runs);
    cJSON_AddNumberToObject(o, "lr_at_edge", s->lr_at_edge);
    add_num(o, "median_ratio", s->ratio_median);
    add_num(o, "worst_ratio", s->ratio_worst);
    cJSON_AddNumberToObject(o, "ratio_entries", s->nratio);
    cJSON_AddNumberToObject(o, "ratio_skipped", s->nratio_skipped);
    add_num(o, "median_ratio_heldout", s->held_median);
    add_num(o, "worst_ratio_heldout", s->held_worst);
    cJSON_AddNumberToObject(o, "ratio_heldout_entries", s->nheld);
    cJSON_AddNumberToObject(o, "ratio_heldout_skipped", s->nheld_skipped);
    if (s->nrel13) cJSON_AddNumberToObject(o, "mean_lo_over_adam_1e-3", s->rel13_mean);
    return o;
}

static void print_summary(const char *label, const eval_summary *s)
{
    char a[32], b[32], c[32], d[32];
    printf("%s: beats tuned Adam on %d of %d, beats Adam@1e-3 on %d of %d, non-finite LO runs: %d\n", label,
           s->win_tuned, s->n, s->win_1e3, s->n, s->nonfinite_runs);
    printf("  LO / tuned Adam, training loss: median %s, worst %s over %d entries (%d without a ratio); "
           "held-out loss: median %s, worst %s over %d (%d without); tuned Adam's best lr at the grid's limit: %d\n",
           fmt_ratio(s->nratio > 0, s->ratio_median, a, sizeof a), fmt_ratio(s->nratio > 0, s->ratio_worst, b, sizeof b),
           s->nratio, s->nratio_skipped, fmt_ratio(s->nheld > 0, s->held_median, c, sizeof c),
           fmt_ratio(s->nheld > 0, s->held_worst, d, sizeof d), s->nheld, s->nheld_skipped, s->lr_at_edge);
}

/* The horizons, sorted: "1000,5000" → out[], *nh.  -1 on a malformed list,
 * a value out of [1, 1e7], more than EVAL_MAX_HORIZONS or one twice. */
static int parse_horizons(const char *hs, int64_t *out, int *nh)
{
    char buf[256];
    if (strlen(hs) >= sizeof buf) return -1;
    snprintf(buf, sizeof buf, "%s", hs);
    *nh = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long v;
        if (*nh == EVAL_MAX_HORIZONS || cli_parse_int(t, 1, 10000000, &v)) return -1;
        int k = (*nh)++;
        while (k > 0 && out[k - 1] > v) {
            out[k] = out[k - 1];
            k--;
        }
        if (k > 0 && out[k - 1] == v) return -1;
        out[k] = v;
    }
    return *nh ? 0 : -1;
}

/* The suite's name for the record: NAME of --suite, or the file's name
 * without its directory and `.suite`. */
static void suite_key(const char *suite, const char *file, char *out, size_t cap)
{
    if (suite) {
        snprintf(out, cap, "%s", suite);
        return;
    }
    const char *b = strrchr(file, '/');
    b = b ? b + 1 : file;
    size_t n = strlen(b);
    if (n > 6 && strcmp(b + n - 6, ".suite") == 0) n -= 6;
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), b);
}

/* Fills one report entry of task t at horizon h from the runs. */
static void make_entry(const eval_suite_entry *se, task_state *ts, int h, eval_entry *e)
{
    int edge = 0;
    int best = eval_grid_best(&ts->grid, h, &edge);
    const eval_result *at = &eval_grid_at(&ts->grid, best)[h], *a3 = &eval_grid_at(&ts->grid, EVAL_GRID_1E3)[h];
    *e = (eval_entry){.lo = ts->lo[h].mean, .lo_heldout = ts->lo[h].heldout_mean, .tuned = at->mean,
                      .tuned_heldout = at->heldout_mean, .tuned_lr = eval_grid_lr(best), .a3 = a3->mean,
                      .a3_heldout = a3->heldout_mean, .lo_nonfinite = ts->lo[h].nonfinite, .lr_at_edge = edge,
                      .has_min = se->has_min, .min = se->min};
}

typedef struct report_ctx {
    const eval_suite *su;
    task_state       *st;
    const int64_t    *horizons;
    int               nh, nseeds;
    const char       *ref, *key, *path;
} report_ctx;

/* Summary of the entries [0, n) that pass keep (NULL: all). */
static int summarize_if(const eval_entry *all, const int *hidx, const char *const *dom, int n, int h,
                        const char *domain, eval_summary *s)
{
    eval_entry *sel = malloc((size_t)(n ? n : 1) * sizeof *sel);
    if (!sel) return ERR_NO_MEMORY;
    int k = 0;
    for (int i = 0; i < n; i++)
        if ((h < 0 || hidx[i] == h) && (!domain || strcmp(dom[i], domain) == 0)) sel[k++] = all[i];
    int rc = eval_summarize(sel, k, s);
    free(sel);
    return rc;
}

/* Prints the table and the summaries; returns the evaluation JSON (NULL:
 * out of memory). */
static cJSON *report(const report_ctx *c)
{
    int n = c->su->n * c->nh;
    eval_entry *ent = calloc((size_t)n, sizeof *ent);
    int *hidx = calloc((size_t)n, sizeof *hidx);
    const char **dom = calloc((size_t)n, sizeof *dom);
    cJSON *ev = cJSON_CreateObject();
    if (!ent || !hidx || !dom || !ev) goto fail;
    printf("\n%-46s %6s  %-12s %-12s %-12s %-12s %-9s %-12s %-12s %-9s %-9s %-8s %s\n", "task", "H", "LO",
           "LO held", "Adam tuned", "tuned held", "best lr", "Adam@1e-3", "1e-3 held", "ratio", "r held", "vs tuned",
           "vs 1e-3");
    cJSON_AddStringToObject(ev, "suite_file", c->path);
    cJSON_AddNumberToObject(ev, "seeds", c->nseeds);
    cJSON *hj = cJSON_AddArrayToObject(ev, "horizons");
    for (int h = 0; h < c->nh; h++) cJSON_AddItemToArray(hj, cJSON_CreateNumber((double)c->horizons[h]));
    cJSON *rows = cJSON_AddArrayToObject(ev, "tasks");
    int k = 0;
    for (int t = 0; t < c->su->n; t++)
        for (int h = 0; h < c->nh; h++, k++) {
            const eval_suite_entry *se = &c->su->e[t];
            eval_entry *e = &ent[k];
            make_entry(se, &c->st[t], h, e);
            hidx[k] = h;
            dom[k] = se->domain;
            double r = NAN, rh = NAN;
            int ok = eval_ratio(e->lo, e->tuned, e->has_min, e->min, &r);
            int okh = eval_ratio(e->lo_heldout, e->tuned_heldout, e->has_min, e->min, &rh);
            int bt = isfinite(e->lo) && e->lo < e->tuned, b3 = isfinite(e->lo) && e->lo < e->a3;
            char b[8][32], lr[24];
            snprintf(lr, sizeof lr, "%.2g%s", e->tuned_lr, e->lr_at_edge ? "*" : "");
            printf("%-46s %6lld  %-12s %-12s %-12s %-12s %-9s %-12s %-12s %-9s %-9s %-8s %s\n", se->text,
                   (long long)c->horizons[h], fmt_loss(e->lo, b[0], 32), fmt_loss(e->lo_heldout, b[1], 32),
                   fmt_loss(e->tuned, b[2], 32), fmt_loss(e->tuned_heldout, b[3], 32), lr, fmt_loss(e->a3, b[4], 32),
                   fmt_loss(e->a3_heldout, b[5], 32), fmt_ratio(ok, r, b[6], 32), fmt_ratio(okh, rh, b[7], 32),
                   bt ? "WIN" : "loss", b3 ? "WIN" : "loss");
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "task", se->text);
            cJSON_AddStringToObject(o, "domain", se->domain);
            cJSON_AddNumberToObject(o, "horizon", (double)c->horizons[h]);
            add_num(o, "lo", e->lo);
            add_num(o, "lo_heldout", e->lo_heldout);
            add_num(o, "adam_tuned", e->tuned);
            add_num(o, "adam_tuned_heldout", e->tuned_heldout);
            cJSON_AddNumberToObject(o, "adam_tuned_lr", e->tuned_lr);
            cJSON_AddBoolToObject(o, "adam_tuned_lr_at_edge", e->lr_at_edge);
            add_num(o, "adam_1e-3", e->a3);
            add_num(o, "adam_1e-3_heldout", e->a3_heldout);
            if (ok) add_num(o, "ratio", r);
            else cJSON_AddStringToObject(o, "ratio", "undefined");
            if (okh) add_num(o, "ratio_heldout", rh);
            else cJSON_AddStringToObject(o, "ratio_heldout", "undefined");
            if (e->has_min) cJSON_AddNumberToObject(o, "min", e->min);
            cJSON_AddNumberToObject(o, "lo_nonfinite_runs", e->lo_nonfinite);
            cJSON_AddItemToArray(rows, o);
        }
    printf("\n");
    eval_summary s;
    char label[200];
    cJSON *byh = cJSON_AddObjectToObject(ev, "by_horizon"), *byd = cJSON_AddObjectToObject(ev, "by_domain");
    for (int h = 0; h < c->nh; h++) {
        if (summarize_if(ent, hidx, dom, n, h, NULL, &s)) goto fail;
        snprintf(label, sizeof label, "H=%lld", (long long)c->horizons[h]);
        print_summary(label, &s);
        snprintf(label, sizeof label, "%lld", (long long)c->horizons[h]);
        cJSON_AddItemToObject(byh, label, summary_json(&s));
    }
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = strcmp(dom[j], dom[i]) == 0;
        if (seen) continue;
        if (summarize_if(ent, hidx, dom, n, -1, dom[i], &s)) goto fail;
        snprintf(label, sizeof label, "domain %s", dom[i]);
        print_summary(label, &s);
        cJSON_AddItemToObject(byd, dom[i], summary_json(&s));
    }
    if (eval_summarize(ent, n, &s)) goto fail;
    snprintf(label, sizeof label, "summary (%s, suite %s)", c->ref, c->key);
    print_summary(label, &s);
    int extra = 0;   /* the cost of widening: lrs run beyond the starting ten */
    for (int t = 0; t < c->su->n; t++) extra += c->st[t].grid.hi - c->st[t].grid.lo + 1 - EVAL_GRID;
    printf("tuned Adam: %d lrs run beyond the starting %d, over %d tasks\n", extra, EVAL_GRID, c->su->n);
    cJSON_AddNumberToObject(ev, "adam_extra_lrs", extra);
    if (s.nrel13)
        printf("mean LO / Adam@1e-3 over the %d entries with positive losses: %.4f (lower is better; the tie-break "
               "between records that beat tuned Adam equally often)\n", s.nrel13, s.rel13_mean);
    cJSON *top = summary_json(&s);
    cJSON *it = top->child;
    while (it) {   /* the overall figures sit at the top level */
        cJSON *next = it->next;
        cJSON_AddItemToObject(ev, it->string, cJSON_DetachItemViaPointer(top, it));
        it = next;
    }
    cJSON_Delete(top);
    free(ent);
    free(hidx);
    free(dom);
    return ev;
fail:
    free(ent);
    free(hidx);
    free(dom);
    cJSON_Delete(ev);
    return NULL;
}

int cli_eval(int argc, char **argv)
{
    const char *wref = NULL, *suite = NULL, *suite_file = NULL, *db_flag = NULL, *hs = "1000,5000", *only = NULL;
    long nseeds = 5, threads = 0;
    int film_trunk = 0;
    eval_sets sets = {0};
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--weights") == 0 && i + 1 < argc) wref = argv[++i];
        else if (strcmp(argv[i], "--suite") == 0 && i + 1 < argc) suite = argv[++i];
        else if (strcmp(argv[i], "--suite-file") == 0 && i + 1 < argc) suite_file = argv[++i];
        else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) db_flag = argv[++i];
        else if (strcmp(argv[i], "--domain") == 0 && i + 1 < argc) only = argv[++i];
        else if (strcmp(argv[i], "--film-trunk") == 0) film_trunk = 1;
        else if (strcmp(argv[i], "--horizons") == 0 && i + 1 < argc) hs = argv[++i];
        else if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            if (cli_parse_int(argv[++i], 1, EVAL_MAX_SEEDS, &nseeds)) return eval_usage();
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (cli_parse_int(argv[++i], 0, 256, &threads)) return eval_usage();
        } else if (strcmp(argv[i], "--lr") == 0 && i + 1 < argc) {
            if (add_set(&sets, "lr", argv[++i])) return eval_usage();
        } else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) {
            const char *a = argv[++i], *eq = strchr(a, '=');
            char nm[32];
            if (!eq || eq == a || (size_t)(eq - a) >= sizeof nm) return eval_usage();
            memcpy(nm, a, (size_t)(eq - a));
            nm[eq - a] = 0;
            if (add_set(&sets, nm, eq + 1)) return eval_usage();
        } else return eval_usage();
    }
    if (!wref || !!suite == !!suite_file) return eval_usage();
    if (only && !domain_session_valid(only)) {
        fprintf(stderr, "optirsd eval: --domain must be vision, text, tabular or synthetic, not \"%.40s\"\n", only);
        return 2;
    }
    if (suite && !eval_suite_valid_name(suite)) {
        fprintf(stderr, "optirsd eval: a suite name is 1 to 32 characters of [A-Za-z0-9_-], not \"%.40s\"\n", suite);
        return 2;
    }
    int64_t horizons[EVAL_MAX_HORIZONS];
    int nh = 0;
    if (parse_horizons(hs, horizons, &nh)) return eval_usage();
    char name[META_WNAME_MAX];
    int64_t version;
    if (meta_weights_parse_ref(wref, name, sizeof name, &version)) {
        fprintf(stderr, "optirsd eval: \"%s\" is not NAME or NAME@VERSION\n", wref);
        return 2;
    }
    char path[300], key[64], msg[400];
    if (suite) snprintf(path, sizeof path, "deploy/eval/%s.suite", suite);
    else snprintf(path, sizeof path, "%s", suite_file);
    suite_key(suite, suite_file, key, sizeof key);
    if (only) snprintf(key + strlen(key), sizeof key - strlen(key), ".%s", only);
    eval_suite *su = malloc(sizeof *su);
    if (!su) return 1;
    /* a missing, oversized, malformed or empty suite is a usage error (2) */
    if (eval_suite_load(path, su, msg, sizeof msg) != 0) {
        fprintf(stderr, "optirsd eval: %s\n", msg);
        free(su);
        return 2;
    }
    if (!su->n && !su->from_training) {
        fprintf(stderr, "optirsd eval: %s holds no task\n", path);
        free(su);
        return 2;
    }
    config cfg;
    const char *db_file = cli_db_path(db_flag, &cfg);
    store *db;
    if (store_open(db_file, &db) != 0) {
        fprintf(stderr, "optirsd eval: cannot open %s\n", db_file);
        free(su);
        return 1;
    }
    int code = 1;
    wrow_ctx wc = {0};
    task_state *st = NULL;
    eval_job *queue = NULL;
    int rc = meta_weights_bootstrap(db);
    if (rc >= 0) rc = store_weights_get(db, name, version, 1, wrow_cb, &wc);
    if (rc) {
        fprintf(stderr, "optirsd eval: no weights record %s in %s\n", wref, db_file);
        goto out;
    }
    char ref[META_WNAME_MAX + 24];
    snprintf(ref, sizeof ref, "%s@%lld", name, (long long)wc.version);
    for (int k = 0; k < sets.n; k++) {
        opt_config oc;
        if (lopt_shape_hp(wc.arch, sets.name[k])) {
            /* the record's own shape runs whatever is set: refuse, never ignore */
            fprintf(stderr, "optirsd eval: %s is fixed by the weights record %s (its shape or its init); "
                            "meta-train a record with another %s instead\n", sets.name[k], ref, sets.name[k]);
            code = 2;
            goto out;
        }
        if (opt_config_defaults(&oc, wc.arch) || opt_config_set(&oc, sets.name[k], sets.value[k])) {
            fprintf(stderr, "optirsd eval: %s (%s) has no hyperparameter %s or %g is outside its range "
                            "(GET /v1/optimizers lists them)\n", ref, wc.arch, sets.name[k], sets.value[k]);
            code = 2;
            goto out;
        }
    }
    if (su->from_training) {
        /* the record's meta-training tasks; a task listed twice (weighted double) is evaluated once */
        int before = su->n;
        cJSON *t;
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(wc.prov, "task_families")) {
            if (!cJSON_IsString(t)) continue;
            if (eval_suite_add(su, t->valuestring, msg, sizeof msg) != 0) {
                fprintf(stderr, "optirsd eval: %s's training tasks: %s\n", ref, msg);
                goto out;
            }
        }
        if (su->n == before) {
            fprintf(stderr, "optirsd eval: %s has no training tasks in its provenance\n", ref);
            goto out;
        }
    }
    if (only && eval_suite_keep_domain(su, only) == 0) {
        fprintf(stderr, "optirsd eval: %s holds no task of domain %s\n", path, only);
        code = 2;
        goto out;
    }
    int ntasks = su->n;
    uint64_t seeds[EVAL_MAX_SEEDS];
    for (int i = 0; i < nseeds; i++) seeds[i] = 1000 + (uint64_t)i;
    /* Room for every job a search can hand out; the extensions go in front. */
    int cap = ntasks * (1 + EVAL_GRID_POINTS);
    st = calloc((size_t)ntasks, sizeof *st);
    queue = calloc((size_t)cap, sizeof *queue);
    if (!st || !queue) {
        fprintf(stderr, "optirsd eval: out of memory\n");
        goto out;
    }
    int head = cap - ntasks * (1 + EVAL_GRID);
    eval_plan pl = {.suite = su, .st = st, .horizons = horizons, .nh = nh, .seeds = seeds, .nseeds = (int)nseeds,
                    .optimizer = wc.arch, .weights = ref, .sets = &sets, .film_trunk = film_trunk, .queue = queue, .head = head, .n = head,
                    .cap = cap};
    pthread_mutex_init(&pl.mu, NULL);
    pthread_cond_init(&pl.cv, NULL);
    for (int t = 0; t < ntasks; t++) {
        eval_grid_init(&st[t].grid, nh);
        queue[pl.n++] = (eval_job){t, KIND_LO};
        int pts[EVAL_GRID_POINTS];
        int k = eval_grid_next(&st[t].grid, pts);
        for (int i = 0; i < k; i++) queue[pl.n++] = (eval_job){t, pts[i]};
        st[t].adam_pending = k;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int nthreads = threads > 0 ? (int)threads : (int)(cores > 0 ? cores : 1);
    if (nthreads > 64) nthreads = 64;
    char hlist[EVAL_MAX_HORIZONS * 12] = "";
    for (int h = 0; h < nh; h++)
        snprintf(hlist + strlen(hlist), sizeof hlist - strlen(hlist), "%s%lld", h ? "," : "", (long long)horizons[h]);
    printf("eval %s (%s) on suite \"%s\" (%s): %d tasks, horizons %s, %ld seeds, %d threads\n", ref, wc.arch, key,
           path, ntasks, hlist, nseeds, nthreads);
    for (int k = 0; k < sets.n; k++) {
        if (strcmp(sets.name[k], "lr") == 0)
            printf("LO at lr %g (its default: %g)\n", sets.value[k], opt_common_hparams()[HP_LR].def);
        else
            printf("LO with %s = %g\n", sets.name[k], sets.value[k]);
    }
    if (film_trunk) printf("LO on the FiLM record's trunk alone (no row)\n");
    printf("final loss = mean training loss over the last 10%% of steps, held-out = the task's held-out loss after "
           "the last step, each averaged over seeds; Adam tuned = the best on training loss of lrs 10^(k/3), from "
           "[1e-4, 1e-1] widened at an edge holding a best until interior or at 1e-7 / 10 (marked *); "
           "ratio = LO / tuned Adam (n/a: a loss <= 0, see the docs)\n");
    fflush(stdout);
    pthread_t th[64];
    int started[64] = {0};
    for (int i = 1; i < nthreads; i++) started[i] = pthread_create(&th[i], NULL, eval_worker, &pl) == 0;
    eval_worker(&pl);
    for (int i = 1; i < nthreads; i++)
        if (started[i]) pthread_join(th[i], NULL);
    pthread_mutex_destroy(&pl.mu);
    pthread_cond_destroy(&pl.cv);
    if (pl.rc) {
        fprintf(stderr, "optirsd eval: task \"%s\": %s (%s)\n", su->e[pl.rc_task].text, err_message(pl.rc),
                pl.rc_msg);
        goto out;
    }
    report_ctx rc_ = {su, st, horizons, nh, (int)nseeds, ref, key, path};
    cJSON *ev = report(&rc_);
    if (!ev) {
        fprintf(stderr, "optirsd eval: out of memory\n");
        goto out;
    }
    code = 0;
    if (sets.n || film_trunk) {
        /* the record's figures are its defaults' */
        printf("(figures with hyperparameters set: not recorded in %s)\n", ref);
        cJSON_Delete(ev);
        goto out;
    }
    /* The figures go into the record's evaluation JSON, one key per suite,
     * with the hyperparameters they were measured with: the optimizer's
     * defaults now, which later releases may change (the hold, the
     * hypergradient scale and the anneal each became a default after records
     * had been evaluated), less the record's own shape. */
    opt_config defaults;
    cJSON *hp = opt_config_defaults(&defaults, wc.arch) ? NULL : spec_hparams_json(&defaults, 1);
    if (!hp || !cJSON_AddItemToObject(ev, "hyperparams", hp)) {
        fprintf(stderr, "optirsd eval: out of memory\n");
        cJSON_Delete(hp);
        cJSON_Delete(ev);
        code = 1;
        goto out;
    }
    if (!wc.evaluation) wc.evaluation = cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(wc.evaluation, key);
    cJSON_AddItemToObject(wc.evaluation, key, ev);
    char *ej = cJSON_PrintUnformatted(wc.evaluation);
    if (!ej || store_weights_set_eval(db, name, wc.version, ej) != 0) {
        fprintf(stderr, "optirsd eval: could not record the figures in %s\n", db_file);
        code = 1;
    }
    free(ej);
out:
    cJSON_Delete(wc.prov);
    cJSON_Delete(wc.evaluation);
    free(st);
    free(queue);
    free(su);
    store_close(db);
    return code;
}
