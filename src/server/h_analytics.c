/* h_analytics.c — the analytics routes: a session's summary (learning-curve
 * tracker), its downsampled metrics (GET …/metrics with max_points or
 * smooth), several sessions side by side (/v1/compare) and the live event
 * stream (…/events).  Reads only: they flush the buffered analytics and the
 * store's queue first, so that they see every step answered before them. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "app.h"
#include "errors.h"
#include "handlers.h"
#include "jwriter.h"
#include "live.h"
#include "sessions.h"
#include "store.h"

#define MAX_POINTS_DEFAULT 1000
#define MAX_POINTS_LIMIT   10000
#define SUMMARY_BUCKETS    2000
#define COMPARE_MAX_IDS    16

static const char *const col_names[STORE_AN_NCOLS] = {"loss", "grad_norm", "update_norm", "param_norm", "lr",
                                                      "update_cos"};

static session *find_session(req *r, const char *id)
{
    session *s = sessions_get(r->app->reg, id);
    if (s && !r->who.admin && strcmp(session_tenant(s), r->who.tenant) != 0) {
        session_unref(s);
        s = NULL;
    }
    return s;
}

static session *path_session(req *r)
{
    session *s = find_session(r, r->param[0]);
    if (!s) http_resp_error(r, ERR_SESSION_NOT_FOUND, "no session has id %s", r->param[0]);
    return s;
}

/* Query number in [lo, hi]: 0 (absent: *out untouched), or -1 after answering 400. */
static int query_num(req *r, const char *name, double lo, double hi, int integer, double *out)
{
    const char *v = http_req_query(r, name);
    if (!v) return 0;
    char *end;
    double d = strtod(v, &end);
    if (!*v || *end || !isfinite(d) || d < lo || d > hi || (integer && d != floor(d))) {
        http_resp_error(r, ERR_OUT_OF_RANGE, "%s must be %s in [%g, %g]", name, integer ? "an integer" : "a number", lo,
                        hi);
        return -1;
    }
    *out = d;
    return 0;
}

static int flush_all(app *a)
{
    int rc = live_flush(a);
    int e = store_flush(a->db);
    return rc ? rc : e;
}

static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

/* ---- downsampled curves ------------------------------------------------- */

typedef struct curve {
    size_t n, cap;
    int64_t *step, *step_last, *count;
    double *mean[STORE_AN_NCOLS], *min[STORE_AN_NCOLS], *max[STORE_AN_NCOLS];
    int64_t *min_step[STORE_AN_NCOLS], *max_step[STORE_AN_NCOLS];   /* -1: no value in the bucket */
    int err;
} curve;

static void curve_free(curve *c)
{
    free(c->step);
    free(c->step_last);
    free(c->count);
    for (int k = 0; k < STORE_AN_NCOLS; k++) {
        free(c->mean[k]);
        free(c->min[k]);
        free(c->max[k]);
        free(c->min_step[k]);
        free(c->max_step[k]);
    }
    memset(c, 0, sizeof *c);
}

static int curve_row(void *ctx, const store_metric_bucket *b)
{
    curve *c = ctx;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        int ok = 1;
#define GROW(p) do { void *q = realloc((p), cap * sizeof *(p)); if (q) (p) = q; else ok = 0; } while (0)
        GROW(c->step);
        GROW(c->step_last);
        GROW(c->count);
        for (int k = 0; k < STORE_AN_NCOLS; k++) {
            GROW(c->mean[k]);
            GROW(c->min[k]);
            GROW(c->max[k]);
            GROW(c->min_step[k]);
            GROW(c->max_step[k]);
        }
#undef GROW
        if (!ok) { c->err = ERR_NO_MEMORY; return 1; }
        c->cap = cap;
    }
    size_t i = c->n++;
    c->step[i] = b->step_first;
    c->step_last[i] = b->step_last;
    c->count[i] = b->count;
    for (int k = 0; k < STORE_AN_NCOLS; k++) {
        c->mean[k][i] = b->col[k].mean;
        c->min[k][i] = b->col[k].min;
        c->max[k][i] = b->col[k].max;
        c->min_step[k][i] = b->col[k].min_step;
        c->max_step[k][i] = b->col[k].max_step;
    }
    return 0;
}

/* The downsampled curve of steps [from, to] in at most max_points buckets
 * (width: store_metrics_bucket_width, which picks a multiple of a rollup
 * level's width so that the rollup serves it). */
