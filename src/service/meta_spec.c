/* meta_spec.c — meta-training requests: `key = value` settings (a config
 * file or a JSON body) checked into a meta_spec.  See meta_spec.h. */
#include "meta_spec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_cache.h"
#include "domain.h"
#include "errors.h"
#include "layers.h"
#include "lopt.h"
#include "lopt_attn_net.h"
#include "meta_reptile.h"
#include "meta_continual.h"
#include "meta_weights.h"
#include "tasks.h"

static int fail(char *msg, size_t cap, int rc, const char *fmt, const char *a, const char *b)
{
    if (msg && cap) snprintf(msg, cap, fmt, a, b);
    return rc;
}

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
 * init_weights, task, objective, task_draw, activation, features) are handled in meta_spec_set. */
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
    {"ref_lr", K_DBL, MC(ref_lr), 1e-8, 10},
    {"outlier_alpha", K_DBL, MC(outlier_alpha), 0, 1000},
    {"curriculum_steps", K_I64, MC(curriculum_steps), 0, META_MAX_OUTER_STEPS},
    {"unroll_start", K_I32, MC(unroll_start), 0, 10000},
    {"horizon_max_start", K_I32, MC(horizon_max_start), 0, 1000000},
    {"mup_base", K_I32, MC(mup_base), 0, LOPT_MUP_MAX_BASE},
    {"num_heads", K_I32, MC(heads), 1, LOPT_ATTN_MAX_HEADS},
    {"sequence_length", K_I32, MC(seq), 1, LOPT_ATTN_MAX_SEQ},
    {"hold_zero_grad", K_I32, MC(hold_zero_grad), 0, 1},
    {"film", K_I32, MC(film), 0, 1},
    {"memory_reads", K_I32, MC(memory_reads), 0, 1},
    {"trust", K_DBL, MC(trust), 0, 1e6},
    {"hypergrad", K_DBL, MC(hypergrad), 0, 1},
    {"anneal", K_DBL, MC(anneal), 0, 1e6},
    {"maml_inner_steps", K_I32, MC(maml_inner_steps), 0, META_MAML_MAX_INNER},
    {"maml_step", K_DBL, MC(maml_step), 1e-6, 1},
    {"ewc_lambda", K_DBL, MC(ewc_lambda), 0, 1e12},
    {"replay", K_DBL, MC(replay), 0, 1},
    {"ewc_window", K_I32, MC(ewc_window), 1, META_MAX_OUTER_STEPS},
    {"stage_eval_steps", K_I32, SP(stage_eval_steps), 0, 100000},
    {"stage_eval_seeds", K_I32, SP(stage_eval_seeds), 1, 64},
};
#define NUM_KEYS ((int)(sizeof num_keys / sizeof num_keys[0]))

static const char *const estimator_names[] = {"es", "pes", "tbptt"};
static const char *const train_names[] = {"all", "network", "step_scale"};   /* META_TRAIN_* */
static const char *const objective_names[] = {"log", "ref"};                   /* META_OBJ_* */
static const char *const draw_names[] = {"cycle", "weighted"};                 /* META_DRAW_* */

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
    sp->stage_eval_seeds = 4;
}

int meta_spec_parse_num(const char *v, double *out)
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

