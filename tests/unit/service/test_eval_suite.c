/* test_eval_suite.c — src/service/eval_suite.c: a suite file's entries
 * (comments, spacing, domain= and min=, the @meta-training-tasks
 * directive), and every refusal naming the file and the line: unknown
 * family or parameter, bad domain or min, a duplicate, more than 64
 * entries, a line or a file over its bound; tasks added from a record's
 * provenance skip duplicates.  Also the shipped deploy/eval/ suites parse
 * (when run from the repository root, as `make unit` does). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include "data_cache.h"
#include "errors.h"
#include "eval_suite.h"
#include "meta_spec.h"
#include "tasks.h"

static eval_suite *S;
static char msg[400];

static int parse(const char *text)
{
    msg[0] = '\0';
    return eval_suite_parse(text, strlen(text), "t.suite", S, msg, sizeof msg);
}

static void test_entries(void **st)
{
    (void)st;
    assert_int_equal(parse("# a comment\n"
                           "\n"
                           "  quadratic   dim=30   # trailing comment\n"
                           "fmnist_mlp width=32 batch=128 domain=tabular\n"
                           "styblinski_tang dim=10 min=-39.16616570377142\r\n"
                           "rosenbrock"),                                   /* no final newline */
                     0);
    assert_int_equal(S->n, 4);
    assert_false(S->from_training);
    assert_string_equal(S->e[0].text, "quadratic dim=30");
    assert_string_equal(S->e[0].t.family, "quadratic");
    assert_int_equal(S->e[0].t.params.dim, 30);
    assert_string_equal(S->e[0].domain, "synthetic");              /* the family's own */
    assert_string_equal(S->e[1].text, "fmnist_mlp width=32 batch=128");
    assert_string_equal(S->e[1].domain, "tabular");                /* overridden */
    assert_true(S->e[2].has_min && S->e[2].min == -39.16616570377142);
    assert_false(S->e[0].has_min);
    assert_string_equal(S->e[3].text, "rosenbrock");
    assert_int_equal(parse("@meta-training-tasks # the record's tasks\nquadratic\n"), 0);
    assert_true(S->from_training);
    assert_int_equal(S->n, 1);
    assert_int_equal(parse(""), 0);
    assert_int_equal(S->n, 0);
}

