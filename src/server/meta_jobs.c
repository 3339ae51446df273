/* meta_jobs.c — meta-training requests, the job runner, the weights registry
 * and the daemon's job queue.  See meta_jobs.h. */
#include "meta_jobs.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "data_cache.h"
#include "errors.h"
#include "layers.h"
#include "lopt.h"
#include "tasks.h"
#include "sessions.h"
#include "weights_builtin.h"

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fail(char *msg, size_t cap, int rc, const char *fmt, const char *a, const char *b)
{
    if (msg && cap) snprintf(msg, cap, fmt, a, b);
    return rc;
}

/* ---- meta_spec ---------------------------------------------------------- */

typedef enum { K_I32, K_I64, K_U64, K_DBL } ktype;

typedef struct key_def {
    const char *name;
    ktype       type;
    size_t      off;
    double      lo, hi;
} key_def;

#define MC(f) offsetof(meta_spec, mc) + offsetof(meta_config, f)
#define SP(f) offsetof(meta_spec, f)

/* Numeric keys; the string keys (name, optimizer, estimator, train, domain,
 * init_weights, task) are handled in meta_spec_set. */
static const key_def num_keys[] = {
    {"hidden", K_I32, MC(hidden), 1, LOPT_MAX_HIDDEN},
    {"depth", K_I32, MC(depth), 1, LOPT_MAX_DEPTH},
    {"particles", K_I32, MC(nparticles), 1, 256},
    {"unroll", K_I32, MC(unroll), 1, 10000},
    {"horizon_min", K_I32, MC(horizon_min), 1, 1000000},
    {"horizon_max", K_I32, MC(horizon_max), 1, 1000000},
    {"pes_offsets", K_I32, MC(pes_offsets), 0, 1},
    {"log_loss", K_I32, MC(log_loss), 0, 1},
    {"tbptt_exact", K_I32, MC(tbptt_exact), 0, 1},
    {"seed", K_U64, MC(seed), 0, 9007199254740991.0},
    {"task_seed", K_U64, MC(task_seed), 0, 9007199254740991.0},
    {"sigma", K_DBL, MC(sigma), 1e-8, 10},
    {"outer_lr", K_DBL, MC(outer_lr), 0, 10},
    {"outer_beta1", K_DBL, MC(outer_beta1), 0, 0.999999},
    {"outer_beta2", K_DBL, MC(outer_beta2), 0, 0.999999999},
    {"outer_eps", K_DBL, MC(outer_eps), 1e-30, 1},
    {"clip", K_DBL, MC(clip), 0, 1e9},
    {"outer_steps", K_I64, SP(outer_steps), 1, META_MAX_OUTER_STEPS},
    {"checkpoint_every", K_I64, SP(checkpoint_every), 1, META_MAX_OUTER_STEPS},
    {"keep_checkpoints", K_I32, SP(keep_checkpoints), 0, 1},
    {"threads", K_I32, SP(threads), 0, 256},
};
#define NUM_KEYS ((int)(sizeof num_keys / sizeof num_keys[0]))

static const char *const estimator_names[] = {"es", "pes", "tbptt"};
static const char *const train_names[] = {"all", "network", "step_scale"};   /* META_TRAIN_* */

void meta_spec_defaults(meta_spec *sp)
{
    memset(sp, 0, sizeof *sp);
    meta_config_defaults(&sp->mc);
    sp->mc.tasks[0].params.data = &data_cache_source;
    snprintf(sp->name, sizeof sp->name, "%s", sp->mc.optimizer);
    snprintf(sp->task_text[0], META_TASK_TEXT, "%s", sp->mc.tasks[0].family);
    sp->outer_steps = 100;
    sp->checkpoint_every = 10;
    sp->threads = 0;
    sp->mc.ntasks = 1;
}

/* Strict number parsing: the whole string, finite. */
static int parse_num(const char *v, double *out)
{
    while (isspace((unsigned char)*v)) v++;
    if (!*v) return -1;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    while (isspace((unsigned char)*end)) end++;
    if (*end || errno == ERANGE || !isfinite(d)) return -1;
    *out = d;
    return 0;
}

int meta_weights_valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n >= META_WNAME_MAX) return 0;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-') return 0;
    return 1;
}

typedef struct tkey { const char *name; size_t off; int is_double; double lo, hi; } tkey;
#define TP(f) offsetof(task_params, f)
static const tkey task_keys[] = {
    {"width", TP(width), 0, 1, 4096},       {"depth", TP(depth), 0, 1, 16},
    {"batch", TP(batch), 0, 1, 65536},      {"dim", TP(dim), 0, 1, 1000000},
    {"seq_len", TP(seq_len), 0, 1, 4096},   {"classes", TP(classes), 0, 2, 1000},
    {"n_train", TP(n_train), 0, 1, 10000000}, {"image_side", TP(image_side), 0, 8, 28},
    {"init_scale", TP(init_scale), 1, 1e-6, 1e6}, {"noise", TP(noise), 1, -1, 1e6},
};

