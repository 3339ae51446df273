/* domain.c — record domains and a session's domain default.  See domain.h. */
#include "domain.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "lopt.h"
#include "meta_weights.h"
#include "opt.h"

static const char *const session_domains[] = {"vision", "text", "tabular", "synthetic"};
#define NSESSION ((int)(sizeof session_domains / sizeof session_domains[0]))

int domain_session_valid(const char *d)
{
    for (int i = 0; d && i < NSESSION; i++)
        if (strcmp(d, session_domains[i]) == 0) return 1;
    return 0;
}

int domain_record_valid(const char *d)
{
    return domain_session_valid(d) || (d && strcmp(d, "mixed") == 0);
}

int domain_default_name(const char *arch, const char *domain, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s.%s", arch, domain);
    return n < 0 || (size_t)n >= cap ? ERR_OUT_OF_RANGE : 0;
}

int domain_check_record(const char *name, const char *arch, const char *domain, char *msg, size_t cap)
{
    const char *dot = strrchr(name, '.');
    if (!dot || !domain_session_valid(dot + 1)) return 0;
    char prefix[META_WNAME_MAX];
    size_t n = (size_t)(dot - name);
    if (n >= sizeof prefix) return 0;
    memcpy(prefix, name, n);
    prefix[n] = '\0';
    if (lopt_arch_from_name(prefix) < 0) return 0;   /* not an optimizer's domain default */
    if (arch && strcmp(arch, prefix) != 0)
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT,
                    "a record named %s is %s's %s default: it must be %s weights, not %s", name, prefix, dot + 1,
                    prefix, arch);
    if (strcmp(domain, dot + 1) != 0)
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT,
                    "a record named %s is %s's %s default: its domain must be %s, not %s", name, prefix, dot + 1,
                    dot + 1, domain);
    return 0;
}

/* The record's domain and architecture, copied out of the store's row. */
typedef struct rec_ctx { char domain[16]; char arch[32]; int64_t version; int film; } rec_ctx;

static int rec_cb(void *ctx, const store_weights_row *w)
{
    rec_ctx *c = ctx;
    /* a FiLM record (lopt.h): mlp_lopt's trunk plus the rows */
    size_t trunk = w->arch ? lopt_theta_count(lopt_arch_from_name(w->arch), w->hidden, w->depth) : 0;
    c->film = trunk && lopt_arch_from_name(w->arch) == LOPT_ARCH_MLP &&
              w->ntheta == (int64_t)(trunk + lopt_film_count(w->hidden));
    snprintf(c->domain, sizeof c->domain, "%s", w->domain ? w->domain : "");
    snprintf(c->arch, sizeof c->arch, "%s", w->arch ? w->arch : "");
    c->version = w->version;
    return 1;
}

int domain_resolve(store *db, spec *sp, char *msg, size_t cap)
{
    if (!sp->domain[0]) return 0;
    const opt_vtbl *vt = opt_find(sp->ocfg.name);
    if (!vt || !vt->weights_arch)
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "optimizer %s has no weights records to choose by domain",
                    sp->ocfg.name);
    char name[META_WNAME_MAX];
    int64_t version = 0;
    rec_ctx rc_ = {0};
    if (strcmp(sp->weights, LOPT_WEIGHTS_DEFAULT) == 0)
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT,
                    "weights %s is the untrained network, which has no domain: give one of weights and domain",
                    LOPT_WEIGHTS_DEFAULT);
    if (sp->weights[0]) {
        /* Both given: the record must carry the domain asked for, or be a
         * FiLM record, whose row of that domain the session then uses. */
        if (meta_weights_parse_ref(sp->weights, name, sizeof name, &version)) return 0;   /* opt_init answers */
        int rc = store_weights_get(db, name, version, 0, rec_cb, &rc_);
        if (rc == ERR_NOT_FOUND) return 0;   /* opt_init answers, as without a domain */
        if (rc) return err_failf(msg, cap, ERR_STORAGE, "the weights records cannot be read");
        if (!rc_.film && strcmp(rc_.domain, sp->domain) != 0)
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT,
                        "weights %s@%lld carry domain %s, not %s: give one of weights and domain, or records that agree",
                        name, (long long)rc_.version, rc_.domain, sp->domain);
        return 0;
    }
    if (domain_default_name(vt->weights_arch, sp->domain, name, sizeof name))
        return err_failf(msg, cap, ERR_OUT_OF_RANGE, "the domain default's name is too long");
    int rc = store_weights_get(db, name, 0, 0, rec_cb, &rc_);
    if (rc && rc != ERR_NOT_FOUND) return err_failf(msg, cap, ERR_STORAGE, "the weights records cannot be read");
    /* A record of that name with another arch or domain predates the naming
     * rule (domain_check_record): it is not the domain's default. */
    if (rc == ERR_NOT_FOUND || strcmp(rc_.domain, sp->domain) != 0 || strcmp(rc_.arch, vt->weights_arch) != 0)
        return err_failf(msg, cap, ERR_NO_DOMAIN_WEIGHTS,
                    "%s has no %s weights record (%s); GET /v1/optimizers lists its domain records; omit domain for "
                    "the general default",
                    vt->weights_arch, sp->domain, name);
    int n = snprintf(sp->weights, sizeof sp->weights, "%s@%lld", name, (long long)rc_.version);
    if (n < 0 || (size_t)n >= sizeof sp->weights) return err_failf(msg, cap, ERR_OUT_OF_RANGE, "weights name too long");
    return 0;
}

