/* meta_weights.c — the weights registry: stored records published into
 * core's named-weights table, under the registry's own lock.  See
 * meta_weights.h. */
#include "meta_weights.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fewshot_record.h"
#include "lopt.h"
#include "weights_builtin.h"

/* Guards core's table (lopt_registry_*) and latest_tab below. */
static pthread_mutex_t weights_mu = PTHREAD_MUTEX_INITIALIZER;

void meta_weights_lock(void)   { pthread_mutex_lock(&weights_mu); }
void meta_weights_unlock(void) { pthread_mutex_unlock(&weights_mu); }

int meta_weights_valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n >= META_WNAME_MAX) return 0;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-') return 0;
    return 1;
}

/* Newest published version of each name (under weights_mu). */
typedef struct latest { char name[META_WNAME_MAX]; int64_t version; } latest;
static latest *latest_tab;
static int     latest_n, latest_cap;

static int64_t *latest_slot(const char *name)
{
    for (int i = 0; i < latest_n; i++)
        if (strcmp(latest_tab[i].name, name) == 0) return &latest_tab[i].version;
    if (latest_n == latest_cap) {
        int cap = latest_cap ? latest_cap * 2 : 16;
        latest *v = realloc(latest_tab, (size_t)cap * sizeof *v);
        if (!v) return NULL;
        latest_tab = v;
        latest_cap = cap;
    }
    snprintf(latest_tab[latest_n].name, META_WNAME_MAX, "%s", name);
    latest_tab[latest_n].version = 0;
    return &latest_tab[latest_n++].version;
}

/* A few-shot record (arch = its method): into core's few-shot table, read by
 * the meta_sgd optimizer. */
static int publish_fewshot(const store_weights_row *w)
{
    fewshot_record r;
    int rc = fewshot_record_load(&r, w->blob, w->blob_len);
    if (rc) return rc;
    char key[META_WNAME_MAX + 24];
    snprintf(key, sizeof key, "%s@%lld", w->name, (long long)w->version);
    meta_weights_lock();
    rc = fewshot_registry_put(key, &r);
    int64_t *lv = rc ? NULL : latest_slot(w->name);
    if (!rc && !lv) rc = ERR_NO_MEMORY;
    if (!rc && w->version >= *lv) {
        rc = fewshot_registry_put(w->name, &r);
        if (!rc) *lv = w->version;
    }
    meta_weights_unlock();
    fewshot_record_deinit(&r);
    return rc;
}

int meta_weights_publish(const store_weights_row *w)
{
    if (!w->blob || strlen(w->name) >= META_WNAME_MAX) return ERR_INVALID_ARGUMENT;
    if (w->arch && fewshot_method_from_name(w->arch) >= 0) return publish_fewshot(w);
    lopt_weights lw;
    int rc = lopt_weights_load(&lw, w->blob, w->blob_len);
    if (rc) return rc;
    char key[META_WNAME_MAX + 24];
    snprintf(key, sizeof key, "%s@%lld", w->name, (long long)w->version);
    meta_weights_lock();
    rc = lopt_registry_put(key, &lw);
    int64_t *lv = rc ? NULL : latest_slot(w->name);
    if (!rc && !lv) rc = ERR_NO_MEMORY;
    if (!rc && w->version >= *lv) {
        rc = lopt_registry_put(w->name, &lw);
        if (!rc) *lv = w->version;
    }
    meta_weights_unlock();
    lopt_weights_deinit(&lw);
    return rc;
}

int meta_weights_parse_ref(const char *ref, char *name, size_t cap, int64_t *version)
{
    const char *at = strchr(ref, '@');
    size_t n = at ? (size_t)(at - ref) : strlen(ref);
    if (n == 0 || n >= cap || n >= META_WNAME_MAX) return ERR_INVALID_ARGUMENT;
    memcpy(name, ref, n);
    name[n] = '\0';
    if (!meta_weights_valid_name(name)) return ERR_INVALID_ARGUMENT;
    *version = 0;
    if (at) {
        double d;
        if (meta_spec_parse_num(at + 1, &d) || d < 1 || d > 1e15 || d != floor(d) || !isdigit((unsigned char)at[1]))
            return ERR_INVALID_ARGUMENT;
        *version = (int64_t)d;
    }
    return 0;
}

static int publish_cb(void *ctx, const store_weights_row *w)
{
    int *n = ctx;
    int rc = meta_weights_publish(w);
    if (rc) fprintf(stderr, "optirsd: weights %s@%lld cannot be loaded: %s\n", w->name, (long long)w->version,
                    err_message(rc));
    else (*n)++;
    return 0;
}

