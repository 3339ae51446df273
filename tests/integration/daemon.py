"""Start and talk to a real optirsd over loopback, for the integration tests.

Each Daemon gets a fresh database in its own temporary directory and an
ephemeral port (or, with unix=True, the socket file optirs.sock in that
directory: --listen unix:PATH); it is driven only over HTTP (and signals)."""
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPTIRSD = os.environ.get("OPTIRSD", os.path.join(ROOT, "build", "optirsd"))


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket file; the Host header says localhost."""

    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.unix_path)
        except OSError:
            s.close()
            raise
        self.sock = s


class Daemon:
    def __init__(self, *flags, tmpdir=None, db=None, unix=False):
        self.own_dir = tmpdir is None
        self.dir = tmpdir or tempfile.mkdtemp(prefix="optirs-it-")
        self.db = db or os.path.join(self.dir, "optirs.db")
        self.flags = list(flags)
        self.proc = None
        self.port = None
        self.sock = os.path.join(self.dir, "optirs.sock") if unix else None
        self.conn = None
        self.log = None

    @property
    def url(self):
        """The clients' base URL of this daemon."""
        return "unix://" + self.sock if self.sock else "http://127.0.0.1:%d" % self.port

    def start(self, timeout=20):
        self.log = open(os.path.join(self.dir, "stderr.log"), "ab")
        listen = "unix:" + self.sock if self.sock else "127.0.0.1:0"
        self.proc = subprocess.Popen(
            [OPTIRSD, "--listen", listen, "--db", self.db, "--threads", "4", *self.flags],
            stdout=subprocess.PIPE, stderr=self.log)
        first = self.proc.stdout.readline().decode()
        if self.sock:
            assert first.strip() == "listening on unix://" + self.sock, first
        else:
            assert first.startswith("listening on http://127.0.0.1:"), first
            self.port = int(first.strip().rsplit(":", 1)[1])
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                st, _, _ = self.request("GET", "/readyz")
                if st == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("optirsd did not become ready")

    def new_connection(self, timeout=60):
        """A new connection to the daemon, over its socket file or TCP."""
        if self.sock:
            return UnixHTTPConnection(self.sock, timeout=timeout)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def connect(self):
        if self.conn:
            self.conn.close()
        self.conn = self.new_connection()

    def request(self, method, path, body=None, headers=None, fresh=False):
        """One request; returns (status, headers dict (lower-case), body bytes)."""
        if fresh or self.conn is None:
            self.connect()
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        for attempt in range(2):
            try:
                try:
                    self.conn.request(method, path, body=body, headers=hdrs)
                except (BrokenPipeError, ConnectionResetError):
                    # The daemon answers some errors (401, 403, 404, 413 …) from
                    # the headers and closes; on a socket file the body's send
                    # then fails at once, with the answer already waiting.
                    pass
                resp = self.conn.getresponse()
                data = resp.read()
                h = {k.lower(): v for k, v in resp.getheaders()}
                if h.get("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return resp.status, h, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if attempt:
                    raise
                self.connect()

    def json(self, method, path, body=None, headers=None):
        st, h, data = self.request(method, path, body, headers)
        return st, (json.loads(data) if data else None)

    def create(self, **spec):
        st, body = self.json("POST", "/v1/sessions", spec)
        assert st == 201, body
        return body

    def step(self, sid, k, grads, **extra):
        return self.json("POST", f"/v1/sessions/{sid}/step", {"step": k, "grads": list(grads), **extra})

    def step_extras(self, sid):
        """The optimizer's own diagnostics of the session's last step (its
        summary's last_extras.extra; {} when it has none)."""
        st, s = self.json("GET", f"/v1/sessions/{sid}/summary")
        assert st == 200, s
        return s["last_extras"].get("extra") or {}

    def step_binary(self, sid, k, grads, headers=None, accept=None):
        hdrs = {"Content-Type": "application/octet-stream", "X-Optirs-Step": str(k)}
        if accept:
            hdrs["Accept"] = accept
        hdrs.update(headers or {})
        body = struct.pack(f"<{len(grads)}f", *grads)
        return self.request("POST", f"/v1/sessions/{sid}/step", body, hdrs)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stops the daemon with `sig`; returns its exit code."""
        if self.conn:
            self.conn.close()
            self.conn = None
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self.proc.stdout.close()
        self.log.close()
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.kill9()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def raw_request(port, data, read_timeout=5):
    """Sends raw bytes on a new socket; returns what the server answered."""
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                head, _, rest = out.partition(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        if len(rest) >= int(line.split(b":")[1]):
                            return out
        return out
    finally:
        s.close()


def floats(data):
    return list(struct.unpack(f"<{len(data) // 4}f", data))
