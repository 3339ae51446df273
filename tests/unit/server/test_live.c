/* test_live.c — src/server/live.c without a socket: a step of a session
 * whose feed has no stream still counts for /metrics (steps by optimizer,
 * adapted steps) and queues its metrics row and extras as one store job,
 * with its figures; steps recorded from several threads at once all arrive
 * (the lock-free refresh queue drained by live_flush while they come);
 * refreshes past LIVE_BUFFER_MAX waiting are dropped and counted; the
 * formatters give parseable JSON for hostile tensor names (issue 13, finding
 * 1).  The counters are process-global: every check compares before and after. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "app.h"
#include "live.h"
#include "numfmt.h"
#include "opt.h"
#include "step.h"
#include "store.h"

/* The value of a sample line `series value` of the exposition (0: absent). */
static double sample(const char *series)
{
    char *text = live_prom_text();
    assert_non_null(text);
    double v = 0;
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
    free(text);
    return v;
}

static double steps_of(const opt *o)
{
    char series[256];
    static const char *const kinds[] = {"classic", "learned", "hybrid"};
    int kd = (int)o->vt->kind;
    snprintf(series, sizeof series, "optirs_optimizer_steps_total{optimizer=\"%s\",kind=\"%s\"}", o->vt->name,
             kd >= 0 && kd < 3 ? kinds[kd] : "other");
    return sample(series);
}

static opt an_opt(void)
{
    opt o;
    memset(&o, 0, sizeof o);
    o.vt = opt_registry_at(0);
    return o;
}

static void record(live_feed *f, store *db, const char *id, const opt *o, int64_t k, double mult)
{
    step_metric m = {.step = k, .time_ms = 1000 + k, .loss = 1.0 / (double)k, .grad_norm = 1, .update_norm = 0.5,
                     .param_norm = 2, .lr = 0.01};
    step_result r;
    memset(&r, 0, sizeof r);
    r.has_stats = 1;
    r.stats = (analytics_step){.update_cos = 0.001 * (double)k, .update_ratio = 0.25, .ntensors = 0};
    r.lr_mult = mult;
    live_record_step(f, db, id, o, &m, &r);
}

typedef struct { char dir[64]; char path[128]; store *db; } tmp_store;

static void store_begin(tmp_store *t, const char *const *ids, int nids)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/optirs_test_live_XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/l.db", t->dir);
    assert_int_equal(store_open(t->path, &t->db), 0);
    for (int i = 0; i < nids; i++) {
        void *blob = calloc(1, 4);
        assert_non_null(blob);
        assert_int_equal(store_session_create_take(t->db, ids[i], "{}", 1, 0, blob, 4), 0);
    }
}

static void store_end(tmp_store *t)
{
    store_close(t->db);
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char f[160];
        snprintf(f, sizeof f, "%s%s", t->path, suffix[i]);
        unlink(f);
    }
    rmdir(t->dir);
}

typedef struct { int64_t steps[4096]; int n; } rows_seen;

static int seen_metric(void *ctx, const step_metric *m)
{
    rows_seen *c = ctx;
    if (c->n < 4096) c->steps[c->n++] = m->step;
    return 0;
}

static int last_extras(void *ctx, const store_analytics_row *r)
{
    store_analytics_row *out = ctx;
    *out = *r;
    out->id = NULL;
    out->tensors_json = out->extra_json = NULL;   /* not kept past the call */
    return 0;
}

static void test_a_step_without_streams_counts_and_queues_its_row(void **unused)
{
    (void)unused;
    const char *ids[] = {"live-a"};
    tmp_store t;
    store_begin(&t, ids, 1);
    app a;
    memset(&a, 0, sizeof a);
    a.db = t.db;
    opt o = an_opt();
    live_feed *f = live_feed_new();
    assert_non_null(f);
    double steps0 = steps_of(&o), adapted0 = sample("optirs_adapted_steps_total");
    double dropped0 = sample("optirs_analytics_rows_dropped_total");
    record(f, t.db, "live-a", &o, 1, NAN);
    record(f, t.db, "live-a", &o, 2, 1.5);   /* an adapted step */
    record(f, t.db, "live-a", &o, 3, NAN);
    assert_true(steps_of(&o) == steps0 + 3);
    assert_true(sample("optirs_adapted_steps_total") == adapted0 + 1);
    assert_int_equal(live_flush(&a), 0);
    assert_int_equal(store_flush(t.db), 0);
    rows_seen c = {.n = 0};
    assert_int_equal(store_metrics_tail(t.db, "live-a", 10, seen_metric, &c), 0);
    assert_int_equal(c.n, 3);
    for (int i = 0; i < 3; i++) assert_int_equal(c.steps[i], i + 1);
    store_analytics_row last = {.step = -1};
    assert_int_equal(store_analytics_last(t.db, "live-a", last_extras, &last), 0);
    assert_int_equal(last.step, 3);
    assert_true(fabs(last.update_cos - 0.003) < 1e-12);
    assert_true(sample("optirs_analytics_rows_dropped_total") == dropped0);
    assert_int_equal(live_flush(&a), 0);   /* nothing left: a no-op */
    live_feed_close(f);
    store_end(&t);
}

