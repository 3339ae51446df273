#!/usr/bin/python3
"""The PyTorch-side evaluation of a learned optimizer: real torch models trained
through optirs.torch.RemoteOptimizer against torch.optim.Adam at its best lr.

Models (each a seeded torch model on data Debian ships or a seeded generator makes;
the held-out split is never trained on):
  cnn          2 conv (3x3) + max-pool layers and a linear head, Fashion-MNIST 14x14
               (2x2-averaged), cross-entropy, batch 64
  transformer  causal char-level LM, 2 pre-LN blocks (d 32, 2 heads, MLP 64), context 32,
               on /usr/share/common-licenses/GPL-3 (last 10 % held out), batch 16
  autoencoder  MLP 196-64-16-64-196 (sigmoid output), Fashion-MNIST 14x14, MSE, batch 64
  gru          embedding 16 + GRU 32 + linear, length-12 sequences over 8 tokens, label =
               the most frequent of tokens 0-3 (seeded synthetic data), batch 32
  deep_mlp     ReLU MLP 196-64-64-64-64-10 (4 hidden layers), Fashion-MNIST 14x14, batch 64

Method. For every model and seed, every configuration starts from the same initial
weights (torch.manual_seed(seed)) and sees the same minibatches in the same order (a
numpy generator seeded by seed); each run hashes its initial weights and first 5
minibatches, and a run whose hash differs from the others' of its model and seed stops
the evaluation with an error.  The learned optimizer is the daemon's `--optimizer`
(default mlp_lopt) with its shipped default weights and default hyperparameters (or
`--weights NAME`, `--domain D`); Adam is torch.optim.Adam over a grid of learning rates
10^(k/3) (3 per decade, always holding 1e-3), widened one point at a time while a
best lr sits at an edge, up to [1e-5, 1]: a best lr still at an edge is flagged.
Horizons are prefixes of one run of the longest horizon: neither Adam at a constant lr
nor the learned optimizer (its time features read the step count only) knows the run's
length, so the first H steps of a 5000-step run are a run of H steps.
At each horizon H: train loss = mean minibatch loss over steps 0.9H+1..H; held-out loss =
the loss on the held-out split after step H.  Each figure is the mean over seeds.  Tuned
Adam is the lr with the lowest mean train loss (and, for the held-out column, the lr
with the lowest mean held-out loss), chosen per model and horizon.  A run whose loss
turns non-finite stops; its later figures are inf (for the learned optimizer it is
counted as a non-finite run).

Usage:
  /usr/bin/python3 bench/torch_eval.py [--steps 1000,5000] [--seeds 5] [--models a,b]
      [--optimizer mlp_lopt] [--weights NAME] [--domain D] [--url URL] [--jobs 2]
      [--json PATH] [--quick]
--quick: 200 steps, 1 seed, 3 lrs (1e-3, 2.2e-3, 4.6e-3), no widening unless --max-widen
is given: a smoke test.
Without --url it starts build/optirsd (or $OPTIRSD) on a free loopback port with a
temporary database, and stops it at the end.
"""
import argparse
import gzip
import hashlib
import json
import math
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPTIRSD = os.environ.get("OPTIRSD", os.path.join(ROOT, "build", "optirsd"))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))

FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
TEXT_FILE = "/usr/share/common-licenses/GPL-3"
K_MIN, K_MAX = -15, 0          # lr = 10^(k/3): the grid's limits, 1e-5 .. 1
K_ADAM_1E3 = -9                # 10^(-9/3) = 1e-3
GRID0 = [-9, -8, -7, -6, -5]   # 1e-3 .. 2.2e-2, widened as needed
GRID0_QUICK = [-9, -8, -7]


def lr_of(k):
    return 10.0 ** (k / 3.0)


# ---- data -----------------------------------------------------------------

