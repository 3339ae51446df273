#include "spec.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt_spec.h"
#include "domain.h"
#include "lopt.h"
#include "errors.h"
#include "f32json.h"
#include "jsonwalk.h"
#include "utf8.h"

#define MAX_TENSORS 4096

typedef struct parse_ctx {
    spec   *sp;
    size_t  max_params;
    int     restoring;
    char   *msg;
    size_t  msgcap;
    int     have_optimizer, have_tensors;
    char    optimizer[OPT_NAME_MAX];
    cJSON  *hyper, *tensors;        /* kept until the optimizer is known */
    cJSON  *groups;                 /* kept until the tensors are known */
    char    schedule[32];
    int     have_schedule;
    float  *params;
    size_t  nparams;
    size_t  body_len;
} parse_ctx;

static int fail(parse_ctx *c, int e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(parse_ctx *c, int e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, c->msgcap, fmt, ap);
    va_end(ap);
    return e;
}

/* Reads an integer field from valuedouble with range and integrality checks. */
static int get_int(parse_ctx *c, const cJSON *v, const char *field, double lo, double hi, int64_t *out)
{
    int rc = jsonwalk_int(v, lo, hi, out);
    if (rc == ERR_NON_FINITE) return fail(c, rc, "%s is not finite", field);
    if (rc == ERR_INVALID_ARGUMENT && !cJSON_IsNumber(v)) return fail(c, rc, "%s must be an integer", field);
    if (rc) return fail(c, ERR_OUT_OF_RANGE, "%s must be an integer in [%.0f, %.0f]", field, lo, hi);
    return 0;
}

static int get_string(parse_ctx *c, const cJSON *v, const char *field, char *out, size_t cap)
{
    if (!cJSON_IsString(v)) return fail(c, ERR_INVALID_ARGUMENT, "%s must be a string", field);
    size_t n = strlen(v->valuestring);
    if (n >= cap) return fail(c, ERR_OUT_OF_RANGE, "%s is longer than %zu bytes", field, cap - 1);
    memcpy(out, v->valuestring, n + 1);
    return 0;
}

