/* test_study_meta.c — studies whose trials meta-train (study_meta.h): the
 * objective's parse and its normalised form read back, the refusals at
 * parse and at creation (record keys, parameters meta_spec cannot take, the
 * cost cap), a run of tiny trials whose values equal a separate run of the
 * same request through the engine and the shared score; and the resumption
 * of a study after a restart (study_run_resumable): its running trials
 * lost, its run continued to max_trials with the parameters the seed gives
 * each trial number. */
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
#include "meta_run.h"
#include "meta_score.h"
#include "store.h"
#include "study.h"
#include "study_meta.h"
#include "study_run.h"
#include "study_spec.h"

static char g_dir[64], g_path[96];

static int setup(void **st)
{
    (void)st;
    snprintf(g_dir, sizeof g_dir, "/tmp/test_study_meta.XXXXXX");
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

#define META "{\"optimizer\": \"mlp_lopt\", \"estimator\": \"es\", \"tasks\": [\"quadratic dim=4\"], " \
             "\"outer_steps\": 3, \"particles\": 2, \"unroll\": 4}"
#define SCORE "{\"tasks\": 1, \"horizon\": 10, \"seeds\": 1}"
#define LR_SPACE "{\"outer_lr\": {\"type\": \"float\", \"low\": 1e-4, \"high\": 1e-2, \"log\": true}}"

static int parse(const char *text, study_spec *sp, char *msg)
{
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    int rc = study_spec_parse(sp, j, 0, msg, 300);
    cJSON_Delete(j);
    return rc;
}

static int create_rc(study_svc *sv, const char *text, char *id, char *msg)
{
    cJSON *body = cJSON_Parse(text), *out = NULL;
    assert_non_null(body);
    int rc = study_create(sv, NULL, body, &out, msg, 300);
    if (!rc) strcpy(id, cJSON_GetObjectItem(out, "id")->valuestring);
    cJSON_Delete(body);
    cJSON_Delete(out);
    return rc;
}

static void create(study_svc *sv, const char *text, char *id)
{
    char msg[300] = "";
    int rc = create_rc(sv, text, id, msg);
    if (rc) print_message("create: %s\n", msg);
    assert_int_equal(rc, 0);
}

static cJSON *trials(study_svc *sv, const char *id)
{
    cJSON *out = NULL;
    char msg[300];
    assert_int_equal(study_trials(sv, NULL, id, &out, msg, sizeof msg), 0);
    return out;
}

static void test_parse_and_refusals(void **st)
{
    (void)st;
    study_spec sp;
    char msg[300];
    assert_int_equal(parse("{\"name\": \"m\", \"space\": {\"outer_lr\": {\"type\": \"float\", \"low\": 1e-4, "
                           "\"high\": 1e-2, \"log\": true}, \"particles\": {\"type\": \"categorical\", "
                           "\"choices\": [2, 4]}, \"unroll\": {\"type\": \"int\", \"low\": 2, \"high\": 8}}, "
                           "\"objective\": {\"meta\": " META ", \"score\": " SCORE ", \"report_every\": 2}}",
                           &sp, msg), 0);
    const study_objective *o = &sp.objective;
    assert_true(o->given && o->is_meta);
    assert_int_equal(o->report_every, 2);
    assert_int_equal(o->meta.ms.outer_steps, 3);
    assert_int_equal(o->meta.ms.mc.nparticles, 2);
    assert_int_equal(o->meta.score_tasks, 1);
    assert_int_equal(o->meta.score_horizon, 10);
    assert_int_equal(o->meta.score_seeds, 1);
    /* the normalised form: no record keys, the score's defaults filled in,
     * and it reads back to the same form */
    cJSON *norm = study_spec_to_json(&sp);
    const cJSON *ob = cJSON_GetObjectItem(norm, "objective");
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(ob, "meta"), "name"));
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(ob, "meta"), "checkpoint_every"));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(ob, "score"), "suite")->valuestring, "selection");
    study_spec sp2;
    assert_int_equal(study_spec_parse(&sp2, norm, 0, msg, sizeof msg), 0);
    cJSON *norm2 = study_spec_to_json(&sp2);
    assert_true(cJSON_Compare(norm, norm2, 1));
    cJSON_Delete(norm);
    cJSON_Delete(norm2);
    study_spec_free(&sp2);
    /* a trial's request: the parameters set over the base, checked */
    meta_spec ms;
    cJSON *params = cJSON_Parse("{\"outer_lr\": 0.005, \"particles\": 4, \"unroll\": 6}");
    assert_int_equal(study_meta_apply(&o->meta, params, &ms, msg, sizeof msg), 0);
    assert_true(ms.mc.outer_lr == 0.005);
    assert_int_equal(ms.mc.nparticles, 4);
    assert_int_equal(ms.mc.unroll, 6);
    cJSON_Delete(params);
    study_spec_free(&sp);
    /* the defaults of score: all three tasks of the subset */
    assert_int_equal(parse("{\"name\": \"m\", \"space\": " LR_SPACE ", \"objective\": {\"meta\": " META "}}", &sp,
                           msg), 0);
    assert_int_equal(sp.objective.meta.score_tasks, META_SCORE_SELECTION_N);
    assert_int_equal(sp.objective.report_every, 1);
    study_spec_free(&sp);
    /* refusals at parse, each naming what it refuses */
    struct { const char *text, *names; int rc; } bad[] = {
        {"{\"name\": \"m\", \"space\": {\"layers\": {\"type\": \"int\", \"low\": 1, \"high\": 3}}, "
         "\"objective\": {\"meta\": " META "}}", "layers", ERR_INVALID_ARGUMENT},
        {"{\"name\": \"m\", \"space\": {\"particles\": {\"type\": \"float\", \"low\": 1, \"high\": 3}}, "
         "\"objective\": {\"meta\": " META "}}", "particles", ERR_INVALID_ARGUMENT},
        {"{\"name\": \"m\", \"space\": {\"sigma\": {\"type\": \"float\", \"low\": 0.001, \"high\": 100}}, "
         "\"objective\": {\"meta\": " META "}}", "sigma", ERR_INVALID_ARGUMENT},
        {"{\"name\": \"m\", \"space\": {\"hidden\": {\"type\": \"categorical\", \"choices\": [4, 4.5]}}, "
         "\"objective\": {\"meta\": " META "}}", "hidden", ERR_INVALID_ARGUMENT},
        {"{\"name\": \"m\", \"space\": {\"threads\": {\"type\": \"int\", \"low\": 1, \"high\": 2}}, "
         "\"objective\": {\"meta\": " META "}}", "threads", ERR_INVALID_ARGUMENT},
        {"{\"name\": \"m\", \"space\": {\"checkpoint_every\": {\"type\": \"int\", \"low\": 1, \"high\": 2}}, "
         "\"objective\": {\"meta\": " META "}}", "checkpoint_every", ERR_INVALID_ARGUMENT},
        {"{\"name\": \"m\", \"space\": " LR_SPACE ", \"objective\": {\"meta\": {\"name\": \"x\"}}}", "name",
         ERR_INVALID_ARGUMENT},
        {"{\"name\": \"m\", \"space\": " LR_SPACE ", \"objective\": {\"meta\": {\"bogus\": 1}}}", "bogus",
         ERR_UNKNOWN_FIELD},
        {"{\"name\": \"m\", \"space\": " LR_SPACE ", \"objective\": {\"meta\": {\"particles\": 0}}}", "particles",
         ERR_OUT_OF_RANGE},
        {"{\"name\": \"m\", \"space\": " LR_SPACE ", \"objective\": {\"meta\": " META ", \"steps\": 3}}", "steps",
         ERR_INVALID_ARGUMENT},
        {"{\"name\": \"m\", \"space\": " LR_SPACE ", \"objective\": {\"meta\": " META ", \"extra\": 3}}", "extra",
         ERR_UNKNOWN_FIELD},
        {"{\"name\": \"m\", \"space\": " LR_SPACE ", \"objective\": {\"meta\": 3}}", "objective.meta",
         ERR_INVALID_ARGUMENT},
        {"{\"name\": \"m\", \"space\": " LR_SPACE ", \"objective\": {\"meta\": " META ", \"score\": {\"suite\": "
         "\"test\"}}}", "suite", ERR_INVALID_ARGUMENT},
        {"{\"name\": \"m\", \"space\": " LR_SPACE ", \"objective\": {\"meta\": " META ", \"score\": {\"tasks\": 4}}}",
         "tasks", ERR_OUT_OF_RANGE},
        {"{\"name\": \"m\", \"space\": " LR_SPACE ", \"objective\": {\"meta\": " META ", \"score\": {\"horizon\": 0}}}",
         "horizon", ERR_OUT_OF_RANGE},
        {"{\"name\": \"m\", \"space\": " LR_SPACE ", \"objective\": {\"meta\": " META ", \"score\": {\"x\": 0}}}", "x",
         ERR_UNKNOWN_FIELD},
        {"{\"name\": \"m\", \"space\": " LR_SPACE ", \"objective\": {\"meta\": " META ", \"report_every\": 0}}",
         "report_every", ERR_OUT_OF_RANGE},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = '\0';
        int rc = parse(bad[i].text, &sp, msg);
        if (rc != bad[i].rc || !strstr(msg, bad[i].names)) print_message("case %zu: %d %s\n", i, rc, msg);
        assert_int_equal(rc, bad[i].rc);
        assert_non_null(strstr(msg, bad[i].names));
        study_spec_free(&sp);
    }
}

