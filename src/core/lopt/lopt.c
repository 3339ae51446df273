/* lopt.c — the shared base of the learned optimizers: weights records, the
 * named-weights table and the input features the networks share.  It
 * reaches an architecture only through the table of lopt_archs.c (see
 * lopt_arch in lopt_internal.h) and never names one.  See lopt.h. */
#include "lopt.h"
#include "lopt_internal.h"
#include "errors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* lopt_weights_put: the depth word's bit that marks a FiLM record, and
 * the bits of mlp_lopt's activation and feature set */
#define LOPT_FILM_BIT   0x8000u
#define LOPT_ACT_SHIFT  12
#define LOPT_ACT_MASK   0x7000u
#define LOPT_FSET_SHIFT 8
#define LOPT_FSET_MASK  0x0f00u

const char *const lopt_act_names[LOPT_ACT_COUNT + 1] = {"relu", "gelu", "swish", NULL};

const char *lopt_act_name(int act)
{
    return act >= 0 && act < LOPT_ACT_COUNT ? lopt_act_names[act] : NULL;
}

int lopt_act_from_name(const char *name)
{
    for (int i = 0; name && i < LOPT_ACT_COUNT; i++)
        if (strcmp(name, lopt_act_names[i]) == 0) return i;
    return -1;
}

const char *const lopt_fset_names[LOPT_FSET_COUNT + 1] = {"full", "adam", "momentum", "no_time", "no_tensor",
                                                          NULL};

/* The sets' inputs (lopt.h), the one definition: bit f = per-parameter feature f. */
#define FSET_PARAMS   ((1u << LOPT_NFEAT) - 1)
#define FSET_ALL      (FSET_PARAMS | LOPT_FSET_TIME | LOPT_FSET_TENSOR)
#define FSET_ADAM     (FSET_ALL & ~(1u << 1 | 1u << 10 | 1u << 11))
#define FSET_MOMENTUM (1u << 0 | 7u << 2 | 7u << 6 | LOPT_FSET_TIME)
static const uint32_t fset_inputs[LOPT_FSET_COUNT] = {
    FSET_ALL, FSET_ADAM, FSET_MOMENTUM, FSET_ALL & ~LOPT_FSET_TIME, FSET_ALL & ~LOPT_FSET_TENSOR,
};
_Static_assert(LOPT_FSET_TIME == 1u << LOPT_NFEAT && LOPT_FSET_TENSOR == 1u << (LOPT_NFEAT + 1),
               "the set bits follow the per-parameter features");
_Static_assert((FSET_ADAM & FSET_MOMENTUM & (FSET_ALL & ~LOPT_FSET_TIME) & (FSET_ALL & ~LOPT_FSET_TENSOR)) &
               (1u << 7), "every set keeps feature 7 (the default's carry units and the guard read it)");

const char *lopt_fset_name(int set)
{
    return set >= 0 && set < LOPT_FSET_COUNT ? lopt_fset_names[set] : NULL;
}

int lopt_fset_from_name(const char *name)
{
    for (int i = 0; name && i < LOPT_FSET_COUNT; i++)
        if (strcmp(name, lopt_fset_names[i]) == 0) return i;
    return -1;
}

uint32_t lopt_fset_inputs(int set)
{
    return set >= 0 && set < LOPT_FSET_COUNT ? fset_inputs[set] : 0;
}

static const float time_taus[LOPT_NTIME] = {1, 3, 10, 30, 100, 300, 1000, 3000, 10000};

const char *lopt_arch_name(int arch)
{
    const lopt_arch *a = lopt_arch_by_id(arch);
    return a ? a->name : NULL;
}

int lopt_arch_from_name(const char *optname)
{
    const lopt_arch *a = lopt_arch_by_name(optname);
    return a ? a->id : -1;
}

