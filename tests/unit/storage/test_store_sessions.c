/* test_store_sessions.c — a step's record (store_sessions.c,
 * store_step_record): one queued job carries the step's metrics row and its
 * extras row; both land in the same commit; rows of a session that does not
 * exist are dropped without failing the job; and store_step_record followed
 * by store_analytics_refresh leaves the database exactly as store_metric
 * followed by store_analytics_write does (same metrics, extras and
 * downsampled buckets, tolerance 0).  Real database files in a mkdtemp()
 * directory. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "analytics.h"
#include "errors.h"
#include "opt.h"
#include "store.h"
#include "store_internal.h"

static char g_dir[256];
static int  g_seq;

/* ---- helpers --------------------------------------------------------------- */

static void db_path(char *out, size_t n)
{
    snprintf(out, n, "%s/s%03d.db", g_dir, ++g_seq);
}

static void create_session(store *s, const char *id)
{
    void *snap = malloc(4);
    assert_non_null(snap);
    memset(snap, 7, 4);
    assert_int_equal(store_session_create_take(s, id, "{}", 1, 0, snap, 4), 0);
}

/* Metrics and extras of step k, with a NaN loss every 5th step and no
 * cosine on the first. */
static step_metric metric_at(int64_t k)
{
    return (step_metric){.step = k, .time_ms = 1000 + k, .loss = k % 5 ? 1.0 / (double)(k + 1) : NAN,
                         .grad_norm = 0.5 * (double)k, .update_norm = 0.25, .param_norm = 3.0 + (double)k,
                         .lr = 1e-3, .duration_us = 7.0};
}

/* The extras of step k as numbers (store_step_extras): two tensors "w" and
 * "b" with a NaN and an inf among their figures; on odd steps two
 * diagnostics (one NaN), on steps 2 mod 4 an already formatted extra object,
 * on the others none. */
static layout_tensor g_lt[2] = {{.name = "w"}, {.name = "b"}};
static const layout g_lay = {.ntensors = 2, .tensors = g_lt, .n = 2};
static analytics_step g_stats[256];
static const opt_diag_value g_diag[2] = {{"odd", 1.0}, {"es_scale_mean", NAN}};

static store_step_extras extra_at(int64_t k)
{
    analytics_step *x = &g_stats[k % 256];
    *x = (analytics_step){.update_cos = k ? 0.1 * (double)(k % 7) : NAN, .update_ratio = 0.01, .ntensors = 2,
                          .grad = {(double)k, NAN}, .update = {0.5, 0.25}, .param = {2, INFINITY}};
    return (store_step_extras){.update_cos = x->update_cos, .update_ratio = 0.01, .lr_mult = NAN, .stats = x,
                               .lay = &g_lay, .diag = k % 2 ? g_diag : NULL, .ndiag = k % 2 ? 2 : 0};
}

typedef struct rows { int n; step_metric m[256]; } rows;

static int collect_metric(void *ctx, const step_metric *m)
{
    rows *r = ctx;
    if (r->n < 256) r->m[r->n++] = *m;
    return 0;
}

typedef struct last { int n; int64_t step; double cos, ratio; char tensors[64], extra[64]; } last;

static int collect_last(void *ctx, const store_analytics_row *x)
{
    last *l = ctx;
    l->n++;
    l->step = x->step;
    l->cos = x->update_cos;
    l->ratio = x->update_ratio;
    snprintf(l->tensors, sizeof l->tensors, "%s", x->tensors_json ? x->tensors_json : "(null)");
    snprintf(l->extra, sizeof l->extra, "%s", x->extra_json ? x->extra_json : "(null)");
    return 0;
}

typedef struct buckets { int n; store_metric_bucket b[64]; } buckets;

static int collect_bucket(void *ctx, const store_metric_bucket *b)
{
    buckets *r = ctx;
    if (r->n < 64) r->b[r->n++] = *b;
    return 0;
}