static void test_creation_checks(void **st)
{
    (void)st;
    store *db = NULL;
    assert_int_equal(store_open(g_path, &db), 0);
    study_svc *sv = NULL;
    assert_int_equal(study_svc_new(store_studies_store(db), 3600000, NULL, &sv), 0);
    char id[64], msg[300];
    /* the default max_trials (10000) of the default meta-training length
     * (100 outer steps × 8 particles × 2 × 20 unroll) is over the cap */
    assert_int_equal(create_rc(sv, "{\"name\": \"c\", \"space\": " LR_SPACE ", \"objective\": {\"meta\": {}}}", id,
                               msg), ERR_OUT_OF_RANGE);
    assert_non_null(strstr(msg, "inner steps"));
    /* the cost takes the space's largest particles */
    const char *big = "{\"name\": \"c\", \"max_trials\": 100, \"space\": {\"particles\": {\"type\": \"int\", "
                      "\"low\": 1, \"high\": 256}}, \"objective\": {\"meta\": {\"outer_steps\": 1000, \"unroll\": 10}}}";
    assert_int_equal(create_rc(sv, big, id, msg), ERR_OUT_OF_RANGE);
    /* 100 × 1000 × 8 × 2 × 10 + 100 × 3 × 2 × 100 = 1.606e7: within */
    assert_int_equal(create_rc(sv, "{\"name\": \"c\", \"max_trials\": 100, \"space\": " LR_SPACE ", \"objective\": "
                               "{\"meta\": {\"outer_steps\": 1000, \"unroll\": 10}}}", id, msg), 0);
    /* maximize: a meta-loss and a score are better lower */
    assert_int_equal(create_rc(sv, "{\"name\": \"c\", \"max_trials\": 3, \"direction\": \"maximize\", \"space\": "
                               LR_SPACE ", \"objective\": {\"meta\": " META "}}", id, msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "direction"));
    /* a parameter the optimizer cannot take at all: named */
    assert_int_equal(create_rc(sv, "{\"name\": \"c\", \"max_trials\": 3, \"space\": {\"trust\": {\"type\": \"float\", "
                               "\"low\": 0, \"high\": 1}}, \"objective\": {\"meta\": {\"optimizer\": \"lstm_lopt\", "
                               "\"outer_steps\": 2}}}", id, msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "trust"));
    /* the base request's own check: horizons out of order */
    assert_int_equal(create_rc(sv, "{\"name\": \"c\", \"max_trials\": 3, \"space\": " LR_SPACE ", \"objective\": "
                               "{\"meta\": {\"outer_steps\": 2, \"horizon_min\": 50, \"horizon_max\": 10}}}", id, msg),
                     ERR_OUT_OF_RANGE);
    /* an init_weights record that does not exist */
    assert_int_equal(create_rc(sv, "{\"name\": \"c\", \"max_trials\": 3, \"space\": " LR_SPACE ", \"objective\": "
                               "{\"meta\": {\"outer_steps\": 2, \"init_weights\": \"no-such-record\"}}}", id, msg),
                     ERR_NOT_FOUND);
    /* a request whose particles alone take more than a run holds (1 GiB) but
     * less than a meta job may (2 GiB): its trials could never run */
    meta_spec one;
    meta_spec_defaults(&one);
    assert_int_equal(meta_spec_set(&one, "task", "rosenbrock dim=1000000", msg, sizeof msg), 0);
    assert_int_equal(meta_spec_set(&one, "particles", "1", msg, sizeof msg), 0);
    uint64_t b1 = 0;
    int brc = meta_spec_job_bytes(&one, &b1, msg, sizeof msg);
    if (brc) print_message("bytes: %s\n", msg);
    assert_int_equal(brc, 0);
    uint64_t parts = (3ull << 29) / b1 + 1;   /* 1.5 GiB */
    assert_true(parts <= 256 && parts * b1 > STUDY_RUN_MAX_BYTES && parts * b1 <= META_MAX_JOB_BYTES);
    char text[400];
    snprintf(text, sizeof text, "{\"name\": \"c\", \"max_trials\": 1, \"space\": " LR_SPACE ", \"objective\": "
             "{\"meta\": {\"tasks\": [\"rosenbrock dim=1000000\"], \"particles\": %llu, \"outer_steps\": 1, "
             "\"unroll\": 2}}}", (unsigned long long)parts);
    assert_int_equal(create_rc(sv, text, id, msg), ERR_OUT_OF_RANGE);
    assert_non_null(strstr(msg, "a study's run holds"));
    /* the same through a parameter at its highest value: named */
    snprintf(text, sizeof text, "{\"name\": \"c\", \"max_trials\": 1, \"space\": {\"particles\": {\"type\": "
             "\"int\", \"low\": 1, \"high\": %llu}}, \"objective\": {\"meta\": {\"tasks\": "
             "[\"rosenbrock dim=1000000\"], \"outer_steps\": 1, \"unroll\": 2}}}", (unsigned long long)parts);
    assert_int_equal(create_rc(sv, text, id, msg), ERR_OUT_OF_RANGE);
    assert_non_null(strstr(msg, "parameter particles"));
    /* nothing refused was created: only the one study within the cap */
    cJSON *l = NULL;
    assert_int_equal(study_list(sv, NULL, &l, msg, sizeof msg), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(l, "studies")), 1);
    cJSON_Delete(l);
    study_svc_free(sv);
    store_close(db);
}

