#!/usr/bin/python3
"""The architecture search over the whole space issue #20 part 3 names: the
example request of docs/studies.md "Architecture search" (bench/nas_predictors.py's
REQUEST) with gru_lopt among the families, mlp_lopt's three activations and its
five input feature sets.

Per seed, a daemon on a fresh database DIR/nas-space-SEED/db.sqlite (kept, for
`optirsd eval --weights nas-best --db ...` afterwards) runs the search, and the
result is read back from GET /v1/weights/nas-best -> provenance.nas. The size of
the space is the daemon's own count: the job config lists only the drawn
candidates, so each family's part of the space (mlp_lopt's per feature set) is
posted with candidates = 64, and the 400 answer says how many it holds.

Prints a table per seed (space size, families and feature sets drawn, the ridge's
and the early curve's rho, the best found, the shipped mlp_lopt's score, wall
time), the fully trained candidates of every seed, and every candidate of a family
other than mlp_lopt with its early meta-loss's rank among the 16; then, since the
draw rarely gives gru_lopt a long run, the same recipe on gru_lopt's 8 shapes alone
(candidates 8, full 8, a fresh database DIR/nas-gru-SEED each): every shape's score.
Figures: docs/studies.md "Measured over the whole space".

Usage: OPTIRSD=build/optirsd /usr/bin/python3 bench/nas_space.py [SEEDS] [DIR]   (default 0,1,2,3,4,5 and /tmp;
DIR/nas-space-SEED is removed first)"""
import collections
import os
import re
import shutil
import sys
import time

from nas_predictors import FAMILIES, REQUEST, Daemon, run_search

ACTIVATIONS = ["relu", "gelu", "swish"]
FEATURE_SETS = ["full", "adam", "momentum", "no_time", "no_tensor"]
SPACE = dict(REQUEST["space"], optimizer=FAMILIES + ["gru_lopt"], activation=ACTIVATIONS, features=FEATURE_SETS)


def space_size(d, space):
    """The daemon's count of the architectures of `space` it can meta-train."""
    parts = [dict(space, optimizer=[f]) for f in space["optimizer"] if f != "mlp_lopt"]
    if "mlp_lopt" in space["optimizer"]:
        parts += [dict(space, optimizer=["mlp_lopt"], features=[fs]) for fs in space.get("features", ["full"])]
    n = 0
    for p in parts:
        st, err = d.json("POST", "/v1/meta/jobs", dict(REQUEST, space=p, candidates=64, full=1, name="nas-count"))
        assert st == 400, (p, st, err)
        n += int(re.search(r"the space holds (\d+) architectures", err["error"]["message"]).group(1))
    return n


def arch(a):
    s = f"`{a['optimizer']}` {a['hidden']}×{a['depth']}"
    if a["optimizer"] == "attn_lopt":
        s += f", {a['num_heads']} head" + ("s" if a["num_heads"] > 1 else "")
    if a["optimizer"] == "mlp_lopt":
        s += f" {a['activation']} {a['features']}"
    return s


def counts(items):
    return ", ".join(f"{k} {v}" for k, v in sorted(collections.Counter(items).items(), key=lambda kv: (-kv[1], kv[0])))


def fresh_daemon(base, tag, seed):
    """A daemon on a fresh database BASE/TAG-SEED/db.sqlite."""
    dir_ = os.path.join(base, f"{tag}-{seed}")
    shutil.rmtree(dir_, ignore_errors=True)
    os.makedirs(dir_)
    return Daemon(tmpdir=dir_, db=os.path.join(dir_, "db.sqlite")).start()


def gru_alone(seeds, base):
    """The same recipe on gru_lopt's 8 shapes alone, every one fully trained: their scores."""
    space = {"optimizer": ["gru_lopt"], "hidden": REQUEST["space"]["hidden"], "depth": REQUEST["space"]["depth"]}
    shapes = [(h, dp) for h in space["hidden"] for dp in space["depth"]]
    print("| seed | " + " | ".join(f"`gru_lopt` {h}×{dp}" for h, dp in shapes) + " | wall time |")
    print("|---|" + "---|" * (len(shapes) + 1))
    for seed in seeds:
        d = fresh_daemon(base, "nas-gru", seed)
        try:
            t = time.time()
            _, nas = run_search(d, dict(REQUEST, space=space, candidates=8, full=8, seed=seed, name="nas-gru"))
            wall = time.time() - t
        finally:
            d.stop()
        score = {(c["architecture"]["hidden"], c["architecture"]["depth"]): c["score"] for c in nas["candidates"]}
        print(f"| {seed} | " + " | ".join(num(score[sh], 2) for sh in shapes) + f" | {wall:.0f} s |")


def num(v, k):
    return "–" if v is None else f"{v:.{k}f}".replace("-", "−")


def main():
    seeds = [int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "0,1,2,3,4,5").split(",")]
    base = sys.argv[2] if len(sys.argv) > 2 else "/tmp"
    rows, details, others = [], [], []
    t0 = time.time()
    for seed in seeds:
        d = fresh_daemon(base, "nas-space", seed)
        try:
            n = space_size(d, SPACE)
            t = time.time()
            job, nas = run_search(d, dict(REQUEST, space=SPACE, seed=seed, name="nas-best"))
            wall = time.time() - t
        finally:
            d.stop()
        drawn = job["config"]["candidate_architectures"]
        mlp = [a for a in drawn if a["optimizer"] == "mlp_lopt"]
        rho = lambda v: num(v, 2)  # noqa: E731
        rows.append(f"| {seed} | {n} | {counts(a['optimizer'] for a in drawn)} | "
                    f"{counts(a['features'] for a in mlp) or '–'} | {counts(a['activation'] for a in mlp) or '–'} | "
                    f"{rho(nas['spearman'])} | {rho(nas['spearman_early_curve'])} | "
                    f"{arch(nas['best'])} ({rho(nas['best_score'])}) | {rho(nas['shipped_mlp_lopt_score'])} | {wall:.0f} s |")
        for c in sorted((c for c in nas["candidates"] if c["full_rank"]), key=lambda c: c["full_rank"]):
            details.append(f"| {seed} | {c['full_rank']} | {arch(c['architecture'])} | {num(c['early_meta_loss'], 3)} | "
                           f"{rho(c['score'])} |")
        early = sorted(c["early_meta_loss"] for c in nas["candidates"])
        for c in nas["candidates"]:
            if c["architecture"]["optimizer"] != "mlp_lopt":
                others.append(f"| {seed} | {arch(c['architecture'])} | {num(c['early_meta_loss'], 3)} | "
                              f"{early.index(c['early_meta_loss']) + 1} | {c['full_rank'] or '–'} | {rho(c['score'])} |")
        print(f"seed {seed}: {wall:.0f} s, database {d.db}", file=sys.stderr)
    print("| seed | architectures in the space | families drawn (of 16) | feature sets drawn (mlp_lopt) | "
          "activations drawn (mlp_lopt) | ρ ridge (leave-one-out) | ρ early curve alone | best found (score) | "
          "shipped `mlp_lopt` 8×1 | wall time |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print("| seed | full rank | candidate | early meta-loss | score |")
    print("|---|---|---|---|---|")
    print("\n".join(details))
    print()
    print("| seed | candidate of another family | early meta-loss | its rank of 16 (early) | full rank | score |")
    print("|---|---|---|---|---|---|")
    print("\n".join(others))
    print()
    gru_alone(seeds, base)
    print(f"\ntotal {time.time() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
