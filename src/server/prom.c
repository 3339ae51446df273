#include "prom.h"

#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "app.h"
#include "build_info.h"
#include "http.h"
#include "jwriter.h"
#include "live.h"
#include "meta_jobs.h"
#include "session_life.h"
#include "pool.h"
#include "sessions.h"
#include "store.h"

#define MAX_ROUTES 64
#define PROM_TEXT_MAX (1u << 20)   /* the whole exposition is ~20 KB */
static const int statuses[] = {200, 201, 400, 401, 403, 404, 405, 406, 409, 411, 413, 415, 422, 429, 500, 503, 504};
#define NSTATUS ((int)(sizeof statuses / sizeof statuses[0]))
static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKET ((int)(sizeof buckets / sizeof buckets[0]))

/* [route + 1][status index]; route -1 (unrouted) is row 0; the last status
 * column counts any other status. */
static _Atomic uint64_t requests[MAX_ROUTES + 1][NSTATUS + 1];
static _Atomic uint64_t bytes_in, bytes_out;
static _Atomic uint64_t step_hist[NBUCKET + 1];
static _Atomic uint64_t step_sum_ns, step_count;

void prom_request(int route_index, int status, size_t in, size_t out, double step_seconds)
{
    int row = route_index + 1 < MAX_ROUTES + 1 ? route_index + 1 : 0;
    int col = NSTATUS;
    for (int i = 0; i < NSTATUS; i++)
        if (statuses[i] == status) col = i;
    atomic_fetch_add_explicit(&requests[row][col], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&bytes_in, in, memory_order_relaxed);
    atomic_fetch_add_explicit(&bytes_out, out, memory_order_relaxed);
    if (step_seconds >= 0) {
        int b = 0;
        while (b < NBUCKET && step_seconds > buckets[b]) b++;
        atomic_fetch_add_explicit(&step_hist[b], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&step_sum_ns, (uint64_t)(step_seconds * 1e9), memory_order_relaxed);
        atomic_fetch_add_explicit(&step_count, 1, memory_order_relaxed);
    }
}

/* The process's resident memory in bytes (/proc/self/statm), -1 if unread. */
static long long resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long long size, rss = -1;
    if (f) {
        if (fscanf(f, "%lld %lld", &size, &rss) != 2) rss = -1;
        fclose(f);
    }
    long page = sysconf(_SC_PAGESIZE);
    return rss < 0 || page <= 0 ? -1 : rss * page;
}

/* Open file descriptors (entries of /proc/self/fd, less the one reading it), -1 if unread. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1;
}

/* The process metrics Prometheus' client libraries name process_*, the
 * build's version, the sessions by status and the meta-training queue. */