/* The value a trial of `params` must get: the same request meta-trained
 * through the engine and scored, outside the study. */
static double expected_value(const study_meta *m, const char *params_text, double *curve)
{
    cJSON *params = cJSON_Parse(params_text);
    meta_spec ms;
    char msg[300];
    assert_int_equal(study_meta_apply(m, params, &ms, msg, sizeof msg), 0);
    cJSON_Delete(params);
    meta_job *j = NULL;
    assert_int_equal(meta_run_job_new(&ms, &j, msg, sizeof msg), 0);
    for (int s = 0; s < ms.outer_steps; s++) {
        meta_report rep;
        assert_int_equal(meta_run_step(&ms, j, 1, &rep), 0);
        curve[s] = rep.meta_loss;
    }
    double v;
    assert_int_equal(meta_score_selection_of(&ms.mc, meta_job_weights(j)->theta, m->score_tasks, m->score_horizon,
                                             m->score_seeds, &v, msg, sizeof msg), 0);
    meta_job_free(j);
    return v;
}

static void test_meta_trials_run(void **st)
{
    (void)st;
    store *db = NULL;
    assert_int_equal(store_open(g_path, &db), 0);
    study_svc *sv = NULL;
    assert_int_equal(study_svc_new(store_studies_store(db), 3600000, NULL, &sv), 0);
    char id[64], msg[300];
    create(sv, "{\"name\": \"r\", \"space\": " LR_SPACE ", \"max_trials\": 3, \"parallel\": 2, \"seed\": 4, "
               "\"sampler\": \"random\", \"pruner\": \"none\", \"objective\": {\"meta\": " META ", \"score\": "
               SCORE "}}", id);
    _Atomic int cancel = 0;
    study_run_stats rs;
    assert_int_equal(study_run(sv, NULL, id, &cancel, &rs, msg, sizeof msg), 0);
    assert_int_equal(rs.trials, 3);
    assert_int_equal(rs.steps, 3 * 3);   /* trials × outer steps */
    study_objective ob;
    int64_t par;
    assert_int_equal(study_objective_of(sv, NULL, id, &ob, &par, msg, sizeof msg), 0);
    cJSON *t = trials(sv, id);
    const cJSON *e;
    int n = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(t, "trials")) {
        assert_string_equal(cJSON_GetObjectItem(e, "state")->valuestring, "complete");
        char *ptext = cJSON_PrintUnformatted(cJSON_GetObjectItem(e, "params"));
        double curve[3];
        double v = expected_value(&ob.meta, ptext, curve);
        free(ptext);
        /* the final value is the score, the intermediate values the meta-loss curve */
        assert_true(cJSON_GetObjectItem(e, "value")->valuedouble == v);
        const cJSON *iv = cJSON_GetObjectItem(e, "intermediate");
        assert_int_equal(cJSON_GetArraySize(iv), 3);
        for (int s = 0; s < 3; s++) {
            const cJSON *p = cJSON_GetArrayItem(iv, s);
            assert_int_equal(cJSON_GetObjectItem(p, "step")->valuedouble, s + 1);
            assert_true(cJSON_GetObjectItem(p, "value")->valuedouble == curve[s]);
        }
        n++;
    }
    assert_int_equal(n, 3);
    cJSON_Delete(t);
    /* a trial whose value meta_spec refuses is told failed: attn_lopt's heads
     * must divide hidden (3 does not divide 4; the ends 1 and 4, which the
     * creation probes, do) */
    char id2[64];
    create(sv, "{\"name\": \"f\", \"space\": {\"num_heads\": {\"type\": \"categorical\", \"choices\": [1, 3, 4]}}, "
               "\"max_trials\": 6, \"parallel\": 1, \"sampler\": \"random\", \"pruner\": \"none\", \"seed\": 1, "
               "\"objective\": {\"meta\": {\"optimizer\": \"attn_lopt\", \"hidden\": 4, \"tasks\": "
               "[\"quadratic dim=2\"], \"outer_steps\": 1, \"particles\": 1, \"unroll\": 2}, \"score\": " SCORE "}}",
           id2);
    assert_int_equal(study_run(sv, NULL, id2, &cancel, &rs, msg, sizeof msg), 0);
    t = trials(sv, id2);
    int failed = 0, complete = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(t, "trials")) {
        int heads = (int)cJSON_GetObjectItem(cJSON_GetObjectItem(e, "params"), "num_heads")->valuedouble;
        assert_string_equal(cJSON_GetObjectItem(e, "state")->valuestring, heads == 3 ? "failed" : "complete");
        failed += heads == 3;
        complete += heads != 3;
    }
    assert_true(failed > 0 && complete > 0);   /* the seed draws both */
    cJSON_Delete(t);
    study_svc_free(sv);
    store_close(db);
}

