#!/usr/bin/python3
"""make bench: every benchmark figure in one table, each as a ratio to a
reference measured in the same run (absolute figures on a shared 2-vCPU
machine are noise; ratios within one run are not).

Runs build/bench/bench_core (core figures; it prints `BENCH name value unit
ratio target` lines), then starts a fresh optirsd (ephemeral port, temporary
database, --threads 2) and drives it with build/bench/bench_http:

  loopback_echo_*     raw loopback TCP: a thread reads 4N bytes and writes them
                      back; the reference for the binary HTTP figures
  http_binary_* / http_json_*
                      POST /v1/sessions/{id}/step, one Adam session per
                      connection stepped k = 1, 2, ... (steps/s and MB/s of
                      request + response bodies); every answer verified
  http_small_*        N = 100, 32 concurrent sessions (req/s, p50/p99), next to
                      GET /livez on the same daemon with the same tool
  daemon_rss_*        the daemon's VmRSS growth over the N = 1e6 sessions, in
                      bytes per parameter held (minimum: params + last update
                      + Adam's two moments = 16 bytes)
  daemon_sigterm_*    SIGTERM: the exit status (must be 0) and the time taken

  nginx_static_c32    Debian's nginx (2 workers, temporary prefix) serving a
                      400-byte file to the same 32-connection load: the
                      reference of http_small_n100_c32_vs_nginx (target >= 0.6;
                      3 alternating rounds with the daemon, medians)

and, on a daemon of its own whose database build/bench/bench_fill filled with
a 1,000,000-step session through the store API (the calls the daemon makes):

  metrics_downsample_1e6_*
                      GET /v1/sessions/{id}/metrics?max_points=1000 (median
                      over one keep-alive connection, whole body read), as a
                      ratio to GET /livez on the same connection and to a raw
                      SELECT count(*) over the session's metrics rows (Python's
                      sqlite3 on the same file); summary_1e6 likewise

Last, bench/remote_step.py (/usr/bin/python3, torch): the Python client's
binary step at N = 1e6 over TCP (and the unix socket, bfloat16 when this
build has them) against torch.optim.Adam in-process, interleaved.

Standard library only; builds nothing (make did).  --quick: shorter runs.
Exit status: 0 when every benchmark ran and verified its answers (a missed
target is a figure, not a failure), 1 otherwise.
"""
import argparse
import http.client
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Table:
    def __init__(self):
        self.rows = []

    def add(self, name, value, unit, ratio=None, ref="", target="-", note=""):
        self.rows.append(dict(name=name, value=value, unit=unit, ratio=ratio, ref=ref,
                              target=target, note=note))

    @staticmethod
    def verdict(row):
        t = row["target"]
        if not t or t == "-":
            return ""
        x = row["ratio"] if row["ratio"] is not None else row["value"]
        if x is None:
            return "skipped" if row["note"].startswith("skipped") else "missed"
        m = re.fullmatch(r"(>=|<=|>|<|==)?\s*([-+0-9.eE]+)", t)
        if not m:
            return "?"
        op, lim = m.group(1) or "==", float(m.group(2))
        ok = {">=": x >= lim, "<=": x <= lim, ">": x > lim, "<": x < lim, "==": x == lim}[op]
        return "met" if ok else "missed"

    def print(self):
        def fmt(v, spec):
            return "-" if v is None else format(v, spec)
        head = ("figure", "value", "unit", "ratio", "reference (ratio is to)", "target", "", "note")
        lines = [head]
        for r in self.rows:
            lines.append((r["name"], fmt(r["value"], ".4g"), r["unit"], fmt(r["ratio"], ".3f"),
                          r["ref"] or "-", r["target"] or "-", self.verdict(r), r["note"]))
        w = [max(len(str(l[i])) for l in lines) for i in range(len(head) - 1)]
        for l in lines:
            cells = []
            for i, c in enumerate(l[:-1]):
                cells.append(str(c).rjust(w[i]) if i in (1, 3) else str(c).ljust(w[i]))
            print("  ".join(cells + [l[-1]]).rstrip())


# ---- bench_core ---------------------------------------------------------------

