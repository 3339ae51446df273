/* test_domain.c — src/service/domain.c against a real store in a mkdtemp()
 * directory: the vocabulary covers every task family's domain; the naming
 * rule of domain defaults; domain_resolve pins the newest domain record,
 * refuses a missing one (and one whose name breaks the rule) with
 * ERR_NO_DOMAIN_WEIGHTS, checks that given weights carry the domain, and
 * leaves a session without a domain alone; domain_defaults_json lists the
 * general default and the domain records with evaluation summaries
 * (meta_weights_eval_summary). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "domain.h"
#include "errors.h"
#include "meta_weights.h"
#include "spec.h"
#include "store.h"
#include "tasks.h"

static char g_dir[64];
static char g_path[128];
static char msg[400];

static store *open_store(void)
{
    store *db = NULL;
    assert_int_equal(store_open(g_path, &db), 0);
    return db;
}

/* The store does not decode blobs: any bytes do for these records. */
static void put(store *db, const char *name, const char *arch, const char *domain, const char *eval_json)
{
    static const char blob[] = "not decoded here";
    store_weights_row w = {.name = name, .arch = arch, .hidden = 8, .depth = 1, .ntheta = 10, .domain = domain,
                           .eval_json = eval_json, .blob = blob, .blob_len = sizeof blob};
    assert_int_equal(store_weights_put(db, &w, 0, NULL), 0);
}

/* A parsed create request for `opt` with `domain` and `weights`. */
static void parsed(spec *sp, const char *optimizer, const char *domain, const char *weights)
{
    char body[256];
    snprintf(body, sizeof body, "{\"optimizer\":\"%s\",\"tensors\":[{\"shape\":[3]}],\"domain\":\"%s\"%s%s%s}", optimizer,
             domain, weights ? ",\"weights\":\"" : "", weights ? weights : "", weights ? "\"" : "");
    assert_int_equal(spec_parse(sp, body, strlen(body), 1000, 0, msg, sizeof msg), 0);
}

static void test_vocabulary_covers_every_task_family(void **unused)
{
    (void)unused;
    assert_true(tasks_count() > 0);
    for (int i = 0; i < tasks_count(); i++)
        if (!domain_session_valid(tasks_at(i)->domain))
            fail_msg("task family %s has domain %s, not a session domain", tasks_at(i)->name, tasks_at(i)->domain);
    assert_false(domain_session_valid("mixed"));
    assert_true(domain_record_valid("mixed"));
    assert_false(domain_record_valid("Vision"));
    assert_false(domain_record_valid(""));
    assert_false(domain_session_valid(NULL));
}

