#!/usr/bin/python3
"""remote_step.py: what a remote Adam step costs a PyTorch training loop,
against torch.optim.Adam in the same process (torch.set_num_threads(1)).

One float32 parameter of N elements (default 1e6) gets the same fixed
gradient in two copies: one stepped by torch.optim.Adam, one by
optirs.torch.RemoteOptimizer (the Python client's binary step: gradient out,
update back, added to the parameter) on a fresh optirsd.  The steps are
interleaved in one run (local, variant 1, variant 2, …, local, …) so that the
machine's load hits every contender alike; the figures are medians of the
per-step wall times and their ratios to the local step.  After the run the
two parameter copies must agree (the same Adam, float32): a remote step that
is fast but wrong fails the run.

A variant is a transport and a wire dtype:
  tcp:f32    the daemon on 127.0.0.1:<ephemeral> (target <= 2.5x local)
  unix:f32   the daemon on --listen unix:<tmp>/optirs.sock, client URL unix://<path>
  unix:bf16  the same with bfloat16 bodies (target <= 1.5x local)
  tcp:bf16
--variants picks them (default: all four).  A transport whose listener the
daemon refuses, a unix:// URL the client refuses, or a dtype the client does
not take (Client(url, dtype=...)) is skipped with its reason printed; a
skipped variant is not a failure.

Output: a human table on stderr and one JSON object per figure on stdout
({"name","value","unit","ratio","ref","target","note"}), which bench/run.py
reads.  Exit status 1 when a variant that ran failed or disagreed with torch.
"""
import argparse
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))

TARGETS = {("tcp", "f32"): "<=2.5", ("unix", "bf16"): "<=1.5"}
LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Skip(Exception):
    """A variant this build cannot run (the reason is printed)."""


