/* data_cache.c — the Fashion-MNIST cache and the text reader behind
 * data_cache_source; see data_cache.h. */
#include "data_cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_idx.h"
#include "data_text.h"
#include "errors.h"

/* ---- Fashion-MNIST cache ------------------------------------------------ */

static pthread_mutex_t fm_mu = PTHREAD_MUTEX_INITIALIZER;
static int fm_loaded;
static char fm_dir[512];
static data_idx_array fm_raw[4];          /* train images, train labels, test images, test labels */
static float *fm_train8, *fm_test8;
static task_fmnist_data fm;

static int fm_load_locked(const char *dir)
{
    static const char *const files[4] = {
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
    char path[700];
    int rc = 0;
    for (int i = 0; i < 4 && rc == 0; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        rc = data_idx_load_gz(&fm_raw[i], path);
        if (rc == ERR_NOT_FOUND)
            tasks_set_error("fmnist: cannot open %s (install Debian's dataset-fashion-mnist)", path);
        else if (rc == ERR_CORRUPT)
            tasks_set_error("fmnist: %s is not a valid gzipped IDX file", path);
        else if (rc)
            tasks_set_error("fmnist: reading %s: %s", path, err_message(rc));
    }
    if (rc == 0) {
        const data_idx_array *tx = &fm_raw[0], *ty = &fm_raw[1], *vx = &fm_raw[2], *vy = &fm_raw[3];
        if (tx->ndim != 3 || tx->dims[1] != 28 || tx->dims[2] != 28 || ty->ndim != 1 ||
            ty->dims[0] != tx->dims[0] || vx->ndim != 3 || vx->dims[1] != 28 ||
            vx->dims[2] != 28 || vy->ndim != 1 || vy->dims[0] != vx->dims[0]) {
            tasks_set_error("fmnist: unexpected shapes in %s", dir);
            rc = ERR_CORRUPT;
        }
        for (size_t i = 0; rc == 0 && i < ty->size; i++) if (ty->data[i] > 9) rc = ERR_CORRUPT;
        for (size_t i = 0; rc == 0 && i < vy->size; i++) if (vy->data[i] > 9) rc = ERR_CORRUPT;
        if (rc == ERR_CORRUPT && !tasks_last_error()[0]) tasks_set_error("fmnist: label out of 0..9");
    }
    if (rc == 0) {
        fm.n_train = (int)fm_raw[0].dims[0];
        fm.n_test = (int)fm_raw[2].dims[0];
        fm_train8 = malloc(sizeof(float) * 64 * (size_t)fm.n_train);
        fm_test8 = malloc(sizeof(float) * 64 * (size_t)fm.n_test);
        if (!fm_train8 || !fm_test8) rc = ERR_NO_MEMORY;
    }
    if (rc) {
        for (int i = 0; i < 4; i++) data_idx_deinit(&fm_raw[i]);
        free(fm_train8); free(fm_test8);
        fm_train8 = fm_test8 = NULL;
        return rc;
    }
    for (int i = 0; i < fm.n_train; i++)
        tasks_bilinear_resize(fm_train8 + 64 * (size_t)i, 8, fm_raw[0].data + 784 * (size_t)i, 28);
    for (int i = 0; i < fm.n_test; i++)
        tasks_bilinear_resize(fm_test8 + 64 * (size_t)i, 8, fm_raw[2].data + 784 * (size_t)i, 28);
    fm.train28 = fm_raw[0].data;
    fm.train_y = fm_raw[1].data;
    fm.test28 = fm_raw[2].data;
    fm.test_y = fm_raw[3].data;
    fm.train8 = fm_train8;
    fm.test8 = fm_test8;
    snprintf(fm_dir, sizeof fm_dir, "%s", dir);
    fm_loaded = 1;
    return 0;
}

static int fmnist_get(void *ctx, const char *dir, const task_fmnist_data **out)
{
    (void)ctx;
    if (!dir) dir = DATA_FMNIST_DIR;
    *out = NULL;
    pthread_mutex_lock(&fm_mu);
    int rc = 0;
    if (!fm_loaded) rc = fm_load_locked(dir);
    else if (strcmp(dir, fm_dir) != 0) {
        tasks_set_error("fmnist: already loaded from %s, cannot switch to %s", fm_dir, dir);
        rc = ERR_INVALID_ARGUMENT;
    }
    pthread_mutex_unlock(&fm_mu);
    if (rc == 0) *out = &fm;
    return rc;
}

/* ---- text ---------------------------------------------------------------- */

static int text_read(void *ctx, const char *path, uint8_t **out, size_t *len)
{
    (void)ctx;
    if (!path) path = DATA_TEXT_FILE;
    int rc = data_text_read(path, out, len);
    if (rc == ERR_NOT_FOUND) tasks_set_error("text: cannot open %s", path);
    else if (rc) tasks_set_error("text: reading %s: %s", path, err_message(rc));
    return rc;
}

const task_data data_cache_source = {NULL, fmnist_get, text_read};
