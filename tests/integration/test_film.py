"""FiLM records of mlp_lopt over HTTP (docs/meta-learning.md#multi-task-optimizer):
a session with "weights" = a FiLM record and "domain" D steps on the record's
row D — bit for bit as a plain record holding the folded trunk (W0' = gamma*W0,
b0' = gamma*b0 + beta, computed here in float32) — differently from the same
record without a domain, which steps as its trunk; the domain survives a
restart; hostile domains are refused; POST /v1/meta/jobs takes "film": 1 and
the record's provenance says so.  The FiLM record is built here from the
shipped mlp_lopt blob (its theta plus four rows), so no meta-training is
needed for the stepping tests."""
import struct
import time
import zlib

import numpy as np
import pytest

BIN = {"Content-Type": "application/octet-stream"}
T = [{"name": "w", "shape": [6, 5]}, {"name": "b", "shape": [5]}]
NFEAT, NTIME, NDECAY = 12, 9, 5        # lopt.h: LOPT_NFEAT, LOPT_NTIME, LOPT_NDECAY
FILM_BIT = 0x8000
DOMAINS = ["vision", "text", "tabular", "synthetic"]


def parse_weights_blob(blob):
    magic, kind, version, length = struct.unpack_from("<IIIQ", blob, 0)
    assert magic == 0x4254504F and kind == 3 and length == len(blob) - 24
    arch, hidden, dword, n = struct.unpack_from("<IIIQ", blob, 20)
    theta = np.frombuffer(blob, dtype="<f4", count=n, offset=40).copy()
    return arch, hidden, dword, theta


def weights_blob(arch, hidden, dword, theta):
    payload = struct.pack("<IIIQ", arch, hidden, dword, len(theta)) + np.asarray(theta, "<f4").tobytes()
    head = struct.pack("<IIIQ", 0x4254504F, 3, 1, len(payload)) + payload
    return head + struct.pack("<I", zlib.crc32(head) & 0xFFFFFFFF)


def put(d, name, blob, domain="mixed"):
    st, _, data = d.request("POST", f"/v1/weights?name={name}&domain={domain}", blob, BIN)
    assert st == 201, data


@pytest.fixture
def film(daemon):
    """Imports film_rec (the shipped mlp_lopt's theta + four random rows),
    folded_<domain> (plain records holding each row folded in) and trunk
    (the plain theta); returns the rows."""
    st, _, blob = daemon.request("GET", "/v1/weights/mlp_lopt/blob")
    assert st == 200
    arch, H, dword, theta = parse_weights_blob(blob)
    assert dword & FILM_BIT == 0
    rng = np.random.default_rng(7)
    rows = []
    for _ in DOMAINS:
        rows.append((np.float32(1) + rng.normal(0, 0.3, H).astype(np.float32),
                     rng.normal(0, 0.3, H).astype(np.float32)))
    film_theta = np.concatenate([theta] + [np.concatenate(r) for r in rows]).astype(np.float32)
    put(daemon, "film_rec", weights_blob(arch, H, dword | FILM_BIT, film_theta))
    put(daemon, "trunk", weights_blob(arch, H, dword, theta))
    I = NFEAT + NTIME
    for dom, (g, b) in zip(DOMAINS, rows):
        t = theta.copy()
        W0 = t[NDECAY:NDECAY + H * I].reshape(H, I)
        b0 = t[NDECAY + H * I:NDECAY + H * I + H]
        W0[:] = g[:, None] * W0                      # float32 * float32: rounded once, as in C
        b0[:] = g * b0 + b                           # two float32 operations, as in C (no contraction)
        put(daemon, f"folded_{dom}", weights_blob(arch, H, dword, t))
    return rows


def run(d, n_steps=4, **spec):
    st, s = d.json("POST", "/v1/sessions", {"tensors": T, "optimizer": "mlp_lopt", **spec})
    assert st == 201, s
    n = s["num_params"]
    rng = np.random.default_rng(3)
    ups = []
    for k in range(1, n_steps + 1):
        g = rng.normal(0, 1, n).astype(np.float32)
        st, ans = d.step(s["id"], k, [float(x) for x in g])
        assert st == 200, ans
        ups.append(np.float32(ans["update"]))
    return s, np.stack(ups)