typedef struct tkey { const char *name; size_t off; int is_double; double lo, hi; } tkey;
#define TP(f) offsetof(task_params, f)
static const tkey task_keys[] = {
    {"width", TP(width), 0, 1, 4096},       {"depth", TP(depth), 0, 1, 16},
    {"batch", TP(batch), 0, 1, 65536},      {"dim", TP(dim), 0, 1, 1000000},
    {"seq_len", TP(seq_len), 0, 1, 4096},   {"classes", TP(classes), 0, 2, 1000},
    {"n_train", TP(n_train), 0, 1, 10000000}, {"image_side", TP(image_side), 0, 8, 28},
    {"init_scale", TP(init_scale), 1, 1e-6, 1e6}, {"noise", TP(noise), 1, -1, 1e6},
    {"heads", TP(heads), 0, 1, 1024},       {"augment", TP(augment), 0, 0, 1},
    {"bottleneck", TP(bottleneck), 0, 1, 4096},
    {"switch_step", TP(switch_step), 0, 1, 1e9}, {"switch_scale", TP(switch_scale), 1, 1e-6, 1e6},
    {"layernorm", TP(layernorm), 0, 0, 1},
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
        if (strcmp(tok, "weight") == 0 || strcmp(tok, "ref_lr") == 0) {
            /* meta-training's, not the task's: the draw probability and the reference lr */
            int w = tok[0] == 'w';
            double d;
            if (meta_spec_parse_num(val, &d) || !(w ? d > 0 && d <= 1e6 : d >= 1e-8 && d <= 10))
                return fail(msg, cap, ERR_OUT_OF_RANGE, "task parameter %.40s=%.40s is out of range "
                            "(weight in (0, 1e6], ref_lr in [1e-8, 10])", tok, val);
            if (w) t->weight = d;
            else t->ref_lr = d;
            continue;
        }
        const tkey *k = NULL;
        for (size_t i = 0; i < sizeof task_keys / sizeof task_keys[0]; i++)
            if (strcmp(task_keys[i].name, tok) == 0) k = &task_keys[i];
        if (!k) return fail(msg, cap, ERR_UNKNOWN_FIELD, "unknown task parameter \"%.40s\"%s", tok, "");
        double d;
        if (meta_spec_parse_num(val, &d) || d < k->lo || d > k->hi || (!k->is_double && d != floor(d)))
            return fail(msg, cap, ERR_OUT_OF_RANGE, "task parameter %.40s=%.40s is out of range", tok, val);
        if (k->is_double) *(double *)((char *)&t->params + k->off) = d;
        else *(int *)((char *)&t->params + k->off) = (int)d;
    }
    /* a parameter the family does not read is refused, not ignored */
    if (task_check_keys(t->family, &t->params) != 0)
        return fail(msg, cap, ERR_OUT_OF_RANGE, "task \"%.60s\": %.150s", text, tasks_last_error());
    return 0;
}

/* The index of value in names[0..n), or -1. */
static int name_index(const char *value, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(value, names[i]) == 0) return i;
    return -1;
}

/* Parses stages text "fam[,fam...]:steps; ..." into c's stage fields.  With
 * sp (the check), each stage's tasks are those of its families, and every
 * family must have a task; without, only the syntax and families are
 * checked. */
