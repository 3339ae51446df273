/* h_dashboard.c — GET /: the dashboard page.  The page is built from
 * dashboard/ (npm ci && npm run build → dashboard/dist/index.html, one file
 * with the charting library bundled in; no CDN) and read once, on the first
 * request, from $OPTIRS_DASHBOARD or else dashboard/dist/index.html next to
 * the build directory of this executable (<exe>/../dashboard/dist/…).  A
 * daemon without the built page answers 404 with what to run.
 * Thread rules: any worker thread; the page is loaded under pthread_once and
 * never changes afterwards. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "handlers.h"

#define DASHBOARD_MAX_BYTES (16u << 20)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char  *page;
static size_t page_len;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 > cap) {
            cap = cap ? cap * 2 : 262144;
            char *b = cap > DASHBOARD_MAX_BYTES ? NULL : realloc(buf, cap);
            if (!b) { free(buf); fclose(f); return NULL; }
            buf = b;
        }
        size_t k = fread(buf + n, 1, 65536, f);
        n += k;
        if (k < 65536) break;
    }
    fclose(f);
    *len = n;
    return buf;
}

static void load(void)
{
    const char *env = getenv("OPTIRS_DASHBOARD");
    if (env && *env) {
        page = slurp(env, &page_len);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return;
    *slash = '\0';
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/../dashboard/dist/index.html", exe);
    page = slurp(path, &page_len);
}

void h_dashboard(req *r)
{
    pthread_once(&once, load);
    if (!page) {
        http_resp_error(r, ERR_NOT_FOUND, "the dashboard is not built: run `make dashboard` (npm ci && npm run build in "
                                          "dashboard/) or set OPTIRS_DASHBOARD to the built index.html");
        return;
    }
    char *copy = malloc(page_len + 1);
    if (!copy) {
        http_resp_error(r, ERR_NO_MEMORY, NULL);
        return;
    }
    memcpy(copy, page, page_len);
    http_resp_take(r, 200, "text/html; charset=utf-8", copy, page_len);
}
