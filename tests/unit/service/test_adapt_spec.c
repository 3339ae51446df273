/* test_adapt_spec.c — src/service/adapt_spec.c through spec_parse: the
 * "adapt" member in both forms (hypergradient for classic optimizers, the
 * online learner for learned and hybrid ones): defaults, every range and
 * type check with its ERR_*, mixing the forms, the optimizer-kind rule, and
 * the round trip spec_to_json → spec_parse(restoring=1) → spec_to_json
 * giving identical JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "spec.h"

static char msg[512];

static int parse(spec *sp, const char *oname, const char *ad)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"optimizer\":\"%s\",\"tensors\":[{\"shape\":[3]},{\"shape\":[2,2]}],\"adapt\":%s}",
             oname, ad);
    msg[0] = '\0';
    return spec_parse(sp, body, strlen(body), 1000, 0, msg, sizeof msg);
}

static void expect(const char *oname, const char *ad, int want)
{
    spec sp;
    int rc = parse(&sp, oname, ad);
    if (rc != want) fail_msg("%s %s: got %s (%s), want %s", oname, ad, err_name(rc), msg, err_name(want));
    if (rc == 0) spec_deinit(&sp);
    else assert_true(msg[0] != '\0');
}

static void test_learner_defaults_and_fields(void **st)
{
    (void)st;
    spec sp;
    assert_int_equal(parse(&sp, "mlp_lopt", "{\"learner\":\"pes\"}"), 0);
    assert_int_equal(sp.learner.enabled, 1);
    assert_true(sp.learner.rate == ONLINE_ES_RATE_DEFAULT && sp.learner.memory == ONLINE_ES_MEMORY_DEFAULT &&
                sp.learner.sigma == ONLINE_ES_SIGMA_DEFAULT && sp.learner.window == ONLINE_ES_WINDOW_DEFAULT &&
                sp.learner.per_tensor == ONLINE_ES_PER_TENSOR_DEFAULT && sp.learner.seed == 0);
    assert_int_equal(sp.adapt.lr, ADAPT_LR_NONE);
    spec_deinit(&sp);
    assert_int_equal(parse(&sp, "lstm_lopt", "{\"learner\":\"pes\",\"rate\":0.2,\"memory\":7,\"sigma\":0.3,"
                                              "\"window\":2,\"per_tensor\":true,\"seed\":12345}"), 0);
    assert_true(sp.learner.rate == 0.2 && sp.learner.memory == 7 && sp.learner.sigma == 0.3 &&
                sp.learner.window == 2 && sp.learner.per_tensor == 1 && sp.learner.seed == 12345);
    assert_int_equal(sp.adapt.per_tensor, 0);   /* per_tensor went to the learner only */
    spec_deinit(&sp);
    /* "none" adapts nothing: no adapt member in the description */
    assert_int_equal(parse(&sp, "mlp_lopt", "{\"learner\":\"none\"}"), 0);
    cJSON *j = spec_to_json(&sp);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "adapt"));
    cJSON_Delete(j);
    spec_deinit(&sp);
}

static void test_bad_values_and_mixed_forms_are_refused(void **st)
{
    (void)st;
    expect("mlp_lopt", "{\"learner\":\"pes\",\"rate\":0}", ERR_OUT_OF_RANGE);
    expect("mlp_lopt", "{\"learner\":\"pes\",\"rate\":1.01}", ERR_OUT_OF_RANGE);
    expect("mlp_lopt", "{\"learner\":\"pes\",\"rate\":1e999}", ERR_NON_FINITE);
    expect("mlp_lopt", "{\"learner\":\"pes\",\"rate\":\"fast\"}", ERR_INVALID_ARGUMENT);
    expect("mlp_lopt", "{\"learner\":\"pes\",\"sigma\":0}", ERR_OUT_OF_RANGE);
    expect("mlp_lopt", "{\"learner\":\"pes\",\"memory\":0}", ERR_OUT_OF_RANGE);
    expect("mlp_lopt", "{\"learner\":\"pes\",\"memory\":1025}", ERR_OUT_OF_RANGE);
    expect("mlp_lopt", "{\"learner\":\"pes\",\"memory\":3.5}", ERR_OUT_OF_RANGE);
    expect("mlp_lopt", "{\"learner\":\"pes\",\"window\":257}", ERR_OUT_OF_RANGE);
    expect("mlp_lopt", "{\"learner\":\"pes\",\"seed\":-1}", ERR_OUT_OF_RANGE);
    expect("mlp_lopt", "{\"learner\":\"pes\",\"seed\":4294967296}", ERR_OUT_OF_RANGE);
    expect("mlp_lopt", "{\"learner\":\"pes\",\"per_tensor\":\"yes\"}", ERR_INVALID_ARGUMENT);
    expect("mlp_lopt", "{\"learner\":\"es\"}", ERR_OUT_OF_RANGE);
    expect("mlp_lopt", "{\"learner\":\"pes\",\"colour\":1}", ERR_UNKNOWN_FIELD);
    expect("mlp_lopt", "{\"learner\":\"pes\",\"beta\":0.1}", ERR_INVALID_ARGUMENT);
    expect("mlp_lopt", "{\"sigma\":0.1}", ERR_INVALID_ARGUMENT);          /* learner fields without the learner */
    expect("adam", "{\"lr\":\"hypergradient\",\"window\":3}", ERR_INVALID_ARGUMENT);
    expect("mlp_lopt", "[1]", ERR_INVALID_ARGUMENT);
}

static void test_kinds(void **st)
{
    (void)st;
    expect("mlp_lopt", "{\"learner\":\"pes\"}", 0);
    expect("lstm_lopt", "{\"learner\":\"pes\"}", 0);
    expect("nn_adam", "{\"learner\":\"pes\"}", 0);
    if (opt_find("hybrid")) expect("hybrid", "{\"learner\":\"pes\"}", 0);
    expect("adam", "{\"learner\":\"pes\"}", ERR_INVALID_ARGUMENT);
    expect("sgd", "{\"learner\":\"pes\"}", ERR_INVALID_ARGUMENT);
    expect("mlp_lopt", "{\"lr\":\"hypergradient\"}", ERR_INVALID_ARGUMENT);
    expect("adam", "{\"lr\":\"hypergradient\",\"per_tensor\":true}", 0);
}

static void test_round_trip(void **st)
{
    (void)st;
    const char *cases[][2] = {
        {"mlp_lopt", "{\"learner\":\"pes\",\"rate\":0.2,\"memory\":7,\"sigma\":0.3,\"window\":2,\"per_tensor\":true,"
                     "\"seed\":4294967295}"},
        {"nn_adam", "{\"learner\":\"pes\"}"},
        {"adam", "{\"lr\":\"hypergradient\",\"beta\":0.001,\"per_tensor\":true}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spec a, b;
        assert_int_equal(parse(&a, cases[i][0], cases[i][1]), 0);
        cJSON *ja = spec_to_json(&a);
        char *ta = cJSON_PrintUnformatted(ja);
        assert_int_equal(spec_parse(&b, ta, strlen(ta), 1000, 1, msg, sizeof msg), 0);
        cJSON *jb = spec_to_json(&b);
        char *tb = cJSON_PrintUnformatted(jb);
        assert_string_equal(ta, tb);
        assert_memory_equal(&a.learner, &b.learner, sizeof a.learner);
        free(ta);
        free(tb);
        cJSON_Delete(ja);
        cJSON_Delete(jb);
        spec_deinit(&a);
        spec_deinit(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learner_defaults_and_fields),
        cmocka_unit_test(test_bad_values_and_mixed_forms_are_refused),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