typedef struct { int n; int64_t step; char tensors[256], extra[256]; } texts_seen;

static int last_texts(void *ctx, const store_analytics_row *r)
{
    texts_seen *c = ctx;
    c->n++;
    c->step = r->step;
    snprintf(c->tensors, sizeof c->tensors, "%s", r->tensors_json ? r->tensors_json : "(null)");
    snprintf(c->extra, sizeof c->extra, "%s", r->extra_json ? r->extra_json : "(null)");
    return 0;
}

/* live_record_step hands step_run's numbers to the store, which formats the
 * extras row on its writer thread; live_record (the form sessions.c calls
 * until h14-proto) stores its already formatted extra object as given. */
static void test_a_step_result_reaches_the_store_as_numbers(void **unused)
{
    (void)unused;
    const char *ids[] = {"live-r"};
    tmp_store t;
    store_begin(&t, ids, 1);
    app a;
    memset(&a, 0, sizeof a);
    a.db = t.db;
    opt o = an_opt();
    layout_tensor lt[2] = {{.name = "w"}, {.name = "b\"q"}};
    o.lay = (layout){.ntensors = 2, .tensors = lt, .n = 2};
    static step_result res;
    memset(&res, 0, sizeof res);
    res.has_stats = 1;
    res.stats = (analytics_step){.update_cos = 0.5, .update_ratio = 0.25, .ntensors = 2,
                                 .grad = {1.0 / 3.0, 2}, .update = {NAN, 4}, .param = {5, 6}};
    res.lr_mult = 1.25;
    res.ndiag = 2;
    res.diag[0] = (opt_diag_value){"es_scale_mean", 0.1};
    res.diag[1] = (opt_diag_value){"es_updates", INFINITY};
    step_metric m = {.step = 1, .time_ms = 1001, .loss = 0.5, .lr = 0.01};
    live_feed *f = live_feed_new();
    assert_non_null(f);
    live_record_step(f, t.db, "live-r", &o, &m, &res);
    assert_int_equal(live_flush(&a), 0);
    assert_int_equal(store_flush(t.db), 0);
    texts_seen c = {0};
    assert_int_equal(store_analytics_last(t.db, "live-r", last_texts, &c), 0);
    assert_int_equal(c.step, 1);
    assert_string_equal(c.tensors, "[[\"w\",0.333333333,null,5],[\"b\\\"q\",2,4,6]]");
    /* the diagnostics exact: numfmt's %.17g text ("0.10000000000000001"; valgrind, whose x87
     * emulation has no 80-bit long double, makes numfmt print "0.1": see test_numfmt.c) */
    char num[NUMFMT_MAX + 1], want[128];
    num[numfmt_f64(num, 0.1)] = '\0';
    snprintf(want, sizeof want, "{\"es_scale_mean\":%s,\"es_updates\":null}", num);
    assert_string_equal(c.extra, want);

    /* a skipped step: no analytics, no diagnostics, so no texts */
    m.step = 2;
    memset(&res, 0, sizeof res);
    res.lr_mult = NAN;
    live_record_step(f, t.db, "live-r", &o, &m, &res);
    assert_int_equal(store_flush(t.db), 0);
    memset(&c, 0, sizeof c);
    assert_int_equal(store_analytics_last(t.db, "live-r", last_texts, &c), 0);
    assert_int_equal(c.step, 2);
    assert_string_equal(c.tensors, "(null)");
    assert_string_equal(c.extra, "(null)");
    live_feed_close(f);
    store_end(&t);
}

#define NTHREADS 4
#define PER_THREAD 500

typedef struct { const char *id; store *db; } writer_arg;

static void *writer(void *p)
{
    writer_arg *w = p;
    opt o = an_opt();
    live_feed *f = live_feed_new();
    if (!f) return NULL;
    for (int64_t k = 1; k <= PER_THREAD; k++) record(f, w->db, w->id, &o, k, NAN);
    live_feed_close(f);
    return NULL;
}