static int load_curve(app *a, const char *id, int64_t from, int64_t to, int64_t max_points, curve *c,
                      int64_t *width, int64_t *count, int64_t *first, int64_t *last)
{
    memset(c, 0, sizeof *c);
    int rc = store_metrics_span(a->db, id, count, first, last);
    if (rc) return rc;
    int64_t lo = from > *first ? from : *first, hi = to < *last ? to : *last;
    *width = store_metrics_bucket_width(lo, hi, max_points);
    if (*count == 0 || lo > hi) return 0;
    rc = store_metrics_downsample(a->db, id, lo, hi, *width, curve_row, c);
    if (!rc && c->err) rc = c->err;
    return rc;
}

/* smooth=ema (beta per step, default 0.9) or smooth=window (window in steps,
 * default 50) over the bucket means of the loss.  NULL when not asked. */
static double *smooth_loss(const curve *c, const char *kind, double beta, double window, int64_t width)
{
    if (!kind || !c->n) return NULL;
    double *out = malloc(c->n * sizeof *out);
    if (!out) return NULL;
    if (strcmp(kind, "ema") == 0) {
        analytics_ema(c->mean[STORE_AN_LOSS], c->n, pow(beta, (double)width), out);
    } else {
        size_t w = (size_t)fmax(1.0, floor(window / (double)width));
        analytics_window_mean(c->mean[STORE_AN_LOSS], c->n, w, out);
    }
    return out;
}

/* ---- the curve as JSON text ---------------------------------------------
 * A curve of 1000 buckets has ~30k numbers; a cJSON node per number, its
 * %g/sscanf round trip and the copies of a growing print buffer were most of
 * the answer's time.  The curve is written straight into one writer instead
 * (jwriter.h): integers and doubles by numfmt (doubles as %.17g would print
 * them: they read back exactly, so min and max stay exact), non-finite as
 * null.  CURVE_TEXT_MAX bounds one answer (10000 buckets of every column
 * are ~8 MB). */

#define CURVE_TEXT_MAX (64u << 20)

/* Appends name (the literal prefix, e.g. ",\"steps\":") and [v0,v1,…]. */
static void curve_i64s(jwriter *w, const char *name, const int64_t *v, size_t n, int minus1_null)
{
    jw_lit(w, name);
    jw_lit(w, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) jw_lit(w, ",");
        if (minus1_null && v[i] < 0) jw_lit(w, "null");
        else jw_i64(w, v[i]);
    }
    jw_lit(w, "]");
}

static void curve_f64s(jwriter *w, const char *name, const double *v, size_t n)
{
    jw_lit(w, name);
    jw_lit(w, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) jw_lit(w, ",");
        jw_num_or_null(w, v[i], 0);
    }
    jw_lit(w, "]");
}

/* The curve's members (steps, steps_last, counts, a CurveStat per column,
 * loss_smooth when given, bucket_width), without the braces. */
static void curve_text(jwriter *w, const curve *c, const double *smooth, int64_t width)
{
    jw_lit(w, "\"bucket_width\":");
    jw_i64(w, width);
    curve_i64s(w, ",\"steps\":", c->step, c->n, 0);
    curve_i64s(w, ",\"steps_last\":", c->step_last, c->n, 0);
    curve_i64s(w, ",\"counts\":", c->count, c->n, 0);
    for (int k = 0; k < STORE_AN_NCOLS; k++) {
        jw_lit(w, ",");
        jw_key(w, col_names[k]);
        curve_f64s(w, "{\"mean\":", c->mean[k], c->n);
        curve_f64s(w, ",\"min\":", c->min[k], c->n);
        curve_f64s(w, ",\"max\":", c->max[k], c->n);
        curve_i64s(w, ",\"min_step\":", c->min_step[k], c->n, 1);
        curve_i64s(w, ",\"max_step\":", c->max_step[k], c->n, 1);
        jw_lit(w, "}");
    }
    if (smooth) curve_f64s(w, ",\"loss_smooth\":", smooth, c->n);
}

/* The curve as a JSON object (a raw cJSON node, to embed in a cJSON tree). */
static cJSON *curve_json(const curve *c, const double *smooth, int64_t width)
{
    jwriter w;
    jw_init(&w, CURVE_TEXT_MAX);
    jw_lit(&w, "{");
    curve_text(&w, c, smooth, width);
    jw_lit(&w, "}");
    char *p = jw_take(&w, NULL);
    if (!p) return NULL;
    cJSON *o = cJSON_CreateRaw(p);
    free(p);
    return o;
}

