/* half.c — see half.h. */
#include "half.h"

#include <string.h>

int half_force_portable = 0;

static uint32_t f32_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float x;
    memcpy(&x, &u, 4);
    return x;
}

uint16_t half_f16_from_f32(float x)
{
    uint32_t u = f32_bits(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7FFFFFFFu;
    if (a >= 0x7F800000u) /* Inf, or NaN: quiet, top 9 payload bits kept */
        return (uint16_t)(sign | 0x7C00u | (a > 0x7F800000u ? 0x0200u | ((a >> 13) & 0x03FFu) : 0));
    if (a >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* >= 65520: rounds past 65504 */
    if (a >= 0x38800000u) {                                   /* >= 2^-14: a normal f16 */
        /* rebias the exponent (127 -> 15) and round the 13 dropped bits;
         * a carry out of the fraction correctly bumps the exponent */
        uint32_t r = a - 0x38000000u;
        uint32_t h = (r + 0x0FFFu + ((r >> 13) & 1u)) >> 13;
        return (uint16_t)(sign | h);
    }
    if (a < 0x33000000u) return sign; /* < 2^-25: rounds to 0 (2^-25 itself is a tie to 0) */
    /* a subnormal f16: value = m · 2^-24 with m < 1024, rounded from the
     * float's 24-bit significand shifted right by (126 - e) - 24 + 24 */
    uint32_t e = a >> 23;                       /* 102 .. 112 */
    uint32_t m = (a & 0x007FFFFFu) | 0x00800000u;
    uint32_t shift = 126u - e;                  /* 14 .. 24 */
    uint32_t h = m >> shift;
    uint32_t rest = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rest > half || (rest == half && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

float half_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1Fu, m = h & 0x03FFu;
    if (e == 0x1F) return bits_f32(sign | 0x7F800000u | (m ? 0x00400000u | (m << 13) : 0));
    if (e) return bits_f32(sign | ((e + 112u) << 23) | (m << 13));
    if (!m) return bits_f32(sign);
    /* subnormal: m · 2^-24, exact in float32 */
    float v = (float)m * 0x1p-24f;
    return bits_f32(sign | f32_bits(v));
}

uint16_t half_bf16_from_f32(float x)
{
    uint32_t u = f32_bits(x);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x0040u); /* NaN: quiet */
    /* RNE on the low 16 bits; a finite value at or past the last midpoint
     * carries into the exponent and becomes Inf, as it must */
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

float half_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) u |= 0x00400000u;
    return bits_f32(u);
}

/* ---- arrays: F16C for f16, AVX2 for bf16 and the overflow scan, behind
 * a cpu check; the scalar functions finish every tail ------------------ */

#if defined(__x86_64__) && defined(__GNUC__)
#define HALF_HAVE_F16C 1
#include <immintrin.h>

__attribute__((target("avx,f16c"))) static size_t f16_encode_f16c(const float *src, uint16_t *dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(void *)(dst + i), h);
    }
    return i;
}

__attribute__((target("avx,f16c"))) static size_t f16_decode_f16c(const uint16_t *src, float *dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(src + i))));
    return i;
}

/* bf16 in AVX2 integer lanes: the same bit arithmetic as the scalar code. */
__attribute__((target("avx2"))) static __m256i bf16_round8(__m256i u)
{
    const __m256i abs = _mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF));
    const __m256i nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7F800000));
    const __m256i hi = _mm256_srli_epi32(u, 16);
    const __m256i lsb = _mm256_and_si256(hi, _mm256_set1_epi32(1));
    const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7FFF)), lsb), 16);
    return _mm256_blendv_epi8(r, _mm256_or_si256(hi, _mm256_set1_epi32(0x40)), nan);
}

__attribute__((target("avx2"))) static size_t bf16_encode_avx2(const float *src, uint16_t *dst, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i a = bf16_round8(_mm256_loadu_si256((const __m256i *)(const void *)(src + i)));
        __m256i b = bf16_round8(_mm256_loadu_si256((const __m256i *)(const void *)(src + i + 8)));
        /* packus works per 128-bit lane: put the quarters back in order */
        __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), p);
    }
    return i;
}

__attribute__((target("avx2"))) static size_t bf16_decode_avx2(const uint16_t *src, float *dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(src + i))), 16);
        __m256i abs = _mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF));
        __m256i nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7F800000));
        u = _mm256_or_si256(u, _mm256_and_si256(nan, _mm256_set1_epi32(0x00400000)));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), u);
    }
    return i;
}

/* The first block of 8 holding a finite value at or past lim; i = n & ~7 when none. */
__attribute__((target("avx2"))) static size_t overflow_avx2(const float *v, size_t n, uint32_t lim)
{
    const __m256i lo = _mm256_set1_epi32((int)(lim - 1)), inf = _mm256_set1_epi32(0x7F800000);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i a = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(const void *)(v + i)),
                                     _mm256_set1_epi32(0x7FFFFFFF));
        __m256i hit = _mm256_and_si256(_mm256_cmpgt_epi32(a, lo), _mm256_cmpgt_epi32(inf, a));
        if (!_mm256_testz_si256(hit, hit)) break;
    }
    return i;
}
#endif

static int use_f16c(void)
{
#if defined(HALF_HAVE_F16C) && defined(__clang__)
    /* clang 14 (the fuzz build's) knows no "f16c" here; every x86 CPU with AVX2 has F16C */
    return !half_force_portable && __builtin_cpu_supports("avx2");
#elif defined(HALF_HAVE_F16C)
    return !half_force_portable && __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
#else
    return 0;
#endif
}

static int use_avx2(void)
{
#ifdef HALF_HAVE_F16C
    return !half_force_portable && __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

int half_have_f16c(void)
{
    return use_f16c();
}

void half_f16_encode(const float *src, uint16_t *dst, size_t n)
{
    size_t i = 0;
#ifdef HALF_HAVE_F16C
    if (use_f16c()) i = f16_encode_f16c(src, dst, n);
#endif
    for (; i < n; i++) dst[i] = half_f16_from_f32(src[i]);
}

void half_f16_decode(const uint16_t *src, float *dst, size_t n)
{
    size_t i = 0;
#ifdef HALF_HAVE_F16C
    if (use_f16c()) i = f16_decode_f16c(src, dst, n);
#endif
    for (; i < n; i++) dst[i] = half_f16_to_f32(src[i]);
}

void half_bf16_encode(const float *src, uint16_t *dst, size_t n)
{
    size_t i = 0;
#ifdef HALF_HAVE_F16C
    if (use_avx2()) i = bf16_encode_avx2(src, dst, n);
#endif
    for (; i < n; i++) dst[i] = half_bf16_from_f32(src[i]);
}

void half_bf16_decode(const uint16_t *src, float *dst, size_t n)
{
    size_t i = 0;
#ifdef HALF_HAVE_F16C
    if (use_avx2()) i = bf16_decode_avx2(src, dst, n);
#endif
    for (; i < n; i++) dst[i] = half_bf16_to_f32(src[i]);
}

size_t half_first_overflow(const float *v, size_t n, int bf16)
{
    uint32_t lim = bf16 ? 0x7F7F8000u : 0x477FF000u;
    size_t i = 0;
#ifdef HALF_HAVE_F16C
    if (use_avx2()) i = overflow_avx2(v, n, lim);
#endif
    for (; i < n; i++) {
        uint32_t a = f32_bits(v[i]) & 0x7FFFFFFFu;
        if (a >= lim && a < 0x7F800000u) return i;
    }
    return n;
}
