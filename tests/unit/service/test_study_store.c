/* test_study_store.c — the study service over the study-store interface
 * (study_store.h), with a store that wraps SQLite's and counts, or fails,
 * its units of work: every call that changes a study runs in exactly one
 * hold … release (never nested, always released), a failed hold or a
 * failed release (a transaction that did not commit) fails the call with no
 * answer, and two services sharing one store — two daemons sharing the
 * cluster's — draw, for a seed, the same parameters as one service does:
 * the sampler's input is the seed and the stored history only. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "store.h"
#include "study.h"
#include "study_store.h"

static char g_dir[64], g_path[96];
static int64_t g_now = 1000000;
static int64_t test_now(void) { return g_now; }

static int setup(void **st)
{
    (void)st;
    snprintf(g_dir, sizeof g_dir, "/tmp/test_study_store.XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_path, sizeof g_path, "%s/db", g_dir);
    g_now = 1000000;
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    char p[128];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", g_path, sfx[i]);
        unlink(p);
    }
    rmdir(g_dir);
    return 0;
}

/* ---- a counting wrapper around SQLite's study store ------------------------------ */

typedef struct wrap {
    study_store inner;
    int         holds, releases, depth, max_depth;
    int         fail_hold, fail_release;   /* the next one fails with ERR_CLUSTER_DB */
} wrap;

static wrap g_w;

static int w_insert(void *c, const store_study_row *r) { (void)c; return g_w.inner.ops->study_insert(g_w.inner.ctx, r); }
static int w_delete(void *c, const char *id) { (void)c; return g_w.inner.ops->study_delete(g_w.inner.ctx, id); }
static int w_get(void *c, const char *id, int (*fn)(void *, const store_study_row *), void *f)
{
    (void)c;
    return g_w.inner.ops->study_get(g_w.inner.ctx, id, fn, f);
}
static int w_list(void *c, const char *t, int limit, int (*fn)(void *, const store_study_row *), void *f)
{
    (void)c;
    return g_w.inner.ops->studies_list(g_w.inner.ctx, t, limit, fn, f);
}
static int w_tins(void *c, const char *s, int64_t n, const char *p, const double *x, int nx, int64_t now)
{
    (void)c;
    assert_int_equal(g_w.depth, 1);   /* a trial is inserted inside a unit of work only */
    return g_w.inner.ops->trial_insert(g_w.inner.ctx, s, n, p, x, nx, now);
}
static int w_tfin(void *c, const char *s, int64_t n, const char *st, double v, int64_t now)
{
    (void)c;
    assert_int_equal(g_w.depth, 1);
    return g_w.inner.ops->trial_finish(g_w.inner.ctx, s, n, st, v, now);
}
static int w_trep(void *c, const char *s, int64_t n, int64_t step, double v, int64_t now)
{
    (void)c;
    assert_int_equal(g_w.depth, 1);
    return g_w.inner.ops->trial_report(g_w.inner.ctx, s, n, step, v, now);
}
static int w_lose(void *c, const char *s, int64_t b, int64_t now, int *n)
{
    (void)c;
    assert_int_equal(g_w.depth, 1);
    return g_w.inner.ops->trials_lose(g_w.inner.ctx, s, b, now, n);
}
static int w_trials(void *c, const char *s, int (*tf)(void *, const store_trial_row *),
                    int (*vf)(void *, int64_t, int64_t, double), void *f)
{
    (void)c;
    return g_w.inner.ops->study_trials(g_w.inner.ctx, s, tf, vf, f);
}
static int w_hold(void *c, const char *id)
{
    (void)c;
    (void)id;
    if (g_w.fail_hold) {
        g_w.fail_hold = 0;
        return ERR_CLUSTER_DB;
    }
    g_w.holds++;
    if (++g_w.depth > g_w.max_depth) g_w.max_depth = g_w.depth;
    return 0;
}
static int w_release(void *c)
{
    (void)c;
    g_w.releases++;
    g_w.depth--;
    if (g_w.fail_release) {
        g_w.fail_release = 0;
        return ERR_CLUSTER_DB;
    }
    return 0;
}

static const study_store_ops W_OPS = {w_insert, w_delete, w_get, w_list, w_tins, w_tfin,
                                      w_trep, w_lose, w_trials, w_hold, w_release};

static study_svc *open_wrapped(store **db)
{
    assert_int_equal(store_open(g_path, db), 0);
    memset(&g_w, 0, sizeof g_w);
    g_w.inner = store_studies_store(*db);
    study_svc *sv = NULL;
    assert_int_equal(study_svc_new((study_store){&W_OPS, &g_w}, 60000, test_now, &sv), 0);
    return sv;
}

static void create(study_svc *sv, const char *text, char *id)
{
    cJSON *body = cJSON_Parse(text), *out = NULL;
    char msg[300] = "";
    assert_int_equal(study_create(sv, "t", body, &out, msg, sizeof msg), 0);
    strcpy(id, cJSON_GetObjectItem(out, "id")->valuestring);
    cJSON_Delete(body);
    cJSON_Delete(out);
}

