"""Domain weights over HTTP: a session's "domain" picks the optimizer's record
named <optimizer>.<domain> (pinned in the session and kept across a restart),
a domain without such a record is refused with no_domain_weights, bad and
hostile domains are 400, and GET /v1/optimizers lists the default and the
domain records.  The daemon ships mlp_lopt.vision, mlp_lopt.text and
mlp_lopt.tabular; "synthetic" is the one domain without a shipped mlp_lopt
record, so the tests that need an absent record, or import one and then use
it, use that domain (the imported record is a copy of a real blob, POST
/v1/weights, so the test needs no meta-training)."""
import struct

import numpy as np
import pytest

T = [{"name": "w", "shape": [3, 4]}, {"name": "b", "shape": [4]}]
BIN = {"Content-Type": "application/octet-stream"}


def import_record(d, name, domain, source="mlp_lopt"):
    st, _, blob = d.request("GET", f"/v1/weights/{source}/blob")
    assert st == 200
    st, _, data = d.request("POST", f"/v1/weights?name={name}&domain={domain}", blob, BIN)
    return st, data


def create(d, **spec):
    return d.json("POST", "/v1/sessions", {"tensors": T, **spec})


def test_shipped_domain_records_are_listed_and_used(daemon):
    # A fresh daemon lists the three shipped domain records (version 1, each
    # evaluated) and a session with a domain and no weights gets its record.
    cat = {o["name"]: o for o in daemon.json("GET", "/v1/optimizers")[1]["optimizers"]}
    dw = cat["mlp_lopt"]["domain_weights"]
    assert sorted(dw) == ["tabular", "text", "vision"], list(dw)
    for dom, rec in dw.items():
        assert rec["ref"] == f"mlp_lopt.{dom}@1" and rec["domain"] == dom and "evaluation" in rec, rec
    assert cat["hybrid"]["domain_weights"] == dw          # a hybrid offers its learned part's records
    st, s = create(daemon, optimizer="mlp_lopt", domain="vision")
    assert st == 201, s
    assert s["domain"] == "vision" and s["weights"] == "mlp_lopt.vision@1"
    assert daemon.json("GET", f"/v1/sessions/{s['id']}")[1]["weights"] == "mlp_lopt.vision@1"


def test_absent_domain_record_is_refused_not_replaced(daemon):
    # synthetic is the one domain without a shipped mlp_lopt record.
    st, body = create(daemon, optimizer="mlp_lopt", domain="synthetic")
    assert st == 422, body
    assert body["error"]["code"] == "no_domain_weights"
    assert "mlp_lopt.synthetic" in body["error"]["message"]
    # A hybrid chooses among its learned part's (mlp_lopt's) records: the same answer.
    st, body = create(daemon, optimizer="hybrid", domain="synthetic")
    assert st == 422 and "mlp_lopt.synthetic" in body["error"]["message"]
    # lstm_lopt ships no domain record at all: even vision is refused, not served mlp_lopt's.
    st, body = create(daemon, optimizer="lstm_lopt", domain="vision")
    assert st == 422 and body["error"]["code"] == "no_domain_weights"
    assert "lstm_lopt.vision" in body["error"]["message"]


def test_domain_record_is_used_pinned_and_listed(daemon):
    st, data = import_record(daemon, "mlp_lopt.synthetic", "synthetic")
    assert st == 201, data
    st, s = create(daemon, optimizer="mlp_lopt", domain="synthetic")
    assert st == 201, s
    assert s["domain"] == "synthetic" and s["weights"] == "mlp_lopt.synthetic@1"
    got = daemon.json("GET", f"/v1/sessions/{s['id']}")[1]
    assert got["domain"] == "synthetic" and got["weights"] == "mlp_lopt.synthetic@1"
    # A session without a domain keeps the general default and shows no domain.
    st, plain = create(daemon, optimizer="mlp_lopt")
    assert st == 201 and "domain" not in plain and "weights" not in plain
    # A newer version becomes the one new sessions get; the old session stays pinned.
    assert import_record(daemon, "mlp_lopt.synthetic", "synthetic")[0] == 201
    assert create(daemon, optimizer="mlp_lopt", domain="synthetic")[1]["weights"] == "mlp_lopt.synthetic@2"
    assert daemon.json("GET", f"/v1/sessions/{s['id']}")[1]["weights"] == "mlp_lopt.synthetic@1"
    # The catalogue: the general default and the domain records, newest version.
    cat = {o["name"]: o for o in daemon.json("GET", "/v1/optimizers")[1]["optimizers"]}
    lo = cat["mlp_lopt"]
    assert lo["default_weights"]["ref"] == "mlp_lopt@1" and lo["default_weights"]["domain"] == "mixed"
    assert "evaluation" in lo["default_weights"]          # the shipped record was evaluated
    for suite in lo["default_weights"]["evaluation"].values():
        assert not any(isinstance(v, (list, dict)) for v in suite.values())   # a summary, no task rows
    assert sorted(lo["domain_weights"]) == ["synthetic", "tabular", "text", "vision"]   # the shipped three and ours
    syn = lo["domain_weights"]["synthetic"]
    assert syn["ref"] == "mlp_lopt.synthetic@2" and syn["domain"] == "synthetic" and "evaluation" not in syn
    assert lo["domain_weights"]["vision"]["ref"] == "mlp_lopt.vision@1"   # the shipped record, untouched
    assert cat["lstm_lopt"]["domain_weights"] == {}
    assert "default_weights" not in cat["adam"] and "domain_weights" not in cat["adam"]