def _idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    if raw[2] != 0x08:
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fmnist(n_heldout=2000):
    """Fashion-MNIST at 14x14 (2x2 means), float32 in [0, 1]: train (60000) and the first
    n_heldout test images as the held-out split."""
    def load(prefix, n=None):
        x = _idx(os.path.join(FMNIST_DIR, prefix + "-images-idx3-ubyte.gz"))[:n]
        y = _idx(os.path.join(FMNIST_DIR, prefix + "-labels-idx1-ubyte.gz"))[:n]
        x = x.astype(np.float32).reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)) / 255.0
        return x.reshape(-1, 1, 14, 14), y.astype(np.int64)
    xtr, ytr = load("train")
    xte, yte = load("t10k", n_heldout)
    return xtr, ytr, xte, yte


def text_tokens(path=TEXT_FILE):
    with open(path, "rb") as f:
        raw = f.read()
    vocab = sorted(set(raw))
    table = np.zeros(256, dtype=np.int64)
    table[vocab] = np.arange(len(vocab))
    toks = table[np.frombuffer(raw, dtype=np.uint8)]
    cut = int(len(toks) * 0.9)
    return toks[:cut], toks[cut:], len(vocab)


def gru_data(n_train=4096, n_heldout=1024, length=12, vocab=8, classes=4):
    r = np.random.default_rng(20261206)
    x = r.integers(0, vocab, size=(n_train + n_heldout, length))
    counts = np.stack([(x == c).sum(axis=1) for c in range(classes)], axis=1)
    y = counts.argmax(axis=1)         # ties: the lowest token
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


DATA = {}


def load_data(models):
    if {"cnn", "autoencoder", "deep_mlp"} & set(models):
        DATA["fmnist"] = fmnist()
    if "transformer" in models:
        DATA["text"] = text_tokens()
    if "gru" in models:
        DATA["gru"] = gru_data()


# ---- models ---------------------------------------------------------------

def build_modules():
    import torch
    from torch import nn
    import torch.nn.functional as F

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(1, 8, 3, padding=1)
            self.c2 = nn.Conv2d(8, 16, 3, padding=1)
            self.fc = nn.Linear(16 * 3 * 3, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.c1(x)), 2)      # 14 -> 7
            x = F.max_pool2d(F.relu(self.c2(x)), 2)      # 7 -> 3
            return self.fc(x.flatten(1))

    class Block(nn.Module):
        """Pre-LN block: causal multi-head self-attention, then a GELU MLP."""

        def __init__(self, d, heads, hidden):
            super().__init__()
            self.heads = heads
            self.ln1 = nn.LayerNorm(d)
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)
            self.ln2 = nn.LayerNorm(d)
            self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))

        def forward(self, x, mask):
            b, t, d = x.shape
            q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads) \
                .permute(2, 0, 3, 1, 4)                       # each (b, heads, t, d/heads)
            att = (q @ k.transpose(-1, -2)) * (d // self.heads) ** -0.5
            att = att.masked_fill(mask, float("-inf")).softmax(-1)
            x = x + self.proj((att @ v).transpose(1, 2).reshape(b, t, d))
            return x + self.mlp(self.ln2(x))

    class TinyLM(nn.Module):
        def __init__(self, vocab, ctx=32, d=32, heads=2, hidden=64, layers=2):
            super().__init__()
            self.tok = nn.Embedding(vocab, d)
            self.pos = nn.Embedding(ctx, d)
            self.blocks = nn.ModuleList([Block(d, heads, hidden) for _ in range(layers)])
            self.ln = nn.LayerNorm(d)
            self.head = nn.Linear(d, vocab)
            self.register_buffer("mask", torch.triu(torch.ones(ctx, ctx, dtype=torch.bool), 1))

        def forward(self, x):
            t = x.shape[1]
            h = self.tok(x) + self.pos(torch.arange(t))
            for b in self.blocks:
                h = b(h, self.mask[:t, :t])
            return self.head(self.ln(h))

    class AE(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(196, 64), nn.ReLU(), nn.Linear(64, 16),
                                     nn.ReLU(), nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 196),
                                     nn.Sigmoid())

        def forward(self, x):
            return self.net(x)

    class GRUClf(nn.Module):
        def __init__(self, vocab=8, emb=16, hidden=32, classes=4):
            super().__init__()
            self.emb = nn.Embedding(vocab, emb)
            self.gru = nn.GRU(emb, hidden, batch_first=True)
            self.fc = nn.Linear(hidden, classes)

        def forward(self, x):
            _, h = self.gru(self.emb(x))
            return self.fc(h[-1])

    def deep_mlp():
        layers, w = [nn.Flatten()], 196
        for _ in range(4):
            layers += [nn.Linear(w, 64), nn.ReLU()]
            w = 64
        return nn.Sequential(*layers, nn.Linear(w, 10))

    return {"cnn": CNN, "transformer": TinyLM, "autoencoder": AE, "gru": GRUClf,
            "deep_mlp": deep_mlp}


