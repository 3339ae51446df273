/* lopt_fast_kern.h — the body of lopt_fast.c's kernels, written once and
 * included by lopt_fast.c: with KW = 8 under `#pragma GCC target ("avx2")`,
 * with KW = 4 for baseline x86-64 (SSE2), and with KW = 16 under AVX-512
 * (all but mlp_lopt's statistics pass, whose 8 logical lanes need
 * KW <= 8: lopt_fast.c runs the AVX2 one there).  KS(name)
 * appends the instruction-set suffix to every name defined here; KMIN/KMAX
 * are the ISA's lane-wise min/max (minps semantics: min(a, b) = a < b ? a :
 * b, so a NaN in b comes through); for KW = 16, KLD2(p, q) / KST2(p, q, v)
 * load / store lanes 0..7 at p and 8..15 at q; KINLINE forces inlining
 * (lopt_fast.c says why).  Not a module header:
 * nothing else includes it.
 *
 * Why the instantiations give bitwise identical results: every operation is
 * lane-wise on one element (IEEE float32 +, −, ×, ÷, √ and comparisons; no
 * FMA contraction under -std=c11, no reciprocal approximations), and the
 * only cross-element operations — the sums of squares that normalise the
 * features and the row sums of the factored accumulator — run over 8
 * logical lanes in both builds (the SSE build keeps two 4-lane halves,
 * element i goes to logical lane i mod 8 of its run) and are flushed to
 * double in a fixed order every FLUSH elements.  Elements past the last
 * full group of 8 of a run are done by scalar code common to both. */

#define VF   KS(vf)
#define VI   KS(vi)
#define NV   (8 / KW)
#define LNV  (KW < 8 ? 8 / KW : 1)   /* lstm: machine vectors per 8-coordinate block */
#define LBK  (KW > 8 ? KW / 8 : 1)   /* lstm: 8-coordinate blocks per machine vector */

typedef float   VF __attribute__((vector_size(KW * 4)));
typedef int32_t VI __attribute__((vector_size(KW * 4)));

/* x − 0 (not 0 + x, which turns −0 into +0). */
static inline VF KS(splat)(float x) { return x - (VF){0}; }
static inline VF KS(ld)(const float *p) { VF v; memcpy(&v, p, sizeof v); return v; }
static inline void KS(st)(float *p, VF v) { memcpy(p, &v, sizeof v); }
/* k < KW floats; missing lanes read as 0 / are not written. */
static inline VF KS(ldn)(const float *p, size_t k) { VF v = {0}; memcpy(&v, p, k * sizeof(float)); return v; }
static inline void KS(stn)(float *p, VF v, size_t k) { memcpy(p, &v, k * sizeof(float)); }
static inline VF KS(sel)(VI m, VF a, VF b) { return (VF)((m & (VI)a) | (~m & (VI)b)); }
/* e^x for every float x: +inf above 88.72, 0 below −87.3, NaN stays NaN;
 * relative error ~2 ulp otherwise.  Range reduction x = k ln2 + r,
 * |r| <= ln2/2, degree-7 Taylor polynomial, scale by 2^⌊k/2⌋·2^(k−⌊k/2⌋)
 * so that k = 128 does not overflow the exponent field. */
static inline VF KS(vexp)(VF x)
{
    const float hi = 88.7228f, lo = -87.3f;
    VF xc = KS(sel)(x > hi, KS(splat)(hi), KS(sel)(x < lo, KS(splat)(lo), x));
    const float magic = 12582912.0f;                 /* 1.5·2^23: round to nearest */
    VF t = xc * 1.44269504f + magic;
    VF kf = t - magic;
    VI k = (VI)t - (VI)KS(splat)(magic);
    VF r = xc - kf * 0.693145752f;                    /* ln2 split in two */
    r = r - kf * 1.42860677e-06f;
    VF p = KS(splat)(1.0f / 5040);
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    VI k1 = k >> 1, k2 = k - k1;
    VF s1 = (VF)((k1 + 127) << 23), s2 = (VF)((k2 + 127) << 23);
    VF e = p * s1 * s2;
    e = KS(sel)(x > hi, KS(splat)(INFINITY), e);
    e = KS(sel)(x < lo, KS(splat)(0.0f), e);
    return KS(sel)(x != x, x, e);
}

