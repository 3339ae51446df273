/* lopt_memory.c — the optimization-history memory; see lopt_memory.h. */
#include "lopt_memory.h"
#include "errors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NK LOPT_MEM_NKEY
#define NV LOPT_MEM_NVAL
#define DK LOPT_MEM_DK

uint64_t lopt_memory_bytes(int size)
{
    if (size <= 0) return 0;
    return (uint64_t)size * (NK + NV + 1) * sizeof(float);
}

int lopt_memory_init(lopt_memory *m, int size)
{
    memset(m, 0, sizeof *m);
    if (size < 1 || size > LOPT_MEM_MAX) return ERR_OUT_OF_RANGE;
    m->keys = calloc((size_t)size * NK, sizeof(float));
    m->vals = calloc((size_t)size * NV, sizeof(float));
    m->att = calloc((size_t)size, sizeof(float));
    if (!m->keys || !m->vals || !m->att) { lopt_memory_deinit(m); return ERR_NO_MEMORY; }
    m->size = size;
    m->ploss = NAN;
    return 0;
}

void lopt_memory_deinit(lopt_memory *m)
{
    free(m->keys); free(m->vals); free(m->att);
    memset(m, 0, sizeof *m);
}

void lopt_memory_observe(lopt_memory *m, double loss)
{
    if (!m->size) return;
    if (m->pending && isfinite(loss) && isfinite(m->ploss)) {
        double den = fabs(m->ploss) > 1e-30 ? fabs(m->ploss) : 1e-30;
        double d = (loss - m->ploss) / den;
        float dc = (float)(d > LOPT_MEM_DCLIP ? LOPT_MEM_DCLIP : d < -LOPT_MEM_DCLIP ? -LOPT_MEM_DCLIP : d);
        memcpy(m->keys + (size_t)m->next * NK, m->pkey, sizeof m->pkey);
        float *v = m->vals + (size_t)m->next * NV;
        v[0] = m->pval[0]; v[1] = m->pval[1]; v[2] = dc;
        m->next = (m->next + 1) % m->size;
        if (m->fill < m->size) m->fill++;
        m->trend = dc;
        m->trend_slow = 0.9f * m->trend_slow + 0.1f * dc;
    }
    m->pending = 0;
}

void lopt_memory_propose(lopt_memory *m, const float *key, float s, float g, double loss)
{
    if (!m->size) return;
    memcpy(m->pkey, key, sizeof m->pkey);
    m->pval[0] = s; m->pval[1] = g;
    m->ploss = loss;
    m->pending = 1;
}

/* u = Wkᵀ Wq key / √DK (NK): the score of entry i is u·key_i. */
static void score_vector(const float *Wq, const float *Wk, const float *key, float *q, float *u)
{
    float sc = 1.0f / sqrtf((float)DK);
    if (!Wq) {
        for (int d = 0; d < DK; d++) q[d] = d < NK ? key[d] : 0.0f;
        for (int f = 0; f < NK; f++) u[f] = (f < DK ? q[f] : 0.0f) * sc;
        return;
    }
    for (int d = 0; d < DK; d++) {
        float s = 0;
        for (int f = 0; f < NK; f++) s += Wq[d * NK + f] * key[f];
        q[d] = s;
    }
    for (int f = 0; f < NK; f++) {
        float s = 0;
        for (int d = 0; d < DK; d++) s += Wk[d * NK + f] * q[d];
        u[f] = s * sc;
    }
}

void lopt_memory_read(lopt_memory *m, const float *Wq, const float *Wk, const float *key, float *read)
{
    for (int k = 0; k < NV; k++) read[k] = 0.0f;
    if (!m->size || !m->fill) return;
    float q[DK], u[NK];
    score_vector(Wq, Wk, key, q, u);
    float mx = -INFINITY;
    for (int i = 0; i < m->fill; i++) {
        const float *ki = m->keys + (size_t)i * NK;
        float s = 0;
        for (int f = 0; f < NK; f++) s += u[f] * ki[f];
        m->att[i] = s;
        if (s > mx) mx = s;
    }
    double z = 0;
    for (int i = 0; i < m->fill; i++) { m->att[i] = expf(m->att[i] - mx); z += m->att[i]; }
    float iz = (float)(1.0 / z);
    double acc[NV] = {0};
    for (int i = 0; i < m->fill; i++) {
        m->att[i] *= iz;
        const float *v = m->vals + (size_t)i * NV;
        for (int k = 0; k < NV; k++) acc[k] += (double)m->att[i] * v[k];
    }
    for (int k = 0; k < NV; k++) read[k] = (float)acc[k];
}

