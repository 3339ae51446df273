"""The online learner of learned optimizers (adapt: {learner: pes}) against a
real optirsd: it learns from losses sent with the steps and from /feedback,
its figures show in the step extras and the summary, a restarted daemon
continues bit for bit, and bad configs are refused without creating a
session."""
import json

import numpy as np
import pytest

from daemon import Daemon

# 0.5 sum a_i x_i^2 over two tensors (20 + 5).  mlp_lopt at lr 1e-4 (a tenth
# of its default: its steps scale with lr) steps far too small for x0 = 1, so
# a learner that finds that out raises the step scales.  (At the default lr
# the shipped weights' own per-tensor step scale already takes large steps
# on a deterministic quadratic.)
SMALL_LR = 1e-4
A = np.linspace(0.5, 3.0, 25)
TENSORS = [{"name": "w", "shape": [20]}, {"name": "b", "shape": [5]}]
LEARNER = {"learner": "pes", "rate": 0.05, "memory": 32, "sigma": 0.1, "window": 4, "per_tensor": True, "seed": 3}


def create(d, adapt=None, opt="mlp_lopt", durability="checkpoint", lr=None):
    spec = {"optimizer": opt, "durability": durability, "tensors": TENSORS}
    # mlp_lopt's own hypergradient scale (on by default) also raises a
    # too-small step; it is off here so that what moves is the learner's
    hp = {"hypergrad": 0} if opt == "mlp_lopt" else {}
    if lr is not None:
        hp["lr"] = lr
    if hp:
        spec["hyperparams"] = hp
    if adapt:
        spec["adapt"] = adapt
    st, b = d.json("POST", "/v1/sessions", spec)
    assert st == 201, b
    return b["id"]


def run(d, sid, x, k0, steps, mode="step"):
    """Steps k0 .. k0+steps-1 on the quadratic; the loss goes with the step
    (mode "step"), as feedback after it ("feedback"), or both ("both")."""
    x = np.asarray(x, dtype=np.float32)
    loss = None
    for k in range(k0, k0 + steps):
        xd = x.astype(np.float64)
        loss = 0.5 * float(A @ (xd * xd))
        body = {"step": k, "grads": [float(v) for v in (A * xd).astype(np.float32)]}
        if mode in ("step", "both"):
            body["loss"] = loss
        st, r = d.json("POST", "/v1/sessions/%s/step" % sid, body)
        assert st == 200, r
        x = x + np.asarray(r["update"], dtype=np.float32)
        if mode in ("feedback", "both"):
            st, fb = d.json("POST", "/v1/sessions/%s/feedback" % sid, {"step": k, "loss": loss})
            assert st == 200 and fb["stored"] is True, fb
    return x, loss


def extra(d, sid):
    st, s = d.json("GET", "/v1/sessions/%s/summary" % sid)
    assert st == 200, s
    return s, s["last_extras"].get("extra")


@pytest.fixture
def daemon():
    d = Daemon().start()
    yield d
    d.cleanup()


def test_learner_raises_a_too_small_step_from_losses_in_the_step(daemon):
    plain, learn = create(daemon, lr=SMALL_LR), create(daemon, LEARNER, lr=SMALL_LR)
    _, lp = run(daemon, plain, np.ones(25), 1, 400)
    _, ll = run(daemon, learn, np.ones(25), 1, 400)
    s, x = extra(daemon, learn)
    assert s["adapt"]["learner"] == "pes" and s["adapt"]["memory"] == 32
    assert x["es_updates"] == 400 // 8 and x["es_losses_used"] == 400
    assert x["es_scale_min"] > 1.5          # both tensors' scales went up, visibly
    assert s["last_extras"]["lr_mult"] == pytest.approx(x["es_scale_mean"])
    assert ll < 0.7 * lp, (ll, lp)          # and that made the loss lower than its twin's
    _, xp = extra(daemon, plain)
    assert xp is None or "es_scale_mean" not in xp


