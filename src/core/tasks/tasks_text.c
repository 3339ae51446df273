/* tasks_text.c — the text of a byte-level language-model family: loaded
 * through the task's data source, split 90% / 10%, mapped to a dense
 * vocabulary; see tasks_internal.h. */
#include <stdlib.h>

#include "errors.h"
#include "tasks_internal.h"

int tasks_text_load(task *t, const char *family, size_t min_part, tasks_text *out)
{
    const task_data *src = tasks_data(t, family);
    if (!src || !src->text) return ERR_NOT_FOUND;
    const char *path = t->p.data_path ? t->p.data_path : "the default text";
    uint8_t *raw;
    size_t n;
    int rc = src->text(src->ctx, t->p.data_path, &raw, &n);
    if (rc) return rc;
    size_t n_train = n / 10 * 9 + n % 10 * 9 / 10;   /* floor(0.9 n) without overflow */
    if (n_train < min_part || n - n_train < min_part) {
        free(raw);
        tasks_set_error("%s: %s is too short: both parts need %zu bytes", family, path, min_part);
        return ERR_OUT_OF_RANGE;
    }
    int map[256], V = 0;
    for (int i = 0; i < 256; i++) map[i] = -1;
    for (size_t i = 0; i < n; i++) map[raw[i]] = 1;
    for (int i = 0; i < 256; i++) if (map[i] == 1) map[i] = V++;
    for (size_t i = 0; i < n; i++) raw[i] = (uint8_t)map[raw[i]];
    out->text = raw;
    out->n = n;
    out->n_train = n_train;
    out->vocab = V;
    return 0;
}
