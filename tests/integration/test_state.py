"""Full-state export/import (GET /v1/sessions/{id}/state, POST /v1/sessions
with "state"): a session exported at step k, its daemon killed, imported into
a NEW daemon on a fresh database, continues bit for bit like a twin that never
stopped; damaged, foreign or hostile states are refused with invalid_state."""
import base64
import copy
import hashlib
import json

import numpy as np
import pytest


T = [{"name": "w", "shape": [3, 4]}, {"name": "b", "shape": [4]}]
N = 16

SPECS = {
    "adam": {"optimizer": "adam", "hyperparams": {"lr": 0.01, "weight_decay": 0.1}},
    "sgd_momentum": {"optimizer": "sgd", "hyperparams": {"lr": 0.05, "momentum": 0.9, "nesterov": 1}},
    "mlp_lopt": {"optimizer": "mlp_lopt", "hyperparams": {"lr": 0.001}},
    "lstm_lopt": {"optimizer": "lstm_lopt", "hyperparams": {"lr": 0.001}},
    "gru_lopt": {"optimizer": "gru_lopt", "hyperparams": {"lr": 0.001}},   # no record ships: its untrained default
    # "@default": the untrained network at the session's own shape (the
    # shipped record would override hidden_size, num_heads, sequence_length)
    "attn_lopt_untrained": {"optimizer": "attn_lopt", "weights": "@default",
                            "hyperparams": {"lr": 0.001, "hidden_size": 8, "num_heads": 4, "sequence_length": 3}},
    # without "weights": the shipped records
    "attn_lopt": {"optimizer": "attn_lopt", "hyperparams": {"lr": 0.001}},
    "graph_lopt": {"optimizer": "graph_lopt", "hyperparams": {"lr": 0.001}},
    "mem_lopt": {"optimizer": "mem_lopt", "hyperparams": {"lr": 0.001, "memory_size": 4}},
    "lstm_lopt_memory": {"optimizer": "lstm_lopt", "hyperparams": {"lr": 0.001, "memory_size": 4}},
}


def grads(k):
    rng = np.random.default_rng(1000 + k)
    return rng.standard_normal(N).astype(np.float32).tolist()


def drive(d, sid, k0, k1):
    """Steps k0..k1 with losses; the list of binary answers."""
    out = []
    for k in range(k0, k1 + 1):
        st, _, body = d.step_binary(sid, k, grads(k), headers={"X-Optirs-Loss": repr(1.0 / k)})
        assert st == 200, body
        out.append(body)
    return out


def export(d, sid):
    st, body = d.json("GET", f"/v1/sessions/{sid}/state")
    assert st == 200, body
    return body


@pytest.mark.parametrize("name", sorted(SPECS))
def test_export_kill_import_continues_bit_for_bit(make_daemon, name):
    spec = dict(SPECS[name], tensors=T, params=[0.1 * i for i in range(N)])
    # The reference never stops.
    ref_d = make_daemon().start()
    ref = ref_d.create(**spec)
    want = drive(ref_d, ref["id"], 1, 8)
    # The other is exported at step 5 and its daemon killed.
    d = make_daemon().start()
    s = d.create(**spec, name="before")
    drive(d, s["id"], 1, 5)
    state = export(d, s["id"])
    assert state["format"] == "optirs-session-state" and state["version"] == 1
    assert state["step"] == 5 and state["optimizer"] == SPECS[name]["optimizer"] and state["num_params"] == N
    raw = base64.b64decode(state["state"], validate=True)
    assert len(raw) == state["state_bytes"] and hashlib.sha256(raw).hexdigest() == state["state_sha256"]
    params5 = d.json("GET", f"/v1/sessions/{s['id']}/params")[1]["params"]
    d.kill9()
    # A new daemon, a fresh database.
    d2 = make_daemon().start()
    st, made = d2.json("POST", "/v1/sessions", {"state": state, "name": "after"})
    assert st == 201, made
    assert made["step"] == 5 and made["name"] == "after" and made["id"] != s["id"]
    assert made["optimizer"] == SPECS[name]["optimizer"] and made["tensors"] == ref["tensors"]
    sid = made["id"]
    assert d2.json("GET", f"/v1/sessions/{sid}/params")[1]["params"] == params5
    # A retry of step 5 gets the exported answer; steps 6..8 equal the reference, byte for byte.
    st, _, again = d2.step_binary(sid, 5, grads(5))
    assert st == 200 and again == want[4]
    assert drive(d2, sid, 6, 8) == want[5:8]
    # And the import survives a restart of its own daemon.
    d2.stop()
    d3 = make_daemon(tmpdir=d2.dir, db=d2.db).start()
    assert d3.json("GET", f"/v1/sessions/{sid}")[1]["step"] == 8
    assert d3.json("GET", f"/v1/sessions/{sid}/params")[1] == ref_d.json("GET", f"/v1/sessions/{ref['id']}/params")[1]


