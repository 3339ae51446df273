"""Downsampled metrics (GET /v1/sessions/{id}/metrics?max_points=…) against a
brute-force computation over the same session's raw metric rows (the paged
form of the same endpoint), through a real optirsd and across a restart.

For random ranges and max_points (seeded): the bucket list (step / width),
each bucket's step range and count, and for every metric column the first
steps where the minimum and maximum occur must match exactly; the minimum
and maximum to within the raw pages' printing (cJSON may print a value 1 ulp
off; the answer itself prints 17 significant digits, and the unit test
test_store_analytics checks exactness against the database); the mean within
1e-12 relative.  The data
has ties (quantized losses, a constant lr) and steps without a loss."""
import json
import math
import random

import pytest

from daemon import Daemon

COLS = ["loss", "grad_norm", "update_norm", "param_norm", "lr"]


def create(d):
    spec = {"optimizer": "sgd", "hyperparams": {"lr": 0.01}, "durability": "step",
            "tensors": [{"name": "w", "shape": [8]}]}
    st, _, body = d.request("POST", "/v1/sessions", spec)
    assert st in (200, 201), body
    return json.loads(body)["id"]


def steps(d, sid, k0, k1, rng):
    for k in range(k0, k1 + 1):
        g = [rng.choice([-1.0, 0.5, 2.0, 0.0]) for _ in range(8)]
        body = {"step": k, "grads": g}
        if rng.random() > 0.05:
            body["loss"] = rng.randrange(40) / 8.0 if rng.random() > 0.1 else 3.0
        st, _, resp = d.request("POST", "/v1/sessions/%s/step" % sid, body)
        assert st == 200, resp


def raw_rows(d, sid):
    rows, after = [], 0
    while True:
        st, _, body = d.request("GET", "/v1/sessions/%s/metrics?after=%d&limit=10000" % (sid, after))
        assert st == 200, body
        page = json.loads(body)
        rows += page["metrics"]
        if page["next_after"] is None:
            return rows
        after = page["next_after"]


def brute(rows, lo, hi, width):
    out = {}
    for r in rows:
        s = r["step"]
        if s < lo or s > hi:
            continue
        b = out.setdefault(s // width, {"first": s, "last": s, "n": 0,
                                        **{c: {"n": 0, "sum": 0.0, "min": None, "max": None,
                                               "min_step": None, "max_step": None} for c in COLS}})
        b["last"] = s
        b["n"] += 1
        for c in COLS:
            v = r[c]
            if v is None:
                continue
            x = b[c]
            if x["min"] is None or v < x["min"]:
                x["min"], x["min_step"] = v, s
            if x["max"] is None or v > x["max"]:
                x["max"], x["max_step"] = v, s
            x["n"] += 1
            x["sum"] += v
    return [out[k] for k in sorted(out)]


def same(a, b):
    """Equal up to the raw pages' printing: cJSON accepts %.15g when it reads
    back within a relative DBL_EPSILON, so a raw value may be 1 ulp off (the
    unit test test_store_analytics checks exactness against the database)."""
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=4.5e-16, abs_tol=0)


def check(d, sid, rows, max_points, lo=None, hi=None):
    q = "max_points=%d" % max_points
    if lo is not None:
        q += "&from=%d" % lo
    if hi is not None:
        q += "&to=%d" % hi
    st, _, body = d.request("GET", "/v1/sessions/%s/metrics?%s" % (sid, q))
    assert st == 200, body
    m = json.loads(body)
    w = m["bucket_width"]
    want = brute(rows, 0 if lo is None else lo, 1 << 60 if hi is None else hi, w)
    assert len(m["steps"]) == len(want) <= max_points, q
    assert m["total_steps"] == len(rows)
    for i, b in enumerate(want):
        assert (m["steps"][i], m["steps_last"][i], m["counts"][i]) == (b["first"], b["last"], b["n"]), (q, i)
        for c in COLS:
            x, got = b[c], m[c]
            assert same(got["min"][i], x["min"]) and same(got["max"][i], x["max"]), (q, i, c)
            assert got["min_step"][i] == x["min_step"] and got["max_step"][i] == x["max_step"], (q, i, c)
            if x["n"]:
                mean = x["sum"] / x["n"]
                assert math.isclose(got["mean"][i], mean, rel_tol=1e-12, abs_tol=1e-12), (q, i, c)
            else:
                assert got["mean"][i] is None
    return m


@pytest.fixture
def tmp_daemon(tmp_path):
    d = Daemon(tmpdir=str(tmp_path)).start()
    yield d, tmp_path
    d.stop()


def test_downsampled_buckets_equal_brute_force_over_raw_rows_and_survive_a_restart(tmp_daemon):
    d, tmp_path = tmp_daemon
    rng = random.Random(6)
    sid = create(d)
    steps(d, sid, 1, 1300, rng)
    rows = raw_rows(d, sid)
    assert len(rows) == 1300
    # whole curve: widths from 1 (max_points above the step count) to 1024 (level 512)
    for mp in (2, 3, 5, 9, 20, 100, 700, 2000):
        check(d, sid, rows, mp)
    for _ in range(25):
        lo = rng.randrange(0, 1400)
        hi = lo + rng.randrange(0, 1400)
        check(d, sid, rows, rng.choice([2, 3, 4, 10, 30, 200]), lo, hi)
    m = check(d, sid, rows, 4)
    assert m["bucket_width"] % 64 == 0
    # the summary's best loss is the exact minimum
    st, _, body = d.request("GET", "/v1/sessions/%s/summary" % sid)
    losses = [r["loss"] for r in rows if r["loss"] is not None]
    assert st == 200 and json.loads(body)["best_loss"] == min(losses)
    # a restart: the rollup is on disk; new steps extend it
    d.proc.terminate()
    d.proc.wait(timeout=20)
    d2 = Daemon(tmpdir=str(tmp_path)).start()
    try:
        steps(d2, sid, 1301, 1450, rng)
        rows = raw_rows(d2, sid)
        assert len(rows) == 1450
        for mp in (2, 7, 50, 1000):
            check(d2, sid, rows, mp)
        check(d2, sid, rows, 3, 1290, 1449)
    finally:
        d2.stop()
