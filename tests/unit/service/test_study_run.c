/* test_study_run.c — studies the daemon runs itself: the objective's parse,
 * its normalised form read back, what a trial's parameters set (the
 * optimizer's hyperparameters, batch, the architecture's width), and
 * study_run over a real store: the budget run to its end with every step
 * reported, a run cancelled before it starts, a trial the optimizer refuses
 * told failed; one trial outside a study (study_run_trial) giving the run's
 * values bit for bit; and study_trial_state / study_bind_pruned (a restarted
 * daemon's check of a bound session). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "store.h"
#include "study.h"
#include "study_bind.h"
#include "study_run.h"
#include "study_spec.h"

static char g_dir[64], g_path[96];

static int setup(void **st)
{
    (void)st;
    snprintf(g_dir, sizeof g_dir, "/tmp/test_study_run.XXXXXX");
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

static int parse(const char *text, study_spec *sp, char *msg)
{
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    int rc = study_spec_parse(sp, j, 0, msg, 300);
    cJSON_Delete(j);
    return rc;
}

#define SPACE "{\"lr\": {\"type\": \"float\", \"low\": 1e-4, \"high\": 0.1, \"log\": true}, " \
              "\"batch\": {\"type\": \"categorical\", \"choices\": [16, 32]}, " \
              "\"architecture\": {\"type\": \"categorical\", \"choices\": [\"small\", \"medium\", \"large\"]}}"
#define TASK "mlp_regression dim=4 width=8 n_train=64"

static void test_objective_parse_and_apply(void **st)
{
    (void)st;
    study_spec sp;
    char msg[300];
    assert_int_equal(parse("{\"name\": \"o\", \"space\": " SPACE ", \"objective\": {\"task\": \"  " TASK "  \", "
                           "\"steps\": 7, \"seeds\": [3, 4]}}", &sp, msg), 0);
    const study_objective *o = &sp.objective;
    assert_true(o->given);
    assert_string_equal(o->task_text, TASK);
    assert_int_equal(o->steps, 7);
    assert_string_equal(o->optimizer, "adam");
    assert_int_equal(o->nseeds, 2);
    assert_int_equal(o->seeds[1], 4);
    /* the normalised form reads back the same */
    cJSON *norm = study_spec_to_json(&sp);
    study_spec sp2;
    assert_int_equal(study_spec_parse(&sp2, norm, 0, msg, sizeof msg), 0);
    assert_memory_equal(&sp2.objective, &sp.objective, sizeof sp.objective);
    cJSON_Delete(norm);
    study_spec_free(&sp2);
    /* a trial's setting */
    cJSON *params = cJSON_Parse("{\"lr\": 0.02, \"batch\": 32, \"architecture\": \"large\"}");
    opt_config cfg;
    task_params tp;
    assert_int_equal(study_objective_apply(o, params, &cfg, &tp, msg, sizeof msg), 0);
    assert_true(cfg.hp[opt_hparam_index(opt_find("adam"), "lr")] == 0.02);
    assert_int_equal(tp.batch, 32);
    assert_int_equal(tp.width, 16);   /* large: twice the task's width 8 */
    cJSON_Delete(params);
    params = cJSON_Parse("{\"architecture\": \"small\"}");
    assert_int_equal(study_objective_apply(o, params, &cfg, &tp, msg, sizeof msg), 0);
    assert_int_equal(tp.width, 4);
    cJSON_Delete(params);
    params = cJSON_Parse("{\"lr\": -1}");
    assert_int_equal(study_objective_apply(o, params, &cfg, &tp, msg, sizeof msg), ERR_OUT_OF_RANGE);
    cJSON_Delete(params);
    study_spec_free(&sp);
    /* no width in the task: architecture scales STUDY_OBJ_BASE_WIDTH */
    assert_int_equal(parse("{\"name\": \"o\", \"space\": " SPACE ", \"objective\": {\"task\": \"mlp_regression\", "
                           "\"steps\": 1}}", &sp, msg), 0);
    params = cJSON_Parse("{\"architecture\": \"medium\"}");
    assert_int_equal(study_objective_apply(&sp.objective, params, &cfg, &tp, msg, sizeof msg), 0);
    assert_int_equal(tp.width, STUDY_OBJ_BASE_WIDTH);
    cJSON_Delete(params);
    study_spec_free(&sp);
    /* refusals */
    const char *bad[] = {
        "{\"name\": \"o\", \"space\": {\"layers\": {\"type\": \"int\", \"low\": 1, \"high\": 3}}, \"objective\": {\"task\": \"" TASK "\", \"steps\": 1}}",
        "{\"name\": \"o\", \"space\": " SPACE ", \"objective\": {\"task\": \"" TASK "\", \"steps\": 1, \"optimizer\": \"nope\"}}",
        "{\"name\": \"o\", \"space\": " SPACE ", \"objective\": {\"task\": \"nope\", \"steps\": 1}}",
        "{\"name\": \"o\", \"space\": " SPACE ", \"objective\": {\"task\": \"" TASK "\", \"steps\": 1, \"seeds\": [1, 2, 3, 4, 5, 6, 7, 8, 9]}}",
        "{\"name\": \"o\", \"space\": " SPACE ", \"objective\": {\"task\": \"" TASK "\"}}",
        "{\"name\": \"o\", \"space\": " SPACE ", \"objective\": {\"task\": \"" TASK "\", \"steps\": 3, \"report\": \"val\"}}",
        "{\"name\": \"o\", \"space\": " SPACE ", \"objective\": {\"task\": \"" TASK "\", \"steps\": 3, \"report_every\": 4}}",
        "{\"name\": \"o\", \"space\": {\"batch\": {\"type\": \"categorical\", \"choices\": [16, \"x\"]}}, \"objective\": {\"task\": \"" TASK "\", \"steps\": 1}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_not_equal(parse(bad[i], &sp, msg), 0);
        study_spec_free(&sp);
    }
    /* a task parameter the family does not read is refused (every trial would ignore it); the
       same spaces on families that read them are not */
    static const struct { const char *space, *task; int rc; } fam[] = {
        {"{\"batch\": {\"type\": \"int\", \"low\": 8, \"high\": 64}}", "quadratic dim=4", ERR_INVALID_ARGUMENT},
        {"{\"depth\": {\"type\": \"int\", \"low\": 1, \"high\": 3}}", "conv_net", ERR_INVALID_ARGUMENT},
        {"{\"architecture\": {\"type\": \"categorical\", \"choices\": [\"small\", \"large\"]}}", "rosenbrock",
         ERR_INVALID_ARGUMENT},
        {"{\"batch\": {\"type\": \"int\", \"low\": 8, \"high\": 64}}", "logistic_regression dim=4", 0},
        {"{\"depth\": {\"type\": \"int\", \"low\": 1, \"high\": 3}}", "fmnist_mlp", 0},
    };
    for (size_t i = 0; i < sizeof fam / sizeof fam[0]; i++) {
        char text[600];
        snprintf(text, sizeof text, "{\"name\": \"o\", \"space\": %s, \"objective\": {\"task\": \"%s\", \"steps\": 1}}",
                 fam[i].space, fam[i].task);
        assert_int_equal(parse(text, &sp, msg), fam[i].rc);
        if (fam[i].rc) assert_non_null(strstr(msg, "has no"));
        study_spec_free(&sp);
    }
}

