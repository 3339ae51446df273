/* test_fewshot_run.c — src/service/fewshot_run.c against a real store in a
 * mkdtemp() directory: a job runs to its end with a curve point every
 * curve_every steps, its record is stored (arch = the method) and published
 * into core's few-shot table with exactly the θ and rates a fewshot_job of
 * the same config reaches; a second run is the next version; a cancelled job
 * stores nothing; fewshot_run_check refuses a learned optimizer's record
 * name and a domain default's name. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "fewshot_record.h"
#include "fewshot_run.h"
#include "meta_weights.h"
#include "store.h"

static char g_dir[64];
static char g_path[128];

static int count_cb(void *ctx, int64_t step, double loss, double gn)
{
    (void)loss, (void)gn;
    int *n = ctx;
    assert_int_equal(step, (int64_t)(*n + 1) * 10);
    (*n)++;
    return 0;
}

typedef struct row_ctx { char status[32]; char arch[32]; int64_t version, step; } row_ctx;

static int job_cb(void *ctx, const store_meta_job_row *j)
{
    row_ctx *c = ctx;
    snprintf(c->status, sizeof c->status, "%s", j->status);
    c->step = j->step;
    return 1;
}

static int w_cb(void *ctx, const store_weights_row *w)
{
    row_ctx *c = ctx;
    snprintf(c->arch, sizeof c->arch, "%s", w->arch);
    c->version = w->version;
    return 1;
}

static void insert(store *db, const char *id, const fewshot_spec *sp)
{
    store_meta_job_row row = {.id = id, .name = sp->name, .source = "cli", .tenant = "", .status = "queued",
                              .config_json = "{}", .outer_steps = sp->outer_steps};
    assert_int_equal(store_meta_job_insert(db, &row), 0);
}

static void test_a_job_stores_and_publishes_its_record(void **st)
{
    (void)st;
    store *db;
    assert_int_equal(store_open(g_path, &db), 0);
    fewshot_spec sp;
    fewshot_spec_defaults(&sp);
    sp.fc.method = FEWSHOT_META_SGD;
    sp.fc.hidden = 40;
    sp.fc.meta_batch = 4;
    sp.outer_steps = 30;
    sp.curve_every = 10;
    snprintf(sp.name, sizeof sp.name, "fs-test");
    char msg[300];
    assert_int_equal(fewshot_run_check(db, &sp, msg, sizeof msg), 0);
    insert(db, "j1", &sp);
    int64_t v = 0;
    assert_int_equal(fewshot_run(db, "j1", &sp, NULL, &v, msg, sizeof msg), 0);
    assert_int_equal(v, 1);
    row_ctx c = {0};
    assert_int_equal(store_meta_job_get(db, "j1", 0, job_cb, &c), 0);
    assert_string_equal(c.status, "done");
    assert_int_equal(c.step, 30);
    int n = 0;
    assert_int_equal(store_meta_curve(db, "j1", count_cb, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(store_weights_get(db, "fs-test", 0, 0, w_cb, &c), 0);
    assert_string_equal(c.arch, "meta_sgd");
    /* published: the table holds what the same job reaches directly */
    fewshot_job *j;
    assert_int_equal(fewshot_job_new(&sp.fc, &j), 0);
    double l, g;
    for (int s = 0; s < 30; s++) assert_int_equal(fewshot_step(j, &l, &g), 0);
    fewshot_record want;
    assert_int_equal(fewshot_record_from_job(j, &want), 0);
    fewshot_job_free(j);
    meta_weights_lock();
    const fewshot_record *got = fewshot_registry_find("fs-test");
    const fewshot_record *got1 = fewshot_registry_find("fs-test@1");
    assert_non_null(got);
    assert_non_null(got1);
    assert_memory_equal(got->theta, want.theta, want.net.nparams * sizeof(float));
    assert_memory_equal(got->alpha, want.alpha, want.net.nparams * sizeof(float));
    meta_weights_unlock();
    fewshot_record_deinit(&want);
    /* the same request again: version 2 */
    insert(db, "j2", &sp);
    assert_int_equal(fewshot_run(db, "j2", &sp, NULL, &v, msg, sizeof msg), 0);
    assert_int_equal(v, 2);
    /* cancelled before its first step: no record */
    _Atomic int cancel = 1;
    meta_run_io io = {.cancel = &cancel};
    snprintf(sp.name, sizeof sp.name, "fs-cancelled");
    insert(db, "j3", &sp);
    assert_int_equal(fewshot_run(db, "j3", &sp, &io, &v, msg, sizeof msg), 1);
    assert_int_equal(store_meta_job_get(db, "j3", 0, job_cb, &c), 0);
    assert_string_equal(c.status, "cancelled");
    assert_int_equal(store_weights_get(db, "fs-cancelled", 0, 0, w_cb, &c), ERR_NOT_FOUND);
    /* names that belong to learned optimizers */
    store_weights_row lw = {.name = "mlp_lopt", .version = 0, .arch = "mlp_lopt", .hidden = 8, .depth = 1,
                            .ntheta = 1, .domain = "synthetic", .provenance_json = "{}", .eval_json = "{}",
                            .blob = "x", .blob_len = 1};
    assert_int_equal(store_weights_put(db, &lw, 0, NULL), 0);
    snprintf(sp.name, sizeof sp.name, "mlp_lopt");
    assert_int_equal(fewshot_run_check(db, &sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    snprintf(sp.name, sizeof sp.name, "lstm_lopt.vision");
    assert_int_equal(fewshot_run_check(db, &sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    snprintf(sp.name, sizeof sp.name, "fs-test");
    assert_int_equal(fewshot_run_check(db, &sp, msg, sizeof msg), 0);
    store_close(db);
    fewshot_registry_clear();
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    for (size_t k = 0; k < sizeof sfx / sizeof sfx[0]; k++) {
        char p[160];
        snprintf(p, sizeof p, "%s%s", g_path, sfx[k]);
        unlink(p);
    }
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/test_fewshot_run.XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    snprintf(g_path, sizeof g_path, "%s/t.db", g_dir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_job_stores_and_publishes_its_record),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(g_dir);
    return failed;
}
