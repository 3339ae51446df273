"""mlp_lopt's input feature sets through the daemon (issue 20 part 3): GET
/v1/optimizers lists `features` with its names; a session on the default
weights with features=momentum steps, shows it, and differs from full;
hostile values are 400 and create nothing; a PES meta-training job with
features=adam writes a record that carries the set, whose dropped weights
are exactly 0 in its blob, and whose sessions show it (another set asked for
is refused); an architecture search with a features axis runs and each
mlp_lopt candidate's architecture names its set."""
import math
import struct

import numpy as np

from test_meta_jobs import wait_status
from test_mlp_activation import session_ids

T = [{"name": "w", "shape": [3, 4]}, {"name": "b", "shape": [4]}]
N = 16
SETS = ["full", "adam", "momentum", "no_time", "no_tensor"]
NFEAT, NTIME, NTENS, NDECAY = 12, 9, 4, 5


def grads(k):
    return np.random.default_rng(9200 + k).standard_normal(N).astype(np.float32).tolist()


def parse_weights_blob(blob):
    magic, kind, version, length = struct.unpack_from("<IIIQ", blob, 0)
    assert magic == 0x4254504F and kind == 3 and length == len(blob) - 24
    arch, hidden, dword, n = struct.unpack_from("<IIIQ", blob, 20)
    theta = np.frombuffer(blob, dtype="<f4", count=n, offset=40).copy()
    return arch, hidden, dword, theta


def test_listed_with_its_names(daemon):
    st, cat = daemon.json("GET", "/v1/optimizers")
    assert st == 200
    hp = {h["name"]: h for h in {o["name"]: o for o in cat["optimizers"]}["mlp_lopt"]["hyperparams"]}
    assert hp["features"]["values"] == SETS and hp["features"]["default"] == "full"


def run(daemon, s, steps=3):
    for k in range(1, steps + 1):
        st, _, body = daemon.step_binary(s["id"], k, grads(k))
        assert st == 200, body
    st, p = daemon.json("GET", f"/v1/sessions/{s['id']}/params")
    assert st == 200
    return np.array(p["params"])


def test_momentum_session_steps_shows_it_and_differs_from_full(daemon):
    m = daemon.create(optimizer="mlp_lopt", weights="@default", tensors=T, hyperparams={"features": "momentum"})
    assert m["hyperparams"]["features"] == "momentum"
    f = daemon.create(optimizer="mlp_lopt", weights="@default", tensors=T)
    assert f["hyperparams"]["features"] == "full"
    pm, pf = run(daemon, m), run(daemon, f)
    assert np.all(np.isfinite(pm)) and np.abs(pm).max() > 0
    assert not np.array_equal(pm, pf)   # the dropped inputs' small random weights are gone
    st, got = daemon.json("GET", f"/v1/sessions/{m['id']}")
    assert st == 200 and got["step"] == 3 and got["hyperparams"]["features"] == "momentum"


def test_hostile_values_are_400_and_create_nothing(daemon):
    before = session_ids(daemon)
    for v in ("tanh", "FULL", "adam,momentum", 1, 2.0, None, ["adam"], "", {"set": "adam"}):
        st, err = daemon.json("POST", "/v1/sessions", {"optimizer": "mlp_lopt", "tensors": T,
                                                       "hyperparams": {"features": v}})
        assert st == 400 and err["error"]["code"] == "out_of_range", (v, err)
        assert "full, adam, momentum, no_time, no_tensor" in err["error"]["message"]
    st, err = daemon.json("POST", "/v1/sessions", {"optimizer": "lstm_lopt", "tensors": T,
                                                   "hyperparams": {"features": 1}})
    assert st == 400 and err["error"]["code"] == "unknown_hyperparameter", err
    assert session_ids(daemon) == before
    # the meta-training key: an unknown name or a number is out_of_range, a repeated key invalid_json,
    # another optimizer invalid_argument; nothing is created
    st, jobs0 = daemon.json("GET", "/v1/meta/jobs")
    base = {"name": "x", "optimizer": "mlp_lopt", "hidden": 4, "depth": 1, "estimator": "pes",
            "tasks": ["quadratic dim=5"], "particles": 2, "unroll": 5, "outer_steps": 2}
    for v in ("tanh", "Adam", 3, ""):
        st, err = daemon.json("POST", "/v1/meta/jobs", dict(base, features=v))
        assert st == 400 and err["error"]["code"] == "out_of_range", (v, err)
    st, _, body = daemon.request("POST", "/v1/meta/jobs",
                                 b'{"name":"x","optimizer":"mlp_lopt","features":"adam","features":"momentum"}',
                                 {"Content-Type": "application/json"})
    assert st == 400 and b"invalid_json" in body, body
    st, err = daemon.json("POST", "/v1/meta/jobs", dict(base, optimizer="lstm_lopt", features="adam"))
    assert st == 400 and err["error"]["code"] == "invalid_argument" and "mlp_lopt only" in err["error"]["message"]
    assert daemon.json("GET", "/v1/meta/jobs")[1] == jobs0


def dropped_weights(theta, H, depth, keep_params, time, tensor):
    """The entries of an mlp_lopt theta (H, depth) a set drops."""
    IN = NFEAT + NTIME
    W0 = theta[NDECAY:NDECAY + H * IN].reshape(H, IN)
    ntheta = NDECAY + H * IN + H + (depth - 1) * (H * H + H) + 2 * H + 2 + NTENS + NTIME + 1
    head = theta[ntheta - (NTENS + NTIME + 1):ntheta]
    out = [W0[:, f] for f in range(NFEAT) if f not in keep_params]
    if not time:
        out += [W0[:, NFEAT:], head[NTENS:NTENS + NTIME]]
    if not tensor:
        out.append(head[:NTENS])
    return np.concatenate([np.ravel(x) for x in out]), W0


