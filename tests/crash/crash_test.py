#!/usr/bin/python3
"""Crash safety of optirsd, measured (issue 4, section 5).

1. kill -9 under load.  CLIENTS threads each own one session (half
   durability "step", half "checkpoint"; sgd with momentum and adam) and step
   it with binary float32 gradients that are a deterministic function of
   (seed, client, step).  Each client applies every acknowledged update to
   its own float32 copy of the parameters (params + update, as the daemon
   does) and keeps the history.  The daemon is killed with SIGKILL at random
   (seeded) moments, KILLS times.  While it is dead, PRAGMA integrity_check
   runs on the database.  After each restart every client checks its session:
     - durability "step": the daemon's step >= the last acknowledged step
       (else the acknowledged steps are LOST), and at most the step in flight;
     - durability "checkpoint": the daemon's step is at least the step of
       the session's snapshot that was committed when the kill came (read
       from the database just before it): a committed snapshot is never
       lost.  docs/api.md bounds the rewind at two windows of
       checkpoint_every steps while the storage writer keeps up, more while
       it lags; how far the writer lags is timing, not correctness, so the
       rewinds beyond two windows are counted and printed, not failed
       (--checkpoint-interval is set to a day, so only the step count
       triggers checkpoints);
     - the daemon's parameters equal, bit for bit, the client's own replay at
       that step;
     - a retry of the daemon's current step (when the client has its answer)
       returns the same bytes as the acknowledged answer (the stored answer,
       nothing applied);
     - the step in flight at the kill is retried with the same number and the
       same gradients: when the daemon had applied it, the answer is the
       stored one, else it is applied now; either way the client's replay
       equals the daemon's parameters afterwards (no step applied twice).
2. SIGTERM under load: exit code 0, and after a restart no acknowledged step
   of either durability mode is missing (the final checkpoint).
3. Disk full: the database lives on a small tmpfs filled up with a filler
   file: a durability "step" session's step answers 503 storage_unavailable,
   its retry after the filler is removed answers 200 with an update the
   client can verify, and nothing is applied twice.  Needs root (mount);
   reported as SKIPPED otherwise.  --fsize-probe also tries a file-size limit
   (prlimit --fsize on the daemon) and reports what happens.

Prints the counts: acknowledged, recovered, retried, lost, and exits non-zero
on any loss or mismatch.  Stdlib + numpy; run with /usr/bin/python3."""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np


class Fail(Exception):
    pass


class Daemon:
    """One optirsd process on an ephemeral port; restartable on the same DB."""

    def __init__(self, exe, db, flags, log=None):
        self.exe, self.db, self.flags = exe, db, flags
        self.proc = None
        self.port = None
        self.logname = log or db + ".log"
        self.log = open(self.logname, "ab")

    def start(self, timeout=60):
        self.proc = subprocess.Popen(
            [self.exe, "--listen", "127.0.0.1:0", "--db", self.db] + self.flags,
            stdout=subprocess.PIPE, stderr=self.log)
        first = self.proc.stdout.readline().decode()
        if not first.startswith("listening on http://127.0.0.1:"):
            raise Fail("optirsd did not start: %r (log %s)" % (first, self.logname))
        self.port = int(first.strip().rsplit(":", 1)[1])
        # drain stdout in the background so the daemon never blocks on it
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/readyz")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise Fail("optirsd did not become ready")

    def kill(self, sig=signal.SIGKILL, timeout=30):
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Fail("optirsd did not exit within %ds of signal %d" % (timeout, sig))