int meta_task_parse(const char *text, meta_task_spec *t, char *msg, size_t cap)
{
    memset(t, 0, sizeof *t);
    t->params.data = &data_cache_source;   /* the data families read Debian's datasets */
    char buf[META_TASK_TEXT];
    if (strlen(text) >= sizeof buf) return fail(msg, cap, ERR_OUT_OF_RANGE, "task \"%.40s%s\" is too long", text, "…");
    snprintf(buf, sizeof buf, "%s", text);
    char *save = NULL;
    char *tok = strtok_r(buf, " \t", &save);
    if (!tok) return fail(msg, cap, ERR_INVALID_ARGUMENT, "a task names no family%s%s", "", "");
    if (!tasks_find(tok) || strlen(tok) >= META_FAMILY_MAX)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "unknown task family \"%.60s\"%s", tok, "");
    snprintf(t->family, sizeof t->family, "%s", tok);
    while ((tok = strtok_r(NULL, " \t", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq) return fail(msg, cap, ERR_INVALID_ARGUMENT, "task parameter \"%.60s\" is not key=value%s", tok, "");
        *eq = '\0';
        const char *val = eq + 1;
        if (strcmp(tok, "activation") == 0) {
            int act = strcmp(val, "relu") == 0 ? ACT_RELU : strcmp(val, "tanh") == 0 ? ACT_TANH
                    : strcmp(val, "gelu") == 0 ? ACT_GELU : -1;
            if (act < 0) return fail(msg, cap, ERR_INVALID_ARGUMENT, "activation must be relu, tanh or gelu, not \"%.30s\"%s", val, "");
            t->params.activation = act;
            continue;
        }
        const tkey *k = NULL;
        for (size_t i = 0; i < sizeof task_keys / sizeof task_keys[0]; i++)
            if (strcmp(task_keys[i].name, tok) == 0) k = &task_keys[i];
        if (!k) return fail(msg, cap, ERR_UNKNOWN_FIELD, "unknown task parameter \"%.40s\"%s", tok, "");
        double d;
        if (parse_num(val, &d) || d < k->lo || d > k->hi || (!k->is_double && d != floor(d)))
            return fail(msg, cap, ERR_OUT_OF_RANGE, "task parameter %.40s=%.40s is out of range", tok, val);
        if (k->is_double) *(double *)((char *)&t->params + k->off) = d;
        else *(int *)((char *)&t->params + k->off) = (int)d;
    }
    return 0;
}

/* The index of value in names[0..n), or -1. */
static int name_index(const char *value, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(value, names[i]) == 0) return i;
    return -1;
}

int meta_spec_set(meta_spec *sp, const char *key, const char *value, char *msg, size_t cap)
{
    if (strcmp(key, "name") == 0) {
        if (!meta_weights_valid_name(value))
            return fail(msg, cap, ERR_INVALID_ARGUMENT, "name must be 1 to 47 characters of [A-Za-z0-9._-]%s%s", "", "");
        snprintf(sp->name, sizeof sp->name, "%s", value);
        return 0;
    }
    if (strcmp(key, "optimizer") == 0) {
        if (lopt_arch_from_name(value) < 0)
            return fail(msg, cap, ERR_UNKNOWN_OPTIMIZER, "optimizer must be mlp_lopt, lstm_lopt or nn_adam, not \"%.40s\"%s", value, "");
        snprintf(sp->mc.optimizer, sizeof sp->mc.optimizer, "%s", value);
        return 0;
    }
    if (strcmp(key, "estimator") == 0) {
        int i = name_index(value, estimator_names, 3);
        if (i < 0) return fail(msg, cap, ERR_INVALID_ARGUMENT, "estimator must be es, pes or tbptt, not \"%.40s\"%s", value, "");
        sp->mc.estimator = i;
        return 0;
    }
    if (strcmp(key, "train") == 0) {
        int i = name_index(value, train_names, 3);
        if (i < 0) return fail(msg, cap, ERR_INVALID_ARGUMENT, "train must be all, network or step_scale, not \"%.40s\"%s", value, "");
        sp->mc.train = i;
        return 0;
    }
    if (strcmp(key, "domain") == 0) {
        static const char *const doms[] = {"synthetic", "tabular", "vision", "text", "mixed"};
        if (name_index(value, doms, 5) < 0)
            return fail(msg, cap, ERR_INVALID_ARGUMENT, "domain must be synthetic, tabular, vision, text or mixed%s%s", "", "");
        snprintf(sp->domain, sizeof sp->domain, "%s", value);
        return 0;
    }
    if (strcmp(key, "init_weights") == 0) {
        if (strlen(value) >= sizeof sp->init_weights)
            return fail(msg, cap, ERR_OUT_OF_RANGE, "init_weights is too long%s%s", "", "");
        snprintf(sp->init_weights, sizeof sp->init_weights, "%s", value);
        return 0;
    }
    if (strcmp(key, "task") == 0 || strcmp(key, "tasks") == 0) {
        /* The first task given replaces the default one. */
        int i = sp->tasks_given ? sp->mc.ntasks : 0;
        if (i >= META_MAX_TASKS) return fail(msg, cap, ERR_OUT_OF_RANGE, "at most 8 tasks%s%s", "", "");
        meta_task_spec t;
        int rc = meta_task_parse(value, &t, msg, cap);
        if (rc) return rc;
        sp->mc.tasks[i] = t;
        /* Normalised text: single spaces. */
        char *o = sp->task_text[i];
        size_t n = 0;
        for (const char *p = value; *p && n + 1 < META_TASK_TEXT; p++) {
            if (isspace((unsigned char)*p)) {
                if (n && o[n - 1] != ' ') o[n++] = ' ';
            } else o[n++] = *p;
        }
        while (n && o[n - 1] == ' ') n--;
        o[n] = '\0';
        sp->mc.ntasks = i + 1;
        sp->tasks_given = 1;
        return 0;
    }
    for (int i = 0; i < NUM_KEYS; i++) {
        const key_def *k = &num_keys[i];
        if (strcmp(k->name, key) != 0) continue;
        double d;
        if (parse_num(value, &d) || d < k->lo || d > k->hi || (k->type != K_DBL && d != floor(d))) {
            if (msg && cap) snprintf(msg, cap, "%s must be a%s number in [%g, %g], not \"%.40s\"", key,
                                     k->type == K_DBL ? "" : "n integer", k->lo, k->hi, value);
            return ERR_OUT_OF_RANGE;
        }
        void *f = (char *)sp + k->off;
        switch (k->type) {
        case K_I32: *(int *)f = (int)d; break;
        case K_I64: *(int64_t *)f = (int64_t)d; break;
        case K_U64: *(uint64_t *)f = (uint64_t)d; break;
        case K_DBL: *(double *)f = d; break;
        }
        return 0;
    }
    return fail(msg, cap, ERR_UNKNOWN_FIELD, "unknown meta-training key \"%.60s\"%s", key, "");
}