int meta_weights_bootstrap(store *db)
{
    for (int i = 0; i < weights_builtin_count(); i++) {
        const weights_builtin *b = weights_builtin_at(i);
        lopt_weights lw;
        int rc = lopt_weights_load(&lw, b->blob, b->blob_len);
        if (rc) {
            fprintf(stderr, "optirsd: built-in weights %s are corrupt\n", b->name);
            continue;
        }
        store_weights_row row = {.name = b->name, .version = 1, .arch = lopt_arch_name(lw.arch), .hidden = lw.hidden,
                                 .depth = lw.depth, .ntheta = (int64_t)lw.ntheta, .domain = b->domain,
                                 .provenance_json = b->provenance_json, .eval_json = b->eval_json,
                                 .blob = b->blob, .blob_len = b->blob_len};
        rc = store_weights_put(db, &row, 1, NULL);
        lopt_weights_deinit(&lw);
        if (rc) return rc;
    }
    int n = 0;
    int rc = store_weights_list(db, 1, publish_cb, &n);
    return rc ? rc : n;
}

static cJSON *parse_or_empty(const char *json)
{
    cJSON *o = json ? cJSON_ParseWithLengthOpts(json, strlen(json), NULL, 0) : NULL;
    return o ? o : cJSON_CreateObject();
}

cJSON *meta_weights_to_json(const store_weights_row *w)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    char ref[META_WNAME_MAX + 24];
    snprintf(ref, sizeof ref, "%s@%lld", w->name, (long long)w->version);
    cJSON_AddStringToObject(o, "name", w->name);
    cJSON_AddNumberToObject(o, "version", (double)w->version);
    cJSON_AddStringToObject(o, "ref", ref);
    cJSON_AddStringToObject(o, "optimizer", w->arch);
    cJSON *a = cJSON_AddObjectToObject(o, "architecture");
    cJSON_AddNumberToObject(a, "hidden", w->hidden);
    cJSON_AddNumberToObject(a, "depth", w->depth);
    cJSON_AddNumberToObject(a, "ntheta", (double)w->ntheta);
    lopt_weights lw;
    if (w->blob && lopt_weights_load(&lw, w->blob, w->blob_len) == 0) {
        if (lw.arch == LOPT_ARCH_MLP) {
            cJSON_AddStringToObject(a, "activation", lopt_act_name(lw.act));
            cJSON_AddStringToObject(a, "features", lopt_fset_name(lw.fset));
        }
        if (lw.heads > 0) {   /* attn_lopt's record fixes the heads and sequence length it runs at */
            cJSON_AddNumberToObject(a, "num_heads", lw.heads);
            cJSON_AddNumberToObject(a, "sequence_length", lw.seq);
        }
        lopt_weights_deinit(&lw);
    }
    cJSON_AddStringToObject(o, "domain", w->domain);
    cJSON_AddItemToObject(o, "provenance", parse_or_empty(w->provenance_json));
    cJSON_AddItemToObject(o, "evaluation", parse_or_empty(w->eval_json));
    cJSON_AddNumberToObject(o, "created_ms", (double)w->created_ms);
    return o;
}

cJSON *meta_weights_eval_summary(const char *eval_json)
{
    cJSON *ev = eval_json ? cJSON_ParseWithLengthOpts(eval_json, strlen(eval_json), NULL, 0) : NULL;
    cJSON *out = NULL;
    for (cJSON *suite = cJSON_IsObject(ev) ? ev->child : NULL; suite; suite = suite->next) {
        cJSON *keep = NULL;
        if (cJSON_IsObject(suite)) {
            keep = cJSON_CreateObject();
            for (cJSON *f = suite->child; keep && f; f = f->next)
                if (!cJSON_IsObject(f) && !cJSON_IsArray(f))
                    cJSON_AddItemToObject(keep, f->string, cJSON_Duplicate(f, 0));
        } else if (!cJSON_IsArray(suite)) {
            keep = cJSON_Duplicate(suite, 0);
        }
        if (!keep) continue;
        if (!out) out = cJSON_CreateObject();
        cJSON_AddItemToObject(out, suite->string, keep);
    }
    cJSON_Delete(ev);
    return out;
}

typedef struct kind_ctx { char arch[32]; } kind_ctx;

static int kind_cb(void *ctx, const store_weights_row *w)
{
    snprintf(((kind_ctx *)ctx)->arch, sizeof ((kind_ctx *)ctx)->arch, "%s", w->arch ? w->arch : "");
    return 1;
}

int meta_weights_check_kind(store *db, const char *name, const char *arch, char *msg, size_t cap)
{
    kind_ctx k = {""};
    int rc = store_weights_get(db, name, 0, 0, kind_cb, &k);
    if (rc == ERR_NOT_FOUND) return 0;
    if (rc) {
        snprintf(msg, cap, "the weights records cannot be read");
        return ERR_STORAGE;
    }
    int was_fewshot = fewshot_method_from_name(k.arch) >= 0, is_fewshot = fewshot_method_from_name(arch) >= 0;
    if (was_fewshot == is_fewshot) return 0;
    snprintf(msg, cap, "name %.47s is a weights record of %.31s, not of %s: choose another name", name, k.arch,
             is_fewshot ? "a few-shot method" : "a learned optimizer");
    return ERR_INVALID_ARGUMENT;
}