/* ln x for finite x > 0 (normal numbers; other lanes give garbage and must
 * be masked by the caller).  x = 2^e m with m in [√½, √2), ln m =
 * 2 atanh(s), s = (m − 1)/(m + 1), |s| < 0.172, odd series to s^11. */
static inline VF KS(vlog)(VF x)
{
    VI b = (VI)x;
    VI e = ((b >> 23) & 0xff) - 127;
    VF m = (VF)((b & 0x007fffff) | 0x3f800000);      /* [1, 2) */
    VI big = m > 1.41421356f;
    m = KS(sel)(big, m * 0.5f, m);
    e = e + (big & 1);
    VF s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    VF q = KS(splat)(1.0f / 11);
    q = q * s2 + 1.0f / 9;
    q = q * s2 + 1.0f / 7;
    q = q * s2 + 1.0f / 5;
    q = q * s2 + 1.0f / 3;
    q = q * s2 + 1.0f;
    VF ef = __builtin_convertvector(e, VF);
    return ef * 0.693145752f + (ef * 1.42860677e-06f + 2.0f * s * q);
}

#if KW <= 8
/* ---- mlp_lopt: accumulators and normaliser statistics ------------------- */

/* 8 logical lanes of float partial sums, flushed into double. */
typedef struct KS(acc) { VF a[LOPT_NFEAT][NV]; } KS(acc);

static void KS(acc_flush)(KS(acc) *A, int nstat, int first, double *ss)
{
    for (int s = 0; s < nstat; s++) {
        float t[8];
        for (int q = 0; q < NV; q++) { KS(st)(t + q * KW, A->a[s][q]); A->a[s][q] = KS(splat)(0.0f); }
        double sum = 0;
        for (int l = 0; l < 8; l++) sum += t[l];
        ss[first + s] += sum;
    }
}

#define FLUSH 512

/* Updates m0..m2, v (and d when d != NULL) over a run of len elements and
 * adds the sums of squares of features 0..9 (0..11 when d != NULL: v̂ = d)
 * into ss.  When colsum != NULL (2-D, one row): colsum[j] += g²+ε and
 * returns the row's sum of g²+ε. */
