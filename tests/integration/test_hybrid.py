"""The `hybrid` optimizer over the real daemon: mlp_lopt and Adam on the same
gradients, mixed by online exponential weights (src/core/opt/opt_hybrid.h).

The task is a quadratic f(x) = 1/2 sum h_i (x_i - c_i)^2 in 60 parameters
(h log-spaced in [0.1, 10], c seeded normal, x0 = 0), driven from numpy with
the loss sent along.  The mixing weights are read two ways:
  - from the updates themselves: Adam's proposal u_C depends only on the
    gradients, so the client recomputes it (numpy float32) and projects the
    update on it, w_C ~ (u . u_C) / |u_C|^2; the error of that estimate is at
    most w_L |u_L| / |u_C|, small in the settings used here (stated with
    each assertion);
  - from the step metrics (GET /v1/sessions/{id}/summary -> last_extras.extra),
    where the session code puts opt_diag's mix_learned / mix_classic.
"""
import time

import numpy as np

from daemon import floats

T = [{"name": "w", "shape": [6, 8]}, {"name": "b", "shape": [12]}]
N = 60


def quad(seed=7):
    r = np.random.default_rng(seed)
    return np.logspace(-1, 1, N), r.standard_normal(N)


class AdamRef:
    """torch.optim.Adam's formula in float32 (what the classic component proposes)."""

    def __init__(self, lr, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        self.m = np.zeros(N, np.float32)
        self.v = np.zeros(N, np.float32)
        self.t = 0

    def step(self, g):
        self.t += 1
        self.m = (np.float32(self.b1) * self.m + np.float32(1 - self.b1) * g).astype(np.float32)
        self.v = (np.float32(self.b2) * self.v + np.float32(1 - self.b2) * g * g).astype(np.float32)
        bc1, bc2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        return (-(self.lr / bc1) * self.m / (np.sqrt(self.v) / np.sqrt(bc2) + self.eps)).astype(np.float32)


def drive(d, sid, k0, k1, x, hp=None, want_bytes=False):
    """Steps k0..k1 on the quadratic from params x (float32, updated in place).
    Returns per step (loss before the step, estimated w_C, raw update bytes)."""
    h, c = quad()
    ad = AdamRef(hp.get("lr", 1e-3), hp.get("beta1", 0.9), hp.get("beta2", 0.999)) if hp is not None else None
    out = []
    for k in range(k0, k1 + 1):
        f = 0.5 * float(np.sum(h * (x.astype(np.float64) - c) ** 2))
        g = (h * (x - c)).astype(np.float32)
        st, _, body = d.step_binary(sid, k, g.tolist(), headers={"X-Optirs-Loss": repr(f)})
        assert st == 200, body
        u = np.array(floats(body), np.float32)
        wc = None
        if ad is not None:
            uc = ad.step(g)
            wc = float(np.dot(u, uc) / np.dot(uc, uc))
        x += u
        out.append((f, wc, body if want_bytes else None))
    return out


def final_loss(x):
    h, c = quad()
    return 0.5 * float(np.sum(h * (x.astype(np.float64) - c) ** 2))


def test_hybrid_is_in_the_catalogue(daemon):
    st, cat = daemon.json("GET", "/v1/optimizers")
    assert st == 200
    hy = [o for o in cat["optimizers"] if o["name"] == "hybrid"]
    assert len(hy) == 1 and hy[0]["kind"] == "hybrid"
    names = [h["name"] for h in hy[0]["hyperparams"]]
    for n in ("lr", "lo_scale", "beta1", "beta2", "eps", "eta", "share", "init_learned"):
        assert n in names
    # a hybrid runs on mlp_lopt weights: the catalogue lists those records under it
    lo = [o for o in cat["optimizers"] if o["name"] == "mlp_lopt"][0]
    assert lo["weights"] and hy[0]["weights"] == lo["weights"]
    st, body = daemon.json("POST", "/v1/sessions", {"optimizer": "hybrid", "tensors": T,
                                                    "hyperparams": {"share": 0}})
    assert st == 400 and body["error"]["code"] == "out_of_range"
    st, body = daemon.json("POST", "/v1/sessions", {"optimizer": "hybrid", "tensors": T,
                                                    "weights": "no-such-weights"})
    assert st == 400 and body["error"]["code"] == "invalid_argument"


def test_weights_move_to_adam_when_adam_is_better(daemon):
    # Adam at lr 0.05 travels the distance ~1 in tens of steps; the learned part
    # steps ~1e-3..2e-3 per coordinate (|u_L| ~ 0.015: step 1's estimate is off
    # by 0.017 at |u_C| = 0.39).  Estimate error of w_C at step 40, where
    # |u_C| ~ 0.09: <= w_L |u_L| / |u_C| ~ 0.17 w_L, i.e. < 0.03 once w_L < 0.15;
    # a threshold of 0.85 leaves that margin.
    hp = {"lr": 0.05}
    sid = daemon.create(optimizer="hybrid", hyperparams=hp, tensors=T)["id"]
    x = np.zeros(N, np.float32)
    out = drive(daemon, sid, 1, 100, x, hp)
    assert abs(out[0][1] - 0.5) < 0.1           # starts at the even mix
    assert out[39][1] > 0.85, [round(o[1], 3) for o in out[:40]]
    assert final_loss(x) < 0.01 * out[0][0]


BAD_ADAM = {"lr": 0.5, "beta1": 0, "beta2": 0, "lo_scale": 3}


def test_weights_move_to_the_learned_part_when_adam_is_bad(daemon):
    # Adam with beta1 = beta2 = 0 is sign descent with a fixed step of 0.5: it
    # cannot settle and overshoots, so its rewards turn negative.  Its proposal
    # is exactly -lr*g/(|g|+eps), and |u_C| = 0.5 sqrt 60 ~ 3.9 dwarfs the learned
    # part's (~0.003 sqrt 60 ~ 0.02 per unit weight): the estimate of w_C is good
    # to ~0.01.
    sid = daemon.create(optimizer="hybrid", hyperparams=BAD_ADAM, tensors=T)["id"]
    x = np.zeros(N, np.float32)
    out = drive(daemon, sid, 1, 120, x, BAD_ADAM)
    assert abs(out[0][1] - 0.5) < 0.05
    assert max(o[1] for o in out[99:]) < 0.1, [round(o[1], 3) for o in out[::10]]
    assert final_loss(x) < 0.001 * out[0][0]


def test_mixing_weights_are_in_the_step_metrics(daemon):
    sid = daemon.create(optimizer="hybrid", hyperparams=BAD_ADAM, tensors=T)["id"]
    x = np.zeros(N, np.float32)
    out = drive(daemon, sid, 1, 120, x, BAD_ADAM)
    for _ in range(100):   # analytics rows reach the store through its writer: wait for step 120's
        st, s = daemon.json("GET", f"/v1/sessions/{sid}/summary")
        assert st == 200
        if (s.get("last_extras") or {}).get("step") == 120:
            break
        time.sleep(0.05)
    extra = s["last_extras"]["extra"]
    assert s["last_extras"]["step"] == 120
    wl, wc = extra["mix_learned"], extra["mix_classic"]
    assert abs(wl + wc - 1) < 1e-9 and wc >= 0.001 - 1e-12
    # the weights of the last update, as the update itself shows them (see above)
    assert abs(wc - out[-1][1]) < 0.02, (wc, out[-1][1])


def test_restart_mid_run_continues_bit_for_bit(make_daemon):
    d = make_daemon().start()
    hp = {"lr": 0.02, "eta": 0.5}
    ref = d.create(optimizer="hybrid", hyperparams=hp, tensors=T)["id"]
    run = d.create(optimizer="hybrid", hyperparams=hp, tensors=T, durability="step")["id"]
    xr = np.zeros(N, np.float32)
    want = drive(d, ref, 1, 60, xr, want_bytes=True)
    xs = np.zeros(N, np.float32)
    first = drive(d, run, 1, 30, xs, want_bytes=True)
    assert [o[2] for o in first] == [o[2] for o in want[:30]]
    d.kill9()
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    assert d2.json("GET", f"/v1/sessions/{run}")[1]["step"] == 30
    got = drive(d2, run, 31, 60, xs, want_bytes=True)
    for k, (a, b) in enumerate(zip(got, want[30:]), start=31):
        assert a[2] == b[2], "step %d differs after the restart" % k
    assert xs.tobytes() == xr.tobytes()
    params = np.array(d2.json("GET", f"/v1/sessions/{run}/params")[1]["params"], np.float32)
    assert params.tobytes() == xs.tobytes()
