"""The shipped sharding front (deploy/nginx/nginx.conf) run by Debian's nginx
on loopback for the tests: the shipped file with only the lines marked
"(rendered by the test)" replaced (render), started in the foreground in a
temporary prefix (Front).  Used by test_deploy_nginx.py and
test_cluster_front.py."""
import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import time

from daemon import ROOT

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
CONF = os.path.join(ROOT, "deploy", "nginx", "nginx.conf")


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def render(text, tmp, listen_port, daemon_ports):
    """The shipped config for loopback: only the marked lines change."""
    out, servers = [], iter(daemon_ports)
    for line in text.splitlines():
        if "(rendered by the test)" not in line or line.lstrip().startswith("#"):
            out.append(line)
            continue
        ind = line[:len(line) - len(line.lstrip())]
        d = line.split()[0]
        if d == "pid":
            out.append(ind + "pid %s/nginx.pid;" % tmp)
        elif d == "error_log":
            out.append(ind + "error_log %s/error.log info;" % tmp)
        elif d.endswith("_temp_path"):
            out.append(ind + "%s %s/%s;" % (d, tmp, d))
        elif d == "server":
            out.append(ind + "server 127.0.0.1:%d max_fails=0;" % next(servers))
        elif d == "listen":
            out.append(ind + "listen 127.0.0.1:%d;" % listen_port)
        else:
            raise AssertionError("unexpected marked line: " + line)
    assert next(servers, None) is None, "the shipped upstream has fewer servers than daemons"
    if os.geteuid() == 0:          # workers run as the current user, not nobody
        out.insert(0, "user root root;")
    return "\n".join(out) + "\n"


class Front:
    def __init__(self, daemons):
        self.dir = tempfile.mkdtemp(prefix="optirs-nginx-")
        self.port = free_port()
        with open(CONF) as f:
            conf = render(f.read(), self.dir, self.port, [d.port for d in daemons])
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        chk = subprocess.run([NGINX, "-t", "-p", self.dir, "-c", self.conf, "-e", self.dir + "/error.log"],
                             capture_output=True, text=True)
        assert chk.returncode == 0, chk.stderr
        self.proc = subprocess.Popen([NGINX, "-p", self.dir, "-c", self.conf, "-e", self.dir + "/error.log",
                                      "-g", "daemon off;"], stderr=subprocess.PIPE)
        deadline = time.time() + 20
        while True:
            try:
                st, _, _ = self.request("GET", "/healthz")
                if st == 200:
                    break
            except OSError:
                pass
            assert self.proc.poll() is None, self.proc.stderr.read().decode()
            assert time.time() < deadline, "nginx did not start"
            time.sleep(0.05)

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)
