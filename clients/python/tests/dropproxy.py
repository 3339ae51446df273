"""A tiny HTTP/1.1 forwarding proxy for loopback tests that can lose answers.

Each request read from a client connection is forwarded to the upstream on a
new connection and its full answer read back; when ``drop`` is positive the
answer is thrown away and the client connection closed instead (the request
reached the daemon, its reply was lost), and ``drop`` decreases.  Requests
and answers must carry Content-Length (optirsd's do)."""
import socket
import threading


def _read_message(sock, buf):
    """Reads one HTTP message (head + Content-Length body) from sock; returns
    (message bytes, leftover) or (None, b"") at EOF."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v.strip())
    while len(rest) < n:
        chunk = sock.recv(max(65536, n - len(rest)))
        if not chunk:
            return None, b""
        rest += chunk
    return head + b"\r\n\r\n" + rest[:n], rest[n:]


class DropProxy:
    def __init__(self, upstream_port):
        self.upstream = ("127.0.0.1", upstream_port)
        self.drop = 0
        self.forwarded = 0
        self.dropped = 0
        self.lock = threading.Lock()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.port = self.srv.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        try:
            while True:
                req, buf = _read_message(c, buf)
                if req is None:
                    return
                u = socket.create_connection(self.upstream, timeout=30)
                try:
                    u.sendall(req)
                    resp, _ = _read_message(u, b"")
                finally:
                    u.close()
                with self.lock:
                    self.forwarded += 1
                    lose = self.drop > 0
                    if lose:
                        self.drop -= 1
                        self.dropped += 1
                if lose or resp is None:
                    return
                c.sendall(resp)
        except OSError:
            return
        finally:
            c.close()

    def close(self):
        self.closed = True
        self.srv.close()
