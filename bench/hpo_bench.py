#!/usr/bin/python3
"""Our study samplers (random, TPE, GP, through the daemon over loopback HTTP:
ask, then tell) against Optuna 3.1's RandomSampler and TPESampler (Debian's
python3-optuna, in-process) on Branin, Hartmann-6 and a noisy 10-D
Rosenbrock: the best value after 25/50/100 trials over seeds, a Mann-Whitney
U test per case (as Optuna's paper compares samplers; scipy's
mannwhitneyu, two-sided), and the wall time per ask.  The table and its
reading: docs/studies.md#against-optuna.

Bench-only dependencies: python3-optuna and python3-scipy (Debian).

Usage: OPTIRSD=build/optirsd /usr/bin/python3 bench/hpo_bench.py [--seeds 20] [--trials 100]
       [--functions branin,hartmann6,rosenbrock10] [--first-seed 0] [--json PATH]"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import optuna
from scipy.stats import mannwhitneyu

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "integration"))
from daemon import Daemon  # noqa: E402

# ---- the functions: (space, f(params, noise rng) -> (observed, true), optimum) ----


def branin(p, _rng):
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    v = (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10
    return v, v


H6_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
H6_P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]
H6_ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann6(p, _rng):
    x = [p["x%d" % i] for i in range(6)]
    v = -sum(H6_ALPHA[i] * math.exp(-sum(H6_A[i][j] * (x[j] - 1e-4 * H6_P[i][j]) ** 2 for j in range(6)))
             for i in range(4))
    return v, v


def rosenbrock10(p, rng):
    """10-D Rosenbrock on [-2.048, 2.048]^10 observed with multiplicative
    log-normal noise (sd 0.1 in log space); the true value is reported."""
    x = [p["x%d" % i] for i in range(10)]
    v = sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(9))
    return v * math.exp(0.1 * rng.standard_normal()), v


FUNCTIONS = {
    "branin": ({"x1": (-5.0, 10.0), "x2": (0.0, 15.0)}, branin, 0.397887, True),
    "hartmann6": ({"x%d" % i: (0.0, 1.0) for i in range(6)}, hartmann6, -3.32237, True),
    "rosenbrock10": ({"x%d" % i: (-2.048, 2.048) for i in range(10)}, rosenbrock10, 0.0, False),
}
BUDGETS = (25, 50, 100)

# ---- the runs: each returns (true value of the best observed trial after each trial, ask seconds) ----


def best_curve(obs_true):
    out, best_obs, best_true = [], math.inf, math.inf
    for o, t in obs_true:
        if o < best_obs:
            best_obs, best_true = o, t
        out.append(best_true)
    return out


def run_ours(d, fname, sampler, seed, n):
    box, f, _, _ = FUNCTIONS[fname]
    space = {k: {"type": "float", "low": lo, "high": hi} for k, (lo, hi) in box.items()}
    st, s = d.json("POST", "/v1/studies", {"name": "%s-%s-%d" % (fname, sampler, seed), "space": space,
                                           "sampler": sampler, "pruner": "none", "max_trials": n, "parallel": 1,
                                           "seed": seed})
    assert st == 201, s
    sid, noise, hist, asks = s["id"], np.random.default_rng([seed, 7]), [], []
    for k in range(n):
        t0 = time.perf_counter()
        st, t = d.json("POST", "/v1/studies/%s/trials" % sid, {})
        asks.append(time.perf_counter() - t0)
        assert st == 201, t
        obs, true = f(t["params"], noise)
        hist.append((obs, true))
        assert d.json("POST", "/v1/studies/%s/trials/%d/tell" % (sid, k), {"value": obs})[0] == 200
    d.json("DELETE", "/v1/studies/%s" % sid)
    return best_curve(hist), asks


def run_optuna(fname, sampler, seed, n):
    box, f, _, _ = FUNCTIONS[fname]
    dists = {k: optuna.distributions.FloatDistribution(lo, hi) for k, (lo, hi) in box.items()}
    smp = optuna.samplers.RandomSampler(seed=seed) if sampler == "random" else optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(sampler=smp, direction="minimize")
    noise, hist, asks = np.random.default_rng([seed, 7]), [], []
    for _ in range(n):
        t0 = time.perf_counter()
        trial = study.ask(dists)
        asks.append(time.perf_counter() - t0)
        obs, true = f(trial.params, noise)
        hist.append((obs, true))
        study.tell(trial, obs)
    return best_curve(hist), asks


SAMPLERS = [("ours random", "ours", "random"), ("ours TPE", "ours", "tpe"), ("ours GP", "ours", "gp"),
            ("Optuna random", "optuna", "random"), ("Optuna TPE", "optuna", "tpe")]
# (a, b): is a better than, within noise of, or worse than b
COMPARE = [("ours TPE", "Optuna TPE"), ("ours GP", "Optuna TPE"), ("ours GP", "Optuna random"),
           ("ours TPE", "ours random")]


def verdict(a, b, alpha=0.05):
    p = mannwhitneyu(a, b, alternative="two-sided").pvalue
    if p >= alpha:
        return "≈", p
    return ("better" if statistics.median(a) < statistics.median(b) else "worse"), p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--functions", default=",".join(FUNCTIONS))
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--json")
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    budgets = [b for b in BUDGETS if b <= a.trials] or [a.trials]
    fnames = a.functions.split(",")
    res = {}   # fname -> sampler label -> {"curves": [...], "asks": [...]}
    t_start = time.time()
    d = Daemon().start()
    try:
        for fname in fnames:
            res[fname] = {}
            for label, impl, kind in SAMPLERS:
                curves, asks, t0 = [], [], time.time()
                for seed in range(a.first_seed, a.first_seed + a.seeds):
                    c, t = run_ours(d, fname, kind, seed, a.trials) if impl == "ours" else \
                        run_optuna(fname, kind, seed, a.trials)
                    curves.append(c)
                    asks.extend(t)
                res[fname][label] = {"curves": curves, "asks": asks}
                print("# %s %s: %.1f s" % (fname, label, time.time() - t0), file=sys.stderr, flush=True)
    finally:
        d.cleanup()
    print("Seeds %d, trials %d, total %.0f s\n" % (a.seeds, a.trials, time.time() - t_start))
    print("Median (over seeds) of the best value's regret (true value minus the optimum) after N trials:\n")
    print("| function | N | " + " | ".join(s[0] for s in SAMPLERS) + " | " +
          " | ".join("%s vs %s (p)" % c for c in COMPARE) + " |")
    print("|---|---|" + "---|" * (len(SAMPLERS) + len(COMPARE)))
    verdicts = {}
    for fname in fnames:
        opt = FUNCTIONS[fname][2]
        for b in budgets:
            vals = {lab: [c[b - 1] - opt for c in res[fname][lab]["curves"]] for lab, _, _ in SAMPLERS}
            cells = ["%.3g" % statistics.median(vals[lab]) for lab, _, _ in SAMPLERS]
            comp = []
            for x, y in COMPARE:
                v, p = verdict(vals[x], vals[y])
                verdicts[(fname, b, x, y)] = v
                comp.append("%s (%.2g)" % (v, p))
            print("| %s | %d | %s | %s |" % (fname, b, " | ".join(cells), " | ".join(comp)))
    print("\nWall time per ask, mean over all trials and seeds (ms; ours: the HTTP round trip of an ask, "
          "Optuna: study.ask in-process with its in-memory storage):\n")
    print("| function | " + " | ".join(s[0] for s in SAMPLERS) + " |")
    print("|---|" + "---|" * len(SAMPLERS))
    for fname in fnames:
        print("| %s | %s |" % (fname, " | ".join("%.2f" % (1e3 * statistics.mean(res[fname][lab]["asks"]))
                                                  for lab, _, _ in SAMPLERS)))
    tpe_ok = all(verdicts[(f, b, "ours TPE", "Optuna TPE")] != "worse" for f in fnames for b in budgets)
    smooth = [f for f in fnames if FUNCTIONS[f][3]]
    gp_ok = all(verdicts[(f, b, "ours GP", y)] == "better" for f in smooth for b in budgets
                for y in ("Optuna TPE", "Optuna random"))
    print("\nTarget: our TPE within noise of Optuna's TPE or better on every case: %s" % ("met" if tpe_ok else "MISSED"))
    print("Target: our GP better than Optuna's TPE and random on every case of the smooth functions (%s): %s"
          % (", ".join(smooth), "met" if gp_ok else "MISSED"))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({f: {lab: r for lab, r in v.items()} for f, v in res.items()}, fh)


if __name__ == "__main__":
    main()