def test_weights_and_domain_must_agree(daemon):
    assert import_record(daemon, "mlp_lopt.synthetic", "synthetic")[0] == 201
    st, s = create(daemon, optimizer="mlp_lopt", domain="synthetic", weights="mlp_lopt.synthetic@1")
    assert st == 201 and s["weights"] == "mlp_lopt.synthetic@1" and s["domain"] == "synthetic"
    # The general record is "mixed": asking for it with a domain is a contradiction.
    st, body = create(daemon, optimizer="mlp_lopt", domain="vision", weights="mlp_lopt@1")
    assert st == 400 and body["error"]["code"] == "invalid_argument"
    assert "mixed" in body["error"]["message"]
    st, body = create(daemon, optimizer="mlp_lopt", domain="vision", weights="mlp_lopt.synthetic")
    assert st == 400 and body["error"]["code"] == "invalid_argument"
    # An unknown record is answered as without a domain.
    st, body = create(daemon, optimizer="mlp_lopt", domain="text", weights="absent")
    assert st == 400 and "absent" in body["error"]["message"]


def test_a_domain_default_name_must_match_its_record(daemon):
    # mlp_lopt.synthetic must carry domain synthetic and be mlp_lopt weights
    # (no record named mlp_lopt.synthetic or lstm_lopt.vision ships).
    st, data = import_record(daemon, "mlp_lopt.synthetic", "text")
    assert st == 400, data
    st, data = import_record(daemon, "lstm_lopt.vision", "vision", source="mlp_lopt")
    assert st == 400, data
    assert daemon.json("GET", "/v1/weights/mlp_lopt.synthetic")[0] == 404
    assert daemon.json("GET", "/v1/weights/lstm_lopt.vision")[0] == 404
    # The rule holds for a shipped name too, and the refusal leaves the record alone.
    st, data = import_record(daemon, "mlp_lopt.vision", "text")
    assert st == 400, data
    st, rec = daemon.json("GET", "/v1/weights/mlp_lopt.vision")
    assert st == 200 and rec["version"] == 1 and rec["domain"] == "vision", rec
    # Other names are free.
    assert import_record(daemon, "my.vision.try", "text")[0] == 201


@pytest.mark.parametrize("bad", [
    "Vision", "VISION", " vision", "vision ", "", "mixed", "sequence", "visión", "v" * 5000, "vision\u0000",
    7, None, True, ["vision"], {"d": "vision"},
])
def test_bad_domains_are_400(daemon, bad):
    st, body = create(daemon, optimizer="mlp_lopt", domain=bad)
    assert st == 400, body
    assert body["error"]["code"] in ("invalid_argument", "invalid_utf8"), body
    assert daemon.json("GET", "/v1/sessions")[1]["sessions"] == []


def test_non_utf8_domain_is_400(daemon):
    raw = b'{"optimizer": "mlp_lopt", "tensors": [{"shape": [2]}], "domain": "vis\xffion"}'
    st, _, data = daemon.request("POST", "/v1/sessions", raw, {"Content-Type": "application/json"})
    assert st == 400, data


def test_classic_optimizer_refuses_a_domain(daemon):
    st, body = create(daemon, optimizer="adam", domain="vision")
    assert st == 400 and body["error"]["code"] == "invalid_argument"
    assert "domain" in body["error"]["message"]