int meta_spec_load_file(meta_spec *sp, const char *path, char *msg, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (msg && cap) snprintf(msg, cap, "cannot open %s: %s", path, strerror(errno));
        return ERR_NOT_FOUND;
    }
    char line[1024];
    int lineno = 0, rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        char *h = strchr(line, '#');
        if (h) *h = '\0';
        char *k = line;
        while (isspace((unsigned char)*k)) k++;
        if (!*k) continue;
        char *eq = strchr(k, '=');
        if (!eq) {
            if (msg && cap) snprintf(msg, cap, "%s:%d: expected `key = value`", path, lineno);
            rc = ERR_INVALID_ARGUMENT;
            break;
        }
        char *ke = eq;
        while (ke > k && isspace((unsigned char)ke[-1])) ke--;
        *ke = '\0';
        char *v = eq + 1;
        while (isspace((unsigned char)*v)) v++;
        char *ve = v + strlen(v);
        while (ve > v && isspace((unsigned char)ve[-1])) ve--;
        *ve = '\0';
        char m[256];
        rc = meta_spec_set(sp, k, v, m, sizeof m);
        if (rc && msg && cap) snprintf(msg, cap, "%s:%d: %s", path, lineno, m);
    }
    fclose(f);
    return rc;
}

int meta_spec_from_json(meta_spec *sp, const cJSON *obj, char *msg, size_t cap)
{
    if (!cJSON_IsObject(obj)) return fail(msg, cap, ERR_INVALID_ARGUMENT, "the body must be a JSON object%s%s", "", "");
    for (const cJSON *it = obj->child; it; it = it->next) {
        const char *key = it->string;
        /* A duplicate key is an error: which value wins would be a guess. */
        for (const cJSON *p = obj->child; p != it; p = p->next)
            if (strcmp(p->string, key) == 0)
                return fail(msg, cap, ERR_INVALID_JSON, "duplicate key \"%.60s\"%s", key, "");
        if (strcmp(key, "tasks") == 0 && cJSON_IsArray(it)) {
            if (cJSON_GetArraySize(it) < 1) return fail(msg, cap, ERR_INVALID_ARGUMENT, "tasks is empty%s%s", "", "");
            for (const cJSON *t = it->child; t; t = t->next) {
                if (!cJSON_IsString(t)) return fail(msg, cap, ERR_INVALID_ARGUMENT, "tasks must be strings%s%s", "", "");
                int rc = meta_spec_set(sp, "task", t->valuestring, msg, cap);
                if (rc) return rc;
            }
            continue;
        }
        if (strcmp(key, "threads") == 0) {
            return fail(msg, cap, ERR_UNKNOWN_FIELD, "threads is not a request key (the daemon uses at most %s%s threads)", "2", "");
        }
        char val[64];
        const char *v = val;
        if (cJSON_IsString(it)) v = it->valuestring;
        else if (cJSON_IsBool(it)) snprintf(val, sizeof val, "%d", cJSON_IsTrue(it) ? 1 : 0);
        else if (cJSON_IsNumber(it)) {
            if (!isfinite(it->valuedouble))
                return fail(msg, cap, ERR_OUT_OF_RANGE, "%.60s is not a finite number%s", key, "");
            snprintf(val, sizeof val, "%.17g", it->valuedouble);
        } else return fail(msg, cap, ERR_INVALID_ARGUMENT, "%.60s must be a string or a number%s", key, "");
        int rc = meta_spec_set(sp, key, v, msg, cap);
        if (rc) return rc;
    }
    return 0;
}

