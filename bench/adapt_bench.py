#!/usr/bin/python3
"""Online adaptation, measured: each adaptive session against its
non-adaptive twin, through the HTTP API of a real optirsd, at equal step
counts.  Two suites (--suite hd|learner|all, default all):
  hd       hypergradient lr adaptation (adapt: {lr: hypergradient}) of
           classic optimizers, described below;
  learner  the online learner of learned optimizers (adapt: {learner: pes})
           on mlp_lopt with its shipped weights, and — when the daemon serves
           it — `hybrid` against its twins Adam (lr 1e-3) and mlp_lopt.

Starts its own daemon (build/optirsd --listen 127.0.0.1:0 --db TMP), then for
every task x seed x configuration creates a session with the same initial
parameters and drives it step by step: the task computes loss and gradient
at the current parameters, POSTs them as step k (binary float32 gradients,
the loss in X-Optirs-Loss), and adds the answered update.  In half of the
runs (alternating by run index, the same for an adaptive session and its
twin) the same loss is also POSTed to /v1/sessions/{id}/feedback for step k,
to exercise that path (hypergradient descent itself reads only gradients).

Configurations: Adam lr 1e-3 plain, + hypergradient (global), + hypergradient
(per tensor); SGD lr 1e-3 plain, + hypergradient (global).  beta = 1e-4.
Tasks (numpy only):
  quad   50-dim ill-conditioned quadratic 0.5 (x-x*)' A (x-x*), eigenvalues
         log-spaced in [0.01, 100] (condition 1e4) in a random rotation,
         exact gradients; two tensors of 25 (so per-tensor has two rates)
  logreg logistic regression, 4000 synthetic samples x 30 features
         (correlated, 5 % label noise), minibatch 128, tensors w[30], b[1]
  mlp    softmax MLP 64-32-10 (tanh) on Fashion-MNIST 8x8 (first 12000
         training images, 2-px border cropped, 3x3 average-pooled),
         minibatch 128
Reported: final loss = mean of the sent losses over the last 10 % of steps,
mean over seeds; ratio = adaptive / its plain twin (< 1: adaptation helps);
final lr = the session's `lr` of its last step (GET .../metrics; per tensor:
the size-weighted mean rate), mean over seeds.

Learner suite: tasks quad (as above: x0 ~ N(0, I) is ~7 away from x*, so
mlp_lopt's meta-trained steps of ~1e-3 are far too small), quad_near (the
same quadratic started 1e-3 away from x*: there they are too large, and
the LO hovers at its step size), logreg and mlp (as above).  In the feedback
half of the runs the loss goes ONLY to /feedback after the step (not in the
step request), so the learner learns from feedback alone there; in the other
half only in the step request.  `mult` = the session's learned mean step
scale (summary last_extras.lr_mult) at the end, mean over seeds.

Seeds: the runs use task seeds seed0 .. seed0+S-1 (--seed0, default 0); the
learner's defaults were tuned with --seed0 100, not on the reported seeds.

Usage: /usr/bin/python3 bench/adapt_bench.py [--steps N] [--seeds S] [--seed0 K]
       [--suite hd|learner|all] [--learner JSON] [--out FILE]
"""
import argparse
import gzip
import http.client
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPTIRSD = os.environ.get("OPTIRSD", os.path.join(ROOT, "build", "optirsd"))
FMNIST = "/usr/share/datasets/fashion-mnist"
BETA = 1e-4


# ---- daemon ---------------------------------------------------------------

