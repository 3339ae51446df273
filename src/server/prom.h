/* prom.h — the daemon's Prometheus counters and their text exposition.
 * Requests are counted by route and status, step latency goes into a fixed
 * histogram, bytes in/out into counters.  All updates are lock-free atomics.
 * Thread rules: any thread. */
#ifndef OPTIRS_PROM_H
#define OPTIRS_PROM_H

#include <stddef.h>
#include <stdint.h>

typedef struct app app;

/* Counts a finished request on route `route` (-1: unrouted) with `status`,
 * its body sizes and, for step routes, its latency in seconds (<0: none). */
void  prom_request(int route, int status, size_t bytes_in, size_t bytes_out, double step_seconds);
/* Renders every metric in Prometheus text format 0.0.4; the caller frees the
 * result with free().  *len receives its length. */
char *prom_render(app *a, size_t *len);

#endif
