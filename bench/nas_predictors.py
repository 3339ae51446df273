#!/usr/bin/python3
"""The architecture search's predictor against the early curve, over several
seeds, and a few other predictors replayed offline on the same results.

Runs the search of docs/studies.md "Architecture search" (16 candidates, 8
fully trained) once per seed on a daemon it starts, then reads each result's
provenance.nas and reports, per seed, Spearman's rho between each fully trained
candidate's leave-one-out prediction and its real score for:
  ridge (daemon)   the search's own figure (`spearman`);
  early curve      the last-quarter mean of the early meta-loss curve (no fit);
  ridge, lambda L  on a feature set (all = the daemon's 13; curve = the 4
                   early-curve features; early+family; early+size), refitted
                   here in numpy on the scored candidates (the daemon scales
                   over all candidates, so `all, 1` differs slightly from it);
  mean of others   the other scores' mean, the limit of any ridge as lambda
                   grows: its leave-one-out rho is -1 by construction.
Figures: docs/studies.md "The predictor over six seeds".

Usage: OPTIRSD=build/optirsd /usr/bin/python3 bench/nas_predictors.py [SEEDS]   (default 0,1,2,3,4,5)"""
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "integration"))
from daemon import Daemon  # noqa: E402

FAMILIES = ["mlp_lopt", "lstm_lopt", "attn_lopt", "graph_lopt", "mem_lopt"]
REQUEST = {"method": "nas",
           "space": {"optimizer": FAMILIES, "hidden": [4, 8, 16, 32], "depth": [1, 2], "num_heads": [1, 2, 4]},
           "candidates": 16, "full": 8, "outer_steps": 100, "full_steps": 1500,
           "eval_steps": 200, "eval_seeds": 4, "particles": 8, "unroll": 10, "task": "quadratic dim=10"}


def spearman(a, b):
    ra = np.argsort(np.argsort(a))
    rb = np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def features(c, kind):
    a, curve = c["architecture"], np.asarray(c["early_curve"])
    s = len(curve)
    early = curve[s - (s + 3) // 4:].mean()
    family = [1.0 if a["optimizer"] == f else 0.0 for f in FAMILIES]
    shape = [math.log2(a["hidden"]), a["depth"], a.get("num_heads", 0), math.log(c["ntheta"] + 1)]
    curvef = [curve[0], curve[-1], early, (curve[-1] - curve[0]) / (s - 1)]
    return {"all": family + shape + curvef, "curve": curvef, "early+family": [early] + family,
            "early+size": [early, math.log(c["ntheta"] + 1)]}[kind]


def ridge_loo(cands, kind, lam):
    """Leave-one-out predictions of a ridge on standardised features."""
    out = []
    for i, c in enumerate(cands):
        rest = [d for j, d in enumerate(cands) if j != i]
        X = np.array([features(d, kind) for d in rest])
        y = np.array([d["score"] for d in rest])
        mu, sd = X.mean(0), X.std(0)
        keep = sd > 0
        Z = (X[:, keep] - mu[keep]) / sd[keep]
        w = np.linalg.solve(Z.T @ Z + lam * np.eye(Z.shape[1]), Z.T @ (y - y.mean()))
        out.append(y.mean() + ((np.array(features(c, kind))[keep] - mu[keep]) / sd[keep]) @ w)
    return out


def run_search(d, body):
    """POSTs one search to the daemon d, waits for it; returns (job, provenance.nas)."""
    st, job = d.json("POST", "/v1/meta/jobs", body)
    assert st == 202, job
    while job["status"] not in ("done", "failed", "cancelled"):
        time.sleep(0.5)
        job = d.json("GET", f"/v1/meta/jobs/{job['id']}")[1]
    assert job["status"] == "done", job
    return job, d.json("GET", f"/v1/weights/{body['name']}")[1]["provenance"]["nas"]


def main():
    seeds = [int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "0,1,2,3,4,5").split(",")]
    d = Daemon().start()
    rows = {}
    try:
        for seed in seeds:
            t = time.time()
            _, nas = run_search(d, dict(REQUEST, seed=seed, name=f"nas-{seed}"))
            cands = [c for c in nas["candidates"] if c.get("full_rank")]
            real = [c["score"] for c in cands]
            row = {"ridge (daemon)": nas["spearman"], "early curve": nas["spearman_early_curve"]}
            for kind in ("all", "curve", "early+family", "early+size"):
                for lam in (1, 10, 100):
                    row[f"ridge {kind}, {lam}"] = spearman(ridge_loo(cands, kind, lam), real)
            row["mean of others"] = spearman([(sum(real) - r) / (len(real) - 1) for r in real], real)
            rows[seed] = row
            print(f"seed {seed}: {time.time() - t:.0f} s", file=sys.stderr)
    finally:
        d.stop()
    print("| predictor | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |")
    print("|---|" + "---|" * (len(seeds) + 1))
    for k in rows[seeds[0]]:
        v = [rows[s][k] for s in seeds]
        print(f"| {k} | " + " | ".join(f"{x:.2f}" for x in v) + f" | {np.mean(v):.2f} |")


if __name__ == "__main__":
    main()
