"""The listening socket is the daemon's own: no SO_REUSEPORT (issue 13, finding 11).

With SO_REUSEPORT a second optirsd on the same port started, and the kernel
split connections — Authorization headers included — between the two."""
import subprocess

from daemon import OPTIRSD


def test_second_daemon_on_the_same_port_exits_nonzero_and_the_first_keeps_serving(make_daemon):
    first = make_daemon().start()
    sid = first.create(optimizer="sgd", tensors=[{"name": "w", "shape": [3]}])["id"]
    second = subprocess.Popen([OPTIRSD, "--listen", f"127.0.0.1:{first.port}", "--db", first.dir + "/second.db"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Its first line is "listening on …" if it started, or nothing (EOF) if it exited.
    first_line = second.stdout.readline()
    if first_line:
        second.kill()
        second.communicate()
        raise AssertionError("a second optirsd started on the port of the first: %r" % first_line)
    out, err = second.communicate(timeout=20)
    assert second.returncode != 0
    assert f"cannot listen on 127.0.0.1:{first.port}".encode() in err, err
    # Every new connection still reaches the first daemon, which knows the session.
    for _ in range(16):
        st, body = first.json("GET", f"/v1/sessions/{sid}", headers={"Connection": "close"})
        assert st == 200 and body["id"] == sid
