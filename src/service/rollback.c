/* rollback.c — a session's stored state read back (see rollback.h). */
#include "rollback.h"

static int decode_row(void *ctx, const store_session_row *row)
{
    return snapshot_decode(ctx, row->snapshot, row->snapshot_len);
}

int rollback_load(store *db, const char *id, int flush, snapshot_state *st)
{
    if (flush) store_flush(db);
    return store_session_load(db, id, decode_row, st);
}