def test_state_of_a_missing_or_foreign_session_is_404(daemon):
    st, body = daemon.json("GET", "/v1/sessions/00000000-0000-4000-8000-000000000000/state")
    assert st == 404 and body["error"]["code"] == "session_not_found"


def refused(d, state, code="invalid_state", **extra):
    st, body = d.json("POST", "/v1/sessions", {"state": state, **extra})
    assert st == 400, body
    assert body["error"]["code"] == code, body
    return body["error"]["message"]


def sealed(spec):
    """The spec and its spec_sha256 (its canonical text: keys sorted, no spaces)."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {"spec": spec, "spec_sha256": hashlib.sha256(text.encode()).hexdigest()}


def test_hostile_states_are_refused_with_a_stable_code(daemon):
    s = daemon.create(optimizer="adam", tensors=T)
    drive(daemon, s["id"], 1, 3)
    good = export(daemon, s["id"])
    before = daemon.json("GET", "/v1/sessions")[1]["sessions"]

    def with_(**kw):
        x = copy.deepcopy(good)
        x.update(kw)
        return x

    raw = bytearray(base64.b64decode(good["state"]))
    flipped = bytearray(raw)
    flipped[len(flipped) // 2] ^= 1
    b64 = base64.b64encode(bytes(flipped)).decode()
    # a flipped bit: the SHA-256 says so
    assert "SHA-256" in refused(daemon, with_(state=b64))
    # ... and with a matching SHA-256, the blob's own CRC does
    refused(daemon, with_(state=b64, state_sha256=hashlib.sha256(bytes(flipped)).hexdigest()))
    refused(daemon, with_(version=2))
    refused(daemon, with_(format="torch"))
    refused(daemon, with_(state_bytes=len(raw) + 1))
    refused(daemon, with_(state=good["state"][:-4]))
    refused(daemon, with_(state="!!!!" + good["state"][4:]))
    refused(daemon, with_(state_sha256="0" * 64))
    refused(daemon, with_(optimizer="sgd"))
    refused(daemon, with_(num_params=N + 1))
    refused(daemon, with_(step=4))
    refused(daemon, "a string")
    x = with_()
    del x["spec"]
    refused(daemon, x)
    refused(daemon, with_(extra=1))
    # the spec is sealed: any change to it (here the layout, same size) is refused ...
    assert sealed(good["spec"])["spec_sha256"] == good["spec_sha256"]
    sp = copy.deepcopy(good["spec"])
    sp["tensors"] = [{"name": "w", "shape": [16]}]
    assert "spec_sha256" in refused(daemon, with_(spec=sp))
    # ... and, resealed, what does not fit the bytes still is: another optimizer,
    sp = copy.deepcopy(good["spec"])
    sp["optimizer"], sp["hyperparams"] = "sgd", {"lr": 0.1, "momentum": 0.9}
    refused(daemon, with_(**sealed(sp), optimizer="sgd"))
    # amsgrad (another state shape), another size
    sp = copy.deepcopy(good["spec"])
    sp["hyperparams"]["amsgrad"] = 1
    refused(daemon, with_(**sealed(sp)))
    sp = copy.deepcopy(good["spec"])
    sp["tensors"] = [{"name": "w", "shape": [17]}]
    refused(daemon, with_(**sealed(sp)))
    # a spec the daemon refuses for an ordinary create keeps that create's code
    sp = copy.deepcopy(good["spec"])
    sp["optimizer"] = "nope"
    refused(daemon, with_(**sealed(sp), optimizer="nope"), code="unknown_optimizer")
    # member order does not matter to the seal
    sp = dict(reversed(list(good["spec"].items())))
    st, made = daemon.json("POST", "/v1/sessions", {"state": with_(spec=sp)})
    assert st == 201 and made["step"] == 3, made
    daemon.json("DELETE", f"/v1/sessions/{made['id']}")
    # nothing but name and tags beside state
    refused(daemon, good, code="unknown_field", optimizer="adam")
    # nothing was created by any of these
    assert daemon.json("GET", "/v1/sessions")[1]["sessions"] == before


def test_a_create_that_only_mentions_state_is_an_ordinary_create(daemon):
    s = daemon.create(optimizer="adam", tensors=T, name="state", tags={"state": "x"})
    assert s["step"] == 0 and s["name"] == "state" and s["tags"] == {"state": "x"}


def test_import_is_checked_against_the_size_limit_before_allocating(make_daemon):
    d = make_daemon().start()
    s = d.create(optimizer="adam", tensors=[{"name": "w", "shape": [4096]}])
    state = export(d, s["id"])
    small = make_daemon("--max-session-bytes", "65536").start()
    st, body = small.json("POST", "/v1/sessions", {"state": state})
    assert st == 413 and body["error"]["code"] == "session_too_large", body
    assert small.json("GET", "/v1/sessions")[1]["sessions"] == []


def test_another_tenants_state_is_not_exported(make_daemon):
    """The export is the whole session (parameters included): another tenant
    gets 404 as for any of its routes, no key gets 401; the owner and the
    admin get it."""
    import os
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from test_auth import auth, started_with_key
    d, admin = started_with_key(make_daemon)
    keys = {t: d.json("POST", "/v1/keys", {"tenant": t}, headers=auth(admin))[1]["key"] for t in ("alice", "bob")}
    st, s = d.json("POST", "/v1/sessions", {"optimizer": "adam", "tensors": T}, headers=auth(keys["alice"]))
    assert st == 201, s
    path = f"/v1/sessions/{s['id']}/state"
    st, body = d.json("GET", path, headers=auth(keys["bob"]))
    assert st == 404 and body["error"]["code"] == "session_not_found"
    assert d.json("GET", path)[0] == 401
    assert d.json("GET", path, headers=auth(keys["alice"]))[0] == 200
    assert d.json("GET", path, headers=auth(admin))[0] == 200


def test_hyperparameters_keep_every_bit_across_a_restart(make_daemon):
    """cJSON prints 15 digits whenever they read back within DBL_EPSILON: 1.9007199925474099 would
    come back as 1.90071999254741 (= ...4101). The stored spec and the description print the
    shortest text that reads back exactly, so the value is the one asked for, before and after a
    restart (fuzz_spec's regression input)."""
    lr = 1.9007199925474099
    assert float("%.15g" % lr) != lr   # the case: 15 digits do not read back
    d = make_daemon().start()
    s = d.create(optimizer="sgd", tensors=[{"shape": [4]}], hyperparams={"lr": lr, "momentum": 0.1 + 0.2})
    assert s["hyperparams"]["lr"] == lr and s["hyperparams"]["momentum"] == 0.1 + 0.2
    d.stop()
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    st, got = d2.json("GET", f"/v1/sessions/{s['id']}")
    assert st == 200 and got["hyperparams"]["lr"] == lr and got["hyperparams"]["momentum"] == 0.1 + 0.2, got