static int on_member(void *ctx, const char *key, const char *val, size_t avail, size_t *used)
{
    parse_ctx *c = ctx;
    spec *sp = c->sp;
    if (strcmp(key, "params") == 0) {
        /* Every number takes at least two bytes with its comma: the body
         * bounds the count without a pre-scan. */
        size_t cap = c->body_len / 2 + 1;
        if (cap > c->max_params) cap = c->max_params;
        c->params = malloc((cap ? cap : 1) * sizeof(float));
        if (!c->params) return fail(c, ERR_NO_MEMORY, "out of memory for params");
        int rc = f32json_parse_array(val, avail, c->params, cap, &c->nparams, used);
        if (rc == ERR_NON_FINITE) return fail(c, rc, "params holds a value that is not a finite float32");
        if (rc == ERR_LENGTH_MISMATCH)
            return fail(c, ERR_TOO_MANY_PARAMS, "params has more than %zu values", c->max_params);
        if (rc && jsonwalk_classify(val, avail) == ERR_INVALID_JSON)
            return fail(c, ERR_INVALID_JSON, "params is not well-formed JSON");
        if (rc) return fail(c, ERR_INVALID_ARGUMENT, "params must be an array of numbers");
        return 0;
    }
    cJSON *v = jsonwalk_cjson(val, avail, used);
    if (!v) return fail(c, ERR_INVALID_JSON, "malformed value of \"%s\"", key);
    int rc = 0;
    int64_t iv;
    if (strcmp(key, "optimizer") == 0) {
        rc = get_string(c, v, "optimizer", c->optimizer, sizeof c->optimizer);
        c->have_optimizer = rc == 0;
    } else if (strcmp(key, "hyperparams") == 0) {
        if (!cJSON_IsObject(v)) rc = fail(c, ERR_INVALID_ARGUMENT, "hyperparams must be an object");
        else if (jsonwalk_has_duplicate(v)) rc = fail(c, ERR_INVALID_JSON, "hyperparams names a member twice");
        else { c->hyper = v; v = NULL; }
    } else if (strcmp(key, "schedule") == 0) {
        rc = get_string(c, v, "schedule", c->schedule, sizeof c->schedule);
        c->have_schedule = rc == 0;
    } else if (strcmp(key, "tensors") == 0) {
        if (!cJSON_IsArray(v)) rc = fail(c, ERR_INVALID_ARGUMENT, "tensors must be an array");
        else { c->tensors = v; v = NULL; c->have_tensors = 1; }
    } else if (strcmp(key, "durability") == 0) {
        char d[16];
        rc = get_string(c, v, "durability", d, sizeof d);
        if (!rc && strcmp(d, "step") == 0) sp->dur = DURABILITY_STEP;
        else if (!rc && strcmp(d, "checkpoint") == 0) sp->dur = DURABILITY_CHECKPOINT;
        else if (!rc) rc = fail(c, ERR_OUT_OF_RANGE, "durability must be \"checkpoint\" or \"step\"");
    } else if (strcmp(key, "non_finite") == 0) {
        char d[16];
        rc = get_string(c, v, "non_finite", d, sizeof d);
        if (!rc && strcmp(d, "reject") == 0) sp->non_finite = NON_FINITE_REJECT;
        else if (!rc && strcmp(d, "skip") == 0) sp->non_finite = NON_FINITE_SKIP;
        else if (!rc) rc = fail(c, ERR_OUT_OF_RANGE, "non_finite must be \"reject\" or \"skip\"");
    } else if (strcmp(key, "divergence_factor") == 0) {
        if (!cJSON_IsNumber(v)) rc = fail(c, ERR_INVALID_ARGUMENT, "divergence_factor must be a number");
        else if (!isfinite(v->valuedouble)) rc = fail(c, ERR_NON_FINITE, "divergence_factor is not finite");
        else if (v->valuedouble != 0 && (v->valuedouble < 1 || v->valuedouble > 1e12))
            rc = fail(c, ERR_OUT_OF_RANGE, "divergence_factor must be 0 (off) or in [1, 1e12]");
        else sp->divergence_factor = v->valuedouble;
    } else if (strcmp(key, "workers") == 0) {
        rc = get_int(c, v, "workers", 1, SPEC_MAX_WORKERS, &iv);
        if (!rc) sp->workers = (int)iv;
    } else if (strcmp(key, "total_steps") == 0) {
        rc = get_int(c, v, "total_steps", 0, 1e15, &iv);
        if (!rc) sp->total_steps = iv;
    } else if (strcmp(key, "name") == 0) {
        rc = get_string(c, v, "name", sp->name, sizeof sp->name);
    } else if (strcmp(key, "weights") == 0) {
        rc = get_string(c, v, "weights", sp->weights, sizeof sp->weights);
    } else if (strcmp(key, "domain") == 0) {
        /* Exactly one of the words: no case folding, no trimming. */
        if (!cJSON_IsString(v) || !domain_session_valid(v->valuestring))
            rc = fail(c, ERR_INVALID_ARGUMENT, "domain must be one of %s (lower case)", DOMAIN_SESSION_WORDS);
        else snprintf(sp->domain, sizeof sp->domain, "%s", v->valuestring);
    } else if (strcmp(key, "trial") == 0) {
        /* the form only; study_bind_spec checks that the trial exists and runs */
        if (!cJSON_IsString(v) || !spec_trial_ref_parse(v->valuestring, NULL, 0, NULL))
            rc = fail(c, ERR_INVALID_ARGUMENT, "trial must be \"STUDY/N\" (a study id, a trial number)");
        else snprintf(sp->trial, sizeof sp->trial, "%s", v->valuestring);
    } else if (strcmp(key, "adapt") == 0) {
        rc = adapt_spec_parse(v, &sp->adapt, &sp->learner, c->msg, c->msgcap);
    } else if (strcmp(key, "groups") == 0) {
        c->groups = v;
        v = NULL;
    } else if (strcmp(key, "tags") == 0) {
        rc = spec_tags_check(v, c->msg, c->msgcap);
        if (!rc) { sp->tags = v; v = NULL; }
    } else if (c->restoring && strcmp(key, "id") == 0) {
        rc = get_string(c, v, "id", sp->id, sizeof sp->id);
    } else if (c->restoring && strcmp(key, "tenant") == 0) {
        rc = get_string(c, v, "tenant", sp->tenant, sizeof sp->tenant);
    } else if (c->restoring && strcmp(key, "created_ms") == 0) {
        rc = get_int(c, v, "created_ms", 0, 9e15, &sp->created_ms);
    } else if (c->restoring && strcmp(key, "num_params") == 0) {
        /* derived from tensors */
    } else {
        rc = fail(c, ERR_UNKNOWN_FIELD, "unknown field \"%s\"", key);
    }
    cJSON_Delete(v);
    return rc;
}