def test_domain_survives_restart(make_daemon):
    d = make_daemon().start()
    assert import_record(d, "mlp_lopt.synthetic", "synthetic")[0] == 201
    st, s = create(d, optimizer="mlp_lopt", domain="synthetic", durability="step")
    assert st == 201, s
    assert create(d, optimizer="hybrid", domain="synthetic")[1]["weights"] == "mlp_lopt.synthetic@1"
    sid, n = s["id"], s["num_params"]
    g = struct.unpack(f"<{n}f", struct.pack(f"<{n}f", *np.linspace(-1, 1, n)))
    for k in (1, 2, 3):
        assert d.step_binary(sid, k, list(g))[0] == 200
    d.kill9()
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    got = d2.json("GET", f"/v1/sessions/{sid}")[1]
    assert got["domain"] == "synthetic" and got["weights"] == "mlp_lopt.synthetic@1"
    assert d2.step_binary(sid, 4, list(g))[0] == 200
    cat = {o["name"]: o for o in d2.json("GET", "/v1/optimizers")[1]["optimizers"]}
    assert cat["mlp_lopt"]["domain_weights"]["synthetic"]["ref"] == "mlp_lopt.synthetic@1"
    # The restart's bootstrap does not add a second version of a shipped record.
    assert cat["mlp_lopt"]["domain_weights"]["tabular"]["ref"] == "mlp_lopt.tabular@1"


def test_meta_training_produces_a_domain_record(daemon):
    """A meta-training job named <optimizer>.<domain> stores a record with that
    domain (given, or derived from its tasks), which sessions then get."""
    import time
    tiny = {"tasks": ["quadratic dim=5"], "particles": 4, "unroll": 5, "outer_steps": 3,
            "checkpoint_every": 3, "estimator": "es"}
    # The name promises domain vision; a quadratic is synthetic: refused up front.
    st, body = daemon.json("POST", "/v1/meta/jobs", dict(tiny, name="mlp_lopt.vision"))
    assert st == 400 and "domain" in body["error"]["message"], body
    st, job = daemon.json("POST", "/v1/meta/jobs", dict(tiny, name="mlp_lopt.synthetic", domain="synthetic"))
    assert st == 202, job
    deadline = time.time() + 60
    while job["status"] not in ("done", "failed") and time.time() < deadline:
        time.sleep(0.05)
        job = daemon.json("GET", f"/v1/meta/jobs/{job['id']}")[1]
    assert job["status"] == "done", job
    assert job["weights"] == "mlp_lopt.synthetic@1"
    rec = daemon.json("GET", "/v1/weights/mlp_lopt.synthetic")[1]
    assert rec["domain"] == "synthetic" and rec["provenance"]["config"]["domain"] == "synthetic"
    st, s = create(daemon, optimizer="mlp_lopt", domain="synthetic")
    assert st == 201 and s["weights"] == "mlp_lopt.synthetic@1", s


SHIPPED_RECORDS = ("mlp_lopt", "mlp_lopt.vision", "mlp_lopt.text", "mlp_lopt.tabular", "lstm_lopt", "nn_adam",
                   "attn_lopt", "graph_lopt", "mem_lopt")


def test_shipped_figures_are_of_the_current_defaults(daemon):
    # Every shipped record's recorded evaluation (but mlp_lopt's legacy `validation`, the method
    # before issue 15) names the hyperparameters it was measured with, and they are this build's
    # defaults for the record's optimizer: a default that changes without the shipped figures being
    # measured again fails here (deploy/meta/README.md, "Regenerating the shipped evaluation").
    cat = {o["name"]: o for o in daemon.json("GET", "/v1/optimizers")[1]["optimizers"]}
    for name in SHIPPED_RECORDS:
        st, rec = daemon.json("GET", f"/v1/weights/{name}")
        assert st == 200, rec
        listed = {h["name"]: h["default"] for h in cat[rec["optimizer"]]["hyperparams"]}
        suites = {k: v for k, v in rec["evaluation"].items() if k != "validation"}
        assert suites, (name, list(rec["evaluation"]))
        for key, suite in suites.items():
            hp = suite.get("hyperparams")
            assert hp and "lr" in hp, (name, key)
            assert hp == {k: listed[k] for k in hp}, (name, key, hp, listed)
            if rec["optimizer"] == "mlp_lopt":
                assert {"anneal", "hypergrad", "hold_zero_grad", "trust", "guard"} <= set(hp), (name, key)