class Daemon:
    """A fresh optirsd on `listen` ("127.0.0.1:0" or "unix:/path"); .url is
    the client URL.  Raises Skip when the daemon refuses the listener."""

    def __init__(self, exe, tmp, listen, tag):
        self.err_path = os.path.join(tmp, "optirsd-%s.stderr" % tag)
        self.err = open(self.err_path, "w")
        # a unix socket in a private temporary directory: its permissions are the access control
        extra = ["--allow-open", "1"] if listen.startswith("unix:") else []
        self.proc = subprocess.Popen([exe, "--listen", listen, "--db", os.path.join(tmp, "%s.db" % tag),
                                      "--threads", "2"] + extra,
                                     stdout=subprocess.PIPE, stderr=self.err, text=True)
        r, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline() if r else ""
        m = re.match(r"listening on (\S+)", line)
        if not m:
            self.stop()
            last = (self.tail().strip().splitlines() or ["no address printed"])[-1]
            m = re.search(r'msg="([^"]*)"', last) or re.search(r"optirsd: (.*)", last)
            raise Skip("optirsd refuses --listen %s: %s" % (listen, (m.group(1) if m else last)[:200]))
        addr = m.group(1)
        if listen.startswith("unix:"):
            path = listen[len("unix:"):]
            self.url = "unix://" + path
        else:
            self.url = addr
        # drain stdout so that the daemon never blocks on a full pipe
        import threading
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def tail(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.err_path) as f:
            return f.read()[-2000:]

    def wait_ready(self, client, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            try:
                if client.health().get("status") in ("ok", "ready"):
                    return
            except Exception:   # noqa: BLE001 - any failure: not ready yet
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("optirsd never became ready: " + self.tail())
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def make_client(Client, url, dtype):
    """A client for url and dtype, or Skip with the reason."""
    kw = {} if dtype == "f32" else {"dtype": dtype}
    try:
        return Client(url, **kw)
    except TypeError as e:
        raise Skip("this client takes no dtype= (%s)" % e)
    except ValueError as e:
        raise Skip("the client refuses %s: %s" % (url, e))


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--n", type=int, default=1000000)
    ap.add_argument("--steps", type=int, default=41, help="timed steps per contender")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--variants", default="tcp:f32,unix:f32,unix:bf16,tcp:bf16")
    ap.add_argument("--quick", action="store_true", help="15 timed steps")
    a = ap.parse_args()
    if a.quick:
        a.steps = 15
    try:
        import numpy  # noqa: F401
        import torch
        from optirs.client import Client
        from optirs.torch import RemoteOptimizer
    except ImportError as e:
        log("remote_step: skipped: %s" % e)
        return 0
    torch.set_num_threads(1)
    exe = os.path.join(a.build, "optirsd")
    tmp = tempfile.mkdtemp(prefix="optirs-remote-")
    daemons, contenders, skipped, ok = {}, [], [], True
    gen = torch.Generator().manual_seed(7)
    init = torch.randn(a.n, generator=gen)
    # bf16-exact (hence f16-representable at this scale) gradients: a 16-bit
    # request then carries the very gradient torch.optim.Adam gets, and the
    # only difference left is the rounding of the 16-bit answers.
    grad = torch.randn(a.n, generator=gen).to(torch.bfloat16).to(torch.float32)
    try:
        local_p = torch.nn.Parameter(init.clone())
        local = torch.optim.Adam([local_p], lr=LR, betas=BETAS, eps=EPS)
        contenders.append(("local", local_p, lambda: local.step()))
        for v in [x.strip() for x in a.variants.split(",") if x.strip()]:
            transport, _, dtype = v.partition(":")
            try:
                if transport not in ("tcp", "unix") or dtype not in ("f32", "bf16", "f16"):
                    raise Skip("unknown variant (transport tcp|unix, dtype f32|bf16|f16)")
                if transport not in daemons:
                    listen = "127.0.0.1:0" if transport == "tcp" else "unix:" + os.path.join(tmp, "optirs.sock")
                    daemons[transport] = Daemon(exe, tmp, listen, transport)
                d = daemons[transport]
                client = make_client(Client, d.url, dtype)
                d.wait_ready(client)
                p = torch.nn.Parameter(init.clone())
                kw = {} if dtype == "f32" else {"dtype": dtype, "answer_dtype": dtype}
                try:   # a 16-bit variant: gradients AND updates travel in that dtype
                    opt = RemoteOptimizer([p], "adam", client=client, lr=LR, betas=BETAS, eps=EPS, **kw)
                except (TypeError, ValueError) as e:
                    raise Skip("RemoteOptimizer refuses %s: %s" % (kw, e))
                contenders.append((v, p, lambda opt=opt: opt.step(loss=1.0)))
            except Skip as e:
                skipped.append((v, str(e)))
                log("remote_step: %s skipped: %s" % (v, e))
        times = {name: [] for name, _, _ in contenders}
        for _, p, _ in contenders:
            p.grad = grad.clone()          # the same gradient every step (no one changes it)
        for i in range(a.warmup + a.steps):
            for name, p, step in contenders:
                t0 = time.perf_counter()
                step()
                dt = time.perf_counter() - t0
                if i >= a.warmup:
                    times[name].append(dt * 1e3)
        ref = local_p.detach()
        base = median(times["local"])
        figures = [dict(name="torch_adam_step_1e6" if a.n == 1000000 else "torch_adam_step_%d" % a.n,
                        value=base, unit="ms", ratio=None, ref="", target="-",
                        note="torch.optim.Adam.step(), 1 thread, N=%d, median of %d" % (a.n, a.steps))]
        for name, p, _ in contenders[1:]:
            diff = float((p.detach() - ref).abs().max())
            transport, _, dtype = name.partition(":")
            # float32 answers: the same Adam to float32 rounding.  16-bit
            # answers: each update |u| <= ~lr (Adam on a constant gradient)
            # is rounded by at most 2^-9 (bf16) relative, so the copies may
            # drift by up to steps * lr * 2^-9; allowed twice that.
            tol = (1e-5 * max(1.0, float(ref.abs().max())) if dtype == "f32"
                   else (a.warmup + a.steps) * LR * 2.0 ** -8)
            agree = diff <= tol
            if not agree:
                ok = False
                log("remote_step: %s DISAGREES with torch.optim.Adam: max |diff| %.3g" % (name, diff))
            m = median(times[name])
            figures.append(dict(name="remote_step_%s_%s" % (transport, dtype), value=m, unit="ms",
                                ratio=m / base, ref="torch_adam_step (in-process)",
                                target=TARGETS.get((transport, dtype), "-"),
                                note="optirs.torch over %s, %s bodies both ways; max |p - torch's p| %.1e%s"
                                     % (transport, dtype, diff, "" if agree else " DISAGREES")))
        for name, why in skipped:
            transport, _, dtype = name.partition(":")
            figures.append(dict(name="remote_step_%s_%s" % (transport, dtype), value=None, unit="ms",
                                ratio=None, ref="", target=TARGETS.get((transport, dtype), "-"),
                                note="skipped: " + why))
        for f in figures:
            print(json.dumps(f))
            log("  %-24s %9s %s  ratio %s  target %s  %s" % (
                f["name"], "-" if f["value"] is None else "%.3f" % f["value"], f["unit"],
                "-" if f["ratio"] is None else "%.2f" % f["ratio"], f["target"], f["note"]))
    except (RuntimeError, OSError, ValueError) as e:
        log("remote_step: FAILED: %s" % e)
        ok = False
    finally:
        for d in daemons.values():
            d.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
