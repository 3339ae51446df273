/* test_metasess.c — meta-sessions (metasess.h, metasess_spec.h) over a real
 * store: the seeded init is the in-daemon few-shot job's initial θ, bit
 * for bit; a round of Reptile contributions applies SGD with the mean in
 * task-id order; stale rounds, duplicates and replacements; the memory
 * checks before allocation; tenants; and a reopened store that carries on
 * in the same round with its contributions. */
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
#include "fewshot.h"
#include "metasess.h"
#include "metasess_spec.h"
#include "store.h"

static char g_dir[64], g_path[96];

static int setup(void **st)
{
    (void)st;
    snprintf(g_dir, sizeof g_dir, "/tmp/test_metasess.XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_path, sizeof g_path, "%s/db", g_dir);
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

static const char *LAYOUT_1_40_40_1 =
    "[{\"name\":\"l1.weight\",\"shape\":[1,40]},{\"name\":\"l1.bias\",\"shape\":[40]},"
    "{\"name\":\"l2.weight\",\"shape\":[40,40]},{\"name\":\"l2.bias\",\"shape\":[40]},"
    "{\"name\":\"l3.weight\",\"shape\":[40,1]},{\"name\":\"l3.bias\",\"shape\":[1]}]";

static void test_seeded_init_is_the_fewshot_jobs(void **unused)
{
    (void)unused;
    char text[1024];
    snprintf(text, sizeof text, "{\"method\":\"reptile\",\"seed\":5,\"tensors\":%s}", LAYOUT_1_40_40_1);
    cJSON *b = cJSON_Parse(text);
    metasess_spec sp;
    char msg[200];
    assert_int_equal(metasess_spec_parse(&sp, b, METASESS_MAX_PARAMS, 0, NULL, msg, sizeof msg), 0);
    cJSON_Delete(b);
    fewshot_config c;
    fewshot_config_defaults(&c);
    c.method = FEWSHOT_REPTILE;
    c.seed = 5;
    fewshot_job *j;
    assert_int_equal(fewshot_job_new(&c, &j), 0);
    assert_int_equal(sp.lay.n, fewshot_job_net(j)->nparams);
    double *th = malloc(sp.lay.n * sizeof *th);
    metasess_spec_init_theta(&sp, th);
    assert_memory_equal(th, fewshot_job_theta(j), sp.lay.n * sizeof *th);
    free(th);
    fewshot_job_free(j);
    metasess_spec_deinit(&sp);
}

static void create(metasess_svc *sv, const char *tenant, const char *text, char *id, size_t cap)
{
    cJSON *b = cJSON_Parse(text), *out = NULL;
    assert_non_null(b);
    char msg[300] = "";
    int rc = metasess_create(sv, tenant, b, &out, msg, sizeof msg);
    cJSON_Delete(b);
    if (rc) fail_msg("create: %d %s", rc, msg);
    snprintf(id, cap, "%s", cJSON_GetObjectItem(out, "id")->valuestring);
    cJSON_Delete(out);
}

static int contribute(metasess_svc *sv, const char *tenant, const char *id, const char *task, int round, double v,
                      cJSON **out)
{
    char body[256];
    snprintf(body, sizeof body, "{\"task\":\"%s\",\"round\":%d,\"params\":[%g,%g,%g]}", task, round, v, v, v);
    char msg[300] = "";
    *out = NULL;
    return metasess_contribute(sv, tenant, id, body, strlen(body), out, msg, sizeof msg);
}

static double theta0(metasess_svc *sv, const char *id)
{
    float *v;
    size_t n;
    int64_t r;
    char msg[100];
    assert_int_equal(metasess_init_f32(sv, NULL, id, &v, &n, &r, msg, sizeof msg), 0);
    assert_int_equal(n, 3);
    double x = v[0];
    free(v);
    return x;
}

static const char *SMALL = "{\"method\":\"reptile\",\"tensors\":[{\"shape\":[3]}],\"meta_batch\":2,"
                           "\"outer_optimizer\":\"sgd\",\"outer_lr\":0.5,\"init\":\"zeros\"}";

static void test_rounds_stale_duplicates_and_reopen(void **unused)
{
    (void)unused;
    store *db;
    assert_int_equal(store_open(g_path, &db), 0);
    metasess_svc *sv;
    assert_int_equal(metasess_svc_new(db, METASESS_MAX_PARAMS, 1 << 20, 1 << 22, NULL, &sv), 0);
    char id[64];
    create(sv, "t", SMALL, id, sizeof id);
    cJSON *o;
    assert_int_equal(contribute(sv, "t", id, "b", 0, 1, &o), 0);
    cJSON_Delete(o);
    assert_int_equal(contribute(sv, "u", id, "c", 0, 1, &o), ERR_NOT_FOUND);   /* another tenant */
    assert_int_equal(contribute(sv, "t", id, "a", 1, 1, &o), ERR_STALE_ROUND);
    assert_int_equal(contribute(sv, "t", id, "a", 0, 3, &o), 0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "applied")));
    cJSON_Delete(o);
    /* g = mean(0 − 1, 0 − 3) = −2: θ = 0 − 0.5·(−2) = 1 */
    assert_true(theta0(sv, id) == 1.0);
    assert_int_equal(contribute(sv, "t", id, "a", 0, 9, &o), 0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "duplicate")));
    cJSON_Delete(o);
    assert_int_equal(contribute(sv, "t", id, "z", 0, 9, &o), ERR_STALE_ROUND);
    assert_int_equal(contribute(sv, "t", id, "a", 1, 5, &o), 0);   /* round 1 open with one task */
    cJSON_Delete(o);
    metasess_svc_free(sv);
    store_close(db);

    assert_int_equal(store_open(g_path, &db), 0);
    assert_int_equal(metasess_svc_new(db, METASESS_MAX_PARAMS, 1 << 20, 1 << 22, NULL, &sv), 0);
    assert_true(theta0(sv, id) == 1.0);
    assert_int_equal(contribute(sv, "t", id, "b", 0, 1, &o), 0);     /* the last round's, still known */
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "duplicate")));
    cJSON_Delete(o);
    assert_int_equal(contribute(sv, "t", id, "b", 1, 3, &o), 0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "applied")));
    cJSON_Delete(o);
    /* g = mean(1 − 5, 1 − 3) = −3: θ = 1 + 1.5 */
    assert_true(theta0(sv, id) == 2.5);
    char msg[100];
    assert_int_equal(metasess_delete(sv, "u", id, msg, sizeof msg), ERR_NOT_FOUND);
    assert_int_equal(metasess_delete(sv, "t", id, msg, sizeof msg), 0);
    metasess_svc_free(sv);
    store_close(db);
}

