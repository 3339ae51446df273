/* step_loop.c — the C client in a few lines: fit w to minimise
 * 0.5 * |w - target|^2 with Adam served by optirsd.
 *
 *   make build/clients/c/step_loop && OPTIRS_URL=http://127.0.0.1:8080 build/clients/c/step_loop
 */
#include <stdio.h>
#include "optirs_client.h"

int main(void)
{
    enum { N = 4 };
    const float target[N] = {1.0f, -2.0f, 0.5f, 3.0f};
    float w[N] = {0}, g[N], u[N];
    const int64_t shape[] = {N};
    const optirs_tensor t = {"w", shape, 1};
    const optirs_spec spec = {.optimizer = "adam", .hyperparams_json = "{\"lr\":0.1}",
                              .tensors = &t, .n_tensors = 1, .name = "c-example"};
    optirs_client *c = NULL;
    optirs_session *s = NULL;
    int rc = optirs_client_new(NULL, NULL, &c);          /* $OPTIRS_URL, $OPTIRS_API_KEY */
    if (rc == 0)
        rc = optirs_session_create(c, &spec, &s);
    for (int k = 0; rc == 0 && k < 200; k++) {
        double loss = 0;
        for (int i = 0; i < N; i++) {
            g[i] = w[i] - target[i];
            loss += 0.5 * g[i] * g[i];
        }
        rc = optirs_session_step(s, g, N, &loss, NULL, u);
        for (int i = 0; rc == 0 && i < N; i++)
            w[i] += u[i];
        if (rc == 0 && (k + 1) % 50 == 0)
            printf("step %lld  loss %.6f\n", (long long)optirs_session_last_step(s), loss);
    }
    if (rc) {
        const optirs_error *e = optirs_client_error(c);
        fprintf(stderr, "error: %s (%d): %s\n", e ? e->code : "?", e ? e->status : 0, e ? e->message : "");
    } else {
        printf("w = [%.3f %.3f %.3f %.3f]\n", w[0], w[1], w[2], w[3]);
        rc = optirs_session_delete(s);
    }
    optirs_session_free(s);
    optirs_client_free(c);
    return rc ? 1 : 0;
}