#define STUDY "{\"name\": \"w\", \"sampler\": \"tpe\", \"seed\": 9, \"pruner\": \"median\", \"parallel\": 1," \
              " \"sampler_options\": {\"n_startup_trials\": 2, \"n_ei_candidates\": 8}," \
              " \"space\": {\"x\": {\"type\": \"float\", \"low\": -2, \"high\": 2}," \
              " \"k\": {\"type\": \"int\", \"low\": 1, \"high\": 5}}}"

static void test_units_of_work_are_balanced_and_failures_answer_nothing(void **st)
{
    (void)st;
    store *db;
    study_svc *sv = open_wrapped(&db);
    char id[64], msg[300];
    create(sv, STUDY, id);
    cJSON *out = NULL;
    assert_int_equal(study_ask(sv, "t", id, &out, msg, sizeof msg), 0);
    cJSON_Delete(out);
    int prune = 0;
    assert_int_equal(study_report(sv, "t", id, 0, 1, 0.5, &prune, msg, sizeof msg), 0);
    assert_int_equal(study_tell(sv, "t", id, 0, "complete", 0.5, &out, msg, sizeof msg), 0);
    cJSON_Delete(out);
    assert_int_equal(study_get(sv, "t", id, &out, msg, sizeof msg), 0);
    cJSON_Delete(out);
    assert_int_equal(study_trials(sv, "t", id, &out, msg, sizeof msg), 0);
    cJSON_Delete(out);
    const char *state = NULL;
    assert_int_equal(study_trial_state(sv, "t", id, 0, &state, msg, sizeof msg), 0);
    assert_string_equal(state, "complete");
    /* refusals release too */
    assert_int_equal(study_tell(sv, "t", id, 0, "complete", 0.5, &out, msg, sizeof msg), ERR_TRIAL_FINISHED);
    assert_int_equal(study_ask(sv, "other", id, &out, msg, sizeof msg), ERR_NOT_FOUND);
    assert_true(g_w.holds >= 8);
    assert_int_equal(g_w.holds, g_w.releases);
    assert_int_equal(g_w.max_depth, 1);

    /* a hold that fails: the call fails, nothing changes */
    g_w.fail_hold = 1;
    assert_int_equal(study_ask(sv, "t", id, &out, msg, sizeof msg), ERR_CLUSTER_DB);
    assert_null(out);
    g_w.fail_hold = 1;
    assert_int_equal(study_get(sv, "t", id, &out, msg, sizeof msg), ERR_CLUSTER_DB);
    assert_null(out);
    /* a release that fails (the transaction did not commit): no answer.
     * (SQLite's writes committed on their own, so trial 1 exists there; over
     * PostgreSQL the rollback takes it back — the answer is what matters.) */
    g_w.fail_release = 1;
    assert_int_equal(study_ask(sv, "t", id, &out, msg, sizeof msg), ERR_CLUSTER_DB);
    assert_null(out);
    assert_non_null(strstr(msg, "cluster"));
    g_w.fail_release = 1;
    prune = 1;
    assert_int_equal(study_report(sv, "t", id, 1, 1, 0.5, &prune, msg, sizeof msg), ERR_CLUSTER_DB);
    assert_int_equal(prune, 0);
    assert_int_equal(g_w.holds, g_w.releases);
    assert_int_equal(g_w.depth, 0);
    study_svc_free(sv);
    store_close(db);
}

/* Asks and tells n trials, alternating between the services in sv (k of
 * them); the drawn x of each into xs. */
static void drive(study_svc **sv, int k, const char *id, int n, double *xs)
{
    char msg[300];
    for (int i = 0; i < n; i++) {
        cJSON *out = NULL;
        assert_int_equal(study_ask(sv[i % k], "t", id, &out, msg, sizeof msg), 0);
        assert_int_equal((int)cJSON_GetObjectItem(out, "trial")->valuedouble, i);
        cJSON *p = cJSON_GetObjectItem(out, "params");
        double x = cJSON_GetObjectItem(p, "x")->valuedouble, kk = cJSON_GetObjectItem(p, "k")->valuedouble;
        xs[i] = x;
        cJSON_Delete(out);
        assert_int_equal(study_tell(sv[(i + 1) % k], "t", id, i, "complete", (x - 0.3) * (x - 0.3) + 0.1 * kk, &out,
                                    msg, sizeof msg), 0);
        cJSON_Delete(out);
    }
}

static void test_two_services_on_one_store_draw_what_one_draws(void **st)
{
    (void)st;
    store *db;
    study_svc *one = open_wrapped(&db), *two = NULL;
    assert_int_equal(study_svc_new((study_store){&W_OPS, &g_w}, 60000, test_now, &two), 0);
    char a[64], b[64];
    create(one, STUDY, a);
    create(two, STUDY, b);
    double xa[8], xb[8];
    study_svc *solo[1] = {one}, *pair[2] = {two, one};
    drive(solo, 1, a, 8, xa);
    drive(pair, 2, b, 8, xb);
    assert_memory_equal(xa, xb, sizeof xa);
    int distinct = 1;
    for (int i = 1; i < 8; i++) distinct += xa[i] != xa[i - 1];
    assert_int_equal(distinct, 8);
    study_svc_free(one);
    study_svc_free(two);
    store_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_units_of_work_are_balanced_and_failures_answer_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_services_on_one_store_draw_what_one_draws, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