typedef struct curve_q { int64_t max_points, from, to; const char *smooth; double beta, window; } curve_q;

/* Parses max_points, from, to, smooth, beta, window: 0 or -1 (answered). */
static int parse_curve_q(req *r, curve_q *q, int64_t default_points)
{
    double mp = (double)default_points, from = 0, to = 9e15, beta = 0.9, window = 50;
    if (query_num(r, "max_points", 2, MAX_POINTS_LIMIT, 1, &mp) || query_num(r, "from", 0, 9e15, 1, &from) ||
        query_num(r, "to", 0, 9e15, 1, &to) || query_num(r, "beta", 0, 0.999999, 0, &beta) ||
        query_num(r, "window", 1, 1e9, 1, &window))
        return -1;
    const char *sm = http_req_query(r, "smooth");
    if (sm && strcmp(sm, "ema") != 0 && strcmp(sm, "window") != 0 && strcmp(sm, "none") != 0) {
        http_resp_error(r, ERR_OUT_OF_RANGE, "smooth must be ema, window or none");
        return -1;
    }
    if (from > to) {
        http_resp_error(r, ERR_OUT_OF_RANGE, "from must not exceed to");
        return -1;
    }
    *q = (curve_q){(int64_t)mp, (int64_t)from, (int64_t)to, sm && strcmp(sm, "none") ? sm : NULL, beta, window};
    return 0;
}

/* The downsampled answer as JSON text (malloc'd, *len bytes, NUL-ended):
 * the curve's members, then id (when with_id), total_steps, first_step,
 * last_step and smooth.  NULL with *err on failure. */
static char *curve_answer(app *a, const char *id, const curve_q *q, int with_id, size_t *len, int *err)
{
    curve c;
    int64_t width, count, first, last;
    *err = load_curve(a, id, q->from, q->to, q->max_points, &c, &width, &count, &first, &last);
    if (*err) {
        curve_free(&c);
        return NULL;
    }
    double *sm = smooth_loss(&c, q->smooth, q->beta, q->window, width);
    jwriter w;
    jw_init(&w, CURVE_TEXT_MAX);
    jw_reserve(&w, c.n * 600 + 1024);   /* one allocation for the usual answer */
    jw_lit(&w, "{");
    curve_text(&w, &c, sm, width);
    if (with_id) {
        jw_lit(&w, ",\"id\":");
        jw_cstr(&w, id);
    }
    jw_lit(&w, ",\"total_steps\":");
    jw_i64(&w, count);
    jw_lit(&w, ",\"first_step\":");
    jw_i64(&w, first);
    jw_lit(&w, ",\"last_step\":");
    jw_i64(&w, last);
    if (q->smooth) {
        jw_lit(&w, ",\"smooth\":");
        jw_cstr(&w, q->smooth);
    }
    jw_lit(&w, "}");
    free(sm);
    curve_free(&c);
    *err = jw_error(&w);
    return jw_take(&w, len);
}

void h_analytics_metrics(req *r)
{
    session *s = path_session(r);
    if (!s) return;
    curve_q q;
    if (parse_curve_q(r, &q, MAX_POINTS_DEFAULT) == 0) {
        int rc = flush_all(r->app);
        size_t len = 0;
        char *o = rc ? NULL : curve_answer(r->app, session_id(s), &q, 1, &len, &rc);
        if (o) http_resp_take(r, 200, "application/json", o, len);
        else http_resp_error(r, rc ? rc : ERR_NO_MEMORY, NULL);
    }
    session_unref(s);
}

/* ---- summary ------------------------------------------------------------ */

typedef struct tail { size_t n, cap; int64_t *step; double *loss, *upd, *gn, *lr; int err; } tail;

static int tail_row(void *ctx, const step_metric *m)
{
    tail *t = ctx;
    if (t->n == t->cap) { t->err = 1; return 1; }
    t->step[t->n] = m->step;
    t->loss[t->n] = m->loss;
    t->upd[t->n] = m->update_norm;
    t->gn[t->n] = m->grad_norm;
    t->lr[t->n] = m->lr;
    t->n++;
    return 0;
}

