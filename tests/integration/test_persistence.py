"""Restarts: every session comes back where its durable state says."""
import signal
import sqlite3
import time

import numpy as np

from daemon import Daemon, floats

T = [{"name": "w", "shape": [2, 2]}, {"name": "b", "shape": [2]}]


def drive(d, sid, k0, k1, seed):
    rng = np.random.default_rng(seed)
    last = None
    for k in range(k0, k1 + 1):
        g = rng.standard_normal(6).astype(np.float32).tolist()
        st, h, body = d.step_binary(sid, k, g)
        assert st == 200
        last = body
    return last


def test_sigterm_saves_everything_and_exits_zero(make_daemon):
    d = make_daemon().start()
    a = d.create(optimizer="adam", tensors=T, durability="checkpoint")
    b = d.create(optimizer="rmsprop", tensors=T, durability="step")
    drive(d, a["id"], 1, 7, 1)
    drive(d, b["id"], 1, 5, 2)
    pa = d.json("GET", f"/v1/sessions/{a['id']}/params")[1]
    pb = d.json("GET", f"/v1/sessions/{b['id']}/params")[1]
    assert d.stop(signal.SIGTERM) == 0
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    assert d2.json("GET", f"/v1/sessions/{a['id']}/params")[1] == pa
    assert d2.json("GET", f"/v1/sessions/{b['id']}/params")[1] == pb
    ga = d2.json("GET", f"/v1/sessions/{a['id']}")[1]
    assert ga["step"] == 7 and ga["optimizer"] == "adam" and ga["tensors"] == a["tensors"]


def test_kill9_durability_step_loses_nothing_and_retry_is_answered(make_daemon):
    d = make_daemon().start()
    s = d.create(optimizer="adam", hyperparams={"lr": 0.01}, tensors=T, durability="step")
    sid = s["id"]
    last = drive(d, sid, 1, 9, 3)
    before = d.json("GET", f"/v1/sessions/{sid}/params")[1]
    d.kill9()
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    assert d2.json("GET", f"/v1/sessions/{sid}/params")[1] == before
    # The reply to step 9 was "lost": the retry gets the stored answer, byte for byte.
    st, h, again = d2.step_binary(sid, 9, [100.0] * 6)
    assert st == 200 and again == last
    assert d2.json("GET", f"/v1/sessions/{sid}/params")[1] == before
    # And the optimizer state came back too: the next step equals an uninterrupted twin's.
    twin_d = make_daemon().start()
    twin = twin_d.create(optimizer="adam", hyperparams={"lr": 0.01}, tensors=T)
    drive(twin_d, twin["id"], 1, 9, 3)
    g = [0.5, -0.5, 1.0, 2.0, -1.0, 0.25]
    assert d2.step_binary(sid, 10, g)[2] == twin_d.step_binary(twin["id"], 10, g)[2]


def committed_step(db, sid):
    """The step of sid's snapshot as committed in the database file (a read-only reader beside the daemon)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT step FROM sessions WHERE id = ?", (sid,)).fetchone()
    finally:
        con.close()
    return row[0] if row else None


def wait_for(cond, seconds):
    end = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.02)


def test_kill9_checkpoint_mode_is_within_the_window(make_daemon):
    d = make_daemon("--checkpoint-every", "4", "--checkpoint-interval", "3600").start()
    s = d.create(optimizer="sgd", hyperparams={"lr": 0.1}, tensors=T)
    sid = s["id"]
    drive(d, sid, 1, 4, 4)
    # Snapshots are committed asynchronously, and a queued one is replaced by a
    # newer one: wait (bounded) until step 4's is in the file, as a writer that
    # keeps up would have it, so the bound below is exact.
    wait_for(lambda: committed_step(d.db, sid) == 4, 30)
    drive(d, sid, 5, 10, 5)
    d.kill9()
    d2 = make_daemon("--checkpoint-every", "4", tmpdir=d.dir, db=d.db).start()
    got = d2.json("GET", f"/v1/sessions/{sid}")[1]
    # A kill lands after the commit of step 8's snapshot (window: checkpoint-every
    # steps) or, if it was still queued, after step 4's (one window more).
    assert got["step"] in (4, 8)
    st, body = d2.step(sid, got["step"] + 1, [0.0] * 6)
    assert st == 200


def test_restart_keeps_deleted_sessions_deleted(make_daemon):
    d = make_daemon().start()
    a = d.create(optimizer="sgd", tensors=T)
    b = d.create(optimizer="sgd", tensors=T)
    assert d.json("DELETE", f"/v1/sessions/{a['id']}")[0] == 200
    d.kill9()
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    ids = [x["id"] for x in d2.json("GET", "/v1/sessions")[1]["sessions"]]
    assert ids == [b["id"]]
