"""The binary step answer goes out of the session's own update vector, not a
copy (server/sessions.c, service/updbuf.h): these tests check that an answer
still being sent never changes when later steps of the same session run, and
that an answer whose client went away is let go.

The answer of step 1 is made larger than the loopback socket buffers (16 MB)
and its client does not read it, so that libmicrohttpd is still sending it
while other connections run steps 2..4: the session must write those updates
elsewhere.  Outcomes only, no timings."""
import array
import json
import socket
import time

from daemon import Daemon

N = 4_000_000                      # 16 MB of float32: more than loopback buffers hold
ONE = b"\x00\x00\x80\x3f"          # 1.0f, little-endian
MINUS_ONE = b"\x00\x00\x80\xbf"    # -1.0f
WAIT_S = 120


def step_request(sid, k, grad_bytes):
    head = ("POST /v1/sessions/%s/step HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/octet-stream\r\nAccept: application/octet-stream\r\n"
            "X-Optirs-Step: %d\r\nContent-Length: %d\r\n\r\n" % (sid, k, len(grad_bytes))).encode()
    return head + grad_bytes


def read_answer(s):
    """Reads one HTTP answer from socket s: (status, headers, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, "connection closed before the headers"
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    need = int(hdrs["content-length"])
    body = bytearray(rest)
    while len(body) < need:
        chunk = s.recv(min(1 << 20, need - len(body)))
        assert chunk, "connection closed inside the body"
        body += chunk
    return status, hdrs, bytes(body)


def step_until_applied(d, sid, k, grad_bytes):
    """Step k on d's connection; a step_conflict expecting k-1 means step k-1
    (sent on another connection) is not applied yet: send again."""
    deadline = time.monotonic() + WAIT_S
    while True:
        st, h, data = d.request("POST", "/v1/sessions/%s/step" % sid, grad_bytes,
                                {"Content-Type": "application/octet-stream",
                                 "Accept": "application/octet-stream", "X-Optirs-Step": str(k)})
        if st == 200:
            return data
        err = json.loads(data)["error"]
        assert st == 409 and err["code"] == "step_conflict" and err["expected"] == k - 1, (st, data[:300])
        assert time.monotonic() < deadline, "step %d never became appliable" % k
        time.sleep(0.01)


def floats(data):
    a = array.array("f")
    a.frombytes(data)
    return a


def test_answer_in_flight_survives_later_steps():
    d = Daemon("--max-binary-body", "67108864").start()
    try:
        sid = d.create(optimizer="adam", hyperparams={"lr": 0.01},
                       tensors=[{"name": "w", "shape": [N]}])["id"]
        slow = socket.create_connection(("127.0.0.1", d.port), timeout=WAIT_S)
        try:
            slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            slow.sendall(step_request(sid, 1, ONE * N))
            # Steps 2..4 (the opposite gradient) while step 1's answer waits
            # in its unread socket; their updates differ from step 1's.
            later = [step_until_applied(d, sid, k, MINUS_ONE * N) for k in (2, 3, 4)]
            status, hdrs, body = read_answer(slow)
        finally:
            slow.close()
        assert status == 200 and hdrs["x-optirs-step"] == "1"
        assert len(body) == 4 * N
        u1 = floats(body)
        # Adam's first step is -lr * g / (|g| + eps): the same value everywhere.
        assert u1[0] < 0 and abs(u1[0] + 0.01) < 1e-4
        assert min(u1) == max(u1) == u1[0]
        for data in later:
            u = floats(data)
            assert min(u) == max(u) and u[0] != u1[0]
        # The session still answers a retry of its last step from its own vector.
        assert step_until_applied(d, sid, 4, MINUS_ONE * N) == later[-1]
    finally:
        d.cleanup()


def test_answer_whose_client_left_is_released():
    d = Daemon().start()
    try:
        n = 1_000_000
        sid = d.create(optimizer="adam", tensors=[{"name": "w", "shape": [n]}])["id"]
        for k in (1, 2, 3):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=WAIT_S)
            s.sendall(step_request(sid, k, ONE * n))
            s.close()   # gone before (or while) its answer is sent
            # Step k again: applied now, or a retry answered from the stored
            # update when the abandoned request got there first.
            st, h, data = d.request("POST", "/v1/sessions/%s/step" % sid, ONE * n,
                                    {"Content-Type": "application/octet-stream",
                                     "Accept": "application/octet-stream", "X-Optirs-Step": str(k)})
            assert st == 200 and h["x-optirs-step"] == str(k) and len(data) == 4 * n
        st, _ = d.json("DELETE", "/v1/sessions/%s" % sid)
        assert st == 200
        st, _, _ = d.request("GET", "/livez")
        assert st == 200
    finally:
        d.cleanup()