static float KS(mlp_stats_run)(const lopt_fast_decay *bd, const float *g, const float *p, float *m0,
                               float *m1, float *m2, float *v, float *d, float *colsum, size_t len,
                               double *ss)
{
    KS(acc) A;
    VF rs[NV];
    int nstat = d ? 12 : 10;
    for (int s = 0; s < LOPT_NFEAT; s++)
        for (int q = 0; q < NV; q++) A.a[s][q] = KS(splat)(0.0f);
    for (int q = 0; q < NV; q++) rs[q] = KS(splat)(0.0f);
    size_t full = len & ~(size_t)7, i = 0;
    const float b0 = bd->b[0], b1 = bd->b[1], b2 = bd->b[2], bv = bd->b[3], bf = bd->b[4];
    const float c0 = bd->c[0], c1 = bd->c[1], c2 = bd->c[2], cv = bd->c[3], cf = bd->c[4];
    while (i < full) {
        size_t end = i + FLUSH < full ? i + FLUSH : full;
        for (; i < end; i += KW) {
            int q = (int)((i / KW) % NV);
            VF gi = KS(ld)(g + i), pi = KS(ld)(p + i);
            VF a0 = b0 * KS(ld)(m0 + i) + c0 * gi;
            VF a1 = b1 * KS(ld)(m1 + i) + c1 * gi;
            VF a2 = b2 * KS(ld)(m2 + i) + c2 * gi;
            VF vv = bv * KS(ld)(v + i) + cv * gi * gi;
            KS(st)(m0 + i, a0); KS(st)(m1 + i, a1); KS(st)(m2 + i, a2); KS(st)(v + i, vv);
            VF iv = 1.0f / (vv + LOPT_V_EPS);
            VF q0 = a0 * a0, q1 = a1 * a1, q2 = a2 * a2;
            A.a[0][q] += gi * gi; A.a[1][q] += pi * pi;
            A.a[2][q] += q0; A.a[3][q] += q1; A.a[4][q] += q2; A.a[5][q] += vv;
            A.a[6][q] += q0 * iv; A.a[7][q] += q1 * iv; A.a[8][q] += q2 * iv; A.a[9][q] += iv;
            if (d) {
                VF dd = bf * KS(ld)(d + i) + cf * (gi * gi + LOPT_FAC_EPS);
                KS(st)(d + i, dd);
                VF ivh = 1.0f / (dd + LOPT_FAC_EPS);
                A.a[10][q] += gi * gi * ivh; A.a[11][q] += ivh;
            }
            if (colsum) {
                VF qq = gi * gi + LOPT_FAC_EPS;
                KS(st)(colsum + i, KS(ld)(colsum + i) + qq);
                rs[q] += qq;
            }
        }
        KS(acc_flush)(&A, nstat, 0, ss);
    }
    float t[8], rowsum = 0;
    for (int q = 0; q < NV; q++) KS(st)(t + q * KW, rs[q]);
    for (int l = 0; l < 8; l++) rowsum += t[l];
    for (; i < len; i++) {
        float gi = g[i];
        m0[i] = b0 * m0[i] + c0 * gi;
        m1[i] = b1 * m1[i] + c1 * gi;
        m2[i] = b2 * m2[i] + c2 * gi;
        v[i] = bv * v[i] + cv * gi * gi;
        float iv = 1.0f / (v[i] + LOPT_V_EPS);
        float q0 = m0[i] * m0[i], q1 = m1[i] * m1[i], q2 = m2[i] * m2[i];
        ss[0] += gi * gi; ss[1] += p[i] * p[i];
        ss[2] += q0; ss[3] += q1; ss[4] += q2; ss[5] += v[i];
        ss[6] += q0 * iv; ss[7] += q1 * iv; ss[8] += q2 * iv; ss[9] += iv;
        if (d) {
            d[i] = bf * d[i] + cf * (gi * gi + LOPT_FAC_EPS);
            float ivh = 1.0f / (d[i] + LOPT_FAC_EPS);
            ss[10] += gi * gi * ivh; ss[11] += ivh;
        }
        if (colsum) {
            float qq = gi * gi + LOPT_FAC_EPS;
            colsum[i] += qq;
            rowsum += qq;
        }
    }
    return rowsum;
}

/* Sums of g²/v̂ and 1/v̂ (features 10, 11) over one row of a 2-D tensor:
 * v̂_j = rowscale · c[j]. */
static void KS(mlp_stats_fac_row)(const float *g, const float *c, float rowscale, size_t len, double *ss)
{
    KS(acc) A;
    for (int q = 0; q < NV; q++) A.a[0][q] = A.a[1][q] = KS(splat)(0.0f);
    size_t full = len & ~(size_t)7, i = 0;
    while (i < full) {
        size_t end = i + FLUSH < full ? i + FLUSH : full;
        for (; i < end; i += KW) {
            int q = (int)((i / KW) % NV);
            VF gi = KS(ld)(g + i);
            VF ivh = 1.0f / (rowscale * KS(ld)(c + i) + LOPT_FAC_EPS);
            A.a[0][q] += gi * gi * ivh; A.a[1][q] += ivh;
        }
        KS(acc_flush)(&A, 2, 10, ss);
    }
    for (; i < len; i++) {
        float ivh = 1.0f / (rowscale * c[i] + LOPT_FAC_EPS);
        ss[10] += g[i] * g[i] * ivh; ss[11] += ivh;
    }
}
#endif /* KW <= 8 */

/* ---- mlp_lopt: features → network → update on one run ------------------- */

/* relu as the reference writes it (s > 0 ? s : 0; NaN → 0): maxps(s, 0)
 * returns its first operand exactly when s > 0. */
static inline VF KS(relu0)(VF s) { return KMAX(s, KS(splat)(0.0f)); }