int spec_tags_check(const cJSON *v, char *msg, size_t cap)
{
    parse_ctx c0 = {.msg = msg, .msgcap = cap}, *c = &c0;
    if (!cJSON_IsObject(v)) return fail(c, ERR_INVALID_ARGUMENT, "tags must be an object of strings");
    if (jsonwalk_has_duplicate(v)) return fail(c, ERR_INVALID_JSON, "tags names a member twice");
    int n = 0;
    for (const cJSON *t = v->child; t; t = t->next, n++) {
        if (!cJSON_IsString(t) || strlen(t->string) > SPEC_TAG_KEY_MAX || strlen(t->valuestring) > SPEC_TAG_VALUE_MAX)
            return fail(c, ERR_INVALID_ARGUMENT, "tags must map names (<= %d bytes) to strings (<= %d bytes)",
                        SPEC_TAG_KEY_MAX, SPEC_TAG_VALUE_MAX);
        if (n >= SPEC_MAX_TAGS) return fail(c, ERR_OUT_OF_RANGE, "at most %d tags", SPEC_MAX_TAGS);
    }
    return 0;
}

/* The tensor graph (layout.h): each tensor's optional "inputs" (names of
 * other tensors) and "role"; a tensor without "inputs" keeps the default
 * chain (its predecessor), without "role" the role of its shape.  Checked
 * here for names and types, by layout_set_graph for the structure. */
static int parse_graph(parse_ctx *c)
{
    layout *lay = &c->sp->lay;
    int nt = lay->ntensors, declared = 0, rc = 0;
    for (const cJSON *t = c->tensors->child; t; t = t->next)
        if (cJSON_GetObjectItemCaseSensitive(t, "inputs") || cJSON_GetObjectItemCaseSensitive(t, "role"))
            declared = 1;
    if (!declared) return 0;
    int *roles = malloc((size_t)nt * sizeof *roles), *nin = malloc((size_t)nt * sizeof *nin);
    int (*in)[LAYOUT_MAX_INPUTS] = calloc((size_t)nt, sizeof *in);
    if (!roles || !nin || !in) rc = fail(c, ERR_NO_MEMORY, "out of memory");
    int i = 0;
    for (const cJSON *t = c->tensors->child; !rc && t; t = t->next, i++) {
        const layout_tensor *lt = &lay->tensors[i];
        roles[i] = lt->role;
        nin[i] = lt->ninputs;
        memcpy(in[i], lt->inputs, sizeof in[i]);
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(t, "role");
        if (r) {
            roles[i] = cJSON_IsString(r) ? layout_role_from_name(r->valuestring) : -1;
            if (roles[i] < 0) {
                rc = fail(c, ERR_INVALID_ARGUMENT,
                          "tensors[%d].role must be one of \"weight\", \"bias\", \"embedding\", \"norm\", \"other\"", i);
                break;
            }
        }
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(t, "inputs");
        if (!a) continue;
        if (!cJSON_IsArray(a)) {
            rc = fail(c, ERR_INVALID_ARGUMENT, "tensors[%d].inputs must be an array of tensor names", i);
            break;
        }
        int k = cJSON_GetArraySize(a);
        if (k > LAYOUT_MAX_INPUTS) {
            rc = fail(c, ERR_OUT_OF_RANGE, "tensors[%d].inputs lists %d tensors, above the limit of %d", i, k,
                      LAYOUT_MAX_INPUTS);
            break;
        }
        nin[i] = k;
        k = 0;
        for (const cJSON *x = a->child; !rc && x; x = x->next, k++) {
            if (!cJSON_IsString(x)) {
                rc = fail(c, ERR_INVALID_ARGUMENT, "tensors[%d].inputs[%d] must be a tensor name", i, k);
                break;
            }
            if (!utf8_valid(x->valuestring, strlen(x->valuestring))) {
                rc = fail(c, ERR_INVALID_UTF8, "tensors[%d].inputs[%d] is not valid UTF-8", i, k);
                break;
            }
            int j = 0;
            while (j < nt && strcmp(lay->tensors[j].name, x->valuestring) != 0) j++;
            if (j == nt)
                rc = fail(c, ERR_INVALID_ARGUMENT, "tensors[%d].inputs[%d] names \"%.64s\", which is no tensor of the session",
                          i, k, x->valuestring);
            else if (j == i)
                rc = fail(c, ERR_INVALID_ARGUMENT, "tensors[%d].inputs names the tensor itself (a self-loop)", i);
            for (int q = 0; !rc && q < k; q++)
                if (in[i][q] == j)
                    rc = fail(c, ERR_INVALID_ARGUMENT, "tensors[%d].inputs names \"%.64s\" twice", i, x->valuestring);
            in[i][k] = j;
        }
    }
    if (!rc) {
        int bad;
        rc = layout_set_graph(lay, roles, nin, (const int (*)[LAYOUT_MAX_INPUTS])in, &bad);
        if (rc == ERR_NO_MEMORY) fail(c, rc, "out of memory");
        else if (rc && bad < 0 && rc == ERR_OUT_OF_RANGE)
            fail(c, rc, "the tensors' inputs make more than %d edges", LAYOUT_MAX_EDGES);
        else if (rc && bad < 0) fail(c, rc, "the tensors' inputs make a cycle (the graph must be acyclic)");
        else if (rc) fail(c, rc, "tensors[%d] has an invalid graph entry", bad);
    }
    free(roles);
    free(nin);
    free(in);
    return rc;
}

