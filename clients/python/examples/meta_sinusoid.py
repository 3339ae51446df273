#!/usr/bin/env python3
"""Meta-learns the sinusoid family of Finn et al. 2017 (§5.1) from Python with
torch, through an optirsd meta-session (docs/meta-learning.md,
"Meta-sessions"): Reptile over a 1-40-40-1 ReLU network, the inner loop (SGD
on each task's support points) run here, the outer Adam step in the daemon.

Task: y = A sin(x − φ), A ~ U[0.1, 5], φ ~ U[0, π], x ~ U[−5, 5]; loss MSE.
Each round: GET the init, adapt a copy on each of K fresh tasks (inner_steps
plain gradient steps at inner_lr on `shots` support points), POST the adapted
parameters; the K-th contribution applies the outer step.  The settings
default to the in-daemon Reptile's (`optirsd maml --method reptile`):
5 shots, 5 inner steps, α 0.01, outer Adam at 1e-3; the "seeded" init with
the same seed is the in-daemon job's initial θ, bit for bit.

    python3 meta_sinusoid.py --url http://127.0.0.1:8080 --rounds 1000 --meta-batch 25

prints the evaluation of the meta-learned init: 5-shot query MSE after 1, 5
and 10 inner steps on --eval-tasks tasks (mean ± 95% half-width).  Needs
torch and numpy.  `evaluate` and `sine_tasks` are imported by
tests/integration/test_meta_sessions.py, which compares with the in-daemon
Reptile.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import optirs  # noqa: E402

SIZES = (1, 40, 40, 1)


def layout(sizes=SIZES):
    """The tensors of the network, in fsnet's order: weights [in, out]."""
    t = []
    for l in range(len(sizes) - 1):
        t.append({"name": "l%d.weight" % (l + 1), "shape": [sizes[l], sizes[l + 1]]})
        t.append({"name": "l%d.bias" % (l + 1), "shape": [sizes[l + 1]]})
    return t


def unflatten(flat, sizes=SIZES):
    """Flat θ (a torch vector) into [W1, b1, W2, b2, …] views."""
    out, off = [], 0
    for l in range(len(sizes) - 1):
        n = sizes[l] * sizes[l + 1]
        out.append(flat[off:off + n].view(sizes[l], sizes[l + 1]))
        off += n
        out.append(flat[off:off + sizes[l + 1]])
        off += sizes[l + 1]
    return out


def forward(flat, x, sizes=SIZES):
    ps = unflatten(flat, sizes)
    h = x
    for l in range(len(sizes) - 1):
        h = h @ ps[2 * l] + ps[2 * l + 1]
        if l < len(sizes) - 2:
            h = torch.relu(h)
    return h


def mse(flat, x, y):
    return torch.mean((forward(flat, x) - y) ** 2)


def adapt(theta, xs, ys, steps, lr):
    """`steps` plain gradient steps on the support points from theta."""
    p = theta.detach().clone()
    for _ in range(steps):
        p.requires_grad_(True)
        g, = torch.autograd.grad(mse(p, xs, ys), p)
        p = (p - lr * g).detach()
    return p


def sine_tasks(rng, n, shots, query):
    """n tasks: (xs, ys, xq, yq) float32 tensors of shape (shots|query, 1)."""
    for _ in range(n):
        a, ph = rng.uniform(0.1, 5.0), rng.uniform(0.0, math.pi)
        xs = rng.uniform(-5, 5, (shots, 1))
        xq = rng.uniform(-5, 5, (query, 1))
        f = lambda x: a * np.sin(x - ph)  # noqa: E731
        yield tuple(torch.tensor(v, dtype=torch.float32) for v in (xs, f(xs), xq, f(xq)))


# ---- the core's task stream (src/core/rng.c, fewshot.c), for a task-for-task comparison ----

_M64 = (1 << 64) - 1


def _splitmix(x):
    x = (x + 0x9E3779B97F4A7C15) & _M64
    z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return x, z ^ (z >> 31)


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & _M64


class CoreRng:
    """optirsd's generator (xoshiro256** seeded by splitmix64, rng.h) in
    Python: rng_seed, rng_split, rng_uniform, rng_normal."""

    def __init__(self, seed):
        x, self.s = seed & _M64, []
        for _ in range(4):
            x, z = _splitmix(x)
            self.s.append(z)
        if not any(self.s):
            self.s[0] = 1
        self.spare = None

    def split(self, stream):
        x, h = _splitmix((stream ^ 0xD1B54A32D192ED03) & _M64)
        for w in self.s:
            _, h = _splitmix(h ^ w)
        return CoreRng(h)

    def u64(self):
        s = self.s
        result = (_rotl((s[1] * 5) & _M64, 7) * 9) & _M64
        t = (s[1] << 17) & _M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.u64() >> 11) * 2.0 ** -53

    def normal(self):
        if self.spare is not None:
            v, self.spare = self.spare, None
            return v
        u1, u2 = 1.0 - self.uniform(), self.uniform()
        rad, th = math.sqrt(-2.0 * math.log(u1)), 2.0 * math.pi * u2
        self.spare = rad * math.sin(th)
        return rad * math.cos(th)