void lopt_memory_read_backward(const lopt_memory *m, const float *Wq, const float *Wk, const float *key,
                               const float *dread, float *dWq, float *dWk)
{
    if (!m->size || !m->fill || !Wq) return;
    float q[DK], u[NK];
    score_vector(Wq, Wk, key, q, u);
    /* ds_i = a_i (da_i − Σ_j a_j da_j), da_i = dread·v_i; κ = Σ_i ds_i key_i */
    double mean = 0;
    for (int i = 0; i < m->fill; i++) {
        const float *v = m->vals + (size_t)i * NV;
        double da = 0;
        for (int k = 0; k < NV; k++) da += (double)dread[k] * v[k];
        mean += m->att[i] * da;
    }
    double kap[NK] = {0};
    for (int i = 0; i < m->fill; i++) {
        const float *v = m->vals + (size_t)i * NV, *ki = m->keys + (size_t)i * NK;
        double da = 0;
        for (int k = 0; k < NV; k++) da += (double)dread[k] * v[k];
        double ds = m->att[i] * (da - mean);
        for (int f = 0; f < NK; f++) kap[f] += ds * ki[f];
    }
    /* score_i = qᵀ Wk key_i / √DK: dWk += q κᵀ/√DK, dq = Wk κ/√DK, dWq += dq keyᵀ */
    double sc = 1.0 / sqrt((double)DK);
    for (int d = 0; d < DK; d++) {
        double dq = 0;
        for (int f = 0; f < NK; f++) {
            dWk[d * NK + f] += (float)(q[d] * kap[f] * sc);
            dq += Wk[d * NK + f] * kap[f];
        }
        dq *= sc;
        for (int f = 0; f < NK; f++) dWq[d * NK + f] += (float)(dq * key[f]);
    }
}

void lopt_memory_save(const lopt_memory *m, blob_writer *w)
{
    blob_put_u32(w, (uint32_t)m->size);
    if (!m->size) return;
    blob_put_u32(w, (uint32_t)m->fill);
    blob_put_u32(w, (uint32_t)m->next);
    blob_put_u32(w, (uint32_t)m->pending);
    blob_put_f32s(w, m->keys, (size_t)m->size * NK);
    blob_put_f32s(w, m->vals, (size_t)m->size * NV);
    blob_put_f32s(w, m->pkey, NK);
    blob_put_f32s(w, m->pval, NV - 1);
    blob_put_f64(w, m->ploss);
    blob_put_f32s(w, &m->trend, 1);
    blob_put_f32s(w, &m->trend_slow, 1);
}

int lopt_memory_load(lopt_memory *m, blob_reader *r)
{
    uint32_t size = blob_get_u32(r);
    if (blob_reader_status(r) || size != (uint32_t)m->size) return ERR_CORRUPT;
    if (!m->size) return 0;
    uint32_t fill = blob_get_u32(r), next = blob_get_u32(r), pending = blob_get_u32(r);
    if (blob_reader_status(r) || fill > size || next >= size || pending > 1 ||
        (fill < size && next != fill))
        return ERR_CORRUPT;
    blob_get_f32s(r, m->keys, (size_t)m->size * NK);
    blob_get_f32s(r, m->vals, (size_t)m->size * NV);
    blob_get_f32s(r, m->pkey, NK);
    blob_get_f32s(r, m->pval, NV - 1);
    m->ploss = blob_get_f64(r);
    blob_get_f32s(r, &m->trend, 1);
    blob_get_f32s(r, &m->trend_slow, 1);
    if (blob_reader_status(r)) return ERR_CORRUPT;
    m->fill = (int)fill; m->next = (int)next; m->pending = (int)pending;
    return 0;
}
