#!/usr/bin/python3
"""Our study samplers against Optuna 3.1's on built-in tasks (issue #20
part 2, the half hpo_bench.py leaves out): the objective is a trial of a
daemon-run study's built-in task, evaluated by `optirsd objective --params -`
(src/cli/cli_objective.c: the code daemon-run studies run, kept running as
one process per task so the data sets and weights load once).  Our random,
TPE and GP are driven over loopback HTTP (ask, evaluate, tell), Optuna's
RandomSampler and TPESampler in-process with the same objective process and
the same seeds; the best held-out loss after 25/50/100 trials, a two-sided
Mann-Whitney U per case (hpo_stats.verdict: the statistics are shared, not
copied) and the wall time per ask.  A trial's value is deterministic for its
parameters: the seeds change only the samplers.  The table and its reading:
docs/studies.md#built-in-tasks.

Bench-only dependencies: python3-optuna and python3-scipy (Debian).

Usage: OPTIRSD=build/optirsd /usr/bin/python3 bench/hpo_tasks.py [--seeds 20] [--trials 100]
       [--tasks adam_fmnist_mlp,mlp_lopt_conv_net] [--first-seed 0] [--json PATH]"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import optuna

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hpo_bench import BUDGETS, best_curve  # noqa: E402
from hpo_stats import verdict  # noqa: E402
from daemon import OPTIRSD, Daemon  # noqa: E402  (hpo_bench put tests/integration on the path)
from hpo_task_defs import TASKS  # noqa: E402

class Objective:
    """One `optirsd objective --params -` process: a params line in, a value
    line out ("failed N" or "error ..." otherwise)."""

    def __init__(self, objective, db):
        self.p = subprocess.Popen([OPTIRSD, "objective", "--objective", json.dumps(objective), "--params", "-",
                                   "--db", db], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.n, self.seconds = 0, 0.0

    def __call__(self, params):
        t0 = time.perf_counter()
        self.p.stdin.write(json.dumps(params) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline().strip()
        self.n, self.seconds = self.n + 1, self.seconds + time.perf_counter() - t0
        if line.startswith("error") or not line:
            raise RuntimeError("optirsd objective: %s (params %s)" % (line or "exited", params))
        return None if line.startswith("failed") else float(line)

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def curve(values):
    """The best value after each trial (a failed trial, None, improves nothing)."""
    return best_curve([(v, v) if v is not None else (math.inf, math.inf) for v in values])


def run_ours(d, obj, tname, sampler, seed, n):
    space = {k: {"type": "float", "low": lo, "high": hi, "log": lg} for k, (lo, hi, lg) in TASKS[tname][1].items()}
    st, s = d.json("POST", "/v1/studies", {"name": "%s-%s-%d" % (tname, sampler, seed), "space": space,
                                            "sampler": sampler, "pruner": "none", "max_trials": n, "parallel": 1,
                                            "seed": seed})
    assert st == 201, s
    values, asks = [], []
    for k in range(n):
        t0 = time.perf_counter()
        st, t = d.json("POST", "/v1/studies/%s/trials" % s["id"], {})
        asks.append(time.perf_counter() - t0)
        assert st == 201, t
        v = obj(t["params"])
        values.append(v)
        body = {"value": v} if v is not None else {"state": "failed"}
        assert d.json("POST", "/v1/studies/%s/trials/%d/tell" % (s["id"], k), body)[0] == 200
    d.json("DELETE", "/v1/studies/%s" % s["id"])
    return curve(values), asks


def run_optuna(obj, tname, sampler, seed, n):
    smp = optuna.samplers.RandomSampler(seed=seed) if sampler == "random" else optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(sampler=smp, direction="minimize")
    dists = {k: optuna.distributions.FloatDistribution(lo, hi, log=lg) for k, (lo, hi, lg) in TASKS[tname][1].items()}
    values, asks = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        trial = study.ask(dists)
        asks.append(time.perf_counter() - t0)
        v = obj(trial.params)
        values.append(v)
        if v is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, v)
    return curve(values), asks


SAMPLERS = [("ours random", "ours", "random"), ("ours TPE", "ours", "tpe"), ("ours GP", "ours", "gp"),
            ("Optuna random", "optuna", "random"), ("Optuna TPE", "optuna", "tpe")]
COMPARE = [("ours TPE", "Optuna TPE"), ("ours random", "Optuna random"), ("ours GP", "Optuna TPE"),
           ("ours GP", "Optuna random"), ("ours TPE", "ours random")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--json")
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tnames = a.tasks.split(",")
    if any(t not in TASKS for t in tnames):
        ap.error("unknown task; known: %s" % ", ".join(TASKS))
    budgets = [b for b in BUDGETS if b <= a.trials] or [a.trials]
    res, evals = {}, {}
    t_start = time.time()
    tmp = tempfile.mkdtemp(prefix="optirs-hpo-tasks-")
    d = Daemon().start()
    try:
        for tname in tnames:
            obj = Objective(TASKS[tname][0], os.path.join(tmp, "weights.db"))
            res[tname] = {}
            try:
                for label, impl, kind in SAMPLERS:
                    curves, asks, t0 = [], [], time.time()
                    for seed in range(a.first_seed, a.first_seed + a.seeds):
                        c, t = run_ours(d, obj, tname, kind, seed, a.trials) if impl == "ours" else \
                            run_optuna(obj, tname, kind, seed, a.trials)
                        curves.append(c)
                        asks.extend(t)
                    res[tname][label] = {"curves": curves, "asks": asks}
                    print("# %s %s: %.1f s" % (tname, label, time.time() - t0), file=sys.stderr, flush=True)
            finally:
                obj.close()
            evals[tname] = obj.seconds / max(obj.n, 1)
    finally:
        d.cleanup()
    print("Seeds %d (%d..%d), trials %d, total %.0f s\n" % (a.seeds, a.first_seed, a.first_seed + a.seeds - 1,
                                                           a.trials, time.time() - t_start))
    for tname in tnames:
        o, sp = TASKS[tname]
        print("- %s: objective %s; space %s; one trial %.1f ms" % (
            tname, json.dumps(o), ", ".join("%s [%g, %g]%s" % (k, lo, hi, " log" if lg else "")
                                             for k, (lo, hi, lg) in sp.items()), 1e3 * evals[tname]))
    print("\nMedian (over seeds) of the best held-out loss after N trials:\n")
    print(("| task | N | " + "".join(s[0] + " | " for s in SAMPLERS) +
           "".join("%s vs %s (p) | " % c for c in COMPARE)).rstrip())
    print("|---|---|" + "---|" * (len(SAMPLERS) + len(COMPARE)))
    verdicts = {}
    for tname in tnames:
        for b in budgets:
            vals = {lab: [c[b - 1] for c in res[tname][lab]["curves"]] for lab, _, _ in SAMPLERS}
            cells = ["%.4f" % statistics.median(vals[lab]) for lab, _, _ in SAMPLERS]
            comp = []
            for x, y in COMPARE:
                v, p = verdict(vals[x], vals[y])
                verdicts[(tname, b, x, y)] = v
                comp.append("%s (%.2g)" % (v, p))
            print(("| %s | %d | %s" % (tname, b, "".join(x + " | " for x in cells + comp))).rstrip())
    print("\nWall time per ask, mean over all trials and seeds (ms; ours: the HTTP round trip of an ask, "
          "Optuna: study.ask in-process with its in-memory storage):\n")
    print("| task | " + " | ".join(s[0] for s in SAMPLERS) + " |")
    print("|---|" + "---|" * len(SAMPLERS))
    for tname in tnames:
        print("| %s | %s |" % (tname, " | ".join("%.2f" % (1e3 * statistics.mean(res[tname][lab]["asks"]))
                                                 for lab, _, _ in SAMPLERS)))
    ok = all(verdicts[(t, b, "ours TPE", "Optuna TPE")] != "worse" for t in tnames for b in budgets)
    print("\nTarget: ours TPE within noise of Optuna TPE or better on every case: %s" % ("met" if ok else "MISSED"))
    gp = all(verdicts[(t, b, "ours GP", y)] == "better" for t in tnames for b in budgets
             for y in ("Optuna TPE", "Optuna random"))
    print("Our GP better than Optuna's TPE and random on every case: %s" % ("yes" if gp else "no"))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh)


if __name__ == "__main__":
    main()
