/* test_mlp_layout.c — mlp_layout_set: one weight and one bias tensor per
 * linear layer, named l<k>.w / l<k>.b, with the mlp's shapes, at the mlp
 * block's offsets (w_off / b_off), covering nparams exactly, for one layer,
 * four, and the most an mlp may have; with layernorm also l<k>.ln.g and
 * l<k>.ln.b after each hidden layer's bias, at g_off / nb_off. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "layers.h"
#include "mlp_layout.h"
#include "tasks.h"

static void check_ln(int nlayers, const int *sizes, int layernorm)
{
    mlp m;
    assert_int_equal(layer_mlp_init_ln(&m, nlayers, sizes, ACT_RELU, layernorm), 0);
    task t;
    memset(&t, 0, sizeof t);
    assert_int_equal(mlp_layout_set(&t, &m), 0);
    assert_int_equal(t.lay.ntensors, 2 * nlayers + (layernorm ? 2 * (nlayers - 1) : 0));
    assert_int_equal(t.n, m.nparams);
    for (int l = 0; l < nlayers; l++) {
        char wn[16], bn[16];
        snprintf(wn, sizeof wn, "l%d.w", l);
        snprintf(bn, sizeof bn, "l%d.b", l);
        int k = (layernorm ? 4 : 2) * l;
        const layout_tensor *w = &t.lay.tensors[k], *b = &t.lay.tensors[k + 1];
        if (layernorm && l + 1 < nlayers) {
            char gn[24], nn[24];
            snprintf(gn, sizeof gn, "l%d.ln.g", l);
            snprintf(nn, sizeof nn, "l%d.ln.b", l);
            const layout_tensor *g = &t.lay.tensors[k + 2], *nb = &t.lay.tensors[k + 3];
            assert_string_equal(g->name, gn);
            assert_string_equal(nb->name, nn);
            assert_int_equal(g->ndim, 1);
            assert_int_equal(g->shape[0], sizes[l + 1]);
            assert_int_equal(nb->shape[0], sizes[l + 1]);
            assert_int_equal(g->offset, m.g_off[l]);
            assert_int_equal(nb->offset, m.nb_off[l]);
        }
        assert_string_equal(w->name, wn);
        assert_string_equal(b->name, bn);
        assert_int_equal(w->ndim, 2);
        assert_int_equal(w->shape[0], sizes[l]);
        assert_int_equal(w->shape[1], sizes[l + 1]);
        assert_int_equal(b->ndim, 1);
        assert_int_equal(b->shape[0], sizes[l + 1]);
        assert_int_equal(w->offset, m.w_off[l]);
        assert_int_equal(b->offset, m.b_off[l]);
    }
    layout_deinit(&t.lay);
}

static void check(int nlayers, const int *sizes)
{
    check_ln(nlayers, sizes, 0);
    check_ln(nlayers, sizes, 1);
}

static void test_layout_matches_mlp_block(void **st)
{
    (void)st;
    int a[2] = {3, 1};
    check(1, a);
    int b[5] = {16, 32, 32, 32, 10};
    check(4, b);
    int c[MLP_MAX_LAYERS + 1];
    for (int i = 0; i <= MLP_MAX_LAYERS; i++) c[i] = 2 + i;
    check(MLP_MAX_LAYERS, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_matches_mlp_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
