/* meta_weights.h — the weights registry: learned-optimizer weights records
 * of the store, published into core's named-weights table (lopt_registry).
 *
 * Every stored record (name, version) is in core's table as "name@version",
 * and the newest version of each name as "name" too.  A few-shot record
 * (arch maml, fomaml, meta_sgd or reptile: fewshot_run.h) goes into core's
 * few-shot table (fewshot_record.h) the same way, under the same lock.  meta_weights_bootstrap
 * inserts the built-in weights into a database that has no record of their
 * name and loads every record; the daemon calls it before restoring sessions.
 *
 * The registry owns the lock of core's table: every change of the table
 * holds it (meta_weights_publish takes it), and so does every reader that
 * builds from the table (opt_init of a learned optimizer, budget_session_bytes,
 * a meta-job's init_weights): call meta_weights_lock / meta_weights_unlock
 * around them.  The lock is not recursive.
 *
 * Thread rules: any thread. */
#ifndef OPTIRS_META_WEIGHTS_H
#define OPTIRS_META_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "meta_spec.h"
#include "store.h"

/* Holds / releases the lock of core's named-weights table. */
void   meta_weights_lock(void);
void   meta_weights_unlock(void);

/* Inserts built-in weights missing from the store, then loads every record
 * into core's table.  Returns the number of records loaded, or an ERR_*. */
int    meta_weights_bootstrap(store *db);
/* Decodes a stored record's blob and publishes it (see above).  0 or ERR_*.
 * Takes the lock. */
int    meta_weights_publish(const store_weights_row *w);
/* "name" or "name@version" → name and version (0 = newest).  0 or
 * ERR_INVALID_ARGUMENT. */
int    meta_weights_parse_ref(const char *ref, char *name, size_t cap, int64_t *version);
/* A record of `arch` may be stored under `name`: 0 when no record has the
 * name or the newest one is of the same kind (a few-shot method, or a
 * learned optimizer), else ERR_INVALID_ARGUMENT with a message — a name
 * never holds both kinds, whose consumers (/init and meta_sgd sessions;
 * learned-optimizer sessions) read only their own.  ERR_STORAGE when the
 * store cannot be read. */
int    meta_weights_check_kind(store *db, const char *name, const char *arch, char *msg, size_t cap);
/* 1 when `name` is a valid record name. */
int    meta_weights_valid_name(const char *name);
/* The record as JSON (metadata, no blob); the caller frees it.  When the
 * row carries its blob, an mlp_lopt record's architecture also names its
 * activation and feature set (lopt.h), which the store's columns do not hold. */
cJSON *meta_weights_to_json(const store_weights_row *w);
/* A record's evaluation JSON ({suite: {figures…, tasks: […]}, …}) without its
 * arrays and nested objects: each suite's headline figures.  NULL when the
 * record has no evaluation ("{}" or not an object); the caller frees it. */
cJSON *meta_weights_eval_summary(const char *eval_json);

#endif
