"""The built-in task studies of issue #20 (docs/studies.md#built-in-tasks):
bench/hpo_tasks.py compares samplers on them, bench/study_asha.py the ASHA
pruner.  No third-party imports, so either script can take them."""

# name -> (objective, space: name -> (low, high, log))
TASKS = {
    # Adam's lr, beta1 and weight decay on a small Fashion-MNIST MLP (8x8 images, one hidden layer of 16)
    "adam_fmnist_mlp": ({"task": "fmnist_mlp width=16 batch=32", "steps": 200, "optimizer": "adam", "seeds": [0]},
                        {"lr": (1e-5, 1.0, True), "beta1": (0.5, 0.999, False), "weight_decay": (1e-6, 1e-1, True)}),
    # mlp_lopt's lr (the scale of its step: lr / 1e-3 multiplies it) on a small conv net (8x8 images, 4 channels)
    "mlp_lopt_conv_net": ({"task": "conv_net width=4 batch=16", "steps": 200, "optimizer": "mlp_lopt", "seeds": [0]},
                          {"lr": (1e-4, 1e-1, True)}),
}