static void test_steps_recorded_from_many_threads_all_reach_the_store(void **unused)
{
    (void)unused;
    const char *ids[NTHREADS] = {"live-t0", "live-t1", "live-t2", "live-t3"};
    tmp_store t;
    store_begin(&t, ids, NTHREADS);
    app a;
    memset(&a, 0, sizeof a);
    a.db = t.db;
    double dropped0 = sample("optirs_analytics_rows_dropped_total");
    pthread_t th[NTHREADS];
    writer_arg args[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        args[i].id = ids[i];
        args[i].db = t.db;
        assert_int_equal(pthread_create(&th[i], NULL, writer, &args[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        if (i == 1) assert_int_equal(live_flush(&a), 0);   /* a flush while steps still come */
        pthread_join(th[i], NULL);
    }
    assert_int_equal(live_flush(&a), 0);
    assert_int_equal(store_flush(t.db), 0);
    for (int i = 0; i < NTHREADS; i++) {
        rows_seen *c = calloc(1, sizeof *c);
        assert_non_null(c);
        assert_int_equal(store_metrics_tail(t.db, ids[i], PER_THREAD + 10, seen_metric, c), 0);
        assert_int_equal(c->n, PER_THREAD);
        for (int k = 0; k < PER_THREAD; k++) assert_int_equal(c->steps[k], k + 1);
        free(c);
    }
    assert_true(sample("optirs_analytics_rows_dropped_total") == dropped0);
    store_end(&t);
}

static void test_rows_past_the_buffer_limit_are_dropped_and_counted(void **unused)
{
    (void)unused;
    app a;
    memset(&a, 0, sizeof a);   /* db = NULL: live_flush discards */
    assert_int_equal(live_flush(&a), 0);
    opt o = an_opt();
    live_feed *f = live_feed_new();
    assert_non_null(f);
    double dropped0 = sample("optirs_analytics_rows_dropped_total");
    for (int64_t k = 1; k <= LIVE_BUFFER_MAX + 5; k++) record(f, NULL, "live-full", &o, k, NAN);
    assert_true(sample("optirs_analytics_rows_dropped_total") == dropped0 + 5);
    assert_int_equal(live_flush(&a), 0);
    record(f, NULL, "live-full", &o, LIVE_BUFFER_MAX + 6, NAN);   /* room again */
    assert_true(sample("optirs_analytics_rows_dropped_total") == dropped0 + 5);
    assert_int_equal(live_flush(&a), 0);
    live_feed_close(f);
}

static void test_live_formatters_give_json_for_hostile_tensor_names(void **unused)
{
    (void)unused;
    layout_tensor lt[3] = {0};
    memset(lt[0].name, '"', 63);
    memset(lt[1].name, '\\', 63);
    snprintf(lt[2].name, sizeof lt[2].name, "bad\xFF\n");
    layout lay = {.ntensors = 3, .tensors = lt, .n = 3};
    analytics_step x = {.ntensors = 3, .grad = {1, NAN, 3}, .update = {0.5, 0.25, INFINITY}, .param = {2, 4, 8}};
    store_step_extras ex = {.stats = &x, .lay = &lay};
    char *t = NULL, *none = NULL;
    assert_int_equal(store_step_extras_json(&ex, &t, &none), 0);   /* what the store's writer formats */
    assert_null(none);
    assert_non_null(t);
    cJSON *v = cJSON_Parse(t);
    assert_non_null(v);
    assert_int_equal(cJSON_GetArraySize(v), 3);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(v, 0), 0)->valuestring, lt[0].name);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(v, 1), 0)->valuestring, lt[1].name);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(v, 2), 0)->valuestring, "bad\xEF\xBF\xBD\n");
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(cJSON_GetArrayItem(v, 1), 1)));
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(cJSON_GetArrayItem(v, 2), 2)));
    cJSON_Delete(v);
    free(t);
    step_metric m = {.step = 7, .time_ms = 123, .loss = NAN, .grad_norm = 1.5, .lr = 0.1};
    char *ev = live_format_event(&m, 0.5, NAN, INFINITY);
    assert_non_null(ev);
    assert_true(strncmp(ev, "id: 7\nevent: step\ndata: {", 25) == 0);
    char *data = strstr(ev, "data: ") + 6;
    size_t dl = strlen(data);
    assert_true(dl > 2 && strcmp(data + dl - 2, "\n\n") == 0);
    v = cJSON_ParseWithLength(data, dl - 2);
    assert_non_null(v);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(v, "step")->valuedouble, 7);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(v, "loss")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(v, "lr_mult")));
    cJSON_Delete(v);
    free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_step_without_streams_counts_and_queues_its_row),
        cmocka_unit_test(test_a_step_result_reaches_the_store_as_numbers),
        cmocka_unit_test(test_steps_recorded_from_many_threads_all_reach_the_store),
        cmocka_unit_test(test_rows_past_the_buffer_limit_are_dropped_and_counted),
        cmocka_unit_test(test_live_formatters_give_json_for_hostile_tensor_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