def request(port, method, path, body=None, headers=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def committed_steps(db):
    """Each session's step in its committed snapshot, read while the daemon
    runs (a WAL reader: it blocks nothing)."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
    try:
        return dict(con.execute("SELECT id, step FROM sessions").fetchall())
    finally:
        con.close()


def integrity_check(db):
    con = sqlite3.connect(db)
    try:
        rows = con.execute("PRAGMA integrity_check").fetchall()
    finally:
        con.close()
    if rows != [("ok",)]:
        raise Fail("PRAGMA integrity_check: %r" % rows[:5])


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.acknowledged = 0      # steps answered 200 (first answers, not replays)
        self.recovered = 0         # session checks after a restart that passed
        self.retried = 0           # in-flight steps retried after a restart
        self.retried_stored = 0    # ... of which the daemon had applied (stored answer)
        self.replays_checked = 0   # retries of the current step compared to the acknowledged bytes
        self.lost = 0              # acknowledged steps missing after a restart (durability step / SIGTERM)
        self.rewound = 0           # checkpoint-session steps rolled back after a kill
        self.beyond_two = 0        # ... of those rewinds, the ones past two windows (the writer lagging)
        self.most_rewound = 0      # the longest rewind, in steps
        self.errors = []

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def error(self, msg):
        with self.lock:
            self.errors.append(msg)
        print("MISMATCH:", msg, flush=True)


class Client(threading.Thread):
    def __init__(self, h, idx, durability, n, seed):
        super().__init__(daemon=True)
        self.h, self.idx, self.dur, self.n, self.seed = h, idx, durability, n, seed
        self.sid = None
        self.hist = {}             # step -> params after it (float32), step 0 = initial
        self.answers = {}          # step -> acknowledged update bytes
        self.last_ack = 0
        self.pending = None        # step sent and not acknowledged
        self.committed = 0         # the same, read just before the kill in progress
        self.gen = 0               # daemon generation this client is working with
        self.err = None

    def grads(self, k):
        rng = np.random.default_rng([self.seed, self.idx, k])
        return rng.standard_normal(self.n).astype("<f4")

    def create(self):
        p0 = np.random.default_rng([self.seed, self.idx]).standard_normal(self.n).astype(np.float32)
        opt = ({"optimizer": "sgd", "hyperparams": {"lr": 0.01, "momentum": 0.9}} if self.idx % 4 < 2
               else {"optimizer": "adam", "hyperparams": {"lr": 0.001}})
        spec = dict(opt, tensors=[{"shape": [self.n]}], durability=self.dur,
                    params=[float(x) for x in p0], name="crash-%d" % self.idx)
        st, _, body = request(self.h.port, "POST", "/v1/sessions", json.dumps(spec).encode(),
                              {"Content-Type": "application/json"})
        if st != 201:
            raise Fail("create: %d %s" % (st, body[:200]))
        self.sid = json.loads(body)["id"]
        self.hist[0] = p0

    def post_step(self, port, k):
        return request(port, "POST", "/v1/sessions/%s/step" % self.sid, self.grads(k).tobytes(),
                       {"Content-Type": "application/octet-stream", "X-Optirs-Step": str(k)})

    def apply(self, k, data):
        upd = np.frombuffer(data, dtype="<f4")
        if upd.shape != (self.n,):
            raise Fail("client %d step %d: answer of %d bytes" % (self.idx, k, len(data)))
        self.hist[k] = (self.hist[k - 1] + upd).astype(np.float32)
        self.answers[k] = data

    def daemon_state(self, port):
        st, _, body = request(port, "GET", "/v1/sessions/%s" % self.sid)
        if st != 200:
            raise Fail("client %d: GET session: %d %s" % (self.idx, st, body[:200]))
        step = int(json.loads(body)["step"])
        st, h, body = request(port, "GET", "/v1/sessions/%s/params" % self.sid,
                              headers={"Accept": "application/octet-stream"})
        if st != 200 or int(h["x-optirs-step"]) != step:
            raise Fail("client %d: GET params: %d step %s vs %d" % (self.idx, st, h.get("x-optirs-step"), step))
        return step, np.frombuffer(body, dtype="<f4")

    def same(self, a, b):
        return a.tobytes() == np.asarray(b, dtype="<f4").tobytes()

    def recover(self, port, strict):
        """Checks the session after a restart; strict: no step may be missing
        whatever the durability (after SIGTERM)."""
        s = self.h.stats
        r, p = self.daemon_state(port)
        top = self.pending if self.pending is not None else self.last_ack
        if r > top:
            s.error("client %d (%s): daemon at step %d, beyond anything sent (%d)" % (self.idx, self.dur, r, top))
            return
        if self.dur == "step" or strict:
            if r < self.last_ack:
                s.add(lost=self.last_ack - r)
                s.error("client %d (%s): LOST steps %d..%d (daemon at %d)" %
                        (self.idx, self.dur, r + 1, self.last_ack, r))
                return
        elif r < self.committed:
            # a snapshot committed before the kill is never lost
            s.add(lost=self.committed - r)
            s.error("client %d (checkpoint): daemon at %d, behind the snapshot of step %d committed before the kill" %
                    (self.idx, r, self.committed))
            return
        # what a rewind or a retry can need from now on: back to r, or the last ack when r is the
        # step in flight (every later snapshot is newer; a lagging writer can leave one more
        # than two windows behind the last ack)
        for k in [k for k in self.hist if k < min(r, self.last_ack)]:
            del self.hist[k]
            self.answers.pop(k, None)
        if r < self.last_ack - 2 * self.h.ckpt_every:
            # docs/api.md, durability checkpoint: past two windows only while the writer lags
            s.add(beyond_two=1)
        with s.lock:
            s.most_rewound = max(s.most_rewound, self.last_ack - r)
        if r <= self.last_ack:
            if r not in self.hist:
                s.error("client %d: no history for step %d" % (self.idx, r))
                return
            if not self.same(p, self.hist[r]):
                s.error("client %d (%s): params at step %d differ from the client's replay" % (self.idx, self.dur, r))
                return
            if r >= 1 and r in self.answers:
                st, _, data = self.post_step(port, r)
                if st != 200 or data != self.answers[r]:
                    s.error("client %d: retry of the current step %d: %d, %s the acknowledged answer" %
                            (self.idx, r, st, "differs from" if st == 200 else "not"))
                    return
                s.add(replays_checked=1)
            if r < self.last_ack:
                s.add(rewound=self.last_ack - r)
                for k in [k for k in self.hist if k > r]:
                    del self.hist[k]
                    self.answers.pop(k, None)
                self.last_ack = r
            if self.pending is not None and self.pending == r + 1:
                st, _, data = self.post_step(port, self.pending)
                if st != 200:
                    s.error("client %d: retry of step %d: %d %s" % (self.idx, self.pending, st, data[:200]))
                    return
                self.apply(self.pending, data)
                self.last_ack = self.pending
                s.add(retried=1)
        else:  # r == pending: applied before the kill, answer lost
            st, _, data = self.post_step(port, r)
            if st != 200:
                s.error("client %d: retry of applied step %d: %d %s" % (self.idx, r, st, data[:200]))
                return
            self.apply(r, data)
            self.last_ack = r
            s.add(retried=1, retried_stored=1)
        self.pending = None
        r2, p2 = self.daemon_state(port)
        if r2 != self.last_ack or not self.same(p2, self.hist[self.last_ack]):
            s.error("client %d (%s): after the retry the daemon is at %d with params %s the replay at %d" %
                    (self.idx, self.dur, r2, "equal to" if self.same(p2, self.hist[self.last_ack]) else "unlike",
                     self.last_ack))
            return
        s.add(recovered=1)

    def run(self):
        h = self.h
        try:
            while not h.stop:
                with h.cond:
                    while h.down or (self.gen != h.gen and h.recovering is False):
                        h.cond.wait(0.5)
                        if h.stop:
                            return
                    gen, port = h.gen, h.port
                if self.gen != gen:
                    self.recover(port, h.strict)
                    self.gen = gen
                    with h.cond:
                        h.recovered_clients += 1
                        h.cond.notify_all()
                    continue
                k = self.last_ack + 1
                self.pending = k
                try:
                    st, _, data = self.post_step(port, k)
                except (OSError, http.client.HTTPException):
                    # the daemon died (or is dying): wait for the next generation
                    with h.cond:
                        while h.gen == gen and not h.stop:
                            h.cond.wait(0.5)
                    continue
                if st == 503:
                    with h.cond:   # shutting down: wait for the restart
                        while h.gen == gen and not h.stop:
                            h.cond.wait(0.5)
                    continue
                if st != 200:
                    h.stats.error("client %d: step %d answered %d %s" % (self.idx, k, st, data[:200]))
                    return
                self.apply(k, data)
                self.last_ack = k
                self.pending = None
                h.stats.add(acknowledged=1)
        except Fail as e:
            h.stats.error(str(e))
        except Exception as e:  # a harness error is a failure too
            h.stats.error("client %d: %r" % (self.idx, e))


class Harness:
    def __init__(self, args):
        self.args = args
        self.ckpt_every = args.checkpoint_every
        self.dir = tempfile.mkdtemp(prefix="optirs-crash-")
        self.db = os.path.join(self.dir, "crash.db")
        self.daemon = Daemon(args.optirsd, self.db,
                             ["--threads", "4", "--checkpoint-every", str(self.ckpt_every),
                              "--checkpoint-interval", "86400"])
        self.cond = threading.Condition()
        self.gen = 0
        self.port = None
        self.down = True
        self.recovering = False
        self.recovered_clients = 0
        self.strict = False
        self.stop = False
        self.stats = Stats()
        self.rng = random.Random(args.seed)

    def restart(self, strict=False):
        self.daemon.start()
        with self.cond:
            self.port = self.daemon.port
            self.strict = strict
            self.recovered_clients = 0
            self.gen += 1
            self.recovering = True
            self.down = False
            self.cond.notify_all()
        deadline = time.time() + 120
        with self.cond:
            while self.recovered_clients < self.live_clients() and time.time() < deadline:
                self.cond.wait(0.5)
            self.recovering = False
        if self.recovered_clients < self.live_clients():
            raise Fail("only %d of %d clients recovered" % (self.recovered_clients, self.live_clients()))

    def live_clients(self):
        return sum(1 for c in self.clients if c.is_alive())

    def kill_loop(self):
        a = self.args
        for i in range(a.kills):
            time.sleep(self.rng.uniform(a.min_run, a.max_run))
            with self.cond:
                self.down = True
            committed = committed_steps(self.db)
            self.daemon.kill(signal.SIGKILL)
            for c in self.clients:
                c.committed = committed.get(c.sid, 0)
            integrity_check(self.db)
            acked = self.stats.acknowledged
            self.restart()
            print("kill %2d/%d: %d steps acknowledged so far, %d sessions verified, %d retried, %d lost" %
                  (i + 1, a.kills, acked, self.stats.recovered, self.stats.retried, self.stats.lost), flush=True)
            if self.stats.errors:
                break

    def sigterm(self):
        time.sleep(self.rng.uniform(self.args.min_run, self.args.max_run))
        with self.cond:
            self.down = True
        rc = self.daemon.kill(signal.SIGTERM)
        if rc != 0:
            self.stats.error("SIGTERM under load: exit code %d (want 0)" % rc)
        integrity_check(self.db)
        self.restart(strict=True)
        print("SIGTERM under load: exit code %d; after restart %d sessions verified with no step missing" %
              (rc, self.live_clients()), flush=True)

    def run(self):
        a = self.args
        self.daemon.start()
        self.port = self.daemon.port
        self.clients = [Client(self, i, "step" if i % 2 == 0 else "checkpoint", a.n, a.seed)
                        for i in range(a.clients)]
        for c in self.clients:
            c.create()
        with self.cond:
            self.gen = 1
            self.down = False
        for c in self.clients:
            c.gen = 1
            c.start()
        try:
            self.kill_loop()
            if not self.stats.errors:
                self.sigterm()
        finally:
            with self.cond:
                self.stop = True
                self.cond.notify_all()
            for c in self.clients:
                c.join(30)
            if self.daemon.proc.poll() is None:
                rc = self.daemon.kill(signal.SIGTERM)
                if rc != 0:
                    self.stats.error("final SIGTERM: exit code %d" % rc)
            integrity_check(self.db)


def disk_full(args):
    """The daemon's DB on a small tmpfs that a filler file fills up."""
    mnt = tempfile.mkdtemp(prefix="optirs-full-")
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt], check=True,
                       stderr=subprocess.PIPE)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        os.rmdir(mnt)
        print("disk full: SKIPPED (cannot mount a tmpfs: %s)" % getattr(e, "stderr", e))
        return None
    d = None
    try:
        logdir = tempfile.mkdtemp(prefix="optirs-full-log-")
        d = Daemon(args.optirsd, os.path.join(mnt, "full.db"), ["--threads", "2", "--checkpoint-every", "1000"],
                   log=os.path.join(logdir, "optirsd.log"))
        d.start()
        n = 256
        p0 = np.zeros(n, np.float32)
        ids = {}
        for dur in ("step", "checkpoint"):
            st, _, body = request(d.port, "POST", "/v1/sessions", json.dumps(
                {"optimizer": "adam", "tensors": [{"shape": [n]}], "durability": dur}).encode(),
                {"Content-Type": "application/json"})
            assert st == 201, body
            ids[dur] = json.loads(body)["id"]
        rng = np.random.default_rng(args.seed)
        hist = {dur: {0: p0.copy()} for dur in ids}

        def step(dur, k, g):
            return request(d.port, "POST", "/v1/sessions/%s/step" % ids[dur], g.tobytes(),
                           {"Content-Type": "application/octet-stream", "X-Optirs-Step": str(k)})

        def params(dur):
            st, h, body = request(d.port, "GET", "/v1/sessions/%s/params" % ids[dur],
                                  headers={"Accept": "application/octet-stream"})
            return int(h["x-optirs-step"]), np.frombuffer(body, "<f4")

        grads = {k: rng.standard_normal(n).astype("<f4") for k in range(1, 400)}
        k = {dur: 1 for dur in ids}
        for _ in range(5):
            for dur in ids:
                st, _, data = step(dur, k[dur], grads[k[dur]])
                assert st == 200, (st, data)
                hist[dur][k[dur]] = hist[dur][k[dur] - 1] + np.frombuffer(data, "<f4")
                k[dur] += 1
        # fill the filesystem
        filler = os.path.join(mnt, "filler")
        # Closing the file flushes and can raise ENOSPC again: both are the point.
        try:
            with open(filler, "wb") as f:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
        except OSError:
            pass
        # durability=step: steps must fail with 503 storage_unavailable (a WAL
        # page or two may still fit: try a few)
        got503 = None
        for _ in range(60):
            st, _, data = step("step", k["step"], grads[k["step"]])
            if st == 503:
                got503 = json.loads(data)["error"]["code"]
                break
            if st != 200:
                raise Fail("disk full: step answered %d %s" % (st, data[:200]))
            hist["step"][k["step"]] = hist["step"][k["step"] - 1] + np.frombuffer(data, "<f4")
            k["step"] += 1
        if got503 != "storage_unavailable":
            raise Fail("disk full: no 503 storage_unavailable from a durability=step session (%r)" % got503)
        failed_k = k["step"]
        # checkpoint sessions: what they do while the disk is full (reported)
        ck_status = []
        for _ in range(3):
            st, _, data = step("checkpoint", k["checkpoint"], grads[k["checkpoint"]])
            ck_status.append(st)
            if st == 200:
                hist["checkpoint"][k["checkpoint"]] = hist["checkpoint"][k["checkpoint"] - 1] + \
                    np.frombuffer(data, "<f4")
                k["checkpoint"] += 1
        r, p = params("step")
        print("disk full: durability=step step %d answered 503 storage_unavailable; daemon then at step %d "
              "(%s); checkpoint-session steps answered %s" %
              (failed_k, r, "applied in memory, not durable" if r == failed_k else "unchanged", ck_status))
        st, _, _ = request(d.port, "GET", "/livez")
        if st != 200:
            raise Fail("disk full: /livez answered %d" % st)
        # space returns
        os.unlink(filler)
        st, _, data = step("step", failed_k, grads[failed_k])
        if st != 200:
            raise Fail("disk full: the retry of step %d after space returned answered %d %s" %
                       (failed_k, st, data[:200]))
        hist["step"][failed_k] = hist["step"][failed_k - 1] + np.frombuffer(data, "<f4")
        r, p = params("step")
        if r != failed_k or p.tobytes() != hist["step"][failed_k].astype("<f4").tobytes():
            raise Fail("disk full: after the retry the daemon is at %d and its params %s the client's replay" %
                       (r, "match" if p.tobytes() == hist["step"][failed_k].tobytes() else "differ from"))
        st, _, data = step("step", failed_k + 1, grads[failed_k + 1])
        if st != 200:
            raise Fail("disk full: the next step after recovery answered %d" % st)
        hist["step"][failed_k + 1] = hist["step"][failed_k] + np.frombuffer(data, "<f4")
        rc = d.kill(signal.SIGTERM)
        integrity_check(d.db)
        d.start()
        for dur in ids:
            r, p = params(dur)
            want = failed_k + 1 if dur == "step" else k["checkpoint"] - 1
            if r != want or p.tobytes() != hist[dur][r].astype("<f4").tobytes():
                raise Fail("disk full: after a restart %s session at %d (want %d), params %s" %
                           (dur, r, want, "match" if r in hist[dur] and
                            p.tobytes() == hist[dur][r].tobytes() else "differ"))
        d.kill(signal.SIGTERM)
        print("disk full: recovered when space returned (retry answered 200, replay matches, SIGTERM exit %d, "
              "state intact after restart)" % rc)
        return True
    finally:
        if d and d.proc and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
        if d:
            d.log.close()
        if logdir:
            shutil.rmtree(logdir, ignore_errors=True)
        subprocess.run(["umount", mnt])
        os.rmdir(mnt)


