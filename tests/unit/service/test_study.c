/* test_study.c — the study service (study.h, study_spec.h) over a real
 * store with a test clock: create and the request's checks, ask/report/tell,
 * the best trial, parallel and max_trials refusals, lost trials after the
 * heartbeat timeout, median pruning through reports, tenants, determinism
 * for a seed, and a reopened store. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "store.h"
#include "study.h"
#include "study_spec.h"
#include "spec.h"
#include "study_bind.h"

static char g_dir[64], g_path[96];
static int64_t g_now = 1000000;
static int64_t test_now(void) { return g_now; }

static store *open_db(void)
{
    store *db = NULL;
    assert_int_equal(store_open(g_path, &db), 0);
    return db;
}

static int setup(void **st)
{
    (void)st;
    snprintf(g_dir, sizeof g_dir, "/tmp/test_study.XXXXXX");
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

static cJSON *J(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    return j;
}

/* Creates a study from text for tenant; its id into id. */
static void create(study_svc *sv, const char *tenant, const char *text, char *id)
{
    cJSON *body = J(text), *out = NULL;
    char msg[300] = "";
    int rc = study_create(sv, tenant, body, &out, msg, sizeof msg);
    if (rc) print_message("create: %s\n", msg);
    assert_int_equal(rc, 0);
    strcpy(id, cJSON_GetObjectItem(out, "id")->valuestring);
    cJSON_Delete(body);
    cJSON_Delete(out);
}

static int64_t ask(study_svc *sv, const char *tenant, const char *id, cJSON **params)
{
    cJSON *out = NULL;
    char msg[300];
    int rc = study_ask(sv, tenant, id, &out, msg, sizeof msg);
    if (rc) return rc;
    int64_t n = (int64_t)cJSON_GetObjectItem(out, "trial")->valuedouble;
    if (params) *params = cJSON_DetachItemFromObject(out, "params");
    cJSON_Delete(out);
    return n;
}

static int tell(study_svc *sv, const char *id, int64_t n, const char *state, double v)
{
    cJSON *out = NULL;
    char msg[300];
    int rc = study_tell(sv, "t", id, n, state, v, &out, msg, sizeof msg);
    cJSON_Delete(out);
    return rc;
}

#define SPACE "\"space\": {\"lr\": {\"type\": \"float\", \"low\": 1e-5, \"high\": 0.1, \"log\": true}," \
              " \"layers\": {\"type\": \"int\", \"low\": 1, \"high\": 4}," \
              " \"batch\": {\"type\": \"categorical\", \"choices\": [16, 32, 64, 128]}," \
              " \"arch\": {\"type\": \"categorical\", \"choices\": [\"small\", \"medium\", \"large\"]}}"

