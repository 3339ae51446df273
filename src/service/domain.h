/* domain.h — the domains of learned-optimizer weights records, and how a
 * session's "domain" picks its record.
 *
 * Vocabulary.  A session may ask for one of the task families' domains
 * (src/core/tasks/tasks.h): "vision", "text", "tabular", "synthetic" —
 * lower case, exactly; nothing is folded or trimmed.  A weights record
 * carries one of those or "mixed" (meta-trained on tasks of several
 * domains: the general records are).
 *
 * Domain defaults.  The record named "<arch>.<domain>" (e.g.
 * "mlp_lopt.vision"; <arch> a learned optimizer, <domain> a session
 * domain) is that optimizer's default for that domain; its newest version
 * is the one a session gets.  Such a name is a promise: a record of that
 * name must be of architecture <arch> and carry domain <domain>
 * (domain_check_record; meta-training and the weights upload refuse
 * anything else).  The general default stays the record named after the
 * optimizer ("mlp_lopt").
 *
 * Sessions (domain_resolve).  With "domain" and no "weights" a session gets
 * "<arch>.<domain>@<newest version>" (pinned in its spec, so a restart keeps
 * it); when no such record exists the create is refused with
 * ERR_NO_DOMAIN_WEIGHTS, never silently served the general default.  With
 * both, the weights record must carry that domain, or be a FiLM record
 * (lopt.h): the session then steps on its row of the domain (spec.c sets
 * opt_config.film_row from the domain); "@default" (LOPT_WEIGHTS_DEFAULT:
 * the untrained network, which has no domain) with a domain is refused
 * (ERR_INVALID_ARGUMENT).  Optimizers without
 * weights records (classic ones) refuse a domain (spec.c).
 *
 * Thread rules: any thread (domain_resolve reads the store's pooled
 * readers). */
#ifndef OPTIRS_DOMAIN_H
#define OPTIRS_DOMAIN_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "spec.h"
#include "store.h"

/* The words a session may name, for messages: "vision, text, tabular or synthetic". */
#define DOMAIN_SESSION_WORDS "vision, text, tabular or synthetic"
/* The words a record may carry, for messages. */
#define DOMAIN_RECORD_WORDS  "vision, text, tabular, synthetic or mixed"

/* 1 when `d` is a session domain (vision, text, tabular, synthetic). */
int  domain_session_valid(const char *d);
/* 1 when `d` is a record domain (the session domains and "mixed"). */
int  domain_record_valid(const char *d);
/* "<arch>.<domain>" into out (cap bytes).  0 or ERR_OUT_OF_RANGE. */
int  domain_default_name(const char *arch, const char *domain, char *out, size_t cap);
/* The naming rule above: 0, or ERR_INVALID_ARGUMENT with a message when a
 * record named `name` cannot have architecture `arch` and domain `domain`
 * (arch may be NULL when not known yet: then only the domain is checked). */
int  domain_check_record(const char *name, const char *arch, const char *domain, char *msg, size_t cap);
/* For a parsed create request with sp->domain set (see above): pins
 * sp->weights to the domain's default record, or checks that the given
 * weights carry sp->domain (or are a FiLM record, lopt.h: then the session
 * uses its row of sp->domain).  0 (also when sp->domain is empty), or
 * ERR_NO_DOMAIN_WEIGHTS / ERR_INVALID_ARGUMENT / ERR_STORAGE with a message.
 * A weights record that does not exist is left to opt_init (ERR_NOT_FOUND
 * there, as without a domain). */
int  domain_resolve(store *db, spec *sp, char *msg, size_t cap);
/* Adds to `into` the records a session of a learned optimizer with weights
 * architecture `arch` gets: "default_weights" (the newest record named
 * `arch`, or null: the untrained initialisation) and "domain_weights" (an
 * object, session domain → its default record, only domains that have one).
 * Each record is {name, version, ref, domain} plus "evaluation" (the
 * summary of meta_weights_eval_summary) when it has been evaluated.
 * 0, ERR_STORAGE or ERR_NO_MEMORY. */
int  domain_defaults_json(store *db, const char *arch, cJSON *into);

#endif