static int stages_parse(const char *text, const meta_spec *sp, meta_config *c, char *msg, size_t cap)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    c->nstages = 0;
    char *save = NULL;
    for (char *st = strtok_r(buf, ";", &save); st; st = strtok_r(NULL, ";", &save)) {
        while (isspace((unsigned char)*st)) st++;
        if (!*st) continue;
        if (c->nstages >= META_MAX_STAGES)
            return fail(msg, cap, ERR_OUT_OF_RANGE, "at most %s stages%s", "8", "");
        char *colon = strrchr(st, ':');
        double d;
        if (!colon || meta_spec_parse_num(colon + 1, &d) || d < 1 || d > META_MAX_OUTER_STEPS || d != floor(d))
            return fail(msg, cap, ERR_INVALID_ARGUMENT, "stage \"%.60s\" must be family[,family...]:outer_steps "
                        "(steps in [1, 1000000])%s", st, "");
        *colon = '\0';
        int s = c->nstages;
        c->stage_steps[s] = (int64_t)d;
        c->stage_tasks[s] = 0;
        char *save2 = NULL;
        for (char *f = strtok_r(st, ", \t", &save2); f; f = strtok_r(NULL, ", \t", &save2)) {
            if (!tasks_find(f)) return fail(msg, cap, ERR_INVALID_ARGUMENT, "stages: unknown task family \"%.60s\"%s", f, "");
            uint32_t m = 0;
            for (int i = 0; sp && i < c->ntasks; i++)
                if (strcmp(c->tasks[i].family, f) == 0) m |= 1u << i;
            if (sp && !m) return fail(msg, cap, ERR_INVALID_ARGUMENT, "stages: family \"%.60s\" has no task%s", f, "");
            c->stage_tasks[s] |= m;
        }
        if (!sp) c->stage_tasks[s] = 1;
        c->nstages++;
    }
    if (!c->nstages) return fail(msg, cap, ERR_INVALID_ARGUMENT, "stages names no stage%s%s", "", "");
    return 0;
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
            return fail(msg, cap, ERR_UNKNOWN_OPTIMIZER, "optimizer must be mlp_lopt, lstm_lopt, gru_lopt, nn_adam, attn_lopt, graph_lopt or mem_lopt, not \"%.40s\"%s", value, "");
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
    if (strcmp(key, "objective") == 0) {
        int i = name_index(value, objective_names, 2);
        if (i < 0) return fail(msg, cap, ERR_INVALID_ARGUMENT, "objective must be log or ref, not \"%.40s\"%s", value, "");
        sp->mc.objective = i;
        return 0;
    }
    if (strcmp(key, "activation") == 0) {   /* mlp_lopt's hidden activation (lopt.h), checked with the optimizer */
        int i = lopt_act_from_name(value);
        if (i < 0) return fail(msg, cap, ERR_OUT_OF_RANGE, "activation must be relu, gelu or swish, not \"%.40s\"%s", value, "");
        sp->mc.act = i;
        return 0;
    }
    if (strcmp(key, "features") == 0) {   /* mlp_lopt's input feature set (lopt.h), checked with the optimizer */
        int i = lopt_fset_from_name(value);
        if (i < 0)
            return fail(msg, cap, ERR_OUT_OF_RANGE, "features must be full, adam, momentum, no_time or no_tensor, "
                        "not \"%.40s\"%s", value, "");
        sp->mc.fset = i;
        return 0;
    }
    if (strcmp(key, "task_draw") == 0) {
        int i = name_index(value, draw_names, 2);
        if (i < 0) return fail(msg, cap, ERR_INVALID_ARGUMENT, "task_draw must be cycle or weighted, not \"%.40s\"%s", value, "");
        sp->mc.task_draw = i;
        return 0;
    }
    if (strcmp(key, "domain") == 0) {
        if (!domain_record_valid(value))
            return fail(msg, cap, ERR_INVALID_ARGUMENT, "domain must be %s%s", DOMAIN_RECORD_WORDS, "");
        snprintf(sp->domain, sizeof sp->domain, "%s", value);
        return 0;
    }
    if (strcmp(key, "init_weights") == 0) {
        if (strlen(value) >= sizeof sp->init_weights)
            return fail(msg, cap, ERR_OUT_OF_RANGE, "init_weights is too long%s%s", "", "");
        snprintf(sp->init_weights, sizeof sp->init_weights, "%s", value);
        return 0;
    }
    if (strcmp(key, "stages") == 0) {
        if (strlen(value) >= sizeof sp->stages_text)
            return fail(msg, cap, ERR_OUT_OF_RANGE, "stages is too long%s%s", "", "");
        meta_config probe = sp->mc;
        int rc = stages_parse(value, NULL, &probe, msg, cap);   /* the syntax now, the tasks at the check */
        if (rc) return rc;
        snprintf(sp->stages_text, sizeof sp->stages_text, "%s", value);
        return 0;
    }
    if (strcmp(key, "task") == 0 || strcmp(key, "tasks") == 0) {
        /* The first task given replaces the default one. */
        int i = sp->tasks_given ? sp->mc.ntasks : 0;
        if (i >= META_MAX_TASKS) return fail(msg, cap, ERR_OUT_OF_RANGE, "at most %s tasks%s", META_MAX_TASKS_TEXT, "");
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
        if (meta_spec_parse_num(value, &d) || d < k->lo || d > k->hi || (k->type != K_DBL && d != floor(d))) {
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
        /* null: the inner optimizer's own default (what meta_spec_to_json writes when unset) */
        if (cJSON_IsNull(it) && strcmp(key, "hold_zero_grad") == 0) { sp->mc.hold_zero_grad = -1; continue; }
        if (cJSON_IsNull(it) && strcmp(key, "trust") == 0) { sp->mc.trust = -1; continue; }
        if (cJSON_IsNull(it) && strcmp(key, "hypergrad") == 0) { sp->mc.hypergrad = -1; continue; }
        if (cJSON_IsNull(it) && strcmp(key, "anneal") == 0) { sp->mc.anneal = -1; continue; }
        if (cJSON_IsNull(it) && strcmp(key, "memory_reads") == 0) { sp->mc.memory_reads = -1; continue; }
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

int meta_spec_job_bytes(const meta_spec *sp, uint64_t *out, char *msg, size_t cap)
{
    /* Every task can be created with its parameters, and the particles fit
     * in memory: each holds one task at a time, so the largest counts. */
    const meta_config *c = &sp->mc;
    uint64_t worst = 0;
    size_t ntheta = lopt_theta_count(lopt_arch_from_name(c->optimizer), c->hidden, c->depth);
    if (c->film) ntheta += lopt_film_count(c->hidden);
    *out = 0;
    for (int i = 0; i < c->ntasks; i++) {
        task *t = NULL;
        int rc = task_create(c->tasks[i].family, &c->tasks[i].params, 1, &t);
        uint64_t b = 0;
        if (!rc) rc = meta_particle_bytes(c, ntheta, &t->lay, &b);
        task_free(t);
        if (rc) return fail(msg, cap, rc, "task \"%.80s\": %.120s", sp->task_text[i], tasks_last_error());
        if (b > worst) worst = b;
    }
    *out = opt_bytes_mul(worst, (uint64_t)c->nparticles);
    return 0;
}

int meta_spec_num_key(const char *key, double *lo, double *hi, int *integral)
{
    for (int i = 0; i < NUM_KEYS; i++) {
        if (strcmp(num_keys[i].name, key) != 0) continue;
        *lo = num_keys[i].lo;
        *hi = num_keys[i].hi;
        *integral = num_keys[i].type != K_DBL;
        return 1;
    }
    return 0;
}

int meta_spec_checkpoint_name(const meta_spec *sp, int64_t step, char out[META_WNAME_MAX])
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
        lopt_arch_from_name(c->optimizer) != LOPT_ARCH_LSTM && lopt_arch_from_name(c->optimizer) != LOPT_ARCH_ATTN)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "estimator tbptt works with mlp_lopt, lstm_lopt and attn_lopt only (gru_lopt, nn_adam, "
                    "graph_lopt and mem_lopt: es or pes)%s%s", "", "");
    {
        /* combinations of the inner optimizer's hyperparameters (attn_lopt: num_heads divides hidden) */
        opt_config oc;
        const opt_vtbl *vt = opt_find(c->optimizer);
        char why[200];
        int e = vt && vt->check && meta_inner_config(c, &oc) == 0 ? vt->check(&oc, NULL, why, sizeof why) : 0;
        if (e) return fail(msg, cap, e, "%s (hidden is its width)%s", why, "");
    }
    if (c->train != META_TRAIN_ALL && lopt_arch_from_name(c->optimizer) != LOPT_ARCH_MLP)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "train = %s works with mlp_lopt only%s", train_names[c->train], "");
    if (c->mup_base && lopt_arch_from_name(c->optimizer) != LOPT_ARCH_MLP)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "mup_base works with mlp_lopt only%s%s", "", "");
    if (c->act && lopt_arch_from_name(c->optimizer) != LOPT_ARCH_MLP)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "activation %s works with mlp_lopt only (the other optimizers' "
                    "networks have fixed activations)%s", lopt_act_name(c->act), "");
    if (c->fset && lopt_arch_from_name(c->optimizer) != LOPT_ARCH_MLP)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "features %s works with mlp_lopt only (the other optimizers' "
                    "networks read every input)%s", lopt_fset_name(c->fset), "");
    if ((c->heads || c->seq) && lopt_arch_from_name(c->optimizer) != LOPT_ARCH_ATTN)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "num_heads and sequence_length work with attn_lopt only%s%s", "", "");
    if (c->hold_zero_grad >= 0 && lopt_arch_from_name(c->optimizer) != LOPT_ARCH_MLP)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "hold_zero_grad works with mlp_lopt only%s%s", "", "");
    if (c->memory_reads >= 0 && lopt_arch_from_name(c->optimizer) != LOPT_ARCH_MEM)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "memory_reads works with mem_lopt only%s%s", "", "");
    if (c->trust >= 0 && lopt_arch_from_name(c->optimizer) != LOPT_ARCH_MLP)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "trust works with mlp_lopt only%s%s", "", "");
    if ((c->hypergrad >= 0 || c->anneal >= 0) && lopt_arch_from_name(c->optimizer) != LOPT_ARCH_MLP)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "hypergrad and anneal work with mlp_lopt only%s%s", "", "");
    if (c->film && (lopt_arch_from_name(c->optimizer) != LOPT_ARCH_MLP || c->estimator == META_TBPTT ||
                    c->train != META_TRAIN_ALL))
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "film = 1 works with mlp_lopt, estimator es or pes and train = all "
                    "only%s%s", "", "");
    if (c->objective == META_OBJ_REF && c->estimator == META_TBPTT)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "objective = ref works with estimator es or pes%s%s", "", "");
    const char *unrec = c->estimator == META_TBPTT ? meta_inner_unrecorded(c) : NULL;
    if (unrec)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "estimator tbptt does not record mlp_lopt's %s: set %s = 0 (or use "
                    "es or pes)", unrec, unrec);
    if (c->maml_step > 0 && !c->maml_inner_steps)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "maml_step needs maml_inner_steps > 0%s%s", "", "");
    if (c->maml_inner_steps && c->nstages)   /* two outer loops: neither runs inside the other */
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "maml_inner_steps and stages cannot be combined%s%s", "", "");
    if (c->unroll_start > c->unroll)
        return fail(msg, cap, ERR_OUT_OF_RANGE, "unroll_start must be <= unroll%s%s", "", "");
    if (c->horizon_max_start > c->horizon_max)
        return fail(msg, cap, ERR_OUT_OF_RANGE, "horizon_max_start must be <= horizon_max%s%s", "", "");
    if ((c->unroll_start || c->horizon_max_start) && !c->curriculum_steps)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "unroll_start and horizon_max_start need curriculum_steps > 0%s%s", "", "");
    for (int i = 0; i < c->ntasks; i++) {
        if (c->task_draw == META_DRAW_CYCLE && c->tasks[i].weight > 0 && c->tasks[i].weight != 1)
            return fail(msg, cap, ERR_INVALID_ARGUMENT, "task \"%.80s\": a weight needs task_draw = weighted%s", sp->task_text[i], "");
        if (c->objective != META_OBJ_REF && c->tasks[i].ref_lr > 0)
            return fail(msg, cap, ERR_INVALID_ARGUMENT, "task \"%.80s\": ref_lr needs objective = ref%s", sp->task_text[i], "");
    }
    c->nstages = 0;
    if (sp->stages_text[0]) {
        int rc = stages_parse(sp->stages_text, sp, c, msg, cap);
        if (rc) return rc;
        uint32_t seen = 0;
        for (int s = 0; s < c->nstages; s++) seen |= c->stage_tasks[s];
        for (int i = 0; i < c->ntasks; i++)
            if (!(seen >> i & 1))
                return fail(msg, cap, ERR_INVALID_ARGUMENT, "task \"%.80s\" is in no stage%s", sp->task_text[i], "");
        if (meta_stages_total(c) != sp->outer_steps)
            return fail(msg, cap, ERR_INVALID_ARGUMENT, "outer_steps must be the sum of the stages' steps%s%s", "", "");
    } else if (c->ewc_lambda != 0 || c->replay != 0 || sp->stage_eval_steps)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "ewc_lambda, replay and stage_eval_steps need stages%s%s", "", "");
    char ck[META_WNAME_MAX];
    if (sp->keep_checkpoints && !meta_spec_checkpoint_name(sp, sp->outer_steps, ck))
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
    /* NAME = <optimizer>.<domain> makes the record that domain's default. */
    int drc = domain_check_record(sp->name, c->optimizer, sp->domain, msg, cap);
    if (drc) return drc;
    uint64_t total = 0;
    int rc = meta_spec_job_bytes(sp, &total, msg, cap);
    if (rc) return rc;
    if (total > META_MAX_JOB_BYTES) {
        char a[32], b2[32];
        snprintf(a, sizeof a, "%.1f", (double)total / (1 << 20));
        snprintf(b2, sizeof b2, "%d", (int)(META_MAX_JOB_BYTES >> 20));
        return fail(msg, cap, ERR_OUT_OF_RANGE, "the particles' paths would take %s MiB, more than the %s MiB a "
                    "meta-training job may use (fewer particles or smaller tasks)", a, b2);
    }
    meta_job *j = NULL;
    rc = meta_job_new(c, NULL, &j);
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
    cJSON_AddStringToObject(o, "task_draw", draw_names[c->task_draw]);
    cJSON_AddStringToObject(o, "objective", objective_names[c->objective]);
    cJSON_AddNumberToObject(o, "ref_lr", c->ref_lr);
    cJSON_AddNumberToObject(o, "outlier_alpha", c->outlier_alpha);
    cJSON_AddNumberToObject(o, "curriculum_steps", (double)c->curriculum_steps);
    cJSON_AddNumberToObject(o, "unroll_start", c->unroll_start);
    cJSON_AddNumberToObject(o, "horizon_max_start", c->horizon_max_start);
    cJSON_AddNumberToObject(o, "mup_base", c->mup_base);
    if (c->heads) cJSON_AddNumberToObject(o, "num_heads", c->heads);
    if (c->seq) cJSON_AddNumberToObject(o, "sequence_length", c->seq);
    if (c->hold_zero_grad >= 0) cJSON_AddNumberToObject(o, "hold_zero_grad", c->hold_zero_grad);
    else cJSON_AddNullToObject(o, "hold_zero_grad");   /* the optimizer's default */
    if (c->trust >= 0) cJSON_AddNumberToObject(o, "trust", c->trust);
    else cJSON_AddNullToObject(o, "trust");
    if (c->memory_reads >= 0) cJSON_AddNumberToObject(o, "memory_reads", c->memory_reads);
    if (c->hypergrad >= 0) cJSON_AddNumberToObject(o, "hypergrad", c->hypergrad);   /* only when set: */
    if (c->anneal >= 0) cJSON_AddNumberToObject(o, "anneal", c->anneal);            /* older configs read as before */
    if (c->film) cJSON_AddNumberToObject(o, "film", 1);   /* only a FiLM run has it */
    if (c->act) cJSON_AddStringToObject(o, "activation", lopt_act_name(c->act));   /* relu: absent, as before */
    if (c->fset) cJSON_AddStringToObject(o, "features", lopt_fset_name(c->fset));   /* full: absent, as before */
    if (c->maml_inner_steps) {
        cJSON_AddNumberToObject(o, "maml_inner_steps", c->maml_inner_steps);
        cJSON_AddNumberToObject(o, "maml_step", c->maml_step > 0 ? c->maml_step : 1.0);
    }
    if (sp->stages_text[0]) {   /* only a staged run has these */
        cJSON_AddStringToObject(o, "stages", sp->stages_text);
        cJSON_AddNumberToObject(o, "ewc_lambda", c->ewc_lambda);
        cJSON_AddNumberToObject(o, "replay", c->replay);
        cJSON_AddNumberToObject(o, "ewc_window", c->ewc_window);
        cJSON_AddNumberToObject(o, "stage_eval_steps", sp->stage_eval_steps);
        cJSON_AddNumberToObject(o, "stage_eval_seeds", sp->stage_eval_seeds);
    }
    cJSON_AddNumberToObject(o, "outer_steps", (double)sp->outer_steps);
    cJSON_AddNumberToObject(o, "checkpoint_every", (double)sp->checkpoint_every);
    cJSON_AddNumberToObject(o, "keep_checkpoints", sp->keep_checkpoints);
    cJSON_AddStringToObject(o, "init_weights", sp->init_weights);
    cJSON_AddStringToObject(o, "domain", sp->domain);
    return o;
}

const char *meta_spec_estimator_name(int estimator)
{
    return estimator >= 0 && estimator < 3 ? estimator_names[estimator] : "?";
}
