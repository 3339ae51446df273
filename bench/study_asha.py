#!/usr/bin/python3
"""ASHA's compute saving on a study the daemon runs itself (docs/studies.md#
asha-against-no-pruner): the same TPE study (the issue's space: lr 1e-5..1e-1
log, batch {16, 32, 64, 128}, architecture {small, medium, large}; parallel
4) with pruner "asha" and with pruner "none", for each of several study
seeds; the optimizer steps each ran (each trial's last reported step: a
pruned trial stops at its report), the best value, and the steps the
unpruned study had run when a trial of it first finished at ASHA's best
value or better (the steps of the trials finished by then: a lower bound,
as up to parallel − 1 others were part-way), and — the compute at equal
best value — the steps each study had run when it first reached the
unpruned study's best (give ASHA a larger budget with --asha-trials: it
stops asking once its budget of trials is used).  The target (issue 20): ASHA
runs at most half the steps at an equal best value.

ASHA's rungs: --min-resource (default steps / 10) and --eta (3): rungs at 10,
30, 90 steps of 100.  --report train|heldout and --report-every: what the
pruner sees (the objective's "report", "report_every").

--study NAME runs one of the issue's task studies instead (bench/hpo_task_defs.py,
docs/studies.md#built-in-tasks): its objective (task, optimizer, steps, seeds)
and its space; --task and --steps do not apply then.

Usage: OPTIRSD=build/optirsd bench/study_asha.py [--trials 100] [--steps 100] [--seeds 5]
           [--task "mlp_regression dim=8 width=16 n_train=256"] [--min-resource N] [--eta 3]
           [--report train] [--report-every 1] [--sampler tpe|random]
           [--study adam_fmnist_mlp|mlp_lopt_conv_net]"""
import argparse
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "integration"))
from daemon import Daemon  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hpo_task_defs import TASKS  # noqa: E402
from hpo_stats import verdict  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

SPACE = {"lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
         "batch": {"type": "categorical", "choices": [16, 32, 64, 128]},
         "architecture": {"type": "categorical", "choices": ["small", "medium", "large"]}}


def steps_of(t):
    return max((p["step"] for p in t["intermediate"]), default=0)


def study_of(a):
    """(space, objective) of the study the arguments name."""
    if a.study is None:
        return SPACE, {"task": a.task, "steps": a.steps, "optimizer": "adam"}
    objective, space = TASKS[a.study]
    return ({k: {"type": "float", "low": lo, "high": hi, "log": lg} for k, (lo, hi, lg) in space.items()},
            dict(objective))


def run(d, a, pruner, seed, trials):
    space, objective = study_of(a)
    objective.update({"report": a.report, "report_every": a.report_every})
    body = {"name": f"asha-bench-{pruner}-{seed}", "space": space, "sampler": a.sampler, "pruner": pruner,
            "pruner_options": {"min_resource": a.min_resource, "reduction_factor": a.eta},
            "max_trials": trials, "parallel": 4, "seed": seed, "objective": objective}
    st, s = d.json("POST", "/v1/studies", body)
    assert st == 201, s
    t0 = time.monotonic()
    while True:
        st, g = d.json("GET", f"/v1/studies/{s['id']}")
        if g["run"]["state"] == "idle":
            break
        time.sleep(0.2)
    trials = d.json("GET", f"/v1/studies/{s['id']}/trials")[1]["trials"]
    return sum(steps_of(t) for t in trials), g["best"]["value"], time.monotonic() - t0, trials


def steps_to_reach(trials, value):
    """The steps of the trials finished when one first finished at `value` or
    better (None: never)."""
    done = sorted((t for t in trials if t["finished_ms"] is not None), key=lambda t: (t["finished_ms"], t["trial"]))
    total = 0
    for t in done:
        total += steps_of(t)
        if t["state"] == "complete" and t["value"] <= value:
            return total
    return None