def test_learner_uses_feedback_and_counts_a_loss_once(daemon):
    fb, both = create(daemon, LEARNER), create(daemon, LEARNER)
    xf, _ = run(daemon, fb, np.ones(25), 1, 240, mode="feedback")
    xb, _ = run(daemon, both, np.ones(25), 1, 240, mode="both")
    _, ef = extra(daemon, fb)
    _, eb = extra(daemon, both)
    # the extras are those of step 240, recorded before its feedback came
    assert ef["es_losses_used"] == 239 and ef["es_scale_max"] > 1.2
    # the same loss sent with the step and again as feedback: used once
    assert eb["es_losses_used"] == 240 and eb["es_losses_ignored"] == 239
    # feedback for step k arrives after step k's update (the learner waits
    # for a block's last loss until the next step), so the runs may differ
    # slightly; both learnt
    assert eb["es_scale_max"] > 1.2
    # a loss for an old step (beyond the memory of 32 steps) is ignored
    st, r = daemon.json("POST", "/v1/sessions/%s/feedback" % fb, {"step": 100, "loss": 5.0})
    assert st == 200
    run(daemon, fb, xf, 241, 1, mode="feedback")
    _, ef2 = extra(daemon, fb)
    assert ef2["es_losses_used"] == 240 and ef2["es_losses_ignored"] == ef["es_losses_ignored"] + 1
    # a step not taken yet is refused by the API
    st, r = daemon.json("POST", "/v1/sessions/%s/feedback" % fb, {"step": 500, "loss": 5.0})
    assert st == 400 and r["error"]["code"] == "out_of_range"


@pytest.mark.parametrize("durability", ["step", "checkpoint"])
def test_restart_continues_bit_for_bit(tmp_path, durability):
    """Two twins; one goes through a restart mid-run (losses half in the
    steps, half as feedback): durability=step survives a kill -9,
    durability=checkpoint a SIGTERM — whose final snapshot must hold the
    feedback that came after the last step (step 77's).  --checkpoint-every 1:
    the snapshot of step 77 is taken before its feedback arrives."""
    flags = ("--checkpoint-every", "1")
    d = Daemon(*flags, tmpdir=str(tmp_path)).start()
    try:
        a = create(d, LEARNER, durability=durability)
        b = create(d, LEARNER, durability=durability)
        xa, _ = run(d, a, np.ones(25), 1, 50, mode="step")
        xa, _ = run(d, a, xa, 51, 27, mode="feedback")
        xb, _ = run(d, b, np.ones(25), 1, 50, mode="step")
        xb, _ = run(d, b, xb, 51, 27, mode="feedback")
        xb, _ = run(d, b, xb, 78, 83, mode="feedback")
        _, eb = extra(d, b)
    finally:
        if durability == "step":
            d.kill9()
        else:
            assert d.stop() == 0
    d2 = Daemon(*flags, tmpdir=str(tmp_path)).start()
    try:
        xa, _ = run(d2, a, xa, 78, 83, mode="feedback")
        assert xa.tobytes() == xb.tobytes()   # exactly like the uninterrupted twin
        _, ea = extra(d2, a)
        for key in ("es_scale_mean", "es_scale_min", "es_scale_max", "es_updates", "es_losses_used"):
            assert ea[key] == eb[key], key
        assert ea["es_scale_mean"] != 1.0
    finally:
        d2.cleanup()


def test_bad_learner_configs_are_refused_and_create_nothing(daemon):
    st, before = daemon.json("GET", "/v1/sessions")
    n0 = len(before["sessions"])
    base = {"optimizer": "mlp_lopt", "tensors": [{"shape": [3]}]}
    cases = [
        ({"learner": "pes", "rate": 0}, "out_of_range"),
        ({"learner": "pes", "rate": 2}, "out_of_range"),
        ({"learner": "pes", "sigma": -0.1}, "out_of_range"),
        ({"learner": "pes", "sigma": "big"}, "invalid_argument"),
        ({"learner": "pes", "memory": 0}, "out_of_range"),
        ({"learner": "pes", "memory": 2.5}, "out_of_range"),
        ({"learner": "pes", "memory": 1e10}, "out_of_range"),
        ({"learner": "pes", "window": 0}, "out_of_range"),
        ({"learner": "pes", "seed": -1}, "out_of_range"),
        ({"learner": "pes", "per_tensor": 1}, "invalid_argument"),
        ({"learner": "pes", "bogus": 1}, "unknown_field"),
        ({"learner": "genetic"}, "out_of_range"),
        ({"learner": "pes", "beta": 1e-4}, "invalid_argument"),
        ({"lr": "hypergradient", "learner": "pes"}, "invalid_argument"),
        ({"rate": 0.1}, "invalid_argument"),
        ({"lr": "hypergradient"}, "invalid_argument"),      # classic-only form on a learned optimizer
    ]
    for bad, code in cases:
        st, _, body = daemon.request("POST", "/v1/sessions", dict(base, adapt=bad))
        assert st == 400 and json.loads(body)["error"]["code"] == code, (bad, body)
    # a classic optimizer asking for the learner
    st, _, body = daemon.request("POST", "/v1/sessions", {"optimizer": "adam", "tensors": [{"shape": [3]}],
                                                         "adapt": {"learner": "pes"}})
    e = json.loads(body)["error"]
    assert st == 400 and e["code"] == "invalid_argument" and "classic" in e["message"]
    st, after = daemon.json("GET", "/v1/sessions")
    assert len(after["sessions"]) == n0


