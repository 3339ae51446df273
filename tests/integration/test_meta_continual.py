"""Staged (continual) meta-training: the stage keys through the API and the
command line, the per-stage evaluation lines, and a run stopped in the
middle of a stage and resumed ending with the uninterrupted run's weights."""
import json
import os
import re
import sqlite3
import subprocess
import time

from daemon import OPTIRSD

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

STAGED = {"name": "cont", "tasks": ["quadratic dim=5", "logistic_regression dim=5"], "particles": 3, "unroll": 5,
          "estimator": "pes", "horizon_min": 6, "horizon_max": 20, "stages": "quadratic:4; logistic_regression:5",
          "outer_steps": 9, "checkpoint_every": 2, "ewc_lambda": 0.5, "replay": 0.5, "ewc_window": 2}


def wait_done(d, jid, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st, job = d.json("GET", f"/v1/meta/jobs/{jid}")
        assert st == 200, job
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError("job %s did not finish" % jid)


def test_api_staged_job_and_bad_stage_requests(daemon):
    st, job = daemon.json("POST", "/v1/meta/jobs", STAGED)
    assert st == 202, job
    assert job["config"]["stages"] == STAGED["stages"] and job["config"]["ewc_lambda"] == 0.5
    job = wait_done(daemon, job["id"])
    assert job["status"] == "done" and job["step"] == 9, job
    # without stage_eval_steps the record carries no stage evaluation
    st, rec = daemon.json("GET", "/v1/weights/cont")
    assert st == 200 and "stage_losses" not in rec["provenance"]
    # with it, a job run by the daemon keeps every stage's family losses in its record
    st, job = daemon.json("POST", "/v1/meta/jobs", dict(STAGED, name="cont-ev", stage_eval_steps=10,
                                                        stage_eval_seeds=2))
    assert st == 202, job
    job = wait_done(daemon, job["id"])
    assert job["status"] == "done", job
    st, rec = daemon.json("GET", "/v1/weights/cont-ev")
    assert st == 200
    sl = rec["provenance"]["stage_losses"]
    assert [(e["stage"], e["step"]) for e in sl] == [(1, 4), (2, 9)], sl
    assert all(sorted(e["meta_loss"]) == ["logistic_regression", "quadratic"] for e in sl), sl
    assert rec["provenance"]["stage_losses_from_step"] == 0
    for body, code in [({"stages": "quadratic"}, "invalid_argument"),
                       ({"stages": "quadratic:0"}, "invalid_argument"),
                       ({"stages": "nosuch:3"}, "invalid_argument"),
                       ({"stages": "quadratic:3", "outer_steps": 4}, "invalid_argument"),
                       ({"stages": "quadratic:3; rosenbrock:3", "outer_steps": 6}, "invalid_argument"),
                       ({"replay": 0.5}, "invalid_argument"), ({"ewc_lambda": 1}, "invalid_argument"),
                       ({"replay": 2}, "out_of_range"), ({"ewc_lambda": -1}, "out_of_range")]:
        st, err = daemon.json("POST", "/v1/meta/jobs", body)
        assert st == 400 and err["error"]["code"] == code, (body, err)


def write_conf(path, **kv):
    with open(path, "w") as f:
        for k, v in kv.items():
            for x in (v if isinstance(v, list) else [v]):
                f.write("%s = %s\n" % (k, x))


def run(*args):
    return subprocess.run([OPTIRSD, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_cli_stage_lines_and_resume_mid_stage(tmp_path):
    conf = tmp_path / "c.conf"
    kv = dict(STAGED, task=STAGED["tasks"], stage_eval_steps=10, stage_eval_seeds=2)
    del kv["tasks"]
    write_conf(conf, **kv)
    full = tmp_path / "full.bin"
    r = run("meta-train", "--config", str(conf), "--db", str(tmp_path / "a.db"), "--threads", "2", "--out", str(full))
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.startswith("stage ")]
    assert len(lines) == 2, r.stdout
    pat = r"^stage %d/2 end \(step %d\): quadratic=(-?[0-9.e+-]+) logistic_regression=(-?[0-9.e+-]+)$"
    m = [re.match(pat % (1, 4), lines[0]), re.match(pat % (2, 9), lines[1])]
    assert all(m), lines
    # the record's provenance holds the same figures as the printed lines (%.6g there)
    prov = json.loads(sqlite3.connect(str(tmp_path / "a.db")).execute(
        "SELECT provenance_json FROM weights WHERE name = 'cont'").fetchone()[0])
    for e, mm in zip(prov["stage_losses"], m):
        assert "%.6g" % e["meta_loss"]["quadratic"] == mm.group(1)
        assert "%.6g" % e["meta_loss"]["logistic_regression"] == mm.group(2)
    db = str(tmp_path / "b.db")
    # stopped twice, in stage 1's Fisher window and in stage 2, then finished
    for resume in ([], ["--resume"]):
        r = run("meta-train", "--config", str(conf), "--db", db, "--threads", "1", "--stop-after", "3", *resume)
        assert "rerun with --resume" in r.stdout, r.stdout + r.stderr
    resumed = tmp_path / "resumed.bin"
    r = run("meta-train", "--config", str(conf), "--db", db, "--threads", "2", "--resume", "--out", str(resumed))
    assert r.returncode == 0, r.stderr
    assert "step 9/9" in r.stdout
    assert resumed.read_bytes() == full.read_bytes()
    # the last leg started at step 6, after stage 1 ended: its record has stage 2's figures only, and says so
    prov = json.loads(sqlite3.connect(db).execute(
        "SELECT provenance_json FROM weights WHERE name = 'cont'").fetchone()[0])
    assert prov["stage_losses_from_step"] == 6 and [e["stage"] for e in prov["stage_losses"]] == [2], prov