static void test_spec_checks(void **st)
{
    (void)st;
    const struct { const char *body; int rc; } cases[] = {
        {"{\"name\": \"a\", " SPACE "}", 0},
        {"{" SPACE "}", ERR_MISSING_FIELD},
        {"{\"name\": \"a\"}", ERR_MISSING_FIELD},
        {"{\"name\": \"\", " SPACE "}", ERR_INVALID_ARGUMENT},
        {"{\"name\": \"a\\u0001\", " SPACE "}", ERR_INVALID_ARGUMENT},
        {"{\"name\": \"a\", \"bogus\": 1, " SPACE "}", ERR_UNKNOWN_FIELD},
        {"{\"name\": \"a\", \"sampler\": \"gp\", " SPACE "}", ERR_INVALID_ARGUMENT},   /* categoricals */
        {"{\"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}, \"sampler\": \"gp\", \"name\": \"a\"}", 0},
        {"{\"name\": \"a\", \"pruner\": \"hyperband\", " SPACE "}", ERR_INVALID_ARGUMENT},
        {"{\"name\": \"a\", \"direction\": \"up\", " SPACE "}", ERR_INVALID_ARGUMENT},
        {"{\"name\": \"a\", \"max_trials\": 0, " SPACE "}", ERR_OUT_OF_RANGE},
        {"{\"name\": \"a\", \"parallel\": 2.5, " SPACE "}", ERR_INVALID_ARGUMENT},
        {"{\"name\": \"a\", \"seed\": -1, " SPACE "}", ERR_OUT_OF_RANGE},
        {"{\"name\": \"a\", \"space\": {}}", ERR_INVALID_ARGUMENT},
        {"{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"float\", \"low\": 1}}}", ERR_MISSING_FIELD},
        {"{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"float\", \"low\": 2, \"high\": 1}}}", ERR_INVALID_ARGUMENT},
        {"{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"log\": true}}}",
         ERR_INVALID_ARGUMENT},
        {"{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"int\", \"low\": 0, \"high\": 1.5}}}", ERR_INVALID_ARGUMENT},
        {"{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"step\": 1}}}",
         ERR_INVALID_ARGUMENT},
        {"{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"categorical\", \"choices\": []}}}", ERR_OUT_OF_RANGE},
        {"{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"categorical\", \"choices\": [1, 1]}}}",
         ERR_INVALID_ARGUMENT},
        {"{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"categorical\", \"choices\": [[1]]}}}",
         ERR_INVALID_ARGUMENT},
        {"{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"tree\"}}}", ERR_INVALID_ARGUMENT},
        {"{\"name\": \"a\", \"space\": {\"\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}}", ERR_INVALID_ARGUMENT},
        {"{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"x\": 1}}}",
         ERR_UNKNOWN_FIELD},
        {"{\"name\": \"a\", \"pruner_options\": {\"reduction_factor\": 1}, " SPACE "}", ERR_OUT_OF_RANGE},
        {"[1]", ERR_INVALID_ARGUMENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *b = J(cases[i].body);
        study_spec sp;
        char msg[300] = "";
        int rc = study_spec_parse(&sp, b, 0, msg, sizeof msg);
        if (rc != cases[i].rc) print_message("case %zu: %d (%s)\n", i, rc, msg);
        assert_int_equal(rc, cases[i].rc);
        if (rc) assert_true(msg[0] != 0);
        study_spec_free(&sp);
        cJSON_Delete(b);
    }
    /* 65 parameters: one too many */
    cJSON *b = J("{\"name\": \"a\", \"space\": {}}");
    cJSON *space = cJSON_GetObjectItem(b, "space");
    for (int i = 0; i < HPO_MAX_PARAMS + 1; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "p%d", i);
        cJSON_AddItemToObject(space, nm, J("{\"type\": \"float\", \"low\": 0, \"high\": 1}"));
    }
    study_spec sp;
    char msg[300];
    assert_int_equal(study_spec_parse(&sp, b, 0, msg, sizeof msg), ERR_OUT_OF_RANGE);
    study_spec_free(&sp);
    cJSON_Delete(b);
    /* the normalised form parses back to itself */
    b = J("{\"name\": \"a\", \"seed\": 5, \"pruner\": \"asha\", " SPACE "}");
    assert_int_equal(study_spec_parse(&sp, b, 0, msg, sizeof msg), 0);
    cJSON *n1 = study_spec_to_json(&sp);
    study_spec sp2;
    assert_int_equal(study_spec_parse(&sp2, n1, 0, msg, sizeof msg), 0);
    cJSON *n2 = study_spec_to_json(&sp2);
    assert_true(cJSON_Compare(n1, n2, 1));
    cJSON_Delete(n1);
    cJSON_Delete(n2);
    study_spec_free(&sp);
    study_spec_free(&sp2);
    cJSON_Delete(b);
}

