/* test_budget.c — src/service/budget.c: the figures of a session from its
 * spec (vectors, state, worker buffers, snapshot; what workers, learner and
 * optimizer add), and the reservations: the daemon's session limit, the
 * tenant quotas and the memory budget checked and taken atomically (16
 * threads racing for a quota of 2 get exactly 2), released on demand, and
 * never refused when forced (restored sessions). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "budget.h"
#include "errors.h"
#include "spec.h"

static void parse(spec *sp, const char *body)
{
    char msg[256];
    int rc = spec_parse(sp, body, strlen(body), 100000000, 0, msg, sizeof msg);
    if (rc) fail_msg("spec_parse: %s", msg);
}

static session_bytes bytes_of(const char *body)
{
    spec sp;
    parse(&sp, body);
    session_bytes sb;
    assert_int_equal(budget_session_bytes(&sp, &sb), 0);
    spec_deinit(&sp);
    assert_true(sb.total == sb.params + sb.state + sb.workers + sb.snapshot);
    return sb;
}

static void test_session_bytes_count_vectors_state_workers_and_snapshot(void **unused)
{
    (void)unused;
    const uint64_t n = 1000000;
    session_bytes sgd = bytes_of("{\"optimizer\":\"sgd\",\"tensors\":[{\"shape\":[1000000]}]}");
    assert_true(sgd.params == 3 * 4 * n);
    assert_true(sgd.workers == 0);
    assert_true(sgd.snapshot >= 2 * 4 * n);          /* params and last update */
    session_bytes adam = bytes_of("{\"optimizer\":\"adam\",\"tensors\":[{\"shape\":[1000000]}]}");
    assert_true(adam.state >= sgd.state + 2 * 4 * n);   /* m and v */
    assert_true(adam.snapshot >= sgd.snapshot + 2 * 2 * 4 * n);   /* both blobs hold them */
    session_bytes shared = bytes_of("{\"optimizer\":\"sgd\",\"workers\":64,\"tensors\":[{\"shape\":[1000000]}]}");
    assert_true(shared.workers >= 64 * 4 * n);
    assert_true(shared.total - sgd.total == shared.workers);
    session_bytes lstm = bytes_of("{\"optimizer\":\"lstm_lopt\",\"weights\":\"@default\","
                                  "\"hyperparams\":{\"hidden\":256,\"depth\":4},\"tensors\":[{\"shape\":[250000]}]}");
    assert_true(lstm.state >= 250000ull * 8192);
    assert_true(lstm.total >= 3 * 250000ull * 8192);     /* state, and twice in the snapshot */
    /* a weights record that does not exist is the error init would give */
    spec sp;
    parse(&sp, "{\"optimizer\":\"mlp_lopt\",\"weights\":\"missing\",\"tensors\":[{\"shape\":[4]}]}");
    session_bytes sb;
    assert_int_equal(budget_session_bytes(&sp, &sb), ERR_NOT_FOUND);
    spec_deinit(&sp);
}

static void test_budget_checks_sessions_quotas_and_bytes(void **unused)
{
    (void)unused;
    budget *b;
    assert_int_equal(budget_new(1000, 3, 2, 50, &b), 0);
    uint64_t used = 0;
    assert_int_equal(budget_reserve(b, "a", 400, 10, 0, &used), 0);
    assert_int_equal(budget_reserve(b, "a", 400, 10, 0, &used), 0);
    assert_true(used == 800);
    assert_int_equal(budget_reserve(b, "a", 1, 1, 0, &used), ERR_QUOTA_EXCEEDED);      /* 2 sessions */
    assert_int_equal(budget_reserve(b, "b", 201, 1, 0, &used), ERR_MEMORY_BUDGET);
    assert_true(used == 800 && budget_in_use(b) == 800);                                /* nothing taken */
    assert_int_equal(budget_reserve(b, "b", 10, 51, 0, &used), ERR_QUOTA_EXCEEDED);     /* 50 params */
    assert_int_equal(budget_reserve(b, "b", 200, 50, 0, &used), 0);
    assert_int_equal(budget_reserve(b, "c", 0, 1, 0, &used), ERR_TOO_MANY_SESSIONS);    /* 3 sessions */
    assert_int_equal(budget_reserve(b, "c", 5000, 100, 1, &used), 0);                   /* forced: over all */
    assert_true(used == 6000);
    budget_release(b, "c", 5000, 100);
    budget_release(b, "a", 400, 10);
    assert_true(budget_in_use(b) == 600);
    assert_int_equal(budget_reserve(b, "a", 400, 10, 0, &used), 0);                     /* the slot is back */
    assert_int_equal(budget_reserve(b, "d", UINT64_MAX, 1, 0, &used), ERR_TOO_MANY_SESSIONS);
    budget_release(b, "a", 400, 10);
    assert_int_equal(budget_reserve(b, "d", UINT64_MAX, 1, 0, &used), ERR_MEMORY_BUDGET);   /* no overflow */
    budget_free(b);
    budget_free(NULL);
}

typedef struct race { budget *b; pthread_barrier_t *go; int rc; } race;

static void *racer(void *arg)
{
    race *r = arg;
    pthread_barrier_wait(r->go);
    r->rc = budget_reserve(r->b, "tenant", 1, 1, 0, NULL);
    return NULL;
}

static void test_budget_quota_holds_under_concurrent_reservations(void **unused)
{
    (void)unused;
    for (int round = 0; round < 50; round++) {
        budget *b;
        assert_int_equal(budget_new(1u << 30, 1000, 2, 0, &b), 0);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 16);
        pthread_t th[16];
        race r[16];
        for (int i = 0; i < 16; i++) {
            r[i] = (race){b, &go, -1};
            assert_int_equal(pthread_create(&th[i], NULL, racer, &r[i]), 0);
        }
        int ok = 0, quota = 0;
        for (int i = 0; i < 16; i++) {
            pthread_join(th[i], NULL);
            ok += r[i].rc == 0;
            quota += r[i].rc == ERR_QUOTA_EXCEEDED;
        }
        assert_int_equal(ok, 2);
        assert_int_equal(quota, 14);
        assert_true(budget_in_use(b) == 2);
        pthread_barrier_destroy(&go);
        budget_free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_bytes_count_vectors_state_workers_and_snapshot),
        cmocka_unit_test(test_budget_checks_sessions_quotas_and_bytes),
        cmocka_unit_test(test_budget_quota_holds_under_concurrent_reservations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