def test_pes_job_with_adam_writes_a_record_whose_dropped_weights_are_zero(daemon):
    body = {"name": "tiny-adam", "optimizer": "mlp_lopt", "hidden": 4, "depth": 1, "estimator": "pes",
            "features": "adam", "tasks": ["quadratic dim=5"], "particles": 2, "unroll": 5, "outer_steps": 4,
            "checkpoint_every": 4}
    st, job = daemon.json("POST", "/v1/meta/jobs", body)
    assert st == 202, job
    job = wait_status(daemon, job["id"], ("done", "failed"), timeout=120)
    assert job["status"] == "done", job
    st, rec = daemon.json("GET", "/v1/weights/tiny-adam")
    assert st == 200 and rec["architecture"]["features"] == "adam", rec
    assert rec["provenance"]["config"]["features"] == "adam"
    st, _, blob = daemon.request("GET", "/v1/weights/tiny-adam/blob")
    assert st == 200
    arch, H, dword, theta = parse_weights_blob(blob)
    assert arch == 1 and H == 4 and dword & 0x0fff == 1 << 8 | 1   # the set in bits 8..11, depth 1
    keep = [f for f in range(NFEAT) if f not in (1, 10, 11)]
    dropped, W0 = dropped_weights(theta, H, 1, keep, True, True)
    assert dropped.size == 3 * H and np.all(dropped == 0), dropped
    assert np.all(W0[:, keep] != 0)   # the kept columns trained (random init, PES steps)
    # the record decides, and the session shows it; full is the default, so asking it is asking nothing
    a = daemon.create(optimizer="mlp_lopt", weights="tiny-adam", tensors=T)
    assert a["hyperparams"]["features"] == "adam", a["hyperparams"]
    b = daemon.create(optimizer="mlp_lopt", weights="tiny-adam", tensors=T, hyperparams={"features": "full"})
    assert b["hyperparams"]["features"] == "adam"
    assert daemon.step_binary(a["id"], 1, grads(1))[2] == daemon.step_binary(b["id"], 1, grads(1))[2]
    before = session_ids(daemon)
    st, err = daemon.json("POST", "/v1/sessions", {"optimizer": "mlp_lopt", "weights": "tiny-adam", "tensors": T,
                                                   "hyperparams": {"features": "momentum"}})
    assert st == 400 and err["error"]["code"] == "invalid_argument", err
    assert "features = momentum would be ignored" in err["error"]["message"], err
    assert "fixes it at adam" in err["error"]["message"], err
    assert session_ids(daemon) == before
    # an init record of another set is refused
    st, err = daemon.json("POST", "/v1/meta/jobs", dict(body, name="tiny-mom", features="momentum",
                                                       init_weights="tiny-adam"))
    assert st == 400 and err["error"]["code"] == "invalid_argument", err
    # lstm_lopt's records name no set
    st, rec = daemon.json("GET", "/v1/weights/lstm_lopt")
    assert st == 200 and "features" not in rec["architecture"], rec


def test_nas_with_a_features_axis(daemon):
    req = {"method": "nas", "space": {"optimizer": ["mlp_lopt", "lstm_lopt"], "hidden": [4], "depth": [1],
                                      "features": ["full", "momentum", "no_time"]},
           "candidates": 4, "full": 2, "outer_steps": 3, "full_steps": 4, "eval_steps": 10, "eval_seeds": 1,
           "particles": 2, "unroll": 5, "task": "quadratic dim=4", "seed": 1, "name": "nas-feat"}
    st, job = daemon.json("POST", "/v1/meta/jobs", req)
    assert st == 202, job
    cfg = job["config"]
    assert cfg["space"]["features"] == ["full", "momentum", "no_time"]
    archs = cfg["candidate_architectures"]
    assert sorted(a["features"] for a in archs if a["optimizer"] == "mlp_lopt") == ["full", "momentum", "no_time"]
    assert all("features" not in a for a in archs if a["optimizer"] != "mlp_lopt")
    job = wait_status(daemon, job["id"], ("done", "failed"), timeout=300)
    assert job["status"] == "done", job
    st, rec = daemon.json("GET", "/v1/weights/nas-feat")
    assert st == 200, rec
    nas = rec["provenance"]["nas"]
    assert sorted(c["architecture"].get("features", "-") for c in nas["candidates"]) == \
        ["-", "full", "momentum", "no_time"]
    for c in nas["candidates"]:
        assert all(math.isfinite(v) for v in c["early_curve"])
    best = nas["best"]
    assert rec["architecture"].get("features") == best.get("features")
    if best["optimizer"] == "mlp_lopt":
        s = daemon.create(optimizer="mlp_lopt", weights="nas-feat", tensors=T)
        assert s["hyperparams"]["features"] == best["features"]
        assert daemon.step_binary(s["id"], 1, grads(1))[0] == 200


def test_nas_features_hostile(daemon):
    base = {"method": "nas", "candidates": 2, "full": 1, "outer_steps": 1, "name": "nas-bad"}
    for space in ({"features": ["all"]}, {"features": ["adam", "adam"]}, {"features": "adam"},
                  {"features": []}, {"features": ["Adam"]}, {"features": [2]}, {"features": SETS + ["full"]}):
        st, err = daemon.json("POST", "/v1/meta/jobs", dict(base, space=space))
        assert st == 400 and err["error"]["code"] == "invalid_argument", (space, err)
    assert daemon.json("GET", "/v1/weights/nas-bad")[0] == 404
