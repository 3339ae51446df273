/* test_client.c — the C client against a real optirsd (driven by
 * tests/integration/test_c_client.py, which starts the daemon).
 *
 *   test_client basic URL              every call of the library
 *   test_client retry URL DIRECT_URL   URL is a proxy that drops the first two
 *                                      answers; DIRECT_URL reaches the daemon
 *   test_client unix URL               URL is unix:///PATH of a daemon with
 *                                      --max-json-body 1024: the URL forms, an
 *                                      early answer (413) read although the
 *                                      body could not be sent, a missing file
 *
 * Exact float32 comparisons are intended: SGD's update is -lr*g computed
 * in float32 by the daemon, and lr = 0.5 makes it exact. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optirs_client.h"

static int passed, failed;

#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        if (cond)                                                                \
            passed++;                                                            \
        else {                                                                   \
            failed++;                                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
        }                                                                        \
    } while (0)

static const char *ecode(optirs_client *c) { return optirs_client_error(c)->code; }

static int finish(void)
{
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

static int list_has(optirs_client *c, const char *id)
{
    cJSON *l = NULL, *s;
    int found = 0;
    if (optirs_sessions_list(c, 1000, NULL, &l) != 0)
        return -1;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(l, "sessions")) {
        const cJSON *i = cJSON_GetObjectItemCaseSensitive(s, "id");
        found += cJSON_IsString(i) && strcmp(i->valuestring, id) == 0;
    }
    cJSON_Delete(l);
    return found;
}

static int run_basic(const char *url)
{
    optirs_client *c = NULL;
    int rc = optirs_client_new(url, NULL, &c);
    CHECK(rc == 0, "client_new: %d", rc);
    if (rc)
        return finish();

    /* catalogue */
    cJSON *cat = NULL;
    rc = optirs_optimizers(c, &cat);
    CHECK(rc == 0, "optimizers: %s", ecode(c));
    int has_adam = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(cat, "optimizers")) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "name");
        has_adam |= cJSON_IsString(n) && strcmp(n->valuestring, "adam") == 0;
    }
    CHECK(has_adam, "the catalogue lists adam");
    cJSON_Delete(cat);

    /* create from a struct: tensors [3] and [2,2], N = 7 */
    const int64_t s1[] = {3}, s2[] = {2, 2};
    const optirs_tensor ts[] = {{"w", s1, 1}, {"b", s2, 2}};
    const float init[7] = {1, 2, 3, 4, 5, 6, 7};
    optirs_spec sp = {.optimizer = "sgd", .hyperparams_json = "{\"lr\":0.5}", .tensors = ts, .n_tensors = 2,
                      .params = init, .n_params = 7, .name = "c-basic", .durability = "step"};
    optirs_session *a = NULL;
    rc = optirs_session_create(c, &sp, &a);
    CHECK(rc == 0, "create: %s %s", ecode(c), optirs_client_error(c)->message);
    if (rc)
        return finish();
    CHECK(optirs_session_num_params(a) == 7, "num_params %zu", optirs_session_num_params(a));
    CHECK(optirs_session_last_step(a) == 0, "new session at step 0");
    const char *id = optirs_session_id(a);

    /* step 1: update = -0.5 * g, exactly */
    float g[7] = {0.5f, -1.0f, 2.0f, 0.25f, -0.125f, 8.0f, 0.0f}, u[7], p[7], want[7];
    double loss = 0.75;
    rc = optirs_session_step(a, g, 7, &loss, NULL, u);
    CHECK(rc == 0, "step 1: %s %s", ecode(c), optirs_client_error(c)->message);
    for (int i = 0; i < 7; i++) {
        want[i] = init[i] + (-0.5f * g[i]);
        CHECK(u[i] == -0.5f * g[i], "update[%d] = %g, want %g", i, (double)u[i], (double)(-0.5f * g[i]));
    }
    CHECK(optirs_session_last_step(a) == 1, "counter 1");
    int64_t pst = -1;
    rc = optirs_session_params(a, p, 7, &pst);
    CHECK(rc == 0 && pst == 1, "params: rc %d step %lld", rc, (long long)pst);
    for (int i = 0; i < 7; i++)
        CHECK(p[i] == want[i], "params[%d] = %g, want %g", i, (double)p[i], (double)want[i]);

    /* step 2 with A; B opened at step 2 replays step 2's update */
    rc = optirs_session_step(a, g, 7, NULL, NULL, u);
    CHECK(rc == 0 && optirs_session_last_step(a) == 2, "step 2: %s", ecode(c));
    optirs_session *b = NULL;
    rc = optirs_session_open(c, id, &b);
    CHECK(rc == 0 && optirs_session_last_step(b) == 2, "open at step 2: %s", ecode(c));
    rc = optirs_session_step(a, g, 7, NULL, NULL, u);                      /* A: step 3 */
    float u3[7];
    memcpy(u3, u, sizeof u);
    float g2[7] = {9, 9, 9, 9, 9, 9, 9}, ub[7];
    rc = optirs_session_step(b, g2, 7, NULL, NULL, ub);                   /* B: "step 3" = a retry */
    CHECK(rc == 0 && optirs_session_last_step(b) == 3, "B's step 3 is answered as a retry: %s", ecode(c));
    CHECK(memcmp(ub, u3, sizeof u3) == 0, "a retry answers the stored update, not the new gradients");
    rc = optirs_session_params(a, p, 7, &pst);
    CHECK(rc == 0 && pst == 3, "still at step 3 after the retry (%lld)", (long long)pst);

    /* step_conflict: C opened at 3, A goes to 5, C sends 4 */
    optirs_session *cs = NULL;
    rc = optirs_session_open(c, id, &cs);
    CHECK(rc == 0, "open C");
    optirs_session_step(a, g, 7, NULL, NULL, u);
    optirs_session_step(a, g, 7, NULL, NULL, u);
    CHECK(optirs_session_last_step(a) == 5, "A at 5");
    rc = optirs_session_step(cs, g, 7, NULL, NULL, u);
    const optirs_error *e = optirs_client_error(c);
    CHECK(rc == OPTIRS_E_HTTP && e->status == 409 && strcmp(e->code, "step_conflict") == 0,
          "conflict: rc %d status %d code %s", rc, e->status, e->code);
    CHECK(e->has_expected && e->expected == 6, "expected %lld", (long long)e->expected);
    CHECK(optirs_session_last_step(cs) == 3, "the counter stays after a conflict");
    rc = optirs_session_resync(cs);
    CHECK(rc == 0 && optirs_session_last_step(cs) == 5, "resync to 5");
    rc = optirs_session_step(cs, g, 7, NULL, NULL, u);
    CHECK(rc == 0 && optirs_session_last_step(cs) == 6, "C steps 6 after resync");

    /* wrong length, non-finite loss: refused locally */
    rc = optirs_session_step(a, g, 6, NULL, NULL, u);
    CHECK(rc == OPTIRS_E_ARG && strcmp(ecode(c), "length_mismatch") == 0, "short grads: %d", rc);
    double bad = INFINITY;
    rc = optirs_session_step(a, g, 7, &bad, NULL, u);
    CHECK(rc == OPTIRS_E_ARG && strcmp(ecode(c), "non_finite") == 0, "inf loss: %d", rc);

    /* feedback */
    rc = optirs_session_feedback(a, 1, 0.5, "{\"accuracy\":0.9}");
    CHECK(rc == 0, "feedback: %s %s", ecode(c), optirs_client_error(c)->message);
    rc = optirs_session_feedback(a, 99, 0.5, NULL);
    CHECK(rc == OPTIRS_E_HTTP && strcmp(ecode(c), "out_of_range") == 0 && optirs_client_error(c)->status == 400,
          "feedback for a step not taken: %d %s", rc, ecode(c));

    /* metrics: six steps, the first with loss 0.75 */
    cJSON *m = NULL;
    rc = optirs_session_metrics(a, 0, 0, &m);
    CHECK(rc == 0, "metrics: %s", ecode(c));
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(m, "metrics");
    CHECK(cJSON_GetArraySize(rows) == 6, "6 metric rows, got %d", cJSON_GetArraySize(rows));
    const cJSON *r0 = cJSON_GetArrayItem(rows, 0);
    const cJSON *l0 = cJSON_GetObjectItemCaseSensitive(r0, "loss");
    CHECK(cJSON_IsNumber(l0) && fabs(l0->valuedouble - 0.75) < 1e-6, "row 1 loss 0.75");
    cJSON_Delete(m);
    rc = optirs_session_metrics(a, 4, 1, &m);
    rows = cJSON_GetObjectItemCaseSensitive(m, "metrics");
    const cJSON *st5 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rows, 0), "step");
    CHECK(rc == 0 && cJSON_GetArraySize(rows) == 1 && cJSON_IsNumber(st5) && st5->valuedouble == 5,
          "metrics after 4 limit 1 is step 5");
    cJSON_Delete(m);

    /* listing */
    CHECK(list_has(c, id) == 1, "the list has the session once");

    /* a daemon error carries its code */
    optirs_session *bad_s = NULL;
    rc = optirs_session_create_json(c, "{\"optimizer\":\"nope\",\"tensors\":[{\"shape\":[1]}]}", &bad_s);
    CHECK(rc == OPTIRS_E_HTTP && strcmp(ecode(c), "unknown_optimizer") == 0 && optirs_client_error(c)->status == 400,
          "unknown optimizer: %d %s", rc, ecode(c));
    CHECK(bad_s == NULL, "no session object on error");
    rc = optirs_session_create_json(c, "{\"optimizer\":\"adam\",\"tensors\":[{\"shape\":[2]}],\"hyperparams\":{\"beta3\":1}}",
                                    &bad_s);
    CHECK(rc == OPTIRS_E_HTTP && strcmp(ecode(c), "unknown_hyperparameter") == 0, "beta3: %s", ecode(c));

    /* delete, then 404 */
    rc = optirs_session_delete(a);
    CHECK(rc == 0, "delete: %s", ecode(c));
    cJSON *d = NULL;
    rc = optirs_session_get_by_id(c, id, &d);
    CHECK(rc == OPTIRS_E_HTTP && strcmp(ecode(c), "session_not_found") == 0 && optirs_client_error(c)->status == 404,
          "deleted: %d %s", rc, ecode(c));
    rc = optirs_session_step(b, g, 7, NULL, NULL, u);
    CHECK(rc == OPTIRS_E_HTTP && strcmp(ecode(c), "session_not_found") == 0, "step on deleted: %s", ecode(c));
    CHECK(list_has(c, id) == 0, "the list no longer has it");
    CHECK(optirs_session_get_by_id(c, "bad/id", &d) == OPTIRS_E_ARG, "ids are checked before use");

    optirs_session_free(a);
    optirs_session_free(b);
    optirs_session_free(cs);

    /* a domain: refused while mlp_lopt has no record for it (synthetic: the one
     * domain without a shipped mlp_lopt record), then that record */
    optirs_spec dsp = {.optimizer = "mlp_lopt", .tensors = ts, .n_tensors = 1, .domain = "synthetic"};
    optirs_session *ds = NULL;
    rc = optirs_session_create(c, &dsp, &ds);
    CHECK(rc == OPTIRS_E_HTTP && strcmp(ecode(c), "no_domain_weights") == 0 && optirs_client_error(c)->status == 422,
          "domain without a record: %d %s", rc, ecode(c));
    char *wb = NULL, *ans = NULL;
    size_t wlen = 0, alen = 0;
    rc = optirs_request_raw(c, "GET", "/v1/weights/mlp_lopt/blob", NULL, NULL, 0, "application/octet-stream", 1, NULL,
                            &wb, &wlen);
    CHECK(rc == 0 && wlen > 100, "export mlp_lopt: %s", ecode(c));
    rc = optirs_request_raw(c, "POST", "/v1/weights?name=mlp_lopt.synthetic&domain=synthetic",
                            "application/octet-stream", wb, wlen, NULL, 0, NULL, &ans, &alen);
    CHECK(rc == 0, "import mlp_lopt.synthetic: %s", ecode(c));
    free(wb);
    free(ans);
    rc = optirs_session_create(c, &dsp, &ds);
    CHECK(rc == 0, "domain with a record: %s %s", ecode(c), optirs_client_error(c)->message);
    if (rc == 0) {
        const cJSON *dw = cJSON_GetObjectItemCaseSensitive(optirs_session_desc(ds), "weights");
        const cJSON *dd = cJSON_GetObjectItemCaseSensitive(optirs_session_desc(ds), "domain");
        CHECK(cJSON_IsString(dw) && strcmp(dw->valuestring, "mlp_lopt.synthetic@1") == 0,
              "pinned to mlp_lopt.synthetic@1");
        CHECK(cJSON_IsString(dd) && strcmp(dd->valuestring, "synthetic") == 0, "the description names the domain");
    }
    optirs_session_free(ds);
    dsp.domain = "Synthetic";
    ds = NULL;
    rc = optirs_session_create(c, &dsp, &ds);
    CHECK(rc == OPTIRS_E_HTTP && strcmp(ecode(c), "invalid_argument") == 0, "a case variant is refused: %s", ecode(c));
    optirs_session_free(ds);

    /* a tensor graph: graph_lopt with inputs and roles, shown in the description; a self-loop refused */
    const char *w_in[] = {"w"}, *self_in[] = {"b"};
    const optirs_tensor_graph gg2[] = {{NULL, 0, "embedding"}, {w_in, 1, "norm"}};
    optirs_spec gsp = {.optimizer = "graph_lopt", .tensors = ts, .n_tensors = 2, .graph = gg2};
    optirs_session *gs = NULL;
    rc = optirs_session_create(c, &gsp, &gs);
    CHECK(rc == 0, "graph create: %s %s", ecode(c), optirs_client_error(c)->message);
    if (rc == 0) {
        const cJSON *gt = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(optirs_session_desc(gs), "tensors"), 1);
        const cJSON *gi = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(gt, "inputs"), 0);
        const cJSON *gr = cJSON_GetObjectItemCaseSensitive(gt, "role");
        CHECK(cJSON_IsString(gi) && strcmp(gi->valuestring, "w") == 0, "b's input is w");
        CHECK(cJSON_IsString(gr) && strcmp(gr->valuestring, "norm") == 0, "b's role is norm");
        float gg[7] = {1, -1, 1, -1, 1, -1, 1}, gu[7];
        rc = optirs_session_step(gs, gg, 7, NULL, NULL, gu);
        CHECK(rc == 0, "graph_lopt steps: %s", ecode(c));
    }
    optirs_session_free(gs);
    const optirs_tensor_graph bad_g[] = {{NULL, 0, NULL}, {self_in, 1, NULL}};
    gsp.graph = bad_g;
    gs = NULL;
    rc = optirs_session_create(c, &gsp, &gs);
    CHECK(rc == OPTIRS_E_HTTP && strcmp(ecode(c), "invalid_argument") == 0, "a self-loop is refused: %s", ecode(c));
    optirs_session_free(gs);
    optirs_client_free(c);

    /* nobody listening: connection_error after the retries */
    optirs_client *dead = NULL;
    rc = optirs_client_new("http://127.0.0.1:1", NULL, &dead);
    optirs_client_set_retry(dead, 2, 0.01, 0.02);
    rc = optirs_optimizers(dead, &cat);
    CHECK(rc == OPTIRS_E_CONNECT && strcmp(ecode(dead), "connection_error") == 0, "unreachable: %d", rc);
    optirs_client_free(dead);
    CHECK(optirs_client_new("ftp://x", NULL, &dead) == OPTIRS_E_ARG, "only http(s) URLs");
    return finish();
}

