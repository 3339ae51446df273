/* updbuf.h — a session's update vectors (the answer of its last step and the
 * spare the next step writes), shareable with an answer being sent so that
 * the transport sends the update in place instead of copying it.
 *
 * An updbuf is n floats behind a hidden reference count; updbuf_new hands
 * out the first reference (the session's).  The transport takes another
 * (updbuf_hold) while it sends the vector and puts it back when done
 * (updbuf_put, from any thread).  Invariant: the session writes into a
 * vector only while it holds the sole reference — before a step writes its
 * spare, or a snapshot is read into the last answer, a shared vector is
 * swapped for a new one (session_step.c), so a vector being sent never
 * changes.  Each answer in flight pins at most one vector of n floats, as
 * its own copy did before.
 * Thread rules: the count is atomic; the floats follow the session's rules. */
#ifndef OPTIRS_UPDBUF_H
#define OPTIRS_UPDBUF_H

#include <stddef.h>

/* n zeroed floats with one reference, or NULL (out of memory). */
float *updbuf_new(size_t n);
/* Takes a reference to v (from updbuf_new). */
void   updbuf_hold(const float *v);
/* Drops a reference; the last one frees v.  NULL is ignored.  Its
 * void * form is a free callback. */
void   updbuf_put(const float *v);
void   updbuf_put_cb(void *v);
/* 1 when someone besides the caller holds v. */
int    updbuf_shared(const float *v);

#endif
