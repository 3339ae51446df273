/* eval_suite.h — an evaluation suite file for `optirsd eval` (issue #15 §3):
 * which tasks a learned optimizer is evaluated on, read from text, not
 * compiled in.  The shipped suites are deploy/eval/NAME.suite.
 *
 * Format, one entry a line; `#` starts a comment; blank lines are ignored:
 *
 *     family [key=value ...] [domain=NAME] [min=NUMBER]
 *     @meta-training-tasks
 *
 * The task part is the text meta-training takes (meta_task_parse: the
 * family and its parameters).  domain= names the domain the entry counts
 * for in the per-domain summary when the family's own domain (tasks.h) is
 * wrong for it; it must be a domain of some family.  min= is the task's
 * known minimum loss: the entry's ratios are then (loss − min) / (tuned −
 * min) (evalsuite.h, eval_ratio).  `@meta-training-tasks` stands for the
 * distinct tasks the evaluated weights were meta-trained on (read from the
 * record's provenance by the caller, eval_suite_add), appended after the
 * file's own entries.
 *
 * Bounds: a file over EVAL_SUITE_MAX_BYTES, a line over EVAL_SUITE_MAX_LINE
 * characters, more than EVAL_SUITE_MAX_ENTRIES entries, a malformed line or
 * one entry written twice is refused with a message naming the file and the
 * line.  Pure except eval_suite_load, which reads its file; any thread. */
#ifndef OPTIRS_EVAL_SUITE_H
#define OPTIRS_EVAL_SUITE_H

#include <stddef.h>

#include "meta_spec.h"

#define EVAL_SUITE_MAX_BYTES   (64 * 1024)
#define EVAL_SUITE_MAX_ENTRIES 64
#define EVAL_SUITE_MAX_LINE    400
#define EVAL_SUITE_DOMAIN      16

typedef struct eval_suite_entry {
    char           text[META_TASK_TEXT];   /* the task, normalised (single spaces, no domain=/min=) */
    meta_task_spec t;
    char           domain[EVAL_SUITE_DOMAIN];
    int            has_min;
    double         min;
} eval_suite_entry;

typedef struct eval_suite {
    int              n;
    int              from_training;         /* the file holds @meta-training-tasks */
    eval_suite_entry e[EVAL_SUITE_MAX_ENTRIES];
} eval_suite;

/* Parses len bytes of suite text into *s (emptied first); `where` names the
 * source in messages ("PATH:LINE: ...").  0 or ERR_INVALID_ARGUMENT /
 * ERR_OUT_OF_RANGE (a bound) / ERR_UNKNOWN_FIELD with msg. */
int eval_suite_parse(const char *text, size_t len, const char *where, eval_suite *s, char *msg, size_t cap);
/* Reads and parses the file at path (ERR_NOT_FOUND when it cannot be read,
 * ERR_OUT_OF_RANGE over EVAL_SUITE_MAX_BYTES, checked before reading). */
int eval_suite_load(const char *path, eval_suite *s, char *msg, size_t cap);
/* Appends one task text with its family's domain; a task already in the
 * suite is skipped (returns 0).  0 or the errors of a line. */
int eval_suite_add(eval_suite *s, const char *task_text, char *msg, size_t cap);
/* Keeps only the entries that count for `domain` (their domain field), in
 * order; returns how many are left. */
int eval_suite_keep_domain(eval_suite *s, const char *domain);
/* 1 when name is a suite name `--suite` accepts: [A-Za-z0-9_-]{1,32}. */
int eval_suite_valid_name(const char *name);

#endif