static void create(study_svc *sv, const char *text, char *id)
{
    cJSON *body = cJSON_Parse(text), *out = NULL;
    char msg[300] = "";
    int rc = study_create(sv, NULL, body, &out, msg, sizeof msg);
    if (rc) print_message("create: %s\n", msg);
    assert_int_equal(rc, 0);
    strcpy(id, cJSON_GetObjectItem(out, "id")->valuestring);
    cJSON_Delete(body);
    cJSON_Delete(out);
}

static cJSON *trials(study_svc *sv, const char *id)
{
    cJSON *out = NULL;
    char msg[300];
    assert_int_equal(study_trials(sv, NULL, id, &out, msg, sizeof msg), 0);
    return out;
}

static void test_run_to_the_budget(void **st)
{
    (void)st;
    store *db = NULL;
    assert_int_equal(store_open(g_path, &db), 0);
    study_svc *sv = NULL;
    assert_int_equal(study_svc_new(store_studies_store(db), 3600000, NULL, &sv), 0);
    char id[64], msg[300];
    create(sv, "{\"name\": \"r\", \"space\": " SPACE ", \"max_trials\": 5, \"parallel\": 2, \"seed\": 1, "
               "\"sampler\": \"random\", \"pruner\": \"none\", \"objective\": {\"task\": \"" TASK "\", \"steps\": 4, "
               "\"seeds\": [0, 1]}}", id);
    _Atomic int cancel = 0;
    study_run_stats rs;
    assert_int_equal(study_run(sv, NULL, id, &cancel, &rs, msg, sizeof msg), 0);
    assert_int_equal(rs.trials, 5);
    assert_int_equal(rs.steps, 5 * 4 * 2);   /* trials × steps × seeds */
    assert_false(rs.cancelled);
    cJSON *t = trials(sv, id);
    const cJSON *e;
    int n = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(t, "trials")) {
        assert_string_equal(cJSON_GetObjectItem(e, "state")->valuestring, "complete");
        assert_true(cJSON_GetObjectItem(e, "value")->valuedouble > 0);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(e, "intermediate")), 4);
        n++;
    }
    assert_int_equal(n, 5);
    cJSON_Delete(t);
    /* held-out values every second step: the last one is the trial's value */
    char idh[64];
    create(sv, "{\"name\": \"h\", \"space\": " SPACE ", \"max_trials\": 2, \"parallel\": 2, \"pruner\": \"none\", "
               "\"objective\": {\"task\": \"" TASK "\", \"steps\": 5, \"report\": \"heldout\", \"report_every\": 2}}", idh);
    assert_int_equal(study_run(sv, NULL, idh, &cancel, &rs, msg, sizeof msg), 0);
    assert_int_equal(rs.steps, 2 * 5);
    t = trials(sv, idh);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(t, "trials")) {
        const cJSON *iv = cJSON_GetObjectItem(e, "intermediate");
        assert_int_equal(cJSON_GetArraySize(iv), 3);   /* steps 2, 4 and the last, 5 */
        assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(iv, 2), "step")->valuedouble, 5);
        assert_true(cJSON_GetObjectItem(cJSON_GetArrayItem(iv, 2), "value")->valuedouble ==
                    cJSON_GetObjectItem(e, "value")->valuedouble);
    }
    cJSON_Delete(t);
    /* the budget is spent: a second run asks nothing */
    assert_int_equal(study_run(sv, NULL, id, &cancel, &rs, msg, sizeof msg), 0);
    assert_int_equal(rs.trials, 0);
    /* cancelled before it starts: nothing asked */
    char id2[64];
    create(sv, "{\"name\": \"c\", \"space\": " SPACE ", \"objective\": {\"task\": \"" TASK "\", \"steps\": 4}}", id2);
    cancel = 1;
    assert_int_equal(study_run(sv, NULL, id2, &cancel, &rs, msg, sizeof msg), 0);
    assert_true(rs.cancelled);
    assert_int_equal(rs.trials, 0);
    /* a study without an objective, a missing one */
    cancel = 0;
    char id3[64];
    create(sv, "{\"name\": \"n\", \"space\": " SPACE "}", id3);
    assert_int_equal(study_run(sv, NULL, id3, &cancel, &rs, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_int_equal(study_run(sv, NULL, "st-none", &cancel, &rs, msg, sizeof msg), ERR_NOT_FOUND);
    /* beta1 ≥ 1 is outside Adam's range: that trial fails, the run goes on */
    char id4[64];
    create(sv, "{\"name\": \"b\", \"space\": {\"beta1\": {\"type\": \"categorical\", \"choices\": [0.5, 1.5]}}, "
               "\"max_trials\": 6, \"parallel\": 1, \"sampler\": \"random\", \"pruner\": \"none\", "
               "\"objective\": {\"task\": \"" TASK "\", \"steps\": 2}}", id4);
    assert_int_equal(study_run(sv, NULL, id4, &cancel, &rs, msg, sizeof msg), 0);
    t = trials(sv, id4);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(t, "trials")) {
        double b1 = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "params"), "beta1")->valuedouble;
        assert_string_equal(cJSON_GetObjectItem(e, "state")->valuestring, b1 > 1 ? "failed" : "complete");
    }
    cJSON_Delete(t);
    study_svc_free(sv);
    store_close(db);
}