/* The hidden activation act (LOPT_ACT_*): relu0 for relu, bit for bit the
 * reference; gelu and swish as lopt.h's lopt_act writes them, x·σ(z) with
 * z = 2√(2/π)(x + 0.044715x³) or z = x, here as x/(1 + e^{−z}) through
 * vexp, in float: within a few ulp of (float)lopt_act (the tests bound it).
 * Callers pass act as a constant where they can, so that the relu path
 * keeps no branch. */
static inline KINLINE VF KS(actv)(int act, VF s)
{
    if (act != LOPT_ACT_GELU && act != LOPT_ACT_SWISH) return KS(relu0)(s);
    VF z = act == LOPT_ACT_GELU ? 1.59576912f * (s + 0.044715f * (s * s * s)) : s;
    return s / (1.0f + KS(vexp)(-z));
}

/* s[k] = act(b[k] + Σ_j W[k·ld + j]·x[j]) for the G = 8 units k of a
 * group, each sum in the order j = 0, 1, … of the reference (so the bits
 * are the reference's), the G chains interleaved so that they overlap
 * instead of waiting on one another's additions. */
#define MLP_G 8
static inline KINLINE void KS(mlp_group)(const float *W, size_t ld, const float *b, const VF *x, int nin,
                                         int act, VF *s)
{
#pragma GCC unroll 8
    for (int k = 0; k < MLP_G; k++) s[k] = KS(splat)(b[k]);
#pragma GCC unroll 16
    for (int j = 0; j < nin; j++) {
        VF xj = x[j];
#pragma GCC unroll 8
        for (int k = 0; k < MLP_G; k++) s[k] += W[(size_t)k * ld + j] * xj;
    }
#pragma GCC unroll 8
    for (int k = 0; k < MLP_G; k++) s[k] = KS(actv)(act, s[k]);
}

/* One unit: the same sum alone (the units past the last group of 8). */
static inline KINLINE VF KS(mlp_unit)(const float *w, float b, const VF *x, int nin, int act)
{
    VF s = KS(splat)(b);
    for (int j = 0; j < nin; j++) s += w[j] * x[j];
    return KS(actv)(act, s);
}

/* The hidden layer of H units on inputs x (nin) into h (H). */
static inline KINLINE void KS(mlp_layer)(const float *W, size_t ld, const float *b, const VF *x, int nin,
                                         int H, int act, VF *h)
{
    int u = 0;
    for (; u + MLP_G <= H; u += MLP_G) KS(mlp_group)(W + (size_t)u * ld, ld, b + u, x, nin, act, h + u);
    for (; u < H; u++) h[u] = KS(mlp_unit)(W + (size_t)u * ld, b[u], x, nin, act);
}

/* Depth 2 and more (any width): one machine vector's outputs (o0, o1) =
 * bo + Wo·h of the last hidden layer, each sum in the unit order 0, 1, …
 * of the reference. */
static inline KINLINE void KS(mlp_net)(const lopt_fast_mlp *net, const VF *x, int act, VF *o0, VF *o1)
{
    const int H = net->hidden;
    const float *Wo = net->Wo;
    VF a = KS(splat)(net->bo[0]), c = KS(splat)(net->bo[1]);
    VF h[LOPT_MAX_HIDDEN], h2[LOPT_MAX_HIDDEN];
    KS(mlp_layer)(net->W0, net->ldw0, net->bias0, x, LOPT_NFEAT, H, act, h);
    for (int l = 1; l < net->depth; l++) {
        KS(mlp_layer)(net->W[l], (size_t)H, net->b[l], h, H, H, act, h2);
        memcpy(h, h2, (size_t)H * sizeof(VF));
    }
    for (int j = 0; j < H; j++) { a += Wo[j] * h[j]; c += Wo[H + j] * h[j]; }
    *o0 = a;
    *o1 = c;
}

/* clip(z) = z > c ? c : (z < −c ? −c : z) (NaN and −0 pass through):
 * minps(c, maxps(−c, z)). */
static inline VF KS(clipm)(VF z)
{
    return KMIN(KS(splat)(LOPT_FEAT_CLIP), KMAX(KS(splat)(-LOPT_FEAT_CLIP), z));
}

