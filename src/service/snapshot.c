/* snapshot.c — the session snapshot codec (see snapshot.h). */
#include "snapshot.h"

#include <math.h>
#include <stdlib.h>

#include "blob.h"
#include "errors.h"

int snapshot_encode(const snapshot_state *st, uint8_t **out, size_t *len)
{
    uint8_t *ob = NULL;
    size_t ol = 0;
    int rc = opt_save(st->o, &ob, &ol);
    if (rc) return rc;
    blob_writer w;
    rc = blob_writer_init(&w, BLOB_KIND_SESSION, SNAPSHOT_VERSION);
    if (!rc) {
        size_t n = st->n;
        blob_put_u64(&w, (uint64_t)st->step);
        blob_put_u64(&w, n);
        blob_put_f64(&w, st->last_loss);
        blob_put_f32s(&w, st->params, n);
        blob_put_f32s(&w, st->last_update, n);
        blob_put_u64(&w, ol);
        blob_put_bytes(&w, ob, ol);
        blob_put_u32(&w, (uint32_t)st->last_applied);
        blob_put_f64(&w, st->best_loss);
        blob_put_u32(&w, st->ad->nmult ? 1u : 0u);
        if (st->ad->nmult) adapt_save(st->ad, &w);
        blob_put_u32(&w, st->es->K ? 1u : 0u);
        if (st->es->K) online_es_save(st->es, &w);
        rc = blob_writer_finish(&w, out, len);
    }
    free(ob);
    return rc;
}

int snapshot_decode(snapshot_state *st, const void *data, size_t len)
{
    blob_reader r;
    uint32_t version;
    int rc = blob_reader_init(&r, data, len, BLOB_KIND_SESSION, &version);
    if (rc) return rc;
    if (version < 1 || version > SNAPSHOT_VERSION) return ERR_CORRUPT;
    size_t n = st->n;
    int64_t step = (int64_t)blob_get_u64(&r);
    if (blob_get_u64(&r) != n) return ERR_CORRUPT;
    st->last_loss = blob_get_f64(&r);
    blob_get_f32s(&r, st->params, n);
    blob_get_f32s(&r, st->last_update, n);
    uint64_t ol = blob_get_u64(&r);
    if (blob_reader_status(&r) || ol > r.len - r.pos) return ERR_CORRUPT;
    rc = opt_load(st->o, r.p + r.pos, (size_t)ol);
    if (rc) return rc;
    r.pos += (size_t)ol;
    st->last_applied = 1;
    st->best_loss = NAN;
    if (version >= 2) {
        st->last_applied = (int)blob_get_u32(&r);
        st->best_loss = blob_get_f64(&r);
        if (blob_reader_status(&r)) return ERR_CORRUPT;
    }
    if (version >= 3 && blob_get_u32(&r) && (!st->ad->nmult || adapt_load(st->ad, &r) != 0)) return ERR_CORRUPT;
    if (version >= 4) {
        uint32_t has_es = blob_get_u32(&r);
        if (blob_reader_status(&r) || (has_es != 0) != (st->es->K != 0)) return ERR_CORRUPT;
        if (has_es && online_es_load(st->es, &r) != 0) return ERR_CORRUPT;
    } else if (st->es->K) {
        return ERR_CORRUPT;   /* no snapshot before version 4 had a learner */
    }
    st->step = step;
    return 0;
}