def test_learned_and_hybrid_kinds_accept_the_learner_and_report_diagnostics(daemon):
    st, cat = daemon.json("GET", "/v1/optimizers")
    kinds = {o["name"]: o.get("kind") for o in cat["optimizers"]}
    for name, kind in kinds.items():
        if kind not in ("learned", "hybrid") or name == "meta_sgd":
            continue   # meta_sgd steps only on a few-shot record's layout: test_maml.py
        sid = create(daemon, {"learner": "pes"}, opt=name)
        run(daemon, sid, np.ones(25), 1, 40)
        s, x = extra(daemon, sid)
        assert s["adapt"] == {"learner": "pes", "rate": 0.03, "memory": 64, "sigma": 0.1, "window": 8,
                              "per_tensor": False, "seed": 0}   # the defaults, spelled out
        assert x["es_updates"] >= 1, name
        if name == "hybrid":
            # the optimizer's own diagnostics (opt_diag) sit next to the learner's
            assert 0 <= x["mix_learned"] <= 1 and x["mix_learned"] + x["mix_classic"] == pytest.approx(1)


def _snapshot_to_v3(blob):
    """A version-4 session snapshot without a learner, rewritten as the
    version-3 blob an older daemon wrote: the same bytes minus the trailing
    learner flag (u32 0), version 3, new length and CRC-32."""
    import struct
    import zlib
    magic, kind, version, length = struct.unpack_from("<IIIQ", blob, 0)
    assert kind == 2 and version == 4 and len(blob) == 20 + length + 4
    payload = blob[20:20 + length]
    assert payload[-4:] == b"\0\0\0\0"            # no learner
    payload = payload[:-4]
    head = struct.pack("<IIIQ", magic, kind, 3, len(payload)) + payload
    return head + struct.pack("<I", zlib.crc32(head) & 0xffffffff)


def test_version_3_snapshots_still_load(tmp_path):
    """Sessions stored by the previous format (v3: no learner state) are
    restored and continue exactly like their twins that never stopped."""
    import sqlite3
    d = Daemon(tmpdir=str(tmp_path)).start()
    try:
        hd = {"lr": "hypergradient", "beta": 1e-4, "per_tensor": True}
        a = create(d, hd, opt="adam")
        b = create(d, hd, opt="adam")
        la, lb = create(d), create(d)
        xa, _ = run(d, a, np.ones(25), 1, 30)
        xb, _ = run(d, b, np.ones(25), 1, 60)
        ya, _ = run(d, la, np.ones(25), 1, 30)
        yb, _ = run(d, lb, np.ones(25), 1, 60)
    finally:
        assert d.stop() == 0          # SIGTERM: every session's final snapshot is committed
    db = sqlite3.connect(d.db)
    for sid in (a, la):
        (blob,) = db.execute("SELECT snapshot FROM sessions WHERE id = ?", (sid,)).fetchone()
        db.execute("UPDATE sessions SET snapshot = ? WHERE id = ?", (_snapshot_to_v3(bytes(blob)), sid))
    db.commit()
    db.close()
    d2 = Daemon(tmpdir=str(tmp_path)).start()
    try:
        st, s = d2.json("GET", "/v1/sessions/%s" % a)
        assert st == 200 and s["step"] == 30, s
        xa, _ = run(d2, a, xa, 31, 30)
        ya, _ = run(d2, la, ya, 31, 30)
        assert xa.tobytes() == xb.tobytes() and ya.tobytes() == yb.tobytes()
    finally:
        d2.cleanup()