static void test_ask_tell_best_and_limits(void **st)
{
    (void)st;
    store *db = open_db();
    study_svc *sv;
    assert_int_equal(study_svc_new(store_studies_store(db), 60000, test_now, &sv), 0);
    char id[64];
    create(sv, "t", "{\"name\": \"s\", \"max_trials\": 4, \"parallel\": 2, \"seed\": 1, " SPACE "}", id);
    cJSON *p = NULL;
    assert_int_equal(ask(sv, "t", id, &p), 0);
    double lr = cJSON_GetObjectItem(p, "lr")->valuedouble;
    assert_true(lr >= 1e-5 && lr <= 0.1);
    int layers = cJSON_GetObjectItem(p, "layers")->valueint;
    assert_true(layers >= 1 && layers <= 4);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(p, "batch")));
    assert_true(cJSON_IsString(cJSON_GetObjectItem(p, "arch")));
    cJSON_Delete(p);
    assert_int_equal(ask(sv, "t", id, NULL), 1);
    assert_int_equal(ask(sv, "t", id, NULL), ERR_STUDY_PARALLEL_LIMIT);
    assert_int_equal(tell(sv, id, 0, "complete", 0.5), 0);
    assert_int_equal(tell(sv, id, 0, "complete", 0.4), ERR_TRIAL_FINISHED);
    assert_int_equal(tell(sv, id, 9, "complete", 0.4), ERR_NOT_FOUND);
    assert_int_equal(tell(sv, id, 1, "complete", NAN), ERR_NON_FINITE);
    assert_int_equal(tell(sv, id, 1, "lost", 1), ERR_INVALID_ARGUMENT);
    assert_int_equal(ask(sv, "t", id, NULL), 2);
    assert_int_equal(tell(sv, id, 1, "complete", 0.25), 0);
    assert_int_equal(tell(sv, id, 2, "failed", NAN), 0);
    assert_int_equal(ask(sv, "t", id, NULL), 3);
    assert_int_equal(ask(sv, "t", id, NULL), ERR_STUDY_EXHAUSTED);
    cJSON *out = NULL;
    char msg[300];
    assert_int_equal(study_get(sv, "t", id, &out, msg, sizeof msg), 0);
    cJSON *best = cJSON_GetObjectItem(out, "best");
    assert_int_equal(cJSON_GetObjectItem(best, "trial")->valueint, 1);
    assert_true(cJSON_GetObjectItem(best, "value")->valuedouble == 0.25);
    assert_int_equal(cJSON_GetObjectItem(out, "n_trials")->valueint, 4);
    assert_int_equal(cJSON_GetObjectItem(out, "n_running")->valueint, 1);
    cJSON_Delete(out);
    /* another tenant sees nothing; an admin (NULL) sees it */
    assert_int_equal(study_get(sv, "other", id, &out, msg, sizeof msg), ERR_NOT_FOUND);
    assert_int_equal(ask(sv, "other", id, NULL), ERR_NOT_FOUND);
    assert_int_equal(study_get(sv, NULL, id, &out, msg, sizeof msg), 0);
    cJSON_Delete(out);
    assert_int_equal(study_list(sv, "other", &out, msg, sizeof msg), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "studies")), 0);
    cJSON_Delete(out);
    assert_int_equal(study_list(sv, "t", &out, msg, sizeof msg), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "studies")), 1);
    cJSON_Delete(out);
    /* the store keeps it: a new service over a reopened store carries on */
    study_svc_free(sv);
    store_close(db);
    db = open_db();
    assert_int_equal(study_svc_new(store_studies_store(db), 60000, test_now, &sv), 0);
    assert_int_equal(study_trials(sv, "t", id, &out, msg, sizeof msg), 0);
    cJSON *trials = cJSON_GetObjectItem(out, "trials");
    assert_int_equal(cJSON_GetArraySize(trials), 4);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(trials, 2), "state")->valuestring, "failed");
    cJSON_Delete(out);
    assert_int_equal(tell(sv, id, 3, "complete", 0.1), 0);
    assert_int_equal(study_delete(sv, "other", id, msg, sizeof msg), ERR_NOT_FOUND);
    assert_int_equal(study_delete(sv, "t", id, msg, sizeof msg), 0);
    assert_int_equal(study_get(sv, "t", id, &out, msg, sizeof msg), ERR_NOT_FOUND);
    study_svc_free(sv);
    store_close(db);
}

