/* fuzz_opt_state.c — libFuzzer target for the optimizer-state loaders:
 * opt_load (blob_reader_init + each optimizer's own load) for every
 * registered optimizer, classic and learned.
 *
 * Input: byte 0 picks the optimizer (mod opt_registry_count()); byte 1 bit 0
 * picks the mode: 0 = the rest is a whole blob (header and CRC checked as
 * stored); 1 = the rest is a payload that gets a valid header and CRC
 * (fuzz_blob.h), so the optimizer's own decoder is reached.
 * The optimizer is built for a small two-tensor layout ("w" 3x4 and "b" 5),
 * the same every time.
 * Oracles: the sanitizers; a failed load is ERR_CORRUPT; a successful load
 * leaves an optimizer that saves back to exactly the bytes it loaded (or,
 * for a state holding mlp_lopt weights from before the per-tensor step
 * scale, to a blob one zero head longer, and for an mlp_lopt state saved
 * without the hypergradient scale's section, which the default optimizer
 * keeps, to a blob that section longer — each of which itself loads and
 * saves back exactly) and can take a step without reading out of bounds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "errors.h"
#include "fewshot_record.h"
#include "fuzz_blob.h"
#include "lopt_internal.h"
#include "opt.h"

#define OPT_STATE_VERSION 1u /* opt.c */

static layout lay;

/* meta_sgd steps only on a few-shot record of the layout's size: one of 17
 * parameters (a 16 → 1 network), registered once. */
static void use_record_if_needed(const opt_vtbl *vt, opt_config *cfg)
{
    if (strcmp(vt->name, "meta_sgd") != 0) return;
    if (!fewshot_registry_find("fuzz-msgd")) {
        fewshot_record r = {0};
        float theta[17] = {0}, alpha[17];
        for (int i = 0; i < 17; i++) alpha[i] = 0.01f * (float)(i + 1);
        if (fsnet_init(&r.net, 1, (int[]){16, 1}) != 0 || r.net.nparams != 17) abort();
        r.theta = theta;
        r.alpha = alpha;
        if (fewshot_registry_put("fuzz-msgd", &r) != 0) abort();
    }
    cfg->weights = "fuzz-msgd";
}

/* A fresh optimizer loads `blob` and saves back exactly `blob`. */
static int resaves_exactly(const opt_vtbl *vt, const uint8_t *blob, size_t len)
{
    opt_config cfg;
    opt o;
    if (opt_config_defaults(&cfg, vt->name) != 0) abort();
    use_record_if_needed(vt, &cfg);
    if (opt_init(&o, &cfg, &lay) != 0) abort();
    uint8_t *again = NULL;
    size_t again_len = 0;
    int same = opt_load(&o, blob, len) == 0 && opt_save(&o, &again, &again_len) == 0 &&
               again_len == len && memcmp(again, blob, len) == 0;
    free(again);
    opt_deinit(&o);
    return same;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *names[2] = {"w", "b"};
    const int ndims[2] = {2, 1};
    const int64_t shapes[2][LAYOUT_MAX_DIMS] = {{3, 4}, {5}};
    if (layout_init(&lay, 2, names, ndims, shapes, 1000) != 0) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    const opt_vtbl *vt = opt_registry_at(data[0] % opt_registry_count());
    int wrap = data[1] & 1;
    const uint8_t *in = data + 2;
    size_t n = size - 2;
    uint8_t *blob = NULL;
    if (wrap) {
        blob = fuzz_blob_wrap(BLOB_KIND_OPT_STATE, OPT_STATE_VERSION, in, n, &n);
        if (!blob) return 0;
        in = blob;
    }
    opt_config cfg;
    if (opt_config_defaults(&cfg, vt->name) != 0) abort();
    use_record_if_needed(vt, &cfg);
    opt o;
    if (opt_init(&o, &cfg, &lay) != 0) {
        fprintf(stderr, "opt_init(%s) failed\n", vt->name);
        abort();
    }
    int rc = opt_load(&o, in, n);
    if (rc != 0 && rc != ERR_CORRUPT) {
        fprintf(stderr, "opt_load(%s) returned %d\n", vt->name, rc);
        abort();
    }
    if (rc == 0) {
        uint8_t *again = NULL;
        size_t again_len = 0;
        if (opt_save(&o, &again, &again_len) != 0) abort();
        size_t head = LOPT_MLP_NSCALE * sizeof(float), hg = (lay.n + (size_t)lay.ntensors) * sizeof(float);
        size_t grew = again_len > n ? again_len - n : 0;
        int upgraded = (grew == head || grew == hg || grew == head + hg) && resaves_exactly(vt, again, again_len);
        if (!upgraded && (again_len != n || memcmp(again, in, n) != 0)) {
            fprintf(stderr, "opt %s: a loaded state does not save back to the same %zu bytes (%zu)\n", vt->name,
                    n, again_len);
            abort();
        }
        free(again);
        float params[17], grads[17], update[17];
        for (int i = 0; i < 17; i++) {
            params[i] = 0.1f * (float)i;
            grads[i] = 0.01f * (float)(i - 8);
        }
        step_info info = {.loss = 1.0};
        (void)opt_step(&o, params, grads, update, &info);
    }
    opt_deinit(&o);
    free(blob);
    return 0;
}