static void render_process(app *a, jwriter *b)
{
    jw_printf(b, "# HELP optirs_build_info The daemon's version (git describe at build time).\n"
                 "# TYPE optirs_build_info gauge\noptirs_build_info{version=\"%s\"} 1\n", build_info_version());
    long long rss = resident_bytes();
    if (rss >= 0)
        jw_printf(b, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                     "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %lld\n", rss);
    int fds = open_fds();
    if (fds >= 0)
        jw_printf(b, "# HELP process_open_fds Open file descriptors.\n# TYPE process_open_fds gauge\n"
                     "process_open_fds %d\n", fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        jw_printf(b, "# HELP process_max_fds Limit of open file descriptors.\n# TYPE process_max_fds gauge\n"
                     "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        jw_printf(b, "# HELP process_cpu_seconds_total User and system CPU time spent, in seconds.\n"
                     "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.6f\n",
                  (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
                      ru.ru_stime.tv_usec * 1e-6);
    session_status_counts sc = {0};
    if (a->reg) session_count_status(a->reg, &sc);
    jw_printf(b, "# HELP optirs_sessions Live sessions by status.\n# TYPE optirs_sessions gauge\n"
                 "optirs_sessions{status=\"active\"} %lld\noptirs_sessions{status=\"diverged\"} %lld\n"
                 "optirs_sessions{status=\"finished\"} %lld\noptirs_sessions{status=\"archived\"} %lld\n",
              (long long)sc.active, (long long)sc.diverged, (long long)sc.finished, (long long)sc.archived);
    int64_t queued, running;
    meta_jobs_counts(&queued, &running);
    jw_printf(b, "# HELP optirs_meta_jobs Meta-training jobs of the daemon's queue: waiting, or running.\n"
                 "# TYPE optirs_meta_jobs gauge\noptirs_meta_jobs{state=\"queued\"} %lld\n"
                 "optirs_meta_jobs{state=\"running\"} %lld\n", (long long)queued, (long long)running);
}

char *prom_render(app *a, size_t *len)
{
    jwriter b;
    jw_init(&b, PROM_TEXT_MAX);
    jw_printf(&b, "# HELP optirs_requests_total HTTP requests by route and status.\n# TYPE optirs_requests_total counter\n");
    for (int row = 0; row <= routes_count && row <= MAX_ROUTES; row++)
        for (int col = 0; col <= NSTATUS; col++) {
            uint64_t v = atomic_load(&requests[row][col]);
            if (!v) continue;
            const char *name = row == 0 ? "unrouted" : routes_table[row - 1].name;
            if (col < NSTATUS) jw_printf(&b, "optirs_requests_total{route=\"%s\",status=\"%d\"} %llu\n", name, statuses[col], (unsigned long long)v);
            else jw_printf(&b, "optirs_requests_total{route=\"%s\",status=\"other\"} %llu\n", name, (unsigned long long)v);
        }
    jw_printf(&b, "# HELP optirs_step_seconds Latency of answered steps (decode, step, encode).\n# TYPE optirs_step_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < NBUCKET; i++) {
        cum += atomic_load(&step_hist[i]);
        jw_printf(&b, "optirs_step_seconds_bucket{le=\"%g\"} %llu\n", buckets[i], (unsigned long long)cum);
    }
    cum += atomic_load(&step_hist[NBUCKET]);
    jw_printf(&b, "optirs_step_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    jw_printf(&b, "optirs_step_seconds_sum %.9f\noptirs_step_seconds_count %llu\n", atomic_load(&step_sum_ns) * 1e-9,
       (unsigned long long)atomic_load(&step_count));
    jw_printf(&b, "# HELP optirs_http_bytes_in_total Request body bytes received.\n# TYPE optirs_http_bytes_in_total counter\n"
           "optirs_http_bytes_in_total %llu\n", (unsigned long long)atomic_load(&bytes_in));
    jw_printf(&b, "# HELP optirs_http_bytes_out_total Response body bytes sent.\n# TYPE optirs_http_bytes_out_total counter\n"
           "optirs_http_bytes_out_total %llu\n", (unsigned long long)atomic_load(&bytes_out));
    jw_printf(&b, "# HELP optirs_sessions_open Live sessions.\n# TYPE optirs_sessions_open gauge\noptirs_sessions_open %d\n",
       a->reg ? sessions_count(a->reg) : 0);
    jw_printf(&b, "# HELP optirs_http_requests_inflight Requests begun and not completed.\n# TYPE optirs_http_requests_inflight gauge\n"
           "optirs_http_requests_inflight %d\n", http_inflight());
    int waiting, running;
    pool_stats(&waiting, &running);
    jw_printf(&b, "# HELP optirs_compute_jobs Requests on the compute pool: waiting for a thread, or running.\n"
           "# TYPE optirs_compute_jobs gauge\noptirs_compute_jobs{state=\"waiting\"} %d\n"
           "optirs_compute_jobs{state=\"running\"} %d\n", waiting, running);
    store_stats st = {0};
    if (a->db) store_get_stats(a->db, &st);
    jw_printf(&b, "# HELP optirs_storage_queue_depth Jobs waiting for the storage writer.\n# TYPE optirs_storage_queue_depth gauge\n"
           "optirs_storage_queue_depth %lld\n", (long long)st.queue_depth);
    jw_printf(&b, "# HELP optirs_storage_commits_total Transactions committed by the writer.\n# TYPE optirs_storage_commits_total counter\n"
           "optirs_storage_commits_total %lld\n", (long long)st.commits);
    jw_printf(&b, "# HELP optirs_storage_commit_seconds_total Time spent committing.\n# TYPE optirs_storage_commit_seconds_total counter\n"
           "optirs_storage_commit_seconds_total %.6f\n", st.commit_us_total * 1e-6);
    jw_printf(&b, "# HELP optirs_storage_commit_seconds_max Longest commit.\n# TYPE optirs_storage_commit_seconds_max gauge\n"
           "optirs_storage_commit_seconds_max %.6f\n", st.commit_us_max * 1e-6);
    jw_printf(&b, "# HELP optirs_storage_errors_total Failed transactions.\n# TYPE optirs_storage_errors_total counter\n"
           "optirs_storage_errors_total %lld\n", (long long)st.errors);
    double keys_age;
    if (a->db && store_cluster_keys_age(a->db, &keys_age) == 0)
        jw_printf(&b, "# HELP optirs_cluster_keys_age_seconds Seconds since the cluster's API keys were last read"
                      " in full (--cluster-db).\n# TYPE optirs_cluster_keys_age_seconds gauge\n"
                      "optirs_cluster_keys_age_seconds %.3f\n", keys_age);
    render_process(a, &b);
    char *lv = live_prom_text();   /* steps by optimizer, event streams (live.c) */
    if (lv) jw_lit(&b, lv);
    free(lv);
    return jw_take(&b, len);
}