static void test_lost_trial_frees_its_slot(void **st)
{
    (void)st;
    store *db = open_db();
    study_svc *sv;
    assert_int_equal(study_svc_new(store_studies_store(db), 1000, test_now, &sv), 0);
    char id[64];
    create(sv, "t", "{\"name\": \"s\", \"parallel\": 1, \"max_trials\": 2, " SPACE "}", id);
    assert_int_equal(ask(sv, "t", id, NULL), 0);
    assert_int_equal(ask(sv, "t", id, NULL), ERR_STUDY_PARALLEL_LIMIT);
    char msg[300];
    int prune;
    g_now += 900;
    assert_int_equal(study_report(sv, "t", id, 0, 1, 0.5, &prune, msg, sizeof msg), 0);   /* a heartbeat */
    g_now += 900;
    assert_int_equal(ask(sv, "t", id, NULL), ERR_STUDY_PARALLEL_LIMIT);   /* 900 ms since the report */
    g_now += 200;
    assert_int_equal(ask(sv, "t", id, NULL), 1);   /* trial 0 lost: its slot and its budget back */
    assert_int_equal(tell(sv, id, 0, "complete", 1.0), ERR_TRIAL_FINISHED);
    assert_int_equal(study_report(sv, "t", id, 0, 2, 0.5, &prune, msg, sizeof msg), ERR_TRIAL_FINISHED);
    assert_true(strstr(msg, "lost") != NULL);
    assert_int_equal(tell(sv, id, 1, "complete", 1.0), 0);
    assert_int_equal(ask(sv, "t", id, NULL), 2);
    assert_int_equal(ask(sv, "t", id, NULL), ERR_STUDY_EXHAUSTED);
    study_svc_free(sv);
    store_close(db);
}

static void test_median_pruning_through_reports(void **st)
{
    (void)st;
    store *db = open_db();
    study_svc *sv;
    assert_int_equal(study_svc_new(store_studies_store(db), 60000, test_now, &sv), 0);
    char id[64], msg[300];
    create(sv, "t", "{\"name\": \"s\", \"pruner\": \"median\", \"sampler\": \"random\", \"space\": "
                    "{\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}}", id);
    int prune;
    for (int t = 0; t < 5; t++) {
        assert_int_equal(ask(sv, "t", id, NULL), t);
        for (int s = 1; s <= 3; s++) {
            assert_int_equal(study_report(sv, "t", id, t, s, 1.0 / s + t * 0.1, &prune, msg, sizeof msg), 0);
            assert_int_equal(prune, 0);   /* fewer than 5 complete trials */
        }
        assert_int_equal(tell(sv, id, t, "complete", 1.0 / 3 + t * 0.1), 0);
    }
    /* step 1 values 1.0 … 1.4: median 1.2 */
    assert_int_equal(ask(sv, "t", id, NULL), 5);
    assert_int_equal(study_report(sv, "t", id, 5, 1, 1.1, &prune, msg, sizeof msg), 0);
    assert_int_equal(prune, 0);
    assert_int_equal(ask(sv, "t", id, NULL), 6);
    assert_int_equal(study_report(sv, "t", id, 6, 1, 1.3, &prune, msg, sizeof msg), 0);
    assert_int_equal(prune, 1);
    assert_int_equal(study_report(sv, "t", id, 6, 2, 0.1, &prune, msg, sizeof msg), ERR_TRIAL_FINISHED);
    assert_int_equal(study_report(sv, "t", id, 5, 2, NAN, &prune, msg, sizeof msg), ERR_NON_FINITE);
    assert_int_equal(study_report(sv, "t", id, 5, -1, 1, &prune, msg, sizeof msg), ERR_OUT_OF_RANGE);
    cJSON *out;
    assert_int_equal(study_trials(sv, "t", id, &out, msg, sizeof msg), 0);
    cJSON *t6 = cJSON_GetArrayItem(cJSON_GetObjectItem(out, "trials"), 6);
    assert_string_equal(cJSON_GetObjectItem(t6, "state")->valuestring, "pruned");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(t6, "intermediate")), 1);
    cJSON_Delete(out);
    study_svc_free(sv);
    store_close(db);
}

static void test_same_seed_same_params(void **st)
{
    (void)st;
    store *db = open_db();
    study_svc *sv;
    assert_int_equal(study_svc_new(store_studies_store(db), 60000, test_now, &sv), 0);
    char a[64], b[64], c[64];
    const char *req = "{\"name\": \"s\", \"seed\": 42, \"sampler\": \"tpe\", " SPACE "}";
    create(sv, "t", req, a);
    create(sv, "t", req, b);
    create(sv, "t", "{\"name\": \"s\", \"seed\": 43, \"sampler\": \"tpe\", " SPACE "}", c);
    int differ = 0;
    for (int t = 0; t < 14; t++) {   /* past the 10 startup trials: TPE decides the last 4 */
        cJSON *pa, *pb, *pc;
        assert_int_equal(ask(sv, "t", a, &pa), t);
        assert_int_equal(ask(sv, "t", b, &pb), t);
        assert_int_equal(ask(sv, "t", c, &pc), t);
        assert_true(cJSON_Compare(pa, pb, 1));
        differ += !cJSON_Compare(pa, pc, 1);
        double v = fabs(log10(cJSON_GetObjectItem(pa, "lr")->valuedouble) + 3);
        assert_int_equal(tell(sv, a, t, "complete", v), 0);
        assert_int_equal(tell(sv, b, t, "complete", v), 0);
        assert_int_equal(tell(sv, c, t, "complete", v), 0);
        cJSON_Delete(pa);
        cJSON_Delete(pb);
        cJSON_Delete(pc);
    }
    assert_true(differ >= 13);
    study_svc_free(sv);
    store_close(db);
}


