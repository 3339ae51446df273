/* test_meta_spec.c — src/service/meta_spec.c: every meta-training config shipped in deploy/meta/
 * (the shipped records', the wider variant's and the experiments') is accepted by the same
 * parser and checks `optirsd meta-train --config` uses, and names an
 * architecture the optimizers accept.  Runs from the repository root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <glob.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "lopt.h"
#include "meta_spec.h"
#include "tasks.h"

static void test_every_shipped_config_parses_and_checks(void **st)
{
    (void)st;
    glob_t g;
    assert_int_equal(glob("deploy/meta/*.conf", 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 5);     /* mlp_lopt_base, mlp_lopt, mlp_lopt_wide, lstm_lopt, nn_adam */
    assert_int_equal(glob("deploy/meta/experiments/*.conf", GLOB_APPEND, NULL, &g), 0);
    int wide = 0, kept = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        meta_spec sp;
        char msg[400] = "";
        meta_spec_defaults(&sp);
        int rc = meta_spec_load_file(&sp, g.gl_pathv[i], msg, sizeof msg);
        if (!rc) rc = meta_spec_check(&sp, msg, sizeof msg);
        if (rc) fprintf(stderr, "%s: %s\n", g.gl_pathv[i], msg);
        assert_int_equal(rc, 0);
        int arch = lopt_arch_from_name(sp.mc.optimizer);
        assert_true(arch > 0);
        assert_true(lopt_theta_count(arch, sp.mc.hidden, sp.mc.depth) > 0);
        if (strcmp(sp.name, "mlp_lopt_wide") == 0) {
            wide = 1;
            assert_int_equal(sp.mc.hidden, 32);
            assert_int_equal(sp.mc.depth, 2);
            assert_int_equal(lopt_theta_count(arch, 32, 2), 1845);
        }
        kept += sp.keep_checkpoints;
    }
    assert_true(wide);
    assert_true(kept >= 1);           /* experiments/mlp_lopt_ratios_quad.conf keeps its checkpoints */
    globfree(&g);
}

/* The task text of the conv / autoencoder / tabular MLP families parses
 * (bottleneck included), builds a task, and out-of-range keys are refused. */
static void test_task_text_of_vision_and_tabular_families(void **st)
{
    (void)st;
    static const char *const ok[] = {
        "conv_net width=4 image_side=28 batch=8", "mlp_autoencoder bottleneck=4 width=16",
        "deep_mlp depth=6 activation=gelu dim=8 classes=3", "mlp_regression depth=3 dim=4 n_train=200"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        meta_task_spec t;
        char msg[200] = "";
        int rc = meta_task_parse(ok[i], &t, msg, sizeof msg);
        if (rc) fprintf(stderr, "%s: %s\n", ok[i], msg);
        assert_int_equal(rc, 0);
        task *tk = NULL;
        rc = task_create(t.family, &t.params, 1, &tk);
        if (rc) fprintf(stderr, "%s: %s\n", ok[i], tasks_last_error());
        assert_int_equal(rc, 0);
        task_free(tk);
    }
    meta_task_spec t;
    char msg[200];
    assert_int_equal(meta_task_parse("mlp_autoencoder bottleneck=4", &t, msg, sizeof msg), 0);
    assert_int_equal(t.params.bottleneck, 4);
    assert_int_equal(meta_task_parse("mlp_autoencoder bottleneck=0", &t, msg, sizeof msg), ERR_OUT_OF_RANGE);
    assert_int_equal(meta_task_parse("mlp_autoencoder bottleneck=5000", &t, msg, sizeof msg), ERR_OUT_OF_RANGE);
    assert_int_equal(meta_task_parse("mlp_autoencoder bottleneck=2.5", &t, msg, sizeof msg), ERR_OUT_OF_RANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_shipped_config_parses_and_checks),
        cmocka_unit_test(test_task_text_of_vision_and_tabular_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
