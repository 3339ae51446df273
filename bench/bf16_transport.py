#!/usr/bin/python3
"""Compact gradients on a real training run: a Fashion-MNIST MLP trained through
optirs.torch.RemoteOptimizer (Adam) with float32 transport against bfloat16 and float16
transport (proto/binary.md §8), and in-process torch.optim.Adam as the reference.

Model: ReLU MLP 784-256-128-10 (235 146 parameters), full 28x28 Fashion-MNIST (Debian's
dataset-fashion-mnist), pixels / 255, cross-entropy, batch 128, Adam lr 1e-3, default
betas.  Every configuration starts from the same weights (torch.manual_seed(seed)) and
sees the same minibatches in the same order (a numpy generator seeded by seed), one
torch thread; seeds 1..--seeds, the configurations interleaved within each seed, so the
spread over seeds is the yardstick for a difference between transports.  Configurations (gradients / answers on the wire):
  torch      torch.optim.Adam in this process (no transport)
  f32        f32 / f32   (RemoteOptimizer's default)
  bf16       bf16 / f32  (RemoteOptimizer(dtype="bf16"): local copy == daemon's copy)
  bf16+ans   bf16 / bf16 (answer_dtype="bf16" too: the local copy drifts by the rounding)
  f16        f16 / f32
Reported per configuration: the final train loss (whole 60 000-image train set), the
final test loss and accuracy (10 000 test images), the bytes of one step's request and
answer bodies, and the mean wall time of opt.step() (ms).  The step's speed at N = 1e6
per transport and dtype is bench/remote_step.py's (make bench).

Usage: /usr/bin/python3 bench/bf16_transport.py [--epochs 3] [--seeds 3]
       [--configs torch,f32,bf16,bf16+ans,f16] [--json PATH]
Starts build/optirsd (or $OPTIRSD) on a free loopback port with a temporary database.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from torch_eval import FMNIST_DIR, Daemon, _idx  # noqa: E402  (also puts clients/python on sys.path)

CONFIGS = {"torch": None, "f32": ("f32", "f32"), "bf16": ("bf16", "f32"),
           "bf16+ans": ("bf16", "bf16"), "f16": ("f16", "f32")}
WIRE_BYTES = {"f32": 4, "f16": 2, "bf16": 2}


def load():
    def part(prefix):
        x = _idx(os.path.join(FMNIST_DIR, prefix + "-images-idx3-ubyte.gz"))
        y = _idx(os.path.join(FMNIST_DIR, prefix + "-labels-idx1-ubyte.gz"))
        return x.reshape(len(x), -1).astype(np.float32) / 255.0, y.astype(np.int64)
    return part("train"), part("t10k")


def run(name, url, data, epochs, seed, batch=128, lr=1e-3):
    import torch
    from torch import nn
    from optirs.torch import RemoteOptimizer
    torch.set_num_threads(1)
    (xtr, ytr), (xte, yte) = data
    xtr_t, ytr_t = torch.from_numpy(xtr), torch.from_numpy(ytr)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    n = sum(p.numel() for p in model.parameters())
    wire = CONFIGS[name]
    if wire is None:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        opt = RemoteOptimizer(model, "adam", url, lr=lr, dtype=wire[0], answer_dtype=wire[1])
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    steps, t_step = 0, 0.0
    t0 = time.perf_counter()
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(xtr)))
        for i in range(0, len(xtr) - batch + 1, batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(xtr_t[idx]), ytr_t[idx])
            loss.backward()
            t1 = time.perf_counter()
            if wire is None:
                opt.step()
            else:
                opt.step(loss=loss)
            t_step += time.perf_counter() - t1
            steps += 1
    wall = time.perf_counter() - t0
    with torch.no_grad():
        train_loss = float(loss_fn(model(xtr_t), ytr_t))
        out = model(torch.from_numpy(xte))
        test_loss = float(loss_fn(out, torch.from_numpy(yte)))
        acc = float((out.argmax(1).numpy() == yte).mean())
    drift = None
    if wire is not None:
        # how far the local parameters are from the daemon's float32 copy
        remote = np.asarray(opt.session.params(), dtype=np.float32)
        local = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy()
        drift = float(np.abs(remote - local).max())
        opt.close(delete=True)
    return {"config": name, "wire": list(wire) if wire else None, "params": n, "steps": steps,
            "train_loss": train_loss, "test_loss": test_loss, "test_acc": acc,
            "request_bytes": n * WIRE_BYTES[wire[0]] if wire else 0,
            "answer_bytes": n * WIRE_BYTES[wire[1]] if wire else 0,
            "step_ms": 1e3 * t_step / steps, "wall_s": wall, "max_param_drift": drift}


def aggregate(runs):
    """One row per configuration: the mean over seeds of each figure and the
    range (min, max) of the losses and the accuracy."""
    out = []
    for name in dict.fromkeys(r["config"] for r in runs):
        rs = [r for r in runs if r["config"] == name]
        row = dict(rs[0])
        row["seeds"] = [r["seed"] for r in rs]
        for k in ("train_loss", "test_loss", "test_acc", "step_ms", "wall_s"):
            v = [r[k] for r in rs]
            row[k] = float(np.mean(v))
            row[k + "_range"] = [min(v), max(v)]
        d = [r["max_param_drift"] for r in rs if r["max_param_drift"] is not None]
        row["max_param_drift"] = max(d) if d else None
        out.append(row)
    return out


def markdown(rows, a):
    def fig(r, k, f):
        lo, hi = r[k + "_range"]
        return (f % r[k]) + ((" (" + f + "–" + f + ")") % (lo, hi) if len(r["seeds"]) > 1 else "")
    out = ["| transport (grads / update) | final train loss | final test loss | test accuracy | "
           "request + answer bytes per step | opt.step() ms | local − daemon params (max abs) |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        label = "in-process torch.optim.Adam" if r["wire"] is None else "%s / %s" % tuple(r["wire"])
        wire = "—" if r["wire"] is None else "%d + %d" % (r["request_bytes"], r["answer_bytes"])
        drift = "—" if r["max_param_drift"] is None else "%.3g" % r["max_param_drift"]
        out.append("| %s | %s | %s | %s | %s | %.2f | %s |" % (
            label, fig(r, "train_loss", "%.4f"), fig(r, "test_loss", "%.4f"), fig(r, "test_acc", "%.4f"),
            wire, r["step_ms"], drift))
    out.append("")
    out.append("Mean over seeds %s (min–max in brackets); %d steps each (%d epochs, batch 128), %d "
               "parameters; command: `/usr/bin/python3 bench/bf16_transport.py --epochs %d --seeds %d`"
               % (",".join(map(str, rows[0]["seeds"])), rows[0]["steps"], a.epochs, rows[0]["params"],
                  a.epochs, a.seeds))
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seeds", type=int, default=3, help="seeds 1..SEEDS, each config")
    p.add_argument("--configs", default="torch,f32,bf16,bf16+ans,f16")
    p.add_argument("--json")
    a = p.parse_args(argv)
    names = a.configs.split(",")
    for c in names:
        if c not in CONFIGS:
            p.error("unknown config %r (known: %s)" % (c, ", ".join(CONFIGS)))
    data = load()
    d = Daemon()
    runs = []
    try:
        for seed in range(1, a.seeds + 1):     # configurations interleaved within a seed
            for c in names:
                r = run(c, d.url, data, a.epochs, seed)
                r["seed"] = seed
                print("seed %d %-9s train %.4f test %.4f acc %.4f step %.2f ms wall %.0f s" % (
                    seed, c, r["train_loss"], r["test_loss"], r["test_acc"], r["step_ms"], r["wall_s"]),
                    flush=True)
                runs.append(r)
    finally:
        d.stop()
    rows = aggregate(runs)
    print()
    print(markdown(rows, a))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": runs, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