int spec_tensors_parse(const cJSON *tensors, size_t max_params, int allow_graph, layout *lay, char *msg,
                       size_t cap)
{
    parse_ctx ctx = {.msg = msg, .msgcap = cap}, *c = &ctx;
    int nt = cJSON_GetArraySize(tensors);
    if (nt < 1 || nt > MAX_TENSORS)
        return fail(c, ERR_INVALID_SHAPE, "tensors must list 1 to %d tensors", MAX_TENSORS);
    const char **names = calloc((size_t)nt, sizeof *names);
    int *ndims = calloc((size_t)nt, sizeof *ndims);
    int64_t (*shapes)[LAYOUT_MAX_DIMS] = calloc((size_t)nt, sizeof *shapes);
    int rc = (!names || !ndims || !shapes) ? fail(c, ERR_NO_MEMORY, "out of memory") : 0;
    int i = 0;
    for (const cJSON *t = tensors->child; !rc && t; t = t->next, i++) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(t, "name");
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(t, "shape");
        if (cJSON_IsObject(t) && jsonwalk_has_duplicate(t)) {
            rc = fail(c, ERR_INVALID_JSON, "tensors[%d] names a member twice", i);
            break;
        }
        if (!cJSON_IsObject(t) || !sh) {
            rc = fail(c, ERR_INVALID_SHAPE, "tensors[%d] must be an object with a shape", i);
            break;
        }
        for (const cJSON *f = t->child; f; f = f->next)
            if (strcmp(f->string, "name") != 0 && strcmp(f->string, "shape") != 0 &&
                (!allow_graph || (strcmp(f->string, "inputs") != 0 && strcmp(f->string, "role") != 0))) {
                rc = fail(c, ERR_UNKNOWN_FIELD, "unknown field \"%s\" in tensors[%d]", f->string, i);
                break;
            }
        if (rc) break;
        if (nm && (!cJSON_IsString(nm) || !*nm->valuestring || strlen(nm->valuestring) >= LAYOUT_NAME_MAX)) {
            rc = fail(c, ERR_INVALID_ARGUMENT, "tensors[%d].name must be a string of 1 to %d bytes", i,
                      LAYOUT_NAME_MAX - 1);
            break;
        }
        names[i] = nm ? nm->valuestring : NULL;
        for (int j = 0; j < i && names[i]; j++)
            if (names[j] && strcmp(names[j], names[i]) == 0)
                rc = fail(c, ERR_INVALID_ARGUMENT, "tensor name \"%s\" appears twice", names[i]);
        if (rc) break;
        int nd = cJSON_IsArray(sh) ? cJSON_GetArraySize(sh) : -1;
        if (nd < 1 || nd > LAYOUT_MAX_DIMS) {
            rc = fail(c, ERR_INVALID_SHAPE, "tensors[%d].shape must be an array of 1 to %d dimensions", i,
                      LAYOUT_MAX_DIMS);
            break;
        }
        ndims[i] = nd;
        int d = 0;
        for (const cJSON *x = sh->child; x; x = x->next, d++) {
            if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble) || x->valuedouble != floor(x->valuedouble) ||
                x->valuedouble < 1 || x->valuedouble > 4e18) {
                rc = fail(c, ERR_INVALID_SHAPE, "tensors[%d].shape[%d] must be a positive integer", i, d);
                break;
            }
            shapes[i][d] = (int64_t)x->valuedouble;
        }
    }
    if (!rc) {
        /* Unnamed tensors are called t0, t1, …; the names live in the layout. */
        char (*auto_names)[16] = calloc((size_t)nt, sizeof *auto_names);
        if (!auto_names) rc = fail(c, ERR_NO_MEMORY, "out of memory");
        for (int k = 0; !rc && k < nt; k++)
            if (!names[k]) {
                snprintf(auto_names[k], sizeof auto_names[k], "t%d", k);
                names[k] = auto_names[k];
            }
        /* An explicit name may clash with an automatic one. */
        for (int a = 0; !rc && a < nt; a++)
            for (int b = a + 1; !rc && b < nt; b++)
                if (strcmp(names[a], names[b]) == 0)
                    rc = fail(c, ERR_INVALID_ARGUMENT,
                              "tensor name \"%s\" appears twice (unnamed tensors are called t<index>)", names[a]);
        if (!rc) {
            rc = layout_init(lay, nt, names, ndims, (const int64_t(*)[LAYOUT_MAX_DIMS])shapes,
                             max_params);
            if (rc == ERR_TOO_MANY_PARAMS)
                fail(c, rc, "the tensors hold more than the limit of %zu parameters", max_params);
            else if (rc == ERR_INVALID_ARGUMENT)
                fail(c, rc, "two tensors have the same name (unnamed tensors are called t<index>)");
            else if (rc)
                rc = fail(c, ERR_INVALID_SHAPE, "a tensor shape is empty, zero, negative or too large");
        }
        free(auto_names);
    }
    free(names);
    free(ndims);
    free(shapes);
    return rc;
}

