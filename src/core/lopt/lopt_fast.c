/* lopt_fast.c — vectorised kernels of mlp_lopt and lstm_lopt: per-tensor
 * accumulator updates with their normaliser statistics in one pass, then
 * features → network → update on blocks of 8 machine vectors (the block's
 * features stay in L1; the shipped depth-1 network runs unit by unit over
 * the block, four vectors' sums side by side, so that its additions
 * overlap), with mlp_lopt's guard sum and hold taken on each piece of
 * LOPT_MLP_GUARD_CHUNK updates while it is in cache; and the coordinatewise
 * LSTM stack on 8-coordinate blocks.  Every sum keeps the reference's order
 * (no reassociation, no FMA), so the bits do not depend on the blocking.
 * The plain per-parameter loops in lopt.c, lopt_mlp.c and lopt_lstm.c stay
 * the reference these are tested against.
 *
 * The body (lopt_fast_kern.h) is compiled for AVX2 (8 lanes) and for
 * baseline x86-64 SSE2 (4 lanes), and all of it but mlp_lopt's statistics
 * pass also for AVX-512 (16 lanes); the CPU picks one at run time.  All
 * give bitwise identical results (see lopt_fast_kern.h), so a session's
 * state never depends on the machine it ran on.
 *
 * lopt_fast_force_generic (lopt_internal.h; for tests): 0 = the best build
 * the CPU has, 1 = the SSE2 build, 2 = at most the AVX2 build. */
#include "lopt.h"
#include "lopt_internal.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define MLP_LAMBDA2_ LOPT_MLP_LAMBDA2

int lopt_fast_force_generic = 0;

/* The kernel's mlp_lopt network functions are inlined into their callers
 * whatever GCC's heuristics say, so that each call with a constant
 * activation (relu on its own path) compiles to code without a branch on
 * it: without this the relu step measured ~15% slower than before
 * activations existed (bench/README.md, mlp_lopt's activations). */
#define KINLINE __attribute__((always_inline))

#if defined(__x86_64__) && defined(__GNUC__)
#define LOPT_HAVE_AVX2 1
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx2")
#define KW 8
#define KS(name) name##_avx2
#define KSQRT(x) ((VF)_mm256_sqrt_ps((__m256)(x)))
#define KMIN(a, b) ((VF)_mm256_min_ps((__m256)(a), (__m256)(b)))
#define KMAX(a, b) ((VF)_mm256_max_ps((__m256)(a), (__m256)(b)))
#include "lopt_fast_kern.h"
#undef KW
#undef KS
#undef KSQRT
#undef KMIN
#undef KMAX
#pragma GCC pop_options

/* lstm_lopt and mlp_lopt's network (its statistics pass needs KW <= 8).
 * clang ignores the target pragmas: it builds this part only when its
 * command line enables AVX-512 (tests/targets.mk gives it -mavx2). */
#if !defined(__clang__) || (defined(__AVX512F__) && defined(__AVX512DQ__))
#define LOPT_HAVE_AVX512 1
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq")
#define KW 16
#define KS(name) name##_avx512
#define KSQRT(x) ((VF)_mm512_sqrt_ps((__m512)(x)))
#define KMIN(a, b) ((VF)_mm512_min_ps((__m512)(a), (__m512)(b)))
#define KMAX(a, b) ((VF)_mm512_max_ps((__m512)(a), (__m512)(b)))
#define KLD2(p, q) ((VF)_mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(p)), _mm256_loadu_ps(q), 1))
#define KST2(p, q, v) (_mm256_storeu_ps((p), _mm512_castps512_ps256((__m512)(v))), \
                       _mm256_storeu_ps((q), _mm512_extractf32x8_ps((__m512)(v), 1)))
#include "lopt_fast_kern.h"
#undef KW
#undef KS
#undef KSQRT
#undef KMIN
#undef KMAX
#undef KLD2
#undef KST2
#pragma GCC pop_options
#endif /* AVX-512 */
#endif

#define KW 4
#define KS(name) name##_sse
#if defined(__SSE__)
#include <xmmintrin.h>
#define KSQRT(x) ((VF)_mm_sqrt_ps((__m128)(x)))
#define KMIN(a, b) ((VF)_mm_min_ps((__m128)(a), (__m128)(b)))
#define KMAX(a, b) ((VF)_mm_max_ps((__m128)(a), (__m128)(b)))
#else
#define KSQRT(x) KS(sqrt_lanes)(x)
#define KMIN(a, b) KS(sel)((a) < (b), (a), (b))
#define KMAX(a, b) KS(sel)((a) > (b), (a), (b))
#endif
#include "lopt_fast_kern.h"
#undef KW
#undef KS
#undef KSQRT
#undef KMIN
#undef KMAX