/* study_run_trial on the objective of a study study_run ran: each complete
 * trial's value again, bit for bit, from its params alone. */
static void same_values(study_svc *sv, const char *id, const char *objective)
{
    cJSON *ov = cJSON_Parse(objective), *t = trials(sv, id);
    const cJSON *e;
    int n = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(t, "trials")) {
        if (strcmp(cJSON_GetObjectItem(e, "state")->valuestring, "complete") != 0) continue;
        study_objective ob;
        char msg[300];
        const cJSON *params = cJSON_GetObjectItem(e, "params");
        assert_int_equal(study_objective_parse_trial(&ob, ov, params, msg, sizeof msg), 0);
        double v = NAN, want = cJSON_GetObjectItem(e, "value")->valuedouble;
        int64_t failed = -1;
        assert_int_equal(study_run_trial(&ob, params, &v, &failed, msg, sizeof msg), 0);
        assert_int_equal(failed, 0);
        assert_memory_equal(&v, &want, sizeof v);
        n++;
    }
    assert_true(n > 0);
    cJSON_Delete(t);
    cJSON_Delete(ov);
}

static void test_one_trial_outside_the_study(void **st)
{
    (void)st;
    store *db = NULL;
    assert_int_equal(store_open(g_path, &db), 0);
    study_svc *sv = NULL;
    assert_int_equal(study_svc_new(store_studies_store(db), 3600000, NULL, &sv), 0);
    _Atomic int cancel = 0;
    study_run_stats rs;
    char id[64], msg[300];
    const char *objs[] = {
        "{\"task\": \"" TASK "\", \"steps\": 6, \"seeds\": [0, 3]}",
        "{\"task\": \"" TASK "\", \"steps\": 5, \"report\": \"heldout\", \"report_every\": 2}",
        "{\"task\": \"" TASK "\", \"steps\": 4, \"optimizer\": \"mlp_lopt\"}",   /* a learned one: default weights */
    };
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) {
        char req[1024];
        snprintf(req, sizeof req, "{\"name\": \"t\", \"space\": %s, \"max_trials\": 3, \"parallel\": 2, \"seed\": %zu, "
                                  "\"sampler\": \"random\", \"pruner\": \"none\", \"objective\": %s}",
                 i == 2 ? "{\"lr\": {\"type\": \"float\", \"low\": 1e-4, \"high\": 0.1, \"log\": true}}" : SPACE, i,
                 objs[i]);
        create(sv, req, id);
        assert_int_equal(study_run(sv, NULL, id, &cancel, &rs, msg, sizeof msg), 0);
        same_values(sv, id, objs[i]);
    }
    study_svc_free(sv);
    store_close(db);
    /* a diverging trial: the step that failed; a refused setting: its error */
    study_objective ob;
    double v;
    int64_t failed;
    cJSON *ov = cJSON_Parse("{\"task\": \"rosenbrock\", \"steps\": 50, \"optimizer\": \"sgd\"}");
    cJSON *pv = cJSON_Parse("{\"lr\": 10}");
    assert_int_equal(study_objective_parse_trial(&ob, ov, pv, msg, sizeof msg), 0);
    assert_int_equal(study_run_trial(&ob, pv, &v, &failed, msg, sizeof msg), 0);
    assert_true(failed > 0 && failed <= 50);
    assert_true(isnan(v));
    cJSON_Delete(pv);
    pv = cJSON_Parse("{\"momentum\": 1.5}");
    assert_int_equal(study_objective_parse_trial(&ob, ov, pv, msg, sizeof msg), 0);
    assert_int_equal(study_run_trial(&ob, pv, &v, &failed, msg, sizeof msg), ERR_OUT_OF_RANGE);
    cJSON_Delete(pv);
    /* what a study's creation refuses, refused here too */
    const char *bad_params[] = {"{\"lrr\": 0.1}", "{\"lr\": \"x\"}", "{\"lr\": true}", "[0.1]", "{\"lr\": 1, \"lr\": 2}",
                                "{\"batch\": 0.5}", "{\"architecture\": \"huge\"}"};
    for (size_t i = 0; i < sizeof bad_params / sizeof bad_params[0]; i++) {
        pv = cJSON_Parse(bad_params[i]);
        assert_non_null(pv);
        assert_int_not_equal(study_objective_parse_trial(&ob, ov, pv, msg, sizeof msg), 0);
        cJSON_Delete(pv);
    }
    cJSON_Delete(ov);
    pv = cJSON_Parse("{\"lr\": 0.1}");
    const char *bad_objs[] = {"{\"task\": \"rosenbrock\"}", "{\"meta\": {}}", "[1]", "{\"task\": \"rosenbrock\", "
                              "\"steps\": 5, \"optimizer\": \"nope\"}"};
    for (size_t i = 0; i < sizeof bad_objs / sizeof bad_objs[0]; i++) {
        ov = cJSON_Parse(bad_objs[i]);
        assert_int_not_equal(study_objective_parse_trial(&ob, ov, pv, msg, sizeof msg), 0);
        cJSON_Delete(ov);
    }
    cJSON_Delete(pv);
}

