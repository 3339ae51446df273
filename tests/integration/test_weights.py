"""The weights registry over HTTP: the shipped weights are listed and used by
learned-optimizer sessions, records export and import as blobs, and a
learned optimizer's session state survives a restart bit for bit."""
import struct

import numpy as np

from daemon import floats


def logistic_problem(seed=0, n=256, dim=8):
    """A fixed, full-batch logistic regression computed in numpy."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float64)
    w_true = rng.standard_normal(dim)
    y = (x @ w_true + 0.3 * rng.standard_normal(n) > 0).astype(np.float64)

    def loss_grad(w):
        z = x @ w[:dim] + w[dim]
        p = 1 / (1 + np.exp(-z))
        eps = 1e-12
        loss = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))
        d = (p - y) / n
        return loss, np.concatenate([x.T @ d, [d.sum()]])
    return loss_grad, dim + 1


def test_shipped_weights_are_listed(daemon):
    st, body = daemon.json("GET", "/v1/weights")
    assert st == 200
    names = {w["name"]: w for w in body["weights"]}
    assert "mlp_lopt" in names, names.keys()
    rec = names["mlp_lopt"]
    assert rec["optimizer"] == "mlp_lopt" and rec["version"] == 1 and rec["ref"] == "mlp_lopt@1"
    assert rec["architecture"]["ntheta"] > 0
    assert rec["provenance"]["task_families"] and rec["provenance"]["outer_steps"] > 0
    st, cat = daemon.json("GET", "/v1/optimizers")
    by = {o["name"]: o for o in cat["optimizers"]}
    # the general record and the three shipped domain records
    assert {w["ref"] for w in by["mlp_lopt"]["weights"]} == {
        "mlp_lopt@1", "mlp_lopt.vision@1", "mlp_lopt.text@1", "mlp_lopt.tabular@1"}
    assert "weights" not in by["adam"]
    st, one = daemon.json("GET", "/v1/weights/mlp_lopt")
    assert st == 200 and one["ref"] == "mlp_lopt@1"
    assert daemon.json("GET", "/v1/weights/mlp_lopt?version=9")[0] == 404
    assert daemon.json("GET", "/v1/weights/nope")[0] == 404


def test_lo_session_lowers_a_logistic_loss(daemon):
    loss_grad, n = logistic_problem()
    s = daemon.create(optimizer="mlp_lopt", tensors=[{"name": "w", "shape": [n]}])
    # No "weights" field: the record named after the optimizer (the shipped one) is used.
    sid = s["id"]
    w = np.zeros(n, dtype=np.float32)
    first, _ = loss_grad(w.astype(np.float64))
    for k in range(1, 301):
        loss, g = loss_grad(w.astype(np.float64))
        st, h, body = daemon.step_binary(sid, k, g.astype(np.float32).tolist())
        assert st == 200, body
        w = w + np.array(floats(body), dtype=np.float32)   # the answer is the update
        assert np.all(np.isfinite(w))
    params = np.array(daemon.json("GET", f"/v1/sessions/{sid}/params")[1]["params"], dtype=np.float32)
    np.testing.assert_allclose(params, w, rtol=0, atol=1e-5)
    final, _ = loss_grad(w.astype(np.float64))
    # log(2) = 0.693 at the start; the optimum of this problem is ~0.1.
    assert final < 0.5 * first, (first, final)


def test_session_with_named_weights_and_unknown_weights(daemon):
    T = [{"name": "w", "shape": [4]}]
    assert daemon.json("POST", "/v1/sessions", {"optimizer": "mlp_lopt", "weights": "mlp_lopt@1", "tensors": T})[0] == 201
    st, body = daemon.json("POST", "/v1/sessions", {"optimizer": "mlp_lopt", "weights": "absent", "tensors": T})
    assert st == 400 and body["error"]["code"] == "invalid_argument"


def test_export_import_roundtrip(daemon):
    st, h, blob = daemon.request("GET", "/v1/weights/mlp_lopt/blob")
    assert st == 200 and h["content-type"] == "application/octet-stream" and len(blob) > 100
    hdr = {"Content-Type": "application/octet-stream"}
    st, h, data = daemon.request("POST", "/v1/weights?name=copy&domain=tabular", blob, hdr)
    assert st == 201, data
    st, rec = daemon.json("GET", "/v1/weights/copy")
    assert rec["version"] == 1 and rec["domain"] == "tabular" and rec["provenance"] == {"imported": True}
    # A second import is the next version, and exports the same bytes.
    assert daemon.request("POST", "/v1/weights?name=copy", blob, hdr)[0] == 201
    assert daemon.json("GET", "/v1/weights/copy")[1]["version"] == 2
    assert daemon.request("GET", "/v1/weights/copy/blob?version=1")[2] == blob
    # Sessions can use it by name at once.
    T = [{"name": "w", "shape": [3]}]
    assert daemon.json("POST", "/v1/sessions", {"optimizer": "mlp_lopt", "weights": "copy", "tensors": T})[0] == 201
    # A damaged blob is refused and stores nothing.
    bad = bytearray(blob)
    bad[len(bad) // 2] ^= 0xFF
    st, h, data = daemon.request("POST", "/v1/weights?name=bad", bytes(bad), hdr)
    assert st == 400, data
    assert daemon.json("GET", "/v1/weights/bad")[0] == 404
    assert daemon.request("POST", "/v1/weights", blob, hdr)[0] == 400              # no name
    assert daemon.request("POST", "/v1/weights?name=a/b", blob, hdr)[0] == 400
    assert daemon.request("POST", "/v1/weights?name=x", b"{}", {"Content-Type": "application/json"})[0] == 415


def drive(d, sid, k0, k1, seed, n):
    rng = np.random.default_rng(seed)
    last = None
    for k in range(k0, k1 + 1):
        g = rng.standard_normal(n).astype(np.float32).tolist()
        st, h, body = d.step_binary(sid, k, g)
        assert st == 200, body
        last = body
    return last


def test_lo_state_survives_kill9_bit_for_bit(make_daemon):
    T = [{"name": "w", "shape": [3, 4]}, {"name": "b", "shape": [4]}]
    n = 16
    d = make_daemon().start()
    s = d.create(optimizer="mlp_lopt", tensors=T, durability="step")
    sid = s["id"]
    drive(d, sid, 1, 12, 7, n)
    before = d.json("GET", f"/v1/sessions/{sid}/params")[1]
    d.kill9()
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    assert d2.json("GET", f"/v1/sessions/{sid}/params")[1] == before
    # The learned optimizer's accumulators came back too: the next update
    # equals that of a twin that was never interrupted, byte for byte.
    twin_d = make_daemon().start()
    twin = twin_d.create(optimizer="mlp_lopt", tensors=T)
    drive(twin_d, twin["id"], 1, 12, 7, n)
    assert twin_d.json("GET", f"/v1/sessions/{twin['id']}/params")[1] == before
    g = struct.unpack("<16f", struct.pack("<16f", *np.linspace(-1, 1, n)))
    a = d2.step_binary(sid, 13, list(g))
    b = twin_d.step_binary(twin["id"], 13, list(g))
    assert a[0] == 200 and a[2] == b[2]