class Daemon:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="optirs-adapt-bench-")
        self.log = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.proc = subprocess.Popen(
            [OPTIRSD, "--listen", "127.0.0.1:0", "--db", os.path.join(self.dir, "optirs.db"),
             "--threads", "2"], stdout=subprocess.PIPE, stderr=self.log)
        first = self.proc.stdout.readline().decode()
        if not first.startswith("listening on http://127.0.0.1:"):
            raise RuntimeError("optirsd did not start: %r" % first)
        self.port = int(first.strip().rsplit(":", 1)[1])
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        deadline = time.time() + 20
        while True:
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            if time.time() > deadline:
                raise RuntimeError("optirsd did not become ready")
            time.sleep(0.02)

    def request(self, method, path, body=None, headers=None):
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        self.conn.request(method, path, body=body, headers=hdrs)
        r = self.conn.getresponse()
        data = r.read()
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        return r.status, data

    def json(self, method, path, body=None, ok=(200, 201)):
        st, data = self.request(method, path, body)
        if st not in ok:
            raise RuntimeError("%s %s -> %d %s" % (method, path, st, data[:300]))
        return json.loads(data) if data else None

    def stop(self):
        self.conn.close()
        self.proc.terminate()
        rc = self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc


# ---- tasks ----------------------------------------------------------------

class Quad:
    name = "quad"
    shapes = [[25], [25]]

    def __init__(self, seed):
        r = np.random.default_rng(1000 + seed)
        q, _ = np.linalg.qr(r.standard_normal((50, 50)))
        self.A = (q * np.logspace(-2, 2, 50)) @ q.T
        self.xs = r.standard_normal(50)
        self.x0 = r.standard_normal(50)

    def init(self):
        return self.x0.copy()

    def loss_grad(self, x, k):
        d = x - self.xs
        g = self.A @ d
        return 0.5 * float(d @ g), g


class QuadNear(Quad):
    """The quadratic of Quad started 1e-3 * N(0, I) away from its minimum."""
    name = "quad_near"

    def __init__(self, seed):
        super().__init__(seed)
        r = np.random.default_rng(1500 + seed)
        self.x0 = self.xs + 1e-3 * r.standard_normal(50)


class LogReg:
    name = "logreg"
    shapes = [[30], [1]]

    def __init__(self, seed):
        r = np.random.default_rng(2000 + seed)
        n, d = 4000, 30
        c = r.standard_normal((d, d)) / np.sqrt(d)
        self.X = r.standard_normal((n, d)) @ (np.eye(d) + 2.0 * c)
        w = r.standard_normal(d)
        y = (self.X @ w + 0.5 > 0).astype(float)
        flip = r.random(n) < 0.05
        self.y = np.where(flip, 1.0 - y, y)
        self.r = r
        self.x0 = np.concatenate([0.1 * r.standard_normal(d), [0.0]])

    def init(self):
        return self.x0.copy()

    def loss_grad(self, p, k):
        i = self.r.integers(0, len(self.y), 128)
        X, y = self.X[i], self.y[i]
        z = X @ p[:30] + p[30]
        loss = float(np.mean(np.logaddexp(0.0, z) - y * z))
        e = (1.0 / (1.0 + np.exp(-z)) - y) / len(y)
        return loss, np.concatenate([X.T @ e, [e.sum()]])


def _idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">%dI" % ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


_FM = None


def fashion8x8(n=12000):
    global _FM
    if _FM is None:
        img = _idx(os.path.join(FMNIST, "train-images-idx3-ubyte.gz"))[:n].astype(np.float64) / 255.0
        lab = _idx(os.path.join(FMNIST, "train-labels-idx1-ubyte.gz"))[:n].astype(np.int64)
        img = img[:, 2:26, 2:26].reshape(n, 8, 3, 8, 3).mean(axis=(2, 4)).reshape(n, 64)
        img = (img - img.mean(axis=0)) / (img.std(axis=0) + 1e-6)
        _FM = (img, lab)
    return _FM