/* The features of one machine vector of KW elements into x (all lanes
 * computed; the caller stores the ones that exist).  vh: v̂ of the lanes. */
static inline void KS(mlp_feats)(const float *inv, VF gi, VF pi, VF a0, VF a1, VF a2, VF vv, VF vh,
                                 VF *x)
{
    VF rv = 1.0f / KSQRT(vv + LOPT_V_EPS);
    VF rf = 1.0f / KSQRT(vh + LOPT_FAC_EPS);
    x[0] = KS(clipm)(gi * inv[0]);
    x[1] = KS(clipm)(pi * inv[1]);
    x[2] = KS(clipm)(a0 * inv[2]);
    x[3] = KS(clipm)(a1 * inv[3]);
    x[4] = KS(clipm)(a2 * inv[4]);
    x[5] = KS(clipm)(KSQRT(vv) * inv[5]);
    x[6] = KS(clipm)(a0 * rv * inv[6]);
    x[7] = KS(clipm)(a1 * rv * inv[7]);
    x[8] = KS(clipm)(a2 * rv * inv[8]);
    x[9] = KS(clipm)(rv * inv[9]);
    x[10] = KS(clipm)(gi * rf * inv[10]);
    x[11] = KS(clipm)(rf * inv[11]);
}

/* Machine vectors per block of the depth-1 network. */
#define MLP_BV 8

/* Depth 1 (the shipped shape), any width: the updates du of the nv <=
 * MLP_BV machine vectors whose features are X.  Unit by unit over the
 * whole block, so each unit's weights stay in registers and the block's
 * nv sums — each in the reference's order, features 0, 1, … — are
 * independent chains that overlap; the outputs (a, c) add the units in
 * the order 0, 1, … as the reference does. */
static inline KINLINE void KS(mlp_block1)(const lopt_fast_mlp *net, const VF (*X)[LOPT_NFEAT], int nv, int act,
                                          VF *du)
{
    const int H = net->hidden;
    const float *Wo = net->Wo;
    VF A[MLP_BV], C[MLP_BV];
    for (int v = 0; v < nv; v++) { A[v] = KS(splat)(net->bo[0]); C[v] = KS(splat)(net->bo[1]); }
    for (int k = 0; k < H; k++) {
        const float *w = net->W0 + (size_t)k * net->ldw0;
        VF wk[LOPT_NFEAT];
#pragma GCC unroll 12
        for (int j = 0; j < LOPT_NFEAT; j++) wk[j] = KS(splat)(w[j]);
        VF b = KS(splat)(net->bias0[k]), wa = KS(splat)(Wo[k]), wc = KS(splat)(Wo[H + k]);
        int v = 0;
        for (; v + 4 <= nv; v += 4) {
            /* four vectors' sums side by side: more additions in flight */
            VF s0 = b, s1 = b, s2 = b, s3 = b;
#pragma GCC unroll 12
            for (int j = 0; j < LOPT_NFEAT; j++) {
                s0 += wk[j] * X[v][j];
                s1 += wk[j] * X[v + 1][j];
                s2 += wk[j] * X[v + 2][j];
                s3 += wk[j] * X[v + 3][j];
            }
            VF h0 = KS(actv)(act, s0), h1 = KS(actv)(act, s1), h2 = KS(actv)(act, s2), h3 = KS(actv)(act, s3);
            A[v] += wa * h0; C[v] += wc * h0;
            A[v + 1] += wa * h1; C[v + 1] += wc * h1;
            A[v + 2] += wa * h2; C[v + 2] += wc * h2;
            A[v + 3] += wa * h3; C[v + 3] += wc * h3;
        }
        for (; v + 2 <= nv; v += 2) {
            VF s = b, t = b;
#pragma GCC unroll 12
            for (int j = 0; j < LOPT_NFEAT; j++) {
                s += wk[j] * X[v][j];
                t += wk[j] * X[v + 1][j];
            }
            VF h = KS(actv)(act, s), e = KS(actv)(act, t);
            A[v] += wa * h;
            C[v] += wc * h;
            A[v + 1] += wa * e;
            C[v + 1] += wc * e;
        }
        if (v < nv) {
            VF s = b;
#pragma GCC unroll 12
            for (int j = 0; j < LOPT_NFEAT; j++) s += wk[j] * X[v][j];
            VF h = KS(actv)(act, s);
            A[v] += wa * h;
            C[v] += wc * h;
        }
    }
    for (int v = 0; v < nv; v++) du[v] = (-net->mult * A[v]) * KS(vexp)(MLP_LAMBDA2_ * C[v]);
}

