#!/usr/bin/python3
"""Soak test of optirsd (issue 4, section 6): mixed load for a duration.

Load (one thread each, keep-alive connections):
  - JSON steppers and binary steppers on their own sessions (sgd, adam,
    mlp_lopt; durability step and checkpoint), with feedback every 10 steps;
  - a shared session (workers = 2) stepped by two threads together;
  - churn: create a session, step it a few times, read it, delete it;
  - queries: /metrics, GET /v1/sessions (paged), session metrics and
    feedback lists, /v1/config.
Measured on the daemon process: RSS (VmRSS) and open file descriptors.  The
first third of the run (at most 120 s) is warm-up.  At the end of warm-up
and at the end of the run every load thread pauses between requests (so the
same connections are open) and the fds are counted; RSS growth is the mean
RSS over the last tenth of the run against the RSS at the end of warm-up.
Pass: no unexpected answer, RSS growth < 5 %, no fd growth.  Prints p50/p99
step latency (client-side, loopback) and the request counts."""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time


def proc_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_fds(pid):
    """fd number -> what it points at (socket:[inode], a file path, ...)."""
    out = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            out[int(fd)] = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            pass
    return out


class Conn:
    def __init__(self, port):
        self.port = port
        self.c = None

    def req(self, method, path, body=None, headers=None):
        for attempt in range(2):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.c.request(method, path, body=body, headers=headers or {})
                r = self.c.getresponse()
                data = r.read()
                if (r.getheader("Connection") or "").lower() == "close":
                    self.c.close()
                    self.c = None
                return r.status, r, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.c.close()
                self.c = None
                if attempt:
                    raise


