/* test_store_schema.c — opening a store (store_schema.c): a new database
 * gets the current schema version; a v1 database (a copy of the first
 * shipped schema) migrates forward keeping its rows and dropping those of
 * sessions that no longer exist, and ends with the weights' domain column
 * and the sessions' status_ms (its updated_ms, then moved by a status change
 * only) and creation-time index; a database newer than this build is refused
 * and left untouched.  Every test ends with PRAGMA integrity_check and
 * foreign_key_check on the closed database. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "errors.h"
#include "store.h"
#include "store_internal.h"

#define STORE_TEST_NAME "test_store_schema"
#include "store_test_util.h"

/* ---- tests ------------------------------------------------------------------ */

/* The schema as shipped at user_version 1 (a copy: this is what old files hold). */
static const char schema_v1[] =
    "CREATE TABLE sessions("
    "  id TEXT PRIMARY KEY, meta_json TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'active',"
    "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, step INTEGER NOT NULL,"
    "  snapshot BLOB NOT NULL);"
    "CREATE TABLE metrics("
    "  session_id TEXT NOT NULL, step INTEGER NOT NULL, time_ms INTEGER NOT NULL, loss REAL,"
    "  grad_norm REAL, update_norm REAL, param_norm REAL, lr REAL, duration_us REAL,"
    "  PRIMARY KEY(session_id, step)) WITHOUT ROWID;"
    "CREATE TABLE feedback("
    "  session_id TEXT NOT NULL, step INTEGER NOT NULL, loss REAL, metrics_json TEXT,"
    "  time_ms INTEGER NOT NULL, PRIMARY KEY(session_id, step)) WITHOUT ROWID;"
    "INSERT INTO sessions VALUES('old', '{\"v\":1}', 'active', 5, 6, 7, x'0707');"
    "INSERT INTO metrics VALUES('old', 1, 10, 0.5, NULL, NULL, NULL, NULL, NULL);"
    "INSERT INTO metrics VALUES('old', 2, 20, NULL, 1.5, NULL, NULL, NULL, NULL);"
    "INSERT INTO metrics VALUES('gone', 1, 10, 0.5, NULL, NULL, NULL, NULL, NULL);"
    "INSERT INTO feedback VALUES('old', 1, 0.25, '{}', 11);"
    "INSERT INTO feedback VALUES('gone', 1, 0.25, '{}', 11);"
    "PRAGMA user_version = 1;";

static void test_store_sets_schema_version_and_migrates_a_v1_database(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    store_close(s);
    assert_true(SCHEMA_VERSION_NOW >= 3);   /* 1 backbone, 2 foreign keys, 3 auth, … */
    assert_int_equal(raw_int(path, "PRAGMA user_version"), SCHEMA_VERSION_NOW);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM pragma_foreign_key_list('metrics')"), 1);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM pragma_foreign_key_list('feedback')"), 1);
    assert_int_equal(raw_int(path, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
    /* reopening an existing, current database works and changes nothing */
    assert_int_equal(store_open(path, &s), 0);
    create_session(s, "after_reopen", 1, 4, 4);
    store_close(s);
    assert_int_equal(raw_int(path, "PRAGMA user_version"), SCHEMA_VERSION_NOW);

    /* a v1 file from the backbone: migrated forward, rows kept, orphans dropped */
    char old[300];
    db_path(old, sizeof old);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(old, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, schema_v1, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(old, &s), 0);
    sess_rows *all = load_all(s);
    assert_int_equal(all->n, 1);
    assert_string_equal(all->id[0], "old");
    assert_int_equal(all->step[0], 7);
    assert_int_equal(all->snap_len[0], 2);
    assert_int_equal(all->snap_first[0], 7);
    free(all);
    metric_rows *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(store_metrics_query(s, "old", 0, -1, metric_collect, c), 0);
    assert_int_equal(c->n, 2);
    assert_true(c->m[0].loss == 0.5);
    assert_true(isnan(c->m[1].loss));
    assert_true(c->m[1].grad_norm == 1.5);
    free(c);
    assert_int_equal(count_metrics(s, "gone"), 0);
    /* the lifecycle's write (schema 9): status_ms moves with a status change only */
    assert_int_equal(store_session_patch(s, "old", NULL, "{\"v\":2}", 100), 0);
    assert_int_equal(store_session_patch(s, "old", "active", NULL, 200), 0);
    assert_int_equal(store_session_patch(s, "nobody", "finished", NULL, 300), ERR_SESSION_NOT_FOUND);
    store_close(s);
    assert_int_equal(raw_int(old, "SELECT status_ms FROM sessions WHERE id = 'old'"), 6);   /* its updated_ms */
    assert_int_equal(raw_int(old, "SELECT updated_ms FROM sessions WHERE id = 'old'"), 200);
    assert_int_equal(store_open(old, &s), 0);
    assert_int_equal(store_session_patch(s, "old", "finished", NULL, 400), 0);
    store_close(s);
    assert_int_equal(raw_int(old, "SELECT status_ms FROM sessions WHERE id = 'old' AND status = 'finished'"
                                  " AND meta_json = '{\"v\":2}'"), 400);
    assert_int_equal(raw_int(old, "SELECT count(*) FROM pragma_index_list('sessions')"
                                  " WHERE name = 'sessions_by_created'"), 1);
    assert_int_equal(store_open(old, &s), 0);
    assert_int_equal(raw_int(path, "PRAGMA user_version"), SCHEMA_VERSION_NOW);
    assert_int_equal(raw_int(old, "PRAGMA user_version"), SCHEMA_VERSION_NOW);
    assert_int_equal(raw_int(old, "SELECT count(*) FROM feedback"), 1);
    /* the weights records carry a domain (schema 4; domain defaults are chosen by it) */
    assert_int_equal(raw_int(old, "SELECT count(*) FROM pragma_table_info('weights') WHERE name = 'domain'"
                                  " AND \"notnull\" = 1"), 1);
    check_integrity(old);
    check_integrity(path);

    /* a file from a newer daemon is refused, not downgraded */
    char newer[300];
    db_path(newer, sizeof newer);
    assert_int_equal(sqlite3_open(newer, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    s = (store *)1;
    assert_int_equal(store_open(newer, &s), ERR_STORAGE);
    assert_null(s);
    assert_int_equal(raw_int(newer, "PRAGMA user_version"), 99);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_sets_schema_version_and_migrates_a_v1_database),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