def first_rung_rank_correlation(trials, rung):
    """Spearman's rank correlation, over the unpruned study's complete
    trials, between the value a trial reported at ASHA's first rung (its
    last report at or before that step) and its final value: how well the
    first rung's ranking predicts the final one (1: perfectly)."""
    early, final = [], []
    for t in trials:
        seen = [p for p in t["intermediate"] if p["step"] <= rung]
        if t["state"] == "complete" and seen:
            early.append(max(seen, key=lambda p: p["step"])["value"])
            final.append(t["value"])
    return spearmanr(early, final).correlation if len(early) > 2 else math.nan


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--asha-trials", type=int, default=None, help="the ASHA study's budget (default: --trials)")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--task", default="mlp_regression dim=8 width=16 n_train=256")
    p.add_argument("--min-resource", type=int, default=None)
    p.add_argument("--eta", type=int, default=3)
    p.add_argument("--sampler", default="tpe", choices=["tpe", "random"])
    p.add_argument("--report", default="train", choices=["train", "heldout"])
    p.add_argument("--report-every", type=int, default=1)
    p.add_argument("--study", choices=sorted(TASKS), default=None)
    a = p.parse_args()
    if a.study is not None:
        a.task, a.steps = TASKS[a.study][0]["task"], TASKS[a.study][0]["steps"]
    if a.asha_trials is None:
        a.asha_trials = a.trials
    if a.min_resource is None:
        a.min_resource = max(1, a.steps // 10)
    d = Daemon().start()
    rows = []
    try:
        print(f"study: {a.study or 'regression'}; task: {a.task}; {a.trials} trials (ASHA: {a.asha_trials}) of {a.steps} steps, parallel 4, {a.sampler}; "
              f"ASHA min_resource "
              f"{a.min_resource}, reduction factor {a.eta}; the pruner sees the {a.report} loss every "
              f"{a.report_every} steps")
        print("| seed | steps, none | steps, asha | saving | best, none | best, asha | "
              "steps none took to reach asha's best | steps none / asha to reach none's best | wall s none / asha |")
        print("|---|---|---|---|---|---|---|---|---|")
        for seed in range(a.seeds):
            sn, bn, wn, tn = run(d, a, "none", seed, a.trials)
            sa, ba, wa, ta = run(d, a, "asha", seed, a.asha_trials)
            reach = steps_to_reach(tn, ba)
            qn, qa = steps_to_reach(tn, bn), steps_to_reach(ta, bn)
            rows.append((sn, sa, bn, ba, reach, qn, qa, first_rung_rank_correlation(tn, a.min_resource)))
            eq = f"{qn} / {qa}" + (f" = {qn / qa:.2f}×" if qa else " (never)")
            print(f"| {seed} | {sn} | {sa} | {sn / sa:.2f}× | {bn:.4g} | {ba:.4g} | {reach} | {eq} | "
                  f"{wn:.0f} / {wa:.0f} |", flush=True)
        saving = sum(r[0] for r in rows) / sum(r[1] for r in rows)
        wins = sum(r[3] <= r[2] for r in rows)
        ratios = sorted(r[3] / r[2] for r in rows)
        v, pv = verdict([r[3] for r in rows], [r[2] for r in rows]) if len(rows) > 1 else ("n/a", math.nan)
        print(f"total steps none / asha: {saving:.2f}×; mean best none {statistics.mean(r[2] for r in rows):.4g}, "
              f"asha {statistics.mean(r[3] for r in rows):.4g} (asha as good or better on {wins} of {len(rows)} seeds); "
              f"best asha / none: median {statistics.median(ratios):.4g}, worst {ratios[-1]:.4g}; "
              f"asha's bests against none's (Mann-Whitney U over the seeds): {v} (p = {pv:.2g}); "
              f"ASHA reached none's best on {sum(r[6] is not None for r in rows)} of {len(rows)} seeds; "
              f"the unpruned trials' value at step {a.min_resource} against their final value, Spearman's "
              f"rank correlation: median {statistics.median(r[7] for r in rows):.2f} over the seeds")
    finally:
        d.cleanup()


if __name__ == "__main__":
    main()
