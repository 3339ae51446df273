#!/usr/bin/python3
"""ASHA's compute saving on a study the daemon runs itself (docs/studies.md#
asha-against-no-pruner): the same TPE study (the issue's space: lr 1e-5..1e-1
log, batch {16, 32, 64, 128}, architecture {small, medium, large}; parallel
4) with pruner "asha" and with pruner "none", for each of several study
seeds; the total optimizer steps run (the study's steps_run) and the best
value.  The target (issue 20): ASHA runs at most half the steps at an equal
best value.

ASHA's rungs: min_resource = steps / 10 and reduction factor 3 unless given
(rungs at 10, 30, 90 steps of 100): with Optuna's default min_resource of 1
a trial is judged on one noisy minibatch loss.

Usage: OPTIRSD=build/optirsd bench/study_asha.py [trials] [steps] [seeds] [task] [min_resource] [eta]"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "integration"))
from daemon import Daemon  # noqa: E402

SPACE = {"lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
         "batch": {"type": "categorical", "choices": [16, 32, 64, 128]},
         "architecture": {"type": "categorical", "choices": ["small", "medium", "large"]}}


def run(d, pruner, seed, trials, steps, task, min_resource, eta):
    body = {"name": f"asha-bench-{pruner}-{seed}", "space": SPACE, "sampler": "tpe", "pruner": pruner,
            "pruner_options": {"min_resource": min_resource, "reduction_factor": eta},
            "max_trials": trials, "parallel": 4, "seed": seed,
            "objective": {"task": task, "steps": steps, "optimizer": "adam"}}
    st, s = d.json("POST", "/v1/studies", body)
    assert st == 201, s
    t0 = time.monotonic()
    while True:
        st, g = d.json("GET", f"/v1/studies/{s['id']}")
        if g["run"]["state"] == "idle":
            break
        time.sleep(0.2)
    return g["steps_run"], g["best"]["value"], time.monotonic() - t0


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    seeds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    task = sys.argv[4] if len(sys.argv) > 4 else "mlp_regression dim=8 width=16 n_train=256"
    min_resource = int(sys.argv[5]) if len(sys.argv) > 5 else max(1, steps // 10)
    eta = int(sys.argv[6]) if len(sys.argv) > 6 else 3
    d = Daemon().start()
    rows = []
    try:
        print(f"task: {task}; {trials} trials of {steps} steps, parallel 4, TPE; "
              f"ASHA min_resource {min_resource}, reduction factor {eta}")
        print("| seed | steps, none | steps, asha | saving | best, none | best, asha | wall s none / asha |")
        print("|---|---|---|---|---|---|---|")
        for seed in range(seeds):
            sn, bn, wn = run(d, "none", seed, trials, steps, task, min_resource, eta)
            sa, ba, wa = run(d, "asha", seed, trials, steps, task, min_resource, eta)
            rows.append((sn, sa, bn, ba))
            print(f"| {seed} | {sn} | {sa} | {sn / sa:.2f}× | {bn:.4g} | {ba:.4g} | {wn:.0f} / {wa:.0f} |", flush=True)
        saving = sum(r[0] for r in rows) / sum(r[1] for r in rows)
        bn = statistics.mean(r[2] for r in rows)
        ba = statistics.mean(r[3] for r in rows)
        wins = sum(r[3] <= r[2] for r in rows)
        print(f"total steps none / asha: {saving:.2f}×; mean best none {bn:.4g}, asha {ba:.4g} "
              f"(asha as good or better on {wins} of {len(rows)} seeds)")
    finally:
        d.cleanup()


if __name__ == "__main__":
    main()