static int parse_tensors(parse_ctx *c)
{
    int rc = spec_tensors_parse(c->tensors, c->max_params, 1, &c->sp->lay, c->msg, c->msgcap);
    return rc ? rc : parse_graph(c);
}

/* Whether the request set hyperparameter `name` to something other than its
 * default (a full description, as GET or an export gives it, names every
 * hyperparameter at its default). */
static int hyper_given(const parse_ctx *c, const char *name)
{
    const opt_vtbl *vt = opt_find(c->sp->ocfg.name);
    int i = opt_hparam_index(vt, name);
    const hparam_def *def = i >= 0 ? opt_hparam_at(vt, i) : NULL;
    return c->hyper && cJSON_GetObjectItemCaseSensitive(c->hyper, name) != NULL && def &&
           c->sp->ocfg.hp[i] != def->def;
}

/* Combinations that would be accepted and then do nothing (a schedule
 * without what it needs, a hyperparameter its schedule never reads) are
 * refused: a request means what it says or fails.  Checked on create only:
 * a stored session is restored as it was. */
static int check_combinations(parse_ctx *c)
{
    const opt_config *o = &c->sp->ocfg;
    const char *sched = opt_schedule_name(o->schedule);
    double warmup = o->hp[HP_WARMUP_STEPS];
    if (o->schedule == SCHEDULE_COSINE && c->sp->total_steps <= 0)
        return fail(c, ERR_MISSING_FIELD, "schedule cosine needs total_steps (the step where lr reaches "
                    "lr * min_lr_ratio)");
    if (o->schedule == SCHEDULE_COSINE && (double)c->sp->total_steps <= warmup)
        return fail(c, ERR_OUT_OF_RANGE, "schedule cosine needs total_steps (%lld) above warmup_steps (%g)",
                    (long long)c->sp->total_steps, warmup);
    if (o->schedule == SCHEDULE_STEP && o->hp[HP_DECAY_STEPS] <= 0)
        return fail(c, ERR_MISSING_FIELD, "schedule step needs hyperparams.decay_steps > 0 (lr is multiplied "
                    "by decay_rate every decay_steps steps)");
    if (o->schedule == SCHEDULE_LINEAR_WARMUP && warmup <= 0)
        return fail(c, ERR_MISSING_FIELD, "schedule linear_warmup needs hyperparams.warmup_steps > 0");
    if (o->schedule != SCHEDULE_COSINE && hyper_given(c, "min_lr_ratio"))
        return fail(c, ERR_INVALID_ARGUMENT, "min_lr_ratio acts only with schedule cosine (the schedule is %s)",
                    sched);
    if (c->sp->weights[0] && !opt_find(o->name)->weights_arch)
        return fail(c, ERR_INVALID_ARGUMENT, "optimizer %s reads no weights record, so weights chooses nothing: drop "
                    "it or use a learned optimizer", o->name);
    if (o->schedule != SCHEDULE_STEP && (hyper_given(c, "decay_steps") || hyper_given(c, "decay_rate")))
        return fail(c, ERR_INVALID_ARGUMENT, "decay_steps and decay_rate act only with schedule step (the "
                    "schedule is %s)", sched);
    return 0;
}