static void test_memory_is_checked_before_allocating(void **unused)
{
    (void)unused;
    store *db;
    assert_int_equal(store_open(g_path, &db), 0);
    metasess_svc *sv;
    /* one may hold 1 MiB, all of them 1.5 MiB */
    assert_int_equal(metasess_svc_new(db, METASESS_MAX_PARAMS, 1 << 20, 3 << 19, NULL, &sv), 0);
    const char *big = "{\"method\":\"fomaml\",\"tensors\":[{\"shape\":[16000000]}],\"meta_batch\":1000}";
    cJSON *b = cJSON_Parse(big), *out = NULL;
    char msg[300];
    assert_int_equal(metasess_create(sv, NULL, b, &out, msg, sizeof msg), ERR_SESSION_TOO_LARGE);
    cJSON_Delete(b);
    assert_true(metasess_bytes(10000, 10) < (1 << 20) && 2 * metasess_bytes(10000, 10) > (3 << 19));
    char id[64];
    create(sv, NULL, "{\"method\":\"fomaml\",\"tensors\":[{\"shape\":[10000]}],\"meta_batch\":10}", id, sizeof id);
    b = cJSON_Parse("{\"method\":\"fomaml\",\"tensors\":[{\"shape\":[10000]}],\"meta_batch\":10}");
    assert_int_equal(metasess_create(sv, NULL, b, &out, msg, sizeof msg), ERR_MEMORY_BUDGET);
    assert_int_equal(metasess_delete(sv, NULL, id, msg, sizeof msg), 0);
    assert_int_equal(metasess_create(sv, NULL, b, &out, msg, sizeof msg), 0);   /* the budget came back */
    cJSON_Delete(b);
    cJSON_Delete(out);
    assert_true(metasess_bytes((size_t)1 << 62, 1000) == UINT64_MAX);
    metasess_svc_free(sv);
    store_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeded_init_is_the_fewshot_jobs),
        cmocka_unit_test_setup_teardown(test_rounds_stale_duplicates_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_is_checked_before_allocating, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