/* Through a proxy that drops the first two answers (the create's and step
 * 1's): both are retried, nothing is applied twice. */
static int run_retry(const char *url, const char *direct)
{
    optirs_client *c = NULL, *dc = NULL;
    optirs_client_new(url, NULL, &c);
    optirs_client_new(direct, NULL, &dc);
    optirs_client_set_retry(c, 4, 0.01, 0.05);
    const int64_t s1[] = {3};
    const optirs_tensor t = {NULL, s1, 1};
    const float init[3] = {1, 1, 1};
    optirs_spec sp = {.optimizer = "sgd", .hyperparams_json = "{\"lr\":0.5}", .tensors = &t, .n_tensors = 1,
                      .params = init, .n_params = 3, .name = "c-retry"};
    optirs_session *s = NULL;
    int rc = optirs_session_create(c, &sp, &s);
    CHECK(rc == 0, "create through a lossy proxy: %s %s", ecode(c), optirs_client_error(c)->message);
    if (rc)
        return finish();
    float g[3] = {0.5f, -1.0f, 2.0f}, u[3], p[3] = {1, 1, 1};
    for (int k = 1; k <= 3; k++) {
        rc = optirs_session_step(s, g, 3, NULL, NULL, u);
        CHECK(rc == 0, "step %d: %s %s", k, ecode(c), optirs_client_error(c)->message);
        for (int i = 0; i < 3; i++)
            p[i] += u[i];
    }
    optirs_session *ds = NULL;
    rc = optirs_session_open(dc, optirs_session_id(s), &ds);
    CHECK(rc == 0 && optirs_session_last_step(ds) == 3, "the daemon applied exactly 3 steps (%lld)",
          (long long)optirs_session_last_step(ds));
    float dp[3];
    rc = optirs_session_params(ds, dp, 3, NULL);
    CHECK(rc == 0 && memcmp(dp, p, sizeof p) == 0, "daemon params equal the client's (%g %g %g)",
          (double)dp[0], (double)dp[1], (double)dp[2]);
    CHECK(dp[0] == 1.0f - 3 * 0.25f, "params[0] = %g after 3 steps of -0.25", (double)dp[0]);
    /* the lost create answer did not make a second session */
    cJSON *l = NULL, *x;
    int named = 0;
    optirs_sessions_list(dc, 1000, NULL, &l);
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(l, "sessions")) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(x, "name");
        named += cJSON_IsString(n) && strcmp(n->valuestring, "c-retry") == 0;
    }
    cJSON_Delete(l);
    CHECK(named == 1, "one session named c-retry, found %d", named);
    printf("session %s\n", optirs_session_id(s));
    optirs_session_free(ds);
    optirs_session_free(s);
    optirs_client_free(dc);
    optirs_client_free(c);
    return finish();
}