/* Same value, NaN equal to NaN. */
static void assert_same(double a, double b)
{
    if (isnan(a) || isnan(b)) assert_true(isnan(a) && isnan(b));
    else assert_true(a == b);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_store_step_record_queues_one_job_carrying_metric_and_extras(void **unused)
{
    (void)unused;
    char path[300];
    db_path(path, sizeof path);
    store *s;
    assert_int_equal(store_open(path, &s), 0);
    create_session(s, "st");
    assert_int_equal(store_flush(s), 0);

    store_stats before, queued, after;
    store_get_stats(s, &before);
    store_test_hold(s, 1);
    for (int64_t k = 1; k <= 3; k++) {
        step_metric m = metric_at(k);
        store_step_extras x = extra_at(k);
        assert_int_equal(store_step_record(s, "st", &m, &x), 0);
    }
    store_get_stats(s, &queued);
    assert_int_equal(queued.queue_depth, 3);          /* one job per step */
    store_test_hold(s, 0);
    assert_int_equal(store_flush(s), 0);
    store_get_stats(s, &after);
    assert_int_equal(after.jobs - before.jobs, 4);    /* three steps and the flush */
    assert_int_equal(after.commits - before.commits, 1);   /* one group commit */
    assert_int_equal(after.jobs_failed, before.jobs_failed);

    rows r = {0};
    assert_int_equal(store_metrics_query(s, "st", 0, -1, collect_metric, &r), 0);
    assert_int_equal(r.n, 3);
    for (int i = 0; i < 3; i++) {
        step_metric e = metric_at(i + 1);
        assert_int_equal(r.m[i].step, e.step);
        assert_int_equal(r.m[i].time_ms, e.time_ms);
        assert_same(r.m[i].loss, e.loss);
        assert_same(r.m[i].grad_norm, e.grad_norm);
        assert_same(r.m[i].param_norm, e.param_norm);
    }
    last l = {0};
    assert_int_equal(store_analytics_last(s, "st", collect_last, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.step, 3);
    assert_same(l.cos, 0.1 * 3);
    assert_same(l.ratio, 0.01);
    /* formatted by the writer thread: 9 digits per figure, diagnostics exact, null when not finite */
    assert_string_equal(l.tensors, "[[\"w\",3,0.5,2],[\"b\",null,0.25,null]]");
    assert_string_equal(l.extra, "{\"odd\":1,\"es_scale_mean\":null}");

    /* Without extras: the metrics row alone. */
    step_metric m4 = metric_at(4);
    assert_int_equal(store_step_record(s, "st", &m4, NULL), 0);
    assert_int_equal(store_flush(s), 0);
    r.n = 0;
    assert_int_equal(store_metrics_query(s, "st", 3, -1, collect_metric, &r), 0);
    assert_int_equal(r.n, 1);
    l.n = 0;
    assert_int_equal(store_analytics_last(s, "st", collect_last, &l), 0);
    assert_int_equal(l.step, 3);
    store_close(s);
}

static void test_store_step_record_drops_rows_of_a_missing_session_and_refuses_null(void **unused)
{
    (void)unused;
    char path[300];
    db_path(path, sizeof path);
    store *s;
    assert_int_equal(store_open(path, &s), 0);
    step_metric m = metric_at(1);
    store_step_extras x = extra_at(1);
    assert_int_equal(store_step_record(s, "ghost", &m, &x), 0);
    assert_int_equal(store_flush(s), 0);
    store_stats st;
    store_get_stats(s, &st);
    assert_int_equal(st.jobs_failed, 0);
    rows r = {0};
    assert_int_equal(store_metrics_query(s, "ghost", 0, -1, collect_metric, &r), 0);
    assert_int_equal(r.n, 0);
    last l = {0};
    assert_int_equal(store_analytics_last(s, "ghost", collect_last, &l), 0);
    assert_int_equal(l.n, 0);

    assert_int_equal(store_step_record(NULL, "a", &m, &x), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_step_record(s, NULL, &m, &x), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_step_record(s, "a", NULL, &x), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_analytics_refresh(NULL, NULL, 0), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_analytics_refresh(s, NULL, 0), 0);
    store_close(s);
}

static void test_store_step_record_and_refresh_match_metric_and_analytics_write(void **unused)
{
    (void)unused;
    char path[300];
    db_path(path, sizeof path);
    store *s;
    assert_int_equal(store_open(path, &s), 0);
    create_session(s, "old");   /* store_metric + store_analytics_write */
    create_session(s, "new");   /* store_step_record + store_analytics_refresh */
    enum { STEPS = 200, BATCH = 50 };
    for (int64_t k0 = 0; k0 < STEPS; k0 += BATCH) {
        store_analytics_row xo[BATCH];
        char *texts[BATCH][2];
        for (int i = 0; i < BATCH; i++) {
            int64_t k = k0 + i;
            step_metric m = metric_at(k);
            store_step_extras xn = extra_at(k);
            assert_int_equal(store_step_extras_json(&xn, &texts[i][0], &texts[i][1]), 0);
            xo[i] = (store_analytics_row){.id = "old", .step = k, .update_cos = xn.update_cos,
                                          .update_ratio = xn.update_ratio, .lr_mult = xn.lr_mult,
                                          .tensors_json = texts[i][0], .extra_json = texts[i][1]};
            assert_int_equal(store_metric(s, "old", &m), 0);
            assert_int_equal(store_step_record(s, "new", &m, &xn), 0);
        }
        store_analytics_row xr[BATCH];
        for (int i = 0; i < BATCH; i++) xr[i] = (store_analytics_row){.id = "new", .step = k0 + i};
        assert_int_equal(store_analytics_write(s, xo, BATCH), 0);
        assert_int_equal(store_analytics_refresh(s, xr, BATCH), 0);
        for (int i = 0; i < BATCH; i++) {
            free(texts[i][0]);
            free(texts[i][1]);
        }
    }
    const int64_t widths[] = {1, 7, 64, 512};
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        buckets a = {0}, b = {0};
        assert_int_equal(store_metrics_downsample(s, "old", 0, STEPS, widths[w] * 4, collect_bucket, &a), 0);
        assert_int_equal(store_metrics_downsample(s, "new", 0, STEPS, widths[w] * 4, collect_bucket, &b), 0);
        assert_true(a.n > 0);
        assert_int_equal(a.n, b.n);
        for (int i = 0; i < a.n; i++) {
            assert_int_equal(a.b[i].step_first, b.b[i].step_first);
            assert_int_equal(a.b[i].step_last, b.b[i].step_last);
            assert_int_equal(a.b[i].count, b.b[i].count);
            for (int c = 0; c < STORE_AN_NCOLS; c++) {
                assert_int_equal(a.b[i].col[c].count, b.b[i].col[c].count);
                assert_same(a.b[i].col[c].mean, b.b[i].col[c].mean);
                assert_same(a.b[i].col[c].min, b.b[i].col[c].min);
                assert_same(a.b[i].col[c].max, b.b[i].col[c].max);
                assert_int_equal(a.b[i].col[c].min_step, b.b[i].col[c].min_step);
                assert_int_equal(a.b[i].col[c].max_step, b.b[i].col[c].max_step);
            }
        }
    }
    last lo = {0}, ln = {0};
    assert_int_equal(store_analytics_last(s, "old", collect_last, &lo), 0);
    assert_int_equal(store_analytics_last(s, "new", collect_last, &ln), 0);
    assert_int_equal(lo.step, ln.step);
    assert_string_equal(lo.tensors, ln.tensors);
    assert_string_equal(lo.extra, ln.extra);
    store_close(s);
}

static int setup(void **unused)
{
    (void)unused;
    snprintf(g_dir, sizeof g_dir, "/tmp/test_store_sessions.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}
/* The lr of every parameter group rides the step's metrics row: copied at
 * the call (the caller's array may change at once), read back exactly
 * (NaN as null -> NAN), absent for a row without groups; a count past
 * STORE_GROUP_LR_MAX or a count without values is refused, nothing queued. */
typedef struct glr_rows { int n; int64_t step[8]; int ng[8]; double v[8][STORE_GROUP_LR_MAX]; } glr_rows;

static int collect_glr(void *ctx, const step_metric *m)
{
    glr_rows *r = ctx;
    if (r->n < 8) {
        r->step[r->n] = m->step;
        r->ng[r->n] = m->ngroup_lr;
        for (int i = 0; i < m->ngroup_lr; i++) r->v[r->n][i] = m->group_lr[i];
        r->n++;
    }
    return 0;
}

static void test_store_group_lr_round_trips_exactly_and_refuses_bad_counts(void **unused)
{
    (void)unused;
    char path[300];
    db_path(path, sizeof path);
    store *s;
    assert_int_equal(store_open(path, &s), 0);
    create_session(s, "g");
    double lr[STORE_GROUP_LR_MAX + 1];
    for (int i = 0; i <= STORE_GROUP_LR_MAX; i++) lr[i] = 0.1 * 0.9 * (i + 1) / 3.0;
    lr[1] = 0.0;
    lr[2] = NAN;
    lr[3] = 1e-300;
    step_metric m = metric_at(1);
    m.ngroup_lr = 4;
    m.group_lr = lr;
    store_step_extras x = extra_at(1);
    assert_int_equal(store_step_record(s, "g", &m, &x), 0);
    double saved0 = lr[0];
    lr[0] = 9;                                   /* copied at the call */
    m = metric_at(2);
    m.ngroup_lr = STORE_GROUP_LR_MAX;
    m.group_lr = lr;
    assert_int_equal(store_metric(s, "g", &m), 0);
    m = metric_at(3);                            /* no groups */
    assert_int_equal(store_step_record(s, "g", &m, NULL), 0);
    m = metric_at(4);
    m.ngroup_lr = STORE_GROUP_LR_MAX + 1;
    m.group_lr = lr;
    assert_int_equal(store_step_record(s, "g", &m, NULL), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_metric(s, "g", &m), ERR_INVALID_ARGUMENT);
    m.ngroup_lr = -1;
    assert_int_equal(store_metric(s, "g", &m), ERR_INVALID_ARGUMENT);
    m.ngroup_lr = 2;
    m.group_lr = NULL;
    assert_int_equal(store_step_record(s, "g", &m, NULL), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_flush(s), 0);
    glr_rows *r = calloc(1, sizeof *r);
    assert_non_null(r);
    assert_int_equal(store_metrics_query(s, "g", 0, -1, collect_glr, r), 0);
    assert_int_equal(r->n, 3);                   /* step 4 was never queued */
    assert_int_equal(r->ng[0], 4);
    assert_true(r->v[0][0] == saved0 && r->v[0][1] == 0.0 && isnan(r->v[0][2]) && r->v[0][3] == 1e-300);
    assert_int_equal(r->ng[1], STORE_GROUP_LR_MAX);
    for (int i = 4; i < STORE_GROUP_LR_MAX; i++) assert_true(r->v[1][i] == lr[i]);
    assert_true(r->v[1][0] == 9);
    assert_int_equal(r->ng[2], 0);
    free(r);
    store_close(s);
}

static void test_store_group_lr_text_parses_only_its_own_form(void **unused)
{
    (void)unused;
    double v[4], in[3] = {0.1, 0.0, NAN};
    char *t = store_group_lr_json(in, 3);
    assert_non_null(t);
    assert_string_equal(t, "[0.10000000000000001,0,null]");   /* 17 digits: exact */
    assert_int_equal(store_group_lr_parse(t, v, 4), 3);
    assert_true(v[0] == 0.1 && v[1] == 0 && isnan(v[2]));
    assert_int_equal(store_group_lr_parse(t, v, 2), 0);          /* more than cap */
    free(t);
    assert_null(store_group_lr_json(in, 0));
    assert_null(store_group_lr_json(NULL, 2));
    assert_null(store_group_lr_json(in, STORE_GROUP_LR_MAX + 1));
    static const char *const bad[] = {"", "[]", "[1,]", "[1", "1]", "[1]x", "[x]", "[1 ,2]", "[nul]", "{\"a\":1}",
                                      "[1,,2]", "[+1]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(store_group_lr_parse(bad[i], v, 4), 0);
    assert_int_equal(store_group_lr_parse(NULL, v, 4), 0);
    assert_int_equal(store_group_lr_parse("[-2.5e-3,1e-300]", v, 4), 2);
    assert_true(v[0] == -2.5e-3 && v[1] == 1e-300);
}

static int teardown(void **unused)
{
    (void)unused;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_step_record_queues_one_job_carrying_metric_and_extras),
        cmocka_unit_test(test_store_step_record_drops_rows_of_a_missing_session_and_refuses_null),
        cmocka_unit_test(test_store_step_record_and_refresh_match_metric_and_analytics_write),
        cmocka_unit_test(test_store_group_lr_round_trips_exactly_and_refuses_bad_counts),
        cmocka_unit_test(test_store_group_lr_text_parses_only_its_own_form),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
