/* meta_launch.c — a meta-training job run through the MPI launcher.  See
 * meta_launch.h. */
#include "meta_launch.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "app.h"
#include "cmdline.h"
#include "errors.h"
#include "launcher.h"
#include "log.h"
#include "meta_weights.h"
#include "store.h"

/* The driver's path: cfg's, else optirsd-mpi in this executable's directory. */
static int driver_path(const config *cfg, char *out, size_t cap)
{
    if (cfg->meta_mpi_binary[0]) {
        snprintf(out, cap, "%s", cfg->meta_mpi_binary);
        return 0;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash) return -1;
    *slash = '\0';
    int k = snprintf(out, cap, "%s/optirsd-mpi", self);
    return k > 0 && (size_t)k < cap ? 0 : -1;
}

/* What the row says after the launcher. */
typedef struct row_copy {
    char    status[16];
    char    error[512];
    char    wname[META_WNAME_MAX];
    int64_t wversion, step;
    double  wall_s;
} row_copy;

static int row_cb(void *ctx, const store_meta_job_row *j)
{
    row_copy *c = ctx;
    snprintf(c->status, sizeof c->status, "%s", j->status);
    snprintf(c->error, sizeof c->error, "%s", j->error ? j->error : "");
    snprintf(c->wname, sizeof c->wname, "%s", j->weights_name ? j->weights_name : "");
    c->wversion = j->weights_version;
    c->step = j->step;
    c->wall_s = j->wall_s;
    return 1;
}

/* Publishes the records job `id` stored: its name and its kept checkpoints
 * (NAME.stepN), recognised by their provenance's job_id. */
typedef struct pub_ctx { const char *id, *name; store *db; int cluster; int rc; } pub_ctx;

static int publish_cb(void *ctx, const store_weights_row *w)
{
    pub_ctx *c = ctx;
    size_t n = strlen(c->name);
    if (strncmp(w->name, c->name, n) != 0 || (w->name[n] && strncmp(w->name + n, ".step", 5) != 0)) return 0;
    cJSON *p = w->provenance_json ? cJSON_Parse(w->provenance_json) : NULL;
    const cJSON *jid = cJSON_GetObjectItemCaseSensitive(p, "job_id");
    int mine = cJSON_IsString(jid) && strcmp(jid->valuestring, c->id) == 0;
    cJSON_Delete(p);
    if (mine) {
        /* In cluster mode the driver wrote only this daemon's file: the
         * record goes to the cluster under the version it got here (a
         * version another daemon took first is refused: ERR_STORAGE). */
        int rc = c->cluster ? store_weights_put(c->db, w, 0, NULL) : 0;
        if (!rc) rc = meta_weights_publish(w);
        if (rc && !c->rc) c->rc = rc;
    }
    return 0;
}

int meta_launch_run(const app *a, const char *id, const meta_spec *sp, _Atomic int *cancel, int64_t *wversion,
                    char *msg, size_t cap)
{
    char words_buf[CMDLINE_MAX + 1], *argv[CMDLINE_MAX_WORDS + 8], why[200];
    char driver[PATH_MAX], db[PATH_MAX], idbuf[40];
    int n = 0, rc = cmdline_split(a->cfg.meta_launcher, words_buf, sizeof words_buf, argv, &n, why, sizeof why);
    launcher_result *res = calloc(1, sizeof *res);
    if (!res) rc = ERR_NO_MEMORY;
    if (rc) snprintf(msg, cap, "the meta launcher cannot run: %s", res ? why : "out of memory");
    else if (driver_path(&a->cfg, driver, sizeof driver) != 0 || access(driver, X_OK) != 0) {
        snprintf(msg, cap, "the MPI driver %.300s is not an executable file (build it with make where mpicc is, or "
                 "set --meta-mpi-binary)", driver_path(&a->cfg, driver, sizeof driver) ? "optirsd-mpi" : driver);
        rc = ERR_INTERNAL;
    } else if (!realpath(a->cfg.db, db)) {
        snprintf(msg, cap, "cannot resolve the database path %.300s", a->cfg.db);
        rc = ERR_INTERNAL;
    }
    if (!rc) {
        snprintf(idbuf, sizeof idbuf, "%s", id);
        char *tail[] = {driver, "meta-train", "--job", idbuf, "--db", db, NULL};
        for (int i = 0; i < 7; i++) argv[n + i] = tail[i];
        rc = launcher_run(argv, cancel, a->cfg.meta_launcher_grace, res);
        if (rc) snprintf(msg, cap, "the meta launcher: %s", res->start_error);
    }
    row_copy row = {0};
    int got = store_meta_job_get(a->db, id, 0, row_cb, &row) == 0;
    int stop = cancel ? atomic_load(cancel) : 0;
    int result;
    if (!rc && got && strcmp(row.status, "done") == 0) {
        pub_ctx pc = {id, sp->name, a->db, a->cfg.cluster_db[0] != 0, 0};
        rc = store_weights_list(a->db, 1, publish_cb, &pc);
        if (!rc) rc = pc.rc;
        /* the record is stored (the next start loads it): the job stays done */
        if (rc && pc.cluster)
            log_msg(LOG_WARN, "meta-training job %s is done, but its weights record %s@%lld is not in the cluster "
                    "database (%s): it stays on this daemon only", id, row.wname, (long long)row.wversion,
                    err_message(rc));
        else if (rc)
            log_msg(LOG_WARN, "meta-training job %s is done, but its weights record %s@%lld cannot be loaded now (%s): "
                    "sessions can use it after a restart", id, row.wname, (long long)row.wversion, err_message(rc));
        *wversion = row.wversion;
        result = 0;
    } else if (!rc && stop && got && strcmp(row.status, "failed") != 0) {
        /* rank 0 may have ended it "cancelled" on SIGTERM: the daemon's word decides */
        const char *want = stop == 2 ? "interrupted" : "cancelled";
        if (strcmp(row.status, want) != 0)
            store_meta_job_update(a->db, id, want, row.step, row.wall_s, NULL, NULL, 0, NULL, 0);
        result = 1;
    } else {
        if (!rc) {
            /* rank 0's message (at most half of msg), then the launcher's end, cut at its start so
             * that the last words of its stderr, which say why, are kept */
            const char *pre = got ? row.error : "";
            size_t pl = strlen(pre) > cap / 2 ? cap / 2 : strlen(pre), over = 48;
            char how[600];
            size_t room = cap > pl + over ? cap - pl - over : 1;
            launcher_describe(res, how, room < sizeof how ? room : sizeof how);
            if (pl)
                snprintf(msg, cap, "%.*s (the MPI launcher %s)", (int)pl, pre, how);
            else
                snprintf(msg, cap, "the MPI launcher %s%s", how,
                         res->exited && res->code == 0 ? " without finishing the job" : "");
            rc = ERR_INTERNAL;
        }
        store_meta_job_update(a->db, id, "failed", got ? row.step : 0, got ? row.wall_s : 0, msg, NULL, 0, NULL, 0);
        result = rc;
    }
    free(res);
    return result;
}
