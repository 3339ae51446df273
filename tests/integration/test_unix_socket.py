"""The daemon on a unix socket file (--listen unix:PATH, listen.h).

The same API over both transports: a representative set of the TCP tests of
test_sessions.py, test_auth.py and test_errors.py is imported here and runs
again with this module's `daemon` and `make_daemon` fixtures, which start the
daemon on a socket file instead of a port (create, steps in JSON and binary,
feedback, get, list, delete, keys and tenants, idempotency keys, 4xx
answers), and of test_cli.py (the `optirs` tool with a unix:/// URL); the
live event stream and a unix peer's connection limits are tested below.  Hostile set-ups: a path longer than sun_path, a missing
directory, a regular file or a live socket already at the path (the second
daemon must refuse, not steal it), a relative path, a bad --listen-mode and
TLS on a socket file; a stale socket file (a killed daemon's) is replaced,
and a clean shutdown removes the file."""
import json
import os
import socket
import stat
import subprocess
import threading
import time

import pytest

from daemon import OPTIRSD, Daemon, UnixHTTPConnection

# The same tests, over the socket file (they pick up this module's fixtures).
from test_sessions import (  # noqa: F401
    test_health_config_and_optimizers, test_create_fills_defaults_and_get_matches,
    test_sgd_step_json_update_and_params, test_adam_trajectory_matches_reference_over_http,
    test_binary_and_json_agree_and_accept_negotiates, test_sequencing_retry_is_byte_identical_and_applies_nothing,
    test_feedback_is_stored_and_listed, test_list_paginates_and_delete_removes, test_prometheus_metrics)
from test_auth import (  # noqa: F401
    test_every_route_needs_a_key_once_one_exists, test_tenants_see_only_their_sessions, test_idempotency_keys)
from test_errors import test_step_rejects_and_changes_nothing, test_unknown_routes_methods_and_sessions  # noqa: F401
from test_cli import (  # noqa: F401  (the `optirs` tool with OPTIRS_URL=unix:///…; `built` builds it)
    OPTIRS, built, cli, test_sessions_show_and_rm, test_optimizers_table_and_json, test_keys_create_ls_rm_and_auth)


# conftest.py's daemon and make_daemon put every daemon of this module on a
# unix socket file (make_daemon(unix=False) still makes a TCP one).
DAEMON_UNIX = True


