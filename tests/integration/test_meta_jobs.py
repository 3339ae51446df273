"""Meta-training jobs: through the API (POST/GET/DELETE /v1/meta/jobs) and
the command line (`optirsd meta-train`, `optirsd eval`)."""
import json
import math
import os
import re
import sqlite3
import struct
import signal
import subprocess
import time

import pytest

from daemon import OPTIRSD

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TINY = {"name": "tiny", "tasks": ["quadratic dim=5"], "particles": 4, "unroll": 5, "outer_steps": 6,
        "checkpoint_every": 2, "estimator": "es"}
# Long enough that it is still running when the test acts on it.
LONG = {"name": "long", "tasks": ["logistic_regression dim=10 batch=64"], "particles": 8, "unroll": 200,
        "outer_steps": 1000000, "checkpoint_every": 1}


def wait_status(d, jid, want, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st, job = d.json("GET", f"/v1/meta/jobs/{jid}")
        assert st == 200, job
        if job["status"] in want:
            return job
        time.sleep(0.05)
    raise AssertionError("job %s stayed %s" % (jid, job["status"]))


def test_api_job_completes_with_curve_and_weights(daemon):
    st, job = daemon.json("POST", "/v1/meta/jobs", TINY)
    assert st == 202, job
    assert job["status"] in ("queued", "running", "done") and job["id"].startswith("mj-")
    assert job["config"]["tasks"] == ["quadratic dim=5"] and job["config"]["particles"] == 4
    job = wait_status(daemon, job["id"], ("done", "failed"))
    assert job["status"] == "done", job
    assert job["step"] == 6 and job["progress"] == 1 and job["weights"] == "tiny@1"
    # the pace: the mean rate over the job (steps / wall_s), nothing left to wait for
    assert job["rate_per_s"] > 0 and job["rate_per_s"] == pytest.approx(job["step"] / job["wall_s"], rel=1e-12) and job["eta_s"] == 0
    assert [p["step"] for p in job["curve"]] == [1, 2, 3, 4, 5, 6]
    assert all(isinstance(p["meta_loss"], float) for p in job["curve"])
    assert job["meta_loss"] == job["curve"][-1]["meta_loss"]
    st, rec = daemon.json("GET", "/v1/weights/tiny")
    assert st == 200 and rec["provenance"]["job_id"] == job["id"] and rec["provenance"]["outer_steps"] == 6
    assert rec["provenance"]["estimator"] == "es" and rec["provenance"]["task_families"] == ["quadratic dim=5"]
    st, lst = daemon.json("GET", "/v1/meta/jobs")
    assert [j["id"] for j in lst["jobs"]] == [job["id"]] and "curve" not in lst["jobs"][0]
    # The new weights drive a session at once.
    st, s = daemon.json("POST", "/v1/sessions", {"optimizer": "mlp_lopt", "weights": "tiny",
                                                 "tensors": [{"name": "w", "shape": [5]}]})
    assert st == 201, s


def test_api_rejects_bad_requests(daemon):
    for body, code in [({"particles": 0}, "out_of_range"), ({"bogus": 1}, "unknown_field"),
                       ({"estimator": "sgd"}, "invalid_argument"), ({"tasks": ["nosuchtask"]}, "invalid_argument"),
                       ({"optimizer": "adam"}, "unknown_optimizer"), ({"threads": 8}, "unknown_field"),
                       ({"horizon_min": 50, "horizon_max": 10}, "out_of_range"),
                       ({"tasks": ["quadratic dim=x"]}, "out_of_range"),
                       ({"keep_checkpoints": 2}, "out_of_range"),
                       ({"train": "head"}, "invalid_argument"), ({"domain": "space"}, "invalid_argument"),
                       ({"optimizer": "lstm_lopt", "train": "step_scale"}, "invalid_argument"),
                       ({"keep_checkpoints": 1, "name": "n" * 40, "outer_steps": 100}, "out_of_range")]:
        st, err = daemon.json("POST", "/v1/meta/jobs", body)
        assert st == 400 and err["error"]["code"] == code, (body, err)
    assert daemon.json("GET", "/v1/meta/jobs/mj-0000")[0] == 404
    assert daemon.json("DELETE", "/v1/meta/jobs/mj-0000")[0] == 404
    assert daemon.json("GET", "/v1/meta/jobs")[1] == {"jobs": [], "next_page_token": None}


def test_cancel_running_and_queued_jobs(daemon):
    st, a = daemon.json("POST", "/v1/meta/jobs", LONG)
    assert st == 202
    st, b = daemon.json("POST", "/v1/meta/jobs", dict(LONG, name="second"))
    assert st == 202
    wait_status(daemon, a["id"], ("running",))
    # b waits behind a: one job at a time; nothing measured yet, so no pace
    jb = daemon.json("GET", f"/v1/meta/jobs/{b['id']}")[1]
    assert jb["status"] == "queued" and jb["rate_per_s"] is None and jb["eta_s"] is None
    # a's pace once it has taken a step: finite, the ETA the steps left at that rate
    deadline = time.time() + 60
    while (ja := daemon.json("GET", f"/v1/meta/jobs/{a['id']}")[1])["step"] < 1 and time.time() < deadline:
        time.sleep(0.05)
    assert ja["step"] >= 1 and ja["rate_per_s"] > 0 and math.isfinite(ja["rate_per_s"]), ja
    assert math.isfinite(ja["eta_s"]) and ja["eta_s"] == pytest.approx((ja["outer_steps"] - ja["step"]) / ja["rate_per_s"])
    st, jb = daemon.json("DELETE", f"/v1/meta/jobs/{b['id']}")
    assert st == 200 and jb["status"] == "cancelled"
    st, ja = daemon.json("DELETE", f"/v1/meta/jobs/{a['id']}")
    assert st == 200 and ja["status"] in ("cancelling", "cancelled")
    ja = wait_status(daemon, a["id"], ("cancelled",))
    assert ja["step"] >= 1 and len(ja["curve"]) == ja["step"] and ja["weights"] is None
    assert ja["eta_s"] is None and ja["rate_per_s"] > 0     # it will not go on: no ETA
    lst = daemon.json("GET", "/v1/meta/jobs")[1]["jobs"]
    assert all("rate_per_s" in j and "eta_s" in j for j in lst)
    # Sessions kept working meanwhile, and no weights record appeared.
    assert daemon.json("GET", "/v1/weights/long")[0] == 404
    # Cancelling an ended job changes nothing.
    assert daemon.json("DELETE", f"/v1/meta/jobs/{a['id']}")[1]["status"] == "cancelled"


def test_running_job_is_interrupted_by_a_crash(make_daemon):
    d = make_daemon().start()
    st, a = d.json("POST", "/v1/meta/jobs", LONG)
    wait_status(d, a["id"], ("running",))
    d.kill9()
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    job = d2.json("GET", f"/v1/meta/jobs/{a['id']}")[1]
    assert job["status"] == "interrupted"


def test_sigterm_stops_a_running_job(make_daemon):
    d = make_daemon().start()
    st, a = d.json("POST", "/v1/meta/jobs", LONG)
    wait_status(d, a["id"], ("running",))
    assert d.stop(signal.SIGTERM) == 0
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    assert d2.json("GET", f"/v1/meta/jobs/{a['id']}")[1]["status"] == "interrupted"


def write_conf(path, **kv):
    with open(path, "w") as f:
        f.write("# test config\n")
        for k, v in kv.items():
            if isinstance(v, list):
                for x in v:
                    f.write("%s = %s\n" % (k, x))
            else:
                f.write("%s = %s   # comment\n" % (k, v))


def run(*args, timeout=60):
    # from the repository root: `eval --suite NAME` reads deploy/eval/NAME.suite
    return subprocess.run([OPTIRSD, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


# One row of `optirsd eval`'s table: task, H, LO, LO held-out, tuned Adam, its held-out, best lr
# (`*` at the grid's limit), Adam@1e-3, its held-out, ratio, held-out ratio, vs tuned, vs 1e-3.
LOSS = r"(-?[0-9.]+e[-+][0-9]+|non-finite)"
EVAL_ROW = (r"^(%s)\s+(\d+)\s+" + r"\s+".join([LOSS] * 4) + r"\s+([0-9.e+-]+\*?)\s+" + LOSS + r"\s+" + LOSS
            + r"\s+([0-9.e+-]+|inf|n/a)\s+([0-9.e+-]+|inf|n/a)\s+(WIN|loss)\s+(WIN|loss)\s*$")


def test_cli_meta_train_and_eval(tmp_path):
    conf = tmp_path / "t.conf"
    db = str(tmp_path / "m.db")
    # a task listed twice is weighted double in meta-training and evaluated once
    write_conf(conf, name="clitiny", task=["quadratic dim=5", "logistic_regression dim=5", "quadratic dim=5"],
               particles=4, unroll=5,
               outer_steps=3, checkpoint_every=1, estimator="pes", horizon_min=10, horizon_max=40, keep_checkpoints=1)
    out = tmp_path / "w.bin"
    r = run("meta-train", "--config", str(conf), "--db", db, "--threads", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    steps = re.findall(r"^step (\d+)/3  meta-loss (-?[0-9.]+)  grad-norm \S+.*elapsed [0-9.]+s  "
                       r"([0-9.]+|-) steps/s  ETA (\S+)$", r.stdout, re.M)
    assert [int(s[0]) for s in steps] == [1, 2, 3], r.stdout
    assert steps[-1][3] == "0s" and all(re.fullmatch(r"\d+s|\d\.\ds|\d+m\d\ds|\d+h\d\dm", s[3]) for s in steps), steps
    assert all(s[2] == "-" or float(s[2]) > 0 for s in steps), steps
    assert "stored weights clitiny@1" in r.stdout
    assert out.stat().st_size > 100
    con = sqlite3.connect(db)
    try:
        kept = [r[0] for r in con.execute("SELECT name FROM weights WHERE name LIKE 'clitiny%' ORDER BY name")]
    finally:
        con.close()
    assert kept == ["clitiny", "clitiny.step1", "clitiny.step2"], kept
    # eval with tiny horizons prints the table and the summary line; the train suite is the
    # record's meta-training tasks (deploy/eval/train.suite says @meta-training-tasks).
    r = run("eval", "--weights", "clitiny", "--suite", "train", "--db", db, "--horizons", "20,40", "--seeds", "2")
    assert r.returncode == 0, r.stderr
    rows = re.findall(EVAL_ROW % "quadratic dim=5|logistic_regression dim=5", r.stdout, re.M)
    assert len(rows) == 4, r.stdout
    m = re.search(r"summary \(clitiny@1, suite train\): beats tuned Adam on (\d+) of 4, "
                  r"beats Adam@1e-3 on (\d+) of 4, non-finite LO runs: (\d+)", r.stdout)
    assert m, r.stdout
    assert int(m.group(2)) == sum(1 for x in rows if x[12] == "WIN")
    # the tie-break figure: mean LO / Adam@1e-3 over the rows (all losses here are positive)
    rel = re.search(r"^mean LO / Adam@1e-3 over the 4 entries with positive losses: ([0-9.]+) ", r.stdout, re.M)
    assert rel, r.stdout
    want = sum(float(x[2]) / float(x[7]) for x in rows) / 4
    assert abs(float(rel.group(1)) - want) <= 1e-3 * want, (rel.group(1), want)
    # the ratio column is LO / tuned Adam: below 1 exactly on the rows that beat tuned Adam
    for x in rows:
        assert abs(float(x[9]) - float(x[2]) / float(x[4])) <= 1e-3 * float(x[9]), x
        assert (float(x[2]) < float(x[4])) == (x[11] == "WIN"), x
    # --lr: the learned optimizer at another step size changes its figures, and they are printed,
    # not recorded (the record keeps its default-lr figures).
    def evaluation():
        con = sqlite3.connect(db)
        try:
            return con.execute("SELECT eval_json FROM weights WHERE name = 'clitiny'").fetchone()[0]
        finally:
            con.close()
    before = evaluation()
    assert json.loads(before)["train"]["beats_tuned_adam"] == int(m.group(1))
    assert abs(json.loads(before)["train"]["mean_lo_over_adam_1e-3"] - float(rel.group(1))) < 1e-4
    r2 = run("eval", "--weights", "clitiny", "--suite", "train", "--db", db, "--horizons", "20,40", "--seeds", "2",
             "--lr", "0.01")
    assert r2.returncode == 0, r2.stderr
    assert "LO at lr 0.01 (its default: 0.001)" in r2.stdout and "not recorded in clitiny@1" in r2.stdout
    rows2 = re.findall(r"^(quadratic dim=5|logistic_regression dim=5)\s+(20|40)\s+(\S+)\s", r2.stdout, re.M)
    assert len(rows2) == 4 and [x[2] for x in rows2] != [x[2] for x in rows], r2.stdout
    assert evaluation() == before
    for bad_lr in ("-1e-3", "11", "nan", "1e-3x"):   # lr 0 is a legal value (nothing moves)
        assert run("eval", "--weights", "clitiny", "--suite", "train", "--db", db, "--lr", bad_lr).returncode == 2
    # Bad input: usage errors.
    assert run("eval", "--weights", "clitiny", "--suite", "nope", "--db", db).returncode == 2
    assert run("eval", "--weights", "absent", "--suite", "train", "--db", db).returncode == 1
    bad = tmp_path / "bad.conf"
    bad.write_text("particles = many\n")
    r = run("meta-train", "--config", str(bad), "--db", db)
    assert r.returncode == 1 and "bad.conf:1" in r.stderr
    write_conf(bad, name="n" * 44, keep_checkpoints=1, outer_steps=100)
    r = run("meta-train", "--config", str(bad), "--db", db)
    assert r.returncode == 1 and "too long for keep_checkpoints" in r.stderr, r.stderr


def test_cli_resume_continues_exactly(tmp_path):
    """Interrupted with SIGINT and resumed, the run ends with the same weights
    as an uninterrupted one (the meta-checkpoint carries everything)."""
    conf = tmp_path / "r.conf"
    write_conf(conf, name="res", task=["logistic_regression dim=8 batch=32"], particles=4, unroll=100,
               outer_steps=60, checkpoint_every=5, estimator="pes", horizon_min=200, horizon_max=800, seed=3)
    full = tmp_path / "full.bin"
    r = run("meta-train", "--config", str(conf), "--db", str(tmp_path / "a.db"), "--threads", "2", "--out", str(full))
    assert r.returncode == 0, r.stderr
    db = str(tmp_path / "b.db")
    p = subprocess.Popen([OPTIRSD, "meta-train", "--config", str(conf), "--db", db, "--threads", "1"],
                         stdout=subprocess.PIPE, text=True)
    for line in p.stdout:
        if line.startswith("step 2/"):
            p.send_signal(signal.SIGINT)
            break
    rest = p.stdout.read()
    assert p.wait(timeout=30) == 1, rest
    assert "rerun with --resume" in rest
    resumed = tmp_path / "resumed.bin"
    r = run("meta-train", "--config", str(conf), "--db", db, "--threads", "2", "--resume", "--out", str(resumed))
    assert r.returncode == 0, r.stderr
    assert "(resumed)" in r.stdout and "resuming at outer step" in r.stdout
    assert "step 60/60" in r.stdout
    assert resumed.read_bytes() == full.read_bytes()


def test_api_tbptt_job_for_lstm_lopt(daemon):
    # truncated backprop through the unroll covers lstm_lopt as well as mlp_lopt;
    # nn_adam's rule is not recorded on the tape and is refused up front
    body = {"name": "tiny-lstm", "optimizer": "lstm_lopt", "estimator": "tbptt", "tasks": ["quadratic dim=5"],
            "particles": 2, "unroll": 5, "outer_steps": 4, "checkpoint_every": 2}
    for exact in (0, 1):
        st, job = daemon.json("POST", "/v1/meta/jobs", dict(body, tbptt_exact=exact))
        assert st == 202, job
        job = wait_status(daemon, job["id"], ("done", "failed"))
        assert job["status"] == "done" and job["step"] == 4, job
        assert all(isinstance(p["meta_loss"], float) for p in job["curve"])
    st, s = daemon.json("POST", "/v1/sessions", {"optimizer": "lstm_lopt", "weights": "tiny-lstm",
                                                 "tensors": [{"name": "w", "shape": [5]}]})
    assert st == 201, s
    st, err = daemon.json("POST", "/v1/meta/jobs", dict(body, optimizer="nn_adam"))
    assert st == 400 and err["error"]["code"] == "invalid_argument", err


def test_api_keep_checkpoints_stores_each_checkpoint_as_a_record(daemon):
    # keep_checkpoints: every meta-checkpoint but the last becomes a weights record NAME.stepN,
    # the same weights a run of N outer steps produces (meta-training is deterministic)
    body = dict(TINY, name="kept", keep_checkpoints=1)
    st, job = daemon.json("POST", "/v1/meta/jobs", body)
    assert st == 202 and job["config"]["keep_checkpoints"] == 1, job
    assert wait_status(daemon, job["id"], ("done", "failed"))["status"] == "done"
    st, lst = daemon.json("GET", "/v1/weights")
    names = sorted(w["name"] for w in lst["weights"] if w["name"].startswith("kept"))
    assert names == ["kept", "kept.step2", "kept.step4"], names
    st, ck = daemon.json("GET", "/v1/weights/kept.step4")
    assert st == 200 and ck["provenance"]["outer_steps"] == 4 and ck["provenance"]["job_id"] == job["id"]
    st, job4 = daemon.json("POST", "/v1/meta/jobs", dict(TINY, name="four", outer_steps=4))
    assert st == 202
    assert wait_status(daemon, job4["id"], ("done", "failed"))["status"] == "done"
    con = sqlite3.connect(daemon.db)
    try:
        blob = dict(con.execute("SELECT name, blob FROM weights WHERE name IN ('kept.step4', 'four', 'kept')"))
    finally:
        con.close()
    assert blob["kept.step4"] == blob["four"] and blob["kept"] != blob["four"]


def weights_theta(db, name):
    # theta of a weights blob: 20-byte header, arch/hidden/depth (u32), ntheta (u64), floats, crc32
    con = sqlite3.connect(db)
    try:
        (blob,) = con.execute("SELECT blob FROM weights WHERE name = ? ORDER BY version DESC", (name,)).fetchone()
    finally:
        con.close()
    (n,) = struct.unpack_from("<Q", blob, 32)
    return struct.unpack_from("<%df" % n, blob, 40)


def test_api_train_network_or_step_scale_changes_only_that_part(daemon):
    # train = network: mlp_lopt's per-tensor step-scale head (theta's last 14 values) stays as
    # initialised (0 from the default init); train = step_scale: only the head moves, the
    # per-parameter network and the decays stay exactly as init_weights has them
    st, job = daemon.json("POST", "/v1/meta/jobs", dict(TINY, name="snet", train="network"))
    assert st == 202 and job["config"]["train"] == "network", job
    assert wait_status(daemon, job["id"], ("done", "failed"))["status"] == "done"
    st, job = daemon.json("POST", "/v1/meta/jobs", dict(TINY, name="sall"))
    assert st == 202 and job["config"]["train"] == "all", job
    assert wait_status(daemon, job["id"], ("done", "failed"))["status"] == "done"
    net, both = weights_theta(daemon.db, "snet"), weights_theta(daemon.db, "sall")
    assert len(net) == len(both) == 213
    assert all(x == 0 for x in net[-14:]) and any(x != 0 for x in both[-14:])
    body = dict(TINY, name="shead", init_weights="snet", train="step_scale", outer_lr=0.01)
    st, job = daemon.json("POST", "/v1/meta/jobs", body)
    assert st == 202 and job["config"]["train"] == "step_scale", job
    assert wait_status(daemon, job["id"], ("done", "failed"))["status"] == "done"
    head = weights_theta(daemon.db, "shead")
    assert head[:-14] == net[:-14] and any(x != 0 for x in head[-14:])


def test_api_inner_session_rules(daemon):
    """hypergrad and anneal run mlp_lopt's session rules in the inner loop: absent from the
    config when unset (off, as before they existed), as given when set, and the weights they
    train differ from the same job's without them; out of range, the wrong optimizer and tbptt
    (not recorded) are 400 and create nothing."""
    base = dict(TINY, tasks=["quadratic dim=5", "logistic_regression dim=5 batch=16"], estimator="pes")
    st, off = daemon.json("POST", "/v1/meta/jobs", dict(base, name="rules-off"))
    assert st == 202, off
    assert "hypergrad" not in off["config"] and "anneal" not in off["config"], off["config"]
    st, on = daemon.json("POST", "/v1/meta/jobs", dict(base, name="rules-on", hypergrad=0.01, anneal=3))
    assert st == 202, on
    assert on["config"]["hypergrad"] == 0.01 and on["config"]["anneal"] == 3
    before = len(daemon.json("GET", "/v1/meta/jobs")[1]["jobs"])
    for bad in ({"hypergrad": -1}, {"hypergrad": 2}, {"anneal": "x"}, {"anneal": 1e7},
                {"optimizer": "lstm_lopt", "anneal": 3}, {"estimator": "tbptt", "hypergrad": 0.01},
                {"estimator": "tbptt", "anneal": 1}):
        st, err = daemon.json("POST", "/v1/meta/jobs", dict(base, name="bad", **bad))
        assert st == 400 and err["error"]["code"] in ("invalid_argument", "out_of_range"), (bad, st, err)
    assert len(daemon.json("GET", "/v1/meta/jobs")[1]["jobs"]) == before
    for j in (off, on):
        assert wait_status(daemon, j["id"], ("done", "failed"))["status"] == "done"
    assert weights_theta(daemon.db, "rules-off") != weights_theta(daemon.db, "rules-on")


def test_api_inner_hold_and_trust(daemon):
    """hold_zero_grad and trust set the inner mlp_lopt's hyperparameters: null (the optimizer's
    default) when unset, as given when set; a job's own config resubmits as is; out of range, the
    wrong optimizer and the trust with tbptt (not recorded) are 400 and create nothing."""
    st, job = daemon.json("POST", "/v1/meta/jobs", dict(TINY, name="hold-default"))
    assert st == 202, job
    assert job["config"]["hold_zero_grad"] is None and job["config"]["trust"] is None
    cfg = dict(job["config"])
    cfg = {k: v for k, v in cfg.items() if v not in ("", None) or k in ("hold_zero_grad", "trust")}
    cfg["name"] = "hold-resubmit"
    st, again = daemon.json("POST", "/v1/meta/jobs", cfg)
    assert st == 202, again
    assert again["config"]["hold_zero_grad"] is None and again["config"]["trust"] is None
    st, set_ = daemon.json("POST", "/v1/meta/jobs", dict(TINY, name="hold-set", hold_zero_grad=0, trust=5))
    assert st == 202, set_
    assert set_["config"]["hold_zero_grad"] == 0 and set_["config"]["trust"] == 5
    before = len(daemon.json("GET", "/v1/meta/jobs")[1]["jobs"])
    for bad in ({"hold_zero_grad": 2}, {"hold_zero_grad": -1}, {"trust": -1}, {"trust": "x"}, {"trust": 1e7},
                {"optimizer": "lstm_lopt", "trust": 1}, {"optimizer": "nn_adam", "hold_zero_grad": 1},
                {"estimator": "tbptt", "trust": 5}):
        st, err = daemon.json("POST", "/v1/meta/jobs", dict(TINY, name="bad", **bad))
        assert st == 400, (bad, st, err)
    assert len(daemon.json("GET", "/v1/meta/jobs")[1]["jobs"]) == before
    for j in (job, again, set_):
        assert wait_status(daemon, j["id"], ("done", "failed"))["status"] == "done"
