/* test_meta_spec.c — src/service/meta_spec.c: every meta-training config shipped in deploy/meta/
 * (the shipped records', the wider variant's and the experiments') is accepted by the same
 * parser and checks `optirsd meta-train --config` uses, and names an
 * architecture the optimizers accept; a record domain is one of the words, and a record
 * named <optimizer>.<domain> must be of that optimizer and carry that domain (given or
 * derived from the tasks); the robustness keys (objective, task draws, curriculum) and
 * the job memory check.  Runs from the repository root. */
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
    size_t before = g.gl_pathc;
    assert_int_equal(glob("deploy/meta/experiments/adapt/*.conf", GLOB_APPEND, NULL, &g), 0);
    assert_true(g.gl_pathc >= before + 5);   /* the few-shot specialisation's configs */
    before = g.gl_pathc;
    assert_int_equal(glob("deploy/meta/experiments/transfer/*.conf", GLOB_APPEND, NULL, &g), 0);
    assert_true(g.gl_pathc >= before + 4);   /* the transfer experiment's three targets and its synthetic source */
    int wide = 0, kept = 0, reptile = 0;
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
        reptile += sp.mc.maml_inner_steps > 0;
    }
    assert_int_equal(reptile, 1);    /* experiments/adapt/maml_general.conf */
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

/* layernorm (deep_mlp, fmnist_mlp): 0 or 1, default 0; any other value,
 * a fraction or a word refused like any out-of-range task key. */
static void test_task_text_layernorm(void **st)
{
    (void)st;
    meta_task_spec t;
    char msg[200] = "";
    assert_int_equal(meta_task_parse("deep_mlp depth=4 activation=gelu", &t, msg, sizeof msg), 0);
    assert_int_equal(t.params.layernorm, 0);
    assert_int_equal(meta_task_parse("deep_mlp depth=6 layernorm=1 dim=8 classes=3", &t, msg, sizeof msg), 0);
    assert_int_equal(t.params.layernorm, 1);
    task *tk = NULL;
    assert_int_equal(task_create(t.family, &t.params, 1, &tk), 0);
    assert_int_equal(tk->p.layernorm, 1);
    task_free(tk);
    assert_int_equal(meta_task_parse("fmnist_mlp width=16 layernorm=0", &t, msg, sizeof msg), 0);
    assert_int_equal(t.params.layernorm, 0);
    assert_int_equal(meta_task_parse("fmnist_mlp layernorm=1", &t, msg, sizeof msg), 0);
    assert_int_equal(t.params.layernorm, 1);
    const char *bad[] = {"deep_mlp layernorm=2", "deep_mlp layernorm=-1", "deep_mlp layernorm=x",
                         "deep_mlp layernorm=1.5", "fmnist_mlp layernorm=2", "deep_mlp layernorm="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = 0;
        assert_int_equal(meta_task_parse(bad[i], &t, msg, sizeof msg), ERR_OUT_OF_RANGE);
        assert_non_null(strstr(msg, "task parameter layernorm="));
        assert_non_null(strstr(msg, "out of range"));
    }
    /* a family without the option refuses it when the request is checked
       (a 400 at POST /v1/meta/jobs), rather than train without it */
    char m2[400] = "";
    const char *nope[] = {"task", "mlp_regression layernorm=1", NULL};
    assert_int_equal(spec_of(nope, m2, sizeof m2), ERR_OUT_OF_RANGE);
    assert_non_null(strstr(m2, "mlp_regression: no layernorm"));
    const char *yes[] = {"task", "deep_mlp layernorm=1", NULL};
    assert_int_equal(spec_of(yes, m2, sizeof m2), 0);
}

/* Sets key = value on sp; returns the error code (message in msg). */
static int set(meta_spec *sp, const char *k, const char *v, char *msg)
{
    return meta_spec_set(sp, k, v, msg, 300);
}

/* The robustness keys: parsed with range checks, checked together, and
 * written back by meta_spec_to_json. */
/* attn_lopt: an odd width for the default 2 heads is refused with the
 * reason; tbptt is accepted (meta_tbptt.c records its rule); num_heads is
 * attn_lopt's only. */