int lopt_shape_hp(const char *optname, const char *hp)
{
    const lopt_arch *a = lopt_arch_by_name(optname);
    if (!a || !hp) return 0;
    const char *names[] = {a->hidden_hp ? a->hidden_hp : "hidden", a->depth_hp ? a->depth_hp : "depth",
                           a->heads_hp, a->seq_hp, a->act_hp, a->features_hp, a->init_hp};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i] && strcmp(names[i], hp) == 0) return 1;
    return 0;
}

int lopt_init_hp(const char *optname, const char *hp)
{
    const lopt_arch *a = lopt_arch_by_name(optname);
    return a && hp && a->init_hp && strcmp(a->init_hp, hp) == 0;
}

size_t lopt_theta_count(int arch, int hidden, int depth)
{
    if (hidden < 1 || hidden > LOPT_MAX_HIDDEN || depth < 1 || depth > LOPT_MAX_DEPTH) return 0;
    const lopt_arch *a = lopt_arch_by_id(arch);
    return a ? a->theta_count(hidden, depth) : 0;
}

/* Allocates theta (zeroed).  0, ERR_INVALID_ARGUMENT or ERR_NO_MEMORY. */
static int lopt_weights_init(lopt_weights *w, int arch, int hidden, int depth)
{
    memset(w, 0, sizeof *w);
    size_t n = lopt_theta_count(arch, hidden, depth);
    if (n == 0) return ERR_INVALID_ARGUMENT;
    w->theta = calloc(n, sizeof(float));
    if (!w->theta) return ERR_NO_MEMORY;
    w->arch = arch; w->hidden = hidden; w->depth = depth; w->ntheta = n;
    return 0;
}

int lopt_weights_init_default_act(lopt_weights *w, int arch, int hidden, int depth, int act, uint64_t seed)
{
    const lopt_arch *a = lopt_arch_by_id(arch);
    memset(w, 0, sizeof *w);
    if (act < 0 || act >= LOPT_ACT_COUNT || (act != LOPT_ACT_RELU && (!a || !a->theta_default_act)))
        return ERR_INVALID_ARGUMENT;
    int rc = lopt_weights_init(w, arch, hidden, depth);
    if (rc) return rc;
    rng r;
    rng_seed(&r, seed);
    a->theta_default(w->theta, hidden, depth, &r);   /* init checked the id */
    if (act != LOPT_ACT_RELU) a->theta_default_act(w->theta, hidden, depth, act);
    w->act = act;
    return 0;
}

int lopt_weights_init_default(lopt_weights *w, int arch, int hidden, int depth, uint64_t seed)
{
    return lopt_weights_init_default_act(w, arch, hidden, depth, LOPT_ACT_RELU, seed);
}

int lopt_weights_set_features(lopt_weights *w, int set)
{
    const lopt_arch *a = lopt_arch_by_id(w->arch);
    if (set < 0 || set >= LOPT_FSET_COUNT || (set != LOPT_FSET_FULL && (!a || !a->apply_features)))
        return ERR_INVALID_ARGUMENT;
    w->fset = set;
    lopt_weights_mask_features(w, w->theta);
    return 0;
}

void lopt_weights_mask_features(const lopt_weights *w, float *v)
{
    const lopt_arch *a = lopt_arch_by_id(w->arch);
    if (w->fset != LOPT_FSET_FULL && a && a->apply_features) a->apply_features(v, w->hidden, w->depth, w->fset);
}

size_t lopt_film_count(int hidden)
{
    return (size_t)LOPT_FILM_NDOM * 2 * (size_t)(hidden > 0 ? hidden : 0);
}

static const char *const film_domains[LOPT_FILM_NDOM] = {"vision", "text", "tabular", "synthetic"};

int lopt_film_row(const char *domain)
{
    if (!domain) return 0;
    for (int r = 0; r < LOPT_FILM_NDOM; r++)
        if (strcmp(domain, film_domains[r]) == 0) return r + 1;
    return 0;
}