/* The record a kept checkpoint becomes: NAME.stepN.  0 if it does not fit. */
static int checkpoint_name(const meta_spec *sp, int64_t step, char out[META_WNAME_MAX])
{
    int n = snprintf(out, META_WNAME_MAX, "%s.step%lld", sp->name, (long long)step);
    return n > 0 && n < META_WNAME_MAX;
}

int meta_spec_check(meta_spec *sp, char *msg, size_t cap)
{
    meta_config *c = &sp->mc;
    if (c->horizon_max < c->horizon_min)
        return fail(msg, cap, ERR_OUT_OF_RANGE, "horizon_max must be >= horizon_min%s%s", "", "");
    if (c->estimator == META_TBPTT && lopt_arch_from_name(c->optimizer) != LOPT_ARCH_MLP &&
        lopt_arch_from_name(c->optimizer) != LOPT_ARCH_LSTM)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "estimator tbptt works with mlp_lopt and lstm_lopt only%s%s", "", "");
    if (c->train != META_TRAIN_ALL && lopt_arch_from_name(c->optimizer) != LOPT_ARCH_MLP)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "train = %s works with mlp_lopt only%s", train_names[c->train], "");
    char ck[META_WNAME_MAX];
    if (sp->keep_checkpoints && !checkpoint_name(sp, sp->outer_steps, ck))
        return fail(msg, cap, ERR_OUT_OF_RANGE, "name is too long for keep_checkpoints (NAME.stepN must fit in 47 "
                    "characters)%s%s", "", "");
    if (!sp->domain[0]) {
        const char *d = NULL;
        for (int i = 0; i < c->ntasks; i++) {
            const task_family *f = tasks_find(c->tasks[i].family);
            const char *fd = f ? f->domain : "synthetic";
            d = !d || strcmp(d, fd) == 0 ? fd : "mixed";
        }
        snprintf(sp->domain, sizeof sp->domain, "%s", d ? d : "synthetic");
    }
    /* Every task can be created with its parameters. */
    for (int i = 0; i < c->ntasks; i++) {
        task *t = NULL;
        int rc = task_create(c->tasks[i].family, &c->tasks[i].params, 1, &t);
        task_free(t);
        if (rc) return fail(msg, cap, rc, "task \"%.80s\": %.120s", sp->task_text[i], tasks_last_error());
    }
    meta_job *j = NULL;
    int rc = meta_job_new(c, NULL, &j);
    meta_job_free(j);
    if (rc) return fail(msg, cap, rc, "the meta-training settings do not fit together (%s)%s", err_message(rc), "");
    return 0;
}

cJSON *meta_spec_to_json(const meta_spec *sp)
{
    const meta_config *c = &sp->mc;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "name", sp->name);
    cJSON_AddStringToObject(o, "optimizer", c->optimizer);
    cJSON_AddNumberToObject(o, "hidden", c->hidden);
    cJSON_AddNumberToObject(o, "depth", c->depth);
    cJSON_AddStringToObject(o, "estimator", estimator_names[c->estimator]);
    cJSON *t = cJSON_AddArrayToObject(o, "tasks");
    for (int i = 0; i < c->ntasks; i++) cJSON_AddItemToArray(t, cJSON_CreateString(sp->task_text[i]));
    cJSON_AddNumberToObject(o, "task_seed", (double)c->task_seed);
    cJSON_AddNumberToObject(o, "particles", c->nparticles);
    cJSON_AddNumberToObject(o, "unroll", c->unroll);
    cJSON_AddNumberToObject(o, "horizon_min", c->horizon_min);
    cJSON_AddNumberToObject(o, "horizon_max", c->horizon_max);
    cJSON_AddNumberToObject(o, "pes_offsets", c->pes_offsets);
    cJSON_AddNumberToObject(o, "sigma", c->sigma);
    cJSON_AddNumberToObject(o, "outer_lr", c->outer_lr);
    cJSON_AddNumberToObject(o, "outer_beta1", c->outer_beta1);
    cJSON_AddNumberToObject(o, "outer_beta2", c->outer_beta2);
    cJSON_AddNumberToObject(o, "outer_eps", c->outer_eps);
    cJSON_AddNumberToObject(o, "clip", c->clip);
    cJSON_AddNumberToObject(o, "log_loss", c->log_loss);
    cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    cJSON_AddNumberToObject(o, "tbptt_exact", c->tbptt_exact);
    cJSON_AddStringToObject(o, "train", train_names[c->train]);
    cJSON_AddNumberToObject(o, "outer_steps", (double)sp->outer_steps);
    cJSON_AddNumberToObject(o, "checkpoint_every", (double)sp->checkpoint_every);
    cJSON_AddNumberToObject(o, "keep_checkpoints", sp->keep_checkpoints);
    cJSON_AddStringToObject(o, "init_weights", sp->init_weights);
    cJSON_AddStringToObject(o, "domain", sp->domain);
    return o;
}