class Soak:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="optirs-soak-")
        self.log = open(os.path.join(self.dir, "optirsd.log"), "ab")
        self.proc = subprocess.Popen([args.optirsd, "--listen", "127.0.0.1:0", "--db",
                                      os.path.join(self.dir, "soak.db"), "--threads", "4",
                                      "--checkpoint-every", "50", "--step-timeout", "10"],
                                     stdout=subprocess.PIPE, stderr=self.log)
        first = self.proc.stdout.readline().decode()
        assert first.startswith("listening on http://127.0.0.1:"), first
        self.port = int(first.strip().rsplit(":", 1)[1])
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        for _ in range(500):
            try:
                if Conn(self.port).req("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.02)
        self.lock = threading.Lock()
        self.stop = False
        self.pause = False
        self.paused = 0
        self.cond = threading.Condition(self.lock)
        self.lat = []              # step latencies after warm-up (s)
        self.measuring = False
        self.counts = {}
        self.errors = []
        self.threads = []

    def count(self, what, n=1):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n

    def error(self, msg):
        with self.lock:
            if len(self.errors) < 20:
                self.errors.append(msg)
        print("ERROR:", msg, flush=True)

    def checkpoint(self):
        """Between requests: blocks while the sampler has paused the load."""
        with self.cond:
            if self.pause:
                self.paused += 1
                self.cond.notify_all()
                while self.pause and not self.stop:
                    self.cond.wait(0.2)
                self.paused -= 1
        return not self.stop

    def quiesce(self, fn):
        """Pauses every load thread between requests, runs fn, resumes."""
        with self.cond:
            self.pause = True
            deadline = time.time() + 60
            while self.paused < len(self.threads) and time.time() < deadline:
                self.cond.wait(0.2)
            if self.paused < len(self.threads):
                self.error("only %d of %d load threads paused" % (self.paused, len(self.threads)))
        time.sleep(0.5)   # let the daemon finish its own bookkeeping
        v = fn()
        with self.cond:
            self.pause = False
            self.cond.notify_all()
        return v

    def create(self, c, spec):
        st, _, body = c.req("POST", "/v1/sessions", json.dumps(spec).encode(), {"Content-Type": "application/json"})
        if st != 201:
            self.error("create: %d %s" % (st, body[:200]))
            return None
        return json.loads(body)["id"]

    def timed_step(self, c, sid, k, body, headers):
        t0 = time.perf_counter()
        st, r, data = c.req("POST", "/v1/sessions/%s/step" % sid, body, headers)
        dt = time.perf_counter() - t0
        if st == 200 and self.measuring:
            with self.lock:
                self.lat.append(dt)
        return st, r, data

    def stepper(self, idx, binary):
        c = Conn(self.port)
        n = [64, 1000, 4096][idx % 3]
        opt = ["sgd", "adam", "mlp_lopt"][idx % 3]
        dur = "step" if idx % 2 else "checkpoint"
        sid = self.create(c, {"optimizer": opt, "tensors": [{"shape": [n]}], "durability": dur})
        rnd = random.Random(idx)
        k = 0
        while sid and self.checkpoint():
            k += 1
            g = [rnd.uniform(-1, 1) for _ in range(8)] * (n // 8)
            if binary:
                st, _, data = self.timed_step(c, sid, k, struct.pack("<%df" % n, *g),
                                              {"Content-Type": "application/octet-stream", "X-Optirs-Step": str(k)})
            else:
                st, _, data = self.timed_step(c, sid, k, json.dumps({"step": k, "grads": g, "loss": 1.0 / k}),
                                              {"Content-Type": "application/json"})
            if st != 200:
                self.error("step %d of %s: %d %s" % (k, sid, st, data[:200]))
                return
            self.count("steps_binary" if binary else "steps_json")
            if k % 10 == 0:
                st, _, data = c.req("POST", "/v1/sessions/%s/feedback" % sid,
                                    json.dumps({"step": k, "loss": 0.5, "metrics": {"acc": 0.5}}),
                                    {"Content-Type": "application/json"})
                if st not in (200, 201, 204):
                    self.error("feedback: %d %s" % (st, data[:200]))
                    return
                self.count("feedback")

    def shared(self):
        """A workers=2 session: each step posts both workers' gradients at once
        on two connections (one driver thread, so pausing stays simple)."""
        conns = [Conn(self.port), Conn(self.port)]
        sid = self.create(conns[0], {"optimizer": "adam", "tensors": [{"shape": [256]}], "workers": 2})
        k = 0
        while sid and self.checkpoint():
            k += 1
            res = [None, None]

            def post(j):
                try:
                    res[j] = self.timed_step(conns[j], sid, k,
                                             json.dumps({"step": k, "grads": [0.1 * (j + 1)] * 256,
                                                         "worker": "w%d" % j}),
                                             {"Content-Type": "application/json"})
                except OSError as e:
                    res[j] = (0, None, repr(e).encode())
            ts = [threading.Thread(target=post, args=(j,)) for j in (0, 1)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            if res[0][0] != 200 or res[1][0] != 200 or res[0][2] != res[1][2]:
                self.error("shared step %d: %s %s" % (k, res[0][0], res[1][0]))
                return
            self.count("steps_shared", 2)

    def churn(self):
        c = Conn(self.port)
        i = 0
        while self.checkpoint():
            i += 1
            sid = self.create(c, {"optimizer": ["sgd", "adamw", "rmsprop", "nn_adam"][i % 4],
                                  "tensors": [{"shape": [32, 8]}], "durability": "step" if i % 2 else "checkpoint",
                                  "tags": {"soak": str(i)}})
            if not sid:
                return
            for k in range(1, 4):
                st, _, data = c.req("POST", "/v1/sessions/%s/step" % sid, json.dumps({"step": k, "grads": [0.5] * 256}),
                                    {"Content-Type": "application/json"})
                if st != 200:
                    self.error("churn step: %d %s" % (st, data[:200]))
                    return
            st, _, _ = c.req("GET", "/v1/sessions/%s" % sid)
            st2, _, data = c.req("DELETE", "/v1/sessions/%s" % sid)
            if st != 200 or st2 not in (200, 204):
                self.error("churn get/delete: %d %d %s" % (st, st2, data[:200]))
                return
            self.count("sessions_churned")

    def queries(self):
        c = Conn(self.port)
        while self.checkpoint():
            st, _, body = c.req("GET", "/v1/sessions?limit=5")
            if st != 200:
                self.error("list: %d" % st)
                return
            items = json.loads(body).get("sessions", [])
            paths = ["/metrics", "/v1/config", "/v1/optimizers"]
            for it in items[:2]:
                sid = it.get("id")
                if sid:
                    paths += ["/v1/sessions/%s/metrics?limit=50" % sid, "/v1/sessions/%s/feedback" % sid]
            for p in paths:
                st, _, data = c.req("GET", p)
                if st != 200 and not (st == 404 and "/sessions/" in p):   # churned away meanwhile
                    self.error("GET %s: %d %s" % (p, st, data[:200]))
                    return
                self.count("queries")
            time.sleep(0.05)

    def run(self):
        a = self.args
        specs = [(self.stepper, (i, i % 2 == 1)) for i in range(6)]
        self.threads = [threading.Thread(target=f, args=ar, daemon=True) for f, ar in specs]
        self.threads.append(threading.Thread(target=self.shared, daemon=True))
        self.threads += [threading.Thread(target=self.churn, daemon=True),
                         threading.Thread(target=self.queries, daemon=True)]
        for t in self.threads:
            t.start()
        t0 = time.time()
        warm = min(a.seconds / 3.0, 120.0)
        samples = []
        base_rss = base_fds = None
        while time.time() - t0 < a.seconds and not self.errors:
            time.sleep(1.0)
            el = time.time() - t0
            samples.append((el, proc_rss_kb(self.proc.pid)))
            if base_rss is None and el >= warm:
                base_fds = self.quiesce(lambda: proc_fds(self.proc.pid))
                base_rss = proc_rss_kb(self.proc.pid)
                self.measuring = True
                print("warm-up done at %.0f s: RSS %.1f MiB, %d fds" % (el, base_rss / 1024, len(base_fds)), flush=True)
        end_fds = self.quiesce(lambda: proc_fds(self.proc.pid)) if base_fds is not None else None
        with self.cond:
            self.stop = True
            self.cond.notify_all()
        for t in self.threads:
            t.join(30)
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(30)
        dur = time.time() - t0
        ok = not self.errors and rc == 0 and base_rss is not None
        tail = [r for el, r in samples if el >= dur - max(dur * 0.1, 3)]
        end_rss = sum(tail) / len(tail) if tail else 0
        growth = (end_rss - base_rss) / base_rss * 100 if base_rss else float("nan")
        lat = sorted(self.lat)
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e3 if lat else float("nan")
        print("soak: %.0f s, counts %s" % (dur, json.dumps(self.counts, sort_keys=True)))
        print("  RSS after warm-up %.1f MiB, at the end %.1f MiB (mean of the last samples): growth %+.2f %% "
              "(limit 5 %%); peak %.1f MiB" % (base_rss / 1024 if base_rss else 0, end_rss / 1024, growth,
                                              max(r for _, r in samples) / 1024 if samples else 0))
        print("  fds after warm-up %s, at the end %s (quiesced)" %
              (len(base_fds) if base_fds is not None else "-", len(end_fds) if end_fds is not None else "-"))
        print("  step latency (client side, %d steps): p50 %.2f ms  p99 %.2f ms  max %.2f ms" %
              (len(lat), p(0.5), p(0.99), lat[-1] * 1e3 if lat else float("nan")))
        print("  daemon exit code after SIGTERM: %d" % rc)
        if base_rss and growth >= 5.0:
            print("  FAIL: RSS grew %.2f %%" % growth)
            ok = False
        if base_fds is not None and end_fds is not None and len(end_fds) > len(base_fds):
            print("  FAIL: fds grew from %d to %d" % (len(base_fds), len(end_fds)))
            kinds = lambda d: sorted(v.split("[")[0] if v.startswith(("socket:", "pipe:", "anon_inode:")) else v
                                     for v in d.values())
            b, e = kinds(base_fds), kinds(end_fds)
            for v in b:
                if v in e:
                    e.remove(v)
            print("  new fds: %s" % e)
            ok = False
        for e in self.errors:
            print("  FAIL:", e)
        print("soak:", "PASSED" if ok else "FAILED (log in %s)" % self.dir)
        if ok:
            shutil.rmtree(self.dir, ignore_errors=True)
        return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--optirsd", default=os.path.join(os.path.dirname(__file__), "..", "..", "build", "optirsd"))
    ap.add_argument("--seconds", type=float, default=600)
    args = ap.parse_args()
    args.optirsd = os.path.abspath(args.optirsd)
    return Soak(args).run()


if __name__ == "__main__":
    sys.exit(main())