static void test_attn_lopt_keys(void **st)
{
    (void)st;
    char msg[400] = "";
    const char *odd[] = {"optimizer", "attn_lopt", "hidden", "15", "depth", "1", NULL};
    assert_int_equal(spec_of(odd, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "num_heads (2) must divide hidden_size (15)"));
    const char *ok[] = {"optimizer", "attn_lopt", "hidden", "16", "depth", "2", NULL};
    assert_int_equal(spec_of(ok, msg, sizeof msg), 0);
    const char *tb[] = {"optimizer", "attn_lopt", "hidden", "16", "estimator", "tbptt", NULL};
    assert_int_equal(spec_of(tb, msg, sizeof msg), 0);
    const char *nh[] = {"optimizer", "nn_adam", "num_heads", "2", NULL};
    assert_int_equal(spec_of(nh, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "attn_lopt only"));
}

/* gru_lopt: es and pes meta-train it (only its forward runs); tbptt is
 * refused with the message that names the architectures it records and
 * where gru_lopt goes instead; lstm_lopt's memory and mlp_lopt's keys are
 * not its. */
static void test_gru_lopt_keys(void **st)
{
    (void)st;
    char msg[400] = "";
    const char *es[] = {"optimizer", "gru_lopt", "hidden", "4", "depth", "1", "estimator", "es", NULL};
    assert_int_equal(spec_of(es, msg, sizeof msg), 0);
    const char *pes[] = {"optimizer", "gru_lopt", "hidden", "16", "depth", "3", "estimator", "pes", NULL};
    assert_int_equal(spec_of(pes, msg, sizeof msg), 0);
    const char *tb[] = {"optimizer", "gru_lopt", "estimator", "tbptt", NULL};
    assert_int_equal(spec_of(tb, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "estimator tbptt works with mlp_lopt, lstm_lopt and attn_lopt only"));
    assert_non_null(strstr(msg, "gru_lopt"));
    const char *act[] = {"optimizer", "gru_lopt", "activation", "gelu", NULL};
    assert_int_equal(spec_of(act, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    const char *bad[] = {"optimizer", "gru", NULL};
    assert_int_equal(spec_of(bad, msg, sizeof msg), ERR_UNKNOWN_OPTIMIZER);
    assert_non_null(strstr(msg, "gru_lopt"));
}

static void test_maml_keys(void **st)
{
    (void)st;
    char msg[400] = "";
    const char *ok[] = {"maml_inner_steps", "3", "maml_step", "0.5", "task", "quadratic", "task", "rosenbrock", NULL};
    assert_int_equal(spec_of(ok, msg, sizeof msg), 0);
    const char *alone[] = {"maml_step", "0.5", NULL};
    assert_int_equal(spec_of(alone, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "maml_step needs maml_inner_steps"));
    const char *big[] = {"maml_inner_steps", "101", NULL};
    assert_int_equal(spec_of(big, msg, sizeof msg), ERR_OUT_OF_RANGE);
    const char *step0[] = {"maml_inner_steps", "2", "maml_step", "0", NULL};
    assert_int_equal(spec_of(step0, msg, sizeof msg), ERR_OUT_OF_RANGE);
    /* the normalised request carries them only when on */
    meta_spec sp;
    meta_spec_defaults(&sp);
    cJSON *j = meta_spec_to_json(&sp);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "maml_inner_steps"));
    cJSON_Delete(j);
    assert_int_equal(meta_spec_set(&sp, "maml_inner_steps", "2", msg, sizeof msg), 0);
    j = meta_spec_to_json(&sp);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "maml_inner_steps")->valueint, 2);
    assert_true(cJSON_GetObjectItemCaseSensitive(j, "maml_step")->valuedouble == 1.0);
    cJSON_Delete(j);
}

