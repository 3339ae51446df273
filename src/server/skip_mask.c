/* skip_mask.c — see skip_mask.h. */
#include "skip_mask.h"

#include <stdio.h>
#include <string.h>

#include "errors.h"

/* Marks tensor j; returns 1 when it was not marked yet. */
static int mark(uint8_t *mask, int j)
{
    int fresh = !mask[j];
    mask[j] = 1;
    return fresh;
}

int skip_mask_json(const cJSON *v, const layout *lay, uint8_t *mask, char *msg, size_t cap)
{
    if (!cJSON_IsArray(v)) {
        snprintf(msg, cap, "skip_tensors must be an array of tensor names or indices");
        return ERR_INVALID_ARGUMENT;
    }
    int count = 0;
    for (const cJSON *e = v->child; e; e = e->next) {
        int j = -1;
        if (cJSON_IsString(e)) {
            for (int i = 0; i < lay->ntensors && j < 0; i++)
                if (strcmp(lay->tensors[i].name, e->valuestring) == 0) j = i;
            if (j < 0) {
                snprintf(msg, cap, "skip_tensors names \"%.64s\", which is not a tensor of this session", e->valuestring);
                return ERR_INVALID_ARGUMENT;
            }
        } else if (cJSON_IsNumber(e) && e->valuedouble >= 0 && e->valuedouble < lay->ntensors &&
                   e->valuedouble == (double)(int)e->valuedouble) {
            j = (int)e->valuedouble;
        } else {
            snprintf(msg, cap, "skip_tensors holds something that is neither a tensor name nor an index in [0, %d)",
                     lay->ntensors);
            return ERR_INVALID_ARGUMENT;
        }
        count += mark(mask, j);
    }
    return count;
}

int skip_mask_header(const char *h, const layout *lay, uint8_t *mask, char *msg, size_t cap)
{
    int count = 0;
    const char *p = h;
    while (*p) {
        long long j = 0;
        int digits = 0;
        for (; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 12) j = j * 10 + (*p - '0');
        if (!digits || digits >= 12 || j >= lay->ntensors || (*p && *p != ',') || (*p == ',' && !p[1])) {
            snprintf(msg, cap, SKIP_MASK_HEADER " must be tensor indices in [0, %d) separated by commas, e.g. 0,3",
                     lay->ntensors);
            return ERR_BAD_HEADER;
        }
        count += mark(mask, (int)j);
        if (*p == ',') p++;
    }
    return count;
}