static int last_extra(void *ctx, const store_analytics_row *x)
{
    cJSON *o = ctx;
    cJSON_AddNumberToObject(o, "step", (double)x->step);
    add_num(o, "update_cos", x->update_cos);
    add_num(o, "update_ratio", x->update_ratio);
    add_num(o, "lr_mult", x->lr_mult);
    cJSON *t = x->tensors_json ? cJSON_Parse(x->tensors_json) : NULL;
    if (t) {
        cJSON *arr = cJSON_CreateArray();
        for (cJSON *e = t->child; e; e = e->next) {
            cJSON *row = cJSON_CreateObject();
            cJSON *f = e->child;
            cJSON_AddStringToObject(row, "name", cJSON_IsString(f) ? f->valuestring : "");
            const char *keys[3] = {"grad_norm", "update_norm", "param_norm"};
            for (int k = 0; k < 3 && f; k++) {
                f = f->next;
                add_num(row, keys[k], f && cJSON_IsNumber(f) ? f->valuedouble : NAN);
            }
            cJSON_AddItemToArray(arr, row);
        }
        cJSON_AddItemToObject(o, "tensors", arr);
        cJSON_Delete(t);
    }
    cJSON *e = x->extra_json ? cJSON_Parse(x->extra_json) : NULL;
    if (e) cJSON_AddItemToObject(o, "extra", e);
    return 0;
}

/* The summary of one session as a JSON object; NULL with *err on failure. */
static cJSON *summary_of(app *a, session *s, int window, double rel, int with_curve, int *err)
{
    const char *id = session_id(s);
    cJSON *d = session_describe(s);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    if (d) {
        const char *keys[] = {"name", "optimizer", "status", "step"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            cJSON *v = cJSON_GetObjectItemCaseSensitive(d, keys[i]);
            if (v) cJSON_AddItemToObject(o, keys[i], cJSON_Duplicate(v, 1));
        }
        const opt_vtbl *vt = opt_find(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "optimizer")));
        static const char *const kinds[] = {"classic", "learned", "hybrid"};
        if (vt && (int)vt->kind >= 0 && (int)vt->kind < 3) cJSON_AddStringToObject(o, "kind", kinds[vt->kind]);
        cJSON *ad = cJSON_GetObjectItemCaseSensitive(d, "adapt");
        if (ad) cJSON_AddItemToObject(o, "adapt", cJSON_Duplicate(ad, 1));
        cJSON_Delete(d);
    }
    /* the trend window, raw */
    tail t = {.cap = (size_t)window};
    t.step = malloc(t.cap * sizeof *t.step);
    t.loss = malloc(t.cap * sizeof *t.loss);
    t.upd = malloc(t.cap * sizeof *t.upd);
    t.gn = malloc(t.cap * sizeof *t.gn);
    t.lr = malloc(t.cap * sizeof *t.lr);
    double *ema = malloc(t.cap * sizeof *ema);
    double *work = malloc(ANALYTICS_TREND_WORK(t.cap) * sizeof *work);
    int rc = (!t.step || !t.loss || !t.upd || !t.gn || !t.lr || !ema || !work) ? ERR_NO_MEMORY : 0;
    if (!rc) rc = store_metrics_tail(a->db, id, window, tail_row, &t);
    /* the whole curve, downsampled */
    curve c;
    memset(&c, 0, sizeof c);
    int64_t width = 1, count = 0, first = 0, last = 0;
    if (!rc) rc = load_curve(a, id, 0, INT64_MAX, SUMMARY_BUCKETS, &c, &width, &count, &first, &last);
    if (!rc) {
        cJSON_AddNumberToObject(o, "steps_recorded", (double)count);
        cJSON *cur = cJSON_AddObjectToObject(o, "last");
        if (t.n) {
            size_t i = t.n - 1;
            cJSON_AddNumberToObject(cur, "step", (double)t.step[i]);
            add_num(cur, "loss", t.loss[i]);
            add_num(cur, "grad_norm", t.gn[i]);
            add_num(cur, "update_norm", t.upd[i]);
            add_num(cur, "lr", t.lr[i]);
        }
        store_analytics_last(a->db, id, last_extra, cJSON_AddObjectToObject(o, "last_extras"));
        /* smoothing over the window */
        analytics_ema(t.loss, t.n, 0.9, ema);
        add_num(o, "loss_ema", t.n ? ema[t.n - 1] : NAN);
        double best = NAN;
        for (size_t i = 0; i < c.n; i++)
            if (isfinite(c.min[STORE_AN_LOSS][i]) && !(c.min[STORE_AN_LOSS][i] >= best)) best = c.min[STORE_AN_LOSS][i];
        add_num(o, "best_loss", best);
        /* trend */
        analytics_trend tr;
        analytics_trend_fit(t.step, t.loss, t.n, rel, work, &tr);
        cJSON *tj = cJSON_AddObjectToObject(o, "trend");
        cJSON_AddStringToObject(tj, "label", analytics_trend_name(tr.kind));
        add_num(tj, "confidence", tr.kind == TREND_INSUFFICIENT ? NAN : tr.confidence);
        add_num(tj, "change", tr.change);
        add_num(tj, "slope", tr.slope);
        add_num(tj, "noise", tr.noise);
        add_num(tj, "rise_threshold", tr.rise_threshold);
        cJSON_AddBoolToObject(tj, "log_space", tr.log_space);
        cJSON *pr = cJSON_AddObjectToObject(tj, "p");
        add_num(pr, "improving", tr.p_improving);
        add_num(pr, "plateau", tr.p_plateau);
        add_num(pr, "diverging", tr.p_diverging);
        cJSON_AddNumberToObject(tj, "window", (double)t.n);
        cJSON_AddNumberToObject(tj, "threshold", rel);
        /* convergence speed over the whole curve (bucket means, lightly
         * smoothed), at the buckets' resolution */
        cJSON *cv = cJSON_AddObjectToObject(o, "convergence");
        cJSON_AddNumberToObject(cv, "resolution_steps", (double)width);
        if (c.n) {
            double *sm = malloc(c.n * sizeof *sm);
            if (sm) {
                analytics_window_mean(c.mean[STORE_AN_LOSS], c.n, c.n >= 50 ? 5 : 1, sm);
                static const double fr[] = {0.5, 0.9, 0.99};
                static const char *const names[] = {"steps_to_50pct", "steps_to_90pct", "steps_to_99pct"};
                for (int k = 0; k < 3; k++) {
                    int64_t v = analytics_steps_to_fraction(c.step, sm, c.n, fr[k]);
                    if (v >= 0) cJSON_AddNumberToObject(cv, names[k], (double)v);
                    else cJSON_AddNullToObject(cv, names[k]);
                }
                add_num(cv, "initial_loss", sm[0]);
                free(sm);
            }
        }
        /* stability over the window */
        analytics_stability sb;
        analytics_stability_of(t.step, t.loss, ema, t.upd, t.n, 3.0, &sb);
        cJSON *sj = cJSON_AddObjectToObject(o, "stability");
        add_num(sj, "loss_variance", sb.loss_var);
        add_num(sj, "loss_rel_std", sb.loss_rel_std);
        cJSON_AddNumberToObject(sj, "update_spikes", (double)sb.spikes);
        add_num(sj, "max_update_ratio_to_ema", sb.max_spike);
        if (sb.spike_last_step >= 0) cJSON_AddNumberToObject(sj, "last_spike_step", (double)sb.spike_last_step);
        if (with_curve) {
            double *sm = smooth_loss(&c, "ema", 0.9, 0, width);
            cJSON_AddItemToObject(o, "curve", curve_json(&c, sm, width));
            free(sm);
        }
    }
    curve_free(&c);
    free(t.step);
    free(t.loss);
    free(t.upd);
    free(t.gn);
    free(t.lr);
    free(ema);
    free(work);
    if (rc) {
        cJSON_Delete(o);
        *err = rc;
        return NULL;
    }
    return o;
}