const char *lopt_film_domain(int row)
{
    return row >= 1 && row <= LOPT_FILM_NDOM ? film_domains[row - 1] : NULL;
}

int lopt_weights_set_film(lopt_weights *w)
{
    if (w->arch != LOPT_ARCH_MLP) return ERR_INVALID_ARGUMENT;
    if (w->film) return 0;
    size_t H = (size_t)w->hidden, n = w->ntheta + lopt_film_count(w->hidden);
    float *t = realloc(w->theta, n * sizeof(float));
    if (!t) return ERR_NO_MEMORY;
    for (size_t r = 0; r < LOPT_FILM_NDOM; r++) {
        float *row = t + w->ntheta + r * 2 * H;
        for (size_t i = 0; i < H; i++) { row[i] = 1.0f; row[H + i] = 0.0f; }
    }
    w->theta = t;
    w->ntheta = n;
    w->film = 1;
    return 0;
}

int lopt_weights_copy(lopt_weights *dst, const lopt_weights *src)
{
    int rc = lopt_weights_init(dst, src->arch, src->hidden, src->depth);
    if (!rc && src->film) rc = lopt_weights_set_film(dst);
    if (rc) { lopt_weights_deinit(dst); return rc; }
    if (dst->ntheta != src->ntheta) { lopt_weights_deinit(dst); return ERR_INVALID_ARGUMENT; }
    memcpy(dst->theta, src->theta, src->ntheta * sizeof(float));
    dst->mup_base = src->mup_base;
    dst->act = src->act;
    dst->fset = src->fset;
    dst->heads = src->heads;
    dst->seq = src->seq;
    return 0;
}

int lopt_mup_first(const layout *lay)
{
    for (int i = 0; i < lay->ntensors; i++)
        if (lay->tensors[i].ndim == 2 && lay->tensors[i].shape[0] > 1 && lay->tensors[i].shape[1] > 1) return i;
    return -1;
}

double lopt_mup_mult(int mup_base, const layout *lay, int first, int t)
{
    if (mup_base <= 0) return 1.0;
    const layout_tensor *lt = &lay->tensors[t];
    if (t == first || lt->ndim != 2 || lt->shape[0] <= 1 || lt->shape[1] <= 1) return 1.0;
    return (double)mup_base / (double)lt->shape[0];
}

void lopt_weights_deinit(lopt_weights *w)
{
    if (!w) return;
    free(w->theta);
    memset(w, 0, sizeof *w);
}

void lopt_weights_put(blob_writer *bw, const lopt_weights *w)
{
    blob_put_u32(bw, (uint32_t)w->arch);
    blob_put_u32(bw, (uint32_t)w->hidden);
    const lopt_arch *a = lopt_arch_by_id(w->arch);
    uint32_t hi = a && a->heads_hp ? (uint32_t)(w->heads & 0xff) | (uint32_t)(w->seq & 0xff) << 8
                                   : (uint32_t)w->mup_base;
    uint32_t act = ((uint32_t)w->act << LOPT_ACT_SHIFT) & LOPT_ACT_MASK;
    uint32_t fset = ((uint32_t)w->fset << LOPT_FSET_SHIFT) & LOPT_FSET_MASK;
    blob_put_u32(bw, (uint32_t)w->depth | fset | act | (w->film ? LOPT_FILM_BIT : 0u) | hi << 16);
    blob_put_u64(bw, (uint64_t)w->ntheta);
    blob_put_f32s(bw, w->theta, w->ntheta);
}

/* Sets w's feature set when its dropped weights are exactly 0 (+0.0, as
 * lopt_weights_set_features leaves them), so a record saves back to the
 * bytes it was read from; ERR_CORRUPT for a record whose set says an input
 * is dropped while a weight of it is not, ERR_NO_MEMORY. */