/* Depth 2 and more: one machine vector through mlp_net. */
static inline KINLINE VF KS(mlp_deep)(const lopt_fast_mlp *net, const VF *x, int act)
{
    VF o0, o1;
    KS(mlp_net)(net, x, act, &o0, &o1);
    return (-net->mult * o0) * KS(vexp)(MLP_LAMBDA2_ * o1);
}

/* Updates of the run [0, len): v̂_j = vscale · vh[j].  Returns 1 when an
 * update is non-finite. */
static int KS(mlp_apply_run)(const lopt_fast_mlp *net, const float *g, const float *p, const float *m0,
                             const float *m1, const float *m2, const float *v, const float *vh,
                             float vscale, size_t len, float *u)
{
    VF X[MLP_BV][LOPT_NFEAT], du[MLP_BV];
    VI bad = {0};
    int anybad = 0;
    size_t i = 0;
    const int deep = net->depth > 1;
    while (i < len) {
        /* a block of up to MLP_BV full vectors, or the run's last, partial one */
        int nv = 0;
        size_t k = KW;
        if (i + KW <= len) {
            for (; nv < MLP_BV && i + (size_t)nv * KW + KW <= len; nv++) {
                size_t o = i + (size_t)nv * KW;
                KS(mlp_feats)(net->inv_rms, KS(ld)(g + o), KS(ld)(p + o), KS(ld)(m0 + o), KS(ld)(m1 + o),
                              KS(ld)(m2 + o), KS(ld)(v + o), vscale * KS(ld)(vh + o), X[nv]);
            }
        } else {
            k = len - i;
            KS(mlp_feats)(net->inv_rms, KS(ldn)(g + i, k), KS(ldn)(p + i, k), KS(ldn)(m0 + i, k),
                          KS(ldn)(m1 + i, k), KS(ldn)(m2 + i, k), KS(ldn)(v + i, k), vscale * KS(ldn)(vh + i, k),
                          X[0]);
            nv = 1;
        }
        if (deep && net->act == LOPT_ACT_RELU) {   /* a constant act, as below */
            for (int q = 0; q < nv; q++) du[q] = KS(mlp_deep)(net, X[q], LOPT_ACT_RELU);
        } else if (deep) {
            for (int q = 0; q < nv; q++) du[q] = KS(mlp_deep)(net, X[q], net->act);
        } else if (net->act == LOPT_ACT_RELU) {   /* a constant act: the relu body keeps no branch */
            KS(mlp_block1)(net, (const VF (*)[LOPT_NFEAT])X, nv, LOPT_ACT_RELU, du);
        } else {
            KS(mlp_block1)(net, (const VF (*)[LOPT_NFEAT])X, nv, net->act, du);
        }
        if (k == KW) {
            for (int q = 0; q < nv; q++) {
                bad |= (du[q] - du[q]) != 0;
                KS(st)(u + i + (size_t)q * KW, du[q]);
            }
            i += (size_t)nv * KW;
        } else {
            KS(stn)(u + i, du[0], k);
            for (size_t l = 0; l < k; l++) anybad |= !isfinite(u[i + l]);
            i = len;
        }
    }
    for (int l = 0; l < KW; l++) anybad |= bad[l] != 0;
    return anybad;
}
/* mlp_lopt's hold (lopt_mlp_hold_zero_grad) on a piece in cache:
 * u = +0 wherever g == 0 (either sign), else u unchanged. */