/* A hyperparameter whose values are names (opt.h's hparam_enum, e.g.
 * mlp_lopt's activation): h must be one of the names, as a string.  0 or
 * ERR_OUT_OF_RANGE naming the allowed values. */
static int set_named_hyper(parse_ctx *c, const cJSON *h)
{
    const opt_vtbl *vt = opt_find(c->optimizer);
    int i = opt_hparam_index(vt, h->string);
    int k = cJSON_IsString(h) ? opt_hparam_value_index(vt, i, h->valuestring) : -1;
    if (k >= 0) return opt_config_set(&c->sp->ocfg, h->string, k);
    char allowed[160] = "";
    size_t off = 0;
    for (const char *const *v = opt_hparam_values(vt, i); *v && off < sizeof allowed; v++) {
        int w = snprintf(allowed + off, sizeof allowed - off, "%s%s", off ? ", " : "", *v);
        off += w > 0 ? (size_t)w : 0;   /* snprintf's would-be length: clamp below */
    }
    return fail(c, ERR_OUT_OF_RANGE, "hyperparameter %s must be one of %s (a string)", h->string, allowed);
}

int spec_parse(spec *sp, const char *body, size_t len, size_t max_params, int restoring, char *msg,
               size_t msgcap)
{
    memset(sp, 0, sizeof *sp);
    sp->workers = 1;
    sp->dur = DURABILITY_CHECKPOINT;
    adapt_config_defaults(&sp->adapt);
    online_es_config_defaults(&sp->learner);
    parse_ctx c = {.sp = sp, .max_params = max_params, .restoring = restoring, .msg = msg,
                   .msgcap = msgcap, .body_len = len};
    msg[0] = '\0';
    int rc = jsonwalk_object(body, len, on_member, &c, msg, msgcap);
    if (!rc && !c.have_optimizer) rc = fail(&c, ERR_MISSING_FIELD, "optimizer is required");
    if (!rc && !c.have_tensors) rc = fail(&c, ERR_MISSING_FIELD, "tensors is required");
    if (!rc && opt_config_defaults(&sp->ocfg, c.optimizer) != 0)
        rc = fail(&c, ERR_UNKNOWN_OPTIMIZER, "unknown optimizer \"%s\" (GET /v1/optimizers lists them)",
                  c.optimizer);
    for (cJSON *h = c.hyper ? c.hyper->child : NULL; !rc && h; h = h->next) {
        if (opt_hparam_values(opt_find(c.optimizer), opt_hparam_index(opt_find(c.optimizer), h->string))) {
            rc = set_named_hyper(&c, h);
            continue;
        }
        /* a name the optimizer lacks is that, whatever its value (a string included) */
        int e = opt_hparam_index(opt_find(c.optimizer), h->string) < 0 ? ERR_UNKNOWN_HYPERPARAM : 0;
        if (!e && !cJSON_IsNumber(h)) {
            rc = fail(&c, ERR_INVALID_ARGUMENT, "hyperparameter %s must be a number", h->string);
            break;
        }
        if (!e) e = opt_config_set(&sp->ocfg, h->string, h->valuedouble);
        const hparam_def *def = opt_hparam_at(opt_find(c.optimizer),
                                               opt_hparam_index(opt_find(c.optimizer), h->string));
        if (e == ERR_UNKNOWN_HYPERPARAM)
            rc = fail(&c, e, "optimizer %s has no hyperparameter \"%s\"", c.optimizer, h->string);
        else if (e == ERR_NON_FINITE)
            rc = fail(&c, e, "hyperparameter %s is not finite", h->string);
        else if (e && def)
            rc = fail(&c, ERR_OUT_OF_RANGE, "hyperparameter %s = %g is outside %s%g, %g%s%s", h->string,
                      h->valuedouble, def->min_open ? "(" : "[", def->min, def->max, def->max_open ? ")" : "]",
                      def->integer ? " (an integer)" : "");
        else if (e)
            rc = fail(&c, e, "hyperparameter %s is invalid", h->string);
    }
    if (!rc && sp->domain[0] && !opt_find(c.optimizer)->weights_arch)
        rc = fail(&c, ERR_INVALID_ARGUMENT,
                  "optimizer %s has no weights records, so domain chooses nothing: drop it or use a learned optimizer",
                  c.optimizer);
    /* a FiLM record's row (lopt.h): the domain's; 0 without one (the trunk). A plain record ignores it. */
    if (!rc) sp->ocfg.film_row = lopt_film_row(sp->domain);
    if (!rc) rc = adapt_spec_check_kind(&sp->adapt, &sp->learner, opt_find(c.optimizer), msg, msgcap);
    if (!rc && c.have_schedule) {
        int k = opt_schedule_parse(c.schedule);
        if (k < 0)
            rc = fail(&c, ERR_OUT_OF_RANGE,
                      "schedule must be one of constant, linear_warmup, cosine, step; got \"%s\"", c.schedule);
        else sp->ocfg.schedule = (schedule_kind)k;
    }
    if (!rc) {
        sp->ocfg.total_steps = sp->total_steps;
        if (!restoring) rc = check_combinations(&c);
    }
    if (!rc) rc = parse_tensors(&c);
    if (!rc && !restoring && opt_find(sp->ocfg.name)->check) {
        char why[256];
        int e = opt_find(sp->ocfg.name)->check(&sp->ocfg, &sp->lay, why, sizeof why);
        if (e) rc = fail(&c, e, "%s", why);
    }
    if (!rc && c.params) {
        if (c.nparams != sp->lay.n)
            rc = fail(&c, ERR_LENGTH_MISMATCH, "params has %zu values but the tensors hold %zu", c.nparams,
                      sp->lay.n);
        else { sp->params = c.params; c.params = NULL; }
    }
    if (!rc && c.groups) {
        int dup = 0;
        for (const cJSON *g = c.groups->child; g && !dup; g = g->next) dup = cJSON_IsObject(g) && jsonwalk_has_duplicate(g);
        rc = dup ? fail(&c, ERR_INVALID_JSON, "a group names a member twice")
                 : groups_parse(c.groups, &sp->ocfg, &sp->lay, &sp->groups, msg, msgcap);
    }
    if (!rc && sp->groups.n && (sp->adapt.lr != ADAPT_LR_NONE || sp->learner.enabled))
        rc = fail(&c, ERR_INVALID_ARGUMENT, "groups and adapt do not combine");
    cJSON_Delete(c.groups);
    cJSON_Delete(c.hyper);
    cJSON_Delete(c.tensors);
    free(c.params);
    if (rc) spec_deinit(sp);
    return rc;
}

