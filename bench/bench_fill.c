/* bench_fill.c — fills a session of an optirsd database with a long metrics
 * history through the store API (the same calls the daemon makes: the
 * metrics rows through store_metric's group commit, the per-step extras and
 * the rollups through store_analytics_write in batches like live_flush), so
 * that the downsampling benchmark can time a million-step curve without
 * stepping a million times over HTTP.
 *
 *   bench_fill --db PATH --id SESSION --steps N [--first K] [--batch B]
 *
 * The session must exist (bench/run.py creates it over HTTP, stops the
 * daemon, runs this, and starts the daemon again on the same file).  Steps
 * K..K+N-1 (default K = 1) get a noisy decaying loss with occasional spikes
 * and NaNs, plausible norms, a cosine and a small per-tensor JSON.  Prints
 * `FILL steps=N seconds=S` and exits 0, or non-zero on any store error. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* xorshift64*, uniform in [0, 1) */
static double uni(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}

int main(int argc, char **argv)
{
    const char *path = NULL, *id = NULL;
    long long steps = 0, first = 1, batch = 4096;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--db") == 0) path = argv[i + 1];
        else if (strcmp(argv[i], "--id") == 0) id = argv[i + 1];
        else if (strcmp(argv[i], "--steps") == 0) steps = atoll(argv[i + 1]);
        else if (strcmp(argv[i], "--first") == 0) first = atoll(argv[i + 1]);
        else if (strcmp(argv[i], "--batch") == 0) batch = atoll(argv[i + 1]);
    }
    if (!path || !id || steps < 1 || first < 0 || batch < 1) {
        fprintf(stderr, "usage: %s --db PATH --id SESSION --steps N [--first K] [--batch B]\n", argv[0]);
        return 2;
    }
    store *s;
    if (store_open(path, &s)) {
        fprintf(stderr, "bench_fill: cannot open %s\n", path);
        return 1;
    }
    store_analytics_row *rows = malloc((size_t)batch * sizeof *rows);
    if (!rows) return 1;
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    double t0 = now_s();
    int rc = 0;
    long long nb = 0;
    for (long long k = first; k < first + steps && !rc; k++) {
        double t = (double)(k - first) / (double)steps;
        double loss = 2.0 * exp(-3.0 * t) + 0.05 + 0.1 * uni(&rng);
        if (uni(&rng) < 1e-4) loss *= 20.0;            /* a rare spike */
        if (uni(&rng) < 1e-5) loss = NAN;              /* and a rarer missing loss */
        step_metric m = {.step = k, .time_ms = 1700000000000LL + k, .loss = loss,
                         .grad_norm = 1.0 + uni(&rng), .update_norm = 1e-3 * (1.0 + uni(&rng)),
                         .param_norm = 10.0 + t, .lr = 1e-3, .duration_us = 5.0};
        rc = store_metric(s, id, &m);
        rows[nb++] = (store_analytics_row){.id = id, .step = k, .update_cos = 2.0 * uni(&rng) - 1.0,
                                           .update_ratio = m.update_norm / m.param_norm, .lr_mult = NAN,
                                           .tensors_json = "[[\"w\",1.0,0.001,9.9],[\"b\",0.1,0.0001,0.5]]",
                                           .extra_json = NULL};
        if (nb == batch || k == first + steps - 1) {
            if (!rc) rc = store_flush(s);
            if (!rc) rc = store_analytics_write(s, rows, (size_t)nb);
            nb = 0;
        }
    }
    free(rows);
    store_close(s);
    if (rc) {
        fprintf(stderr, "bench_fill: store error %d\n", rc);
        return 1;
    }
    printf("FILL steps=%lld seconds=%.2f\n", steps, now_s() - t0);
    return 0;
}