static void test_trial_state_and_bind_pruned(void **st)
{
    (void)st;
    store *db = NULL;
    assert_int_equal(store_open(g_path, &db), 0);
    study_svc *sv = NULL;
    assert_int_equal(study_svc_new(store_studies_store(db), 3600000, NULL, &sv), 0);
    char id[64], msg[300], ref[96];
    create(sv, "{\"name\": \"p\", \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}, "
               "\"pruner\": \"none\"}", id);
    cJSON *out = NULL;
    assert_int_equal(study_ask(sv, NULL, id, &out, msg, sizeof msg), 0);
    cJSON_Delete(out);
    const char *state = NULL;
    assert_int_equal(study_trial_state(sv, NULL, id, 0, &state, msg, sizeof msg), 0);
    assert_string_equal(state, "running");
    snprintf(ref, sizeof ref, "%s/0", id);
    int pruned = -1;
    assert_int_equal(study_bind_pruned(sv, NULL, ref, &pruned), 0);
    assert_int_equal(pruned, 0);
    assert_int_equal(study_tell(sv, NULL, id, 0, "pruned", NAN, &out, msg, sizeof msg), 0);
    cJSON_Delete(out);
    assert_int_equal(study_trial_state(sv, NULL, id, 0, &state, msg, sizeof msg), 0);
    assert_string_equal(state, "pruned");
    assert_int_equal(study_bind_pruned(sv, NULL, ref, &pruned), 0);
    assert_int_equal(pruned, 1);
    assert_int_equal(study_bind_pruned(sv, "other", ref, &pruned), ERR_NOT_FOUND);
    assert_int_equal(study_trial_state(sv, NULL, id, 7, &state, msg, sizeof msg), ERR_NOT_FOUND);
    assert_int_equal(study_bind_pruned(sv, NULL, "no-slash", &pruned), ERR_INVALID_ARGUMENT);
    study_svc_free(sv);
    store_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_objective_parse_and_apply),
        cmocka_unit_test_setup_teardown(test_run_to_the_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_trial_outside_the_study, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trial_state_and_bind_pruned, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
