"""mlp_lopt's hypergradient step scale (hyperparameter `hypergrad`, on by
default; docs/learned-optimizers.md) against a real optirsd: the optimizer
list shows it, a session on a deterministic quadratic walked with too small
a step grows its scales and beats its twin with the rule off, the step
extras show the scales, a session survives kill -9 and SIGTERM bit for bit
with the rule's state, and bad values are refused without creating a
session."""
import numpy as np
import pytest

from daemon import Daemon

# 0.5 sum a_i x_i^2 over two tensors (20 + 5); lr 1e-4 is a tenth of
# mlp_lopt's default, so its steps are far too small for x0 = 1
A = np.linspace(0.5, 3.0, 25)
TENSORS = [{"name": "w", "shape": [20]}, {"name": "b", "shape": [5]}]


def create(d, hp, durability="checkpoint"):
    st, b = d.json("POST", "/v1/sessions", {"optimizer": "mlp_lopt", "durability": durability,
                                            "tensors": TENSORS, "hyperparams": hp})
    assert st == 201, b
    return b["id"]


def run(d, sid, x, k0, steps):
    x = np.asarray(x, dtype=np.float32)
    loss = None
    for k in range(k0, k0 + steps):
        xd = x.astype(np.float64)
        loss = 0.5 * float(A @ (xd * xd))
        st, r = d.json("POST", "/v1/sessions/%s/step" % sid,
                       {"step": k, "grads": [float(v) for v in (A * xd).astype(np.float32)]})
        assert st == 200, r
        x = x + np.asarray(r["update"], dtype=np.float32)
    return x, loss


def test_listed_with_its_default(daemon):
    st, b = daemon.json("GET", "/v1/optimizers")
    assert st == 200
    mlp = next(o for o in b["optimizers"] if o["name"] == "mlp_lopt")
    hp = {h["name"]: h for h in mlp["hyperparams"]}
    assert hp["hypergrad"]["default"] == 0.01 and hp["hypergrad"]["max"] == 1


def test_too_small_a_step_grows_and_wins(daemon):
    on = create(daemon, {"lr": 1e-4})
    off = create(daemon, {"lr": 1e-4, "hypergrad": 0})
    _, l_on = run(daemon, on, np.ones(25), 1, 300)
    _, l_off = run(daemon, off, np.ones(25), 1, 300)
    x = daemon.step_extras(on)
    assert x["hypergrad_scale_min"] > 2 and x["hypergrad_scale_max"] >= x["hypergrad_scale_min"]
    assert l_on < 0.5 * l_off, (l_on, l_off)
    assert "hypergrad_scale_min" not in daemon.step_extras(off)
    st, s = daemon.json("GET", "/v1/sessions/%s" % on)
    assert st == 200 and s["hyperparams"]["hypergrad"] == 0.01


@pytest.mark.parametrize("durability", ["step", "checkpoint"])
def test_restart_continues_bit_for_bit(tmp_path, durability):
    """A twin goes through a restart at step 60 (kill -9 with durability
    step, SIGTERM with checkpoint); both then run to step 120."""
    d = Daemon("--checkpoint-every", "1", tmpdir=str(tmp_path)).start()
    try:
        a = create(d, {"lr": 1e-4}, durability)
        b = create(d, {"lr": 1e-4}, durability)
        xa, _ = run(d, a, np.ones(25), 1, 60)
        xb, _ = run(d, b, np.ones(25), 1, 120)
        eb = d.step_extras(b)
    finally:
        if durability == "step":
            d.kill9()
        else:
            assert d.stop() == 0
    d2 = Daemon("--checkpoint-every", "1", tmpdir=str(tmp_path)).start()
    try:
        xa, _ = run(d2, a, xa, 61, 60)
        assert xa.tobytes() == xb.tobytes()
        ea = d2.step_extras(a)
        assert ea["hypergrad_scale_min"] == eb["hypergrad_scale_min"] > 1
        assert ea["hypergrad_scale_max"] == eb["hypergrad_scale_max"]
    finally:
        d2.cleanup()


def test_bad_values_are_refused_and_create_nothing(daemon):
    st, before = daemon.json("GET", "/v1/sessions")
    for v in (-0.01, 1.5, "big", None, [0.1], 1e300):
        st, r = daemon.json("POST", "/v1/sessions", {"optimizer": "mlp_lopt", "tensors": [{"shape": [3]}],
                                                     "hyperparams": {"hypergrad": v}})
        assert st == 400, (v, r)
    st, after = daemon.json("GET", "/v1/sessions")
    assert len(after["sessions"]) == len(before["sessions"])