static void test_robustness_keys(void **st)
{
    (void)st;
    meta_spec sp;
    char msg[300];
    meta_spec_defaults(&sp);
    assert_int_equal(set(&sp, "estimator", "pes", msg), 0);
    assert_int_equal(set(&sp, "objective", "ref", msg), 0);
    assert_int_equal(set(&sp, "outlier_alpha", "0.5", msg), 0);
    assert_int_equal(set(&sp, "ref_lr", "0.003", msg), 0);
    assert_int_equal(set(&sp, "task_draw", "weighted", msg), 0);
    assert_int_equal(set(&sp, "curriculum_steps", "50", msg), 0);
    assert_int_equal(set(&sp, "unroll_start", "5", msg), 0);
    assert_int_equal(set(&sp, "horizon_max_start", "200", msg), 0);
    assert_int_equal(set(&sp, "task", "quadratic dim=5 weight=3 ref_lr=0.1", msg), 0);
    assert_int_equal(set(&sp, "task", "rosenbrock", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), 0);
    assert_int_equal(sp.mc.objective, META_OBJ_REF);
    assert_int_equal(sp.mc.task_draw, META_DRAW_WEIGHTED);
    assert_true(sp.mc.tasks[0].weight == 3 && sp.mc.tasks[0].ref_lr == 0.1 && sp.mc.tasks[0].params.dim == 5);
    assert_true(sp.mc.tasks[1].weight == 0 && sp.mc.tasks[1].ref_lr == 0);
    assert_true(sp.mc.outlier_alpha == 0.5 && sp.mc.ref_lr == 0.003 && sp.mc.curriculum_steps == 50);
    cJSON *j = meta_spec_to_json(&sp);
    assert_string_equal(cJSON_GetObjectItem(j, "objective")->valuestring, "ref");
    assert_string_equal(cJSON_GetObjectItem(j, "task_draw")->valuestring, "weighted");
    assert_true(cJSON_GetObjectItem(j, "outlier_alpha")->valuedouble == 0.5);
    assert_int_equal(cJSON_GetObjectItem(j, "horizon_max_start")->valueint, 200);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "tasks"), 0)->valuestring,
                        "quadratic dim=5 weight=3 ref_lr=0.1");
    cJSON_Delete(j);
    /* range checks */
    assert_int_equal(set(&sp, "objective", "max", msg), ERR_INVALID_ARGUMENT);
    assert_int_equal(set(&sp, "task_draw", "random", msg), ERR_INVALID_ARGUMENT);
    assert_int_equal(set(&sp, "outlier_alpha", "-1", msg), ERR_OUT_OF_RANGE);
    assert_int_equal(set(&sp, "ref_lr", "0", msg), ERR_OUT_OF_RANGE);
    assert_int_equal(set(&sp, "task", "quadratic weight=0", msg), ERR_OUT_OF_RANGE);
    assert_int_equal(set(&sp, "task", "quadratic ref_lr=nan", msg), ERR_OUT_OF_RANGE);
    /* what does not fit together */
    meta_spec_defaults(&sp);
    assert_int_equal(set(&sp, "task", "quadratic weight=2", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "task_draw = weighted"));
    meta_spec_defaults(&sp);
    assert_int_equal(set(&sp, "task", "quadratic ref_lr=0.1", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "objective = ref"));
    meta_spec_defaults(&sp);
    assert_int_equal(set(&sp, "objective", "ref", msg), 0);
    assert_int_equal(set(&sp, "estimator", "tbptt", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    meta_spec_defaults(&sp);
    assert_int_equal(set(&sp, "unroll_start", "5", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);   /* no curriculum_steps */
    assert_int_equal(set(&sp, "curriculum_steps", "10", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), 0);
    assert_int_equal(set(&sp, "unroll_start", "50", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_OUT_OF_RANGE);      /* > unroll 20 */
    /* µP: mlp_lopt only */
    meta_spec_defaults(&sp);
    assert_int_equal(set(&sp, "mup_base", "16", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), 0);
    assert_int_equal(sp.mc.mup_base, 16);
    assert_int_equal(set(&sp, "mup_base", "70000", msg), ERR_OUT_OF_RANGE);
    assert_int_equal(set(&sp, "optimizer", "lstm_lopt", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "mup_base"));
    /* the activation: a name, mlp_lopt only (TBPTT records it too), written back only when not relu */
    meta_spec_defaults(&sp);
    assert_int_equal(set(&sp, "activation", "tanh", msg), ERR_OUT_OF_RANGE);
    assert_non_null(strstr(msg, "relu, gelu or swish"));
    assert_int_equal(set(&sp, "activation", "swish", msg), 0);
    assert_int_equal(sp.mc.act, LOPT_ACT_SWISH);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), 0);
    assert_int_equal(set(&sp, "estimator", "tbptt", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), 0);
    cJSON *aj = meta_spec_to_json(&sp);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(aj, "activation")->valuestring, "swish");
    cJSON_Delete(aj);
    assert_int_equal(set(&sp, "estimator", "pes", msg), 0);
    assert_int_equal(set(&sp, "optimizer", "lstm_lopt", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "activation swish works with mlp_lopt only"));
    meta_spec_defaults(&sp);
    aj = meta_spec_to_json(&sp);
    assert_null(cJSON_GetObjectItemCaseSensitive(aj, "activation"));
    cJSON_Delete(aj);
    /* the feature set: a name, mlp_lopt only (tbptt too: its gradient is masked), written back only when
       not full; a number, another case or an unknown name is out_of_range; a JSON number or a repeated key too */
    meta_spec_defaults(&sp);
    const char *bad_sets[] = {"tanh", "FULL", "3", "", "full,adam"};
    for (size_t i = 0; i < sizeof bad_sets / sizeof bad_sets[0]; i++) {
        assert_int_equal(set(&sp, "features", bad_sets[i], msg), ERR_OUT_OF_RANGE);
        assert_non_null(strstr(msg, "full, adam, momentum, no_time or no_tensor"));
    }
    assert_int_equal(sp.mc.fset, LOPT_FSET_FULL);
    assert_int_equal(set(&sp, "features", "momentum", msg), 0);
    assert_int_equal(sp.mc.fset, LOPT_FSET_MOMENTUM);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), 0);
    assert_int_equal(set(&sp, "estimator", "tbptt", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), 0);
    aj = meta_spec_to_json(&sp);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(aj, "features")->valuestring, "momentum");
    meta_spec back;
    meta_spec_defaults(&back);
    assert_int_equal(meta_spec_from_json(&back, aj, msg, sizeof msg), 0);   /* written back, read again */
    assert_int_equal(back.mc.fset, LOPT_FSET_MOMENTUM);
    cJSON_Delete(aj);
    assert_int_equal(set(&sp, "estimator", "pes", msg), 0);
    assert_int_equal(set(&sp, "optimizer", "lstm_lopt", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "features momentum works with mlp_lopt only"));
    cJSON *num = cJSON_Parse("{\"features\": 2}");
    meta_spec_defaults(&sp);
    assert_int_equal(meta_spec_from_json(&sp, num, msg, sizeof msg), ERR_OUT_OF_RANGE);
    cJSON_Delete(num);
    cJSON *dup = cJSON_Parse("{\"features\": \"adam\", \"features\": \"adam\"}");
    meta_spec_defaults(&sp);
    assert_int_equal(meta_spec_from_json(&sp, dup, msg, sizeof msg), ERR_INVALID_JSON);
    cJSON_Delete(dup);
    meta_spec_defaults(&sp);
    aj = meta_spec_to_json(&sp);
    assert_null(cJSON_GetObjectItemCaseSensitive(aj, "features"));
    cJSON_Delete(aj);
    /* the inner mlp_lopt's hold: unset = the optimizer's default; 0/1; mlp_lopt only */
    meta_spec_defaults(&sp);
    assert_int_equal(sp.mc.hold_zero_grad, -1);
    assert_int_equal(set(&sp, "hold_zero_grad", "2", msg), ERR_OUT_OF_RANGE);
    assert_int_equal(set(&sp, "hold_zero_grad", "-1", msg), ERR_OUT_OF_RANGE);
    assert_int_equal(set(&sp, "hold_zero_grad", "0", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), 0);
    assert_int_equal(sp.mc.hold_zero_grad, 0);
    assert_int_equal(set(&sp, "optimizer", "nn_adam", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "hold_zero_grad"));
    /* the trust region: >= 0, mlp_lopt only, not with tbptt */
    meta_spec_defaults(&sp);
    assert_true(sp.mc.trust == -1);
    assert_int_equal(set(&sp, "trust", "-1", msg), ERR_OUT_OF_RANGE);
    assert_int_equal(set(&sp, "trust", "10", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), 0);
    assert_int_equal(set(&sp, "estimator", "tbptt", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "does not record mlp_lopt's trust: set trust = 0"));
    assert_int_equal(set(&sp, "trust", "0", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), 0);
    assert_int_equal(set(&sp, "estimator", "pes", msg), 0);
    assert_int_equal(set(&sp, "trust", "10", msg), 0);
    assert_int_equal(set(&sp, "optimizer", "lstm_lopt", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "trust works with mlp_lopt only"));
    /* the session rules in the inner loop: unset = off (-1), the inner config gets 0; set =
     * that value; in range, mlp_lopt only, not with tbptt */
    meta_spec_defaults(&sp);
    assert_true(sp.mc.hypergrad == -1 && sp.mc.anneal == -1);
    opt_config oc;
    assert_int_equal(meta_inner_config(&sp.mc, &oc), 0);
    const opt_vtbl *mvt = opt_find("mlp_lopt");
    int hgi = opt_hparam_index(mvt, "hypergrad"), ani = opt_hparam_index(mvt, "anneal");
    assert_true(hgi >= 0 && ani >= 0 && oc.hp[hgi] == 0 && oc.hp[ani] == 0);
    assert_int_equal(set(&sp, "hypergrad", "1.5", msg), ERR_OUT_OF_RANGE);
    assert_int_equal(set(&sp, "anneal", "-1", msg), ERR_OUT_OF_RANGE);
    assert_int_equal(set(&sp, "hypergrad", "0.01", msg), 0);
    assert_int_equal(set(&sp, "anneal", "3", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), 0);
    assert_int_equal(meta_inner_config(&sp.mc, &oc), 0);
    assert_true(oc.hp[hgi] == 0.01 && oc.hp[ani] == 3);
    assert_int_equal(set(&sp, "estimator", "tbptt", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "does not record mlp_lopt's hypergrad: set hypergrad = 0"));
    assert_int_equal(set(&sp, "hypergrad", "0", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "anneal = 0"));
    assert_int_equal(set(&sp, "anneal", "0", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), 0);   /* 0 = off: nothing to record */
    assert_int_equal(set(&sp, "estimator", "pes", msg), 0);
    assert_int_equal(set(&sp, "anneal", "3", msg), 0);
    assert_int_equal(set(&sp, "optimizer", "lstm_lopt", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "hypergrad and anneal work with mlp_lopt only"));
    /* 32 tasks, not 33 */
    meta_spec_defaults(&sp);
    for (int i = 0; i < META_MAX_TASKS; i++) assert_int_equal(set(&sp, "task", "quadratic dim=3", msg), 0);
    assert_int_equal(set(&sp, "task", "quadratic dim=3", msg), ERR_OUT_OF_RANGE);
    assert_non_null(strstr(msg, "at most 32 tasks"));
    assert_int_equal(sp.mc.ntasks, 32);
    /* the particles' memory is checked before anything runs */
    meta_spec_defaults(&sp);
    assert_int_equal(set(&sp, "task", "noisy_quadratic dim=1000000", msg), 0);
    assert_int_equal(set(&sp, "particles", "256", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_OUT_OF_RANGE);
    assert_non_null(strstr(msg, "MiB"));
    assert_int_equal(set(&sp, "particles", "4", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), 0);
}

