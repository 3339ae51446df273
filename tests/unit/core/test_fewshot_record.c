/* test_fewshot_record.c — few-shot weights records (blob round trip, every
 * truncation and a flipped byte refused, the named table) and the meta_sgd
 * optimizer that steps at a record's rates: update = −α ⊙ g exactly, a
 * scalar record's rate for every parameter, a layout of another size
 * refused, lr and schedules refused, the rates kept in its saved state. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fewshot.h"
#include "fewshot_record.h"
#include "opt.h"

/* A Meta-SGD job's record after 2 outer steps on a 1-8-8-1 network. */
static void make_record(fewshot_record *r, int method)
{
    fewshot_config c;
    fewshot_config_defaults(&c);
    c.method = method;
    c.hidden = 8;
    c.meta_batch = 3;
    fewshot_job *j;
    assert_int_equal(fewshot_job_new(&c, &j), 0);
    double l, g;
    for (int s = 0; s < 2; s++) assert_int_equal(fewshot_step(j, &l, &g), 0);
    assert_int_equal(fewshot_record_from_job(j, r), 0);
    fewshot_job_free(j);
}

static void test_record_round_trip_and_corruption(void **unused)
{
    (void)unused;
    for (int m = 0; m < 4; m++) {
        fewshot_record r, back;
        make_record(&r, m);
        assert_int_equal(r.alpha != NULL, m == FEWSHOT_META_SGD);
        uint8_t *b;
        size_t len;
        assert_int_equal(fewshot_record_save(&r, &b, &len), 0);
        assert_int_equal(fewshot_record_load(&back, b, len), 0);
        assert_int_equal(back.method, m);
        assert_int_equal(back.net.nparams, 8 + 8 + 64 + 8 + 8 + 1);
        assert_memory_equal(back.theta, r.theta, r.net.nparams * sizeof(float));
        if (r.alpha) assert_memory_equal(back.alpha, r.alpha, r.net.nparams * sizeof(float));
        assert_true(back.inner_lr == r.inner_lr);
        fewshot_record_deinit(&back);
        for (size_t cut = 0; cut < len; cut += 7) assert_int_equal(fewshot_record_load(&back, b, cut), ERR_CORRUPT);
        b[len / 2] ^= 0x10;
        assert_int_equal(fewshot_record_load(&back, b, len), ERR_CORRUPT);
        free(b);
        fewshot_record_deinit(&r);
    }
}

static void flat_layout(layout *lay, size_t n)
{
    assert_int_equal(layout_init_flat(lay, n, 100000000), 0);
}

static void test_meta_sgd_steps_at_the_learned_rates(void **unused)
{
    (void)unused;
    fewshot_record r;
    make_record(&r, FEWSHOT_META_SGD);
    size_t n = r.net.nparams;
    assert_int_equal(fewshot_registry_put("msgd-t", &r), 0);
    layout lay;
    flat_layout(&lay, n);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "meta_sgd"), 0);
    opt o;
    assert_int_equal(opt_init(&o, &cfg, &lay), ERR_MISSING_FIELD);   /* no weights */
    cfg.weights = "nope";
    assert_int_equal(opt_init(&o, &cfg, &lay), ERR_NOT_FOUND);
    cfg.weights = "msgd-t";
    layout other;
    flat_layout(&other, n + 1);
    assert_int_equal(opt_init(&o, &cfg, &other), ERR_INVALID_ARGUMENT);
    uint64_t bytes;
    assert_int_equal(opt_bytes(&cfg, &other, &bytes), ERR_INVALID_ARGUMENT);
    layout_deinit(&other);
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    float *p = calloc(n, sizeof(float)), *g = calloc(n, sizeof(float)), *u = calloc(n, sizeof(float));
    for (size_t i = 0; i < n; i++) {
        p[i] = (float)i * 0.5f;
        g[i] = (float)((int)(i % 13) - 6) * 0.37f;
    }
    step_info info = {.loss = NAN};
    assert_int_equal(opt_step(&o, p, g, u, &info), 0);
    for (size_t i = 0; i < n; i++) {
        assert_true(u[i] == -(r.alpha[i] * g[i]));
        assert_true(p[i] == (float)i * 0.5f + u[i]);
    }
    /* the rates are the session's own: saved and loaded with its state */
    uint8_t *blob;
    size_t len;
    assert_int_equal(opt_save(&o, &blob, &len), 0);
    opt_deinit(&o);
    fewshot_record other_r;
    make_record(&other_r, FEWSHOT_META_SGD);
    for (size_t i = 0; i < n; i++) other_r.alpha[i] = 1.0f;
    assert_int_equal(fewshot_registry_put("msgd-t", &other_r), 0);   /* a newer version */
    fewshot_record_deinit(&other_r);
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    assert_int_equal(opt_load(&o, blob, len), 0);
    assert_int_equal(opt_step(&o, p, g, u, &info), 0);
    for (size_t i = 0; i < n; i++) assert_true(u[i] == -(r.alpha[i] * g[i]));
    free(blob);
    opt_deinit(&o);
    /* lr and schedules do not apply */
    char why[200];
    opt_config c2 = cfg;
    assert_int_equal(opt_config_set(&c2, "lr", 0.5), 0);
    assert_int_equal(opt_find("meta_sgd")->check(&c2, &lay, why, sizeof why), ERR_INVALID_ARGUMENT);
    c2 = cfg;
    c2.schedule = SCHEDULE_COSINE;
    assert_int_equal(opt_find("meta_sgd")->check(&c2, &lay, why, sizeof why), ERR_INVALID_ARGUMENT);
    assert_int_equal(opt_find("meta_sgd")->check(&cfg, &lay, why, sizeof why), 0);
    /* a MAML record: its scalar rate everywhere */
    fewshot_record mr;
    make_record(&mr, FEWSHOT_MAML);
    assert_int_equal(fewshot_registry_put("maml-t", &mr), 0);
    cfg.weights = "maml-t";
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    assert_int_equal(opt_step(&o, p, g, u, &info), 0);
    for (size_t i = 0; i < n; i++) assert_true(u[i] == -((float)mr.inner_lr * g[i]));
    opt_deinit(&o);
    fewshot_record_deinit(&mr);
    free(p);
    free(g);
    free(u);
    layout_deinit(&lay);
    fewshot_record_deinit(&r);
    fewshot_registry_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_round_trip_and_corruption),
        cmocka_unit_test(test_meta_sgd_steps_at_the_learned_rates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
