/* layers.c — forward/backward pairs; see layers.h. */
#include "layers.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "errors.h"
#include "layernorm.h"

/* Below this many multiply-adds a plain loop beats the BLAS call overhead. */
#define LAYERS_BLAS_MIN 4096

/* ---- small matrix helpers: C (m,n) += A op B --------------------------- */

/* C (m,n) = beta*C + A (m,k) B (k,n) */
static void mm_nn(float *c, const float *a, const float *b, int m, int k, int n, float beta)
{
    if ((long)m * k * n >= LAYERS_BLAS_MIN) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k,
                    1.0f, a, k, b, n, beta, c, n);
        return;
    }
    for (int i = 0; i < m; i++) {
        float *ci = c + (size_t)i * n;
        if (beta == 0.0f) memset(ci, 0, sizeof(float) * (size_t)n);
        for (int p = 0; p < k; p++) {
            float av = a[(size_t)i * k + p];
            const float *bp = b + (size_t)p * n;
            for (int j = 0; j < n; j++) ci[j] += av * bp[j];
        }
    }
}

/* C (m,k) += A (m,n) B^T where B is (k,n) */
static void mm_nt_acc(float *c, const float *a, const float *b, int m, int n, int k)
{
    if ((long)m * k * n >= LAYERS_BLAS_MIN) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, k, n,
                    1.0f, a, n, b, n, 1.0f, c, k);
        return;
    }
    for (int i = 0; i < m; i++) {
        const float *ai = a + (size_t)i * n;
        for (int p = 0; p < k; p++) {
            const float *bp = b + (size_t)p * n;
            float s = 0.0f;
            for (int j = 0; j < n; j++) s += ai[j] * bp[j];
            c[(size_t)i * k + p] += s;
        }
    }
}

/* C (k,n) += A^T B where A is (m,k), B is (m,n) */
static void mm_tn_acc(float *c, const float *a, const float *b, int m, int k, int n)
{
    if ((long)m * k * n >= LAYERS_BLAS_MIN) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, n, m,
                    1.0f, a, k, b, n, 1.0f, c, n);
        return;
    }
    for (int i = 0; i < m; i++) {
        const float *bi = b + (size_t)i * n;
        for (int p = 0; p < k; p++) {
            float av = a[(size_t)i * k + p];
            float *cp = c + (size_t)p * n;
            for (int j = 0; j < n; j++) cp[j] += av * bi[j];
        }
    }
}

/* ---- activations -------------------------------------------------------- */

static const char *const act_names[] = {"identity", "relu", "tanh", "gelu"};

int layer_act_parse(const char *s)
{
    if (!s) return -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(s, act_names[i]) == 0) return i;
    return -1;
}

const char *layer_act_name(int a) { return (a >= 0 && a < 4) ? act_names[a] : "?"; }

/* v when keep, else +0.0f, without a branch (the sign of a pre-activation is
 * unpredictable, and a mispredicted branch per element cost more than the
 * matrix products of the small task networks): the bits of v and an
 * all-ones or all-zeros mask.  Same values as keep ? v : 0.0f. */
static inline float relu_select(float v, int keep)
{
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    b &= -(uint32_t)(keep != 0);
    memcpy(&v, &b, sizeof v);
    return v;
}

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f

void layer_act_forward(float *y, const float *x, size_t n, int a)
{
    switch (a) {
    case ACT_RELU:
        for (size_t i = 0; i < n; i++) y[i] = relu_select(x[i], x[i] > 0.0f);
        break;
    case ACT_TANH:
        for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    case ACT_GELU:
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            y[i] = 0.5f * v * (1.0f + tanhf(GELU_K * (v + GELU_C * v * v * v)));
        }
        break;
    default:
        if (y != x) memmove(y, x, sizeof(float) * n);
        break;
    }
}

void layer_act_backward(float *dx, const float *dy, const float *x, size_t n, int a)
{
    switch (a) {
    case ACT_RELU:
        for (size_t i = 0; i < n; i++) dx[i] += relu_select(dy[i], x[i] > 0.0f);
        break;
    case ACT_TANH:
        for (size_t i = 0; i < n; i++) {
            float t = tanhf(x[i]);
            dx[i] += dy[i] * (1.0f - t * t);
        }
        break;
    case ACT_GELU:
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            float u = GELU_K * (v + GELU_C * v * v * v);
            float t = tanhf(u);
            float du = GELU_K * (1.0f + 3.0f * GELU_C * v * v);
            dx[i] += dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
        }
        break;
    default:
        for (size_t i = 0; i < n; i++) dx[i] += dy[i];
        break;
    }
}

