/* fmnist_batch.c — Fashion-MNIST minibatches; see fmnist_batch.h. */
#include "fmnist_batch.h"

#include <string.h>

#include "errors.h"
#include "tasks_internal.h"

int fmnist_open(const task *t, const char *family, const task_fmnist_data **out)
{
    *out = NULL;
    const task_data *src = tasks_data(t, family);
    if (!src || !src->fmnist) return ERR_NOT_FOUND;
    return src->fmnist(src->ctx, t->p.data_path, out);
}

void fmnist_image(const task_fmnist_data *d, int side, int test, int i, float *dst)
{
    if (side == 8) {
        memcpy(dst, (test ? d->test8 : d->train8) + (size_t)i * 64, sizeof(float) * 64);
    } else {
        const uint8_t *s = (test ? d->test28 : d->train28) + (size_t)i * 784;
        for (int k = 0; k < 784; k++) dst[k] = s[k] * (1.0f / 255.0f);
    }
}

void fmnist_sample(const task_fmnist_data *d, int side, int n_train, int batch, rng *r,
                   float *x, int *y)
{
    size_t in = (size_t)side * side;
    for (int k = 0; k < batch; k++) {
        int i = (int)rng_below(r, (uint64_t)n_train);
        fmnist_image(d, side, 0, i, x + (size_t)k * in);
        if (y) y[k] = d->train_y[i];
    }
}

void fmnist_test_rows(const task_fmnist_data *d, int side, int i0, int m, float *x, int *y)
{
    size_t in = (size_t)side * side;
    for (int k = 0; k < m; k++) {
        fmnist_image(d, side, 1, i0 + k, x + (size_t)k * in);
        if (y) y[k] = d->test_y[i0 + k];
    }
}
