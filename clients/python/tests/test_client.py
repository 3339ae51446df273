"""optirs.Client / optirs.Session against a real optirsd."""
import threading

import numpy as np
import pytest

import optirs
from dropproxy import DropProxy


def test_health_catalogue_and_session_lifecycle(url):
    c = optirs.Client(url)
    assert c.health() == {"status": "ready"}
    names = [o["name"] for o in c.optimizers()]
    assert {"sgd", "adam", "mlp_lopt"} <= set(names)
    s = c.create_session("adam", tensors=[[2, 3], {"name": "b", "shape": [3]}],
                         hyperparams={"lr": 0.01}, params=np.arange(9, dtype=np.float32),
                         name="lifecycle", tags={"who": "test"}, durability="step")
    assert s.num_params == 9 and s.last_step == 0
    assert s.desc["hyperparams"]["lr"] == pytest.approx(0.01)
    p = np.arange(9, dtype=np.float32)
    for k in range(1, 4):
        g = np.linspace(-1, 1, 9).astype(np.float32) * k
        u = s.step(g, loss=1.0 / k)
        assert isinstance(u, np.ndarray) and u.dtype == np.float32 and u.shape == (9,)
        p = p + u
    assert s.last_step == 3
    np.testing.assert_array_equal(s.params(), p)   # float32 additions agree exactly
    assert s.info()["step"] == 3 and s.desc["name"] == "lifecycle"
    rows = s.metrics()
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert rows[2]["loss"] == pytest.approx(1 / 3)
    assert [r["step"] for r in s.metrics(after=1, limit=1)] == [2]
    assert s.feedback(2, 0.25, {"acc": 0.5})["stored"] is True
    again = c.session(s.id)
    assert again.last_step == 3 and again.num_params == 9
    assert s.delete() == {"id": s.id, "deleted": True}
    with pytest.raises(optirs.OptirsError) as e:
        c.session(s.id)
    assert (e.value.code, e.value.status) == ("session_not_found", 404)


def test_json_path_matches_binary_path(url):
    cb, cj = optirs.Client(url), optirs.Client(url, binary=False)
    sb = cb.create_session("adam", tensors=[[5]], hyperparams={"lr": 0.1})
    sj = cj.create_session("adam", tensors=[[5]], hyperparams={"lr": 0.1})
    for k in range(1, 4):
        g = [0.5 * k, -1.0, 2.0, 1e-3, -7.25]
        ub = sb.step(g, loss=0.5)                  # list in -> list out
        uj = sj.step(g, loss=0.5)
        assert isinstance(ub, list) and isinstance(uj, list)
        # the same float32 values either way (JSON prints the shortest decimal)
        np.testing.assert_array_equal(np.float32(ub), np.float32(uj))
    np.testing.assert_array_equal(np.float32(sj.params()), sb.params())
    assert isinstance(sj.step(np.ones(5, np.float32)), np.ndarray)


def test_sessions_iterates_every_page(url):
    c = optirs.Client(url)
    made = {c.create_session("sgd", tensors=[[1]], name="page%d" % i).id for i in range(5)}
    every = list(c.sessions(page_size=2))
    seen = [s["id"] for s in every]
    assert made <= set(seen)
    order = [(s["created_ms"], s["id"]) for s in every]     # newest first
    assert len(seen) == len(set(seen)) and order == sorted(order, reverse=True)


def test_update_and_filters(url):
    c = optirs.Client(url)
    a = c.create_session("adam", tensors=[[2]], name="filter-a", tags={"team": "ops"})
    b = c.create_session("sgd", tensors=[[2]], name="filter-b")
    assert a.update(status="finished", tags={"team": "ops", "done": "yes"})["status"] == "finished"
    with pytest.raises(optirs.OptirsError) as e:
        a.step([1.0, 1.0])
    assert e.value.code == "session_closed" and e.value.status == 409
    assert [s["id"] for s in c.sessions(status="finished", q="filter-")] == [a.id]
    assert [s["id"] for s in c.sessions(tag="done:yes")] == [a.id]
    assert [s["id"] for s in c.sessions(optimizer="sgd", name="filter-b")] == [b.id]
    assert b.update(name="filter b & c?")["name"] == "filter b & c?"
    assert [s["id"] for s in c.sessions(name="filter b & c?")] == [b.id]


