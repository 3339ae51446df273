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

/* ---- arrays ------------------------------------------------------------- */

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
#endif

static int use_f16c(void)
{
#ifdef HALF_HAVE_F16C
    return !half_force_portable && __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
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
    for (size_t i = 0; i < n; i++) dst[i] = half_bf16_from_f32(src[i]);
}

void half_bf16_decode(const uint16_t *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = half_bf16_to_f32(src[i]);
}

size_t half_first_overflow(const float *v, size_t n, int bf16)
{
    uint32_t lim = bf16 ? 0x7F7F8000u : 0x477FF000u;
    for (size_t i = 0; i < n; i++) {
        uint32_t a = f32_bits(v[i]) & 0x7FFFFFFFu;
        if (a >= lim && a < 0x7F800000u) return i;
    }
    return n;
}
