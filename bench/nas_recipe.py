#!/usr/bin/python3
"""An architecture search whose candidates are meta-trained on issue 15's broad
robustness recipe instead of one quadratic (the request's `recipe`,
docs/studies.md "Architecture search"): the tasks, objective (each task's loss
against a tuned-Adam reference, outliers punished), episode lengths (200 to
5,000 steps) and curriculum of deploy/meta/mlp_lopt_robust.conf, from each
candidate's default initialisation, over mlp_lopt's widths 4, 8, 16, depths 1, 2
and five input feature sets (30 architectures): 12 candidates of 50 PES steps,
the best 3 by the predictor trained for 1,500.

Per seed, a daemon on a fresh database DIR/nas-recipe-SEED/db.sqlite (kept, for
`optirsd eval --weights nas-recipe --db ...`) runs the search; prints each
candidate (architecture, early meta-loss, score of the fully trained), the best,
the shipped mlp_lopt's score under the same objective, and the predictor's and
the early curve's rho.  Figures: docs/studies.md "A search on the robustness
recipe".

Usage: OPTIRSD=build/optirsd /usr/bin/python3 bench/nas_recipe.py [SEEDS] [DIR]   (default 0,1,2 and /tmp)"""
import os
import sys
import time

from nas_space import fresh_daemon
from nas_predictors import run_search

CONF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy", "meta", "mlp_lopt_robust.conf")


def conf_tasks():
    """The `task = ...` lines of the robustness recipe's config."""
    with open(CONF) as f:
        return [line.split("=", 1)[1].strip() for line in f if line.split("=", 1)[0].strip() == "task"]


def request(seed):
    return {"method": "nas",
            "space": {"optimizer": ["mlp_lopt"], "hidden": [4, 8, 16], "depth": [1, 2],
                      "features": ["full", "adam", "momentum", "no_time", "no_tensor"]},
            "candidates": 12, "full": 3, "outer_steps": 50, "full_steps": 1500,
            "eval_steps": 200, "eval_seeds": 4, "particles": 8, "unroll": 20, "seed": seed, "name": "nas-recipe",
            "recipe": {"tasks": conf_tasks(), "objective": "ref", "outlier_alpha": 1, "ref_lr": 0.003,
                       "horizon_min": 200, "horizon_max": 5000, "horizon_max_start": 400, "curriculum_steps": 150,
                       "unroll_start": 5, "sigma": 0.01, "task_draw": "weighted"}}


def arch(a):
    return f"{a['optimizer']} {a['hidden']}x{a['depth']} {a['activation']} {a['features']}"


def main():
    seeds = [int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "0,1,2").split(",")]
    base = sys.argv[2] if len(sys.argv) > 2 else "/tmp"
    for seed in seeds:
        t = time.time()
        d = fresh_daemon(base, "nas-recipe", seed)
        try:
            _, nas = run_search(d, request(seed))
        finally:
            d.stop()
        print(f"seed {seed} ({time.time() - t:.0f} s): best {arch(nas['best'])} score {nas['best_score']:.3f}, "
              f"shipped mlp_lopt {nas['shipped_mlp_lopt_score']:.3f}, rho ridge {nas['spearman']}, "
              f"rho early curve {nas['spearman_early_curve']}")
        for c in sorted(nas["candidates"], key=lambda c: c["early_meta_loss"]):
            score = "-" if c["score"] is None else f"{c['score']:.3f}"
            print(f"  {arch(c['architecture']):32s} early {c['early_meta_loss']:.3f}  full_rank {c['full_rank']}  "
                  f"score {score}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