/* ---- linear ------------------------------------------------------------- */

void layer_linear_forward(float *y, const float *x, const float *w, const float *b,
                          int batch, int in, int out)
{
    if (b) {
        for (int i = 0; i < batch; i++) memcpy(y + (size_t)i * out, b, sizeof(float) * (size_t)out);
        mm_nn(y, x, w, batch, in, out, 1.0f);
    } else {
        mm_nn(y, x, w, batch, in, out, 0.0f);
    }
}

void layer_linear_backward(float *dx, float *dw, float *db, const float *dy,
                           const float *x, const float *w, int batch, int in, int out)
{
    if (dx) mm_nt_acc(dx, dy, w, batch, out, in);
    if (dw) mm_tn_acc(dw, x, dy, batch, in, out);
    if (db)
        for (int i = 0; i < batch; i++) {
            const float *r = dy + (size_t)i * out;
            for (int j = 0; j < out; j++) db[j] += r[j];
        }
}

/* ---- MLP ---------------------------------------------------------------- */

int layer_mlp_init(mlp *m, int nlayers, const int *sizes, int act)
{
    return layer_mlp_init_ln(m, nlayers, sizes, act, 0);
}

int layer_mlp_init_ln(mlp *m, int nlayers, const int *sizes, int act, int layernorm)
{
    memset(m, 0, sizeof *m);
    if (nlayers < 1 || nlayers > MLP_MAX_LAYERS || act < 0 || act > ACT_GELU ||
        (layernorm != 0 && layernorm != 1))
        return ERR_INVALID_ARGUMENT;
    for (int l = 0; l <= nlayers; l++)
        if (sizes[l] < 1) return ERR_INVALID_ARGUMENT;
    m->nlayers = nlayers;
    m->act = act;
    m->layernorm = layernorm;
    size_t off = 0;
    for (int l = 0; l <= nlayers; l++) m->sizes[l] = sizes[l];
    for (int l = 0; l < nlayers; l++) {
        m->w_off[l] = off;
        off += (size_t)sizes[l] * (size_t)sizes[l + 1];
        m->b_off[l] = off;
        off += (size_t)sizes[l + 1];
        if (layernorm && l + 1 < nlayers) {
            m->g_off[l] = off;
            off += (size_t)sizes[l + 1];
            m->nb_off[l] = off;
            off += (size_t)sizes[l + 1];
        }
    }
    m->nparams = off;
    return 0;
}

/* Cache layout: for each layer l, z_l (batch, sizes[l+1]); for hidden
 * layers with layernorm then u_l = LayerNorm(z_l) of the same size and its
 * row statistics (layernorm_cache_size(batch)); for every hidden layer then
 * h_l = act(u_l) (act(z_l) without layernorm) of the same size. */
typedef struct mlp_cache_offs {
    size_t z[MLP_MAX_LAYERS], u[MLP_MAX_LAYERS], st[MLP_MAX_LAYERS], h[MLP_MAX_LAYERS];
    size_t total;
} mlp_cache_offs;

static void mlp_cache_layout(const mlp *m, int batch, mlp_cache_offs *o)
{
    size_t off = 0;
    for (int l = 0; l < m->nlayers; l++) {
        size_t sz = (size_t)batch * (size_t)m->sizes[l + 1];
        int hidden = l + 1 < m->nlayers;
        o->z[l] = off;
        off += sz;
        o->u[l] = o->st[l] = off;
        if (hidden && m->layernorm) {
            off += sz;
            o->st[l] = off;
            off += layernorm_cache_size(batch);
        }
        o->h[l] = off;
        if (hidden) off += sz;
    }
    o->total = off;
}

size_t layer_mlp_cache_size(const mlp *m, int batch)
{
    mlp_cache_offs o;
    mlp_cache_layout(m, batch, &o);
    return o.total;
}

/* The widest layer's (batch, width): one scratch slot of the backward. */
static size_t mlp_scratch_slot(const mlp *m, int batch)
{
    int w = 0;
    for (int l = 0; l <= m->nlayers; l++) if (m->sizes[l] > w) w = m->sizes[l];
    return (size_t)batch * (size_t)w;
}

/* Slots dz and dh, and with layernorm du (the gradient at the LayerNorm's
 * output, which its backward may not share with dz). */
size_t layer_mlp_scratch_size(const mlp *m, int batch)
{
    return (m->layernorm ? 3 : 2) * mlp_scratch_slot(m, batch);
}

