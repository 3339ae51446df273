/* embedding.h — token embedding plus position embedding, as a
 * forward/backward pair in the conventions of layers.h (the backward
 * ACCUMULATES; a NULL d-output is skipped).
 *
 *   y[b][t] = wte[tokens[b][t]] + wpe[t]        y (batch, T, C)
 * wte is (vocab, C); wpe is (>= T, C) — learned positions are a parameter
 * tensor, fixed sinusoidal ones a table filled once by embedding_sinusoid
 * and passed with dwpe = NULL; wpe == NULL adds no positions.  Tokens must
 * lie in [0, vocab): the caller checks them (the forward does not read the
 * vocabulary size).  Nothing allocates or keeps state. */
#ifndef OPTIRS_EMBEDDING_H
#define OPTIRS_EMBEDDING_H

/* y (batch, T, C) as above. */
void embedding_forward(float *y, const int *tokens, const float *wte, const float *wpe,
                       int batch, int T, int C);
/* dwte[tokens[b][t]] += dy[b][t];  dwpe[t] += sum_b dy[b][t]. */
void embedding_backward(float *dwte, float *dwpe, const float *dy, const int *tokens,
                        int batch, int T, int C);
/* pe (T, C): the transformer's sinusoidal table, for position t and
 * i < C/2: pe[t][2i] = sin(t / 10000^(2i/C)), pe[t][2i+1] = cos(same);
 * an odd C's last column is sin. */
void embedding_sinusoid(float *pe, int T, int C);

#endif