#define CSPACE "\"space\": {\"momentum\": {\"type\": \"float\", \"low\": 0, \"high\": 0.99," \
               " \"when\": {\"optimizer\": [\"sgd\"]}}," \
               " \"optimizer\": {\"type\": \"categorical\", \"choices\": [\"sgd\", \"adam\", \"rmsprop\"]}," \
               " \"beta2\": {\"type\": \"float\", \"low\": 0.9, \"high\": 0.9999, \"when\": {\"optimizer\": [\"rmsprop\", \"adam\"]}}," \
               " \"lr\": {\"type\": \"float\", \"low\": 1e-5, \"high\": 0.1, \"log\": true}}"

static void test_conditional_and_multivariate_specs(void **st)
{
    (void)st;
    static const char *const bad[] = {
        /* unknown parent */
        "{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"opt\": [1]}}}}",
        /* a parent that is not a categorical */
        "{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"y\": [1]}},"
        " \"y\": {\"type\": \"int\", \"low\": 0, \"high\": 3}}}",
        /* itself */
        "{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"categorical\", \"choices\": [1, 2], \"when\": {\"x\": [1]}}}}",
        /* a choice the parent does not have (1 is not "1") */
        "{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"c\": [\"1\"]}},"
        " \"c\": {\"type\": \"categorical\", \"choices\": [1, 2]}}}",
        /* a choice twice, no choice, not an array, two parents, not an object */
        "{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"c\": [1, 1]}},"
        " \"c\": {\"type\": \"categorical\", \"choices\": [1, 2]}}}",
        "{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"c\": []}},"
        " \"c\": {\"type\": \"categorical\", \"choices\": [1, 2]}}}",
        "{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"c\": 1}},"
        " \"c\": {\"type\": \"categorical\", \"choices\": [1, 2]}}}",
        "{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"c\": [1], \"d\": [1]}},"
        " \"c\": {\"type\": \"categorical\", \"choices\": [1, 2]}, \"d\": {\"type\": \"categorical\", \"choices\": [1, 2]}}}",
        "{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": [\"c\"]},"
        " \"c\": {\"type\": \"categorical\", \"choices\": [1, 2]}}}",
        "{\"name\": \"a\", \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {}},"
        " \"c\": {\"type\": \"categorical\", \"choices\": [1, 2]}}}",
        /* a cycle of two */
        "{\"name\": \"a\", \"space\": {\"c\": {\"type\": \"categorical\", \"choices\": [1, 2], \"when\": {\"d\": [1]}},"
        " \"d\": {\"type\": \"categorical\", \"choices\": [1, 2], \"when\": {\"c\": [2]}}}}",
        /* the GP takes no condition (its parent, a categorical, is refused first); multivariate is TPE's */
        "{\"name\": \"a\", \"sampler\": \"gp\", \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1,"
        " \"when\": {\"c\": [1]}}, \"c\": {\"type\": \"categorical\", \"choices\": [1, 2]}}}",
        "{\"name\": \"a\", \"sampler\": \"random\", \"sampler_options\": {\"multivariate\": true}, " SPACE "}",
        "{\"name\": \"a\", \"sampler_options\": {\"multivariate\": 1}, " SPACE "}",
    };
    const char *names[] = {"x", "x", "x", "x", "x", "x", "x", "x", "x", "x", "c", "gp", "multivariate", "multivariate"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *b = J(bad[i]);
        study_spec sp;
        char msg[300] = "";
        int rc = study_spec_parse(&sp, b, 0, msg, sizeof msg);
        if (rc != ERR_INVALID_ARGUMENT || !strstr(msg, names[i])) print_message("case %zu: %d (%s)\n", i, rc, msg);
        assert_int_equal(rc, ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(msg, names[i]));
        study_spec_free(&sp);
        cJSON_Delete(b);
    }
    /* a chain of 9 conditions is one too many (8 are fine) */
    for (int len = 8; len <= 9; len++) {
        cJSON *b = J("{\"name\": \"a\", \"space\": {}}"), *space = cJSON_GetObjectItem(b, "space");
        for (int i = 0; i <= len; i++) {
            char nm[8], txt[160];
            snprintf(nm, sizeof nm, "c%d", i);
            if (i) snprintf(txt, sizeof txt, "{\"type\": \"categorical\", \"choices\": [0, 1], \"when\": {\"c%d\": [0]}}", i - 1);
            else snprintf(txt, sizeof txt, "{\"type\": \"categorical\", \"choices\": [0, 1]}");
            cJSON_AddItemToObject(space, nm, J(txt));
        }
        study_spec sp;
        char msg[300] = "";
        assert_int_equal(study_spec_parse(&sp, b, 0, msg, sizeof msg), len == 8 ? 0 : ERR_INVALID_ARGUMENT);
        study_spec_free(&sp);
        cJSON_Delete(b);
    }
    /* the normalised form keeps the conditions (choices in the parent's
     * order) and multivariate, and parses back to itself */
    cJSON *b = J("{\"name\": \"a\", \"sampler_options\": {\"multivariate\": true}, " CSPACE "}");
    study_spec sp, sp2;
    char msg[300];
    assert_int_equal(study_spec_parse(&sp, b, 0, msg, sizeof msg), 0);
    assert_int_equal(sp.tpe.multivariate, 1);
    cJSON *n1 = study_spec_to_json(&sp);
    cJSON *w = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(n1, "space"), "beta2"), "when");
    char *wt = cJSON_PrintUnformatted(w);
    assert_string_equal(wt, "{\"optimizer\":[\"adam\",\"rmsprop\"]}");
    free(wt);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(n1, "sampler_options"), "multivariate")));
    assert_int_equal(study_spec_parse(&sp2, n1, 0, msg, sizeof msg), 0);
    cJSON *n2 = study_spec_to_json(&sp2);
    assert_true(cJSON_Compare(n1, n2, 1));
    cJSON_Delete(n1);
    cJSON_Delete(n2);
    study_spec_free(&sp);
    study_spec_free(&sp2);
    cJSON_Delete(b);
}