void spec_deinit(spec *sp)
{
    layout_deinit(&sp->lay);
    groups_deinit(&sp->groups);
    cJSON_Delete(sp->tags);
    free(sp->params);
    sp->tags = NULL;
    sp->params = NULL;
}

int spec_trial_ref_parse(const char *ref, char *study, size_t cap, int64_t *number)
{
    const char *slash = strchr(ref, '/');
    size_t n = slash ? (size_t)(slash - ref) : 0;
    if (n < 1 || n > 64 || (study && n >= cap)) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = ref[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_'))
            return 0;
    }
    const char *d = slash + 1;
    size_t nd = strlen(d);
    if (nd < 1 || nd > 16) return 0;
    int64_t v = 0;
    for (size_t i = 0; i < nd; i++) {
        if (d[i] < '0' || d[i] > '9') return 0;
        v = v * 10 + (d[i] - '0');
    }
    if (v > 9007199254740992LL) return 0;
    if (study) {
        memcpy(study, ref, n);
        study[n] = '\0';
    }
    if (number) *number = v;
    return 1;
}

cJSON *spec_hparams_json(const opt_config *oc, int omit_record_shape)
{
    const opt_vtbl *vt = opt_find(oc->name);
    cJSON *hp = vt ? cJSON_CreateObject() : NULL;
    if (!hp) return NULL;
    for (int i = 0; i < opt_hparam_count(vt); i++) {
        const char *name = opt_hparam_at(vt, i)->name, *named = opt_hparam_value_name(vt, i, oc->hp[i]);
        if (omit_record_shape && lopt_shape_hp(oc->name, name)) continue;
        cJSON *v = named ? cJSON_CreateString(named) : jsonwalk_exact_number(oc->hp[i]);
        if (!v || !cJSON_AddItemToObject(hp, name, v)) {
            cJSON_Delete(v);
            cJSON_Delete(hp);
            return NULL;
        }
    }
    return hp;
}