/* ---- weights registry ------------------------------------------------------ */

/* Newest published version of each name (under sessions_weights_lock). */
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

int meta_weights_publish(const store_weights_row *w)
{
    if (!w->blob || strlen(w->name) >= META_WNAME_MAX) return ERR_INVALID_ARGUMENT;
    lopt_weights lw;
    int rc = lopt_weights_load(&lw, w->blob, w->blob_len);
    if (rc) return rc;
    char key[META_WNAME_MAX + 24];
    snprintf(key, sizeof key, "%s@%lld", w->name, (long long)w->version);
    pthread_mutex_lock(&sessions_weights_lock);
    rc = lopt_registry_put(key, &lw);
    int64_t *lv = rc ? NULL : latest_slot(w->name);
    if (!rc && !lv) rc = ERR_NO_MEMORY;
    if (!rc && w->version >= *lv) {
        rc = lopt_registry_put(w->name, &lw);
        if (!rc) *lv = w->version;
    }
    pthread_mutex_unlock(&sessions_weights_lock);
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
        if (parse_num(at + 1, &d) || d < 1 || d > 1e15 || d != floor(d) || !isdigit((unsigned char)at[1]))
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
    cJSON_AddStringToObject(o, "domain", w->domain);
    cJSON_AddItemToObject(o, "provenance", parse_or_empty(w->provenance_json));
    cJSON_AddItemToObject(o, "evaluation", parse_or_empty(w->eval_json));
    cJSON_AddNumberToObject(o, "created_ms", (double)w->created_ms);
    return o;
}

/* ---- meta_run ---------------------------------------------------------------- */

typedef struct worker_arg {
    meta_job *j;
    int tid, nthreads, rc;
} worker_arg;

static void *worker_main(void *p)
{
    worker_arg *a = p;
    int P = meta_job_nparticles(a->j);
    for (int k = a->tid; k < P && !a->rc; k += a->nthreads) a->rc = meta_eval_particle(a->j, k);
    return NULL;
}

