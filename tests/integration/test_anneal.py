"""mlp_lopt's anneal (hyperparameter `anneal`, on by default;
docs/learned-optimizers.md) against a real optirsd: the optimizer list shows
it, a session whose gradient falls 1e4-fold takes steps a fraction of its
twin's with the anneal off while it takes the twin's steps bit for bit
before the fall, the step extras count the scaled tensors, the setting
survives a restart, a session stored before the anneal existed runs it at
its default after a restart and says so, and bad values are refused
without creating a session."""
import json
import sqlite3

import numpy as np

from daemon import Daemon

TENSORS = [{"name": "w", "shape": [20, 6]}, {"name": "b", "shape": [6]}]
N = 126


def create(d, hp):
    return d.create(optimizer="mlp_lopt", tensors=TENSORS, hyperparams=hp)["id"]


def step(d, sid, k, g):
    st, r = d.step(sid, k, [float(v) for v in g])
    assert st == 200, r
    return np.asarray(r["update"], dtype=np.float32)


def test_listed_with_its_default(daemon):
    st, b = daemon.json("GET", "/v1/optimizers")
    assert st == 200
    mlp = next(o for o in b["optimizers"] if o["name"] == "mlp_lopt")
    hp = {h["name"]: h for h in mlp["hyperparams"]}
    assert hp["anneal"]["default"] == 3 and hp["anneal"]["min"] == 0 and hp["anneal"]["max"] == 1e6


def test_a_fallen_gradient_takes_a_fraction_of_the_step(tmp_path):
    d = Daemon(tmpdir=str(tmp_path)).start()
    try:
        on, off = create(d, {}), create(d, {"anneal": 0})
        rng = np.random.default_rng(3)
        k = 1
        for _ in range(40):   # the gradient at its running scale: the same steps
            g = rng.standard_normal(N).astype(np.float32)
            u_on, u_off = step(d, on, k, g), step(d, off, k, g)
            assert u_on.tobytes() == u_off.tobytes()
            k += 1
        assert d.step_extras(on)["anneal_scaled"] == 0
        assert "anneal_scaled" not in d.step_extras(off)
        for _ in range(10):   # fallen 1e4-fold
            g = (1e-4 * rng.standard_normal(N)).astype(np.float32)
            u_on, u_off = step(d, on, k, g), step(d, off, k, g)
            k += 1
        assert d.step_extras(on)["anneal_scaled"] == 2
        r = np.sqrt(np.mean(u_on.astype(np.float64) ** 2) / np.mean(u_off.astype(np.float64) ** 2))
        assert 0 < r < 0.3, r
        st, s = d.json("GET", "/v1/sessions/%s" % on)
        assert st == 200 and s["hyperparams"]["anneal"] == 3
    finally:
        assert d.stop() == 0
    d2 = Daemon(tmpdir=str(tmp_path)).start()
    try:
        st, s = d2.json("GET", "/v1/sessions/%s" % off)
        assert st == 200 and s["hyperparams"]["anneal"] == 0
    finally:
        d2.cleanup()


def test_a_session_stored_before_it_existed_runs_and_shows_the_default(tmp_path):
    d = Daemon(tmpdir=str(tmp_path)).start()
    try:
        sid = create(d, {"hypergrad": 0})
    finally:
        assert d.stop() == 0
    # the stored spec as a daemon from before the anneal wrote it
    db = sqlite3.connect(d.db)
    meta = json.loads(db.execute("SELECT meta_json FROM sessions WHERE id = ?", (sid,)).fetchone()[0])
    del meta["hyperparams"]["anneal"]
    db.execute("UPDATE sessions SET meta_json = ? WHERE id = ?", (json.dumps(meta), sid))
    db.commit()
    db.close()
    d2 = Daemon(tmpdir=str(tmp_path)).start()
    try:
        st, s = d2.json("GET", "/v1/sessions/%s" % sid)
        assert st == 200 and s["hyperparams"]["anneal"] == 3 and s["hyperparams"]["hypergrad"] == 0
        step(d2, sid, 1, np.ones(N, dtype=np.float32))
        assert d2.step_extras(sid)["anneal_scaled"] == 0
    finally:
        d2.cleanup()


def test_bad_values_are_refused_and_create_nothing(daemon):
    st, before = daemon.json("GET", "/v1/sessions")
    for v in (-1, 1e7, "big", None, [3], 1e300):
        st, r = daemon.json("POST", "/v1/sessions", {"optimizer": "mlp_lopt", "tensors": [{"shape": [3]}],
                                                     "hyperparams": {"anneal": v}})
        assert st == 400, (v, r)
    st, after = daemon.json("GET", "/v1/sessions")
    assert len(after["sessions"]) == len(before["sessions"])
