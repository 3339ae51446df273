/* store_extras.c — a step's extras on their way to the database: the copy
 * its queued job carries (numbers and names, no text: store_step_record runs
 * on the step path) and their JSON, formatted on the writer thread when the
 * job runs (store_sessions.c's extra_put).  See store.h, store_step_extras.
 * Also the metrics row's group_lr text (every parameter group's lr), written
 * on the writer thread and parsed strictly when read back.
 *
 * The copy is one block: the header, the diagnostics (their names are
 * string literals of core and are not copied), 3 figures per tensor, then
 * the tensors' names one after the other, each NUL-ended and cut to
 * LAYOUT_NAME_MAX - 1 bytes.  Its size is bounded by ANALYTICS_MAX_TENSORS,
 * LAYOUT_NAME_MAX and STORE_DIAG_MAX (about 6 KiB at most). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "errors.h"
#include "jwriter.h"
#include "opt.h"
#include "store_internal.h"

int store_xcopy_new(const store_step_extras *x, store_xcopy **out)
{
    *out = NULL;
    if (!x) return 0;
    const analytics_step *st = x->stats;
    int nt = st && x->lay && st->ntensors > 0 && st->ntensors <= x->lay->ntensors &&
                     st->ntensors <= ANALYTICS_MAX_TENSORS ? st->ntensors : 0;
    int nd = x->diag && x->ndiag > 0 ? (x->ndiag < STORE_DIAG_MAX ? x->ndiag : STORE_DIAG_MAX) : 0;
    if (!nt && !nd) return 0;
    size_t names = 0;
    for (int k = 0; k < nt; k++) names += strnlen(x->lay->tensors[k].name, LAYOUT_NAME_MAX - 1) + 1;
    size_t head = sizeof(store_xcopy), dbytes = (size_t)nd * sizeof(opt_diag_value),
           fbytes = (size_t)nt * 3 * sizeof(double);
    store_xcopy *c = malloc(head + dbytes + fbytes + names);   /* bounded: see the top */
    if (!c) return ERR_NO_MEMORY;
    c->ntensors = nt;
    c->ndiag = nd;
    opt_diag_value *d = (opt_diag_value *)(void *)((char *)c + head);
    double *f = (double *)(void *)((char *)d + dbytes);
    char *n = (char *)f + fbytes;
    if (nd) memcpy(d, x->diag, dbytes);
    for (int k = 0; k < nt; k++) {
        f[3 * k] = st->grad[k];
        f[3 * k + 1] = st->update[k];
        f[3 * k + 2] = st->param[k];
    }
    c->diag = d;
    c->fig = f;
    c->names = n;
    for (int k = 0; k < nt; k++) {
        size_t len = strnlen(x->lay->tensors[k].name, LAYOUT_NAME_MAX - 1);
        memcpy(n, x->lay->tensors[k].name, len);
        n[len] = '\0';
        n += len + 1;
    }
    *out = c;
    return 0;
}

char *store_xcopy_tensors_json(const store_xcopy *c)
{
    if (!c || c->ntensors <= 0) return NULL;
    jwriter w;
    jw_init(&w, STORE_TENSORS_JSON_MAX);
    jw_lit(&w, "[");
    const char *name = c->names;
    for (int k = 0; k < c->ntensors; k++) {
        jw_lit(&w, k ? ",[" : "[");
        jw_cstr(&w, name);
        name += strlen(name) + 1;
        for (int j = 0; j < 3; j++) {
            jw_lit(&w, ",");
            jw_num_or_null(&w, c->fig[3 * k + j], 9);
        }
        jw_lit(&w, "]");
    }
    jw_lit(&w, "]");
    return jw_take(&w, NULL);
}

char *store_xcopy_extra_json(const store_xcopy *c)
{
    if (!c || c->ndiag <= 0) return NULL;
    jwriter w;
    jw_init(&w, STORE_EXTRA_JSON_MAX);
    for (int i = 0; i < c->ndiag; i++) {
        jw_lit(&w, i ? "," : "{");
        jw_key(&w, c->diag[i].name);
        jw_num_or_null(&w, c->diag[i].value, 0);
    }
    jw_lit(&w, "}");
    return jw_take(&w, NULL);
}

int store_step_extras_json(const store_step_extras *x, char **tensors_json, char **extra_json)
{
    *tensors_json = *extra_json = NULL;
    store_xcopy *c;
    int rc = store_xcopy_new(x, &c);
    if (rc) return rc;
    *tensors_json = store_xcopy_tensors_json(c);
    *extra_json = store_xcopy_extra_json(c);
    free(c);
    return 0;
}

/* ---- a step's per-group lr (the metrics row's group_lr) ------------------- */

char *store_group_lr_json(const double *v, int n)
{
    if (!v || n <= 0 || n > STORE_GROUP_LR_MAX) return NULL;
    jwriter w;
    jw_init(&w, (size_t)n * 32 + 2);   /* 24 characters at most a number */
    for (int i = 0; i < n; i++) {
        jw_lit(&w, i ? "," : "[");
        jw_num_or_null(&w, v[i], 0);
    }
    jw_lit(&w, "]");
    return jw_take(&w, NULL);
}

int store_group_lr_parse(const char *text, double *out, int cap)
{
    if (!text || *text != '[') return 0;
    const char *p = text + 1;
    int n = 0;
    for (;;) {
        if (n == cap) return 0;
        if (strncmp(p, "null", 4) == 0) {
            out[n++] = NAN;
            p += 4;
        } else {
            char *end;
            if (!((*p >= '0' && *p <= '9') || *p == '-')) return 0;
            out[n++] = strtod(p, &end);
            if (end == p) return 0;
            p = end;
        }
        if (*p == ']') return p[1] == '\0' ? n : 0;
        if (*p++ != ',') return 0;
    }
}