/* Asks on a conditional study give exactly the active parameters, univariate
 * and multivariate TPE past the startup too; a reopened store (a restarted
 * daemon) asks exactly as the first did. */
static void test_conditional_asks_and_restart(void **st)
{
    (void)st;
    for (int mv = 0; mv <= 1; mv++) {
        char req[1024], a[64], b[64];
        snprintf(req, sizeof req, "{\"name\": \"c\", \"seed\": 3, \"sampler_options\": {\"multivariate\": %s}, " CSPACE "}",
                 mv ? "true" : "false");
        store *db = open_db();
        study_svc *sv;
        assert_int_equal(study_svc_new(store_studies_store(db), 60000, test_now, &sv), 0);
        create(sv, "t", req, a);
        create(sv, "t", req, b);
        cJSON *first[16] = {0};
        int seen[3] = {0};
        for (int t = 0; t < 16; t++) {
            cJSON *p;
            assert_int_equal(ask(sv, "t", a, &p), t);
            const char *oname = cJSON_GetObjectItem(p, "optimizer")->valuestring;
            int sgd = strcmp(oname, "sgd") == 0, rms = strcmp(oname, "rmsprop") == 0;
            seen[sgd ? 0 : rms ? 2 : 1]++;
            assert_true(cJSON_HasObjectItem(p, "lr"));
            assert_int_equal(cJSON_HasObjectItem(p, "momentum"), sgd);
            assert_int_equal(cJSON_HasObjectItem(p, "beta2"), !sgd);
            assert_int_equal(cJSON_GetArraySize(p), 3);
            double v = fabs(log10(cJSON_GetObjectItem(p, "lr")->valuedouble) + 3) + (sgd ? 0 : 1);
            assert_int_equal(tell(sv, a, t, "complete", v), 0);
            first[t] = p;
        }
        assert_true(seen[0] > 0 && seen[1] + seen[2] > 0);
        study_svc_free(sv);
        store_close(db);
        /* the second study, after a "restart", gives the same trials */
        db = open_db();
        assert_int_equal(study_svc_new(store_studies_store(db), 60000, test_now, &sv), 0);
        for (int t = 0; t < 16; t++) {
            cJSON *p;
            assert_int_equal(ask(sv, "t", b, &p), t);
            assert_true(cJSON_Compare(p, first[t], 1));
            const char *oname = cJSON_GetObjectItem(p, "optimizer")->valuestring;
            double v = fabs(log10(cJSON_GetObjectItem(p, "lr")->valuedouble) + 3) + (strcmp(oname, "sgd") ? 1 : 0);
            assert_int_equal(tell(sv, b, t, "complete", v), 0);
            cJSON_Delete(p);
            cJSON_Delete(first[t]);
        }
        study_svc_free(sv);
        store_close(db);
    }
}

