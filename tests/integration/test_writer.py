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