def run_optirsd(*args, timeout=30):
    r = subprocess.run([OPTIRSD, *args], capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def test_the_fixture_serves_a_socket_file_only(daemon):
    st = os.lstat(daemon.sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    assert daemon.port is None
    st, cfg = daemon.json("GET", "/v1/config")
    assert st == 200 and cfg["listen"] == "unix:" + daemon.sock and cfg["listen-mode"] == "0660"


def test_optirs_tool_takes_a_unix_url(daemon, tmp_path):
    rc, out, err = cli(daemon, "--url", daemon.url, "optimizers", "--json", url="http://127.0.0.1:1")
    assert rc == 0 and "adam" in [o["name"] for o in json.loads(out)["optimizers"]], err
    missing = "unix://%s" % (tmp_path / "none.sock")
    rc, out, err = cli(daemon, "optimizers", url=missing)
    assert rc == 3 and "cannot reach " + missing in err, err
    rc, out, err = cli(daemon, "optimizers", url="unix://relative.sock")
    assert rc == 2


def test_clean_shutdown_removes_the_socket_file(make_daemon):
    d = make_daemon().start()
    assert os.path.exists(d.sock)
    assert d.stop() == 0
    assert not os.path.exists(d.sock)


def test_listen_mode_sets_the_file_permissions(make_daemon):
    d = make_daemon("--listen-mode", "0600").start()
    assert stat.S_IMODE(os.lstat(d.sock).st_mode) == 0o600
    assert d.json("GET", "/readyz")[0] == 200


def test_events_stream_over_the_socket_file(daemon):
    sid = daemon.create(optimizer="sgd", hyperparams={"lr": 0.5}, tensors=[{"name": "w", "shape": [2]}])["id"]
    assert daemon.step(sid, 1, [1.0, 2.0])[0] == 200
    conn = daemon.new_connection(timeout=20)
    conn.request("GET", "/v1/sessions/%s/events?backlog=1" % sid)
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
    events, done = [], threading.Event()

    def reader():
        for line in resp:
            line = line.decode().strip()
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
        done.set()
    threading.Thread(target=reader, daemon=True).start()
    assert daemon.step(sid, 2, [0.5, 0.5])[0] == 200
    deadline = time.time() + 10
    while len(events) < 2 and time.time() < deadline:
        time.sleep(0.05)
    assert [e["step"] for e in events] == [1, 2]
    daemon.proc.terminate()       # draining ends the stream, the daemon exits and removes its file
    assert done.wait(10)
    assert daemon.proc.wait(timeout=20) == 0
    assert not os.path.exists(daemon.sock)


def test_a_unix_peer_is_not_held_to_the_per_address_limit(make_daemon):
    # Every unix peer has the same (empty) address: --max-connections-per-ip
    # does not apply to it (the file mode decides who connects);
    # --max-connections still does.
    d = make_daemon("--max-connections-per-ip", "1").start()
    conns = [d.new_connection(timeout=10) for _ in range(3)]
    try:
        for c in conns:
            c.request("GET", "/readyz")          # all three open at once
        for c in conns:
            r = c.getresponse()
            assert r.status == 200 and json.loads(r.read())["status"] == "ready"
    finally:
        for c in conns:
            c.close()


def test_too_long_path_is_refused(tmp_path):
    path = "/tmp/" + "s" * 103          # 108 bytes: one more than sun_path holds
    assert len(path) == 108
    rc, out, err = run_optirsd("--listen", "unix:" + path, "--db", str(tmp_path / "x.db"))
    assert rc == 1 and "listening" not in out
    assert "longer than the 107 a unix socket address holds" in err
    assert not os.path.exists(path)


def test_missing_directory_is_refused(tmp_path):
    path = tmp_path / "no" / "such" / "dir" / "optirs.sock"
    rc, out, err = run_optirsd("--listen", "unix:%s" % path, "--db", str(tmp_path / "x.db"))
    assert rc == 1 and "the directory of %s does not exist" % path in err
    assert not (tmp_path / "no").exists()


def test_relative_path_and_bad_mode_are_refused(tmp_path):
    rc, _, err = run_optirsd("--listen", "unix:optirs.sock", "--db", str(tmp_path / "x.db"))
    assert rc == 1 and "needs an absolute path" in err
    path = tmp_path / "o.sock"
    rc, _, err = run_optirsd("--listen", "unix:%s" % path, "--listen-mode", "0860", "--db", str(tmp_path / "x.db"))
    assert rc == 1 and "--listen-mode must be an octal file mode" in err
    assert not path.exists()


def test_regular_file_at_the_path_is_kept_and_refused(tmp_path):
    path = tmp_path / "precious.db"
    path.write_bytes(b"do not delete")
    rc, _, err = run_optirsd("--listen", "unix:%s" % path, "--db", str(tmp_path / "x.db"))
    assert rc == 1 and "exists and is not a socket: refusing to replace it" in err
    assert path.read_bytes() == b"do not delete"


def test_tls_on_a_socket_file_is_refused(tmp_path):
    rc, _, err = run_optirsd("--listen", "unix:%s" % (tmp_path / "o.sock"), "--tls-cert", "/nonexistent.pem",
                             "--tls-key", "/nonexistent.key", "--db", str(tmp_path / "x.db"))
    assert rc == 1 and "TLS is not served on a unix socket" in err
    assert not (tmp_path / "o.sock").exists()


def test_second_daemon_on_the_same_path_refuses_and_the_first_keeps_it(make_daemon):
    first = make_daemon().start()
    sid = first.create(optimizer="sgd", tensors=[{"name": "w", "shape": [3]}])["id"]
    inode = os.lstat(first.sock).st_ino
    second = subprocess.Popen([OPTIRSD, "--listen", "unix:" + first.sock, "--db", first.dir + "/second.db"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first_line = second.stdout.readline()
    if first_line:
        second.kill()
        second.communicate()
        raise AssertionError("a second optirsd started on the socket of the first: %r" % first_line)
    out, err = second.communicate(timeout=20)
    assert second.returncode == 1
    assert b"another process (perhaps another optirsd) answers on " + first.sock.encode() in err, err
    assert os.lstat(first.sock).st_ino == inode          # not replaced
    for _ in range(8):
        st, body = first.json("GET", f"/v1/sessions/{sid}", headers={"Connection": "close"})
        assert st == 200 and body["id"] == sid


def test_stale_socket_of_a_killed_daemon_is_replaced(make_daemon):
    d = make_daemon().start()
    sid = d.create(optimizer="sgd", durability="step", tensors=[{"name": "w", "shape": [3]}])["id"]
    d.kill9()
    assert stat.S_ISSOCK(os.lstat(d.sock).st_mode)       # left behind
    with pytest.raises(ConnectionRefusedError):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(d.sock)
        finally:
            s.close()
    again = make_daemon(tmpdir=d.dir, db=d.db).start()    # the same path, the same database
    assert again.sock == d.sock
    st, body = again.json("GET", f"/v1/sessions/{sid}")
    assert st == 200 and body["id"] == sid
    c = UnixHTTPConnection(d.sock, timeout=10)
    c.request("GET", "/readyz")
    assert c.getresponse().status == 200
    c.close()


def test_an_early_answer_reaches_the_client_although_the_body_was_cut(make_daemon):
    # 413 is answered from the headers and the daemon closes: on a socket file
    # the client's send fails at once (EPIPE), and the answer is read after it.
    d = make_daemon("--max-binary-body", "4096").start()
    sid = d.create(optimizer="sgd", tensors=[{"name": "w", "shape": [1024]}])["id"]
    st, h, body = d.step_binary(sid, 1, [0.0] * (1 << 18))
    assert st == 413 and json.loads(body)["error"]["code"] == "body_too_large"
    st, h, body = d.step_binary(sid, 1, [1.0] * 1024)
    assert st == 200 and len(body) == 4096