def test_domain_picks_the_row_and_equals_the_folded_record(daemon, film):
    for dom in ("vision", "tabular"):
        s, u = run(daemon, weights="film_rec", domain=dom)
        assert s["domain"] == dom and s["weights"] == "film_rec"
        _, f = run(daemon, weights=f"folded_{dom}")
        np.testing.assert_array_equal(u, f)          # bit for bit
    _, none = run(daemon, weights="film_rec")
    _, trunk = run(daemon, weights="trunk")
    np.testing.assert_array_equal(none, trunk)       # no domain: the trunk as it is
    _, vis = run(daemon, weights="film_rec", domain="vision")
    assert not np.array_equal(vis, none)
    _, txt = run(daemon, weights="film_rec", domain="text")
    assert not np.array_equal(vis, txt)
    # a plain record still must carry the domain asked for
    st, body = daemon.json("POST", "/v1/sessions", {"tensors": T, "optimizer": "mlp_lopt",
                                                    "weights": "trunk", "domain": "vision"})
    assert st == 400 and "mixed" in body["error"]["message"], body


def test_hostile_domains_are_refused_on_a_film_record(daemon, film):
    for bad in ["Vision", " vision", "vision ", "", "mixed", "vision\u0000", "v" * 5000, "\u00e9", 3, None,
                ["vision"], {"d": "vision"}, True]:
        st, body = daemon.json("POST", "/v1/sessions", {"tensors": T, "optimizer": "mlp_lopt",
                                                        "weights": "film_rec", "domain": bad})
        assert st == 400 and body["error"]["code"] in ("invalid_argument", "invalid_utf8"), (bad, body)


def test_film_domain_survives_restart(make_daemon):
    d = make_daemon().start()
    st, _, blob = d.request("GET", "/v1/weights/mlp_lopt/blob")
    arch, H, dword, theta = parse_weights_blob(blob)
    rows = np.concatenate([np.full(H, 1.3, np.float32), np.full(H, 0.05, np.float32)] * 4)
    put(d, "film_r", weights_blob(arch, H, dword | FILM_BIT, np.concatenate([theta, rows])))
    st, s = d.json("POST", "/v1/sessions", {"tensors": T, "optimizer": "mlp_lopt", "weights": "film_r",
                                            "domain": "text", "durability": "step"})
    assert st == 201, s
    st, t = d.json("POST", "/v1/sessions", {"tensors": T, "optimizer": "mlp_lopt", "weights": "film_r",
                                            "domain": "text"})
    assert st == 201, t
    n = s["num_params"]
    g = [float(x) for x in np.float32(np.linspace(-1, 1, n))]
    for k in (1, 2, 3):
        assert d.step(s["id"], k, g)[0] == 200
        assert d.step(t["id"], k, g)[0] == 200
    d.kill9()
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    got = d2.json("GET", f"/v1/sessions/{s['id']}")[1]
    assert got["domain"] == "text" and got["weights"] == "film_r"
    # the restored session takes its 4th step as a fresh twin on row text does
    st, a = d2.step(s["id"], 4, g)
    assert st == 200, a
    st, twin = d2.json("POST", "/v1/sessions", {"tensors": T, "optimizer": "mlp_lopt", "weights": "film_r",
                                                "domain": "text"})
    for k in (1, 2, 3, 4):
        st, b = d2.step(twin["id"], k, g)
        assert st == 200
    np.testing.assert_array_equal(np.float32(a["update"]), np.float32(b["update"]))