void layer_mlp_init_params(const mlp *m, float *params, rng *r, float scale)
{
    for (int l = 0; l < m->nlayers; l++) {
        int in = m->sizes[l], out = m->sizes[l + 1];
        double gain = (m->act == ACT_RELU || m->act == ACT_GELU) && l > 0 ? 2.0 : 1.0;
        float sd = (float)(scale * sqrt(gain / in));
        rng_normal_fill(r, params + m->w_off[l], (size_t)in * out, 0.0f, sd);
        memset(params + m->b_off[l], 0, sizeof(float) * (size_t)out);
        if (m->layernorm && l + 1 < m->nlayers) {
            for (int j = 0; j < out; j++) params[m->g_off[l] + j] = 1.0f;
            memset(params + m->nb_off[l], 0, sizeof(float) * (size_t)out);
        }
    }
}

void layer_mlp_forward(const mlp *m, float *out, float *cache, const float *params,
                       const float *x, int batch)
{
    mlp_cache_offs o;
    mlp_cache_layout(m, batch, &o);
    const float *in = x;
    for (int l = 0; l < m->nlayers; l++) {
        int ni = m->sizes[l], no = m->sizes[l + 1];
        size_t sz = (size_t)batch * no;
        float *z = cache + o.z[l];
        layer_linear_forward(z, in, params + m->w_off[l], params + m->b_off[l], batch, ni, no);
        if (l + 1 < m->nlayers) {
            const float *a = z;
            if (m->layernorm) {
                layernorm_forward(cache + o.u[l], cache + o.st[l], z, params + m->g_off[l],
                                  params + m->nb_off[l], batch, no);
                a = cache + o.u[l];
            }
            layer_act_forward(cache + o.h[l], a, sz, m->act);
            in = cache + o.h[l];
        } else {
            memcpy(out, z, sizeof(float) * sz);
        }
    }
}

void layer_mlp_backward(const mlp *m, float *dparams, float *dx, float *scratch,
                        const float *dout, const float *cache, const float *params,
                        const float *x, int batch)
{
    mlp_cache_offs o;
    mlp_cache_layout(m, batch, &o);
    size_t slot = mlp_scratch_slot(m, batch);
    float *dz = scratch, *dh = scratch + slot, *du = scratch + 2 * slot;
    memcpy(dz, dout, sizeof(float) * (size_t)batch * m->sizes[m->nlayers]);
    for (int l = m->nlayers - 1; l >= 0; l--) {
        int ni = m->sizes[l], no = m->sizes[l + 1];
        const float *in = l > 0 ? cache + o.h[l - 1] : x;
        float *dinp = NULL;
        if (l > 0) {
            dinp = dh;
            memset(dh, 0, sizeof(float) * (size_t)batch * ni);
        } else {
            dinp = dx;
        }
        layer_linear_backward(dinp, dparams + m->w_off[l], dparams + m->b_off[l], dz, in,
                              params + m->w_off[l], batch, ni, no);
        if (l > 0) {
            size_t sz = (size_t)batch * ni;
            int k = l - 1;   /* the hidden layer whose output `in` was */
            memset(dz, 0, sizeof(float) * sz);
            if (m->layernorm) {
                memset(du, 0, sizeof(float) * sz);
                layer_act_backward(du, dh, cache + o.u[k], sz, m->act);
                layernorm_backward(dz, dparams + m->g_off[k], dparams + m->nb_off[k], du,
                                   cache + o.z[k], cache + o.st[k], params + m->g_off[k], batch, ni);
            } else {
                layer_act_backward(dz, dh, cache + o.z[k], sz, m->act);
            }
        }
    }
}

/* ---- LSTM --------------------------------------------------------------- */

int layer_lstm_init(lstm *l, int in, int hidden)
{
    memset(l, 0, sizeof *l);
    if (in < 1 || hidden < 1) return ERR_INVALID_ARGUMENT;
    l->in = in;
    l->hidden = hidden;
    size_t g = 4 * (size_t)hidden;
    l->wx_off = 0;
    l->wh_off = (size_t)in * g;
    l->b_off = l->wh_off + (size_t)hidden * g;
    l->nparams = l->b_off + g;
    return 0;
}

size_t layer_lstm_cache_size(const lstm *l, int batch) { return (size_t)batch * 5 * l->hidden; }
size_t layer_lstm_scratch_size(const lstm *l, int batch) { return (size_t)batch * 4 * l->hidden; }

