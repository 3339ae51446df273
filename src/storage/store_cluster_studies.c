/* store_cluster_studies.c — which study store the daemon uses: the
 * cluster's (pg_studies.h) in cluster mode, else its SQLite file's.  See
 * study_store.h. */
#include "errors.h"
#include "pg_studies.h"
#include "store_internal.h"
#include "study_store.h"

int store_cluster_studies_open(store *db, const char *target, char *err, size_t errn)
{
    if (!db || !target || db->cstudies) return ERR_INVALID_ARGUMENT;
    return pg_studies_open(target, &db->cstudies, err, errn);
}

study_store store_study_store(store *db)
{
    return db && db->cstudies ? pg_studies_store(db->cstudies) : store_studies_store(db);
}
