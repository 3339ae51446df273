/* test_snapshot.c — src/service/snapshot.c: a session's state survives
 * encode → decode bit for bit (parameters, last answer, counters, the
 * optimizer's and the adaptation's state: the next step after a restore is
 * the step the live session would have taken), and a snapshot of another
 * session shape, a truncated one or one whose adaptation state does not
 * match is refused with the step left unchanged. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "service/state_fixture.h"
#include "snapshot.h"

static const char *const ADAM_HG = "{\"optimizer\":\"adam\",\"tensors\":[{\"shape\":[3]},{\"shape\":[2,2]}],"
                             "\"adapt\":{\"lr\":\"hypergradient\"}}";

static void encode(fixture *f, uint8_t **blob, size_t *len)
{
    snapshot_state st = view(f);
    assert_int_equal(snapshot_encode(&st, blob, len), 0);
}

static void test_round_trip_restores_state_and_the_next_step(void **unused)
{
    (void)unused;
    fixture a, b;
    fixture_init(&a, ADAM_HG);
    fixture_init(&b, ADAM_HG);
    take_step(&a, 2.0);
    take_step(&a, 1.5);
    take_step(&a, 1.75);
    uint8_t *blob;
    size_t len;
    encode(&a, &blob, &len);
    snapshot_state st = view(&b);
    assert_int_equal(snapshot_decode(&st, blob, len), 0);
    assert_int_equal(st.step, 3);
    assert_true(st.last_loss == 1.75);
    assert_true(st.best_loss == 1.5);
    assert_int_equal(st.last_applied, 1);
    assert_memory_equal(b.params, a.params, a.sp.lay.n * sizeof(float));
    assert_memory_equal(b.update, a.update, a.sp.lay.n * sizeof(float));
    b.step = st.step;
    b.last_loss = st.last_loss;
    b.best_loss = st.best_loss;
    take_step(&a, 1.25);
    take_step(&b, 1.25);
    assert_memory_equal(b.params, a.params, a.sp.lay.n * sizeof(float));
    assert_memory_equal(b.update, a.update, a.sp.lay.n * sizeof(float));
    free(blob);
    fixture_deinit(&a);
    fixture_deinit(&b);
}

static void test_skipped_step_and_no_loss_survive(void **unused)
{
    (void)unused;
    fixture a, b;
    fixture_init(&a, "{\"optimizer\":\"sgd\",\"tensors\":[{\"shape\":[5]}]}");
    fixture_init(&b, "{\"optimizer\":\"sgd\",\"tensors\":[{\"shape\":[5]}]}");
    a.step = 7;
    a.last_applied = 0;
    uint8_t *blob;
    size_t len;
    encode(&a, &blob, &len);
    snapshot_state st = view(&b);
    st.last_applied = 1;
    assert_int_equal(snapshot_decode(&st, blob, len), 0);
    assert_int_equal(st.step, 7);
    assert_int_equal(st.last_applied, 0);
    assert_true(isnan(st.last_loss));
    assert_true(isnan(st.best_loss));
    free(blob);
    fixture_deinit(&a);
    fixture_deinit(&b);
}

static void test_other_shape_is_corrupt_and_step_unchanged(void **unused)
{
    (void)unused;
    fixture a, b;
    fixture_init(&a, "{\"optimizer\":\"sgd\",\"tensors\":[{\"shape\":[5]}]}");
    fixture_init(&b, "{\"optimizer\":\"sgd\",\"tensors\":[{\"shape\":[6]}]}");
    take_step(&a, 1.0);
    uint8_t *blob;
    size_t len;
    encode(&a, &blob, &len);
    snapshot_state st = view(&b);
    st.step = 42;
    assert_int_equal(snapshot_decode(&st, blob, len), ERR_CORRUPT);
    assert_int_equal(st.step, 42);
    free(blob);
    fixture_deinit(&a);
    fixture_deinit(&b);
}

static void test_truncated_snapshot_is_refused(void **unused)
{
    (void)unused;
    fixture a, b;
    fixture_init(&a, ADAM_HG);
    fixture_init(&b, ADAM_HG);
    take_step(&a, 1.0);
    uint8_t *blob;
    size_t len;
    encode(&a, &blob, &len);
    for (size_t cut = 0; cut < len; cut += 7) {
        snapshot_state st = view(&b);
        st.step = -5;
        assert_int_not_equal(snapshot_decode(&st, blob, cut), 0);
        assert_int_equal(st.step, -5);
    }
    free(blob);
    fixture_deinit(&a);
    fixture_deinit(&b);
}

static void test_adaptation_state_into_a_session_without_it_is_corrupt(void **unused)
{
    (void)unused;
    fixture a, b;
    fixture_init(&a, ADAM_HG);
    fixture_init(&b, "{\"optimizer\":\"adam\",\"tensors\":[{\"shape\":[3]},{\"shape\":[2,2]}]}");
    take_step(&a, 1.0);
    uint8_t *blob;
    size_t len;
    encode(&a, &blob, &len);
    snapshot_state st = view(&b);
    assert_int_equal(snapshot_decode(&st, blob, len), ERR_CORRUPT);
    free(blob);
    fixture_deinit(&a);
    fixture_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_restores_state_and_the_next_step),
        cmocka_unit_test(test_skipped_step_and_no_loss_survive),
        cmocka_unit_test(test_other_shape_is_corrupt_and_step_unchanged),
        cmocka_unit_test(test_truncated_snapshot_is_refused),
        cmocka_unit_test(test_adaptation_state_into_a_session_without_it_is_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