/* What is particular to a unix:///PATH URL (`basic` runs every call over one too). */
static int run_unix(const char *url)
{
    optirs_client *c = NULL, *bad = NULL;
    int rc = optirs_client_new(url, NULL, &c);
    CHECK(rc == 0 && strcmp(optirs_client_url(c), url) == 0, "unix URL kept as given: %d", rc);
    const char *refused[] = {"unix://relative.sock", "unix:///", "unix:///x.sock?a=1", "unix:/x.sock",
                             "unix:///0123456789012345678901234567890123456789012345678901234567890123456789"
                             "0123456789012345678901234567890123456789"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        bad = NULL;
        CHECK(optirs_client_new(refused[i], NULL, &bad) == OPTIRS_E_ARG && !bad, "refused: %s", refused[i]);
    }

    /* 413 from the headers, then the daemon closes: the answer, not a connection error. */
    size_t big = 200000;
    char *body = malloc(big + 64);
    CHECK(body != NULL, "memory");
    if (!body)
        return finish();
    int n = snprintf(body, 64, "{\"optimizer\":\"sgd\",\"tensors\":[[1]],\"name\":\"");
    memset(body + n, 'x', big);
    memcpy(body + n + big, "\"}", 3);
    optirs_session *s = NULL;
    optirs_client_set_retry(c, 0, 0.01, 0.01);
    rc = optirs_session_create_json(c, body, &s);
    free(body);
    CHECK(rc == OPTIRS_E_HTTP && optirs_client_error(c)->status == 413 && strcmp(ecode(c), "body_too_large") == 0,
          "early 413 over a socket file: rc %d code %s", rc, ecode(c));
    optirs_session_free(s);
    s = NULL;
    const int64_t s1[] = {2};
    const optirs_tensor t = {NULL, s1, 1};
    optirs_spec sp = {.optimizer = "sgd", .hyperparams_json = "{\"lr\":0.5}", .tensors = &t, .n_tensors = 1};
    rc = optirs_session_create(c, &sp, &s);
    CHECK(rc == 0, "create after the 413: %s", ecode(c));
    float g[2] = {1, -2}, u[2] = {0, 0};
    double loss = 1;
    if (rc == 0) {
        rc = optirs_session_step(s, g, 2, &loss, NULL, u);
        CHECK(rc == 0 && u[0] == -0.5f && u[1] == 1.0f, "a binary step: %d %g %g", rc, u[0], u[1]);
    }
    optirs_session_free(s);
    optirs_client_free(c);

    /* a socket file nobody made: connection_error after the retries */
    optirs_client *dead = NULL;
    rc = optirs_client_new("unix:///nonexistent-dir-optirs/none.sock", NULL, &dead);
    CHECK(rc == 0, "made: %d", rc);
    optirs_client_set_retry(dead, 1, 0.01, 0.02);
    cJSON *cat = NULL;
    rc = optirs_optimizers(dead, &cat);
    CHECK(rc == OPTIRS_E_CONNECT && strcmp(ecode(dead), "connection_error") == 0, "missing socket: %d", rc);
    cJSON_Delete(cat);
    optirs_client_free(dead);
    return finish();
}