static void test_domain_default_names_are_promises(void **unused)
{
    (void)unused;
    assert_int_equal(domain_check_record("mlp_lopt.vision", "mlp_lopt", "vision", msg, sizeof msg), 0);
    assert_int_equal(domain_check_record("mlp_lopt.vision", NULL, "vision", msg, sizeof msg), 0);
    assert_int_equal(domain_check_record("mlp_lopt.vision", "mlp_lopt", "text", msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "its domain must be vision"));
    assert_int_equal(domain_check_record("mlp_lopt.vision", NULL, "mixed", msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_int_equal(domain_check_record("lstm_lopt.text", "mlp_lopt", "text", msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "must be lstm_lopt weights"));
    /* other names are free */
    assert_int_equal(domain_check_record("mlp_lopt", "mlp_lopt", "vision", msg, sizeof msg), 0);
    assert_int_equal(domain_check_record("mine.vision", "mlp_lopt", "text", msg, sizeof msg), 0);
    assert_int_equal(domain_check_record("mlp_lopt.vision.step50", "mlp_lopt", "mixed", msg, sizeof msg), 0);
    assert_int_equal(domain_check_record("mlp_lopt.Vision", "mlp_lopt", "text", msg, sizeof msg), 0);
    char out[16];
    assert_int_equal(domain_default_name("mlp_lopt", "vision", out, sizeof out), 0);
    assert_string_equal(out, "mlp_lopt.vision");
    assert_int_equal(domain_default_name("mlp_lopt", "synthetic", out, sizeof out), ERR_OUT_OF_RANGE);
}

static void test_resolve_pins_the_newest_domain_record(void **unused)
{
    (void)unused;
    store *db = open_store();
    put(db, "mlp_lopt", "mlp_lopt", "mixed", NULL);
    put(db, "mlp_lopt.vision", "mlp_lopt", "vision", NULL);
    put(db, "mlp_lopt.vision", "mlp_lopt", "vision", NULL);
    spec sp;
    parsed(&sp, "mlp_lopt", "vision", NULL);
    assert_int_equal(domain_resolve(db, &sp, msg, sizeof msg), 0);
    assert_string_equal(sp.weights, "mlp_lopt.vision@2");
    spec_deinit(&sp);
    /* a hybrid gets its learned part's record */
    parsed(&sp, "hybrid", "vision", NULL);
    assert_int_equal(domain_resolve(db, &sp, msg, sizeof msg), 0);
    assert_string_equal(sp.weights, "mlp_lopt.vision@2");
    spec_deinit(&sp);
    /* no record for the domain: refused, never the general default */
    parsed(&sp, "mlp_lopt", "text", NULL);
    assert_int_equal(domain_resolve(db, &sp, msg, sizeof msg), ERR_NO_DOMAIN_WEIGHTS);
    assert_non_null(strstr(msg, "mlp_lopt.text"));
    assert_string_equal(sp.weights, "");
    spec_deinit(&sp);
    parsed(&sp, "lstm_lopt", "vision", NULL);
    assert_int_equal(domain_resolve(db, &sp, msg, sizeof msg), ERR_NO_DOMAIN_WEIGHTS);
    spec_deinit(&sp);
    /* a record stored before the naming rule, with another domain, is not the default */
    put(db, "mlp_lopt.tabular", "mlp_lopt", "synthetic", NULL);
    parsed(&sp, "mlp_lopt", "tabular", NULL);
    assert_int_equal(domain_resolve(db, &sp, msg, sizeof msg), ERR_NO_DOMAIN_WEIGHTS);
    spec_deinit(&sp);
    /* no domain: nothing to do */
    const char *plain = "{\"optimizer\":\"mlp_lopt\",\"tensors\":[{\"shape\":[3]}]}";
    assert_int_equal(spec_parse(&sp, plain, strlen(plain), 1000, 0, msg, sizeof msg), 0);
    assert_int_equal(domain_resolve(db, &sp, msg, sizeof msg), 0);
    assert_string_equal(sp.weights, "");
    spec_deinit(&sp);
    store_close(db);
}

static void test_resolve_checks_given_weights_carry_the_domain(void **unused)
{
    (void)unused;
    store *db = open_store();
    put(db, "mlp_lopt", "mlp_lopt", "mixed", NULL);
    put(db, "mine", "mlp_lopt", "vision", NULL);
    spec sp;
    parsed(&sp, "mlp_lopt", "vision", "mine");
    assert_int_equal(domain_resolve(db, &sp, msg, sizeof msg), 0);
    assert_string_equal(sp.weights, "mine");   /* as given */
    spec_deinit(&sp);
    parsed(&sp, "mlp_lopt", "vision", "mlp_lopt@1");
    assert_int_equal(domain_resolve(db, &sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "carry domain mixed, not vision"));
    spec_deinit(&sp);
    parsed(&sp, "mlp_lopt", "text", "mine@1");
    assert_int_equal(domain_resolve(db, &sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    spec_deinit(&sp);
    /* "@default" (the untrained network) has no domain: refused with one */
    parsed(&sp, "mlp_lopt", "vision", "@default");
    assert_int_equal(domain_resolve(db, &sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "untrained network, which has no domain"));
    spec_deinit(&sp);
    /* a record that does not exist is left to opt_init, as without a domain */
    parsed(&sp, "mlp_lopt", "vision", "absent");
    assert_int_equal(domain_resolve(db, &sp, msg, sizeof msg), 0);
    spec_deinit(&sp);
    store_close(db);
}

static void test_defaults_json_lists_general_and_domain_records(void **unused)
{
    (void)unused;
    store *db = open_store();
    put(db, "mlp_lopt", "mlp_lopt", "mixed",
        "{\"train\":{\"beats_tuned_adam\":7,\"total\":10,\"tasks\":[{\"task\":\"q\"}]},\"note\":\"x\",\"rows\":[1]}");
    put(db, "mlp_lopt.vision", "mlp_lopt", "vision", NULL);
    put(db, "mlp_lopt.vision", "mlp_lopt", "vision", "{}");
    put(db, "mlp_lopt.text", "mlp_lopt", "synthetic", NULL);   /* breaks the rule: not listed */
    put(db, "mlp_lopt.vision.step5", "mlp_lopt", "vision", NULL);
    put(db, "nn_adam.vision", "nn_adam", "vision", NULL);
    cJSON *o = cJSON_CreateObject();
    assert_int_equal(domain_defaults_json(db, "mlp_lopt", o), 0);
    cJSON *def = cJSON_GetObjectItemCaseSensitive(o, "default_weights");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(def, "ref")->valuestring, "mlp_lopt@1");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(def, "domain")->valuestring, "mixed");
    cJSON *ev = cJSON_GetObjectItemCaseSensitive(def, "evaluation");
    char *evs = cJSON_PrintUnformatted(ev);
    assert_string_equal(evs, "{\"train\":{\"beats_tuned_adam\":7,\"total\":10},\"note\":\"x\"}");
    cJSON_free(evs);
    cJSON *doms = cJSON_GetObjectItemCaseSensitive(o, "domain_weights");
    assert_int_equal(cJSON_GetArraySize(doms), 1);
    cJSON *vis = cJSON_GetObjectItemCaseSensitive(doms, "vision");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(vis, "ref")->valuestring, "mlp_lopt.vision@2");
    assert_null(cJSON_GetObjectItemCaseSensitive(vis, "evaluation"));   /* "{}": never evaluated */
    cJSON_Delete(o);
    /* an optimizer without records: null and {} */
    o = cJSON_CreateObject();
    assert_int_equal(domain_defaults_json(db, "lstm_lopt", o), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "default_weights")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "domain_weights")), 0);
    cJSON_Delete(o);
    assert_null(meta_weights_eval_summary("{}"));
    assert_null(meta_weights_eval_summary("not json"));
    assert_null(meta_weights_eval_summary("[{\"a\":1},2]"));   /* not an object */
    assert_null(meta_weights_eval_summary("{\"s\":[1]}"));      /* nothing but rows */
    assert_null(meta_weights_eval_summary(NULL));
    store_close(db);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_path, sizeof g_path, "%s/domain.db", g_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    for (size_t k = 0; k < sizeof sfx / sizeof sfx[0]; k++) {
        char p[160];
        snprintf(p, sizeof p, "%s%s", g_path, sfx[k]);
        unlink(p);
    }
    return 0;
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/test_domain.XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocabulary_covers_every_task_family),
        cmocka_unit_test(test_domain_default_names_are_promises),
        cmocka_unit_test_setup_teardown(test_resolve_pins_the_newest_domain_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_checks_given_weights_carry_the_domain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults_json_lists_general_and_domain_records, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(g_dir);
    return failed;
}
