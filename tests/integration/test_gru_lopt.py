"""gru_lopt through the daemon: GET /v1/optimizers lists it (learned, hidden
and depth with their bounds, a description that says no record ships); an
untrained session steps JSON gradients as sign-SGD at 1e-3 up to its small
read-out; a session survives a restart of its daemon bit for bit; a tiny PES
meta job trains it and its record then drives a session exactly as a numpy
GRU written from gru.h's equations predicts; tbptt is 400; an architecture
search with gru_lopt in its space trains and records its candidates."""
import math

import numpy as np

from test_meta_jobs import wait_status
from test_mlp_features import parse_weights_blob

T = [{"name": "w", "shape": [3, 4]}, {"name": "b", "shape": [4]}]
N = 16


def grads(k):
    return np.random.default_rng(7000 + k).standard_normal(N).astype(np.float32).tolist()


def drive(d, sid, k0, k1):
    out = []
    for k in range(k0, k1 + 1):
        st, body = d.step(sid, k, grads(k))
        assert st == 200, body
        out.append(body["update"])
    return out


def test_listed_as_learned_with_bounds_and_an_honest_description(daemon):
    st, cat = daemon.json("GET", "/v1/optimizers")
    assert st == 200
    o = {o["name"]: o for o in cat["optimizers"]}["gru_lopt"]
    assert o["kind"] == "learned"
    hp = {h["name"]: h for h in o["hyperparams"]}
    assert (hp["hidden"]["default"], hp["hidden"]["min"], hp["hidden"]["max"]) == (8, 1, 256)
    assert (hp["depth"]["default"], hp["depth"]["min"], hp["depth"]["max"]) == (2, 1, 4)
    assert "memory_size" not in hp
    assert "ships no meta-trained weights record" in o["description"]
    assert "es or pes" in o["description"]


def test_untrained_session_is_sign_sgd_like(daemon):
    s = daemon.create(optimizer="gru_lopt", tensors=T)
    assert s["hyperparams"]["hidden"] == 8 and s["hyperparams"]["depth"] == 2
    for k in range(1, 6):
        g = grads(k)
        st, body = daemon.step(s["id"], k, g)
        assert st == 200, body
        u = np.array(body["update"])
        # -1e-3·sign(g), the GRU read-out (w ~ N(0, 0.01²/8)) moving it by at most ~2% of the step
        np.testing.assert_allclose(u, -1e-3 * np.sign(g), atol=2e-5)
    st, body = daemon.json("POST", "/v1/sessions", {"optimizer": "gru_lopt", "tensors": T,
                                                    "hyperparams": {"hidden": 257}})
    assert st == 400 and body["error"]["code"] == "out_of_range", body
    st, body = daemon.json("POST", "/v1/sessions", {"optimizer": "gru_lopt", "tensors": T,
                                                    "hyperparams": {"memory_size": 4}})
    assert st == 400, body


def test_restart_continues_bit_for_bit(make_daemon):
    spec = dict(optimizer="gru_lopt", tensors=T, params=[0.05 * i for i in range(N)],
                hyperparams={"hidden": 6, "depth": 3})
    ref_d = make_daemon().start()
    ref = ref_d.create(**spec)
    want = drive(ref_d, ref["id"], 1, 10)
    d = make_daemon().start()
    sid = d.create(**spec)["id"]
    assert drive(d, sid, 1, 5) == want[:5]
    d.stop()
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    got = d2.json("GET", f"/v1/sessions/{sid}")[1]
    assert got["step"] == 5 and got["hyperparams"]["hidden"] == 6 and got["hyperparams"]["depth"] == 3
    assert drive(d2, sid, 6, 10) == want[5:]
    assert d2.json("GET", f"/v1/sessions/{sid}/params")[1] == ref_d.json("GET", f"/v1/sessions/{ref['id']}/params")[1]


def record_theta(d, name):
    """(arch, hidden, depth, theta) of a weights record's blob (test_mlp_features' parser; a GRU
    record's depth word holds the depth alone)."""
    st, _, blob = d.request("GET", f"/v1/weights/{name}/blob")
    assert st == 200
    arch, hidden, depth, theta = parse_weights_blob(blob)
    return arch, hidden, depth, theta.astype(np.float64)


def logsign(g):
    """lopt_logsign, p = 10: (log|g|/10, sign g) for |g| >= e^-10, else (-1, e^10 g)."""
    g = np.float64(np.float32(g))
    return (math.log(abs(g)) / 10, math.copysign(1.0, g)) if abs(g) >= math.exp(-10) else (-1.0, math.exp(10) * g)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


class GruReference:
    """gru_lopt for n coordinates from gru.h's equations (PyTorch's GRU, gates r, z, n):
    theta = a | per layer Wx (in, 3H), Wh (H, 3H), bx (3H), bh (3H) | w (H) | b."""

    def __init__(self, theta, H, D, n):
        self.theta, self.H, self.D = theta, H, D
        self.h = np.zeros((D, n, H))

    def step(self, g):
        th, H = self.theta, self.H
        x = np.array([logsign(v) for v in g])
        s = x[:, 1]
        off = 1
        for l in range(self.D):
            i = x.shape[1]
            Wx = th[off:off + i * 3 * H].reshape(i, 3 * H); off += i * 3 * H
            Wh = th[off:off + H * 3 * H].reshape(H, 3 * H); off += H * 3 * H
            bx = th[off:off + 3 * H]; off += 3 * H
            bh = th[off:off + 3 * H]; off += 3 * H
            gx, gh = x @ Wx + bx, self.h[l] @ Wh + bh
            r = sigmoid(gx[:, :H] + gh[:, :H])
            z = sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
            nn = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
            self.h[l] = (1 - z) * nn + z * self.h[l]
            x = self.h[l]
        assert off + H + 1 == len(th)
        return -1e-3 * (th[0] * s + x @ th[off:off + H] + th[-1])


