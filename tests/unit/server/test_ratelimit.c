/* test_ratelimit.c — src/server/ratelimit.c: every key id has its own token
 * bucket, compared by the whole id.  Two ids that fell into the same slot of
 * the old auth cache (FNV-1a(id) % 1024, where a bucket was reset whenever
 * another id took the slot: issue 13, finding 3) keep separate buckets and
 * never refill each other; a bucket refills at the rate and never beyond the
 * burst; Retry-After is whole seconds; full idle buckets are dropped, so the
 * table stays bounded by the keys in use; bad ids are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "ratelimit.h"

/* The slot an id had in the old auth cache (auth.c before the fix). */
static unsigned old_slot(const char *id)
{
    unsigned h = 2166136261u;
    for (; *id; id++) h = (h ^ (unsigned char)*id) * 16777619u;
    return h % 1024;
}

/* Two distinct 16-hex-digit key ids with the same old slot. */
static void colliding_ids(char a[17], char b[17])
{
    snprintf(a, 17, "%016x", 0x5eedu);
    for (unsigned i = 1;; i++) {
        snprintf(b, 17, "%016x", 0x5eedu + i);
        if (old_slot(b) == old_slot(a)) return;
    }
}

static void test_ratelimit_ids_colliding_in_the_old_cache_keep_separate_buckets(void **unused)
{
    (void)unused;
    char a[17], b[17];
    colliding_ids(a, b);
    assert_string_not_equal(a, b);
    assert_int_equal(old_slot(a), old_slot(b));
    ratelimit *rl = ratelimit_new();
    assert_non_null(rl);
    int ra = 0;
    /* rate 0.001/s: nothing refills during the test. */
    for (int i = 0; i < 3; i++) assert_int_equal(ratelimit_take(rl, a, 100.0, 0.001, 3, &ra), 0);
    assert_int_equal(ratelimit_take(rl, a, 100.0, 0.001, 3, &ra), ERR_RATE_LIMITED);
    /* b has a full bucket of its own, and using it gives nothing back to a… */
    for (int round = 0; round < 5; round++) {
        int rb = 0;
        int want = round < 3 ? 0 : ERR_RATE_LIMITED;
        assert_int_equal(ratelimit_take(rl, b, 100.0, 0.001, 3, &rb), want);
        ra = 0;
        assert_int_equal(ratelimit_take(rl, a, 100.0, 0.001, 3, &ra), ERR_RATE_LIMITED);
        assert_true(ra >= 1);
    }
    assert_int_equal(ratelimit_count(rl), 2);
    ratelimit_free(rl);
}

static void test_ratelimit_refills_at_the_rate_up_to_the_burst(void **unused)
{
    (void)unused;
    ratelimit *rl = ratelimit_new();
    int ra = 0;
    const char *id = "0123456789abcdef";
    for (int i = 0; i < 2; i++) assert_int_equal(ratelimit_take(rl, id, 10.0, 0.5, 2, &ra), 0);
    assert_int_equal(ratelimit_take(rl, id, 10.0, 0.5, 2, &ra), ERR_RATE_LIMITED);
    assert_int_equal(ra, 3);                       /* one token at 0.5/s: 2 s, rounded up past it */
    assert_int_equal(ratelimit_take(rl, id, 11.0, 0.5, 2, &ra), ERR_RATE_LIMITED);   /* half a token */
    assert_int_equal(ratelimit_take(rl, id, 12.0, 0.5, 2, &ra), 0);                  /* one token */
    assert_int_equal(ratelimit_take(rl, id, 12.0, 0.5, 2, &ra), ERR_RATE_LIMITED);
    /* A long pause fills the bucket to the burst, not beyond it. */
    for (int i = 0; i < 2; i++) assert_int_equal(ratelimit_take(rl, id, 1000.0, 0.5, 2, &ra), 0);
    assert_int_equal(ratelimit_take(rl, id, 1000.0, 0.5, 2, &ra), ERR_RATE_LIMITED);
    /* A clock that goes backwards adds nothing. */
    assert_int_equal(ratelimit_take(rl, id, 999.0, 0.5, 2, &ra), ERR_RATE_LIMITED);
    ratelimit_free(rl);
}

static void test_ratelimit_drops_full_idle_buckets(void **unused)
{
    (void)unused;
    ratelimit *rl = ratelimit_new();
    int ra = 0;
    char id[17];
    /* 5000 keys each take one token at t = 0 (rate 1/s, burst 4): all are
     * in use, all are kept. */
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "%016x", (unsigned)i);
        assert_int_equal(ratelimit_take(rl, id, 0.0, 1, 4, &ra), 0);
    }
    assert_int_equal(ratelimit_count(rl), 5000);
    /* Then 20000 more keys, one per second: each bucket is full again a
     * second after its use, so the table never grows past the sweep size. */
    size_t most = 0;
    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof id, "f%015x", (unsigned)i);
        assert_int_equal(ratelimit_take(rl, id, 10.0 + i, 1, 4, &ra), 0);
        size_t n = ratelimit_count(rl);
        if (i > 10000 && n > most) most = n;
    }
    assert_true(most <= RATELIMIT_SWEEP_EVERY);
    /* A bucket in use is never dropped: an emptied one stays empty. */
    const char *busy = "00000000000000bb";
    double t = 40000.0;
    for (int i = 0; i < 4; i++) assert_int_equal(ratelimit_take(rl, busy, t, 1e-6, 4, &ra), 0);
    for (int i = 0; i < 3 * RATELIMIT_SWEEP_EVERY; i++) {
        snprintf(id, sizeof id, "e%015x", (unsigned)i);
        assert_int_equal(ratelimit_take(rl, id, t, 1e-6, 4, &ra), 0);
    }
    assert_int_equal(ratelimit_take(rl, busy, t, 1e-6, 4, &ra), ERR_RATE_LIMITED);
    ratelimit_free(rl);
}

static void test_ratelimit_refuses_bad_ids_and_arguments(void **unused)
{
    (void)unused;
    ratelimit *rl = ratelimit_new();
    int ra = 0;
    char longid[RATELIMIT_ID_MAX + 1];
    memset(longid, 'a', RATELIMIT_ID_MAX);
    longid[RATELIMIT_ID_MAX] = '\0';
    assert_int_equal(ratelimit_take(rl, "", 0, 1, 1, &ra), ERR_INVALID_ARGUMENT);
    assert_int_equal(ratelimit_take(rl, longid, 0, 1, 1, &ra), ERR_INVALID_ARGUMENT);
    assert_int_equal(ratelimit_take(rl, "ab", 0, 0, 1, &ra), ERR_INVALID_ARGUMENT);
    assert_int_equal(ratelimit_take(rl, "ab", 0, 1, 0.5, &ra), ERR_INVALID_ARGUMENT);
    assert_int_equal(ratelimit_take(NULL, "ab", 0, 1, 1, &ra), ERR_INVALID_ARGUMENT);
    assert_int_equal(ratelimit_count(rl), 0);
    ratelimit_free(rl);
    ratelimit_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratelimit_ids_colliding_in_the_old_cache_keep_separate_buckets),
        cmocka_unit_test(test_ratelimit_refills_at_the_rate_up_to_the_burst),
        cmocka_unit_test(test_ratelimit_drops_full_idle_buckets),
        cmocka_unit_test(test_ratelimit_refuses_bad_ids_and_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
