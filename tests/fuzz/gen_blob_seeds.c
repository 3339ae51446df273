/* gen_blob_seeds.c — writes the seed corpora of fuzz_opt_state and
 * fuzz_lopt_weights: for every registered optimizer, its state after three
 * steps on the fuzz target's layout (whole blob, and payload only for the
 * re-wrapping mode); for every learned architecture, small default weights.
 * Build and run (once; the seeds are committed):
 *   cc -std=c11 -D_GNU_SOURCE -Isrc/core tests/fuzz/gen_blob_seeds.c build/libcore.a \
 *      -lopenblas -lz -lm -o /tmp/gen_blob_seeds && /tmp/gen_blob_seeds tests/fuzz/corpus */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fewshot_record.h"
#include "lopt.h"
#include "opt.h"

static void write_seed(const char *dir, const char *name, uint8_t b0, int has_b1, uint8_t b1, const uint8_t *d,
                       size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    fputc(b0, f);
    if (has_b1) fputc(b1, f);
    fwrite(d, 1, n, f);
    fclose(f);
}

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

/* Optimizer i (vt) with cfg after three steps on lay: its saved state as a
 * whole blob (NAME-blob) and as a payload (NAME-payload). */
static int seed_state(const char *dir, int i, const opt_vtbl *vt, const opt_config *cfg, const layout *lay,
                      const char *suffix)
{
    opt o;
    if (opt_init(&o, cfg, lay)) return 1;
    float p[17], g[17], u[17];
    for (int k = 0; k < 17; k++) p[k] = 0.05f * (float)k;
    for (int s = 0; s < 3; s++) {
        for (int k = 0; k < 17; k++) g[k] = 0.1f * (float)((k * 7 + s) % 5) - 0.2f;
        step_info info = {.loss = 1.0};
        if (opt_step(&o, p, g, u, &info)) return 1;
    }
    uint8_t *b;
    size_t n;
    if (opt_save(&o, &b, &n)) return 1;
    char name[96];
    snprintf(name, sizeof name, "%s%s-blob", vt->name, suffix);
    write_seed(dir, name, (uint8_t)i, 1, 0, b, n);
    snprintf(name, sizeof name, "%s%s-payload", vt->name, suffix);
    write_seed(dir, name, (uint8_t)i, 1, 1, b + 20, n - 24);
    free(b);
    opt_deinit(&o);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: gen_blob_seeds CORPUS_DIR\n"); return 2; }
    char dir[400];
    snprintf(dir, sizeof dir, "%s/opt_state", argv[1]);
    const char *names[2] = {"w", "b"};
    const int ndims[2] = {2, 1};
    const int64_t shapes[2][LAYOUT_MAX_DIMS] = {{3, 4}, {5}};
    layout lay;
    if (layout_init(&lay, 2, names, ndims, shapes, 1000)) return 1;
    for (int i = 0; i < opt_registry_count(); i++) {
        const opt_vtbl *vt = opt_registry_at(i);
        opt_config cfg;
        if (opt_config_defaults(&cfg, vt->name)) return 1;
        use_record_if_needed(vt, &cfg);
        if (seed_state(dir, i, vt, &cfg, &lay, "")) return 1;
        /* mlp_lopt's state without the hypergradient scale's section (its
         * default keeps one): what a session saved with it off loads from */
        if (opt_hparam_index(vt, "hypergrad") >= 0) {
            if (opt_config_set(&cfg, "hypergrad", 0) || seed_state(dir, i, vt, &cfg, &lay, "-nohg")) return 1;
        }
    }
    snprintf(dir, sizeof dir, "%s/lopt_weights", argv[1]);
    for (int arch = LOPT_ARCH_MLP; lopt_arch_name(arch); arch++) {   /* every architecture of the table */
        lopt_weights w;
        if (lopt_weights_init_default(&w, arch, 4, 1, 7)) return 1;
        uint8_t *b;
        size_t n;
        if (lopt_weights_save(&w, &b, &n)) return 1;
        char name[96];
        snprintf(name, sizeof name, "%s-blob", lopt_arch_name(arch));
        write_seed(dir, name, 0, 0, 0, b, n);
        snprintf(name, sizeof name, "%s-payload", lopt_arch_name(arch));
        write_seed(dir, name, 1, 0, 0, b + 20, n - 24);
        free(b);
        lopt_weights_deinit(&w);
    }
    layout_deinit(&lay);
    return 0;
}