/* One outer step with the particles spread over nthreads threads. */
static int outer_step(meta_job *j, int nthreads, meta_report *rep)
{
    int rc = meta_step_begin(j);
    if (rc) return rc;
    int P = meta_job_nparticles(j);
    if (nthreads > P) nthreads = P;
    if (nthreads < 1) nthreads = 1;
    worker_arg args[64];
    pthread_t th[64];
    int started[64] = {0};
    if (nthreads > 64) nthreads = 64;
    for (int t = 0; t < nthreads; t++) args[t] = (worker_arg){j, t, nthreads, 0};
    for (int t = 1; t < nthreads; t++) started[t] = pthread_create(&th[t], NULL, worker_main, &args[t]) == 0;
    worker_main(&args[0]);
    for (int t = 1; t < nthreads; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else worker_main(&args[t]);   /* no thread: do its share here */
    }
    for (int t = 0; t < nthreads; t++)
        if (args[t].rc) return args[t].rc;
    return meta_step_end(j, rep);
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return ERR_STORAGE;
    int ok = fwrite(data, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : ERR_STORAGE;
}

/* Stores theta as the next version of the record `name` (sp->name, or a kept
 * checkpoint's NAME.stepN) with its provenance. */
static int store_result(store *db, const char *id, const meta_spec *sp, const char *name, meta_job *j, double wall_s,
                        double last_loss, const char *out_path, int64_t *wversion, char *msg, size_t cap)
{
    const lopt_weights *w = meta_job_weights(j);
    uint8_t *blob = NULL;
    size_t len = 0;
    int rc = lopt_weights_save(w, &blob, &len);
    if (rc) return fail(msg, cap, rc, "cannot encode the weights (%s)%s", err_message(rc), "");
    cJSON *prov = cJSON_CreateObject();
    cJSON_AddStringToObject(prov, "job_id", id);
    cJSON_AddNumberToObject(prov, "seed", (double)sp->mc.seed);
    cJSON_AddStringToObject(prov, "estimator", estimator_names[sp->mc.estimator]);
    cJSON *t = cJSON_AddArrayToObject(prov, "task_families");
    for (int i = 0; i < sp->mc.ntasks; i++) cJSON_AddItemToArray(t, cJSON_CreateString(sp->task_text[i]));
    cJSON_AddNumberToObject(prov, "outer_steps", (double)meta_job_step(j));
    cJSON_AddNumberToObject(prov, "wall_time_s", wall_s);
    cJSON_AddNumberToObject(prov, "final_meta_loss", isfinite(last_loss) ? last_loss : 0);
    cJSON_AddItemToObject(prov, "config", meta_spec_to_json(sp));
    char *prov_json = cJSON_PrintUnformatted(prov);
    cJSON_Delete(prov);
    store_weights_row row = {.name = name, .version = 0, .arch = sp->mc.optimizer, .hidden = w->hidden,
                             .depth = w->depth, .ntheta = (int64_t)w->ntheta, .domain = sp->domain,
                             .provenance_json = prov_json ? prov_json : "{}", .eval_json = "{}",
                             .blob = blob, .blob_len = len};
    rc = store_weights_put(db, &row, 0, wversion);
    if (!rc) {
        row.version = *wversion;
        rc = meta_weights_publish(&row);
    }
    if (!rc && out_path && write_file(out_path, blob, len) != 0)
        rc = fail(msg, cap, ERR_STORAGE, "cannot write %.200s%s", out_path, "");
    else if (rc) fail(msg, cap, rc, "cannot store the weights record (%s)%s", err_message(rc), "");
    free(prov_json);
    free(blob);
    return rc;
}

/* Creates the job of sp, starting from its init_weights record when it names
 * one.  0, or ERR_NOT_FOUND (no such record) or meta_job_new's error, with msg. */
static int job_from_spec(const meta_spec *sp, meta_job **out, char *msg, size_t cap)
{
    lopt_weights init = {0};
    int rc = 0;
    if (sp->init_weights[0]) {
        pthread_mutex_lock(&sessions_weights_lock);
        rc = lopt_registry_get(sp->init_weights, &init);
        pthread_mutex_unlock(&sessions_weights_lock);
        if (rc) fail(msg, cap, rc, "no weights record named \"%.60s\"%s", sp->init_weights, "");
    }
    if (!rc) {
        rc = meta_job_new(&sp->mc, sp->init_weights[0] ? &init : NULL, out);
        if (rc) fail(msg, cap, rc, "cannot create the job (%s; init_weights must match optimizer, hidden and depth)%s",
                     err_message(rc), "");
    }
    lopt_weights_deinit(&init);
    return rc;
}

int meta_spec_check_weights(const meta_spec *sp, char *msg, size_t cap)
{
    if (!sp->init_weights[0]) return 0;
    meta_job *j = NULL;
    int rc = job_from_spec(sp, &j, msg, cap);
    meta_job_free(j);
    return rc;
}

int meta_run(store *db, const char *id, const meta_spec *sp, const void *ckpt, size_t ckpt_len, double wall0,
             const meta_run_io *io, int64_t *wversion, char *msg, size_t cap)
{
    meta_job *j = NULL;
    if (msg && cap) msg[0] = '\0';
    int rc = job_from_spec(sp, &j, msg, cap);
    if (!rc && ckpt) {
        rc = meta_load(j, ckpt, ckpt_len);
        if (rc) fail(msg, cap, rc, "the meta-checkpoint does not match this configuration (%s)%s", err_message(rc), "");
    }
    int nthreads = sp->threads;
    if (nthreads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = cores > 0 ? (int)cores : 1;
    }
    double t0 = mono_s(), last_loss = NAN;
    int stopped = 0;
    if (!rc) rc = store_meta_job_update(db, id, "running", meta_job_step(j), wall0, NULL, NULL, 0, NULL, 0);
    while (!rc && meta_job_step(j) < sp->outer_steps) {
        int c = io && io->cancel ? atomic_load(io->cancel) : 0;
        if (c) {
            stopped = c;
            break;
        }
        meta_report rep;
        rc = outer_step(j, nthreads, &rep);
        if (rc) {
            fail(msg, cap, rc, "outer step failed: %s (%.150s)", err_message(rc), tasks_last_error());
            break;
        }
        last_loss = rep.meta_loss;
        double wall = wall0 + mono_s() - t0;
        rc = store_meta_curve_add(db, id, rep.step, rep.meta_loss, rep.grad_norm);
        uint8_t *blob = NULL;
        size_t len = 0;
        int at_ckpt = rep.step % sp->checkpoint_every == 0;
        if (!rc && (at_ckpt || rep.step == sp->outer_steps)) rc = meta_save(j, &blob, &len);
        char ck[META_WNAME_MAX];
        int64_t ckv;
        if (!rc && sp->keep_checkpoints && at_ckpt && rep.step < sp->outer_steps && checkpoint_name(sp, rep.step, ck))
            rc = store_result(db, id, sp, ck, j, wall, rep.meta_loss, NULL, &ckv, msg, cap);
        if (!rc) rc = store_meta_job_update(db, id, NULL, rep.step, wall, NULL, NULL, 0, blob, len);
        free(blob);
        if (rc) fail(msg, cap, rc, "cannot record progress (%s)%s", err_message(rc), "");
        if (!rc && io && io->progress) io->progress(io->ctx, &rep, wall);
    }
    double wall = wall0 + mono_s() - t0;
    int result;
    if (rc) {
        store_meta_job_update(db, id, "failed", j ? meta_job_step(j) : 0, wall, msg && *msg ? msg : err_message(rc),
                              NULL, 0, NULL, 0);
        result = rc;
    } else if (stopped) {
        uint8_t *blob = NULL;
        size_t len = 0;
        meta_save(j, &blob, &len);
        store_meta_job_update(db, id, stopped == 2 ? "interrupted" : "cancelled", meta_job_step(j), wall, NULL, NULL, 0,
                              blob, len);
        free(blob);
        result = 1;
    } else {
        int64_t v = 0;
        rc = store_result(db, id, sp, sp->name, j, wall, last_loss, io ? io->out_path : NULL, &v, msg, cap);
        if (rc) {
            store_meta_job_update(db, id, "failed", meta_job_step(j), wall, msg, NULL, 0, NULL, 0);
            result = rc;
        } else {
            store_meta_job_update(db, id, "done", meta_job_step(j), wall, NULL, sp->name, v, NULL, 0);
            if (wversion) *wversion = v;
            result = 0;
        }
    }
    meta_job_free(j);
    return result;
}

/* ---- the daemon's job queue ------------------------------------------------------ */

typedef struct qitem {
    struct qitem *next;
    char          id[40];
    char          tenant[64];
    meta_spec     sp;
    _Atomic int   cancel;
    uv_work_t     work;
} qitem;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    app            *a;
    uv_loop_t      *loop;
    uv_async_t      async;
    int             started, stopping, busy;
    qitem          *head, *tail;
    qitem          *running;
    pthread_mutex_t submit_mu;   /* one submit at a time: the bound check and the enqueue are one step */
} Q = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .submit_mu = PTHREAD_MUTEX_INITIALIZER};

