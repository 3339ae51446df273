"""bench/torch_eval.py, the PyTorch-side evaluation, as a smoke test: `--quick` on one
model (the MLP autoencoder, the cheapest) against a daemon it starts itself, and the
`--url` path against the fixture's daemon.  Checks the JSON figures' shape and that they
are consistent with each other (tuned Adam is the grid's best, ratios are LO / tuned),
not their values."""
import json
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "bench", "torch_eval.py")


def run_eval(tmp_path, *args):
    out = tmp_path / "eval.json"
    p = subprocess.run([sys.executable, SCRIPT, "--quick", "--models", "autoencoder",
                        "--jobs", "1", "--json", str(out), *args],
                       capture_output=True, text=True, timeout=300)
    return p, out


def test_quick_autoencoder_own_daemon(tmp_path):
    """--quick with one widening round: the 3-point grid grows by one point beyond each
    edge where a best lr (train or held-out) sat, and by nothing otherwise."""
    p, out = run_eval(tmp_path, "--max-widen", "1")
    assert p.returncode == 0, p.stderr
    r = json.loads(out.read_text())
    assert r["horizons"] == [200] and r["seeds"] == 1 and r["optimizer"] == "mlp_lopt"
    assert len(r["rows"]) == 1
    row = r["rows"][0]
    assert row["model"] == "autoencoder" and row["horizon"] == 200
    grid = [round(lr, 6) for lr in row["grid"]]
    first = [0.001, 0.002154, 0.004642]
    by_lr = {round(e[0], 6): e for e in row["adam_by_lr"]}
    assert sorted(by_lr) == grid
    want = list(first)
    for col in (1, 2):
        best = min(first, key=lambda lr: by_lr[lr][col])
        if best == first[0]:
            want.insert(0, 0.000464)
        if best == first[-1]:
            want.append(0.01)
    assert grid == sorted(set(want))
    assert row["lo_non_finite_runs"] == 0
    # the LO run and every Adam run started from the same weights and minibatches
    assert r["summary"]["runs_with_the_same_start"] == r["seconds"]["runs_per_model"]["autoencoder"] == len(grid) + 1
    for col, tag in ((1, "train"), (2, "heldout")):
        c = row[tag]
        figures = [e[col] for e in row["adam_by_lr"]]
        assert all(v is not None and v > 0 for v in figures)
        assert c["adam_tuned"] == min(figures)
        assert c["best_lr"] == row["adam_by_lr"][figures.index(min(figures))][0]
        assert c["adam_1e-3"] == figures[grid.index(0.001)]
        assert c["best_lr_at_edge"] == (c["best_lr"] in (row["grid"][0], row["grid"][-1]))
        assert c["lo"] is not None and c["lo"] > 0
        assert math.isclose(c["ratio_tuned"], c["lo"] / c["adam_tuned"])
        assert c["beats_tuned"] == (c["lo"] < c["adam_tuned"])
        s = r["summary"][tag]
        assert s["entries"] == 1 and s["beats_tuned"] == int(c["beats_tuned"])
        assert s["median_ratio_tuned"] == s["worst_ratio_tuned"] == c["ratio_tuned"]
    assert r["summary"]["lo_runs"] == 1 and r["summary"]["lo_non_finite_runs"] == 0
    # the Markdown table is printed with one row per model and horizon
    assert "| autoencoder | 200 |" in p.stdout
    assert "non-finite LO runs: 0 of 1" in p.stdout


def test_url_given_uses_that_daemon(tmp_path, daemon):
    """With --url it starts no daemon: a weights record the given daemon does not hold
    fails the run with the daemon's error, and the sessions it made are gone."""
    url = "http://127.0.0.1:%d" % daemon.port
    p, out = run_eval(tmp_path, "--url", url, "--weights", "no_such_record")
    assert p.returncode != 0
    assert "no_such_record" in p.stderr
    assert not out.exists()
    st, _, body = daemon.request("GET", "/v1/sessions")
    assert st == 200
    assert json.loads(body)["sessions"] == []
