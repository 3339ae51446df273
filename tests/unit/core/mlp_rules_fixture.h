/* mlp_rules_fixture.h — for the tests of mlp_lopt's session rules
 * (test_lopt_hypergrad.c, test_lopt_anneal.c): a three-tensor layout of
 * matrix, vector and rank-3 shapes, and the untrained default network
 * without p among its inputs (features adam: the update depends on the
 * gradients alone, so two optimizers fed the same gradients differ only by
 * the rules) with the hypergradient scale and the anneal as given.
 * Include after cmocka.h, lopt.h and opt.h. */
#ifndef OPTIRS_TEST_MLP_RULES_FIXTURE_H
#define OPTIRS_TEST_MLP_RULES_FIXTURE_H

static void rules_layout(layout *lay)
{
    const char *names[] = {"w", "b", "k"};
    int ndims[] = {2, 1, 3};
    int64_t shapes[3][LAYOUT_MAX_DIMS] = {{37, 45}, {1003}, {2, 1, 3}};
    assert_int_equal(layout_init(lay, 3, names, ndims, (const int64_t (*)[LAYOUT_MAX_DIMS])shapes, 100000), 0);
}

static void rules_mlp(opt *o, const layout *lay, double hypergrad, double anneal)
{
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "mlp_lopt"), 0);
    assert_int_equal(opt_config_set(&cfg, "features", 1), 0);   /* lopt_fset_names[1] = adam */
    assert_int_equal(opt_config_set(&cfg, "hypergrad", hypergrad), 0);
    assert_int_equal(opt_config_set(&cfg, "anneal", anneal), 0);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    assert_int_equal(opt_init(o, &cfg, lay), 0);
}

#endif