/* Staged runs: stages, ewc_lambda, replay and the stage evaluation. */
static void test_continual_keys(void **st)
{
    (void)st;
    meta_spec sp;
    char msg[300];
    meta_spec_defaults(&sp);
    assert_int_equal(set(&sp, "stages", "quadratic, rosenbrock:30; logistic_regression:20", msg), 0);
    assert_int_equal(set(&sp, "task", "quadratic dim=5", msg), 0);
    assert_int_equal(set(&sp, "task", "logistic_regression dim=5", msg), 0);
    assert_int_equal(set(&sp, "task", "rosenbrock", msg), 0);
    assert_int_equal(set(&sp, "task", "quadratic dim=7", msg), 0);
    assert_int_equal(set(&sp, "ewc_lambda", "2.5", msg), 0);
    assert_int_equal(set(&sp, "replay", "0.25", msg), 0);
    assert_int_equal(set(&sp, "stage_eval_steps", "40", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "sum of the stages"));
    assert_int_equal(set(&sp, "outer_steps", "50", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), 0);
    assert_int_equal(sp.mc.nstages, 2);
    assert_int_equal(sp.mc.stage_steps[0], 30);
    assert_int_equal(sp.mc.stage_steps[1], 20);
    assert_int_equal(sp.mc.stage_tasks[0], 0xd);   /* both quadratics and rosenbrock */
    assert_int_equal(sp.mc.stage_tasks[1], 0x2);
    assert_true(sp.mc.ewc_lambda == 2.5 && sp.mc.replay == 0.25);
    cJSON *j = meta_spec_to_json(&sp);
    assert_string_equal(cJSON_GetObjectItem(j, "stages")->valuestring, "quadratic, rosenbrock:30; logistic_regression:20");
    assert_true(cJSON_GetObjectItem(j, "replay")->valuedouble == 0.25);
    meta_spec back;   /* the normalised request makes the same spec */
    meta_spec_defaults(&back);
    assert_int_equal(meta_spec_from_json(&back, j, msg, sizeof msg), 0);
    assert_int_equal(meta_spec_check(&back, msg, sizeof msg), 0);
    assert_memory_equal(back.mc.stage_tasks, sp.mc.stage_tasks, sizeof sp.mc.stage_tasks);
    assert_true(back.mc.ewc_lambda == 2.5 && back.stage_eval_steps == 40);
    cJSON_Delete(j);
    /* hostile or inconsistent values */
    assert_int_equal(set(&sp, "stages", "quadratic", msg), ERR_INVALID_ARGUMENT);
    assert_int_equal(set(&sp, "stages", "quadratic:0", msg), ERR_INVALID_ARGUMENT);
    assert_int_equal(set(&sp, "stages", "quadratic:1.5", msg), ERR_INVALID_ARGUMENT);
    assert_int_equal(set(&sp, "stages", "nosuchfamily:5", msg), ERR_INVALID_ARGUMENT);
    assert_int_equal(set(&sp, "stages", " ; ", msg), ERR_INVALID_ARGUMENT);
    assert_int_equal(set(&sp, "stages", "quadratic:1;quadratic:1;quadratic:1;quadratic:1;quadratic:1;"
                                        "quadratic:1;quadratic:1;quadratic:1;quadratic:1", msg), ERR_OUT_OF_RANGE);
    assert_int_equal(set(&sp, "replay", "1.5", msg), ERR_OUT_OF_RANGE);
    assert_int_equal(set(&sp, "ewc_lambda", "-1", msg), ERR_OUT_OF_RANGE);
    assert_int_equal(set(&sp, "stages", "quadratic:50", msg), 0);   /* logistic_regression in no stage */
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "in no stage"));
    assert_int_equal(set(&sp, "stages", "quadratic,logistic_regression,rosenbrock:40;rastrigin:10", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);   /* rastrigin: no task */
    assert_non_null(strstr(msg, "has no task"));
    meta_spec_defaults(&sp);
    assert_int_equal(set(&sp, "replay", "0.5", msg), 0);
    assert_int_equal(meta_spec_check(&sp, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "need stages"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_shipped_config_parses_and_checks),
        cmocka_unit_test(test_domain_words_and_domain_default_names),
        cmocka_unit_test(test_task_text_sequence_keys),
        cmocka_unit_test(test_task_text_of_vision_and_tabular_families),
        cmocka_unit_test(test_task_text_layernorm),
        cmocka_unit_test(test_robustness_keys),
        cmocka_unit_test(test_attn_lopt_keys),
        cmocka_unit_test(test_gru_lopt_keys),
        cmocka_unit_test(test_maml_keys),
        cmocka_unit_test(test_continual_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