def core_init(seed, sizes=SIZES):
    """The in-daemon few-shot job's initial θ for seed (fsnet_init_params)."""
    r = CoreRng(seed).split(0)
    out = []
    for l in range(len(sizes) - 1):
        sd = math.sqrt(2.0 / sizes[l])
        out += [sd * r.normal() for _ in range(sizes[l] * sizes[l + 1])] + [0.0] * sizes[l + 1]
    return np.array(out)


def core_tasks(seed, step, n, shots, query):
    """The tasks of outer step `step` of an in-daemon job of seed (fewshot_step:
    task k from rng_split(rng_split(rng_split(rng_seed(seed), 1), step), k))."""
    sr = CoreRng(seed).split(1).split(step)
    for k in range(n):
        tr = sr.split(k)
        a, ph = 0.1 + 4.9 * tr.uniform(), math.pi * tr.uniform()
        xs = np.array([[-5.0 + 10.0 * tr.uniform()] for _ in range(shots)])
        xq = np.array([[-5.0 + 10.0 * tr.uniform()] for _ in range(query)])
        f = lambda x: a * np.sin(x - ph)  # noqa: E731
        yield tuple(torch.tensor(v, dtype=torch.float32) for v in (xs, f(xs), xq, f(xq)))


def evaluate(theta, steps=(1, 5, 10), tasks=600, shots=5, query=100, lr=0.01, seed=1000):
    """Mean and 95% half-width of the query MSE after each number of steps."""
    theta = torch.as_tensor(np.asarray(theta, dtype=np.float32))
    rng = np.random.default_rng(seed)
    res = {s: [] for s in steps}
    for xs, ys, xq, yq in sine_tasks(rng, tasks, shots, query):
        p, done = theta.clone(), 0
        for s in sorted(steps):
            p = adapt(p, xs, ys, s - done, lr)
            done = s
            res[s].append(float(mse(p, xq, yq)))
    return {s: (float(np.mean(v)), 1.96 * float(np.std(v, ddof=1)) / math.sqrt(len(v))) for s, v in res.items()}


def meta_train(ms, rounds, meta_batch, shots=5, inner_steps=5, inner_lr=0.01, seed=0, log=None, tasks="numpy"):
    """Runs `rounds` rounds of Reptile on meta-session ms; returns θ.  tasks:
    "numpy" (drawn here) or "core" (the in-daemon job's tasks for seed, task
    for task: a run comparable to `optirsd maml --method reptile`)."""
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        init = ms.init()
        r, theta = init["round"], torch.tensor(init["params"], dtype=torch.float32)
        losses = []
        draw = (core_tasks(seed, r, meta_batch, shots, shots) if tasks == "core"
                else sine_tasks(rng, meta_batch, shots, shots))
        for k, (xs, ys, xq, yq) in enumerate(draw):
            p = adapt(theta, xs, ys, inner_steps, inner_lr)
            losses.append(float(mse(p, xq, yq)))
            ms.contribute("task-%03d" % k, r, params=p)
        if log and (r + 1) % log == 0:
            print("round %d: mean query loss after adaptation %.4f" % (r + 1, float(np.mean(losses))), flush=True)
    return np.array(ms.init()["params"], dtype=np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=optirs.DEFAULT_URL)
    ap.add_argument("--api-key", default=os.environ.get("OPTIRS_API_KEY"))
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--meta-batch", type=int, default=25)
    ap.add_argument("--shots", type=int, default=5)
    ap.add_argument("--inner-steps", type=int, default=5)
    ap.add_argument("--inner-lr", type=float, default=0.01)
    ap.add_argument("--outer-lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-tasks", type=int, default=600)
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--tasks", choices=("numpy", "core"), default="numpy",
                    help="core: the in-daemon job's tasks for --seed, task for task")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    c = optirs.Client(a.url, api_key=a.api_key)
    ms = c.create_meta_session("reptile", layout(), meta_batch=a.meta_batch, outer_lr=a.outer_lr,
                               outer_optimizer="adam", init="seeded", seed=a.seed, name="sine-reptile-py")
    theta0 = np.array(ms.init()["params"], dtype=np.float32)
    theta = meta_train(ms, a.rounds, a.meta_batch, a.shots, a.inner_steps, a.inner_lr, a.seed, a.log_every,
                       a.tasks)
    out = {"meta_session": ms.id, "rounds": a.rounds,
           "init": evaluate(theta0, tasks=a.eval_tasks, shots=a.shots, lr=a.inner_lr),
           "meta_learned": evaluate(theta, tasks=a.eval_tasks, shots=a.shots, lr=a.inner_lr)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
