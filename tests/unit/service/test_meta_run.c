/* test_meta_run.c — src/service/meta_run.c's pace of a job (meta_run_pace):
 * the rate is step / wall_s, the ETA the steps left at that rate, 0 once
 * every step is done; both NAN, never inf or a crash, whenever they cannot
 * be measured (no step yet, no time, damaged inputs, an overflowing rate).
 * And its transport hooks (what the MPI driver plugs in): a job run through
 * hooks that split every step over two jobs stores the record the threads
 * store, bit for bit; a failing step hook fails the job with its message,
 * keeps the last checkpoint, and a resume through the hooks finishes it
 * with the same record. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "meta_run.h"

static void test_pace_is_the_mean_rate_and_the_time_left_at_it(void **st)
{
    (void)st;
    double rate, eta;
    meta_run_pace(10, 110, 4.0, &rate, &eta);
    assert_true(rate == 2.5 && eta == 40.0);
    meta_run_pace(1, 3, 0.5, &rate, &eta);
    assert_true(rate == 2.0 && eta == 1.0);
    meta_run_pace(110, 110, 4.0, &rate, &eta);     /* done: nothing left */
    assert_true(rate == 27.5 && eta == 0.0);
    meta_run_pace(120, 110, 4.0, &rate, &eta);     /* past the end (a damaged row): still 0 left */
    assert_true(rate == 30.0 && eta == 0.0);
    meta_run_pace(INT64_MAX, INT64_MAX, 1e-3, &rate, &eta);
    assert_true(isfinite(rate) && eta == 0.0);
}

static void test_pace_is_nan_until_it_can_be_measured(void **st)
{
    (void)st;
    static const struct { int64_t step, outer; double wall; } cases[] = {
        {0, 10, 5.0},          /* no step yet */
        {3, 10, 0.0},          /* no time measured */
        {3, 10, -1.0},
        {3, 10, NAN},
        {3, 10, INFINITY},
        {-2, 10, 5.0},
        {3, 0, 5.0},
        {3, -5, 5.0},
        {1000, 2000, 1e-320},  /* overflows to inf */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double rate = 0, eta = 0;
        meta_run_pace(cases[i].step, cases[i].outer, cases[i].wall, &rate, &eta);
        assert_true(isnan(rate));
        assert_true(isnan(eta));
    }
}

/* Two "processes" in one: the job meta_run drives (particles [0, h)) and a
 * twin (particles [h, P)) made from its checkpoint in begin. */
typedef struct twin {
    const meta_spec *sp;
    meta_job *b;
    int begins, steps, saves, fail_at;   /* fail_at: the step hook fails on that step (0: never) */
} twin;

static int tw_begin(void *c, meta_job *j, char *msg, size_t cap)
{
    (void)msg; (void)cap;
    twin *t = c;
    uint8_t *ck;
    size_t l;
    t->begins++;
    assert_int_equal(meta_save(j, &ck, &l), 0);
    assert_int_equal(meta_job_new(&t->sp->mc, NULL, &t->b), 0);
    assert_int_equal(meta_load(t->b, ck, l), 0);
    free(ck);
    return 0;
}

static int tw_step(void *c, meta_job *j, meta_report *rep, char *msg, size_t cap)
{
    twin *t = c;
    if (t->fail_at && t->steps + 1 == t->fail_at) {
        snprintf(msg, cap, "the transport broke at step %d", t->fail_at);
        return ERR_STEP_TIMEOUT;
    }
    int P = meta_job_nparticles(j), h = P / 2;
    double ret[64 * META_RET_N];
    assert_int_equal(meta_step_begin(j), 0);
    assert_int_equal(meta_step_begin(t->b), 0);
    for (int k = 0; k < P; k++) {
        meta_job *o = k < h ? j : t->b;
        assert_int_equal(meta_eval_particle(o, k), 0);
        assert_int_equal(meta_particle_returns(o, k, ret + k * META_RET_N), 0);
    }
    meta_report rb;
    assert_int_equal(meta_step_end_split(t->b, h, P, ret, NULL, &rb), 0);
    t->steps++;
    return meta_step_end_split(j, 0, h, ret, NULL, rep);
}

static int tw_save(void *c, const meta_job *j, uint8_t **out, size_t *out_len, char *msg, size_t cap)
{
    (void)msg; (void)cap;
    twin *t = c;
    int P = meta_job_nparticles(j);
    uint8_t *parts[64] = {0};
    size_t lens[64] = {0};
    t->saves++;
    for (int k = P / 2; k < P; k++) assert_int_equal(meta_particle_save(t->b, k, &parts[k], &lens[k]), 0);
    int rc = meta_save_parts(j, (const uint8_t *const *)parts, lens, out, out_len);
    for (int k = 0; k < P; k++) free(parts[k]);
    return rc;
}