def fsize_probe(args):
    """What a file-size limit (RLIMIT_FSIZE) on the daemon does; reported, not asserted."""
    tmp = tempfile.mkdtemp(prefix="optirs-fsize-")
    d = Daemon(args.optirsd, os.path.join(tmp, "f.db"), ["--threads", "2"])
    d.start()
    try:
        st, _, body = request(d.port, "POST", "/v1/sessions", json.dumps(
            {"optimizer": "sgd", "tensors": [{"shape": [4096]}], "durability": "step"}).encode(),
            {"Content-Type": "application/json"})
        sid = json.loads(body)["id"]
        size = max(os.path.getsize(d.db), os.path.getsize(d.db + "-wal") if os.path.exists(d.db + "-wal") else 0)
        subprocess.run(["prlimit", "--pid", str(d.proc.pid), "--fsize=%d" % size], check=True)
        g = np.ones(4096, "<f4").tobytes()
        res = []
        for k in range(1, 4):
            try:
                st, _, data = request(d.port, "POST", "/v1/sessions/%s/step" % sid, g,
                                      {"Content-Type": "application/octet-stream", "X-Optirs-Step": str(k)})
                res.append((st, data[:80]))
            except OSError as e:
                res.append(repr(e))
                break
        time.sleep(0.2)
        rc = d.proc.poll()
        print("fsize probe: steps under RLIMIT_FSIZE=%d: %s; daemon %s" %
              (size, res, "alive" if rc is None else "died with %d (signal %d = %s)" %
               (rc, -rc, signal.Signals(-rc).name if rc < 0 else "-")))
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
        d.log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--optirsd", default=os.path.join(os.path.dirname(__file__), "..", "..", "build", "optirsd"))
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--n", type=int, default=64, help="parameters per session")
    ap.add_argument("--checkpoint-every", type=int, default=5)
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--min-run", type=float, default=0.3, help="least seconds of load between kills")
    ap.add_argument("--max-run", type=float, default=1.5)
    ap.add_argument("--short", action="store_true", help="(for make test) the same checks, named short")
    ap.add_argument("--no-disk-full", action="store_true")
    ap.add_argument("--fsize-probe", action="store_true")
    args = ap.parse_args()
    args.optirsd = os.path.abspath(args.optirsd)
    t0 = time.time()
    h = Harness(args)
    ok = True
    try:
        h.run()
    except Fail as e:
        h.stats.error(str(e))
    s = h.stats
    print("crash test (seed %d, %d clients, N=%d, checkpoint-every %d, %d kills, %.0f s):" %
          (args.seed, args.clients, args.n, args.checkpoint_every, args.kills, time.time() - t0))
    print("  acknowledged %d  recovered %d  retried %d (of which already applied: %d)  lost %d" %
          (s.acknowledged, s.recovered, s.retried, s.retried_stored, s.lost))
    print("  stored-answer replays checked %d; checkpoint steps rewound %d (the most at once %d; past two windows "
          "of %d steps, the writer lagging: %d times); mismatches %d" %
          (s.replays_checked, s.rewound, s.most_rewound, args.checkpoint_every, s.beyond_two, len(s.errors)))
    if s.lost or s.errors:
        ok = False
    else:
        shutil.rmtree(h.dir, ignore_errors=True)
    if not args.no_disk_full:
        try:
            disk_full(args)
        except (Fail, AssertionError) as e:
            print("disk full: FAILED:", e)
            ok = False
    if args.fsize_probe:
        fsize_probe(args)
    print("crash test:", "PASSED" if ok else "FAILED (data kept in %s)" % h.dir)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
