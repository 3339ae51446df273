/* lopt_memory.h — the external key–value memory of the optimization history
 * that mem_lopt reads (and lstm_lopt when its memory_size > 0): one
 * implementation, one memory per session (never per parameter).
 *
 * Entries.  One entry per step of the whole model: key = the step's state
 * summary (LOPT_MEM_NKEY floats, built by the optimizer: gradient / update
 * statistics averaged over the tensors, the loss trend, a time feature),
 * value = (the mean log step scale and the mean momentum mix the optimizer
 * chose at that step, the relative loss change that followed it:
 * (ℓ_{t+1} − ℓ_t) / max(|ℓ_t|, 1e-30), clipped to ±LOPT_MEM_DCLIP).
 *
 * Loss.  The loss an optimizer step is given (step_info.loss: the loss at
 * the params before the update, which a session step request carries and
 * meta-training and evaluation pass) completes the entry of the step
 * before: lopt_memory_observe at the start of step t+1 writes (key_t,
 * choice_t, Δ_t) when ℓ_t and ℓ_{t+1} are both finite; a step without a
 * loss writes nothing (the pending entry is dropped).  `trend` is the last
 * Δ, `trend_slow` its EMA (β 0.9); both go into the next keys.
 *
 * Writes: a ring buffer — the oldest entry is overwritten once `size` are
 * stored; `fill` counts the entries held (≤ size).
 *
 * Reads: attention of the current key against the stored ones,
 *   q = Wq·key, k_i = Wk·key_i (LOPT_MEM_DK each),
 *   a = softmax_i(q·k_i / √LOPT_MEM_DK),  read = Σ_i a_i value_i,
 * over the `fill` entries held (read = 0 when none).  Wq, Wk are (DK, NKEY)
 * row-major, learned (mem_lopt's theta); NULL for both means the fixed
 * identity projection (lstm_lopt).  lopt_memory_read_backward accumulates
 * dWq, dWk for a given d(read) (the gradcheck's piece; meta-training of
 * mem_lopt is ES/PES, which needs no backward).
 *
 * Cost: per step, a read of fill × (NKEY + NVAL) multiply-adds plus one
 * write; memory (keys, values, attention scratch) 12 floats per entry.
 * Thread rules: plain data, one thread at a time; nothing allocates after
 * init. */
#ifndef OPTIRS_LOPT_MEMORY_H
#define OPTIRS_LOPT_MEMORY_H

#include <stddef.h>
#include <stdint.h>
#include "blob.h"

#define LOPT_MEM_NKEY    8
#define LOPT_MEM_NVAL    3       /* mean log step scale, mean momentum mix, realised Δloss */
#define LOPT_MEM_DK      8
#define LOPT_MEM_MAX     4096    /* memory_size bound */
#define LOPT_MEM_DEFAULT 1000    /* the seed's OptimizerMemory::new(1000) */
#define LOPT_MEM_DCLIP   1.0f

typedef struct lopt_memory {
    int    size, fill, next;       /* capacity, entries held, the slot written next */
    float *keys;                   /* (size, NKEY) */
    float *vals;                   /* (size, NVAL) */
    float *att;                    /* (size) scratch: the last read's attention weights */
    int    pending;                /* 1: pkey/pval/ploss wait for the next loss */
    float  pkey[LOPT_MEM_NKEY], pval[LOPT_MEM_NVAL - 1];
    double ploss;
    float  trend, trend_slow;
} lopt_memory;

/* Bytes lopt_memory_init allocates for `size` entries (no allocation). */
uint64_t lopt_memory_bytes(int size);
/* size in [1, LOPT_MEM_MAX]: 0, ERR_OUT_OF_RANGE or ERR_NO_MEMORY.  A zeroed
 * lopt_memory (size 0) is "no memory": every call below is then a no-op
 * (reads give 0). */
int  lopt_memory_init(lopt_memory *m, int size);
void lopt_memory_deinit(lopt_memory *m);   /* zeroes m; safe on a zeroed m */

/* The loss at the start of a step: completes the pending entry (see Loss). */
void lopt_memory_observe(lopt_memory *m, double loss);
/* This step's key and choice (mean log scale s, mean mix g) at loss ℓ,
 * pending until the next step's loss. */
void lopt_memory_propose(lopt_memory *m, const float *key, float s, float g, double loss);
/* read (NVAL) for key; Wq, Wk as above or both NULL.  Fills m->att. */
void lopt_memory_read(lopt_memory *m, const float *Wq, const float *Wk, const float *key, float *read);
/* dWq, dWk (DK·NKEY each) += the gradient of Σ dread·read, after
 * lopt_memory_read with the same arguments (m->att as it left it). */
void lopt_memory_read_backward(const lopt_memory *m, const float *Wq, const float *Wk, const float *key,
                               const float *dread, float *dWq, float *dWk);

/* The whole memory (entries, ring position, pending entry, trends), bit for
 * bit.  load: ERR_CORRUPT when the saved size is not m->size. */
void lopt_memory_save(const lopt_memory *m, blob_writer *w);
int  lopt_memory_load(lopt_memory *m, blob_reader *r);

#endif