static int fset_holds(lopt_weights *w, int fset)
{
    if (fset == LOPT_FSET_FULL) return 0;
    float *masked = malloc(w->ntheta * sizeof(float));
    if (!masked) return ERR_NO_MEMORY;
    memcpy(masked, w->theta, w->ntheta * sizeof(float));
    w->fset = fset;
    lopt_weights_mask_features(w, masked);
    int same = memcmp(masked, w->theta, w->ntheta * sizeof(float)) == 0;
    free(masked);
    return same ? 0 : ERR_CORRUPT;
}

int lopt_weights_get(blob_reader *br, lopt_weights *w)
{
    memset(w, 0, sizeof *w);
    uint32_t arch = blob_get_u32(br), hidden = blob_get_u32(br), depth = blob_get_u32(br);
    uint32_t mup = depth >> 16;
    int film = (depth & LOPT_FILM_BIT) != 0;
    int act = (int)((depth & LOPT_ACT_MASK) >> LOPT_ACT_SHIFT);
    int fset = (int)((depth & LOPT_FSET_MASK) >> LOPT_FSET_SHIFT);
    depth &= 0xffffu & ~(LOPT_FILM_BIT | LOPT_ACT_MASK | LOPT_FSET_MASK);
    uint64_t n = blob_get_u64(br);
    if (blob_reader_status(br)) return ERR_CORRUPT;
    const lopt_arch *a = lopt_arch_by_id((int)arch);
    int heads = 0, seq = 0;
    if (a && a->heads_hp) {   /* heads and seq in the upper bits: both set (heads dividing hidden) or both 0 */
        heads = (int)(mup & 0xff); seq = (int)(mup >> 8);
        mup = 0;
        if ((heads == 0) != (seq == 0) || (heads && (hidden == 0 || hidden % (uint32_t)heads != 0)))
            return ERR_CORRUPT;
    }
    if ((mup || film || act || fset) && arch != LOPT_ARCH_MLP) return ERR_CORRUPT;
    if (act >= LOPT_ACT_COUNT || fset >= LOPT_FSET_COUNT) return ERR_CORRUPT;
    if (hidden > LOPT_MAX_HIDDEN || depth > LOPT_MAX_DEPTH) return ERR_CORRUPT;
    size_t count = lopt_theta_count((int)arch, (int)hidden, (int)depth);
    /* an older, shorter record of the architecture (lopt_arch.legacy_tail); never a FiLM one */
    int legacy = !film && a && a->legacy_tail && count && n == count - a->legacy_tail;
    if (film && count) count += lopt_film_count((int)hidden);
    if ((count != n && !legacy) || n == 0) return ERR_CORRUPT;
    int rc = lopt_weights_init(w, (int)arch, (int)hidden, (int)depth);
    if (!rc && film) rc = lopt_weights_set_film(w);
    if (rc) { lopt_weights_deinit(w); return rc; }
    blob_get_f32s(br, w->theta, (size_t)n);
    if (blob_reader_status(br)) { lopt_weights_deinit(w); return ERR_CORRUPT; }
    w->mup_base = (int)mup;
    w->act = act;
    w->heads = heads;
    w->seq = seq;
    for (size_t i = 0; i < w->ntheta; i++)
        if (!isfinite(w->theta[i])) { lopt_weights_deinit(w); return ERR_CORRUPT; }
    rc = fset_holds(w, fset);
    if (rc) lopt_weights_deinit(w);
    return rc;
}

int lopt_weights_save(const lopt_weights *w, uint8_t **out, size_t *out_len)
{
    blob_writer bw;
    int rc = blob_writer_init(&bw, BLOB_KIND_WEIGHTS, LOPT_WEIGHTS_VERSION);
    if (rc) return rc;
    lopt_weights_put(&bw, w);
    return blob_writer_finish(&bw, out, out_len);
}

