#!/usr/bin/python3
"""Our study samplers (random, TPE, multivariate TPE, GP, through the daemon
over loopback HTTP: ask, then tell) against Optuna 3.1's RandomSampler and
TPESampler (univariate, and multivariate=True) (Debian's python3-optuna,
in-process) on Branin, Hartmann-6, a noisy 10-D Rosenbrock and a
conditional space (`branches`: a categorical picks which function's
parameters exist; Optuna asks it define-by-run, its multivariate TPE with
group=True): the best value after 25/50/100 trials over seeds, a
Mann-Whitney U test per case (as Optuna's paper compares samplers; scipy's
mannwhitneyu, two-sided), and the wall time per ask.  The tables and their
reading: docs/studies.md#against-optuna.

Bench-only dependencies: python3-optuna and python3-scipy (Debian).

Usage: OPTIRSD=build/optirsd /usr/bin/python3 bench/hpo_bench.py [--seeds 20] [--trials 100]
       [--functions branin,hartmann6,rosenbrock10,branches] [--samplers LABEL,…] [--first-seed 0]
       [--json PATH]
  (defaults: the three standard functions and the five samplers of the first table in
   docs/studies.md#against-optuna; --samplers takes any labels of SAMPLERS, e.g. "ours TPE,ours TPE
   mv,Optuna TPE mv"; with a conditional function in --functions the GP is left out)"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import optuna

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "integration"))
from daemon import Daemon  # noqa: E402
from hpo_stats import verdict  # noqa: E402

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


BRANCHES = {   # branch -> (its parameters' boxes, its function of them, its minimum)
    "branin": ({"b_x1": (-5.0, 10.0), "b_x2": (0.0, 15.0)},
               lambda p: branin({"x1": p["b_x1"], "x2": p["b_x2"]}, None)[0], 0.397887),
    "sphere": ({"s%d" % i: (-5.0, 5.0) for i in range(4)}, lambda p: 1 + sum(p["s%d" % i] ** 2 for i in range(4)), 1.0),
    "hartmann6": ({"h%d" % i: (0.0, 1.0) for i in range(6)},
                  lambda p: hartmann6({"x%d" % i: p["h%d" % i] for i in range(6)}, None)[0] + 3.32237 + 0.1, 0.1),
}


def branches(p, _rng):
    """A conditional space: `branch` picks one of three functions and only
    its parameters exist; `shift` (in [-1, 1], shared) adds shift^2.  The
    minimum, 0.1, is on the hardest branch (Hartmann-6, shifted)."""
    _, f, _ = BRANCHES[p["branch"]]
    v = f(p) + p["shift"] ** 2
    return v, v


FUNCTIONS = {
    "branin": ({"x1": (-5.0, 10.0), "x2": (0.0, 15.0)}, branin, 0.397887, True),
    "hartmann6": ({"x%d" % i: (0.0, 1.0) for i in range(6)}, hartmann6, -3.32237, True),
    "rosenbrock10": ({"x%d" % i: (-2.048, 2.048) for i in range(10)}, rosenbrock10, 0.0, False),
    "branches": (None, branches, 0.1, False),   # conditional: its space is ours_space's, Optuna's suggest_branches
}


def ours_space(fname):
    box = FUNCTIONS[fname][0]
    if box is not None:
        return {k: {"type": "float", "low": lo, "high": hi} for k, (lo, hi) in box.items()}
    space = {"branch": {"type": "categorical", "choices": list(BRANCHES)},
             "shift": {"type": "float", "low": -1.0, "high": 1.0}}
    for b, (pbox, _, _) in BRANCHES.items():
        for k, (lo, hi) in pbox.items():
            space[k] = {"type": "float", "low": lo, "high": hi, "when": {"branch": [b]}}
    return space


def suggest_branches(trial):
    """The same space define-by-run, as Optuna users write it."""
    b = trial.suggest_categorical("branch", list(BRANCHES))
    for k, (lo, hi) in BRANCHES[b][0].items():
        trial.suggest_float(k, lo, hi)
    trial.suggest_float("shift", -1.0, 1.0)
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
    f = FUNCTIONS[fname][1]
    kind, mv = (sampler[:-3], True) if sampler.endswith("-mv") else (sampler, False)
    req = {"name": "%s-%s-%d" % (fname, sampler, seed), "space": ours_space(fname), "sampler": kind,
           "pruner": "none", "max_trials": n, "parallel": 1, "seed": seed}
    if mv:
        req["sampler_options"] = {"multivariate": True}
    st, s = d.json("POST", "/v1/studies", req)
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
    if sampler == "random":
        smp = optuna.samplers.RandomSampler(seed=seed)
    elif sampler == "tpe-mv":   # group=True: its way with a conditional space (a no-op without conditions)
        smp = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=box is None)
    else:
        smp = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(sampler=smp, direction="minimize")
    noise, hist, asks = np.random.default_rng([seed, 7]), [], []
    for _ in range(n):
        t0 = time.perf_counter()
        if box is None:
            trial = study.ask()
            suggest_branches(trial)
        else:
            trial = study.ask({k: optuna.distributions.FloatDistribution(lo, hi) for k, (lo, hi) in box.items()})
        asks.append(time.perf_counter() - t0)
        obs, true = f(trial.params, noise)
        hist.append((obs, true))
        study.tell(trial, obs)
    return best_curve(hist), asks


SAMPLERS = [("ours random", "ours", "random"), ("ours TPE", "ours", "tpe"), ("ours TPE mv", "ours", "tpe-mv"),
            ("ours GP", "ours", "gp"), ("Optuna random", "optuna", "random"), ("Optuna TPE", "optuna", "tpe"),
            ("Optuna TPE mv", "optuna", "tpe-mv")]
# (a, b): is a better than, within noise of, or worse than b
COMPARE = [("ours TPE", "Optuna TPE"), ("ours TPE mv", "Optuna TPE mv"), ("ours TPE mv", "ours TPE"),
           ("ours GP", "Optuna TPE"), ("ours GP", "Optuna random"), ("ours TPE", "ours random"),
           ("ours TPE mv", "ours random")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--functions", default="branin,hartmann6,rosenbrock10")
    ap.add_argument("--samplers", default="ours random,ours TPE,ours GP,Optuna random,Optuna TPE")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--json")
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    budgets = [b for b in BUDGETS if b <= a.trials] or [a.trials]
    fnames = a.functions.split(",")
    want = a.samplers.split(",")
    unknown = [w for w in want + fnames if w not in [lab for lab, _, _ in SAMPLERS] + list(FUNCTIONS)]
    if unknown:
        ap.error("unknown sampler or function: %s" % ", ".join(unknown))
    conditional = any(FUNCTIONS[f][0] is None for f in fnames)
    # the GP takes no conditional space: with one, it is left out
    samplers = [s_ for s_ in SAMPLERS if s_[0] in want and not (conditional and s_[2] == "gp")]
    compare = [c for c in COMPARE if all(x in [lab for lab, _, _ in samplers] for x in c)]
    res = {}   # fname -> sampler label -> {"curves": [...], "asks": [...]}
    t_start = time.time()
    d = Daemon().start()
    try:
        for fname in fnames:
            res[fname] = {}
            for label, impl, kind in samplers:
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
    print(("| function | N | " + "".join(s[0] + " | " for s in samplers) +
           "".join("%s vs %s (p) | " % c for c in compare)).rstrip())
    print("|---|---|" + "---|" * (len(samplers) + len(compare)))
    verdicts = {}
    for fname in fnames:
        opt = FUNCTIONS[fname][2]
        for b in budgets:
            vals = {lab: [c[b - 1] - opt for c in res[fname][lab]["curves"]] for lab, _, _ in samplers}
            cells = ["%.3g" % statistics.median(vals[lab]) for lab, _, _ in samplers]
            comp = []
            for x, y in compare:
                v, p = verdict(vals[x], vals[y])
                verdicts[(fname, b, x, y)] = v
                comp.append("%s (%.2g)" % (v, p))
            print(("| %s | %d | %s" % (fname, b, "".join(x + " | " for x in cells + comp))).rstrip())
    print("\nWall time per ask, mean over all trials and seeds (ms; ours: the HTTP round trip of an ask, "
          "Optuna: study.ask in-process with its in-memory storage):\n")
    print("| function | " + " | ".join(s[0] for s in samplers) + " |")
    print("|---|" + "---|" * len(samplers))
    for fname in fnames:
        print("| %s | %s |" % (fname, " | ".join("%.2f" % (1e3 * statistics.mean(res[fname][lab]["asks"]))
                                                  for lab, _, _ in samplers)))
    for x, y in (("ours TPE", "Optuna TPE"), ("ours TPE mv", "Optuna TPE mv")):
        if (x, y) in compare:
            ok = all(verdicts[(f, b, x, y)] != "worse" for f in fnames for b in budgets)
            print("\nTarget: %s within noise of %s or better on every case: %s" % (x, y, "met" if ok else "MISSED"))
    smooth = [f for f in fnames if FUNCTIONS[f][3]]
    if ("ours GP", "Optuna TPE") in compare and ("ours GP", "Optuna random") in compare:
        gp_ok = all(verdicts[(f, b, "ours GP", y)] == "better" for f in smooth for b in budgets
                    for y in ("Optuna TPE", "Optuna random"))
        print("Target: our GP better than Optuna's TPE and random on every case of the smooth functions (%s): %s"
              % (", ".join(smooth), "met" if gp_ok else "MISSED"))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({f: {lab: r for lab, r in v.items()} for f, v in res.items()}, fh)


if __name__ == "__main__":
    main()
