/* test_loss_mse.c — loss_mse_forward against a double sum written here, and
 * loss_mse_backward against central finite differences of it (step 1e-6,
 * tolerance 1e-4 relative to the largest gradient entry); accumulation and
 * non-finite handling. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>

#include "loss_mse.h"
#include "rng.h"

static double ref_mse(const double *p, const float *t, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (p[i] - t[i]) * (p[i] - t[i]);
    return s / n;
}

static void test_mse_forward_backward(void **st)
{
    (void)st;
    enum { N = 37 };
    float p[N], t[N], d[N] = {0};
    double pd[N];
    rng r;
    rng_seed(&r, 3);
    rng_normal_fill(&r, p, N, 0.0f, 1.0f);
    rng_normal_fill(&r, t, N, 0.5f, 2.0f);
    for (int i = 0; i < N; i++) pd[i] = p[i];
    double f = loss_mse_forward(p, t, N);
    assert_true(fabs(f - ref_mse(pd, t, N)) < 1e-12 * (1 + f));
    loss_mse_backward(d, p, t, N, 0.5f);
    double maxerr = 0, maxfd = 0;
    for (int i = 0; i < N; i++) {
        double s = pd[i];
        pd[i] = s + 1e-6; double fp = ref_mse(pd, t, N);
        pd[i] = s - 1e-6; double fm = ref_mse(pd, t, N);
        pd[i] = s;
        double fd = 0.5 * (fp - fm) / 2e-6;
        if (fabs(fd - d[i]) > maxerr) maxerr = fabs(fd - d[i]);
        if (fabs(fd) > maxfd) maxfd = fabs(fd);
    }
    assert_true(maxerr / maxfd < 1e-4);
    /* accumulates */
    float d2[N];
    for (int i = 0; i < N; i++) d2[i] = d[i];
    loss_mse_backward(d2, p, t, N, 0.5f);
    for (int i = 0; i < N; i++) assert_true(fabsf(d2[i] - 2 * d[i]) <= 1e-6f * (1 + fabsf(d[i])));
}

static void test_mse_nonfinite_and_empty(void **st)
{
    (void)st;
    float p[2] = {1.0f, NAN}, t[2] = {0.0f, 0.0f};
    assert_true(isnan(loss_mse_forward(p, t, 2)));
    p[1] = INFINITY;
    assert_true(isnan(loss_mse_forward(p, t, 2)));
    assert_true(isnan(loss_mse_forward(p, t, 0)));
    assert_true(loss_mse_forward(t, t, 2) == 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mse_forward_backward),
        cmocka_unit_test(test_mse_nonfinite_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
