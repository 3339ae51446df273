/* data_cache.h — the process's data source for the task families: the
 * task_data (tasks.h) that the callers of task_create (meta jobs, the CLI,
 * benchmarks, tests) put in task_params.data.
 *
 * Fashion-MNIST: the gzipped IDX files of Debian's dataset-fashion-mnist in
 * DATA_FMNIST_DIR (or task_params.data_path), read with data_idx.c once per
 * process on first use, with the 8x8 downsample computed then, and shared
 * read-only by every task.  A mutex guards the one-time load; afterwards
 * the cache is read-only for the process lifetime (never freed; tasks only
 * borrow pointers into it).  Asking for another directory once loaded is
 * ERR_INVALID_ARGUMENT.
 *
 * Text: the file DATA_TEXT_FILE (or task_params.data_path), read with
 * data_text.c on every call (not cached: each char_rnn task owns its copy).
 *
 * Errors set a message with tasks_set_error.  Thread rules: both functions
 * of data_cache_source may be called from any thread. */
#ifndef OPTIRS_DATA_CACHE_H
#define OPTIRS_DATA_CACHE_H

#include "tasks.h"

#define DATA_FMNIST_DIR "/usr/share/datasets/fashion-mnist"
#define DATA_TEXT_FILE  "/usr/share/common-licenses/GPL-3"

/* The data source described above (ctx unused). */
extern const task_data data_cache_source;

#endif