int lopt_weights_load(lopt_weights *w, const void *data, size_t len)
{
    blob_reader br;
    uint32_t version;
    memset(w, 0, sizeof *w);
    int rc = blob_reader_init(&br, data, len, BLOB_KIND_WEIGHTS, &version);
    if (rc) return rc;
    if (version != LOPT_WEIGHTS_VERSION) return ERR_CORRUPT;
    rc = lopt_weights_get(&br, w);
    if (rc) return rc;
    if (br.pos != br.len) { lopt_weights_deinit(w); return ERR_CORRUPT; }
    return 0;
}

/* ---- the named table: a small growable array ------------------------- */

typedef struct reg_entry { char name[LOPT_NAME_MAX]; lopt_weights w; } reg_entry;
static reg_entry *reg;
static int reg_n, reg_cap;

static int reg_find(const char *name)
{
    for (int i = 0; i < reg_n; i++)
        if (strcmp(reg[i].name, name) == 0) return i;
    return -1;
}

int lopt_registry_put(const char *name, const lopt_weights *w)
{
    if (!name || !*name || strlen(name) >= LOPT_NAME_MAX) return ERR_INVALID_ARGUMENT;
    lopt_weights copy;
    int rc = lopt_weights_copy(&copy, w);
    if (rc) return rc;
    int i = reg_find(name);
    if (i >= 0) {
        lopt_weights_deinit(&reg[i].w);
        reg[i].w = copy;
        return 0;
    }
    if (reg_n == reg_cap) {
        int cap = reg_cap ? reg_cap * 2 : 8;
        reg_entry *nr = realloc(reg, (size_t)cap * sizeof *nr);
        if (!nr) { lopt_weights_deinit(&copy); return ERR_NO_MEMORY; }
        reg = nr; reg_cap = cap;
    }
    snprintf(reg[reg_n].name, LOPT_NAME_MAX, "%s", name);
    reg[reg_n].w = copy;
    reg_n++;
    return 0;
}

int lopt_registry_get(const char *name, lopt_weights *out)
{
    memset(out, 0, sizeof *out);
    int i = name ? reg_find(name) : -1;
    if (i < 0) return ERR_NOT_FOUND;
    return lopt_weights_copy(out, &reg[i].w);
}

int lopt_registry_remove(const char *name)
{
    int i = name ? reg_find(name) : -1;
    if (i < 0) return ERR_NOT_FOUND;
    lopt_weights_deinit(&reg[i].w);
    reg[i] = reg[reg_n - 1];
    reg_n--;
    return 0;
}

void lopt_registry_clear(void)
{
    for (int i = 0; i < reg_n; i++) lopt_weights_deinit(&reg[i].w);
    free(reg);
    reg = NULL; reg_n = reg_cap = 0;
}

/* The table's record that lopt_weights_resolve would use, or NULL for the
 * default init; *err gets ERR_NOT_FOUND / ERR_INVALID_ARGUMENT when a named
 * record is missing or of another arch. */
static const lopt_weights *resolve_record(const opt_config *cfg, int arch, int *err)
{
    *err = 0;
    if (cfg->weights && strcmp(cfg->weights, LOPT_WEIGHTS_DEFAULT) == 0) return NULL;
    if (cfg->weights && *cfg->weights) {
        int i = reg_find(cfg->weights);
        if (i < 0) *err = ERR_NOT_FOUND;
        else if (reg[i].w.arch != arch) *err = ERR_INVALID_ARGUMENT;
        return *err ? NULL : &reg[i].w;
    }
    int i = reg_find(lopt_arch_name(arch));
    return i >= 0 && reg[i].w.arch == arch ? &reg[i].w : NULL;
}

/* The value of a's named hyperparameter hp in cfg (an index into its
 * names); 0 (the first name, the default) when a has none. */
static int named_hp(const opt_config *cfg, const lopt_arch *a, const char *hp)
{
    int i = hp ? opt_hparam_index(a->vt, hp) : -1;
    return i >= 0 && i < cfg->nhp ? (int)cfg->hp[i] : 0;
}

