/* meta_split.c — an outer step whose particles several processes evaluated:
 * each particle's scalars out, the step completed from every particle's
 * scalars in the fixed order of meta_step_end, and a checkpoint assembled
 * from the owners' particle sections.  See meta.h, "Split steps". */
#include "meta.h"
#include "meta_internal.h"
#include "errors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A particle section blob: BLOB_KIND_META under a version no checkpoint
 * has (meta_load refuses it), then the fingerprint, the step and k. */
#define META_PART_VERSION 0x70617274u

int meta_particle_returns(const meta_job *j, int k, double ret[META_RET_N])
{
    if (k < 0 || k >= j->cfg.nparticles) return ERR_INVALID_ARGUMENT;
    const particle *p = &j->P[k];
    ret[0] = p->Lp;
    ret[1] = p->Lm;
    ret[2] = p->nfail;
    ret[3] = (double)p->episode;
    ret[4] = p->failed;
    ret[5] = p->active;
    ret[6] = (double)p->t;
    ret[7] = (double)p->horizon;
    return 0;
}

const float *meta_particle_grad(const meta_job *j, int k)
{
    if (j->cfg.estimator != META_TBPTT || k < 0 || k >= j->cfg.nparticles) return NULL;
    return j->P[k].eps;
}

/* A count field: an integer in [0, 2^53]. */
static int count_ok(double v)
{
    return v >= 0 && v <= 9007199254740992.0 && v == floor(v);
}

static int returns_ok(const double *r)
{
    return isfinite(r[0]) && isfinite(r[1]) && count_ok(r[2]) && r[2] <= 3 && count_ok(r[3]) &&
           (r[4] == 0 || r[4] == 1) && (r[5] == 0 || r[5] == 1) && count_ok(r[6]) && count_ok(r[7]);
}

/* Completes non-owned particle k of a PES step: the owner's bookkeeping,
 * and ξ_k as the owner accumulated it. */
static void pes_follow(meta_job *j, int k, const double *r)
{
    particle *p = &j->P[k];
    size_t nt = j->w.ntheta;
    if (p->tk) meta_particle_drop(p);   /* a checkpoint's paths: the owner has them */
    if ((uint64_t)r[3] != p->episode) memset(p->xi, 0, nt * sizeof(float));   /* a new episode */
    meta_draw_eps(j, k, p);
    for (size_t i = 0; i < nt; i++) p->xi[i] += p->eps[i];
    p->episode = (uint64_t)r[3];
    p->failed = (int)r[4];
    p->active = (int)r[5];
    p->t = (int64_t)r[6];
    p->horizon = (int64_t)r[7];
}

int meta_step_end_split(meta_job *j, int k0, int k1, const double *ret, const float *grads, meta_report *rep)
{
    int P = j->cfg.nparticles, est = j->cfg.estimator;
    size_t nt = j->w.ntheta;
    if (k0 < 0 || k1 < k0 || k1 > P || !ret) return ERR_INVALID_ARGUMENT;
    if (est == META_TBPTT && !grads && (k0 > 0 || k1 < P)) return ERR_INVALID_ARGUMENT;
    for (int k = 0; k < P; k++)
        if ((k < k0 || k >= k1) && !returns_ok(ret + (size_t)k * META_RET_N)) return ERR_INVALID_ARGUMENT;
    for (int k = 0; k < P; k++) {
        if (k >= k0 && k < k1) continue;
        const double *r = ret + (size_t)k * META_RET_N;
        particle *p = &j->P[k];
        p->Lp = r[0];
        p->Lm = r[1];
        p->nfail = (int)r[2];
        if (est == META_ES) meta_draw_eps(j, k, p);
        else if (est == META_PES) pes_follow(j, k, r);
        else memcpy(p->eps, grads + (size_t)k * nt, nt * sizeof(float));
    }
    return meta_step_end(j, rep);
}

int meta_particle_save(const meta_job *j, int k, uint8_t **out, size_t *out_len)
{
    if (k < 0 || k >= j->cfg.nparticles) return ERR_INVALID_ARGUMENT;
    blob_writer w;
    int rc = blob_writer_init(&w, BLOB_KIND_META, META_PART_VERSION);
    if (rc) return rc;
    blob_put_u64(&w, meta_cfg_fingerprint(j));
    blob_put_u64(&w, (uint64_t)j->step);
    blob_put_u32(&w, (uint32_t)k);
    rc = meta_put_particle(&w, j, k);
    if (rc) { blob_writer_deinit(&w); return rc; }
    return blob_writer_finish(&w, out, out_len);
}

int meta_part_copy(blob_writer *w, const meta_job *j, int k, const uint8_t *part, size_t len)
{
    blob_reader r;
    uint32_t version;
    if (blob_reader_init(&r, part, len, BLOB_KIND_META, &version) || version != META_PART_VERSION)
        return ERR_CORRUPT;
    uint64_t fp = blob_get_u64(&r), step = blob_get_u64(&r);
    uint32_t pk = blob_get_u32(&r);
    if (blob_reader_status(&r) || fp != meta_cfg_fingerprint(j) || step != (uint64_t)j->step || pk != (uint32_t)k)
        return ERR_CORRUPT;
    blob_put_bytes(w, r.p + r.pos, r.len - r.pos);
    return 0;
}
