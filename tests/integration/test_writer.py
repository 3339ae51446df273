"""What the daemon emits and accepts as text, against a real optirsd:
hostile tensor names through the step analytics and the event stream (issue
13, finding 1: a heap overflow in the stream formatter), invalid UTF-8
refused at the input boundary (finding 12's UTF-8 class), event streams that
re-check their key and session (finding 8), and a strict Last-Event-ID."""
import http.client
import json
import threading
import time

import pytest

from daemon import Daemon

QUOTES, BACKSLASHES = '"' * 63, "\\" * 63


@pytest.fixture
def daemon():
    d = Daemon().start()
    yield d
    d.cleanup()


class Stream:
    """An open event stream read on a thread: its data events, and whether it ended."""

    def __init__(self, d, sid, headers=None, query=""):
        self.conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
        self.conn.request("GET", "/v1/sessions/%s/events%s" % (sid, query), headers=headers or {})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.events, self.ended, self.raw = [], threading.Event(), []
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.body = self.resp.read()
            self.ended.set()

    def _read(self):
        try:
            for line in self.resp:
                line = line.decode()
                self.raw.append(line)
                if line.startswith("data: "):
                    self.events.append(json.loads(line[6:]))
        except (OSError, http.client.HTTPException, ValueError, AttributeError):
            pass
        self.ended.set()

    def wait_events(self, n, timeout=20):
        deadline = time.time() + timeout
        while len(self.events) < n and time.time() < deadline and not self.ended.is_set():
            time.sleep(0.02)
        return len(self.events) >= n

    def close(self):
        self.conn.close()


def hostile_session(d):
    return d.create(optimizer="sgd", hyperparams={"lr": 0.1},
                    tensors=[{"name": QUOTES, "shape": [2]}, {"name": BACKSLASHES, "shape": [2]}])["id"]


def test_tensor_names_of_quotes_and_backslashes_stream_and_survive_restart(daemon):
    """The exact reproduction of finding 1: an sgd session with tensors named
    '"'x63 and '\\'x63 and two steps, with an event stream open.  The old
    formatter wrote past its buffer (ASan: heap-buffer-overflow; release:
    malloc abort), and the stored session killed the daemon again after a
    restart."""
    sid = hostile_session(daemon)
    s = Stream(daemon, sid)
    assert s.status == 200
    for k in (1, 2):
        st, body = daemon.step(sid, k, [0.5, -1.0, 2.0, 0.25], loss=1.0)
        assert st == 200, body
    assert s.wait_events(2), s.raw
    assert [e["step"] for e in s.events[:2]] == [1, 2]
    s.close()
    assert daemon.request("GET", "/livez")[0] == 200
    st, summ = daemon.json("GET", "/v1/sessions/%s/summary" % sid)
    assert st == 200, summ
    names = [t["name"] for t in summ["last_extras"]["tensors"]]
    assert names == [QUOTES, BACKSLASHES]
    # the stored session comes back and keeps stepping
    daemon.stop()
    daemon.start()
    st, body = daemon.step(sid, 3, [0.5, -1.0, 2.0, 0.25], loss=1.0)
    assert st == 200, body
    st, summ = daemon.json("GET", "/v1/sessions/%s/summary" % sid)
    assert st == 200 and summ["last_extras"]["step"] == 3
    assert [t["name"] for t in summ["last_extras"]["tensors"]] == [QUOTES, BACKSLASHES]