int lopt_weights_resolve(const opt_config *cfg, int arch, int hidden, int depth, lopt_weights *out)
{
    memset(out, 0, sizeof *out);
    int rc;
    const lopt_weights *w = resolve_record(cfg, arch, &rc);
    if (rc) return rc;
    if (w) return lopt_weights_copy(out, w);
    const lopt_arch *a = lopt_arch_by_id(arch);
    int act = a ? named_hp(cfg, a, a->act_hp) : 0, fset = a ? named_hp(cfg, a, a->features_hp) : 0;
    rc = lopt_weights_init_default_act(out, arch, hidden, depth, act, 0x6c6f7074ull + (uint64_t)arch);
    if (!rc) rc = lopt_weights_set_features(out, fset);
    if (rc) lopt_weights_deinit(out);
    return rc;
}

int lopt_weights_uses_record(const opt_config *cfg, int arch)
{
    int rc;
    return resolve_record(cfg, arch, &rc) != NULL;
}

int lopt_weights_resolve_shape(const opt_config *cfg, int arch, int hidden, int depth, int *out_hidden,
                               int *out_depth, size_t *out_ntheta)
{
    int rc;
    const lopt_weights *w = resolve_record(cfg, arch, &rc);
    if (rc) return rc;
    if (w) { hidden = w->hidden; depth = w->depth; }
    size_t nt = lopt_theta_count(arch, hidden, depth);
    if (!nt) return ERR_INVALID_ARGUMENT;
    if (w && w->film) nt += lopt_film_count(hidden);
    *out_hidden = hidden;
    *out_depth = depth;
    *out_ntheta = nt;
    return 0;
}

int lopt_weights_resolve_ext(const opt_config *cfg, int arch, int *heads, int *seq)
{
    int rc;
    const lopt_weights *w = resolve_record(cfg, arch, &rc);
    if (rc) return rc;
    if (w && w->heads > 0) { *heads = w->heads; *seq = w->seq; }
    return 0;
}

lopt_weights *lopt_opt_weights(opt *o)
{
    if (!o || !o->vt || !o->state) return NULL;
    if (!lopt_arch_by_vtbl(o->vt)) return NULL;
    return (lopt_weights *)o->state;
}

/* w's width and depth into cfg's hyperparameters of those names (arch a's).
 * Within their bounds by construction: a record's shape is range-checked on
 * load, an untrained network's came from cfg. */
static void width_depth_to_config(const lopt_arch *a, const lopt_weights *w, opt_config *cfg)
{
    opt_config_set(cfg, a->hidden_hp ? a->hidden_hp : "hidden", w->hidden);
    opt_config_set(cfg, a->depth_hp ? a->depth_hp : "depth", w->depth);
}

void lopt_shape_to_config(opt *o, opt_config *cfg)
{
    const lopt_weights *w = lopt_opt_weights(o);
    const lopt_arch *a = w ? lopt_arch_by_vtbl(o->vt) : NULL;
    if (!a) return;
    width_depth_to_config(a, w, cfg);
    if (a->heads_hp && w->heads > 0) {
        opt_config_set(cfg, a->heads_hp, w->heads);
        opt_config_set(cfg, a->seq_hp, w->seq);
    }
    if (a->act_hp) opt_config_set(cfg, a->act_hp, w->act);
    if (a->features_hp) opt_config_set(cfg, a->features_hp, w->fset);
}

void lopt_record_shape_to_config(opt_config *cfg, int arch)
{
    int rc;
    const lopt_weights *w = resolve_record(cfg, arch, &rc);
    const lopt_arch *a = lopt_arch_by_id(arch);
    if (w && a) width_depth_to_config(a, w, cfg);
}

double lopt_lr_mult(double lr)
{
    const hparam_def *c = opt_common_hparams();
    double def = c ? c[HP_LR].def : 1.0;
    return def > 0 ? lr / def : lr;
}

