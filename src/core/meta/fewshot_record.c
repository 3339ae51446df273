/* fewshot_record.c — few-shot weights records: blob codec and named table
 * (see fewshot_record.h). */
#include "fewshot_record.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "errors.h"

int fewshot_record_from_job(const fewshot_job *j, fewshot_record *out)
{
    memset(out, 0, sizeof *out);
    const fewshot_config *c = fewshot_job_config(j);
    out->method = c->method;
    out->net = *fewshot_job_net(j);
    out->inner_lr = c->inner_lr;
    size_t P = out->net.nparams;
    const double *th = fewshot_job_theta(j), *al = fewshot_job_alpha(j);
    out->theta = malloc(P * sizeof(float));
    out->alpha = al ? malloc(P * sizeof(float)) : NULL;
    if (!out->theta || (al && !out->alpha)) {
        fewshot_record_deinit(out);
        return ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < P; i++) out->theta[i] = (float)th[i];
    for (size_t i = 0; al && i < P; i++) out->alpha[i] = (float)al[i];
    return 0;
}

int fewshot_record_save(const fewshot_record *r, uint8_t **out, size_t *out_len)
{
    blob_writer w;
    int rc = blob_writer_init(&w, BLOB_KIND_FEWSHOT, FEWSHOT_RECORD_VERSION);
    if (rc) return rc;
    blob_put_str(&w, fewshot_method_name(r->method));
    blob_put_u32(&w, (uint32_t)r->net.nlayers);
    for (int l = 0; l <= r->net.nlayers; l++) blob_put_u32(&w, (uint32_t)r->net.sizes[l]);
    blob_put_f64(&w, r->inner_lr);
    blob_put_u32(&w, r->alpha ? 1 : 0);
    blob_put_u64(&w, r->net.nparams);
    blob_put_f32s(&w, r->theta, r->net.nparams);
    if (r->alpha) blob_put_f32s(&w, r->alpha, r->net.nparams);
    return blob_writer_finish(&w, out, out_len);
}

int fewshot_record_load(fewshot_record *r, const void *data, size_t len)
{
    memset(r, 0, sizeof *r);
    blob_reader br;
    uint32_t version;
    if (blob_reader_init(&br, data, len, BLOB_KIND_FEWSHOT, &version) || version != FEWSHOT_RECORD_VERSION)
        return ERR_CORRUPT;
    char method[32];
    blob_get_str(&br, method, sizeof method);
    uint32_t nl = blob_get_u32(&br);
    if (blob_reader_status(&br) || nl < 1 || nl > FSNET_MAX_LAYERS) return ERR_CORRUPT;
    int sizes[FSNET_MAX_LAYERS + 1];
    for (uint32_t l = 0; l <= nl; l++) {
        uint32_t s = blob_get_u32(&br);
        sizes[l] = s > FSNET_MAX_WIDTH ? 0 : (int)s;
    }
    double lr = blob_get_f64(&br);
    uint32_t has_alpha = blob_get_u32(&br);
    uint64_t np = blob_get_u64(&br);
    int m = fewshot_method_from_name(method);
    if (blob_reader_status(&br) || m < 0 || fsnet_init(&r->net, (int)nl, sizes) || np != r->net.nparams ||
        has_alpha > 1 || !isfinite(lr) || br.len - br.pos != (1 + has_alpha) * np * sizeof(float))
        return ERR_CORRUPT;
    r->method = m;
    r->inner_lr = lr;
    r->theta = malloc(np * sizeof(float));
    r->alpha = has_alpha ? malloc(np * sizeof(float)) : NULL;
    if (!r->theta || (has_alpha && !r->alpha)) {
        fewshot_record_deinit(r);
        return ERR_NO_MEMORY;
    }
    blob_get_f32s(&br, r->theta, np);
    if (has_alpha) blob_get_f32s(&br, r->alpha, np);
    int ok = blob_reader_status(&br) == 0;
    for (size_t i = 0; ok && i < np; i++) ok = isfinite(r->theta[i]) && (!has_alpha || isfinite(r->alpha[i]));
    if (!ok) {
        fewshot_record_deinit(r);
        return ERR_CORRUPT;
    }
    return 0;
}

int fewshot_record_copy(fewshot_record *dst, const fewshot_record *src)
{
    *dst = *src;
    size_t P = src->net.nparams;
    dst->theta = malloc(P * sizeof(float));
    dst->alpha = src->alpha ? malloc(P * sizeof(float)) : NULL;
    if (!dst->theta || (src->alpha && !dst->alpha)) {
        fewshot_record_deinit(dst);
        return ERR_NO_MEMORY;
    }
    memcpy(dst->theta, src->theta, P * sizeof(float));
    if (src->alpha) memcpy(dst->alpha, src->alpha, P * sizeof(float));
    return 0;
}

void fewshot_record_deinit(fewshot_record *r)
{
    if (!r) return;
    free(r->theta);
    free(r->alpha);
    memset(r, 0, sizeof *r);
}

double fewshot_record_rate(const fewshot_record *r, size_t i)
{
    return r->alpha ? (double)r->alpha[i] : r->inner_lr;
}

/* ---- the named table ---------------------------------------------------------- */

#define FEWSHOT_NAME_MAX 80

typedef struct fs_entry { char name[FEWSHOT_NAME_MAX]; fewshot_record r; } fs_entry;
static fs_entry *tab;
static int       tab_n, tab_cap;

const fewshot_record *fewshot_registry_find(const char *name)
{
    for (int i = 0; name && i < tab_n; i++)
        if (strcmp(tab[i].name, name) == 0) return &tab[i].r;
    return NULL;
}

int fewshot_registry_put(const char *name, const fewshot_record *r)
{
    if (strlen(name) >= FEWSHOT_NAME_MAX) return ERR_INVALID_ARGUMENT;
    fewshot_record copy;
    int rc = fewshot_record_copy(&copy, r);
    if (rc) return rc;
    for (int i = 0; i < tab_n; i++)
        if (strcmp(tab[i].name, name) == 0) {
            fewshot_record_deinit(&tab[i].r);
            tab[i].r = copy;
            return 0;
        }
    if (tab_n == tab_cap) {
        int cap = tab_cap ? 2 * tab_cap : 16;
        fs_entry *t = realloc(tab, (size_t)cap * sizeof *t);
        if (!t) {
            fewshot_record_deinit(&copy);
            return ERR_NO_MEMORY;
        }
        tab = t;
        tab_cap = cap;
    }
    snprintf(tab[tab_n].name, FEWSHOT_NAME_MAX, "%s", name);
    tab[tab_n++].r = copy;
    return 0;
}

void fewshot_registry_clear(void)
{
    for (int i = 0; i < tab_n; i++) fewshot_record_deinit(&tab[i].r);
    free(tab);
    tab = NULL;
    tab_n = tab_cap = 0;
}
