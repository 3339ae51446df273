/* fuzz_lopt_weights.c — libFuzzer target for lopt_weights_load, the
 * learned-optimizer weights loader (BLOB_KIND_WEIGHTS).
 * Input: byte 0 bit 0 picks the mode: 0 = the rest is a whole blob; 1 = the
 * rest is a payload that gets a valid header and CRC (fuzz_blob.h).
 * Oracles: the sanitizers; a failure is ERR_CORRUPT or ERR_NO_MEMORY; a
 * success gives weights whose theta length is lopt_theta_count of their
 * architecture, that save back to the same bytes — except mlp_lopt weights
 * from before the per-tensor step scale, which load with a zero head and
 * save as the longer blob, which loads back to the same weights. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fuzz_blob.h"
#include "lopt.h"
#include "lopt_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    uint8_t *blob = NULL;
    if (data[0] & 1) {
        blob = fuzz_blob_wrap(BLOB_KIND_WEIGHTS, LOPT_WEIGHTS_VERSION, in, n, &n);
        if (!blob) return 0;
        in = blob;
    }
    lopt_weights w;
    memset(&w, 0, sizeof w);
    int rc = lopt_weights_load(&w, in, n);
    if (rc != 0 && rc != ERR_CORRUPT && rc != ERR_NO_MEMORY) {
        fprintf(stderr, "lopt_weights_load returned %d\n", rc);
        abort();
    }
    if (rc == 0) {
        if (w.ntheta != lopt_theta_count(w.arch, w.hidden, w.depth) || w.ntheta == 0) {
            fprintf(stderr, "arch %d hidden %d depth %d: ntheta %zu\n", w.arch, w.hidden, w.depth, w.ntheta);
            abort();
        }
        for (size_t i = 0; i < w.ntheta; i++)
            if (!isfinite(w.theta[i])) abort(); /* the loader promises finite weights */
        uint8_t *again = NULL;
        size_t again_len = 0;
        if (lopt_weights_save(&w, &again, &again_len) != 0) abort();
        int upgraded = w.arch == LOPT_ARCH_MLP && again_len == n + LOPT_MLP_NSCALE * sizeof(float);
        for (size_t i = w.ntheta - LOPT_MLP_NSCALE; upgraded && i < w.ntheta; i++)
            if (w.theta[i] != 0.0f) upgraded = 0;
        if (upgraded) {
            lopt_weights w2;
            if (lopt_weights_load(&w2, again, again_len) != 0 || w2.ntheta != w.ntheta ||
                memcmp(w2.theta, w.theta, w.ntheta * sizeof(float)) != 0)
                abort();
            lopt_weights_deinit(&w2);
        } else if (again_len != n || memcmp(again, in, n) != 0) {
            fprintf(stderr, "loaded weights do not save back to the same %zu bytes (%zu)\n", n, again_len);
            abort();
        }
        free(again);
    }
    lopt_weights_deinit(&w);
    free(blob);
    return 0;
}
