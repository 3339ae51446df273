/* state_fixture.h — a session's live state as service/session.c holds it
 * (spec, optimizer, adaptation, parameters, last answer, counters), built
 * from a create request, for the service tests that encode, decode and roll
 * it back.  Header-only (static functions); include it after cmocka.h.
 * take_step steps it as session_step.c's apply_step does (adaptation around
 * opt_step) with gradients that depend on the parameters and the step. */
#ifndef OPTIRS_TEST_STATE_FIXTURE_H
#define OPTIRS_TEST_STATE_FIXTURE_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "spec.h"

/* A session's state as session.c holds it, built from a create request. */
typedef struct fixture {
    spec      sp;
    opt       o;
    adapt     ad;
    online_es es;
    float    *params, *update;
    int64_t   step;
    double    last_loss, best_loss;
    int       last_applied;
} fixture;

static void fixture_init(fixture *f, const char *body)
{
    memset(f, 0, sizeof *f);
    char msg[256];
    assert_int_equal(spec_parse(&f->sp, body, strlen(body), 1000, 0, msg, sizeof msg), 0);
    assert_int_equal(opt_init(&f->o, &f->sp.ocfg, &f->sp.lay), 0);
    if (f->sp.adapt.lr != ADAPT_LR_NONE) assert_int_equal(adapt_init(&f->ad, &f->sp.adapt, &f->o), 0);
    f->params = calloc(f->sp.lay.n, sizeof(float));
    f->update = calloc(f->sp.lay.n, sizeof(float));
    assert_non_null(f->params);
    assert_non_null(f->update);
    for (size_t i = 0; i < f->sp.lay.n; i++) f->params[i] = 0.1f * (float)i - 0.3f;
    f->last_loss = f->best_loss = NAN;
    f->last_applied = 1;
}

static void fixture_deinit(fixture *f)
{
    if (f->ad.nmult) adapt_deinit(&f->ad);
    opt_deinit(&f->o);
    spec_deinit(&f->sp);
    free(f->params);
    free(f->update);
}

static snapshot_state view(fixture *f)
{
    return (snapshot_state){.n = f->sp.lay.n, .step = f->step, .last_loss = f->last_loss, .best_loss = f->best_loss,
                            .last_applied = f->last_applied, .params = f->params, .last_update = f->update,
                            .o = &f->o, .ad = &f->ad, .es = &f->es};
}

/* One step as session_step.c's apply_step takes it (adaptation around opt_step). */
static void take_step(fixture *f, double loss)
{
    size_t n = f->sp.lay.n;
    float *g = malloc(n * sizeof(float)), *next = malloc(n * sizeof(float));
    assert_non_null(g);
    assert_non_null(next);
    for (size_t i = 0; i < n; i++) g[i] = f->params[i] * 0.5f + 0.01f * (float)(f->step + 1);
    step_info info = {.loss = loss};
    if (f->ad.nmult) adapt_before_step(&f->ad, &f->o, g, f->update);
    assert_int_equal(opt_step(&f->o, f->params, g, next, &info), 0);
    if (f->ad.nmult) adapt_after_step(&f->ad, &f->o, f->params, next, &info);
    memcpy(f->update, next, n * sizeof(float));
    f->step++;
    f->last_loss = loss;
    if (isnan(f->best_loss) || loss < f->best_loss) f->best_loss = loss;
    free(g);
    free(next);
}

#endif