/* ---- features --------------------------------------------------------- */

void lopt_time_features(int64_t t, float *out)
{
    for (int j = 0; j < LOPT_NTIME; j++)
        out[j] = tanhf((float)((double)t / time_taus[j] - 1.0));
}

static double bias_correction(float beta, int64_t t)
{
    double c = 1.0 - pow((double)beta, (double)t);
    return c > 1e-6 ? c : 1e-6;
}

static float clip_tens(double z)
{
    return (float)(z > LOPT_TENS_CLIP ? LOPT_TENS_CLIP : z < -LOPT_TENS_CLIP ? -LOPT_TENS_CLIP : z);
}

void lopt_bias_corrections(const float *b, int64_t t, double corr[LOPT_NCORR])
{
    corr[0] = sqrt(bias_correction(b[3], t));
    for (int k = 0; k < 3; k++) corr[1 + k] = bias_correction(b[k], t);
}

void lopt_tensor_features(const float *inv_rms, const double corr[LOPT_NCORR], float *out)
{
    double cv = corr[0];
    for (int k = 0; k < 3; k++)
        out[k] = clip_tens(cv / ((double)inv_rms[6 + k] * corr[1 + k]));
    out[3] = clip_tens(log(cv * (double)inv_rms[5] / (double)inv_rms[0]));
}

void lopt_logsign(float g, float *x0, float *x1)
{
    const float p = 10.0f;
    float a = fabsf(g);
    if (a >= expf(-p)) {
        *x0 = logf(a) / p;
        *x1 = g > 0 ? 1.0f : (g < 0 ? -1.0f : 0.0f);
    } else {
        *x0 = -1.0f;
        *x1 = expf(p) * g;
    }
}

static float r_inv_mean(const lopt_feat_tensor *ft)
{
    if (!ft->r) return 0.0f;
    double s = 0;
    for (int64_t i = 0; i < ft->rows; i++) s += ft->r[i];
    s /= (double)ft->rows;
    return s > 0 ? (float)(1.0 / s) : 0.0f;
}

/* v̂ of element i: factored (2-D) or per-element.  `col` and `rowscale`
 * (= r_row / mean r) are tracked by the callers, so no division here. */
static inline float vhat(const lopt_feat_tensor *ft, size_t i, size_t col, float rowscale)
{
    return ft->r ? rowscale * ft->c[col] : ft->d[i];
}