/* Steps with compact bodies (proto/binary.md §8): bf16 both ways, f16
 * gradients with float32 answers, the float32 fallback of an answer that
 * would overflow f16, and the refusals of the option. */
static int run_dtype(const char *url)
{
    optirs_client *c = NULL;
    int rc = optirs_client_new(url, NULL, &c);
    CHECK(rc == 0, "client_new: %d", rc);
    if (rc)
        return finish();
    CHECK(optirs_client_set_dtype(c, 3, 0) == OPTIRS_E_ARG, "an unknown dtype is refused");
    CHECK(optirs_client_set_dtype(c, 0, -1) == OPTIRS_E_ARG, "an unknown answer dtype is refused");
    optirs_session *s = NULL;
    rc = optirs_session_create_json(c, "{\"optimizer\":\"sgd\",\"tensors\":[{\"shape\":[3]}],"
                                       "\"hyperparams\":{\"lr\":0.5}}", &s);
    CHECK(rc == 0, "create: %s", ecode(c));
    if (rc) {
        optirs_client_free(c);
        return finish();
    }
    /* 0.1 is 0x3DCD in bf16 (0.10009765625): the update -g/2 is exact in bf16 */
    const float g[3] = {1.0f, -2.0f, 0.1f};
    float u[3], p[3];
    CHECK(optirs_client_set_dtype(c, OPTIRS_DTYPE_BF16, OPTIRS_DTYPE_BF16) == 0, "set bf16");
    rc = optirs_session_step(s, g, 3, NULL, NULL, u);
    CHECK(rc == 0, "bf16 step: %s %s", ecode(c), optirs_client_error(c)->message);
    CHECK(u[0] == -0.5f && u[1] == 1.0f && u[2] == -0.050048828125f, "bf16 update %g %g %.12g", (double)u[0],
          (double)u[1], (double)u[2]);
    /* f16 gradients, float32 answer: 0.1 is 0.0999755859375 in f16 */
    CHECK(optirs_client_set_dtype(c, OPTIRS_DTYPE_F16, OPTIRS_DTYPE_F32) == 0, "set f16/f32");
    rc = optirs_session_step(s, g, 3, NULL, NULL, u);
    CHECK(rc == 0 && u[2] == -0.04998779296875f, "f16 step: %s, update %.12g", ecode(c), (double)u[2]);
    rc = optirs_session_params(s, p, 3, NULL);
    CHECK(rc == 0 && p[0] == -1.0f && p[1] == 2.0f && p[2] == -0.050048828125f - 0.04998779296875f,
          "params after two compact steps: %g %g %.12g", (double)p[0], (double)p[1], (double)p[2]);
    /* an f16 answer past 65504 comes as float32, exact */
    CHECK(optirs_client_set_dtype(c, OPTIRS_DTYPE_F32, OPTIRS_DTYPE_F16) == 0, "set f32/f16");
    const float big[3] = {140000.0f, 1.0f, 0.0f};
    rc = optirs_session_step(s, big, 3, NULL, NULL, u);
    CHECK(rc == 0 && u[0] == -70000.0f && u[1] == -0.5f, "overflow falls back to float32: %s %g", ecode(c),
          (double)u[0]);
    /* an f16 gradient past 65504 is inf: the daemon's non_finite */
    CHECK(optirs_client_set_dtype(c, OPTIRS_DTYPE_F16, OPTIRS_DTYPE_F16) == 0, "set f16");
    rc = optirs_session_step(s, big, 3, NULL, NULL, u);
    CHECK(rc == OPTIRS_E_HTTP && strcmp(ecode(c), "non_finite") == 0, "f16 overflow in: %d %s", rc, ecode(c));
    CHECK(optirs_session_last_step(s) == 3, "three steps applied");
    optirs_session_delete(s);
    optirs_session_free(s);
    optirs_client_free(c);
    return finish();
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "unix") == 0)
        return run_unix(argv[2]);
    if (argc == 3 && strcmp(argv[1], "dtype") == 0)
        return run_dtype(argv[2]);
    if (argc == 3 && strcmp(argv[1], "basic") == 0)
        return run_basic(argv[2]);
    if (argc == 4 && strcmp(argv[1], "retry") == 0)
        return run_retry(argv[2], argv[3]);
    fprintf(stderr, "usage: test_client basic URL | test_client dtype URL | test_client retry URL DIRECT_URL | test_client unix URL\n");
    return 2;
}