def test_step_conflict_carries_expected(url):
    c = optirs.Client(url)
    a = c.create_session("sgd", tensors=[[2]])
    stale = c.session(a.id)                      # counter at 0
    a.step([1.0, 1.0])
    a.step([1.0, 1.0])                           # daemon at step 2
    with pytest.raises(optirs.OptirsError) as e:
        stale.step([1.0, 1.0])                   # sends 1: neither 2 nor 3
    err = e.value
    assert (err.code, err.status, err.expected) == ("step_conflict", 409, 3)
    assert stale.last_step == 0
    assert stale.resync() == 2
    stale.step([1.0, 1.0])
    assert a.info()["step"] == 3


def test_errors_carry_daemon_codes(url):
    c = optirs.Client(url)
    with pytest.raises(optirs.OptirsError) as e:
        c.create_session("no_such_opt", tensors=[[1]])
    assert (e.value.code, e.value.status) == ("unknown_optimizer", 400)
    with pytest.raises(optirs.OptirsError) as e:
        c.create_session("adam", tensors=[[1]], hyperparams={"beta3": 1})
    assert e.value.code == "unknown_hyperparameter" and "beta3" in e.value.message
    s = c.create_session("sgd", tensors=[[2]])
    with pytest.raises(optirs.OptirsError) as e:
        s.step(np.array([np.nan, 0], np.float32))
    assert (e.value.code, e.value.status) == ("non_finite", 422)
    assert s.last_step == 0                      # nothing applied, counter unchanged
    with pytest.raises(ValueError):
        s.step([1.0, 2.0, 3.0])                  # wrong length: caught before sending


@pytest.mark.parametrize("binary", [True, False])
def test_lost_reply_is_retried_with_the_same_step(daemon, binary):
    """The daemon applies step 1, the reply is lost (the proxy closes the
    connection), the client re-sends step 1 and gets the stored update:
    applied exactly once."""
    proxy = DropProxy(daemon.port)
    try:
        c = optirs.Client(proxy.url, binary=binary, backoff=0.01)
        s = c.create_session("sgd", tensors=[[3]], hyperparams={"lr": 1.0}, params=[1, 1, 1])
        proxy.drop = 1
        u = s.step([0.5, -1.0, 2.0])
        assert proxy.dropped == 1 and s.last_step == 1
        assert list(u) == [-0.5, 1.0, -2.0]
        d = optirs.Client(daemon_url(daemon))
        assert d.session(s.id).last_step == 1
        assert list(d.session(s.id).params()) == [0.5, 2.0, -1.0]   # once, not twice
        proxy.drop = 2                            # two lost replies in a row
        u2 = s.step([1.0, 1.0, 1.0])
        assert list(u2) == [-1.0, -1.0, -1.0] and proxy.dropped == 3
        assert list(d.session(s.id).params()) == [-0.5, 1.0, -2.0]
        m = d.session(s.id).metrics()
        assert [r["step"] for r in m] == [1, 2]
    finally:
        proxy.close()


def daemon_url(d):
    return "http://127.0.0.1:%d" % d.port


def test_unreachable_daemon_gives_up_after_bounded_retries():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                    # nothing listens there now
    c = optirs.Client("http://127.0.0.1:%d" % port, retries=3, backoff=0.01)
    with pytest.raises(optirs.OptirsError) as e:
        c.optimizers()
    assert e.value.code == "connection_error" and e.value.status == 0


def test_shared_session_with_two_workers(url):
    c = optirs.Client(url)
    s = c.create_session("sgd", tensors=[[4]], hyperparams={"lr": 1.0}, workers=2)
    grads = {"w0": np.array([1, 2, 3, 4], np.float32), "w1": np.array([3, 2, 1, 0], np.float32)}
    out = {}

    def work(name):
        mine = c.session(s.id)                   # one Session (and connection) per worker
        out[name] = [mine.step(grads[name] * k, loss=1.0, worker=name) for k in (1, 2, 3)]

    ts = [threading.Thread(target=work, args=(n,)) for n in grads]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert set(out) == {"w0", "w1"}
    for k in range(3):
        np.testing.assert_array_equal(out["w0"][k], out["w1"][k])
        np.testing.assert_allclose(out["w0"][k], -2.0 * (k + 1) * np.ones(4), rtol=1e-6)
    info = s.info()
    assert info["step"] == 3 and info["workers"] == 2
    np.testing.assert_allclose(s.params(), -12.0 * np.ones(4), rtol=1e-6)