void lopt_features_update(lopt_feat_tensor *ft, const float *g, const float *p, const float *b,
                          float *rowsum, float *colsum, float *inv_rms)
{
    size_t n = ft->n;
    float b0 = b[0], b1 = b[1], b2 = b[2], bv = b[3], bf = b[4];
    float *m0 = ft->m[0], *m1 = ft->m[1], *m2 = ft->m[2], *v = ft->v;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        m0[i] = b0 * m0[i] + (1 - b0) * gi;
        m1[i] = b1 * m1[i] + (1 - b1) * gi;
        m2[i] = b2 * m2[i] + (1 - b2) * gi;
        v[i] = bv * v[i] + (1 - bv) * gi * gi;
    }
    if (ft->r) {
        int64_t R = ft->rows, C = ft->cols;
        memset(colsum, 0, (size_t)C * sizeof(float));
        for (int64_t i = 0; i < R; i++) {
            const float *gr = g + (size_t)(i * C);
            float s = 0;
            for (int64_t j = 0; j < C; j++) {
                float q = gr[j] * gr[j] + LOPT_FAC_EPS;
                s += q;
                colsum[j] += q;
            }
            rowsum[i] = s;
        }
        for (int64_t i = 0; i < R; i++) ft->r[i] = bf * ft->r[i] + (1 - bf) * rowsum[i] / (float)C;
        for (int64_t j = 0; j < C; j++) ft->c[j] = bf * ft->c[j] + (1 - bf) * colsum[j] / (float)R;
    } else {
        for (size_t i = 0; i < n; i++) ft->d[i] = bf * ft->d[i] + (1 - bf) * (g[i] * g[i] + LOPT_FAC_EPS);
    }
    /* Sums of squares of the raw features in closed form (no square roots):
     * g², p², m_k², v, m_k²/(v+ε), 1/(v+ε), g²/v̂, 1/v̂. */
    double ss[LOPT_NFEAT] = {0};
    float rim = ft->rim = r_inv_mean(ft);
    size_t cols = ft->r ? (size_t)ft->cols : n, col = 0, row = 0;
    float rowscale = ft->r ? ft->r[0] * rim : 0.0f;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i], iv = 1.0f / (v[i] + LOPT_V_EPS);
        float q0 = m0[i] * m0[i], q1 = m1[i] * m1[i], q2 = m2[i] * m2[i];
        float ivh = 1.0f / (vhat(ft, i, col, rowscale) + LOPT_FAC_EPS);
        ss[0] += gi * gi; ss[1] += p[i] * p[i];
        ss[2] += q0; ss[3] += q1; ss[4] += q2; ss[5] += v[i];
        ss[6] += q0 * iv; ss[7] += q1 * iv; ss[8] += q2 * iv; ss[9] += iv;
        ss[10] += gi * gi * ivh; ss[11] += ivh;
        if (++col == cols) { col = 0; if (ft->r && ++row < (size_t)ft->rows) rowscale = ft->r[row] * rim; }
    }
    for (int k = 0; k < LOPT_NFEAT; k++)
        inv_rms[k] = (float)(1.0 / sqrt(ss[k] / (double)n + 1e-30));
}

static inline float clipf_(float z)
{
    return z > LOPT_FEAT_CLIP ? LOPT_FEAT_CLIP : (z < -LOPT_FEAT_CLIP ? -LOPT_FEAT_CLIP : z);
}

void lopt_features_block(const lopt_feat_tensor *ft, const float *g, const float *p,
                         const float *inv_rms, size_t i0, size_t cnt, float *x, size_t ld)
{
    size_t cols = ft->r ? (size_t)ft->cols : ft->n;
    size_t row = i0 / cols, col = i0 % cols;
    float rowscale = ft->r ? ft->r[row] * ft->rim : 0.0f;
    const float *m0 = ft->m[0], *m1 = ft->m[1], *m2 = ft->m[2], *v = ft->v;
    for (size_t k = 0; k < cnt; k++) {
        size_t i = i0 + k;
        float gi = g[i];
        float rv = 1.0f / sqrtf(v[i] + LOPT_V_EPS);
        float rf = 1.0f / sqrtf(vhat(ft, i, col, rowscale) + LOPT_FAC_EPS);
        x[0 * ld + k] = clipf_(gi * inv_rms[0]);
        x[1 * ld + k] = clipf_(p[i] * inv_rms[1]);
        x[2 * ld + k] = clipf_(m0[i] * inv_rms[2]);
        x[3 * ld + k] = clipf_(m1[i] * inv_rms[3]);
        x[4 * ld + k] = clipf_(m2[i] * inv_rms[4]);
        x[5 * ld + k] = clipf_(sqrtf(v[i]) * inv_rms[5]);
        x[6 * ld + k] = clipf_(m0[i] * rv * inv_rms[6]);
        x[7 * ld + k] = clipf_(m1[i] * rv * inv_rms[7]);
        x[8 * ld + k] = clipf_(m2[i] * rv * inv_rms[8]);
        x[9 * ld + k] = clipf_(rv * inv_rms[9]);
        x[10 * ld + k] = clipf_(gi * rf * inv_rms[10]);
        x[11 * ld + k] = clipf_(rf * inv_rms[11]);
        if (++col == cols) { col = 0; if (ft->r && ++row < (size_t)ft->rows) rowscale = ft->r[row] * ft->rim; }
    }
}