static void KS(mlp_hold_run)(const float *g, float *u, size_t len)
{
    size_t i = 0;
    for (; i + KW <= len; i += KW) KS(st)(u + i, KS(sel)(KS(ld)(g + i) == 0, KS(splat)(0.0f), KS(ld)(u + i)));
    for (; i < len; i++)
        if (g[i] == 0.0f) u[i] = 0.0f;
}

/* ---- lstm_lopt ------------------------------------------------------------ */

/* e^x for the LSTM's gates, x clamped to [−40, 40] (a NaN stays NaN).
 * x = k ln2 + r, |r| <= ln2/2, e^r ≈ 1 + r + r² q(r) with a degree-3 q
 * fitted for the least maximum relative error (2e-7 in float).  e^40 is
 * small enough that a product of two (1 + e^x) stays finite, which the
 * gate formulas below rely on; the clamp changes a sigmoid or tanh by
 * < 1e-17 (absolute). */
static inline VF KS(lexp)(VF x)
{
    x = KMAX(KS(splat)(-40.0f), KMIN(KS(splat)(40.0f), x));
    const float magic = 12582912.0f;                 /* 1.5·2^23: round to nearest */
    VF t = x * 1.44269504f + magic;
    VF kf = t - magic;
    VI k = (VI)t - (VI)KS(splat)(magic);
    VF r = x - kf * 0.693145752f;                     /* ln2 split in two */
    r = r - kf * 1.42860677e-06f;
    VF q = r * 0.00831250194f + 0.0418901183f;
    q = q * r + 0.166671142f;
    q = q * r + 0.499992311f;
    VF p = (r * r) * q + r + 1.0f;
    return p * (VF)((k + 127) << 23);
}

/* One state row (KW coordinates) of the (D, 2, H, 8) blocks: at p for
 * KW <= 8; for KW = 16, lanes 0..7 at p and 8..15 at p + bs (the next
 * block). */
static inline VF KS(hld)(const float *p, size_t bs)
{
#if KW > 8
    return KLD2(p, p + bs);
#else
    (void)bs;
    return KS(ld)(p);
#endif
}

static inline void KS(hst)(float *p, size_t bs, VF v)
{
#if KW > 8
    KST2(p, p + bs, v);
#else
    (void)bs;
    KS(st)(p, v);
#endif
}

/* One machine vector of KW coordinates: g (KW); hc = the state of the
 * coordinates' block offset to this vector's first lane (rows at stride 8
 * floats; bs = floats per block).  Returns the updates.  Gates with
 * e_x = e^{−x}: σ(x) = 1/(1 + e_x), tanh(x) = (1 − e_{2x})/(1 + e_{2x}), so
 *   c = c_prev/(1 + e_f) + (1 − e_{2g})/((1 + e_i)(1 + e_{2g})),
 *   h = (1 − e_{2c})/((1 + e_o)(1 + e_{2c}))
 * — three divisions per unit instead of five. */