def run_core(build, quick, table):
    exe = os.path.join(build, "bench", "bench_core")
    cmd = [exe] + (["--quick"] if quick else [])
    log("== " + " ".join(cmd))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.stderr:
        log(p.stderr.rstrip())
    refs = {}
    # The human table: fixed columns "%-30s %12s %-9s %9s  %-26s %-8s %s".
    for line in p.stdout.splitlines():
        if len(line) > 92 and not line.startswith("BENCH") and not line.startswith("figure"):
            refs[line[:30].strip()] = (line[65:91].strip(), line[101:].strip())
    n = 0
    for line in p.stdout.splitlines():
        f = line.split()
        if len(f) != 6 or f[0] != "BENCH":
            continue
        name, value, unit, ratio, target = f[1:]
        ref, note = refs.get(name, ("", ""))
        table.add(name, None if value == "-" else float(value), unit,
                  None if ratio == "-" else float(ratio), ref, target, note)
        n += 1
    if p.returncode != 0 or n == 0:
        log("bench_core failed (exit %d, %d figures)" % (p.returncode, n))
        return False
    return True


# ---- nginx: the reference for many small requests ------------------------------

NGINX_CONF = """\
worker_processes %(workers)d;
pid %(tmp)s/nginx.pid;
error_log %(tmp)s/error.log warn;
events { worker_connections 1024; }
http {
    access_log %(tmp)s/access.log;
    client_body_temp_path %(tmp)s/client_body;
    proxy_temp_path %(tmp)s/proxy;
    fastcgi_temp_path %(tmp)s/fastcgi;
    uwsgi_temp_path %(tmp)s/uwsgi;
    scgi_temp_path %(tmp)s/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
    server {
        listen 127.0.0.1:%(port)d;
        location / { root %(tmp)s/www; }
    }
}
"""
NGINX_FILE_BYTES = 400     # the size of an N = 100 binary step's answer
WIRE_ROUNDS = 3          # binary steps against the echo, alternating (#17's wire target)
NGINX_ROUNDS = 3


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def median_result(results):
    """The per-key median of bench_http RESULT dicts (numbers only)."""
    out = {}
    for k, v in results[0].items():
        if isinstance(v, float):
            out[k] = median([r[k] for r in results])
    return out


class Nginx:
    """Debian's nginx serving one small static file from a temporary prefix
    (as tests/integration/test_deploy_nginx.py runs it: -p, -c, -e, daemon
    off).  Started as root, its workers run as nobody; the same number of
    workers as the daemon's HTTP threads, and like the daemon (an access line
    per request at the default log level) it logs every request.  .path is
    the file's URL path."""

    def __init__(self, tmp, workers):
        exe = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
        if exe is None:
            raise RuntimeError("nginx is not installed (Debian package nginx; make deps)")
        self.dir = os.path.join(tmp, "nginx")
        os.makedirs(os.path.join(self.dir, "www"))
        for d in (tmp, self.dir, os.path.join(self.dir, "www")):
            os.chmod(d, 0o755)             # readable by the unprivileged workers
        self.path = "/step100.bin"
        with open(os.path.join(self.dir, "www", self.path[1:]), "wb") as f:
            f.write(os.urandom(NGINX_FILE_BYTES))
        os.chmod(os.path.join(self.dir, "www", self.path[1:]), 0o644)
        s = __import__("socket").socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF % dict(workers=workers, tmp=self.dir, port=self.port))
        err = os.path.join(self.dir, "error.log")
        self.proc = subprocess.Popen([exe, "-p", self.dir, "-c", conf, "-e", err, "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", self.path)
                r = c.getresponse()
                ok = r.status == 200 and len(r.read()) == NGINX_FILE_BYTES
                c.close()
                if ok:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("nginx did not serve its file: " + self.proc.stderr.read().decode()[-500:])
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)      # graceful
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---- the daemon ---------------------------------------------------------------