static void work_cb(uv_work_t *w)
{
    qitem *it = w->data;
    char msg[300];
    meta_run_io io = {.cancel = &it->cancel};
    int64_t v = 0;
    int rc = meta_run(Q.a->db, it->id, &it->sp, NULL, 0, 0, &io, &v, msg, sizeof msg);
    if (rc < 0) fprintf(stderr, "optirsd: meta-training job %s failed: %s\n", it->id, msg);
    else if (rc == 0) printf("meta-training job %s done: weights %s@%lld\n", it->id, it->sp.name, (long long)v);
    pthread_mutex_lock(&Q.mu);
    Q.busy = 0;
    pthread_cond_broadcast(&Q.cv);
    pthread_mutex_unlock(&Q.mu);
}

static void try_start(void);

static void after_cb(uv_work_t *w, int status)
{
    (void)status;
    qitem *it = w->data;
    pthread_mutex_lock(&Q.mu);
    if (Q.running == it) Q.running = NULL;
    pthread_mutex_unlock(&Q.mu);
    free(it);
    try_start();
}

/* Loop thread: starts the next queued job when none runs. */
static void try_start(void)
{
    pthread_mutex_lock(&Q.mu);
    qitem *it = NULL;
    if (!Q.running && Q.head && !Q.stopping) {
        it = Q.head;
        Q.head = it->next;
        if (!Q.head) Q.tail = NULL;
        it->next = NULL;
        Q.running = it;
        Q.busy = 1;
    }
    pthread_mutex_unlock(&Q.mu);
    if (!it) return;
    it->work.data = it;
    if (uv_queue_work(Q.loop, &it->work, work_cb, after_cb) != 0) {
        store_meta_job_update(Q.a->db, it->id, "failed", 0, 0, "the work queue refused the job", NULL, 0, NULL, 0);
        pthread_mutex_lock(&Q.mu);
        Q.running = NULL;
        Q.busy = 0;
        pthread_mutex_unlock(&Q.mu);
        free(it);
    }
}

static void on_async(uv_async_t *h)
{
    (void)h;
    try_start();
}

int meta_jobs_start(app *a, uv_loop_t *loop)
{
    int64_t n = 0;
    if (store_meta_jobs_interrupt(a->db, &n) != 0) return ERR_STORAGE;
    if (n) printf("%lld meta-training jobs were interrupted by the last shutdown\n", (long long)n);
    Q.a = a;
    Q.loop = loop;
    if (uv_async_init(loop, &Q.async, on_async) != 0) return ERR_INTERNAL;
    pthread_mutex_lock(&Q.mu);
    Q.started = 1;
    Q.stopping = 0;
    pthread_mutex_unlock(&Q.mu);
    return 0;
}

void meta_jobs_stop(void)
{
    pthread_mutex_lock(&Q.mu);
    if (!Q.started) {
        pthread_mutex_unlock(&Q.mu);
        return;
    }
    Q.stopping = 1;
    if (Q.running) atomic_store(&Q.running->cancel, 2);
    while (Q.busy) pthread_cond_wait(&Q.cv, &Q.mu);
    qitem *q = Q.head;
    Q.head = Q.tail = NULL;
    Q.started = 0;
    pthread_mutex_unlock(&Q.mu);
    while (q) {
        qitem *nx = q->next;
        store_meta_job_update(Q.a->db, q->id, "interrupted", 0, 0, NULL, NULL, 0, NULL, 0);
        free(q);
        q = nx;
    }
    uv_close((uv_handle_t *)&Q.async, NULL);
}

static void new_job_id(char *out)
{
    unsigned char b[8];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20) ^ (uint64_t)(uintptr_t)out;
        memcpy(b, &x, sizeof b);
    }
    int n = snprintf(out, 40, "mj-");
    for (int i = 0; i < 8; i++) n += snprintf(out + n, 40 - (size_t)n, "%02x", b[i]);
}