class MLP:
    name = "mlp"
    shapes = [[64, 32], [32], [32, 10], [10]]

    def __init__(self, seed):
        self.X, self.y = fashion8x8()
        r = np.random.default_rng(3000 + seed)
        self.r = r
        w1 = r.standard_normal((64, 32)) / np.sqrt(64)
        w2 = r.standard_normal((32, 10)) / np.sqrt(32)
        self.x0 = np.concatenate([w1.ravel(), np.zeros(32), w2.ravel(), np.zeros(10)])

    def init(self):
        return self.x0.copy()

    def loss_grad(self, p, k):
        i = self.r.integers(0, len(self.y), 128)
        X, y = self.X[i], self.y[i]
        w1 = p[:2048].reshape(64, 32)
        b1 = p[2048:2080]
        w2 = p[2080:2400].reshape(32, 10)
        b2 = p[2400:2410]
        h = np.tanh(X @ w1 + b1)
        z = h @ w2 + b2
        z = z - z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1))
        loss = float(np.mean(lse - z[np.arange(len(y)), y]))
        dz = np.exp(z - lse[:, None])
        dz[np.arange(len(y)), y] -= 1.0
        dz /= len(y)
        dw2 = h.T @ dz
        db2 = dz.sum(axis=0)
        dh = (dz @ w2.T) * (1.0 - h * h)
        dw1 = X.T @ dh
        db1 = dh.sum(axis=0)
        return loss, np.concatenate([dw1.ravel(), db1, dw2.ravel(), db2])


TASKS = {"hd": [Quad, LogReg, MLP], "learner": [Quad, QuadNear, LogReg, MLP]}

# The online learner's settings in this benchmark: the daemon's defaults
# (tuned with --seed0 100: rate 0.03, memory 64, sigma 0.1, window 8, one
# control for all tensors), spelled out; "/tensor" rows: one per tensor.
LEARNER = {"learner": "pes", "rate": 0.03, "memory": 64, "sigma": 0.1, "window": 8, "per_tensor": False}

# (label, optimizer, adapt or None, the labels of its plain twins)
CONFIGS = {
    "hd": [
        ("adam", "adam", None, ()),
        ("adam+hd", "adam", {"lr": "hypergradient", "beta": BETA, "per_tensor": False}, ("adam",)),
        ("adam+hd/tensor", "adam", {"lr": "hypergradient", "beta": BETA, "per_tensor": True}, ("adam",)),
        ("sgd", "sgd", None, ()),
        ("sgd+hd", "sgd", {"lr": "hypergradient", "beta": BETA, "per_tensor": False}, ("sgd",)),
    ],
    "learner": [
        ("adam", "adam", None, ()),
        ("mlp_lopt", "mlp_lopt", None, ()),
        ("mlp_lopt+pes", "mlp_lopt", "LEARNER", ("mlp_lopt",)),
        ("mlp_lopt+pes/tensor", "mlp_lopt", "LEARNERT", ("mlp_lopt",)),
        ("hybrid", "hybrid", None, ("adam", "mlp_lopt")),
        ("hybrid+pes", "hybrid", "LEARNER", ("hybrid",)),
    ],
}


# ---- one run --------------------------------------------------------------

