"""Staged (continual) meta-training: the stage keys through the API and the
command line, the per-stage evaluation lines, and a run stopped in the
middle of a stage and resumed ending with the uninterrupted run's weights."""
import os
import re
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
    assert re.match(pat % (1, 4), lines[0]) and re.match(pat % (2, 9), lines[1]), lines
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
