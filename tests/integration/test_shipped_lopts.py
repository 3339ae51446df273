"""The shipped attn_lopt, graph_lopt and mem_lopt records (issue 18): each is
in the binary (weights_builtin.c) and inserted on first start as version 1
of the record named after its optimizer, so GET /v1/optimizers shows it as
the optimizer's default_weights and GET /v1/weights/NAME its provenance (the
config of deploy/meta/NAME.conf: estimator, outer steps, seed); a session
without "weights" runs it — bit for bit the steps of a session naming it —
and "weights": "@default" asks for the untrained network instead, which
steps differently; "@default" is refused with a domain (the untrained
network has none) and for a classic optimizer (no weights at all)."""
import numpy as np
import pytest


T = [{"name": "w", "shape": [3, 4]}, {"name": "b", "shape": [4]}, {"name": "v", "shape": [5]}]
N = 21
# name -> (outer steps, seed) of deploy/meta/NAME.conf
SHIPPED = {"attn_lopt": (800, 2), "graph_lopt": (1200, 2), "mem_lopt": (1500, 3)}


def grads(k):
    return np.random.default_rng(4200 + k).standard_normal(N).astype(np.float32).tolist()


def drive(d, sid, k0, k1):
    out = []
    for k in range(k0, k1 + 1):
        st, _, body = d.step_binary(sid, k, grads(k), headers={"X-Optirs-Loss": repr(3.0 / k)})
        assert st == 200, body
        out.append(body)
    return out


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_record_is_the_default(daemon, name):
    steps, seed = SHIPPED[name]
    cat = {o["name"]: o for o in daemon.json("GET", "/v1/optimizers")[1]["optimizers"]}
    dw = cat[name]["default_weights"]
    assert dw is not None and dw["ref"] == f"{name}@1" and dw["name"] == name, dw
    assert f"{name}@1" in {w["ref"] for w in cat[name]["weights"]}
    st, rec = daemon.json("GET", f"/v1/weights/{name}")
    assert st == 200 and rec["optimizer"] == name and rec["version"] == 1, rec
    # the list describes each record's architecture as GET of the record does (attn_lopt's
    # record fixes its heads and sequence length: 2 and 4, docs "Shipped weights")
    listed = {w["ref"]: w for w in daemon.json("GET", "/v1/weights")[1]["weights"]}
    assert listed[f"{name}@1"]["architecture"] == rec["architecture"], (listed[f"{name}@1"], rec)
    in_cat = {w["ref"]: w for w in cat[name]["weights"]}[f"{name}@1"]
    assert in_cat["architecture"] == rec["architecture"], in_cat
    if name == "attn_lopt":
        assert (rec["architecture"]["num_heads"], rec["architecture"]["sequence_length"]) == (2, 4), rec
    else:
        assert "num_heads" not in rec["architecture"], rec
    prov = rec["provenance"]
    assert prov["outer_steps"] == steps and prov["seed"] == seed and prov["estimator"] == "pes", prov
    # each carries the test-suite run of its docs page (5 seeds, two horizons, 31 tasks;
    # docs: "Shipped weights")
    test = rec["evaluation"]["test"]
    assert test["seeds"] == 5 and test["horizons"] == [1000, 5000], test
    assert len(test["tasks"]) == 62 and all(t["lo_nonfinite_runs"] == 0 for t in test["tasks"])

    params = [0.05 * i for i in range(N)]
    plain = daemon.create(optimizer=name, tensors=T, params=params)
    assert "weights" not in plain                          # nothing named: the default record
    named = daemon.create(optimizer=name, tensors=T, params=params, weights=f"{name}@1")
    untrained = daemon.create(optimizer=name, tensors=T, params=params, weights="@default")
    assert untrained["weights"] == "@default"
    a, b, c = (drive(daemon, s["id"], 1, 6) for s in (plain, named, untrained))
    assert a == b
    assert a != c


def test_untrained_refused_with_a_domain_or_a_classic_optimizer(daemon):
    st, body = daemon.json("POST", "/v1/sessions", {"optimizer": "attn_lopt", "tensors": T, "weights": "@default",
                                                    "domain": "vision"})
    assert st == 400 and body["error"]["code"] == "invalid_argument", body
    assert "untrained network, which has no domain" in body["error"]["message"]
    st, body = daemon.json("POST", "/v1/sessions", {"optimizer": "adam", "tensors": T, "weights": "@default"})
    assert st == 400 and body["error"]["code"] == "invalid_argument", body


@pytest.mark.parametrize("name,hp,other", [("mem_lopt", "hidden", 32), ("graph_lopt", "hidden_size", 8),
                                           ("nn_adam", "depth", 3), ("hybrid", "hidden", 16)])
def test_a_session_shows_the_records_shape_and_refuses_another(daemon, name, hp, other):
    # without "weights" the session runs the default record (a hybrid's learned part: mlp_lopt's)
    s = daemon.create(optimizer=name, tensors=T)
    runs = s["hyperparams"][hp]
    assert other != runs
    st, err = daemon.json("POST", "/v1/sessions", {"optimizer": name, "tensors": T, "hyperparams": {hp: other}})
    assert st == 400 and err["error"]["code"] == "invalid_argument", err
    assert f"{hp} = {other} would be ignored" in err["error"]["message"], err
    assert f"fixes it at {runs}" in err["error"]["message"], err
    # the record's own value is accepted; "@default" takes the other
    assert daemon.create(optimizer=name, tensors=T, hyperparams={hp: runs})["hyperparams"][hp] == runs
    u = daemon.create(optimizer=name, tensors=T, weights="@default", hyperparams={hp: other})
    assert u["hyperparams"][hp] == other
