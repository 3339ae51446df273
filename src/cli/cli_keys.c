/* cli_keys.c — `optirsd keys create|ls|revoke`: API keys managed directly in
 * the database (the same --db and configuration flags as the daemon), or in
 * the cluster database with --cluster-db.  A running daemon sees the change
 * within a second.  Of the server it uses the
 * configuration table, key creation (auth.h: the key's hash is gnutls's) and
 * the wall clock of http.h. */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "cli_keys.h"
#include "config.h"
#include "http.h"
#include "errors.h"
#include "store.h"

static int print_key(void *ctx, const store_key *k)
{
    (void)ctx;
    printf("%-18s %-24s %-6s %-14lld %s\n", k->id, k->tenant, k->admin ? "admin" : "-", (long long)k->created_ms,
           k->revoked_ms ? "revoked" : "active");
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: optirsd keys create --tenant NAME [--admin] [daemon flags such as --db PATH]\n"
                    "       optirsd keys ls [--db PATH | --cluster-db DSN]\n"
                    "       optirsd keys revoke ID [--db PATH | --cluster-db DSN]\n");
    return 2;
}

int cli_keys(int argc, char **argv)
{
    if (argc < 1) return usage();
    const char *verb = argv[0];
    const char *tenant = NULL, *id = NULL;
    int admin = 0;
    /* Our own flags first; the rest go to the configuration table. */
    char *rest[64];
    int nrest = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc) tenant = argv[++i];
        else if (strcmp(argv[i], "--admin") == 0) admin = 1;
        else if (argv[i][0] != '-' && !id && strcmp(verb, "revoke") == 0) id = argv[i];
        else if (nrest < 64) rest[nrest++] = argv[i];
    }
    config cfg;
    int rc = config_load(&cfg, nrest, rest);
    if (rc) return rc == 1 ? usage() : 2;
    store *db;
    if (store_open(cfg.db, &db) != 0) {
        fprintf(stderr, "optirsd keys: cannot open %s\n", cfg.db);
        return 1;
    }
    /* With --cluster-db the keys are the cluster's (every daemon sees the
     * change within a second), not this file's. */
    char err[512] = "";
    if (cfg.cluster_db[0] && (rc = store_cluster_open(db, cfg.cluster_db, cfg.cluster_db_grace, err, sizeof err))) {
        fprintf(stderr, "optirsd keys: cannot use the cluster database: %s\n", err[0] ? err : err_message(rc));
        store_close(db);
        return 1;
    }
    int exit_code = 0;
    if (strcmp(verb, "create") == 0) {
        char key[AUTH_KEY_LEN + 1];
        store_key rec;
        if (!tenant) exit_code = usage();
        else if ((rc = auth_key_create(db, tenant, admin, key, &rec)) != 0) {
            fprintf(stderr, "optirsd keys: %s\n", rc == ERR_INVALID_ARGUMENT
                                                      ? "the tenant must be 1 to 63 characters of [A-Za-z0-9._-]"
                                                      : err_message(rc));
            exit_code = 1;
        } else {
            /* The key is shown once: only its hash is stored. */
            printf("%s\n", key);
            fprintf(stderr, "key %s for tenant %s%s created; store it now, it cannot be shown again\n", rec.id,
                    rec.tenant, admin ? " (admin)" : "");
        }
    } else if (strcmp(verb, "ls") == 0) {
        printf("%-18s %-24s %-6s %-14s %s\n", "ID", "TENANT", "ADMIN", "CREATED_MS", "STATE");
        if (store_keys_list(db, print_key, NULL) != 0) exit_code = 1;
    } else if (strcmp(verb, "revoke") == 0) {
        if (!id) exit_code = usage();
        else if ((rc = store_key_revoke(db, id, http_now_ms())) != 0) {
            fprintf(stderr, "optirsd keys: %s\n", rc == ERR_NOT_FOUND ? "no active key has this id" : err_message(rc));
            exit_code = 1;
        } else printf("revoked %s\n", id);
    } else {
        exit_code = usage();
    }
    store_close(db);
    return exit_code;
}