/* Under Q.mu: 0 when one more job of `tenant` may wait in the queue, else
 * ERR_SHUTTING_DOWN or ERR_QUEUE_FULL. */
static int queue_admits(const char *tenant)
{
    if (!Q.started || Q.stopping) return ERR_SHUTTING_DOWN;
    int64_t all = 0, mine = 0;
    for (const qitem *q = Q.head; q; q = q->next) {
        all++;
        mine += strcmp(q->tenant, tenant) == 0;
    }
    const config *cfg = &Q.a->cfg;
    if (all >= cfg->max_queued_jobs) return ERR_QUEUE_FULL;
    if (cfg->tenant_max_queued_jobs > 0 && mine >= cfg->tenant_max_queued_jobs) return ERR_QUEUE_FULL;
    return 0;
}

static int submit_locked(qitem *it);

int meta_jobs_submit(const meta_spec *sp, const char *tenant, char *id_out)
{
    if (!tenant || strlen(tenant) >= sizeof ((qitem *)0)->tenant) return ERR_INVALID_ARGUMENT;
    qitem *it = calloc(1, sizeof *it);
    if (!it) return ERR_NO_MEMORY;
    it->sp = *sp;
    if (it->sp.threads <= 0 || it->sp.threads > META_JOBS_MAX_THREADS) it->sp.threads = META_JOBS_MAX_THREADS;
    new_job_id(it->id);
    snprintf(it->tenant, sizeof it->tenant, "%s", tenant);
    char id[40];
    snprintf(id, sizeof id, "%s", it->id);   /* once queued, `it` may run, end and be freed at any time */
    /* Submits are serialised so that no two pass the bound check before
     * either is queued; the queue only shrinks meanwhile (jobs start or are
     * cancelled), which keeps the check conservative. */
    pthread_mutex_lock(&Q.submit_mu);
    int rc = submit_locked(it);
    pthread_mutex_unlock(&Q.submit_mu);
    if (rc) {
        free(it);
        return rc;
    }
    snprintf(id_out, 40, "%s", id);
    uv_async_send(&Q.async);
    return 0;
}

/* Checks the bounds, inserts the row ("queued") and queues `it`; on success
 * the queue owns it. */
static int submit_locked(qitem *it)
{
    pthread_mutex_lock(&Q.mu);
    int rc = queue_admits(it->tenant);
    pthread_mutex_unlock(&Q.mu);
    if (rc) return rc;
    cJSON *cfg = meta_spec_to_json(&it->sp);
    char *cfg_json = cfg ? cJSON_PrintUnformatted(cfg) : NULL;
    cJSON_Delete(cfg);
    if (!cfg_json) return ERR_NO_MEMORY;
    store_meta_job_row row = {.id = it->id, .name = it->sp.name, .source = "api", .tenant = it->tenant,
                              .status = "queued", .config_json = cfg_json, .outer_steps = it->sp.outer_steps};
    rc = store_meta_job_insert(Q.a->db, &row);
    free(cfg_json);
    if (rc) return rc;
    pthread_mutex_lock(&Q.mu);
    if (Q.tail) Q.tail->next = it;
    else Q.head = it;
    Q.tail = it;
    pthread_mutex_unlock(&Q.mu);
    return 0;
}

typedef struct status_ctx { char *buf; size_t cap; } status_ctx;

static int status_cb(void *ctx, const store_meta_job_row *j)
{
    status_ctx *c = ctx;
    snprintf(c->buf, c->cap, "%s", j->status);
    return 1;
}

int meta_jobs_cancel(const char *id, char *state, size_t cap)
{
    pthread_mutex_lock(&Q.mu);
    qitem *prev = NULL, *it = Q.head;
    while (it && strcmp(it->id, id) != 0) {
        prev = it;
        it = it->next;
    }
    if (it) {
        /* Storage first: a cancel that cannot be committed leaves the job
         * queued (and the answer 503), rather than gone from the queue while
         * the database still says "queued".  Q.mu is held across the commit
         * so the job cannot start meanwhile. */
        int rc = store_meta_job_update(Q.a->db, id, "cancelled", 0, 0, NULL, NULL, 0, NULL, 0);
        if (!rc) {
            if (prev) prev->next = it->next;
            else Q.head = it->next;
            if (Q.tail == it) Q.tail = prev;
        }
        pthread_mutex_unlock(&Q.mu);
        if (!rc) {
            free(it);
            snprintf(state, cap, "cancelled");
        }
        return rc;
    }
    int running = Q.running && strcmp(Q.running->id, id) == 0;
    if (running) atomic_store(&Q.running->cancel, 1);
    pthread_mutex_unlock(&Q.mu);
    if (running) {
        snprintf(state, cap, "cancelling");
        return 0;
    }
    status_ctx c = {state, cap};
    return store_meta_job_get(Q.a->db, id, 0, status_cb, &c);
}

int meta_jobs_cancelling(const char *id)
{
    pthread_mutex_lock(&Q.mu);
    int r = Q.running && strcmp(Q.running->id, id) == 0 && atomic_load(&Q.running->cancel) != 0;
    pthread_mutex_unlock(&Q.mu);
    return r;
}