void h_analytics_summary(req *r)
{
    session *s = path_session(r);
    if (!s) return;
    double window = 200, rel = 0.02;
    if (query_num(r, "window", 5, 100000, 1, &window) == 0 && query_num(r, "threshold", 1e-6, 10, 0, &rel) == 0) {
        int rc = flush_all(r->app);
        cJSON *o = rc ? NULL : summary_of(r->app, s, (int)window, rel, 0, &rc);
        if (o) http_resp_json(r, 200, o);
        else http_resp_error(r, rc ? rc : ERR_NO_MEMORY, NULL);
    }
    session_unref(s);
}

/* ---- compare ------------------------------------------------------------ */

void h_analytics_compare(req *r)
{
    const char *ids = http_req_query(r, "ids");
    if (!ids || !*ids) {
        http_resp_error(r, ERR_MISSING_FIELD, "ids is required: a comma-separated list of session ids");
        return;
    }
    curve_q q;
    if (parse_curve_q(r, &q, 500) != 0) return;
    char buf[COMPARE_MAX_IDS * 41 + 1];
    if (strlen(ids) >= sizeof buf) {
        http_resp_error(r, ERR_OUT_OF_RANGE, "at most %d ids", COMPARE_MAX_IDS);
        return;
    }
    strcpy(buf, ids);
    session *ss[COMPARE_MAX_IDS];
    int n = 0, rc = 0;
    /* Every comma-separated id must be non-empty and named once (strtok_r
     * would skip the empty ones of "a,,b" or ",,,"). */
    for (char *tok = buf, *next; tok && !rc; tok = next) {
        next = strchr(tok, ',');
        if (next) *next++ = '\0';
        if (!*tok) {
            http_resp_error(r, ERR_INVALID_ARGUMENT, "ids holds an empty id (a leading, trailing or doubled comma)");
            rc = -1;
            break;
        }
        if (n == COMPARE_MAX_IDS) {
            http_resp_error(r, ERR_OUT_OF_RANGE, "at most %d ids", COMPARE_MAX_IDS);
            rc = -1;
            break;
        }
        for (int i = 0; i < n && !rc; i++)
            if (strcmp(session_id(ss[i]), tok) == 0) {
                http_resp_error(r, ERR_INVALID_ARGUMENT, "ids names session %s twice", tok);
                rc = -1;
            }
        if (rc) break;
        session *s = find_session(r, tok);
        if (!s) {
            http_resp_error(r, ERR_SESSION_NOT_FOUND, "no session has id %s", tok);
            rc = -1;
            break;
        }
        ss[n++] = s;
    }
    if (!rc) rc = flush_all(r->app);
    if (!rc) {
        cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "sessions");
        for (int i = 0; i < n && !rc; i++) {
            cJSON *sum = summary_of(r->app, ss[i], 200, 0.02, 0, &rc);
            size_t len;
            char *cv = sum ? curve_answer(r->app, session_id(ss[i]), &q, 0, &len, &rc) : NULL;
            if (cv) {
                cJSON_AddItemToObject(sum, "curve", cJSON_CreateRaw(cv));
                free(cv);
            }
            if (sum) cJSON_AddItemToArray(arr, sum);
        }
        if (rc) {
            cJSON_Delete(root);
            http_resp_error(r, rc, NULL);
        } else http_resp_json(r, 200, root);
    } else if (rc > 0 || (rc < 0 && !r->status)) {
        http_resp_error(r, rc, NULL);
    }
    for (int i = 0; i < n; i++) session_unref(ss[i]);
}