/* Each malformed input, the error and the line the message names. */
static void test_refusals(void **st)
{
    (void)st;
    static const struct { const char *text; const char *where; } bad[] = {
        {"quadratic\nno_such_family dim=3\n", "t.suite:2:"},
        {"quadratic dim=abc\n", "t.suite:1:"},
        {"\n\nquadratic colour=red\n", "t.suite:3:"},
        {"quadratic dim\n", "t.suite:1:"},
        {"quadratic domain=space\n", "t.suite:1:"},
        {"quadratic domain=vision domain=text\n", "t.suite:1:"},
        {"quadratic min=x\n", "t.suite:1:"},
        {"quadratic min=1 min=2\n", "t.suite:1:"},
        {"domain=vision\n", "t.suite:1:"},
        {"quadratic dim=3\nquadratic   dim=3\n", "t.suite:2:"},     /* the same entry twice */
        {"@include other.suite\n", "t.suite:1:"},
        {"@meta-training-tasks\n@meta-training-tasks\n", "t.suite:2:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!bad[i].where) continue;
        assert_int_not_equal(parse(bad[i].text), 0);
        assert_non_null(strstr(msg, bad[i].where));
    }
    /* a NUL byte inside the text */
    const char nul[] = "quadratic\nros\0enbrock\n";
    assert_int_equal(eval_suite_parse(nul, sizeof nul - 1, "t.suite", S, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "t.suite:2:"));
    /* 65 entries: refused at line 65 */
    char *big = malloc(65 * 32);
    assert_non_null(big);
    size_t n = 0;
    for (int i = 1; i <= 65; i++) n += (size_t)sprintf(big + n, "quadratic dim=%d\n", i);
    assert_int_equal(parse(big), ERR_OUT_OF_RANGE);
    assert_non_null(strstr(msg, "t.suite:65:"));
    big[n - 17] = '\0';                                          /* 64 entries: fine */
    assert_int_equal(parse(big), 0);
    assert_int_equal(S->n, 64);
    free(big);
    /* a line over EVAL_SUITE_MAX_LINE */
    char line[EVAL_SUITE_MAX_LINE + 40];
    memset(line, ' ', sizeof line);
    memcpy(line, "quadratic", 9);
    line[sizeof line - 1] = '\0';
    assert_int_equal(parse(line), ERR_OUT_OF_RANGE);
    assert_non_null(strstr(msg, "t.suite:1:"));
}

static void test_file_bounds(void **st)
{
    (void)st;
    char path[] = "/tmp/h15-eval-suite-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs("quadratic dim=4\n", f);
    for (int i = 0; i < EVAL_SUITE_MAX_BYTES / 64 + 1; i++) fprintf(f, "# %61s\n", "padding");
    fclose(f);
    assert_int_equal(eval_suite_load(path, S, msg, sizeof msg), ERR_OUT_OF_RANGE);
    assert_non_null(strstr(msg, "larger than"));
    f = fopen(path, "w");
    fputs("quadratic dim=4\nrosenbrock dim=2\n", f);
    fclose(f);
    assert_int_equal(eval_suite_load(path, S, msg, sizeof msg), 0);
    assert_int_equal(S->n, 2);
    unlink(path);
    assert_int_equal(eval_suite_load(path, S, msg, sizeof msg), ERR_NOT_FOUND);
    assert_int_equal(eval_suite_load("/tmp", S, msg, sizeof msg), ERR_NOT_FOUND);   /* a directory */
}

static void test_add_from_provenance(void **st)
{
    (void)st;
    assert_int_equal(parse("@meta-training-tasks\nquadratic dim=10\n"), 0);
    assert_int_equal(eval_suite_add(S, "quadratic dim=10", msg, sizeof msg), 0);      /* already there */
    assert_int_equal(eval_suite_add(S, "logistic_regression  dim=10", msg, sizeof msg), 0);
    assert_int_equal(eval_suite_add(S, "logistic_regression dim=10", msg, sizeof msg), 0);
    assert_int_equal(S->n, 2);
    assert_string_equal(S->e[1].text, "logistic_regression dim=10");
    assert_string_equal(S->e[1].domain, "tabular");
    assert_int_not_equal(eval_suite_add(S, "nope", msg, sizeof msg), 0);
    assert_int_not_equal(eval_suite_add(S, "quadratic # x", msg, sizeof msg), 0);
    assert_true(eval_suite_valid_name("test"));
    assert_true(eval_suite_valid_name("my_suite-2"));
    assert_false(eval_suite_valid_name(""));
    assert_false(eval_suite_valid_name("../etc/passwd"));
    assert_false(eval_suite_valid_name("a.b"));
}

/* The shipped suites parse; test shares no entry with selection. */
static void test_shipped_suites(void **st)
{
    (void)st;
    if (access("deploy/eval/test.suite", R_OK) != 0) skip();
    eval_suite *sel = malloc(sizeof *sel);
    assert_non_null(sel);
    assert_int_equal(eval_suite_load("deploy/eval/train.suite", S, msg, sizeof msg), 0);
    assert_true(S->from_training);
    assert_int_equal(eval_suite_load("deploy/eval/selection.suite", sel, msg, sizeof msg), 0);
    assert_true(sel->n >= 10);
    assert_int_equal(eval_suite_load("deploy/eval/test.suite", S, msg, sizeof msg), 0);
    assert_true(S->n >= 16);
    assert_false(S->from_training);
    for (int i = 0; i < S->n; i++)
        for (int j = 0; j < sel->n; j++) assert_string_not_equal(S->e[i].text, sel->e[j].text);
    free(sel);
}

/* A task's parameters with the family's defaults filled in (task_create
 * fills them), so "softmax_regression" and "softmax_regression dim=20
 * classes=5" resolve alike. */
static task_params resolved(const meta_task_spec *t)
{
    task_params p = t->params;
    p.data = &data_cache_source;
    task *k = NULL;
    assert_int_equal(task_create(t->family, &p, 1, &k), 0);
    task_params r = k->p;
    task_free(k);
    return r;
}

/* The same model on the same data: every parameter but augment (a
 * rescaled copy of a task is still that task) and the data pointers. */
static int same_task(const char *fa, const task_params *a, const char *fb, const task_params *b)
{
    return !strcmp(fa, fb) && a->width == b->width && a->depth == b->depth && a->batch == b->batch &&
           a->activation == b->activation && a->dim == b->dim && a->seq_len == b->seq_len && a->heads == b->heads &&
           a->classes == b->classes && a->n_train == b->n_train && a->image_side == b->image_side &&
           a->bottleneck == b->bottleneck && a->init_scale == b->init_scale && a->noise == b->noise &&
           a->switch_step == b->switch_step && a->switch_scale == b->switch_scale && a->layernorm == b->layernorm;
}

/* How many (entry, config task) pairs of suite s are one task, over every
 * meta-training config in dir; each is printed. */
static int overlaps(const eval_suite *s, const char *suite_name, const char *dir, meta_spec *sp)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".conf")) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        meta_spec_defaults(sp);
        assert_int_equal(meta_spec_load_file(sp, path, msg, sizeof msg), 0);
        for (int j = 0; j < sp->mc.ntasks; j++) {
            task_params c = resolved(&sp->mc.tasks[j]);
            for (int i = 0; i < s->n; i++) {
                task_params e = resolved(&s->e[i].t);
                if (!same_task(s->e[i].t.family, &e, sp->mc.tasks[j].family, &c)) continue;
                printf("    %s entry \"%s\" is a task of %s\n", suite_name, s->e[i].text, path);
                n++;
            }
        }
    }
    closedir(d);
    return n;
}