static int use_avx2(void)
{
#ifdef LOPT_HAVE_AVX2
    return lopt_fast_force_generic != 1 && __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

#ifdef LOPT_HAVE_AVX512
static int use_avx512(void)
{
    return lopt_fast_force_generic == 0 && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512dq");
}
#endif

#ifdef LOPT_HAVE_AVX2
#define DISPATCH(call) (use_avx2() ? call##_avx2 : call##_sse)
#else
#define DISPATCH(call) call##_sse
#endif
/* The per-element kernels (no sum across elements): AVX-512 where present. */
#ifdef LOPT_HAVE_AVX512
#define DISPATCH_WIDE(call) (use_avx512() ? call##_avx512 : DISPATCH(call))
#else
#define DISPATCH_WIDE(call) DISPATCH(call)
#endif

void lopt_fast_mlp_stats(lopt_feat_tensor *ft, const float *g, const float *p, const float *b,
                         float *rowsum, float *colsum, float *inv_rms)
{
    lopt_fast_decay bd;
    for (int k = 0; k < LOPT_NDECAY; k++) { bd.b[k] = b[k]; bd.c[k] = 1 - b[k]; }
    double ss[LOPT_NFEAT] = {0};
    size_t n = ft->n;
    float bf = b[4];
    if (ft->r) {
        int64_t R = ft->rows, C = ft->cols;
        memset(colsum, 0, (size_t)C * sizeof(float));
        for (int64_t i = 0; i < R; i++) {
            size_t o = (size_t)(i * C);
            rowsum[i] = DISPATCH(mlp_stats_run)(&bd, g + o, p + o, ft->m[0] + o, ft->m[1] + o,
                                                ft->m[2] + o, ft->v + o, NULL, colsum, (size_t)C, ss);
        }
        for (int64_t i = 0; i < R; i++) ft->r[i] = bf * ft->r[i] + (1 - bf) * rowsum[i] / (float)C;
        for (int64_t j = 0; j < C; j++) ft->c[j] = bf * ft->c[j] + (1 - bf) * colsum[j] / (float)R;
        double s = 0;
        for (int64_t i = 0; i < R; i++) s += ft->r[i];
        s /= (double)R;
        float rim = ft->rim = s > 0 ? (float)(1.0 / s) : 0.0f;
        for (int64_t i = 0; i < R; i++)
            DISPATCH(mlp_stats_fac_row)(g + (size_t)(i * C), ft->c, ft->r[i] * rim, (size_t)C, ss);
    } else {
        DISPATCH(mlp_stats_run)(&bd, g, p, ft->m[0], ft->m[1], ft->m[2], ft->v, ft->d, NULL, n, ss);
        ft->rim = 0.0f;
    }
    for (int k = 0; k < LOPT_NFEAT; k++)
        inv_rms[k] = (float)(1.0 / sqrt(ss[k] / (double)n + 1e-30));
}

int lopt_fast_mlp_apply(const lopt_feat_tensor *ft, const float *g, const float *p,
                        const lopt_fast_mlp *net, float *update, int hold, float *usq, float *keep)
{
    int bad = 0;
    double ss = 0;
    size_t n = ft->n, C = ft->r ? (size_t)ft->cols : n;
    for (size_t c0 = 0; c0 < n; c0 += LOPT_MLP_GUARD_CHUNK) {
        size_t c1 = n - c0 < LOPT_MLP_GUARD_CHUNK ? n : c0 + LOPT_MLP_GUARD_CHUNK;
        /* the piece's runs: within one row of a 2-D tensor, or the whole
         * piece of a per-element one (each element's update depends on
         * that element alone, so any split gives the same bits) */
        for (size_t o = c0; o < c1;) {
            size_t row = o / C, col = o - row * C;
            size_t len = C - col < c1 - o ? C - col : c1 - o;
            if (ft->r)
                bad |= DISPATCH_WIDE(mlp_apply_run)(net, g + o, p + o, ft->m[0] + o, ft->m[1] + o, ft->m[2] + o,
                                                    ft->v + o, ft->c + col, ft->r[row] * ft->rim, len, update + o);
            else
                bad |= DISPATCH_WIDE(mlp_apply_run)(net, g + o, p + o, ft->m[0] + o, ft->m[1] + o, ft->m[2] + o,
                                                    ft->v + o, ft->d + o, 1.0f, len, update + o);
            o += len;
        }
        if (usq) lopt_mlp_guard_sumsq_add(update + c0, c1 - c0, &ss);
        if (hold) DISPATCH_WIDE(mlp_hold_run)(g + c0, update + c0, c1 - c0);
        if (keep) memcpy(keep + c0, update + c0, (c1 - c0) * sizeof(float));
    }
    if (usq) *usq = (float)ss;
    return bad;
}

int lopt_fast_lstm(const lopt_fast_lstm_net *net, const float *g, size_t n, float *hc, float *update)
{
    size_t nb = (n + 7) / 8;
#ifdef LOPT_HAVE_AVX512
    if (use_avx512()) {
        /* pairs of blocks at 16 lanes; an odd last block at 8 (same bits) */
        size_t even = nb & ~(size_t)1;
        int bad = lstm_run_avx512(net, g, n, hc, 0, even, update);
        if (even < nb) bad |= lstm_run_avx2(net, g, n, hc, even, nb, update);
        return bad;
    }
#endif
    return DISPATCH(lstm_run)(net, g, n, hc, 0, nb, update);
}