def run(d, task_cls, seed, opt, adapt, steps, feedback, loss_in_step=True):
    task = task_cls(seed)          # same seed: same data, init and minibatch order
    p = task.init()
    spec = {"optimizer": opt, "hyperparams": {"lr": 1e-3},   # learned: 1e-3 is lr's default (no rescaling)
            "tensors": [{"name": "t%d" % i, "shape": s} for i, s in enumerate(task.shapes)],
            "params": [float(v) for v in p.astype(np.float32)]}
    if adapt:
        spec["adapt"] = adapt
    sid = d.json("POST", "/v1/sessions", spec)["id"]
    p = p.astype(np.float32).astype(np.float64)   # the daemon holds float32
    losses = []
    diverged = None
    for k in range(1, steps + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            loss, g = task.loss_grad(p, k)
            g32 = g.astype("<f4")
        if not (np.isfinite(loss) and np.all(np.isfinite(g32))):
            diverged = k          # the daemon would (rightly) refuse it: stop here
            break
        hdrs = {"Content-Type": "application/octet-stream", "Accept": "application/octet-stream",
                "X-Optirs-Step": str(k)}
        if loss_in_step:
            hdrs["X-Optirs-Loss"] = repr(loss)
        st, data = d.request("POST", "/v1/sessions/%s/step" % sid, g32.tobytes(), hdrs)
        if st != 200:
            raise RuntimeError("step %d of %s -> %d %s" % (k, sid, st, data[:300]))
        p = p + np.frombuffer(data, dtype="<f4")
        if feedback:
            fb = d.json("POST", "/v1/sessions/%s/feedback" % sid, {"step": k, "loss": loss}, ok=(200,))
            if fb.get("stored") is not True or fb.get("step") != k:
                raise RuntimeError("feedback for step %d not stored: %r" % (k, fb))
        losses.append(loss)
    last = len(losses)
    m = d.json("GET", "/v1/sessions/%s/metrics?limit=1&after=%d" % (sid, last - 1))
    rows = m.get("metrics") or []
    if not rows or rows[-1].get("step") != last:
        raise RuntimeError("metrics of %s lack step %d: %r" % (sid, last, m))
    final_lr = float(rows[-1]["lr"])
    summ = d.json("GET", "/v1/sessions/%s/summary" % sid)
    mult = (summ.get("last_extras") or {}).get("lr_mult")
    mult = float(mult) if mult is not None else float("nan")
    d.request("DELETE", "/v1/sessions/%s" % sid)
    if diverged:
        return float("inf"), final_lr, diverged, mult
    tail = max(1, steps // 10)
    return float(np.mean(losses[-tail:])), final_lr, None, mult


# ---- main -----------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed0", type=int, default=0, help="first task seed (tune on other seeds than reported)")
    ap.add_argument("--suite", choices=["hd", "learner", "all"], default="all")
    ap.add_argument("--learner", help="JSON replacing the learner's adapt object (for tuning)")
    ap.add_argument("--only", help="comma-separated config labels to run (their twins are added)")
    ap.add_argument("--tasks", help="comma-separated task names to run")
    ap.add_argument("--out", help="also write the table (with the command) to this markdown file")
    a = ap.parse_args()
    learner = json.loads(a.learner) if a.learner else dict(LEARNER)
    adapts = {"LEARNER": learner, "LEARNERT": dict(learner, per_tensor=True)}
    t0 = time.time()
    d = Daemon()
    have = {o["name"] for o in d.json("GET", "/v1/optimizers")["optimizers"]}
    suites = ["hd", "learner"] if a.suite == "all" else [a.suite]
    plan = []          # (suite, task class, configs)
    for su in suites:
        cfgs = [c for c in CONFIGS[su] if c[1] in have]
        if a.only:
            want = set(a.only.split(","))
            for c in list(cfgs):
                if c[0] in want:
                    want |= set(c[3])
            cfgs = [c for c in cfgs if c[0] in want]
        for tc in TASKS[su]:
            if a.tasks and tc.name not in a.tasks.split(","):
                continue
            plan.append((su, tc, cfgs))
    res = {}          # (suite, task, label) -> list of (final loss, final lr, diverged, mult)
    nfb = nruns = 0
    try:
        for ti, (su, tc, cfgs) in enumerate(plan):
            for si in range(a.seeds):
                seed = a.seed0 + si
                # feedback in half the (task, seed) groups, the whole group
                # (an adaptive session and its twins) alike
                fb = (ti * a.seeds + si) % 2 == 0
                for label, opt, adapt, _ in cfgs:
                    ad = adapts.get(adapt, adapt) if isinstance(adapt, str) else adapt
                    t1 = time.time()
                    # hd: the loss always goes with the step (and also to
                    # /feedback in feedback groups); learner: one or the other
                    lis = su == "hd" or not fb
                    fl, lr, dv, mult = run(d, tc, seed, opt, ad, a.steps, fb, loss_in_step=lis)
                    res.setdefault((su, tc.name, label), []).append((fl, lr, dv, mult))
                    nruns += 1
                    nfb += fb
                    print("  %-7s %-9s seed %d %-19s loss %.5g lr %.3g mult %.3g%s%s  (%.1fs)" % (
                        su, tc.name, seed, label, fl, lr, mult, " +feedback" if fb else "",
                        " DIVERGED at step %d" % dv if dv else "", time.time() - t1),
                        file=sys.stderr, flush=True)
    finally:
        rc = d.stop()
    wall = time.time() - t0

    lines, losers = [], []
    hdr = "%-9s %-19s %12s %-9s %8s %10s %7s %11s  %s" % ("task", "config", "final loss", "twin", "vs twin",
                                                          "final lr", "mult", "wins/seeds", "note")
    prev = None
    for su, tc, cfgs in plan:
        if su != prev:
            prev = su
            lines.append("[%s]" % su)
            lines.append(hdr)
            lines.append("-" * (len(hdr) + 24))
        for label, _, _, twins in cfgs:
            v = res[(su, tc.name, label)]
            fl = float(np.mean([x[0] for x in v]))
            lr = float(np.mean([x[1] for x in v]))
            mu = float(np.mean([x[3] for x in v]))
            dv = [x[2] for x in v if x[2]]
            dnote = ""
            if dv:
                dnote = "DIVERGED in %d/%d seeds (step %s); lr = at last step taken" % (
                    len(dv), len(v), ",".join(map(str, dv)))
            fs = "%12.5g" % fl if np.isfinite(fl) else "%12s" % "diverged"
            ms = "%7.3g" % mu if np.isfinite(mu) else "%7s" % "-"
            if not twins:
                lines.append("%-9s %-19s %s %-9s %8s %10.3g %s %11s  %s" % (
                    tc.name, label, fs, "", "(twin)", lr, ms, "", dnote))
            for tw in twins:
                tv = res[(su, tc.name, tw)]
                base = float(np.mean([x[0] for x in tv]))
                ratio = fl / base if np.isfinite(fl) else float("inf")
                wins = sum(x[0] < y[0] for x, y in zip(v, tv))
                rs = "%.3g" % ratio if np.isfinite(ratio) else "inf"
                ws = "%d/%d" % (wins, len(v))
                note = dnote or ("helps" if ratio < 0.99 else "LOSES" if ratio > 1.01 else "tie (within 1%)")
                lines.append("%-9s %-19s %s %-9s %8s %10.3g %s %11s  %s" % (
                    tc.name, label, fs, tw, rs, lr, ms, ws, note))
                if dv or ratio > 1.01 or wins < len(v):
                    losers.append("- %s / %s vs %s: %s (ratio %s, better in %s seeds)" % (
                        tc.name, label, tw, note, rs, ws))
        lines.append("")
    table = "\n".join(lines).rstrip()
    foot = ("%d steps per run, seeds %d..%d, %d runs (%d in feedback groups); hd beta %g; learner %s; "
            "ratio = adaptive/twin final loss (mean of last 10%% of steps, mean over seeds); "
            "'k/n' = seeds where the adaptive run ended lower; daemon exit %d; wall %.0f s" % (
                a.steps, a.seed0, a.seed0 + a.seeds - 1, nruns, nfb, BETA, json.dumps(learner), rc, wall))
    print(table)
    print(foot)
    if a.out:
        cmd = "/usr/bin/python3 bench/adapt_bench.py" + "".join(
            " " + x for x in sys.argv[1:])
        with open(a.out, "w") as f:
            f.write("# Online adaptation vs non-adaptive twins (issue 6 §1)\n\n")
            f.write("Command (from /work/main):\n\n    %s\n\n" % cmd)
            f.write("```\n%s\n```\n\n%s\n\n" % (table, foot))
            f.write("Where adaptation loses (generated from this run):\n\n%s\n\n" % (
                "\n".join(losers) if losers else "- nowhere in this run"))
            f.write("Hypergradient descent reads only gradients (h_t = g_t . u_(t-1) / "
                    "alpha_(t-1)); the losses sent with the steps and as /feedback are stored "
                    "and shown in the metrics but do not steer it.  The online learner (pes) "
                    "reads only losses.\n")
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