/* The newest record of each default name, as the catalogue shows it. */
typedef struct cat_ctx {
    const char *arch;
    cJSON *general;
    cJSON *dom[NSESSION];
    int oom;
} cat_ctx;

static cJSON *record_summary(const store_weights_row *w)
{
    cJSON *o = cJSON_CreateObject();
    char ref[META_WNAME_MAX + 24];
    snprintf(ref, sizeof ref, "%s@%lld", w->name, (long long)w->version);
    if (!o || !cJSON_AddStringToObject(o, "name", w->name) ||
        !cJSON_AddNumberToObject(o, "version", (double)w->version) || !cJSON_AddStringToObject(o, "ref", ref) ||
        !cJSON_AddStringToObject(o, "domain", w->domain ? w->domain : "")) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON *ev = meta_weights_eval_summary(w->eval_json);
    if (ev) cJSON_AddItemToObject(o, "evaluation", ev);
    return o;
}

/* Rows come in (name, version) order: a later row of a name replaces it. */
static int cat_cb(void *ctx, const store_weights_row *w)
{
    cat_ctx *c = ctx;
    if (!w->arch || strcmp(w->arch, c->arch) != 0) return 0;
    cJSON **slot = NULL;
    if (strcmp(w->name, c->arch) == 0) slot = &c->general;
    for (int i = 0; !slot && i < NSESSION; i++) {
        char name[META_WNAME_MAX];
        if (domain_default_name(c->arch, session_domains[i], name, sizeof name) == 0 && strcmp(w->name, name) == 0 &&
            w->domain && strcmp(w->domain, session_domains[i]) == 0)
            slot = &c->dom[i];
    }
    if (!slot) return 0;
    cJSON *o = record_summary(w);
    if (!o) {
        c->oom = 1;
        return 1;
    }
    cJSON_Delete(*slot);
    *slot = o;
    return 0;
}

int domain_defaults_json(store *db, const char *arch, cJSON *into)
{
    cat_ctx c = {.arch = arch};
    int rc = store_weights_list(db, 0, cat_cb, &c);
    if (!rc && c.oom) rc = ERR_NO_MEMORY;
    cJSON *doms = rc ? NULL : cJSON_CreateObject();
    if (!rc && !doms) rc = ERR_NO_MEMORY;
    for (int i = 0; i < NSESSION; i++) {
        if (!rc && c.dom[i]) cJSON_AddItemToObject(doms, session_domains[i], c.dom[i]);
        else cJSON_Delete(c.dom[i]);
    }
    if (rc) {
        cJSON_Delete(c.general);
        return rc;
    }
    cJSON_AddItemToObject(into, "default_weights", c.general ? c.general : cJSON_CreateNull());
    cJSON_AddItemToObject(into, "domain_weights", doms);
    return 0;
}