def _daemon_keeps_idempotency(url):
    c = optirs.Client(url)
    spec = {"optimizer": "sgd", "tensors": [{"shape": [1]}], "name": "idem-probe"}
    ids = set()
    for _ in range(2):
        st, h, data = c.request("POST", "/v1/sessions", spec, headers={"Idempotency-Key": "probe-key-1"})
        ids.add(__import__("json").loads(data)["id"])
    return len(ids) == 1


def test_lost_create_reply_is_retried_once(daemon):
    """The create's reply is lost; the client re-sends it with the same
    Idempotency-Key and gets the first session (no duplicate)."""
    if not _daemon_keeps_idempotency(daemon_url(daemon)):
        pytest.skip("this optirsd does not keep Idempotency-Key records")
    proxy = DropProxy(daemon.port)
    try:
        c = optirs.Client(proxy.url, backoff=0.01)
        proxy.drop = 1
        s = c.create_session("sgd", tensors=[[2]], name="lost-create-reply")
        assert proxy.dropped == 1 and proxy.forwarded == 2
        named = [x for x in optirs.Client(daemon_url(daemon)).sessions() if x["name"] == "lost-create-reply"]
        assert [x["id"] for x in named] == [s.id]
    finally:
        proxy.close()


def test_create_options_adapt_non_finite_divergence(url):
    c = optirs.Client(url)
    s = c.create_session("adam", tensors=[[3]], adapt={"lr": "hypergradient", "beta": 1e-3},
                         non_finite="skip", divergence_factor=100.0)
    info = s.info()
    assert info["adapt"]["lr"] == "hypergradient" and info["adapt"]["beta"] == 1e-3
    assert (info["non_finite"], info["divergence_factor"]) == ("skip", 100)
    assert list(s.step([float("nan"), 1.0, 1.0])) == [0.0, 0.0, 0.0]   # skipped, still counted
    assert s.info()["step"] == 1
    with pytest.raises(optirs.OptirsError) as e:
        c.create_session("adam", tensors=[[3]], adapt={"lr": "sometimes"})
    assert e.value.status == 400 or e.value.status == 422


def _import_domain_record(daemon, name, domain):
    """Stores a copy of the shipped mlp_lopt blob as record `name` (domain `domain`)."""
    st, _, blob = daemon.request("GET", "/v1/weights/mlp_lopt/blob")
    assert st == 200
    st, _, data = daemon.request("POST", "/v1/weights?name=%s&domain=%s" % (name, domain), blob,
                                 {"Content-Type": "application/octet-stream"})
    assert st == 201, data


def test_create_with_a_domain(daemon, url):
    c = optirs.Client(url)
    with pytest.raises(optirs.OptirsError) as e:
        c.create_session("mlp_lopt", tensors=[[3]], domain="synthetic")
    assert (e.value.code, e.value.status) == ("no_domain_weights", 422)
    _import_domain_record(daemon, "mlp_lopt.synthetic", "synthetic")
    s = c.create_session("mlp_lopt", tensors=[[3]], domain="synthetic")
    assert s.desc["domain"] == "synthetic" and s.desc["weights"] == "mlp_lopt.synthetic@1"
    assert s.info()["weights"] == "mlp_lopt.synthetic@1"
    assert len(s.step([1.0, -1.0, 0.5])) == 3
    cat = {o["name"]: o for o in c.optimizers()}
    assert cat["mlp_lopt"]["domain_weights"]["synthetic"]["ref"] == "mlp_lopt.synthetic@1"
    with pytest.raises(optirs.OptirsError) as e:
        c.create_session("mlp_lopt", tensors=[[3]], domain="Synthetic")
    assert (e.value.code, e.value.status) == ("invalid_argument", 400)