void layer_lstm_init_params(const lstm *l, float *params, rng *r, float scale, float forget_bias)
{
    float a = scale / sqrtf((float)l->hidden);
    rng_uniform_fill(r, params + l->wx_off, l->b_off - l->wx_off, -a, a);
    memset(params + l->b_off, 0, sizeof(float) * 4 * (size_t)l->hidden);
    for (int j = 0; j < l->hidden; j++) params[l->b_off + l->hidden + j] = forget_bias;
}

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Cache: gates (batch, 4H) activated [i f g o], then tanh(c) (batch, H). */
void layer_lstm_forward(const lstm *l, float *h, float *c, float *cache, const float *params,
                        const float *x, const float *h_prev, const float *c_prev, int batch)
{
    int H = l->hidden, G = 4 * H;
    float *gates = cache, *tc = cache + (size_t)batch * G;
    layer_linear_forward(gates, x, params + l->wx_off, params + l->b_off, batch, l->in, G);
    mm_nn(gates, h_prev, params + l->wh_off, batch, H, G, 1.0f);
    for (int b = 0; b < batch; b++) {
        float *a = gates + (size_t)b * G;
        for (int j = 0; j < H; j++) {
            float ig = sigmoidf(a[j]);
            float fg = sigmoidf(a[H + j]);
            float gg = tanhf(a[2 * H + j]);
            float og = sigmoidf(a[3 * H + j]);
            a[j] = ig; a[H + j] = fg; a[2 * H + j] = gg; a[3 * H + j] = og;
            size_t k = (size_t)b * H + j;
            float cv = fg * c_prev[k] + ig * gg;
            float t = tanhf(cv);
            c[k] = cv;
            tc[k] = t;
            h[k] = og * t;
        }
    }
}

void layer_lstm_backward(const lstm *l, float *dparams, float *dx, float *dh_prev, float *dc_prev,
                         float *scratch, const float *dh, const float *dc, const float *cache,
                         const float *params, const float *x, const float *h_prev,
                         const float *c_prev, int batch)
{
    int H = l->hidden, G = 4 * H;
    const float *gates = cache, *tc = cache + (size_t)batch * G;
    float *da = scratch;   /* dL/d(pre-activation gates) */
    for (int b = 0; b < batch; b++) {
        const float *a = gates + (size_t)b * G;
        float *d = da + (size_t)b * G;
        for (int j = 0; j < H; j++) {
            size_t k = (size_t)b * H + j;
            float ig = a[j], fg = a[H + j], gg = a[2 * H + j], og = a[3 * H + j];
            float t = tc[k];
            float dhv = dh ? dh[k] : 0.0f;
            float dcv = (dc ? dc[k] : 0.0f) + dhv * og * (1.0f - t * t);
            d[j] = dcv * gg * ig * (1.0f - ig);
            d[H + j] = dcv * c_prev[k] * fg * (1.0f - fg);
            d[2 * H + j] = dcv * ig * (1.0f - gg * gg);
            d[3 * H + j] = dhv * t * og * (1.0f - og);
            if (dc_prev) dc_prev[k] += dcv * fg;
        }
    }
    float *dp = dparams;
    layer_linear_backward(dx, dp ? dp + l->wx_off : NULL, dp ? dp + l->b_off : NULL, da, x,
                          params + l->wx_off, batch, l->in, G);
    layer_linear_backward(dh_prev, dp ? dp + l->wh_off : NULL, NULL, da, h_prev,
                          params + l->wh_off, batch, H, G);
}

/* ---- softmax cross-entropy ---------------------------------------------- */

double layer_softmax_xent_forward(float *probs, const float *logits, const int *labels,
                                  int batch, int classes)
{
    double loss = 0.0;
    for (int b = 0; b < batch; b++) {
        const float *z = logits + (size_t)b * classes;
        float *p = probs + (size_t)b * classes;
        int y = labels[b];
        if (y < 0 || y >= classes) return NAN;
        float mx = z[0];
        for (int k = 1; k < classes; k++) if (z[k] > mx) mx = z[k];
        if (!isfinite(mx)) return NAN;
        double s = 0.0;
        for (int k = 0; k < classes; k++) {
            p[k] = expf(z[k] - mx);
            s += p[k];
        }
        if (!isfinite(s)) return NAN;
        float inv = (float)(1.0 / s);
        for (int k = 0; k < classes; k++) p[k] *= inv;
        loss += log(s) - (double)(z[y] - mx);
    }
    loss /= batch;
    return isfinite(loss) ? loss : NAN;
}

void layer_softmax_xent_backward(float *dlogits, const float *probs, const int *labels,
                                 int batch, int classes, float dloss)
{
    float sc = dloss / (float)batch;
    for (int b = 0; b < batch; b++) {
        const float *p = probs + (size_t)b * classes;
        float *d = dlogits + (size_t)b * classes;
        for (int k = 0; k < classes; k++) d[k] += sc * (p[k] - (k == labels[b] ? 1.0f : 0.0f));
    }
}
