/* opt_registry.c — the table of every optimizer optirsd serves.
 *
 * One row per optimizer, in the order GET /v1/optimizers lists them.  To add
 * one: declare its vtbl below and append a row.  The table is immutable, so
 * lookups are safe from any thread. */
#include <string.h>

#include "opt.h"

extern const opt_vtbl opt_sgd_vtbl;
extern const opt_vtbl opt_adam_vtbl;
extern const opt_vtbl opt_adamw_vtbl;
extern const opt_vtbl opt_rmsprop_vtbl;
extern const opt_vtbl opt_adagrad_vtbl;
extern const opt_vtbl lopt_mlp_vtbl;
extern const opt_vtbl lopt_lstm_vtbl;
extern const opt_vtbl lopt_gru_vtbl;
extern const opt_vtbl lopt_nnadam_vtbl;
extern const opt_vtbl lopt_attn_vtbl;
extern const opt_vtbl lopt_mem_vtbl;
extern const opt_vtbl opt_hybrid_vtbl;
extern const opt_vtbl lopt_graph_vtbl;
extern const opt_vtbl opt_metasgd_vtbl;   /* src/core/meta/opt_metasgd.c */

static const opt_vtbl *const registry[] = {
    &opt_sgd_vtbl,
    &opt_adam_vtbl,
    &opt_adamw_vtbl,
    &opt_rmsprop_vtbl,
    &opt_adagrad_vtbl,
    &lopt_mlp_vtbl,
    &lopt_lstm_vtbl,
    &lopt_gru_vtbl,
    &lopt_nnadam_vtbl,
    &lopt_attn_vtbl,
    &lopt_mem_vtbl,
    &opt_hybrid_vtbl,
    &lopt_graph_vtbl,
    &opt_metasgd_vtbl,
};

int opt_registry_count(void)
{
    return (int)(sizeof registry / sizeof registry[0]);
}

const opt_vtbl *opt_registry_at(int i)
{
    if (i < 0 || i >= opt_registry_count()) return NULL;
    return registry[i];
}

const opt_vtbl *opt_find(const char *name)
{
    if (!name) return NULL;
    for (int i = 0; i < opt_registry_count(); i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}