static void test_bind_spec_takes_the_trials_hyperparameters(void **st)
{
    (void)st;
    store *db = open_db();
    study_svc *sv;
    assert_int_equal(study_svc_new(store_studies_store(db), 60000, test_now, &sv), 0);
    char id[64], msg[300];
    create(sv, "t", "{\"name\": \"b\", \"pruner\": \"none\", \"space\": {\"lr\": {\"type\": \"float\", "
                    "\"low\": 0.001, \"high\": 0.01}, \"batch\": {\"type\": \"int\", \"low\": 8, \"high\": 64}}}", id);
    cJSON *p = NULL;
    assert_int_equal(ask(sv, "t", id, &p), 0);
    double lr = cJSON_GetObjectItem(p, "lr")->valuedouble;
    cJSON_Delete(p);
    char body[300];
    snprintf(body, sizeof body, "{\"optimizer\": \"adam\", \"tensors\": [{\"shape\": [2]}], \"trial\": \"%s/0\"}", id);
    spec sp;
    assert_int_equal(spec_parse(&sp, body, strlen(body), 1000, 0, msg, sizeof msg), 0);
    snprintf(sp.tenant, sizeof sp.tenant, "t");
    assert_int_equal(study_bind_spec(sv, &sp, msg, sizeof msg), 0);
    assert_true(sp.ocfg.hp[opt_hparam_index(opt_find("adam"), "lr")] == lr);   /* batch is not adam's */
    cJSON *j = spec_to_json(&sp);
    char ref[100];
    snprintf(ref, sizeof ref, "%s/0", id);
    assert_string_equal(cJSON_GetObjectItem(j, "trial")->valuestring, ref);
    cJSON_Delete(j);
    snprintf(sp.tenant, sizeof sp.tenant, "other");   /* another tenant's study: not found */
    assert_int_equal(study_bind_spec(sv, &sp, msg, sizeof msg), ERR_NOT_FOUND);
    spec_deinit(&sp);
    /* the report path: a pruned trial says so, a complete one does not */
    int pruned = -1;
    assert_int_equal(study_bind_report(sv, "t", ref, 1, 0.5, &pruned), 0);
    assert_int_equal(pruned, 0);
    assert_int_equal(tell(sv, id, 0, "pruned", NAN), 0);
    assert_int_equal(study_bind_report(sv, "t", ref, 2, 0.5, &pruned), 0);
    assert_int_equal(pruned, 1);
    const char *bad[] = {"", "x", "/1", "a/", "a/b", "a b/1", "a/12345678901234567", "a/-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_int_equal(spec_trial_ref_parse(bad[i], NULL, 0, NULL), 0);
    study_svc_free(sv);
    store_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_checks),
        cmocka_unit_test_setup_teardown(test_ask_tell_best_and_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_trial_frees_its_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_median_pruning_through_reports, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_seed_same_params, setup, teardown),
        cmocka_unit_test(test_conditional_and_multivariate_specs),
        cmocka_unit_test_setup_teardown(test_conditional_asks_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bind_spec_takes_the_trials_hyperparameters, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
