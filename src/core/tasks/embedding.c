/* embedding.c — token and position embeddings; see embedding.h. */
#include "embedding.h"

#include <math.h>
#include <stddef.h>

void embedding_forward(float *y, const int *tokens, const float *wte, const float *wpe,
                       int batch, int T, int C)
{
    for (int b = 0; b < batch; b++)
        for (int t = 0; t < T; t++) {
            size_t row = (size_t)b * T + t;
            const float *e = wte + (size_t)tokens[row] * C;
            float *o = y + row * C;
            if (wpe) {
                const float *p = wpe + (size_t)t * C;
                for (int c = 0; c < C; c++) o[c] = e[c] + p[c];
            } else {
                for (int c = 0; c < C; c++) o[c] = e[c];
            }
        }
}

void embedding_backward(float *dwte, float *dwpe, const float *dy, const int *tokens,
                        int batch, int T, int C)
{
    for (int b = 0; b < batch; b++)
        for (int t = 0; t < T; t++) {
            size_t row = (size_t)b * T + t;
            const float *d = dy + row * C;
            if (dwte) {
                float *e = dwte + (size_t)tokens[row] * C;
                for (int c = 0; c < C; c++) e[c] += d[c];
            }
            if (dwpe) {
                float *p = dwpe + (size_t)t * C;
                for (int c = 0; c < C; c++) p[c] += d[c];
            }
        }
}

void embedding_sinusoid(float *pe, int T, int C)
{
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++) {
            double freq = pow(10000.0, -(double)(c - c % 2) / C);
            double a = t * freq;
            pe[(size_t)t * C + c] = (float)(c % 2 ? cos(a) : sin(a));
        }
}