/* ---- events ------------------------------------------------------------- */

#define EVENT_ID_MAX 9000000000000000LL   /* as the after parameter's range */

/* Last-Event-ID (the step of the last event the client saw) into *after:
 * decimal digits only, at most EVENT_ID_MAX, checked digit by digit before
 * it can overflow (strtod took "1e308" and the cast to int64 was undefined).
 * 0 (absent: *after untouched), or -1 when answered 400 invalid_header. */
static int last_event_id(req *r, double *after)
{
    const char *v = http_req_header(r, "Last-Event-ID");
    if (!v) return 0;
    int64_t x = 0;
    size_t n = 0;
    for (; v[n] >= '0' && v[n] <= '9'; n++) {
        int d = v[n] - '0';
        if (x > (EVENT_ID_MAX - d) / 10) break;
        x = x * 10 + d;
    }
    if (n == 0 || v[n] != '\0') {
        http_resp_error(r, ERR_BAD_HEADER, "Last-Event-ID must be a step number: decimal digits, at most %lld",
                        (long long)EVENT_ID_MAX);
        return -1;
    }
    *after = (double)x;
    return 0;
}

void h_analytics_events(req *r)
{
    session *s = path_session(r);
    if (!s) return;
    double after = -1, backlog = 0;
    if (last_event_id(r, &after) == 0 && query_num(r, "after", 0, 9e15, 1, &after) == 0 &&
        query_num(r, "backlog", 0, 10000, 1, &backlog) == 0) {
        /* Without after: only new steps (backlog rows before the current one
         * when asked).  With after (or Last-Event-ID): every step after it,
         * at most 10000. */
        int64_t from = after >= 0 ? (int64_t)after : -1;
        int nb = after >= 0 ? 10000 : (int)backlog;
        if (from < 0) {
            cJSON *d = session_describe(s);
            double step = d ? cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(d, "step")) : 0;
            cJSON_Delete(d);
            from = isfinite(step) ? (int64_t)step - nb : 0;
            if (from < 0) from = 0;
        }
        int rc = live_stream_open(r, session_live_feed(s), session_id(s), from, nb);
        if (rc) http_resp_error(r, rc, NULL);
    }
    session_unref(s);
}