BAD_UTF8 = [b"\xff", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc3", b"a\x80b"]


def session_body(name=b"ok", tensor=b"w"):
    return (b'{"optimizer":"sgd","hyperparams":{"lr":0.1},"name":"' + name +
            b'","tensors":[{"name":"' + tensor + b'","shape":[2]}],"tags":{"t":"v"}}')


def sessions_listed(d):
    st, h, raw = d.request("GET", "/v1/sessions")
    assert st == 200
    raw.decode("utf-8")                 # strict: the list is valid UTF-8 ...
    return json.loads(raw)["sessions"]  # ... and valid JSON


def test_invalid_utf8_in_names_is_refused_and_nothing_is_stored(daemon):
    """Finding 12, UTF-8: invalid UTF-8 in a session name, a tensor name or a
    tag was stored and echoed, and the session list then broke clients."""
    ok = daemon.create(optimizer="sgd", hyperparams={"lr": 0.1}, name="caf\u00e9 \U0001F600",
                       tensors=[{"name": "w", "shape": [2]}])
    hdr = {"Content-Type": "application/json"}
    bodies = []
    for bad in BAD_UTF8:
        bodies += [session_body(name=bad), session_body(tensor=bad),
                   session_body().replace(b'"t":"v"', b'"t":"' + bad + b'"'),
                   session_body().replace(b'"t":"v"', b'"' + bad + b'":"v"')]
    # NUL code points: escaped (cJSON would cut the string there) in a name and a tag
    bodies += [session_body(name=b"a\\u0000b"), session_body(tensor=b"w\\u0000x"),
               session_body().replace(b'"t":"v"', b'"t":"v\\u0000"')]
    for body in bodies:
        st, _, raw = daemon.request("POST", "/v1/sessions", body, hdr)
        assert st == 400, (body, raw)
        err = json.loads(raw)["error"]
        assert err["code"] == "invalid_utf8", (body, err)
    listed = sessions_listed(daemon)
    assert [s["id"] for s in listed] == [ok["id"]]
    assert listed[0]["name"] == "caf\u00e9 \U0001F600"
    # the same over a restart: nothing invalid was written
    daemon.stop()
    daemon.start()
    assert [s["id"] for s in sessions_listed(daemon)] == [ok["id"]]


def test_invalid_utf8_in_feedback_metrics_step_worker_and_meta_jobs_is_refused(daemon):
    sid = daemon.create(optimizer="sgd", hyperparams={"lr": 0.1}, tensors=[{"name": "w", "shape": [2]}],
                        workers=2)["id"]
    hdr = {"Content-Type": "application/json"}
    st, _, raw = daemon.request("POST", "/v1/sessions/%s/feedback" % sid,
                                b'{"step":1,"loss":1.0,"metrics":{"acc\xff":0.5}}', hdr)
    assert st == 400 and json.loads(raw)["error"]["code"] == "invalid_utf8", raw
    st, _, raw = daemon.request("POST", "/v1/sessions/%s/step" % sid,
                                b'{"step":1,"grads":[1,2],"worker":"w\xed\xa0\x80"}', hdr)
    assert st == 400 and json.loads(raw)["error"]["code"] == "invalid_utf8", raw
    st, _, raw = daemon.request("POST", "/v1/sessions/%s/step" % sid, b'\x00\x00\x80?\x00\x00\x00@',
                                {"Content-Type": "application/octet-stream", "X-Optirs-Step": "1",
                                 "X-Optirs-Worker": b"w\xc0\xaf".decode("latin-1")})
    assert st == 400 and json.loads(raw)["error"]["code"] == "invalid_utf8", raw
    st, _, raw = daemon.request("POST", "/v1/meta/jobs", b'{"optimizer":"mlp_lopt\xff"}', hdr)
    assert st == 400 and json.loads(raw)["error"]["code"] == "invalid_utf8", raw
    st, fb = daemon.json("GET", "/v1/sessions/%s/feedback" % sid)
    assert st == 200 and fb["feedback"] == []
    st, d = daemon.json("GET", "/v1/sessions/%s" % sid)
    assert st == 200 and d["step"] == 0


def test_error_messages_quoting_invalid_utf8_stay_valid_json(daemon):
    # a query value is quoted back in the error message: the answer stays valid UTF-8 and JSON
    st, _, raw = daemon.request("GET", "/v1/compare?ids=%FF%C0%AF")
    assert 400 <= st < 500
    json.loads(raw.decode("utf-8"))


def keyed_daemon(make_daemon):
    import subprocess
    from daemon import OPTIRSD
    d = make_daemon()
    r = subprocess.run([OPTIRSD, "keys", "create", "--tenant", "ops", "--admin", "--db", d.db],
                       capture_output=True, timeout=30)
    assert r.returncode == 0
    d.start()
    admin = r.stdout.decode().strip()
    st, body = d.json("POST", "/v1/keys", {"tenant": "alice"}, headers={"Authorization": "Bearer " + admin})
    assert st == 201
    return d, admin, body["key"]


def test_event_stream_ends_when_its_key_is_revoked(make_daemon):
    """Finding 8: a stream opened before its key was revoked kept receiving steps."""
    d, admin, alice = keyed_daemon(make_daemon)
    ah, oh = {"Authorization": "Bearer " + alice}, {"Authorization": "Bearer " + admin}
    st, body = d.json("POST", "/v1/sessions", {"optimizer": "sgd", "hyperparams": {"lr": 0.1},
                                               "tensors": [{"shape": [2]}]}, headers=ah)
    assert st == 201
    sid = body["id"]
    s = Stream(d, sid, headers=ah)
    assert s.status == 200
    assert d.json("POST", "/v1/sessions/%s/step" % sid, {"step": 1, "grads": [1, 1]}, headers=ah)[0] == 200
    assert s.wait_events(1)
    st, _ = d.json("DELETE", "/v1/keys/%s" % alice[3:19], headers=oh)
    assert st == 200
    assert s.ended.wait(20), "the stream outlived its key"
    # steps by someone still allowed (the admin) reach no stream of the revoked key
    assert d.json("POST", "/v1/sessions/%s/step" % sid, {"step": 2, "grads": [1, 1]}, headers=oh)[0] == 200
    assert [e["step"] for e in s.events] == [1]
    s.close()


def test_event_stream_ends_when_its_key_is_revoked_by_another_process(make_daemon):
    import subprocess
    from daemon import OPTIRSD
    d, admin, alice = keyed_daemon(make_daemon)
    ah = {"Authorization": "Bearer " + alice}
    st, body = d.json("POST", "/v1/sessions", {"optimizer": "sgd", "hyperparams": {"lr": 0.1},
                                               "tensors": [{"shape": [2]}]}, headers=ah)
    sid = body["id"]
    s = Stream(d, sid, headers=ah)
    assert s.status == 200
    r = subprocess.run([OPTIRSD, "keys", "revoke", alice[3:19], "--db", d.db], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert s.ended.wait(20), "an idle stream outlived its key (revoked by the CLI)"
    s.close()


def test_event_stream_on_a_deleted_session_ends(daemon):
    """Finding 8: a stream on a deleted session stayed open forever."""
    sid = daemon.create(optimizer="sgd", hyperparams={"lr": 0.1}, tensors=[{"shape": [2]}])["id"]
    s = Stream(daemon, sid)
    assert s.status == 200
    assert daemon.step(sid, 1, [1, 1])[0] == 200
    assert s.wait_events(1)
    assert daemon.json("DELETE", "/v1/sessions/%s" % sid)[0] == 200
    assert s.ended.wait(20), "the stream outlived its session"
    s.close()


def test_last_event_id_must_be_a_step_number(daemon):
    """Finding 12: Last-Event-ID 1e308 went through strtod and an undefined
    float-to-int cast."""
    sid = daemon.create(optimizer="sgd", hyperparams={"lr": 0.1}, tensors=[{"shape": [2]}])["id"]
    for value in ["1e308", "-1", "1.5", "", "+1", "0x10", "\uff11", "99999999999999999999", "9000000000000001",
                  "1 2", "inf", "nan"]:
        s = Stream(daemon, sid, headers={"Last-Event-ID": value.encode("utf-8").decode("latin-1")})
        assert s.status == 400, value
        assert json.loads(s.body)["error"]["code"] == "invalid_header", value
        s.close()


def test_last_event_id_replays_the_steps_after_it(daemon):
    sid = daemon.create(optimizer="sgd", hyperparams={"lr": 0.1}, tensors=[{"shape": [2]}])["id"]
    for k in (1, 2, 3, 4):
        assert daemon.step(sid, k, [1, 1])[0] == 200
    for value, want in (("2", [3, 4]), ("0", [1, 2, 3, 4]), ("9000000000000000", [])):
        s = Stream(daemon, sid, headers={"Last-Event-ID": value})
        assert s.status == 200
        assert s.wait_events(len(want))
        s.close()
        assert [e["step"] for e in s.events][:len(want)] == want


def test_open_mode_stream_ends_once_a_key_exists(make_daemon):
    """A stream opened without a key (open mode) is not kept once the daemon
    needs keys: its reader was never authenticated."""
    import subprocess
    from daemon import OPTIRSD
    d = make_daemon().start()
    sid = d.create(optimizer="sgd", hyperparams={"lr": 0.1}, tensors=[{"shape": [2]}])["id"]
    s = Stream(d, sid)
    assert s.status == 200
    r = subprocess.run([OPTIRSD, "keys", "create", "--tenant", "ops", "--admin", "--db", d.db],
                       capture_output=True, timeout=30)
    assert r.returncode == 0
    assert s.ended.wait(20), "an unauthenticated stream outlived open mode"
    s.close()
