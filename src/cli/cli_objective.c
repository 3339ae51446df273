/* cli_objective.c — see cli_objective.h. */
#include "cli_objective.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "cli.h"
#include "config.h"
#include "errors.h"
#include "meta_weights.h"
#include "opt.h"
#include "store.h"
#include "study_objective.h"
#include "study_run.h"

#define LINE_MAX_BYTES 65536   /* one --params line of the stream */

static int usage(void)
{
    fprintf(stderr, "usage: optirsd objective --objective JSON --params JSON|- [--db PATH]\n"
                    "  JSON: a study's \"objective\" (docs/studies.md#studies-the-daemon-runs) and one trial's\n"
                    "  parameters; prints the trial's final value (%%.17g).  --params -: one JSON object a line\n"
                    "  on stdin, one answer a line on stdout\n");
    return 2;
}

/* The weights a learned optimizer runs on: --db opened once and bootstrapped.
 * 0, or 1 with a message. */
static int open_weights(const char *db_flag, store **db)
{
    if (*db) return 0;
    config cfg;
    const char *db_file = cli_db_path(db_flag, &cfg);
    if (store_open(db_file, db) != 0) {
        fprintf(stderr, "optirsd objective: cannot open %s\n", db_file);
        *db = NULL;
        return 1;
    }
    int n = meta_weights_bootstrap(*db);
    if (n < 0) {
        fprintf(stderr, "optirsd objective: cannot load the weights of %s (%s)\n", db_file, err_message(n));
        return 1;
    }
    return 0;
}

/* One trial: 0 with *value, 1 failed (*failed_step), 2 refused (msg). */
static int one(const cJSON *ov, const char *params_text, const char *db_flag, store **db, double *value,
               int64_t *failed_step, char *msg, size_t cap)
{
    *failed_step = 0;   /* only a trial that ran and turned non-finite sets it */
    cJSON *pv = cJSON_Parse(params_text);
    if (!pv) {
        snprintf(msg, cap, "the params are not JSON");
        return 2;
    }
    study_objective ob;
    int code = 2;
    if (study_objective_parse_trial(&ob, ov, pv, msg, cap) == 0) {
        const opt_vtbl *vt = opt_find(ob.optimizer);
        if (vt && vt->kind != OPT_KIND_CLASSIC && open_weights(db_flag, db)) {
            snprintf(msg, cap, "no weights for %s", ob.optimizer);
            code = 1;
            *failed_step = 0;
        } else if (study_run_trial(&ob, pv, value, failed_step, msg, cap) == 0)
            code = *failed_step ? 1 : 0;
    }
    cJSON_Delete(pv);
    return code;
}

int cli_objective(int argc, char **argv)
{
    const char *obj_text = NULL, *params_text = NULL, *db_flag = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--objective") == 0 && i + 1 < argc) obj_text = argv[++i];
        else if (strcmp(argv[i], "--params") == 0 && i + 1 < argc) params_text = argv[++i];
        else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) db_flag = argv[++i];
        else return usage();
    }
    if (!obj_text || !params_text) return usage();
    cJSON *ov = cJSON_Parse(obj_text);
    if (!ov) {
        fprintf(stderr, "optirsd objective: --objective is not JSON\n");
        return 2;
    }
    store *db = NULL;
    char msg[400];
    double value;
    int64_t failed_step = 0;
    int code;
    if (strcmp(params_text, "-") != 0) {
        code = one(ov, params_text, db_flag, &db, &value, &failed_step, msg, sizeof msg);
        if (code == 0) printf("%.17g\n", value);
        else if (failed_step)
            fprintf(stderr, "optirsd objective: failed at step %lld (a loss or held-out value is not finite)\n",
                    (long long)failed_step);
        else fprintf(stderr, "optirsd objective: %s\n", msg);
    } else {
        /* the stream: the data sets and weights stay loaded between trials */
        char *line = malloc(LINE_MAX_BYTES);
        code = line ? 0 : 1;
        while (line && fgets(line, LINE_MAX_BYTES, stdin)) {
            size_t n = strlen(line);
            if (n == LINE_MAX_BYTES - 1 && line[n - 1] != '\n') {
                printf("error a line longer than %d bytes\n", LINE_MAX_BYTES - 1);
                int c;
                while ((c = getchar()) != EOF && c != '\n') {}
                continue;
            }
            int r = one(ov, line, db_flag, &db, &value, &failed_step, msg, sizeof msg);
            if (r == 0) printf("%.17g\n", value);
            else if (failed_step) printf("failed %lld\n", (long long)failed_step);
            else printf("error %s\n", msg);
            fflush(stdout);
        }
        free(line);
    }
    if (db) store_close(db);
    cJSON_Delete(ov);
    return code;
}