class Task:
    """One model on its data: make(seed) -> model; batch(rng) -> (x, y); loss(model, x, y);
    heldout(model) -> held-out loss."""

    def __init__(self, name):
        import torch
        import torch.nn.functional as F
        self.name = name
        self.torch = torch
        ctor = build_modules()[name]
        if name in ("cnn", "autoencoder", "deep_mlp"):
            xtr, ytr, xte, yte = DATA["fmnist"]
            self.xtr, self.xte = torch.from_numpy(xtr), torch.from_numpy(xte)
            self.ytr, self.yte = torch.from_numpy(ytr), torch.from_numpy(yte)
            self.bs = 64
            self.ctor = ctor
            if name == "autoencoder":
                self.lossf = lambda out, x, y: F.mse_loss(out, x.flatten(1))
            else:
                self.lossf = lambda out, x, y: F.cross_entropy(out, y)
        elif name == "gru":
            xtr, ytr, xte, yte = DATA["gru"]
            self.xtr, self.xte = torch.from_numpy(xtr), torch.from_numpy(xte)
            self.ytr, self.yte = torch.from_numpy(ytr), torch.from_numpy(yte)
            self.bs = 32
            self.ctor = ctor
            self.lossf = lambda out, x, y: F.cross_entropy(out, y)
        elif name == "transformer":
            tr, te, vocab = DATA["text"]
            self.ctx, self.bs = 32, 16
            self.tr = torch.from_numpy(tr)
            # held-out: non-overlapping windows of the held-out tail (at most 64)
            n = min(64, (len(te) - 1) // self.ctx)
            idx = np.arange(n) * self.ctx
            self.te_x = torch.from_numpy(np.stack([te[i:i + self.ctx] for i in idx]))
            self.te_y = torch.from_numpy(np.stack([te[i + 1:i + 1 + self.ctx] for i in idx]))
            self.ctor = lambda: ctor(vocab, ctx=self.ctx)
            self.lossf = lambda out, x, y: F.cross_entropy(out.reshape(-1, out.shape[-1]),
                                                           y.reshape(-1))
        else:
            raise ValueError("unknown model %r" % name)

    def make(self, seed):
        self.torch.manual_seed(seed)
        return self.ctor()

    def batch(self, rng):
        if self.name == "transformer":
            starts = rng.integers(0, len(self.tr) - self.ctx - 1, size=self.bs)
            x = self.torch.stack([self.tr[s:s + self.ctx] for s in starts])
            y = self.torch.stack([self.tr[s + 1:s + 1 + self.ctx] for s in starts])
            return x, y
        idx = self.torch.from_numpy(rng.integers(0, len(self.xtr), size=self.bs))
        return self.xtr[idx], self.ytr[idx]

    def loss(self, model, x, y):
        return self.lossf(model(x), x, y)

    def heldout(self, model):
        with self.torch.no_grad():
            model.eval()
            if self.name == "transformer":
                v = self.loss(model, self.te_x, self.te_y)
            else:
                v = self.loss(model, self.xte, self.yte)
            model.train()
        return float(v)


# ---- one run ----------------------------------------------------------------

_TASKS = {}
START_BATCHES = 5   # the minibatches the start fingerprint covers


def _feed(h, tensors):
    for v in tensors:
        h.update(v.detach().contiguous().numpy().tobytes())


def run(job):
    """job = (model, seed, config, horizons, opts); config = ("adam", k) or ("lo",).
    Returns (job key, {H: [train, heldout]}, non_finite, CPU seconds of this process, the
    start's fingerprint: a sha256 of the initial weights and the first START_BATCHES
    minibatches, which every configuration of a model and seed must share)."""
    name, seed, cfg, horizons, opts = job
    import torch
    torch.set_num_threads(1)
    task = _TASKS.get(name) or _TASKS.setdefault(name, Task(name))
    model = task.make(seed)
    start = hashlib.sha256()
    _feed(start, model.parameters())
    rng = np.random.default_rng(seed)
    t0 = time.process_time()
    if cfg[0] == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr_of(cfg[1]))
    else:
        from optirs.client import OptirsError
        from optirs.torch import RemoteOptimizer
        kw = {}
        if opts.get("weights"):
            kw["weights"] = opts["weights"]
        if opts.get("domain"):
            kw["domain"] = opts["domain"]
        opt = RemoteOptimizer(model.parameters(), optimizer=opts["optimizer"], url=opts["url"], **kw)
    steps = max(horizons)
    losses = np.full(steps, np.inf)
    out = {}
    non_finite = False
    try:
        for t in range(steps):
            x, y = task.batch(rng)
            if t < START_BATCHES:
                _feed(start, (x, y))
            opt.zero_grad()
            loss = task.loss(model, x, y)
            lv = float(loss)
            if not math.isfinite(lv):
                non_finite = True
                break
            loss.backward()
            if cfg[0] == "adam":
                opt.step()
            else:
                try:
                    opt.step(loss=lv)
                except OptirsError as e:   # a non-finite gradient or update: the run ends
                    if e.code not in ("non_finite", "non_finite_update"):
                        raise
                    non_finite = True
                    break
            losses[t] = lv
            if t + 1 in horizons:
                h = t + 1
                tail = max(1, h // 10)
                ho = task.heldout(model)
                if not math.isfinite(ho):
                    non_finite = True
                    break
                out[h] = [float(np.mean(losses[h - tail:h])), ho]
    finally:
        if cfg[0] == "lo":
            try:
                opt.session.delete()
            except Exception:
                pass
    for h in horizons:
        out.setdefault(h, [math.inf, math.inf])
    return (name, seed, cfg), out, non_finite, time.process_time() - t0, start.hexdigest()


def run_job(job):
    """run(job) with any failure turned into a RuntimeError naming the run (it crosses the
    process pool's pickling, which the client's exception type does not survive)."""
    try:
        return run(job)
    except Exception as e:
        raise RuntimeError("%s seed %d %s: %s: %s" % (job[0], job[1], cfg_label(job[2]),
                                                     type(e).__name__, e)) from None


# ---- daemon -----------------------------------------------------------------

class Daemon:
    """build/optirsd on a free loopback port with a temporary database."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="optirs-torch-eval-")
        self.log = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.proc = subprocess.Popen(
            [OPTIRSD, "--listen", "127.0.0.1:0", "--db", os.path.join(self.dir, "optirs.db"),
             "--threads", "2"], stdout=subprocess.PIPE, stderr=self.log)
        first = self.proc.stdout.readline().decode()
        if not first.startswith("listening on http://127.0.0.1:"):
            self.stop()
            raise RuntimeError("optirsd did not start: %r" % first)
        self.url = first.strip().split(" ", 2)[2]
        deadline = time.time() + 20
        while True:
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                self.stop()
                raise RuntimeError("optirsd did not become ready")
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- the evaluation ------------------------------------------------------------

def mean_over_seeds(res, name, cfg, seeds, h, col):
    vals = [res[(name, s, cfg)][h][col] for s in seeds]
    return float(np.mean(vals)) if all(math.isfinite(v) for v in vals) else math.inf


def best_k(res, name, grid, seeds, h, col):
    return min(grid, key=lambda k: (mean_over_seeds(res, name, ("adam", k), seeds, h, col), k))


def evaluate(a, url):
    horizons = sorted(a.steps)
    seeds = list(range(a.seeds))
    opts = {"optimizer": a.optimizer, "weights": a.weights, "domain": a.domain, "url": url}
    grids = {m: sorted(set(GRID0_QUICK if a.quick else GRID0) | {K_ADAM_1E3}) for m in a.models}
    res, nonfin, secs, starts = {}, {}, {}, {}
    todo = [(m, s, ("lo",)) for m in a.models for s in seeds]
    todo += [(m, s, ("adam", k)) for m in a.models for k in grids[m] for s in seeds]
    ctx = mp.get_context("fork")
    pool = ctx.Pool(a.jobs) if a.jobs > 1 else None
    t0 = time.time()
    widen_round = 0
    try:
        while todo:
            todo.sort(key=lambda j: -COST[j[0]])   # the longest runs first: less idle tail
            jobs = [(m, s, c, horizons, opts) for m, s, c in todo]
            it = pool.imap_unordered(run_job, jobs) if pool else map(run_job, jobs)
            for key, out, nf, dt, fp in it:
                if starts.setdefault(key[:2], fp) != fp:
                    raise RuntimeError("%s seed %d: %s did not start from the same weights and minibatches "
                                       "as the other runs" % (key[0], key[1], cfg_label(key[2])))
                res[key], nonfin[key] = out, nf
                secs[key[0]] = secs.get(key[0], 0.0) + dt
                if a.verbose:
                    print("  %-12s seed %d %-14s %s  (%.1f s CPU; %.0f s wall so far)"
                          % (key[0], key[1], cfg_label(key[2]),
                             " ".join("%.4g/%.4g" % tuple(out[h]) for h in horizons), dt,
                             time.time() - t0), file=sys.stderr)
            todo = []
            if widen_round >= a.max_widen:
                break
            widen_round += 1
            for m in a.models:
                g = grids[m]
                add = set()
                for h in horizons:
                    for col in (0, 1):
                        b = best_k(res, m, g, seeds, h, col)
                        if b == g[0] and g[0] > K_MIN:
                            add.add(g[0] - 1)
                        if b == g[-1] and g[-1] < K_MAX:
                            add.add(g[-1] + 1)
                grids[m] = sorted(set(g) | add)
                todo += [(m, s, ("adam", k)) for k in sorted(add) for s in seeds]
    finally:
        if pool:             # after a failure: no point finishing the queued runs
            pool.terminate()
            pool.join()
    return summarize(a, res, nonfin, grids, horizons, seeds, secs, time.time() - t0)


def cfg_label(cfg):
    return "LO" if cfg[0] == "lo" else "adam@%.2g" % lr_of(cfg[1])


def summarize(a, res, nonfin, grids, horizons, seeds, secs, wall):
    rows = []
    for m in a.models:
        g = grids[m]
        for h in horizons:
            row = {"model": m, "horizon": h, "grid": [lr_of(k) for k in g],
                   "adam_by_lr": [[lr_of(k)] + [mean_over_seeds(res, m, ("adam", k), seeds, h, c)
                                                for c in (0, 1)] for k in g]}
            for col, tag in ((0, "train"), (1, "heldout")):
                lo = mean_over_seeds(res, m, ("lo",), seeds, h, col)
                b = best_k(res, m, g, seeds, h, col)
                tuned = mean_over_seeds(res, m, ("adam", b), seeds, h, col)
                a13 = mean_over_seeds(res, m, ("adam", K_ADAM_1E3), seeds, h, col)
                row[tag] = {
                    "lo": lo, "adam_tuned": tuned, "best_lr": lr_of(b),
                    "best_lr_at_edge": b in (g[0], g[-1]), "adam_1e-3": a13,
                    "ratio_tuned": lo / tuned if math.isfinite(lo) and tuned > 0 else math.inf,
                    "ratio_1e-3": lo / a13 if math.isfinite(lo) and a13 > 0 else math.inf,
                    "beats_tuned": lo < tuned, "beats_1e-3": lo < a13,
                }
            row["lo_non_finite_runs"] = sum(bool(nonfin[(m, s, ("lo",))]) for s in seeds)
            rows.append(row)
    summary = {}
    for tag in ("train", "heldout"):
        r = [row[tag]["ratio_tuned"] for row in rows]
        summary[tag] = {
            "entries": len(rows),
            "beats_tuned": sum(row[tag]["beats_tuned"] for row in rows),
            "beats_1e-3": sum(row[tag]["beats_1e-3"] for row in rows),
            "median_ratio_tuned": float(np.median(r)),
            "worst_ratio_tuned": float(max(r)),
            "best_lr_at_edge": sum(row[tag]["best_lr_at_edge"] for row in rows),
        }
    summary["lo_non_finite_runs"] = sum(bool(v) for k, v in nonfin.items() if k[2] == ("lo",))
    summary["lo_runs"] = sum(1 for k in nonfin if k[2] == ("lo",))
    # every run reached here started as the others of its model and seed (evaluate checks it)
    summary["runs_with_the_same_start"] = len(nonfin)
    return {"command": command_line(a), "optimizer": a.optimizer, "weights": a.weights,
            "domain": a.domain, "horizons": horizons, "seeds": len(seeds), "rows": rows,
            "summary": summary, "seconds": {"wall": wall, "cpu_per_model": secs,
                                                   "runs_per_model": {
                m: sum(1 for k in res if k[0] == m) for m in a.models}}}


def command_line(a):
    c = "/usr/bin/python3 bench/torch_eval.py"
    if a.quick:
        c += " --quick"
    else:
        c += " --steps %s --seeds %d" % (",".join(map(str, a.steps)), a.seeds)
    if a.models != ALL_MODELS:
        c += " --models " + ",".join(a.models)
    if a.max_widen != (0 if a.quick else K_MAX - K_MIN):
        c += " --max-widen %d" % a.max_widen
    if a.optimizer != "mlp_lopt":
        c += " --optimizer " + a.optimizer
    if a.weights:
        c += " --weights " + a.weights
    if a.domain:
        c += " --domain " + a.domain
    return c


def finite_or_none(v):
    """JSON has no inf: a non-finite figure is written as null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): finite_or_none(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [finite_or_none(x) for x in v]
    return v


def fmt(v):
    return "%.4g" % v if math.isfinite(v) else "non-finite"


def markdown(r):
    lines = ["| model | H | LO train | tuned Adam train (lr) | Adam@1e-3 train | LO/tuned train "
             "| LO held-out | tuned Adam held-out (lr) | Adam@1e-3 held-out | LO/tuned held-out "
             "| LO non-finite |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        cells = [row["model"], str(row["horizon"])]
        for tag in ("train", "heldout"):
            c = row[tag]
            edge = " edge" if c["best_lr_at_edge"] else ""
            cells += [fmt(c["lo"]), "%s (%.2g%s)" % (fmt(c["adam_tuned"]), c["best_lr"], edge),
                      fmt(c["adam_1e-3"]),
                      ("**%.3f**" if c["beats_tuned"] else "%.3f") % c["ratio_tuned"]]
        cells.append("%d of %d" % (row["lo_non_finite_runs"], r["seeds"]))
        lines.append("| " + " | ".join(cells) + " |")
    s = r["summary"]
    lines.append("")
    for tag, label in (("train", "train loss"), ("heldout", "held-out loss")):
        t = s[tag]
        lines.append("%s: beats tuned Adam on %d of %d, beats Adam@1e-3 on %d of %d, LO/tuned "
                     "median %.3f, worst %.3f; best lr at a grid edge: %d"
                     % (label, t["beats_tuned"], t["entries"], t["beats_1e-3"], t["entries"],
                        t["median_ratio_tuned"], t["worst_ratio_tuned"], t["best_lr_at_edge"]))
    lines.append("non-finite LO runs: %d of %d" % (s["lo_non_finite_runs"], s["lo_runs"]))
    lines.append("")
    lines.append("%s (%s weights%s), %d seed(s); losses are means over seeds; wall %.0f s. "
                 "Command: `%s`" % (r["optimizer"], r["weights"] or "default",
                                    ", domain " + r["domain"] if r["domain"] else "", r["seeds"],
                                    r["seconds"]["wall"], r["command"]))
    return "\n".join(lines)


ALL_MODELS = ["cnn", "transformer", "autoencoder", "gru", "deep_mlp"]
COST = {"transformer": 4, "gru": 3, "cnn": 2, "deep_mlp": 1, "autoencoder": 0}   # rough order


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", default="1000,5000", help="horizons, comma-separated")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--models", default=",".join(ALL_MODELS))
    ap.add_argument("--optimizer", default="mlp_lopt")
    ap.add_argument("--weights", help="a weights record name (default: the optimizer's default)")
    ap.add_argument("--domain", help="a domain (sent only when given)")
    ap.add_argument("--url", help="an optirsd to use instead of starting one")
    ap.add_argument("--jobs", type=int, default=2, help="runs in parallel (processes)")
    ap.add_argument("--max-widen", type=int, help="widening rounds of Adam's grid "
                    "(default 15, enough to reach both limits; 0 with --quick)")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--quick", action="store_true", help="200 steps, 1 seed, 3 lrs, no widening "
                    "(unless --max-widen)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each run on stderr")
    a = ap.parse_args(argv)
    if a.quick:
        a.steps, a.seeds = "200", 1
    if a.max_widen is None:
        a.max_widen = 0 if a.quick else K_MAX - K_MIN
    try:
        a.steps = sorted({int(s) for s in a.steps.split(",")})
    except ValueError:
        ap.error("--steps: comma-separated integers")
    if not a.steps or a.steps[0] < 10:
        ap.error("--steps: every horizon must be >= 10")
    asked = a.models.split(",")
    unknown = [m for m in asked if m not in ALL_MODELS]
    if unknown:
        ap.error("--models: unknown %s (known: %s)" % (",".join(unknown), ",".join(ALL_MODELS)))
    a.models = [m for m in ALL_MODELS if m in asked]
    if a.domain:
        import inspect
        import optirs.torch
        if "domain" not in getattr(optirs.torch, "_SESSION_KEYS", ()) and "domain" not in \
                inspect.signature(optirs.torch.RemoteOptimizer.__init__).parameters:
            ap.error("--domain: this client's RemoteOptimizer has no domain= option yet")
    if a.seeds < 1 or a.jobs < 1 or a.max_widen < 0:
        ap.error("--seeds and --jobs must be >= 1, --max-widen >= 0")
    return a


def main(argv=None):
    a = parse(argv)
    load_data(a.models)
    d = None
    url = a.url
    if not url:
        d = Daemon()
        url = d.url
    try:
        r = evaluate(a, url)
    except RuntimeError as e:
        print("torch_eval: %s" % e, file=sys.stderr)
        return 1
    finally:
        if d:
            d.stop()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(finite_or_none(r), f, indent=1, allow_nan=False)
    print(markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
