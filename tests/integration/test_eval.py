"""`optirsd eval` on suite files (issue #15 §3): a tiny suite with small
horizons through the real binary — the table, the per-horizon, per-domain and
overall summaries, the figures recorded in the weights record's evaluation
JSON under the suite's name, the ratio rule for non-positive losses, the lr
grid's edge flag, figures independent of the thread count, and every
malformed suite or argument refused with a message naming the line."""
import json
import os
import sqlite3
import statistics
import subprocess

from daemon import OPTIRSD

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args, timeout=120):
    return subprocess.run([OPTIRSD, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def evaluation(db, name="mlp_lopt"):
    con = sqlite3.connect(db)
    try:
        return json.loads(con.execute("SELECT eval_json FROM weights WHERE name = ? ORDER BY version DESC",
                                      (name,)).fetchone()[0])
    finally:
        con.close()


SUITE = """# a tiny suite
quadratic dim=5
logistic_regression dim=5 batch=16   # tabular by its family
rosenbrock domain=tabular             # counted as tabular here
styblinski_tang dim=3                 # negative losses, no known minimum: no ratio
styblinski_tang dim=2 min=-39.16616570377142
"""


def test_eval_suite_file(tmp_path):
    suite = tmp_path / "tiny.suite"
    suite.write_text(SUITE)
    db = str(tmp_path / "e.db")
    r = run("eval", "--weights", "mlp_lopt", "--suite-file", str(suite), "--db", db, "--horizons", "30,10",
            "--seeds", "2", "--threads", "2")
    assert r.returncode == 0, r.stderr
    assert 'on suite "tiny"' in r.stdout and "horizons 10,30, 2 seeds" in r.stdout, r.stdout
    ev = evaluation(db)["tiny"]
    rows = ev["tasks"]
    assert [(x["task"], x["horizon"]) for x in rows] == [
        (t, h) for t in ("quadratic dim=5", "logistic_regression dim=5 batch=16", "rosenbrock",
                         "styblinski_tang dim=3", "styblinski_tang dim=2") for h in (10, 30)]
    assert ev["horizons"] == [10, 30] and ev["seeds"] == 2
    assert [x["domain"] for x in rows[::2]] == ["synthetic", "tabular", "tabular", "synthetic", "synthetic"]
    for x in rows:
        # held-out loss next to the training loss, for all three
        for k in ("lo", "lo_heldout", "adam_tuned", "adam_tuned_heldout", "adam_1e-3", "adam_1e-3_heldout"):
            assert isinstance(x[k], float), (k, x)
        # the lr grid: 10^(k/3) within [1e-7, 10]; flagged only at a limit
        lr = x["adam_tuned_lr"]
        assert 1e-7 * 0.999 <= lr <= 10 * 1.001
        assert abs(round(3 * __import__("math").log10(lr)) - 3 * __import__("math").log10(lr)) < 1e-9
        if x["adam_tuned_lr_at_edge"]:
            assert abs(lr - 1e-7) < 1e-12 or abs(lr - 10) < 1e-9, x
        assert x["adam_tuned"] <= x["adam_1e-3"]   # 1e-3 is a grid point
    # the ratio rule: no minimum and negative losses -> undefined and skipped; with min= -> shifted
    st3 = [x for x in rows if x["task"] == "styblinski_tang dim=3"]
    assert all(x["ratio"] == "undefined" and x["ratio_heldout"] == "undefined" for x in st3), st3
    for x in rows:
        if x["task"] == "styblinski_tang dim=2":
            m = x["min"]
            if x["lo"] - m > 0 and x["adam_tuned"] - m > 0:
                assert abs(x["ratio"] - (x["lo"] - m) / (x["adam_tuned"] - m)) < 1e-9 * x["ratio"]
        elif x["task"] != "styblinski_tang dim=3":
            assert abs(x["ratio"] - x["lo"] / x["adam_tuned"]) < 1e-9 * x["ratio"]
    # the overall summary from the rows: median and worst ratio, wins
    ratios = [x["ratio"] for x in rows if x["ratio"] != "undefined"]
    assert ev["ratio_entries"] == len(ratios) == 8 and ev["ratio_skipped"] == 2
    assert abs(ev["median_ratio"] - statistics.median(ratios)) < 1e-12 * max(ratios)
    assert ev["worst_ratio"] == max(ratios)
    held = [x["ratio_heldout"] for x in rows if x["ratio_heldout"] != "undefined"]
    assert abs(ev["median_ratio_heldout"] - statistics.median(held)) < 1e-12 * max(held)
    assert ev["beats_tuned_adam"] == sum(x["lo"] < x["adam_tuned"] for x in rows)
    assert ev["beats_adam_1e-3"] == sum(x["lo"] < x["adam_1e-3"] for x in rows)
    assert ev["total"] == 10 and ev["nonfinite_runs"] == 0
    assert ev["lr_at_edge"] == sum(x["adam_tuned_lr_at_edge"] for x in rows)
    # per horizon and per domain
    assert set(ev["by_horizon"]) == {"10", "30"} and ev["by_horizon"]["10"]["total"] == 5
    assert set(ev["by_domain"]) == {"synthetic", "tabular"}
    assert ev["by_domain"]["tabular"]["total"] == 4
    tab = [x["ratio"] for x in rows if x["domain"] == "tabular"]
    assert ev["by_domain"]["tabular"]["worst_ratio"] == max(tab)
    # printed: a line per horizon, per domain, and the summary
    for line in ("H=10: beats tuned Adam on %d of 5" % ev["by_horizon"]["10"]["beats_tuned_adam"],
                 "domain tabular: beats tuned Adam on %d of 4" % ev["by_domain"]["tabular"]["beats_tuned_adam"],
                 "summary (mlp_lopt@1, suite tiny): beats tuned Adam on %d of 10" % ev["beats_tuned_adam"]):
        assert line in r.stdout, (line, r.stdout)
    assert "over 8 entries (2 without a ratio)" in r.stdout, r.stdout
    # the widening's cost: lrs run beyond the starting ten (at least one, two beyond its best, for
    # every task with a best lr outside [1e-4, 1e-1])
    assert "tuned Adam: %d lrs run beyond the starting 10, over 5 tasks" % ev["adam_extra_lrs"] in r.stdout
    outside = {x["task"] for x in rows if not 0.99e-4 < x["adam_tuned_lr"] < 0.1001}
    assert ev["adam_extra_lrs"] >= 2 * len(outside)
    # the figures do not depend on the thread count
    r1 = run("eval", "--weights", "mlp_lopt", "--suite-file", str(suite), "--db", db, "--horizons", "10,30",
             "--seeds", "2", "--threads", "1")
    assert r1.returncode == 0, r1.stderr
    assert evaluation(db)["tiny"]["tasks"] == rows


def test_eval_refuses_bad_suites_and_arguments(tmp_path):
    db = str(tmp_path / "e.db")
    cases = {
        "quadratic\nno_such_family\n": ":2:",
        "quadratic dim=x\n": ":1:",
        "\nquadratic colour=red\n": ":2:",
        "quadratic domain=space\n": ":1:",
        "quadratic\nquadratic\n": ":2:",
        "@include x\n": ":1:",
        "".join("quadratic dim=%d\n" % i for i in range(1, 66)): ":65:",
        "quadratic" + " " * 500 + "\n": ":1:",
    }
    for i, (text, where) in enumerate(cases.items()):
        f = tmp_path / ("bad%d.suite" % i)
        f.write_text(text)
        r = run("eval", "--weights", "mlp_lopt", "--suite-file", str(f), "--db", db, "--horizons", "5")
        assert r.returncode == 2 and str(f) + where in r.stderr, (text[:40], r.stderr)
    big = tmp_path / "big.suite"
    big.write_text("quadratic\n" + "#" * (64 * 1024) + "\n")
    r = run("eval", "--weights", "mlp_lopt", "--suite-file", str(big), "--db", db, "--horizons", "5")
    assert r.returncode == 2 and "larger than 65536 bytes" in r.stderr, r.stderr
    empty = tmp_path / "empty.suite"
    empty.write_text("# nothing\n")
    r = run("eval", "--weights", "mlp_lopt", "--suite-file", str(empty), "--db", db, "--horizons", "5")
    assert r.returncode == 2 and "holds no task" in r.stderr, r.stderr
    ok = tmp_path / "ok.suite"
    ok.write_text("quadratic\n")
    for args in (["--suite", "../etc/passwd"], ["--suite", "missing_suite"], ["--suite", "train", "--suite-file", str(ok)],
                 ["--suite-file", str(ok), "--horizons", "10,10"], ["--suite-file", str(ok), "--horizons", "0"],
                 ["--suite-file", str(ok), "--horizons", "1,2,3,4,5,6,7,8,9"]):
        r = run("eval", "--weights", "mlp_lopt", "--db", db, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)


def test_shipped_suites_run(tmp_path):
    """Every entry of the shipped selection and test suites makes a task (its data is there):
    three steps each.  test.suite holds at least 16 entries; train follows the record."""
    db = str(tmp_path / "e.db")
    for name in ("selection", "test"):
        lines = [l.split("#")[0].strip() for l in open(os.path.join(ROOT, "deploy/eval/%s.suite" % name))]
        n = len([l for l in lines if l])
        assert n >= (16 if name == "test" else 10)
        r = run("eval", "--weights", "mlp_lopt", "--suite", name, "--db", db, "--horizons", "3", "--seeds", "1")
        assert r.returncode == 0, r.stderr
        assert "suite %s): beats tuned Adam on" % name in r.stdout and "Adam@1e-3 on" in r.stdout
        assert len(evaluation(db)[name]["tasks"]) == n
    r = run("eval", "--weights", "mlp_lopt", "--suite", "train", "--db", db, "--horizons", "3", "--seeds", "1")
    assert r.returncode == 0, r.stderr
    assert {x["task"] for x in evaluation(db)["train"]["tasks"]} == set(json.loads(sqlite3.connect(db).execute(
        "SELECT provenance_json FROM weights WHERE name = 'mlp_lopt'").fetchone()[0])["task_families"])


def test_eval_domain_filter(tmp_path):
    """--domain D keeps the suite's entries of that domain (an entry's domain=
    counts), records the figures under SUITE.D, and refuses a word outside the
    vocabulary or a domain the suite does not hold, recording nothing."""
    suite = tmp_path / "tiny.suite"
    suite.write_text(SUITE)
    db = str(tmp_path / "e.db")
    r = run("eval", "--weights", "mlp_lopt", "--suite-file", str(suite), "--db", db, "--horizons", "10",
            "--seeds", "1", "--threads", "1", "--domain", "tabular")
    assert r.returncode == 0, r.stderr
    ev = evaluation(db)
    keys = set(ev)
    assert "tiny" not in ev and "tiny.tabular" in ev
    assert [x["task"] for x in ev["tiny.tabular"]["tasks"]] == ["logistic_regression dim=5 batch=16", "rosenbrock"]
    for bad, why in (("Vision", "--domain must be"), ("mixed", "--domain must be"), ("text", "no task of domain text")):
        r = run("eval", "--weights", "mlp_lopt", "--suite-file", str(suite), "--db", db, "--horizons", "10",
                "--seeds", "1", "--domain", bad)
        assert r.returncode == 2 and why in r.stderr, (bad, r.stderr)
    assert set(evaluation(db)) == keys


def test_eval_set_hyperparameters(tmp_path):
    """--set NAME=VALUE (and --lr X, the same as --set lr=X) changes the learned optimizer's
    runs and nothing is recorded; a name the optimizer lacks or a value out of its range is a
    usage error before anything runs."""
    suite = tmp_path / "one.suite"
    suite.write_text("quadratic dim=5\n")
    db = str(tmp_path / "e.db")
    base = ("eval", "--weights", "mlp_lopt", "--suite-file", str(suite), "--db", db, "--horizons", "20",
            "--seeds", "1", "--threads", "1")

    def lo_loss(out):
        row = [ln for ln in out.splitlines() if ln.startswith("quadratic dim=5")]
        assert len(row) == 1, out
        return float(row[0].split()[3])

    r = run(*base)
    assert r.returncode == 0, r.stderr
    default = lo_loss(r.stdout)
    recorded = evaluation(db)["one"]
    r = run(*base, "--set", "lr=1e-4", "--set", "guard=0")
    assert r.returncode == 0, r.stderr
    assert "LO at lr 0.0001 (its default: 0.001)" in r.stdout and "LO with guard = 0" in r.stdout, r.stdout
    assert "not recorded" in r.stdout
    assert lo_loss(r.stdout) != default          # a 10x smaller step moves the loss
    r2 = run(*base, "--lr", "1e-4", "--set", "guard=0")
    assert r2.returncode == 0 and lo_loss(r2.stdout) == lo_loss(r.stdout), r2.stdout
    assert evaluation(db)["one"] == recorded     # the record keeps its default figures
    for bad in (["--set", "nope=1"], ["--set", "guard=-1"], ["--lr", "-1"], ["--set", "guard"], ["--set", "=3"],
                ["--set", "guard=1e999"], ["--set", "guard=nan"], ["--set", "x" * 40 + "=1"],
                ["--set", "guard=1x"]):
        r = run(*base, *bad)
        assert r.returncode == 2, (bad, r.stdout, r.stderr)
        assert "LO with" not in r.stdout and "LO at" not in r.stdout, bad
    many = [a for k in range(9) for a in ("--set", "h%d=1" % k)]
    assert run(*base, *many).returncode == 2
    # a shape the record fixes (mlp_lopt's hidden width) would be ignored: refused, never ignored
    r = run(*base, "--set", "hidden=16")
    assert r.returncode == 2 and "is fixed by the weights record" in r.stderr, (r.stdout, r.stderr)
    assert "LO with" not in r.stdout


def test_eval_records_the_hyperparameters_it_ran_with(tmp_path, daemon):
    """A recorded evaluation names the learned optimizer's hyperparameters it measured (the
    defaults of this build, GET /v1/optimizers), except those the record fixes (its shape), so
    figures taken before a default changed say so."""
    suite = tmp_path / "one.suite"
    suite.write_text("quadratic dim=5\n")
    db = str(tmp_path / "e.db")
    r = run("eval", "--weights", "mlp_lopt", "--suite-file", str(suite), "--db", db, "--horizons", "10",
            "--seeds", "1", "--threads", "1")
    assert r.returncode == 0, r.stderr
    hp = evaluation(db)["one"]["hyperparams"]
    st, cat = daemon.json("GET", "/v1/optimizers")
    assert st == 200
    listed = {h["name"]: h["default"] for h in next(o for o in cat["optimizers"]
                                                      if o["name"] == "mlp_lopt")["hyperparams"]}
    assert {"lr", "guard", "trust", "hold_zero_grad", "hypergrad", "anneal"} <= set(hp), hp
    assert "hidden" not in hp and "depth" not in hp, hp      # the record's shape, not a setting
    assert all(hp[k] == listed[k] for k in hp), (hp, listed)