cJSON *spec_to_json(const spec *sp)
{
    cJSON *o = cJSON_CreateObject(), *hp = spec_hparams_json(&sp->ocfg, 0);
    if (!o || !hp || !cJSON_AddStringToObject(o, "optimizer", sp->ocfg.name) ||
        !cJSON_AddItemToObject(o, "hyperparams", hp)) {
        cJSON_Delete(o);
        cJSON_Delete(hp);   /* not yet o's */
        return NULL;
    }
    cJSON_AddStringToObject(o, "schedule", opt_schedule_name(sp->ocfg.schedule));
    if (sp->weights[0]) cJSON_AddStringToObject(o, "weights", sp->weights);
    if (sp->domain[0]) cJSON_AddStringToObject(o, "domain", sp->domain);
    if (sp->trial[0]) cJSON_AddStringToObject(o, "trial", sp->trial);
    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    for (int i = 0; i < sp->lay.ntensors; i++) {
        const layout_tensor *t = &sp->lay.tensors[i];
        cJSON *tj = cJSON_CreateObject();
        cJSON_AddStringToObject(tj, "name", t->name);
        cJSON *sh = cJSON_AddArrayToObject(tj, "shape");
        for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
        if (sp->lay.graph_declared) {   /* the graph as declared, defaults filled in */
            cJSON *in = cJSON_AddArrayToObject(tj, "inputs");
            for (int k = 0; k < t->ninputs; k++)
                cJSON_AddItemToArray(in, cJSON_CreateString(sp->lay.tensors[t->inputs[k]].name));
            cJSON_AddStringToObject(tj, "role", layout_role_name(t->role));
        }
        cJSON_AddItemToArray(ts, tj);
    }
    if (sp->groups.n) cJSON_AddItemToObject(o, "groups", groups_to_json(&sp->groups, &sp->ocfg, &sp->lay));
    cJSON_AddNumberToObject(o, "num_params", (double)sp->lay.n);
    cJSON_AddStringToObject(o, "durability", sp->dur == DURABILITY_STEP ? "step" : "checkpoint");
    cJSON_AddStringToObject(o, "non_finite", sp->non_finite == NON_FINITE_SKIP ? "skip" : "reject");
    cJSON_AddNumberToObject(o, "divergence_factor", sp->divergence_factor);
    cJSON_AddNumberToObject(o, "workers", sp->workers);
    cJSON_AddNumberToObject(o, "total_steps", (double)sp->total_steps);
    cJSON_AddStringToObject(o, "name", sp->name);
    cJSON_AddItemToObject(o, "tags", sp->tags ? cJSON_Duplicate(sp->tags, 1) : cJSON_CreateObject());
    cJSON *ad = adapt_spec_json(&sp->adapt, &sp->learner);
    if (ad) cJSON_AddItemToObject(o, "adapt", ad);
    return o;
}