def test_pes_meta_job_trains_a_record_that_drives_a_session(daemon):
    body = {"name": "gru-tiny", "optimizer": "gru_lopt", "hidden": 4, "depth": 2, "estimator": "pes",
            "tasks": ["quadratic dim=5"], "particles": 4, "unroll": 5, "outer_steps": 4,
            "horizon_min": 10, "horizon_max": 40}
    st, job = daemon.json("POST", "/v1/meta/jobs", body)
    assert st == 202, job
    job = wait_status(daemon, job["id"], ("done", "failed"), timeout=120)
    assert job["status"] == "done", job
    assert job["weights"] == "gru-tiny@1" and len(job["curve"]) == 4
    assert all(math.isfinite(p["meta_loss"]) for p in job["curve"])
    st, rec = daemon.json("GET", "/v1/weights/gru-tiny")
    assert st == 200, rec
    assert rec["optimizer"] == "gru_lopt" and rec["provenance"]["estimator"] == "pes"
    assert rec["architecture"]["hidden"] == 4 and rec["architecture"]["depth"] == 2
    arch, hidden, depth, theta = record_theta(daemon, "gru-tiny")
    assert (arch, hidden, depth) == (7, 4, 2) and rec["architecture"]["ntheta"] == len(theta)
    assert theta[0] != 1.0   # training moved the skip from its default

    s = daemon.create(optimizer="gru_lopt", weights="gru-tiny", tensors=T)
    assert s["hyperparams"]["hidden"] == 4 and s["hyperparams"]["depth"] == 2
    ref = GruReference(theta, 4, 2, N)
    for k in range(1, 5):
        g = grads(k)
        st, out = daemon.step(s["id"], k, g)
        assert st == 200, out
        np.testing.assert_allclose(out["update"], ref.step(g), rtol=1e-4, atol=1e-9)
    # another width than the record's (and the default's: 8 reads as not given) is refused, as for every learned optimizer
    st, err = daemon.json("POST", "/v1/sessions", {"optimizer": "gru_lopt", "weights": "gru-tiny", "tensors": T,
                                                   "hyperparams": {"hidden": 16}})
    assert st == 400 and err["error"]["code"] == "invalid_argument", err


def test_es_is_accepted_and_tbptt_is_400(daemon):
    base = {"name": "gru-es", "optimizer": "gru_lopt", "hidden": 4, "depth": 1, "tasks": ["quadratic dim=5"],
            "particles": 2, "unroll": 5, "outer_steps": 2}
    st, err = daemon.json("POST", "/v1/meta/jobs", dict(base, estimator="tbptt"))
    assert st == 400 and err["error"]["code"] == "invalid_argument", err
    msg = err["error"]["message"]
    assert "estimator tbptt works with mlp_lopt, lstm_lopt and attn_lopt only" in msg and "gru_lopt" in msg
    assert daemon.json("GET", "/v1/meta/jobs")[1]["jobs"] == []
    st, job = daemon.json("POST", "/v1/meta/jobs", dict(base, estimator="es"))
    assert st == 202, job
    assert wait_status(daemon, job["id"], ("done", "failed"), timeout=120)["status"] == "done"


NAS = {"method": "nas", "space": {"optimizer": ["gru_lopt", "lstm_lopt"], "hidden": [4, 8], "depth": [1]},
       "candidates": 4, "full": 2, "outer_steps": 3, "full_steps": 4, "eval_steps": 10, "eval_seeds": 1,
       "particles": 2, "unroll": 5, "task": "quadratic dim=4", "seed": 1, "name": "nas-gru"}


def test_nas_searches_gru_lopt(daemon):
    st, job = daemon.json("POST", "/v1/meta/jobs", NAS)
    assert st == 202, job
    archs = job["config"]["candidate_architectures"]
    # the space holds exactly four architectures: all are drawn, two of them GRUs
    assert sorted((a["optimizer"], a["hidden"]) for a in archs) == [("gru_lopt", 4), ("gru_lopt", 8),
                                                                  ("lstm_lopt", 4), ("lstm_lopt", 8)]
    assert all("num_heads" not in a and "activation" not in a for a in archs)
    job = wait_status(daemon, job["id"], ("done", "failed"), timeout=300)
    assert job["status"] == "done", job
    st, rec = daemon.json("GET", "/v1/weights/nas-gru")
    assert st == 200, rec
    cands = rec["provenance"]["nas"]["candidates"]
    grus = [c for c in cands if c["architecture"]["optimizer"] == "gru_lopt"]
    assert len(cands) == 4 and len(grus) == 2
    for c in grus:
        h = c["architecture"]["hidden"]
        assert c["ntheta"] == 1 + (2 * 3 * h + h * 3 * h + 6 * h) + h + 1
        assert len(c["early_curve"]) == 3 and all(math.isfinite(v) for v in c["early_curve"])
    assert sum(c["full_rank"] > 0 for c in cands) == 2


def test_nas_space_optimizer_bounds(daemon):
    six = ["mlp_lopt", "lstm_lopt", "attn_lopt", "graph_lopt", "mem_lopt", "gru_lopt"]
    for opts, frag in ((six + ["gru_lopt"], "1 to 6 names"), (["gru_lopt", "gru_lopt"], "lists gru_lopt twice"),
                       (["gru"], "mem_lopt or gru_lopt")):
        st, err = daemon.json("POST", "/v1/meta/jobs", dict(NAS, space={"optimizer": opts}))
        assert st == 400 and err["error"]["code"] == "invalid_argument", (opts, err)
        assert frag in err["error"]["message"], err
    assert daemon.json("GET", "/v1/meta/jobs")[1]["jobs"] == []
