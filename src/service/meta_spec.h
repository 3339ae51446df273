/* meta_spec.h — a meta-training request, for the daemon (POST /v1/meta/jobs)
 * and the command line (`optirsd meta-train`, `optirsd eval`).
 *
 * A meta-training request (meta_spec) is a set of `key = value` settings —
 * the same keys in a config file and in the JSON body of POST /v1/meta/jobs
 * (deploy/meta/README.md documents each).  Every value is checked when it is
 * set; meta_spec_check checks that they fit together.  Whether the
 * init_weights record exists is checked by meta_run_check_weights
 * (meta_run.h), which needs the weights registry.
 *
 * Thread rules: pure (meta_spec_load_file reads its file); any thread. */
#ifndef OPTIRS_META_SPEC_H
#define OPTIRS_META_SPEC_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "meta.h"

#define META_WNAME_MAX       48     /* weights record name: [A-Za-z0-9._-]{1,47} */
#define META_TASK_TEXT       160
#define META_JOBS_MAX_THREADS 2
#define META_MAX_OUTER_STEPS 1000000
#define META_MAX_TASKS_TEXT  "32"        /* META_MAX_TASKS, for messages */
/* The most the particles' paths of one job may take (meta_particle_bytes ×
 * particles, the largest task): 2 GiB. */
#define META_MAX_JOB_BYTES   (2ull << 30)

typedef struct meta_spec {
    meta_config mc;
    char    name[META_WNAME_MAX];          /* the weights record to produce */
    char    domain[16];                    /* "" = derived from the tasks */
    char    init_weights[64];              /* start from this record ("" = default init) */
    char    task_text[META_MAX_TASKS][META_TASK_TEXT]; /* each task as written (normalised) */
    int64_t outer_steps;
    int64_t checkpoint_every;
    int     keep_checkpoints;              /* 1: each checkpoint is also a weights record NAME.stepN */
    int     threads;                       /* 0 = every core */
    int     tasks_given;                   /* a "task" key was set */
    char    stages_text[256];              /* "fam[,fam]:steps; ..." as given ("" = no stages);
                                              meta_spec_check turns it into mc's stages */
    int     stage_eval_steps;              /* > 0: at each stage's end, each family's meta-loss
                                              over this many steps (meta_family_loss) */
    int     stage_eval_seeds;              /* its seeds per task */
} meta_spec;

void   meta_spec_defaults(meta_spec *sp);
/* Sets one key from its text value ("task" appends a task; the first "task"
 * replaces the default one).  0 or ERR_UNKNOWN_FIELD / ERR_INVALID_ARGUMENT /
 * ERR_OUT_OF_RANGE with a message in msg. */
int    meta_spec_set(meta_spec *sp, const char *key, const char *value, char *msg, size_t cap);
/* Reads `key = value` lines (# comments) from a file. */
int    meta_spec_load_file(meta_spec *sp, const char *path, char *msg, size_t cap);
/* Reads a JSON object of the same keys (strings, numbers, booleans; "tasks"
 * an array of task strings). */
int    meta_spec_from_json(meta_spec *sp, const cJSON *obj, char *msg, size_t cap);
/* Final checks (the job can be created).  0 or ERR_* with msg. */
int    meta_spec_check(meta_spec *sp, char *msg, size_t cap);
/* The normalised request (every key but `threads`); the caller frees it. */
cJSON *meta_spec_to_json(const meta_spec *sp);
/* Parses one task text "family [key=value ...]" into *t. */
int    meta_task_parse(const char *text, meta_task_spec *t, char *msg, size_t cap);

/* The bytes the particles' paths of sp's job take (meta_particle_bytes of
 * its largest task × particles: what meta_spec_check bounds by
 * META_MAX_JOB_BYTES).  0, or a task's creation error with msg. */
int    meta_spec_job_bytes(const meta_spec *sp, uint64_t *out, char *msg, size_t cap);
/* 1 when `key` is one of the numeric keys meta_spec_set takes (hidden,
 * particles, sigma, outer_lr, ...), with its bounds and whether it takes
 * integers only; 0 for any other key. */
int    meta_spec_num_key(const char *key, double *lo, double *hi, int *integral);

/* Strict number parsing (the whole string, surrounding blanks allowed,
 * finite): 0, or -1 and *out untouched. */
int    meta_spec_parse_num(const char *v, double *out);
/* The record a kept checkpoint becomes: NAME.stepN in out.  1, or 0 when it
 * does not fit in META_WNAME_MAX. */
int    meta_spec_checkpoint_name(const meta_spec *sp, int64_t step, char out[META_WNAME_MAX]);
/* "es", "pes" or "tbptt" (META_ESTIMATOR_*); "?" for any other value. */
const char *meta_spec_estimator_name(int estimator);

#endif
