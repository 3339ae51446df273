/* test_fewshot_spec.c — src/service/fewshot_spec.c: a few-shot request's
 * keys with their bounds (each edge in, each step past it out), types,
 * unknown keys and methods, duplicate keys, and the normalised JSON that
 * the job row stores. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "fewshot_spec.h"

static int from(const char *json, fewshot_spec *sp)
{
    fewshot_spec_defaults(sp);
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    char msg[300];
    int rc = fewshot_spec_from_json(sp, o, msg, sizeof msg);
    if (rc) assert_true(msg[0] != '\0');
    cJSON_Delete(o);
    return rc;
}

static void test_the_issue_request_and_defaults(void **st)
{
    (void)st;
    fewshot_spec sp;
    assert_int_equal(from("{\"method\": \"meta_sgd\", \"task\": \"sinusoid\", \"shots\": 5, \"inner_steps\": 1, "
                          "\"inner_lr\": 0.01, \"meta_batch\": 25, \"outer_lr\": 0.001, \"outer_steps\": 20000, "
                          "\"seed\": 0, \"name\": \"sine-msgd\"}", &sp), 0);
    assert_int_equal(sp.fc.method, FEWSHOT_META_SGD);
    assert_int_equal(sp.fc.shots, 5);
    assert_int_equal(sp.outer_steps, 20000);
    assert_string_equal(sp.name, "sine-msgd");
    cJSON *j = fewshot_spec_to_json(&sp);
    assert_string_equal(cJSON_GetObjectItem(j, "method")->valuestring, "meta_sgd");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "network")), 4);
    cJSON_Delete(j);
    assert_int_equal(from("{\"method\": \"maml\"}", &sp), 0);
    assert_int_equal(sp.fc.meta_batch, 25);
    assert_true(sp.fc.inner_lr == 0.01 && sp.fc.outer_lr == 1e-3);
    cJSON *other = cJSON_Parse("{\"tasks\": []}");
    assert_int_equal(fewshot_spec_is_request(other), 0);
    cJSON_Delete(other);
}

static void test_bounds_types_and_names(void **st)
{
    (void)st;
    static const struct { const char *body; int rc; } cases[] = {
        {"{\"method\": \"maml\", \"shots\": 1}", 0},          {"{\"method\": \"maml\", \"shots\": 100}", 0},
        {"{\"method\": \"maml\", \"shots\": 0}", ERR_OUT_OF_RANGE},
        {"{\"method\": \"maml\", \"shots\": 101}", ERR_OUT_OF_RANGE},
        {"{\"method\": \"maml\", \"shots\": 1.5}", ERR_OUT_OF_RANGE},
        {"{\"method\": \"maml\", \"inner_steps\": 20}", 0}, {"{\"method\": \"maml\", \"inner_steps\": 21}", ERR_OUT_OF_RANGE},
        {"{\"method\": \"maml\", \"inner_lr\": 1}", 0},      {"{\"method\": \"maml\", \"inner_lr\": 1.01}", ERR_OUT_OF_RANGE},
        {"{\"method\": \"maml\", \"inner_lr\": 0}", ERR_OUT_OF_RANGE},
        {"{\"method\": \"maml\", \"meta_batch\": 1000}", 0}, {"{\"method\": \"maml\", \"meta_batch\": 1001}", ERR_OUT_OF_RANGE},
        {"{\"method\": \"maml\", \"outer_lr\": -0.1}", ERR_OUT_OF_RANGE},
        {"{\"method\": \"maml\", \"outer_steps\": 200000}", 0},
        {"{\"method\": \"maml\", \"outer_steps\": 200001}", ERR_OUT_OF_RANGE},
        {"{\"method\": \"maml\", \"seed\": -1}", ERR_OUT_OF_RANGE},
        {"{\"method\": \"maml\", \"seed\": 1e300}", ERR_OUT_OF_RANGE},
        {"{\"method\": \"maml\", \"shots\": \"5\"}", ERR_INVALID_ARGUMENT},
        {"{\"method\": \"maml\", \"shots\": null}", ERR_INVALID_ARGUMENT},
        {"{\"method\": \"maml\", \"shots\": [5]}", ERR_INVALID_ARGUMENT},
        {"{\"method\": \"maml\", \"bogus\": 1}", ERR_UNKNOWN_FIELD},
        {"{\"method\": \"maml\", \"bogus\": {}}", ERR_UNKNOWN_FIELD},
        {"{\"method\": \"pretrain\"}", ERR_INVALID_ARGUMENT},
        {"{\"method\": \"adam\"}", ERR_INVALID_ARGUMENT},
        {"{\"method\": 1}", ERR_INVALID_ARGUMENT},
        {"{\"method\": \"maml\", \"task\": \"quadratic\"}", ERR_INVALID_ARGUMENT},
        {"{\"method\": \"maml\", \"name\": \"a b\"}", ERR_INVALID_ARGUMENT},
        {"{\"method\": \"maml\", \"shots\": 5, \"shots\": 6}", ERR_INVALID_JSON},
        {"[1]", ERR_INVALID_ARGUMENT},
    };
    fewshot_spec sp;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (from(cases[i].body, &sp) != cases[i].rc) fail_msg("%s: want %d", cases[i].body, cases[i].rc);
    /* the command line's extra method */
    char msg[200];
    fewshot_spec_defaults(&sp);
    assert_int_equal(fewshot_spec_set(&sp, "method", "pretrain", 1, msg, sizeof msg), 0);
    assert_int_equal(sp.fc.method, FEWSHOT_PRETRAIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_issue_request_and_defaults),
        cmocka_unit_test(test_bounds_types_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
