/* test_meta_spec.c — src/service/meta_spec.c: every meta-training config shipped in deploy/meta/
 * (the shipped records', the wider variant's and the experiments') is accepted by the same
 * parser and checks `optirsd meta-train --config` uses, and names an
 * architecture the optimizers accept; a record domain is one of the words, and a record
 * named <optimizer>.<domain> must be of that optimizer and carry that domain (given or
 * derived from the tasks).  Runs from the repository root. */
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

/* Sets the keys (NULL-terminated pairs) and checks; returns the first error. */
static int spec_of(const char *const *kv, char *msg, size_t cap)
{
    meta_spec sp;
    meta_spec_defaults(&sp);
    for (int i = 0; kv[i]; i += 2) {
        int rc = meta_spec_set(&sp, kv[i], kv[i + 1], msg, cap);
        if (rc) return rc;
    }
    return meta_spec_check(&sp, msg, cap);
}

static void test_domain_words_and_domain_default_names(void **st)
{
    (void)st;
    char msg[400];
    const char *ok1[] = {"name", "mlp_lopt.synthetic", "task", "quadratic dim=4", NULL};      /* derived */
    assert_int_equal(spec_of(ok1, msg, sizeof msg), 0);
    const char *ok2[] = {"name", "mlp_lopt.tabular", "domain", "tabular", "task", "quadratic dim=4", NULL};
    assert_int_equal(spec_of(ok2, msg, sizeof msg), 0);
    const char *ok3[] = {"name", "mine", "domain", "mixed", "task", "quadratic dim=4", NULL};
    assert_int_equal(spec_of(ok3, msg, sizeof msg), 0);
    const char *bad1[] = {"name", "mlp_lopt.vision", "domain", "text", "task", "quadratic dim=4", NULL};
    assert_int_equal(spec_of(bad1, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "its domain must be vision"));
    const char *bad2[] = {"name", "mlp_lopt.tabular", "task", "quadratic dim=4", NULL};   /* derives synthetic */
    assert_int_equal(spec_of(bad2, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    const char *bad3[] = {"name", "nn_adam.synthetic", "optimizer", "mlp_lopt", "task", "quadratic dim=4", NULL};
    assert_int_equal(spec_of(bad3, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "must be nn_adam weights"));
    static const char *const words[] = {"Vision", "", "sequence", "vision ", "mixed2"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        const char *kv[] = {"domain", words[i], NULL};
        assert_int_equal(spec_of(kv, msg, sizeof msg), ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(msg, "domain must be vision, text, tabular, synthetic or mixed"));
    }
}

/* Task text: the sequence families' keys (heads, augment) are read and
 * range-checked like the others. */
static void test_task_text_sequence_keys(void **st)
{
    (void)st;
    meta_task_spec t;
    char msg[200] = "";
    assert_int_equal(meta_task_parse("transformer_lm width=16 heads=4 depth=2 seq_len=8 augment=1 activation=gelu",
                                     &t, msg, sizeof msg), 0);
    assert_string_equal(t.family, "transformer_lm");
    assert_int_equal(t.params.width, 16);
    assert_int_equal(t.params.heads, 4);
    assert_int_equal(t.params.depth, 2);
    assert_int_equal(t.params.seq_len, 8);
    assert_int_equal(t.params.augment, 1);
    assert_int_equal(meta_task_parse("gru_classifier dim=4 classes=3 n_train=200", &t, msg, sizeof msg), 0);
    assert_int_equal(t.params.dim, 4);
    assert_int_equal(t.params.augment, 0);
    const char *bad[] = {"transformer_lm heads=0", "transformer_lm heads=1.5", "transformer_lm heads=5000",
                         "lstm_classifier augment=2", "lstm_classifier augment=-1", "quadratic augment=yes"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = 0;
        assert_int_not_equal(meta_task_parse(bad[i], &t, msg, sizeof msg), 0);
        assert_non_null(strstr(msg, "out of range"));
    }
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
        cmocka_unit_test(test_domain_words_and_domain_default_names),
        cmocka_unit_test(test_task_text_sequence_keys),
        cmocka_unit_test(test_task_text_of_vision_and_tabular_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
