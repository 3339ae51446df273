/* data_text.h — reads a whole text file (the char_rnn task's corpus).
 *
 * With data_idx.c, the only dataset file reading in the tree: src/core
 * reads no files and gets the bytes through task_data (see tasks.h).
 *
 * Ownership: the caller frees the buffer.  Thread rules: no shared state. */
#ifndef OPTIRS_DATA_TEXT_H
#define OPTIRS_DATA_TEXT_H

#include <stddef.h>
#include <stdint.h>

#define DATA_TEXT_MAX (64u << 20)   /* refuse anything larger */

/* Reads the file at `path` into a new malloc'd buffer (*out, *len bytes).
 * 0, ERR_NOT_FOUND (cannot open), ERR_CORRUPT (read error or larger than
 * DATA_TEXT_MAX), ERR_NO_MEMORY; on failure *out is untouched. */
int data_text_read(const char *path, uint8_t **out, size_t *len);

#endif
