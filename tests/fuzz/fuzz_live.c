/* fuzz_live.c — libFuzzer target for the event-stream and step-analytics
 * formatters: a step's tensors JSON as the store's writer thread formats it
 * (store_step_extras_json, storage/store_extras.c) and live_format_event, the
 * code of issue 13's finding 1 (a heap overflow on tensor names of quotes
 * and backslashes).  The input gives up to ANALYTICS_MAX_TENSORS tensor
 * names (cut at 0xFF, each up to 63 bytes: quotes, backslashes, control
 * bytes, invalid UTF-8 — whatever) and the bit patterns of every figure.
 * Oracles: the sanitizers; both texts stay within their limits and are
 * valid UTF-8; the tensors parse back with cJSON into one [name, g, u, p]
 * row per tensor, with each name that is valid UTF-8 returned exactly and
 * non-finite figures as null; the event's data line parses too. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "analytics.h"
#include "live.h"
#include "store.h"
#include "utf8.h"

static double take(const uint8_t **d, size_t *n)
{
    double v = 0;
    if (*n >= 8) {
        memcpy(&v, *d, 8);
        *d += 8;
        *n -= 8;
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static layout_tensor lt[ANALYTICS_MAX_TENSORS];
    memset(lt, 0, sizeof lt);
    size_t i = 0;
    int nt = 0;
    while (i < size && nt < ANALYTICS_MAX_TENSORS && data[i] != 0xFE) {
        size_t j = i;
        while (j < size && data[j] != 0xFF && data[j] != 0xFE) j++;
        size_t k = j - i < LAYOUT_NAME_MAX - 1 ? j - i : LAYOUT_NAME_MAX - 1;
        memcpy(lt[nt].name, data + i, k);   /* a NUL byte shortens the name, as in C */
        nt++;
        i = j < size && data[j] == 0xFF ? j + 1 : j;
    }
    if (i < size && data[i] == 0xFE) i++;
    if (nt == 0) return 0;
    const uint8_t *d = data + i;
    size_t n = size - i;
    layout lay = {.ntensors = nt, .tensors = lt, .n = (size_t)nt};
    analytics_step x = {.ntensors = nt};
    for (int t = 0; t < nt; t++) {
        x.grad[t] = take(&d, &n);
        x.update[t] = take(&d, &n);
        x.param[t] = take(&d, &n);
    }
    store_step_extras ex = {.stats = &x, .lay = &lay};
    char *tj = NULL, *ej = NULL;
    if (store_step_extras_json(&ex, &tj, &ej) != 0) return 0;   /* out of memory */
    if (!tj || ej) abort();   /* 64 names of 63 bytes escaped fit in STORE_TENSORS_JSON_MAX */
    size_t tl = strlen(tj);
    if (tl > STORE_TENSORS_JSON_MAX || !utf8_valid(tj, tl)) abort();
    cJSON *v = cJSON_Parse(tj);
    if (!v || cJSON_GetArraySize(v) != nt) abort();
    int t = 0;
    for (cJSON *row = v->child; row; row = row->next, t++) {
        if (cJSON_GetArraySize(row) != 4 || !cJSON_IsString(row->child)) abort();
        const char *nm = lt[t].name;
        if (utf8_valid(nm, strlen(nm)) && strcmp(row->child->valuestring, nm) != 0) abort();
        const double f[3] = {x.grad[t], x.update[t], x.param[t]};
        int j = 0;
        for (cJSON *e = row->child->next; e; e = e->next, j++)
            if (isfinite(f[j]) ? !cJSON_IsNumber(e) : !cJSON_IsNull(e)) abort();
    }
    cJSON_Delete(v);
    free(tj);
    step_metric m = {.step = nt, .time_ms = 1};
    double *fig[] = {&m.loss, &m.grad_norm, &m.update_norm, &m.param_norm, &m.lr};
    for (size_t f = 0; f < sizeof fig / sizeof fig[0]; f++) *fig[f] = take(&d, &n);
    double ucos = take(&d, &n), ratio = take(&d, &n), mult = take(&d, &n);
    char *ev = live_format_event(&m, ucos, ratio, mult);
    if (!ev) abort();
    size_t el = strlen(ev);
    if (el > LIVE_EVENT_MAX || !utf8_valid(ev, el)) abort();
    char *data_line = strstr(ev, "\ndata: ");
    if (!data_line || el < 2 || strcmp(ev + el - 2, "\n\n") != 0) abort();
    data_line += 7;
    cJSON *o = cJSON_ParseWithLength(data_line, (size_t)(ev + el - 2 - data_line));
    if (!o || !cJSON_IsObject(o)) abort();
    cJSON_Delete(o);
    free(ev);
    return 0;
}
