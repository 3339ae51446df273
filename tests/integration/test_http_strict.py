"""HTTP strictness (issue 13, finding 12): each test sends the issue's exact
input over a raw socket to the real daemon and checks the answer is a prompt
4xx/5xx with a stable code, and that nothing is served that should not be."""
import json
import socket
import time

from daemon import raw_request


def status_and_code(out):
    """(status, error code or None) of a raw HTTP answer."""
    assert out.startswith(b"HTTP/1."), out[:200]
    status = int(out.split(b" ", 2)[1])
    body = out.partition(b"\r\n\r\n")[2]
    try:
        return status, json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return status, None


def test_unknown_transfer_coding_is_501_at_once(daemon):
    s = daemon.create(optimizer="sgd", tensors=[{"shape": [3]}])
    raw = (b"POST /v1/sessions/" + s["id"].encode() + b"/step HTTP/1.1\r\nHost: x\r\n"
           b"Content-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
    # The body is never sent: the answer must come from the headers alone
    # (the old daemon waited for a body it could not frame until its timeout).
    out = raw_request(daemon.port, raw, read_timeout=20)
    assert status_and_code(out) == (501, "not_implemented"), out[:300]
    for te in (b"gzip", b"chunked, gzip", b"identity"):
        out = raw_request(daemon.port, b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te +
                          b"\r\n\r\n", read_timeout=20)
        assert status_and_code(out) == (501, "not_implemented"), (te, out[:300])
    # Plain chunked still works.
    body = b'{"step":1,"grads":[1,2,3]}'
    raw = (b"POST /v1/sessions/" + s["id"].encode() + b"/step HTTP/1.1\r\nHost: x\r\n"
           b"Content-Type: application/json\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n" +
           b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    out = raw_request(daemon.port, raw, read_timeout=20)
    assert out.startswith(b"HTTP/1.1 200"), out[:300]


def test_http11_without_host_is_400(daemon):
    out = raw_request(daemon.port, b"GET /livez HTTP/1.1\r\n\r\n", read_timeout=20)
    assert status_and_code(out) == (400, "invalid_header"), out[:300]
    out = raw_request(daemon.port, b"GET /livez HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", read_timeout=20)
    assert status_and_code(out) == (400, "invalid_header"), out[:300]
    # HTTP/1.0 needs no Host.
    out = raw_request(daemon.port, b"GET /livez HTTP/1.0\r\n\r\n", read_timeout=20)
    assert out.startswith(b"HTTP/1.0 200") or out.startswith(b"HTTP/1.1 200"), out[:300]


def test_encoded_nul_and_slash_are_not_decoded_before_routing(daemon):
    s = daemon.create(optimizer="sgd", tensors=[{"shape": [3]}])
    sid = s["id"].encode()
    for path in (b"/v1/sessions/" + sid + b"%00/params", b"/v1/sessions/" + sid + b"%00x/params",
                 b"/v1/sessions%2F" + sid + b"/params", b"/v1/sessions/" + sid + b"%2f",
                 b"/v1/sessions/" + sid + b"%zz/params", b"/v1/sessions/" + sid + b"%0"):
        out = raw_request(daemon.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n", read_timeout=20)
        assert status_and_code(out) == (400, "invalid_path"), (path, out[:300])
        assert b'"params"' not in out
    # Other escapes are not decoded either: no route has them.
    out = raw_request(daemon.port, b"GET /v1/sessions/" + sid + b"%41/params HTTP/1.1\r\nHost: x\r\n\r\n",
                      read_timeout=20)
    assert status_and_code(out) == (404, "not_found"), out[:300]
    out = raw_request(daemon.port, b"GET /v1/%73essions/" + sid + b"/params HTTP/1.1\r\nHost: x\r\n\r\n",
                      read_timeout=20)
    assert status_and_code(out) == (404, "not_found"), out[:300]
    # An encoded NUL in a query value would cut it short: ids=ID%00,nope compared ID alone.
    for q in (b"ids=" + sid + b"%00,nope", b"ids%00x=" + sid):
        out = raw_request(daemon.port, b"GET /v1/compare?" + q + b" HTTP/1.1\r\nHost: x\r\n\r\n", read_timeout=20)
        assert status_and_code(out) == (400, "invalid_argument"), (q, out[:300])
    # The plain path still serves the session, and query values are still decoded.
    st, p = daemon.json("GET", f"/v1/sessions/{s['id']}/params")
    assert st == 200 and p["params"] == [0.0, 0.0, 0.0]
    st, body = daemon.json("GET", "/v1/sessions?limit=%31")
    assert st == 200, body


def test_a_query_parameter_given_twice_is_refused(daemon):
    # One of the two would be used silently: limit=1&limit=2 listed with limit 1.
    for q in ("limit=1&limit=2", "limit=1&after=0&limit=1", "limit=%31&limit=1"):
        st, body = daemon.json("GET", "/v1/sessions?" + q)
        assert st == 400 and body["error"]["code"] == "invalid_argument", (q, body)
        assert "given more than once" in body["error"]["message"]
    st, body = daemon.json("GET", "/v1/meta/jobs?limit=1&limit=1000")
    assert st == 400 and body["error"]["code"] == "invalid_argument", body
    # Distinct parameters still pass.
    st, body = daemon.json("GET", "/v1/sessions?limit=1")
    assert st == 200, body


def test_many_query_parameters_get_an_answer(daemon):
    # ~450 parameters once exhausted libmicrohttpd's connection pool: no answer at all.
    for n in (33, 450, 1000, 3000):
        q = "&".join(f"p{i}=1" for i in range(n)).encode()
        out = raw_request(daemon.port, b"GET /v1/sessions?" + q + b" HTTP/1.1\r\nHost: x\r\n\r\n", read_timeout=20)
        assert status_and_code(out) == (414, "too_many_query_parameters"), (n, out[:300])
    # A request line longer than libmicrohttpd's read buffer: its own 414.
    q = b"&".join(b"p%d=%s" % (i, b"v" * 100) for i in range(400))
    out = raw_request(daemon.port, b"GET /v1/sessions?" + q + b" HTTP/1.1\r\nHost: x\r\n\r\n", read_timeout=20)
    assert out.startswith(b"HTTP/1.1 414"), out[:300]
    # 32 parameters are fine (unknown ones are ignored by the route).
    q = "&".join(f"p{i}=1" for i in range(32))
    st, body = daemon.json("GET", "/v1/sessions?" + q)
    assert st == 200, body
    assert daemon.json("GET", "/livez")[0] == 200


def test_many_headers_get_431(daemon):
    hdrs = b"".join(b"X-%d: 1\r\n" % i for i in range(3000))
    t = socket.create_connection(("127.0.0.1", daemon.port), timeout=20)
    try:
        t.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n")
        out = b""
        while True:
            chunk = t.recv(65536)   # raises socket.timeout (fails) on a hang
            if not chunk:
                break
            out += chunk
    finally:
        t.close()
    # libmicrohttpd's own answer once its pool is used up (~450 short headers)
    assert out.startswith(b"HTTP/1.1 431"), out[:300]
    assert daemon.json("GET", "/livez")[0] == 200


def test_slow_headers_hit_the_total_header_deadline(make_daemon):
    d = make_daemon("--header-timeout", "3", "--connection-timeout", "60").start()
    s = socket.create_connection(("127.0.0.1", d.port), timeout=30)
    sent = 0
    closed = False
    try:
        s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
        # One header line a second, each within the 60 s per-read timeout: the
        # old daemon kept reading for as long as the client kept sending.
        for i in range(30):
            time.sleep(1)
            try:
                s.sendall(b"X-Slow-%d: 1\r\n" % i)
                sent += 1
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            s.setblocking(False)
            try:
                if s.recv(4096) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            except ConnectionResetError:
                closed = True
                break
            finally:
                s.setblocking(True)
    finally:
        s.close()
    assert closed, "the connection stayed open while headers trickled in"
    assert sent < 30
    # A normal request on a new connection is unaffected.
    assert d.json("GET", "/livez")[0] == 200


def test_unknown_route_or_method_is_answered_before_the_body(daemon):
    # A declared body to a route that does not exist (or does not take the
    # method) is answered from the headers: the body is never sent here, and
    # the old daemon waited for all of it before its 404/405.
    for line in (b"PUT /v1/weights/foo/1", b"POST /v1/nothing", b"PATCH /v1/sessions"):
        raw = line + (b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                      b"Content-Length: 99999999\r\n\r\n")
        out = raw_request(daemon.port, raw, read_timeout=20)
        st, code = status_and_code(out)
        assert (st, code) in ((404, "not_found"), (405, "method_not_allowed")), (line, out[:300])
    assert daemon.json("GET", "/livez")[0] == 200