/* The test suite (and layernorm.suite) holds no task that a config of
 * deploy/meta/ (the shipped records and the recipes compared for them) trains
 * on: its entries are held out (docs/learned-optimizers.md, "The method").
 * The continual-learning experiments of deploy/meta/experiments/ do train on
 * its small char_rnn; nothing shipped comes from them.  The selection suite has exactly the
 * overlaps its header names: its default softmax regression (dim 20, 5
 * classes, batch 32) is a task of the broad mix (mlp_lopt_robust.conf and the
 * lstm_lopt and nn_adam configs trained on it) and of mlp_lopt_tabular.conf. */
static void test_shipped_suites_are_held_out(void **st)
{
    (void)st;
    if (access("deploy/eval/test.suite", R_OK) != 0) skip();
    meta_spec *sp = malloc(sizeof *sp);
    eval_suite *sel = malloc(sizeof *sel);
    assert_non_null(sp);
    assert_non_null(sel);
    assert_int_equal(eval_suite_load("deploy/eval/test.suite", S, msg, sizeof msg), 0);
    assert_int_equal(eval_suite_load("deploy/eval/selection.suite", sel, msg, sizeof msg), 0);
    assert_int_equal(overlaps(S, "test", "deploy/meta", sp), 0);
    assert_int_equal(overlaps(sel, "selection", "deploy/meta", sp), 6);
    assert_int_equal(eval_suite_load("deploy/eval/layernorm.suite", sel, msg, sizeof msg), 0);
    assert_int_equal(overlaps(sel, "layernorm", "deploy/meta", sp), 0);
    free(sel);
    free(sp);
}

/* --domain: only the entries that count for the domain, in their order;
 * an entry's domain= moves it. */
static void test_keep_domain(void **st)
{
    (void)st;
    const char *text = "quadratic dim=4\nfmnist_mlp width=8\nlogistic_regression dim=4\n"
                       "softmax_regression domain=vision\nrosenbrock\n";
    eval_suite *s = malloc(sizeof *s);
    assert_non_null(s);
    char m[300];
    assert_int_equal(eval_suite_parse(text, strlen(text), "t", s, m, sizeof m), 0);
    assert_int_equal(s->n, 5);
    assert_int_equal(eval_suite_keep_domain(s, "vision"), 2);
    assert_string_equal(s->e[0].text, "fmnist_mlp width=8");
    assert_string_equal(s->e[1].text, "softmax_regression");
    assert_int_equal(eval_suite_keep_domain(s, "text"), 0);
    assert_int_equal(s->n, 0);
    free(s);
}

int main(void)
{
    S = malloc(sizeof *S);
    if (!S) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entries),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_file_bounds),
        cmocka_unit_test(test_add_from_provenance),
        cmocka_unit_test(test_shipped_suites),
        cmocka_unit_test(test_shipped_suites_are_held_out),
        cmocka_unit_test(test_keep_domain),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(S);
    return rc;
}
