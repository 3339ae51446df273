#!/usr/bin/python3
"""The `hybrid` optimizer, measured: hybrid against its two components alone
(Adam at lr 1e-3 and mlp_lopt) through the HTTP API of a real optirsd, at
equal step counts, seeds fixed.

The tasks, the daemon wrapper and the driving loop are bench/adapt_bench.py's
(quad: 50-dim quadratic of condition 1e4; logreg: logistic regression,
minibatch 128; mlp: 64-32-10 tanh MLP on Fashion-MNIST 8x8, minibatch 128):
each session starts from the task's initial parameters and is driven step by
step with binary float32 gradients and the loss in X-Optirs-Loss.

Configurations (all with the daemon's default weights: the shipped "mlp_lopt"
record):
  adam           adam, lr 1e-3
  mlp_lopt       mlp_lopt, lr 1e-3 (its meta-trained step)
  hybrid         hybrid, lr 1e-3 (Adam part), lo_scale 1, eta 0.2, share 0.002
  adam@1e-2      adam, lr 1e-2           (a better-tuned classic reference)
  hybrid@1e-2    hybrid, lr 1e-2
  adam@1e-1      adam, lr 1e-1           (a mis-tuned classic part)
  hybrid@1e-1    hybrid, lr 1e-1
Reported: final loss = mean of the sent losses over the last 10 % of steps,
mean over seeds; and for hybrid the final mixing weight of the learned part
(mix_learned of the last step's metrics extra, mean over seeds).

Usage: /usr/bin/python3 bench/hybrid_bench.py [--steps N] [--seeds S] [--out FILE]
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from adapt_bench import MLP, Daemon, LogReg, Quad  # noqa: E402

TASKS = [Quad, LogReg, MLP]

CONFIGS = [
    ("adam", "adam", {"lr": 1e-3}),
    ("mlp_lopt", "mlp_lopt", {"lr": 1e-3}),
    ("hybrid", "hybrid", {"lr": 1e-3}),
    ("adam@1e-2", "adam", {"lr": 1e-2}),
    ("hybrid@1e-2", "hybrid", {"lr": 1e-2}),
    ("adam@1e-1", "adam", {"lr": 1e-1}),
    ("hybrid@1e-1", "hybrid", {"lr": 1e-1}),
]
HYBRIDS = [label for label, opt, _ in CONFIGS if opt == "hybrid"]


def run(d, task_cls, seed, opt, hp, steps):
    task = task_cls(seed)          # same seed: same data, init and minibatch order
    p = task.init()
    spec = {"optimizer": opt, "hyperparams": hp,
            "tensors": [{"name": "t%d" % i, "shape": s} for i, s in enumerate(task.shapes)],
            "params": [float(v) for v in p.astype(np.float32)]}
    sid = d.json("POST", "/v1/sessions", spec)["id"]
    p = p.astype(np.float32).astype(np.float64)
    losses = []
    for k in range(1, steps + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            loss, g = task.loss_grad(p, k)
            g32 = g.astype("<f4")
        if not (np.isfinite(loss) and np.all(np.isfinite(g32))):
            return float("inf"), None
        st, data = d.request("POST", "/v1/sessions/%s/step" % sid, g32.tobytes(), {
            "Content-Type": "application/octet-stream", "Accept": "application/octet-stream",
            "X-Optirs-Step": str(k), "X-Optirs-Loss": repr(loss)})
        if st != 200:
            raise RuntimeError("step %d of %s -> %d %s" % (k, sid, st, data[:300]))
        p = p + np.frombuffer(data, dtype="<f4")
        losses.append(loss)
    mix = None
    if opt == "hybrid":
        for _ in range(100):   # the analytics row of the last step goes through the store's writer
            s = d.json("GET", "/v1/sessions/%s/summary" % sid)
            le = s.get("last_extras") or {}
            if le.get("step") == steps:
                mix = le["extra"]["mix_learned"]
                break
            time.sleep(0.05)
    d.request("DELETE", "/v1/sessions/%s" % sid)
    tail = max(1, steps // 10)
    return float(np.mean(losses[-tail:])), mix


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", help="also write the table (with the command) to this markdown file")
    a = ap.parse_args()
    d = Daemon()
    rows = []
    t0 = time.time()
    try:
        for tc in TASKS:
            res = {}
            for label, opt, hp in CONFIGS:
                runs = [run(d, tc, s, opt, hp, a.steps) for s in range(a.seeds)]
                mixes = [m for _, m in runs if m is not None]
                res[label] = (float(np.mean([l for l, _ in runs])),
                              float(np.mean(mixes)) if mixes else None)
            rows.append((tc.name, res))
            print("%s done (%.0f s)" % (tc.name, time.time() - t0), file=sys.stderr)
    finally:
        d.stop()
    head = "| task | " + " | ".join(l for l, _, _ in CONFIGS) + " | final mix_learned (%s) |" % ", ".join(HYBRIDS)
    lines = [head, "|" + "---|" * (len(CONFIGS) + 2)]
    for name, res in rows:
        cells = ["%.4g" % res[l][0] for l, _, _ in CONFIGS]
        mx = ", ".join("%.3f" % res[l][1] if res[l][1] is not None else "n/a" for l in HYBRIDS)
        lines.append("| %s | %s | %s |" % (name, " | ".join(cells), mx))
    cmd = "/usr/bin/python3 bench/hybrid_bench.py --steps %d --seeds %d" % (a.steps, a.seeds)
    text = "\n".join(lines) + "\n\nfinal loss = mean of the last 10 %% of %d steps' losses, mean of %d seeds.\n" \
        "Command: `%s`\n" % (a.steps, a.seeds, cmd)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