typedef struct resumed { int n; char id[4][64]; } resumed;

static int on_resume(void *ctx, const char *id, const char *tenant)
{
    resumed *r = ctx;
    assert_string_equal(tenant, "");
    assert_true(r->n < 4);
    strcpy(r->id[r->n++], id);
    return 0;
}

#define X_SPACE "{\"lr\": {\"type\": \"float\", \"low\": 1e-4, \"high\": 0.1, \"log\": true}}"
#define TASK "mlp_regression dim=4 width=8 n_train=64"

static void test_resume_after_restart(void **st)
{
    (void)st;
    store *db = NULL;
    assert_int_equal(store_open(g_path, &db), 0);
    study_svc *sv = NULL;
    assert_int_equal(study_svc_new(store_studies_store(db), 3600000, NULL, &sv), 0);
    char id[64], done[64], plain[64], msg[300];
    const char *body = "{\"name\": \"r\", \"space\": " X_SPACE ", \"max_trials\": 6, \"parallel\": 2, \"seed\": 9, "
                       "\"sampler\": \"random\", \"pruner\": \"none\", \"objective\": {\"task\": \"" TASK "\", "
                       "\"steps\": 3}}";
    create(sv, body, id);
    /* a run that died: trial 0 complete, trials 1 and 2 running with a
     * report each (as a killed run leaves them) */
    cJSON *out = NULL;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(study_ask(sv, NULL, id, &out, msg, sizeof msg), 0);
        cJSON_Delete(out);
        int prune;
        assert_int_equal(study_report(sv, NULL, id, i, 1, 1.0 + i, &prune, msg, sizeof msg), 0);
        if (i == 0) {   /* parallel 2: trial 0 ends before trial 2 is asked */
            assert_int_equal(study_tell(sv, NULL, id, 0, "complete", 0.5, &out, msg, sizeof msg), 0);
            cJSON_Delete(out);
        }
    }
    /* a finished daemon-run study and a study without an objective: not resumed */
    create(sv, "{\"name\": \"d\", \"space\": " X_SPACE ", \"max_trials\": 1, \"pruner\": \"none\", "
               "\"objective\": {\"task\": \"" TASK "\", \"steps\": 2}}", done);
    _Atomic int cancel = 0;
    study_run_stats rs;
    assert_int_equal(study_run(sv, NULL, done, &cancel, &rs, msg, sizeof msg), 0);
    create(sv, "{\"name\": \"p\", \"space\": " X_SPACE "}", plain);
    assert_int_equal(study_ask(sv, NULL, plain, &out, msg, sizeof msg), 0);
    cJSON_Delete(out);
    /* the restart */
    study_svc_free(sv);
    store_close(db);
    assert_int_equal(store_open(g_path, &db), 0);
    assert_int_equal(study_svc_new(store_studies_store(db), 3600000, NULL, &sv), 0);
    resumed r = {0};
    int n = -1;
    assert_int_equal(study_run_resumable(sv, db, on_resume, &r, &n, msg, sizeof msg), 0);
    assert_int_equal(n, 1);
    assert_string_equal(r.id[0], id);
    cJSON *t = trials(sv, id);
    const char *want[] = {"complete", "lost", "lost"};
    for (int i = 0; i < 3; i++)
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "trials"), i),
                                                "state")->valuestring, want[i]);
    cJSON_Delete(t);
    /* the plain study's running trial is a client's: untouched */
    t = trials(sv, plain);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "trials"), 0),
                                            "state")->valuestring, "running");
    cJSON_Delete(t);
    /* the resumed run: five more trials (3..7), none duplicated, max_trials
     * trials that are not lost */
    assert_int_equal(study_run(sv, NULL, id, &cancel, &rs, msg, sizeof msg), 0);
    assert_int_equal(rs.trials, 5);
    /* the reference: the same space and seed asked by a client, 8 trials —
     * the random sampler gives trial n the same parameters whatever the
     * history, so every trial number has the same parameters as there */
    char ref[64];
    char refbody[512];
    snprintf(refbody, sizeof refbody, "{\"name\": \"ref\", \"space\": %s, \"seed\": 9, \"sampler\": \"random\", "
             "\"pruner\": \"none\", \"parallel\": 8}", X_SPACE);
    create(sv, refbody, ref);
    cJSON *refp[8];
    for (int i = 0; i < 8; i++) {
        assert_int_equal(study_ask(sv, NULL, ref, &out, msg, sizeof msg), 0);
        refp[i] = cJSON_Duplicate(cJSON_GetObjectItem(out, "params"), 1);
        cJSON_Delete(out);
    }
    t = trials(sv, id);
    const cJSON *e;
    int k = 0, counted = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(t, "trials")) {
        assert_int_equal(cJSON_GetObjectItem(e, "trial")->valuedouble, k);   /* 0..7, each once */
        assert_true(cJSON_Compare(cJSON_GetObjectItem(e, "params"), refp[k], 1));
        const char *state = cJSON_GetObjectItem(e, "state")->valuestring;
        counted += strcmp(state, "lost") != 0;
        if (k >= 3) assert_string_equal(state, "complete");
        k++;
    }
    assert_int_equal(k, 8);
    assert_int_equal(counted, 6);
    cJSON_Delete(t);
    for (int i = 0; i < 8; i++) cJSON_Delete(refp[i]);
    /* a second restart: the study is finished, nothing resumes */
    r.n = 0;
    assert_int_equal(study_run_resumable(sv, db, on_resume, &r, &n, msg, sizeof msg), 0);
    assert_int_equal(n, 0);
    study_svc_free(sv);
    store_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_refusals),
        cmocka_unit_test_setup_teardown(test_creation_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_trials_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_after_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
