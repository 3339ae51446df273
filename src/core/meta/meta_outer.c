/* meta_outer.c — the outer update of first-order meta-learning (see meta_outer.h). */
#include "meta_outer.h"

#include <math.h>
#include <string.h>

static const char *const names[] = {"sgd", "adam"};

const char *meta_outer_name(int opt)
{
    return opt >= 0 && opt < (int)(sizeof names / sizeof names[0]) ? names[opt] : NULL;
}

int meta_outer_from_name(const char *name)
{
    for (int i = 0; name && i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

void meta_outer_sgd(double *theta, const double *g, size_t n, double lr)
{
    for (size_t i = 0; i < n; i++) theta[i] -= lr * g[i];
}

void meta_outer_adam(double *theta, double *m, double *v, const double *g, size_t n, double lr, int64_t t)
{
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    double c1 = 1 - pow(b1, (double)t), c2 = 1 - pow(b2, (double)t);
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        theta[i] -= lr * (m[i] / c1) / (sqrt(v[i] / c2) + eps);
    }
}