class Daemon:
    def __init__(self, exe, tmp):
        self.stderr_path = os.path.join(tmp, "optirsd.stderr")
        self.err = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            [exe, "--listen", "127.0.0.1:0", "--db", os.path.join(tmp, "x.db"), "--threads", "2"],
            stdout=subprocess.PIPE, stderr=self.err, text=True)
        r, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline() if r else ""
        m = re.match(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("optirsd did not print its address (got %r); stderr: %s"
                               % (line, self.stderr_tail()))
        self.port = int(m.group(1))
        # Keep reading stdout so that the daemon never blocks on a full pipe.
        self.out = []
        threading.Thread(target=lambda: self.out.extend(self.proc.stdout), daemon=True).start()
        deadline = time.monotonic() + 15
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    c.close()
                    break
                c.close()
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("optirsd never became ready; stderr: " + self.stderr_tail())
            time.sleep(0.05)

    def stderr_tail(self, n=2000):
        try:
            with open(self.stderr_path) as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def rss(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return None

    def stop(self):
        """SIGTERM; returns (exit status or None on a hang, seconds)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        self.err.close()
        return rc, time.monotonic() - t0


def run_http(exe, port, mode, n, seconds, sessions, min_requests, path=None):
    cmd = [exe, "--mode", mode, "--n", str(n), "--seconds", str(seconds), "--sessions", str(sessions),
           "--min-requests", str(min_requests)]
    if path:
        cmd += ["--path", path]
    if port:
        cmd += ["--port", str(port)]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        log("   FAILED: %s: %s" % (" ".join(cmd), e))
        return None
    res = None
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            res = {}
            for kv in line.split()[1:]:
                k, v = kv.split("=", 1)
                try:
                    res[k] = float(v)
                except ValueError:
                    res[k] = v
        else:
            log("   " + line)
    if p.stderr:
        log(p.stderr.rstrip())
    if p.returncode != 0 or res is None:
        log("   FAILED: " + " ".join(cmd) + " (exit %d)" % p.returncode)
        return None
    return res


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def get(res, key):
    return None if res is None else res.get(key)


def label(n):
    return {100: "n100", 1000: "1e3", 100000: "1e5", 1000000: "1e6"}.get(n, str(n))


def run_daemon_benches(build, quick, table):
    secs = 0.8 if quick else 2.5
    minreq = 3 if quick else 5       # a slow run (JSON at 1e6) stretches until it has these
    bench = os.path.join(build, "bench", "bench_http")
    exe = os.path.join(build, "optirsd")
    ok = True
    tmp = tempfile.mkdtemp(prefix="optirs-bench-")
    d = None
    try:
        log("== loopback echo probe")
        echo = {n: run_http(bench, None, "echo", n, secs, 1, minreq) for n in (1000, 100000, 1000000)}
        echo2 = run_http(bench, None, "echo", 1000000, secs, 2, minreq)
        echo_small = run_http(bench, None, "echo", 100, secs, 32, minreq)
        ok &= all(echo.values()) and bool(echo2) and bool(echo_small)

        log("== optirsd " + exe)
        d = Daemon(exe, tmp)
        log("   port %d, pid %d" % (d.port, d.proc.pid))
        res = {}

        def http(mode, n, sessions):
            nonlocal ok
            r = run_http(bench, d.port, mode, n, secs, sessions, minreq)
            if not d.alive():
                log("   optirsd DIED (exit %s); stderr:\n%s" % (d.proc.returncode, d.stderr_tail()))
                r = None
            ok &= r is not None
            return r

        for n in (1000, 100000):
            for mode in ("binary", "json"):
                res[mode, n, 1] = http(mode, n, 1)
        rss0 = d.rss() if d.alive() else None
        big_sessions = 0
        for mode, c in (("binary", 1), ("binary", 2), ("json", 1)):
            res[mode, 1000000, c] = http(mode, 1000000, c)
            big_sessions += c
        time.sleep(0.3 if quick else 1.0)    # let the writer commit and free queued snapshots
        rss1 = d.rss() if d.alive() else None
        # Binary steps against the raw echo of the same bytes, alternating
        # WIRE_ROUNDS rounds: the medians replace the single runs above in
        # the table, and the ratio is the median of the rounds' ratios (one
        # pair of runs on a shared machine varies more than the target).
        wire = {}
        for n in (100000, 1000000):
            rb, rr = [], []
            for _ in range(WIRE_ROUNDS):
                rr.append(run_http(bench, None, "echo", n, secs, 1, minreq))
                rb.append(http("binary", n, 1))
            if all(rb) and all(rr):
                echo[n], res["binary", n, 1] = median_result(rr), median_result(rb)
                wire[n] = median([b["mb_per_s"] / e["mb_per_s"] for b, e in zip(rb, rr)])
            else:
                ok = False
        livez = http("livez", 100, 32)
        # The daemon's small steps and nginx alternate, NGINX_ROUNDS rounds:
        # medians of each, and the median of the rounds' ratios (one pair of
        # runs on a shared machine varies more than the figure's target).
        small = ngx = None
        small_vs_ngx = None
        try:
            ng = Nginx(tmp, 2)
            try:
                log("== nginx %d, a %d-byte static file, %d rounds against the daemon"
                    % (ng.port, NGINX_FILE_BYTES, NGINX_ROUNDS))
                rs, rn = [], []
                for _ in range(NGINX_ROUNDS):
                    rs.append(http("binary", 100, 32))
                    rn.append(run_http(bench, ng.port, "livez", 100, secs, 32, minreq, path=ng.path))
                if all(rs) and all(rn):
                    small, ngx = median_result(rs), median_result(rn)
                    small_vs_ngx = median([a["req_per_s"] / b["req_per_s"] for a, b in zip(rs, rn)])
            finally:
                ng.stop()
        except (RuntimeError, OSError) as e:
            log("   nginx: %s" % e)
        ok &= small is not None and ngx is not None

        for n in (1000, 100000, 1000000):
            b, j, e = res["binary", n, 1], res["json", n, 1], echo[n]
            L = label(n)
            table.add("http_binary_%s" % L, get(b, "req_per_s"), "steps/s", None, "", "-",
                      "1 session; p50 %s us" % fmt_us(get(b, "p50_us")))
            if n in wire:
                table.add("http_binary_%s_MBps" % L, get(b, "mb_per_s"), "MB/s", wire[n], "loopback_echo_%s" % L,
                          ">=0.6", "request+response bodies; medians of %d rounds alternating with the echo"
                          % WIRE_ROUNDS)
            else:
                table.add("http_binary_%s_MBps" % L, get(b, "mb_per_s"), "MB/s",
                          ratio(get(b, "mb_per_s"), get(e, "mb_per_s")), "loopback_echo_%s" % L,
                          ">=0.6" if n >= 100000 else "-", "request+response bodies")
            table.add("http_json_%s" % L, get(j, "req_per_s"), "steps/s",
                      ratio(get(j, "req_per_s"), get(b, "req_per_s")), "http_binary_%s" % L, "-",
                      "1 session; p50 %s us" % fmt_us(get(j, "p50_us")))
            table.add("http_json_%s_MBps" % L, get(j, "mb_per_s"), "MB/s", None, "", "-",
                      "JSON text bodies")
        b2 = res["binary", 1000000, 2]
        table.add("http_binary_1e6_x2_MBps", get(b2, "mb_per_s"), "MB/s",
                  ratio(get(b2, "mb_per_s"), get(echo2, "mb_per_s")), "loopback_echo_1e6_x2", "-",
                  "2 sessions in parallel; %s steps/s" % fmt_g(get(b2, "req_per_s")))
        b1 = res["binary", 1000000, 1]
        table.add("http_binary_1e6_vs_target", get(b1, "mb_per_s"), "MB/s",
                  ratio(get(b1, "mb_per_s"), 1000.0), "1000 MB/s (1 GB/s)", ">=1", "1 session")
        table.add("http_binary_1e6_x2_vs_target", get(b2, "mb_per_s"), "MB/s",
                  ratio(get(b2, "mb_per_s"), 1000.0), "1000 MB/s (1 GB/s)", ">=1", "2 sessions")
        for n in (1000, 100000, 1000000):
            e = echo[n]
            table.add("loopback_echo_%s" % label(n), get(e, "mb_per_s"), "MB/s", None, "", "-",
                      "raw TCP, 1 conn, %s round trips/s" % fmt_g(get(e, "req_per_s")))
        table.add("loopback_echo_1e6_x2", get(echo2, "mb_per_s"), "MB/s", None, "", "-",
                  "raw TCP, 2 conns")

        table.add("http_small_n100_c32", get(small, "req_per_s"), "req/s",
                  ratio(get(small, "req_per_s"), get(livez, "req_per_s")), "livez_c32", "-",
                  "N=100 binary steps, 32 sessions")
        table.add("http_small_n100_c32_vs_nginx", get(small, "req_per_s"), "req/s",
                  small_vs_ngx, "nginx_static_c32", ">=0.6",
                  "the same steps against nginx serving a %d-byte file (median of %d alternating rounds)"
                  % (NGINX_FILE_BYTES, NGINX_ROUNDS))
        table.add("http_small_n100_c32_p50", get(small, "p50_us"), "us",
                  ratio(get(small, "p50_us"), get(ngx, "p50_us")), "nginx_static_c32_p50", "-",
                  "under that load; livez_c32 p50 %s us" % fmt_us(get(livez, "p50_us")))
        table.add("http_small_n100_c32_p99", get(small, "p99_us"), "us",
                  ratio(get(small, "p99_us"), get(ngx, "p99_us")), "nginx_static_c32_p99", "-",
                  "under that load; livez_c32 p99 %s us" % fmt_us(get(livez, "p99_us")))
        table.add("nginx_static_c32", get(ngx, "req_per_s"), "req/s",
                  ratio(get(ngx, "req_per_s"), get(echo_small, "req_per_s")), "loopback_echo_n100_c32", "-",
                  "Debian nginx, 2 workers, GET of a %d-byte file, 32 connections; p50 %s us, p99 %s us"
                  % (NGINX_FILE_BYTES, fmt_us(get(ngx, "p50_us")), fmt_us(get(ngx, "p99_us"))))
        table.add("livez_c32", get(livez, "req_per_s"), "req/s",
                  ratio(get(livez, "req_per_s"), get(echo_small, "req_per_s")), "loopback_echo_n100_c32",
                  "-", "GET /livez, 32 connections; p50 %s us, p99 %s us"
                  % (fmt_us(get(livez, "p50_us")), fmt_us(get(livez, "p99_us"))))
        table.add("loopback_echo_n100_c32", get(echo_small, "req_per_s"), "req/s", None, "", "-",
                  "raw TCP 400-byte round trips, 32 conns")

        params = 1000000 * big_sessions
        if rss0 is not None and rss1 is not None:
            per = (rss1 - rss0) / params
            table.add("daemon_rss_per_param_1e6", per, "B/param", per / 16.0,
                      "16 B (params+update+m+v)", "<=1.5",
                      "VmRSS %.0f -> %.0f MB over %d sessions of 1e6" % (rss0 / 1e6, rss1 / 1e6, big_sessions))
            table.add("daemon_rss_total", rss1 / 1e6, "MB", None, "", "-", "after every run above")

        rc, took = d.stop()
        log("   SIGTERM: exit %s after %.2f s" % (rc, took))
        if rc != 0:
            ok = False
            log("   optirsd stderr:\n" + d.stderr_tail())
        table.add("daemon_sigterm_exit", None if rc is None else float(rc), "status", None, "",
                  "0", "exit status after SIGTERM" + ("" if rc is not None else " (hung: killed)"))
        table.add("daemon_sigterm_seconds", took, "s", None, "", "<=10", "drain + final checkpoint")
    except (RuntimeError, OSError) as e:
        log("   FAILED: %s" % e)
        ok = False
    finally:
        if d is not None and d.alive():       # an exception left it running
            d.proc.kill()
            d.proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return ok


# ---- downsampling a long curve ------------------------------------------------

def median_ms(fn, n):
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    ts.sort()
    return ts[len(ts) // 2]


def run_downsample_bench(build, quick, table):
    """metrics_downsample_1e6_*: see the module docstring."""
    import json
    import sqlite3
    steps, reps = 1000000, (9 if quick else 31)
    exe = os.path.join(build, "optirsd")
    fill = os.path.join(build, "bench", "bench_fill")
    tmp = tempfile.mkdtemp(prefix="optirs-bench-ds-")
    d = None
    ok = True
    try:
        log("== downsampling: a %d-step session" % steps)
        d = Daemon(exe, tmp)
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
        spec = {"optimizer": "adam", "tensors": [{"name": "w", "shape": [4]}]}
        c.request("POST", "/v1/sessions", json.dumps(spec), {"Content-Type": "application/json"})
        r = c.getresponse()
        sid = json.loads(r.read())["id"]
        c.close()
        d.stop()
        d = None
        t0 = time.monotonic()
        p = subprocess.run([fill, "--db", os.path.join(tmp, "x.db"), "--id", sid, "--steps", str(steps)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            raise RuntimeError("bench_fill failed: " + p.stderr[-500:])
        log("   filled in %.1f s" % (time.monotonic() - t0))
        d = Daemon(exe, tmp)
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
        path = "/v1/sessions/%s/metrics?max_points=1000" % sid
        last = {}

        def get(p_):
            c.request("GET", p_)
            resp = c.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise RuntimeError("GET %s: %d %s" % (p_, resp.status, body[:200]))
            last["body"] = body

        for _ in range(3):                       # warm the page cache and the pool
            get(path)
        m = json.loads(last["body"])
        n = len(m["steps"])
        if not (500 <= n <= 1000 and m["total_steps"] == steps and sum(m["counts"]) == steps):
            raise RuntimeError("downsampled answer looks wrong: %d buckets, %s steps"
                               % (n, m.get("total_steps")))
        width = m["bucket_width"]
        ds = median_ms(lambda: get(path), reps)
        size = len(last["body"])
        livez = median_ms(lambda: get("/livez"), reps)
        summ = median_ms(lambda: get("/v1/sessions/%s/summary" % sid), reps)
        rng = median_ms(lambda: get(path + "&from=123457&to=876543"), reps)
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(tmp, "x.db"), uri=True)

        def count():
            if db.execute("SELECT count(*) FROM metrics WHERE session_id = ?", (sid,)).fetchone()[0] != steps:
                raise RuntimeError("count(*) disagrees")

        count()
        cnt = median_ms(count, 5 if quick else 9)
        db.close()
        table.add("metrics_downsample_1e6_to_1e3", ds, "ms", ratio(ds, livez), "livez_roundtrip", "-",
                  "GET …/metrics?max_points=1000 on 1e6 steps: %d buckets of %d, %d bytes" % (n, width, size))
        table.add("metrics_downsample_1e6_vs_count", ds, "ms", ratio(ds, cnt), "sqlite_count_1e6", "<0.5",
                  "the same answer against one count(*) over the raw rows")
        table.add("metrics_downsample_1e6_range", rng, "ms", ratio(rng, livez), "livez_roundtrip", "-",
                  "from=123457&to=876543 (unaligned ends: rollup edges + raw rows)")
        table.add("summary_1e6", summ, "ms", ratio(summ, livez), "livez_roundtrip", "-",
                  "GET …/summary (2000-bucket curve, trend window)")
        table.add("livez_roundtrip", livez, "ms", None, "", "-", "GET /livez, same connection")
        table.add("sqlite_count_1e6", cnt, "ms", None, "", "-",
                  "SELECT count(*) over the session's 1e6 metrics rows (Python sqlite3)")
        c.close()
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        log("   FAILED: %s" % e)
        ok = False
    finally:
        if d is not None:
            rc, _ = d.stop()
            ok &= rc == 0
        shutil.rmtree(tmp, ignore_errors=True)
    return ok


# ---- the Python client against in-process torch --------------------------------

def run_remote_step(build, quick, table):
    """bench/remote_step.py (its own daemons) with /usr/bin/python3: the
    Python client's binary step against torch.optim.Adam in-process."""
    cmd = ["/usr/bin/python3", os.path.join(os.path.dirname(os.path.abspath(__file__)), "remote_step.py"),
           "--build", build] + (["--quick"] if quick else [])
    log("== " + " ".join(cmd))
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        log("   FAILED: %s" % e)
        return False
    if p.stderr:
        log(p.stderr.rstrip())
    import json
    n = 0
    for line in p.stdout.splitlines():
        try:
            f = json.loads(line)
        except ValueError:
            continue
        table.add(f["name"], f["value"], f["unit"], f["ratio"], f["ref"], f["target"], f["note"])
        n += 1
    if p.returncode != 0 or n == 0:
        log("remote_step.py failed (exit %d, %d figures)" % (p.returncode, n))
        return False
    return True


def fmt_us(v):
    return "-" if v is None else "%.0f" % v


def fmt_g(v):
    return "-" if v is None else "%.4g" % v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    t0 = time.monotonic()
    table = Table()
    ok = run_core(a.build, a.quick, table)
    ok &= run_daemon_benches(a.build, a.quick, table)
    ok &= run_downsample_bench(a.build, a.quick, table)
    ok &= run_remote_step(a.build, a.quick, table)
    print()
    table.print()
    print("\n(%s run, %.0f s; ratios compare figures measured in this run)"
          % ("quick" if a.quick else "full", time.monotonic() - t0))
    if not ok:
        print("SOME BENCHMARKS FAILED: see the messages above", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