def wait_done(d, jid, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st, job = d.json("GET", f"/v1/meta/jobs/{jid}")
        assert st == 200, job
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError("job %s did not finish" % jid)


def test_meta_job_with_film(daemon):
    tiny = {"name": "film_tiny", "tasks": ["quadratic dim=5", "logistic_regression dim=5"], "particles": 4,
            "unroll": 5, "outer_steps": 3, "checkpoint_every": 3, "estimator": "pes", "horizon_min": 10,
            "horizon_max": 20, "film": 1, "init_weights": "mlp_lopt"}
    st, job = daemon.json("POST", "/v1/meta/jobs", tiny)
    assert st == 202, job
    assert job["config"]["film"] == 1
    job = wait_done(daemon, job["id"])
    assert job["status"] == "done", job
    st, rec = daemon.json("GET", "/v1/weights/film_tiny")
    assert st == 200, rec
    assert rec["architecture"]["ntheta"] == 213 + 4 * 2 * 8 and rec["domain"] == "mixed"
    assert rec["provenance"]["config"]["film"] == 1, rec["provenance"]
    st, _, blob = daemon.request("GET", "/v1/weights/film_tiny/blob")
    _, H, dword, theta = parse_weights_blob(blob)
    assert dword & FILM_BIT
    rows = theta[213:].reshape(4, 2, H)
    # vision and text have no task: their rows are still exactly the identity
    for r in (0, 1):
        assert np.array_equal(rows[r, 0], np.ones(H, np.float32)) and not rows[r, 1].any()
    assert not np.array_equal(rows[2, 0], np.ones(H, np.float32))     # tabular trained
    # the record steps sessions of any domain
    st, s = daemon.json("POST", "/v1/sessions", {"tensors": T, "optimizer": "mlp_lopt",
                                                 "weights": "film_tiny", "domain": "tabular"})
    assert st == 201, s
    # a FiLM init without film = 1 is refused; film with another optimizer, a bad value, TBPTT
    for bad in [dict(tiny, name="x1", film=0, init_weights="film_tiny"),
                dict(tiny, name="x2", optimizer="lstm_lopt", init_weights=""),
                dict(tiny, name="x3", film=2), dict(tiny, name="x4", film="yes"),
                dict(tiny, name="x5", estimator="tbptt", init_weights="")]:
        st, body = daemon.json("POST", "/v1/meta/jobs", bad)
        if st == 202:
            body = wait_done(daemon, body["id"])
            assert body["status"] == "failed", (bad, body)
        else:
            assert st == 400, (bad, body)


def test_adapt_job_on_a_film_base_keeps_the_rows(daemon):
    """An adapt job from a FiLM base is a FiLM job: the result carries the rows,
    only the new task's domain's row moves."""
    tiny = {"name": "film_base", "tasks": ["quadratic dim=5"], "particles": 4, "unroll": 5, "outer_steps": 2,
            "checkpoint_every": 2, "estimator": "pes", "horizon_min": 10, "horizon_max": 20, "film": 1}
    st, job = daemon.json("POST", "/v1/meta/jobs", tiny)
    assert st == 202, job
    assert wait_done(daemon, job["id"])["status"] == "done"
    st, job = daemon.json("POST", "/v1/meta/jobs", {"method": "adapt", "base": "film_base", "name": "film_ad",
                                                    "tasks": ["logistic_regression dim=5"], "outer_steps": 2})
    assert st == 202, job
    job = wait_done(daemon, job["id"])
    assert job["status"] == "done", job
    assert job["config"]["film"] == 1
    _, _, b0 = daemon.request("GET", "/v1/weights/film_base/blob")
    _, _, b1 = daemon.request("GET", "/v1/weights/film_ad/blob")
    _, H, d0, t0 = parse_weights_blob(b0)
    _, _, d1, t1 = parse_weights_blob(b1)
    assert d0 & FILM_BIT and d1 & FILM_BIT and len(t1) == len(t0) == 213 + 8 * H
    r0, r1 = t0[213:].reshape(4, 2 * H), t1[213:].reshape(4, 2 * H)
    assert np.array_equal(r0[0], r1[0]) and np.array_equal(r0[1], r1[1])   # vision, text: untouched
    assert not np.array_equal(r0[2], r1[2])                                 # tabular: the new task's