static inline VF KS(lstm_lanes)(const lopt_fast_lstm_net *net, VF g, float *hc, size_t bs)
{
    const int H = net->hidden, G = 4 * H;
    VF ag = (VF)((VI)g & ~(VI)KS(splat)(-0.0f));
    VI big = ag >= net->tiny;
    VF x0 = KS(sel)(big, KS(vlog)(ag) / 10.0f, KS(splat)(-1.0f));
    VF sg = (VF)(((VI)g & (VI)KS(splat)(-0.0f)) | (VI)KS(splat)(1.0f));
    VF x1 = KS(sel)(big, sg, net->huge * g);
    VF hin[LOPT_MAX_HIDDEN], hout[LOPT_MAX_HIDDEN], hp[LOPT_MAX_HIDDEN];
    for (int l = 0; l < net->depth; l++) {
        const float *Wx = net->cell[l], *Wh = Wx + (size_t)(l == 0 ? 2 : H) * G, *b = Wh + (size_t)H * G;
        float *hs = hc + (size_t)l * 2 * H * 8, *cs = hs + (size_t)H * 8;
        for (int j = 0; j < H; j++) hp[j] = KS(hld)(hs + (size_t)j * 8, bs);
        for (int j = 0; j < H; j++) {
            /* the four gates of unit j side by side: four independent chains */
            VF a0 = KS(splat)(b[j]), a1 = KS(splat)(b[H + j]);
            VF a2 = KS(splat)(b[2 * H + j]), a3 = KS(splat)(b[3 * H + j]);
            if (l == 0) {
                const float *w = Wx + j;
                a0 += x0 * w[0]; a1 += x0 * w[H]; a2 += x0 * w[2 * H]; a3 += x0 * w[3 * H];
                w += G;
                a0 += x1 * w[0]; a1 += x1 * w[H]; a2 += x1 * w[2 * H]; a3 += x1 * w[3 * H];
            } else {
                for (int k = 0; k < H; k++) {
                    VF xk = hin[k];
                    const float *w = Wx + (size_t)k * G + j;
                    a0 += xk * w[0]; a1 += xk * w[H]; a2 += xk * w[2 * H]; a3 += xk * w[3 * H];
                }
            }
            for (int k = 0; k < H; k++) {
                VF hk = hp[k];
                const float *w = Wh + (size_t)k * G + j;
                a0 += hk * w[0]; a1 += hk * w[H]; a2 += hk * w[2 * H]; a3 += hk * w[3 * H];
            }
            VF ei = KS(lexp)(-a0), ef = KS(lexp)(-a1), eg = KS(lexp)(-2.0f * a2), eo = KS(lexp)(-a3);
            VF c = KS(hld)(cs + (size_t)j * 8, bs) / (1.0f + ef) + (1.0f - eg) / ((1.0f + ei) * (1.0f + eg));
            VF ec = KS(lexp)(-2.0f * c);
            VF h = (1.0f - ec) / ((1.0f + eo) * (1.0f + ec));
            KS(hst)(cs + (size_t)j * 8, bs, c);
            KS(hst)(hs + (size_t)j * 8, bs, h);
            hout[j] = h;
        }
        memcpy(hin, hout, (size_t)H * sizeof(VF));
    }
    VF z = net->bo + net->a * x1;
    for (int j = 0; j < H; j++) z += net->wo[j] * hin[j];
    return net->k * z;
}

/* Blocks [b0, b1) of 8 coordinates (for KW = 16, b1 − b0 even: the caller
 * runs an odd last block with a narrower build); g has n elements (the
 * last block may be partial).  Returns 1 when an update is non-finite. */
static int KS(lstm_run)(const lopt_fast_lstm_net *net, const float *g, size_t n, float *hc, size_t b0,
                        size_t b1, float *u)
{
    size_t bs = (size_t)net->depth * 2 * (size_t)net->hidden * 8;
    VI bad = {0};
    int anybad = 0;
    for (size_t bk = b0; bk < b1; bk += LBK) {
        /* the state of the blocks two steps ahead, so its memory latency
         * overlaps this block's arithmetic (~15% faster at N = 1e6) */
        if (bk + 3 * LBK <= b1) {
            const char *pf = (const char *)(hc + (bk + 2 * LBK) * bs);
            for (size_t o = 0; o < LBK * bs * sizeof(float); o += 64) __builtin_prefetch(pf + o, 1, 3);
        }
        for (int q = 0; q < LNV; q++) {
            size_t i = bk * 8 + (size_t)q * KW;
            if (i >= n) break;
            size_t k = n - i < KW ? n - i : KW;
            float *h = hc + bk * bs + (KW < 8 ? (size_t)q * KW : 0);
            if (k == KW) {
                VF du = KS(lstm_lanes)(net, KS(ld)(g + i), h, bs);
                bad |= (du - du) != 0;
                KS(st)(u + i, du);
            } else {
                VF du = KS(lstm_lanes)(net, KS(ldn)(g + i, k), h, bs);
                KS(stn)(u + i, du, k);
                for (size_t l = 0; l < k; l++) anybad |= !isfinite(du[l]);
            }
        }
    }
    for (int l = 0; l < KW; l++) anybad |= bad[l] != 0;
    return anybad;
}

#undef MLP_G
#undef MLP_BV
#undef VF
#undef VI
#undef NV
#undef LNV
#undef LBK