typedef struct got { void *blob; size_t len; char status[16], error[200]; void *ck; size_t ck_len; } got;

static int got_weights(void *c, const store_weights_row *w)
{
    got *g = c;
    g->blob = malloc(w->blob_len);
    memcpy(g->blob, w->blob, w->blob_len);
    g->len = w->blob_len;
    return 0;
}

static int got_job(void *c, const store_meta_job_row *r)
{
    got *g = c;
    snprintf(g->status, sizeof g->status, "%s", r->status);
    snprintf(g->error, sizeof g->error, "%s", r->error ? r->error : "");
    g->ck = r->checkpoint ? malloc(r->checkpoint_len) : NULL;
    if (g->ck) memcpy(g->ck, r->checkpoint, r->checkpoint_len);
    g->ck_len = r->checkpoint_len;
    return 0;
}

static void new_job(store *db, const char *id, const meta_spec *sp)
{
    store_meta_job_row row = {.id = id, .name = sp->name, .source = "cli", .status = "queued", .config_json = "{}",
                              .outer_steps = sp->outer_steps};
    assert_int_equal(store_meta_job_insert(db, &row), 0);
}

static void test_transport_hooks_split_the_job_bit_for_bit(void **st)
{
    (void)st;
    char dir[] = "/tmp/optirs-metarun.XXXXXX", path[64], msg[300];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.db", dir);
    store *db;
    assert_int_equal(store_open(path, &db), 0);
    meta_spec sp;
    meta_spec_defaults(&sp);
    static const char *const kv[][2] = {
        {"name", "twin_test"}, {"estimator", "pes"}, {"task", "quadratic dim=5"}, {"task", "rosenbrock"},
        {"particles", "5"}, {"unroll", "5"}, {"horizon_min", "8"}, {"horizon_max", "20"}, {"outer_steps", "6"},
        {"checkpoint_every", "2"}, {"threads", "2"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        assert_int_equal(meta_spec_set(&sp, kv[i][0], kv[i][1], msg, sizeof msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), 0);

    /* on threads, and through the hooks */
    int64_t va = 0, vb = 0, vc = 0;
    new_job(db, "plain", &sp);
    assert_int_equal(meta_run(db, "plain", &sp, NULL, 0, 0, NULL, &va, msg, sizeof msg), 0);
    twin t = {.sp = &sp};
    meta_run_io io = {.begin = tw_begin, .step = tw_step, .save = tw_save, .tctx = &t};
    new_job(db, "split", &sp);
    assert_int_equal(meta_run(db, "split", &sp, NULL, 0, 0, &io, &vb, msg, sizeof msg), 0);
    assert_int_equal(t.begins, 1);
    assert_int_equal(t.steps, 6);
    assert_int_equal(t.saves, 3);   /* checkpoints at steps 2, 4 and 6 */
    meta_job_free(t.b);
    got a = {0}, b = {0};
    assert_int_equal(store_weights_get(db, "twin_test", va, 1, got_weights, &a), 0);
    assert_int_equal(store_weights_get(db, "twin_test", vb, 1, got_weights, &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.blob, b.blob, a.len);

    /* a step hook that fails: the job fails with its message and keeps the
     * checkpoint of step 2; resumed through the hooks, it ends as above */
    twin f = {.sp = &sp, .fail_at = 4};
    io.tctx = &f;
    new_job(db, "broken", &sp);
    assert_int_equal(meta_run(db, "broken", &sp, NULL, 0, 0, &io, NULL, msg, sizeof msg), ERR_STEP_TIMEOUT);
    assert_non_null(strstr(msg, "the transport broke at step 4"));
    meta_job_free(f.b);
    got j = {0};
    assert_int_equal(store_meta_job_get(db, "broken", 1, got_job, &j), 0);
    assert_string_equal(j.status, "failed");
    assert_non_null(strstr(j.error, "the transport broke at step 4"));
    assert_non_null(j.ck);
    twin r = {.sp = &sp};
    io.tctx = &r;
    assert_int_equal(meta_run(db, "broken", &sp, j.ck, j.ck_len, 0, &io, &vc, msg, sizeof msg), 0);
    assert_int_equal(r.steps, 4);   /* from the checkpoint of step 2 */
    meta_job_free(r.b);
    got c = {0};
    assert_int_equal(store_weights_get(db, "twin_test", vc, 1, got_weights, &c), 0);
    assert_int_equal(a.len, c.len);
    assert_memory_equal(a.blob, c.blob, a.len);

    free(a.blob); free(b.blob); free(c.blob); free(j.ck);
    store_close(db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pace_is_the_mean_rate_and_the_time_left_at_it),
        cmocka_unit_test(test_pace_is_nan_until_it_can_be_measured),
        cmocka_unit_test(test_transport_hooks_split_the_job_bit_for_bit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
