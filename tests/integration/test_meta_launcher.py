"""Meta-training jobs of the daemon run through MPI (--meta-launcher): the
daemon starts `mpirun … build/optirsd-mpi meta-train --job ID`, whose rank 0
writes the job's row in the daemon's database (docs/operations.md,
"Meta-training on a cluster").

  1. GET /v1/config shows the launcher; one that would need a shell or
     cannot be split keeps the daemon from starting, with the reason;
  2. a PES and a TBPTT job over 2 ranks end "done" with the same curve and a
     weights record whose blob is byte-identical to a local job's of the same
     config (5 particles: an uneven split), the same provenance but for the
     job id and wall time, and the record drives a session of the launching
     daemon at once; a few-shot job still runs in the daemon;
  3. DELETE mid-run: the job ends "cancelled" and no process of it is left
     (mpirun and both ranks gone);
  4. a launcher that fails: the job is "failed" with the end of its stderr;
  5. the daemon stopping: the job "interrupted", no process left; the daemon
     killed outright: its ranks go on until it restarts and marks the job
     "interrupted", which rank 0 reads after its next outer step.
Skipped only when mpirun is missing (make test installs OpenMPI)."""
import os
import shutil
import sqlite3
import subprocess
import time

import pytest

from daemon import OPTIRSD

pytestmark = pytest.mark.skipif(shutil.which("mpirun") is None,
                                reason="mpirun is missing (make deps installs openmpi-bin and libopenmpi-dev)")

LAUNCHER = "mpirun --oversubscribe -np 2"

BASE = {"optimizer": "mlp_lopt", "hidden": 4, "depth": 1, "tasks": ["quadratic dim=5", "rosenbrock"],
        "particles": 5, "unroll": 5, "horizon_min": 8, "horizon_max": 20, "outer_steps": 6,
        "checkpoint_every": 2, "seed": 5}
FEWSHOT = {"method": "meta_sgd", "task": "sinusoid", "shots": 5, "inner_steps": 1, "inner_lr": 0.01, "seed": 0,
           "outer_lr": 0.001, "outer_steps": 20, "meta_batch": 5, "name": "fs"}
# Long enough that it is still running when the test acts on it.
LONG = {"name": "long", "tasks": ["logistic_regression dim=10 batch=64"], "particles": 8, "unroll": 200,
        "outer_steps": 1000000, "checkpoint_every": 1}


@pytest.fixture(autouse=True)
def mpi_env(monkeypatch):
    """OpenMPI refuses to run as root without these (as make mpi-test sets them)."""
    if os.geteuid() == 0:
        monkeypatch.setenv("OMPI_ALLOW_RUN_AS_ROOT", "1")
        monkeypatch.setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    driver = os.path.join(os.path.dirname(os.path.abspath(OPTIRSD)), "optirsd-mpi")
    assert os.access(driver, os.X_OK), "%s is missing: build it with make (mpicc is there)" % driver


def wait_status(d, jid, want, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st, job = d.json("GET", f"/v1/meta/jobs/{jid}")
        assert st == 200, job
        if job["status"] in want:
            return job
        time.sleep(0.05)
    raise AssertionError("job %s stayed %s" % (jid, job["status"]))


def record(d, name):
    con = sqlite3.connect(d.db)
    try:
        return con.execute("SELECT arch, hidden, depth, ntheta, blob FROM weights WHERE name = ? "
                           "ORDER BY version DESC LIMIT 1", (name,)).fetchone()
    finally:
        con.close()


def job_pids(jid):
    """The processes whose command line names job jid (mpirun and its ranks)."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                args = f.read().split(b"\0")
            with open("/proc/%s/stat" % p) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if jid.encode() in args and state != "Z":
            pids.append(int(p))
    return pids


def test_config_shows_the_launcher_and_refuses_a_shell_line(make_daemon, tmp_path):
    d = make_daemon("--meta-launcher", LAUNCHER).start()
    st, cfg = d.json("GET", "/v1/config")
    assert st == 200 and cfg["meta-launcher"] == LAUNCHER and cfg["meta-mpi-binary"] == ""
    assert cfg["meta-launcher-grace"] == 10
    for bad in ("mpirun -np 2; rm -rf /", "mpirun -np 2 'unbalanced", "mpirun -np $(nproc)"):
        p = subprocess.run([OPTIRSD, "--listen", "127.0.0.1:0", "--db", str(tmp_path / "x.db"),
                            "--meta-launcher", bad], capture_output=True, timeout=30)
        assert p.returncode != 0 and b"meta-launcher" in p.stderr and b"without a shell" in p.stderr, p.stderr


def test_job_over_two_ranks_matches_a_local_job(make_daemon):
    mpi = make_daemon("--meta-launcher", LAUNCHER).start()
    local = make_daemon().start()
    for est in ("pes", "tbptt"):
        spec = dict(BASE, name="t_" + est, estimator=est)
        jobs = []
        for d in (mpi, local):
            st, job = d.json("POST", "/v1/meta/jobs", spec)
            assert st == 202, job
            jobs.append(wait_status(d, job["id"], ("done", "failed", "cancelled", "interrupted")))
        jm, jl = jobs
        assert jm["status"] == "done" and jl["status"] == "done", (jm["error"], jl["error"])
        assert jm["source"] == "api" and jm["step"] == 6 and jm["weights"] == "t_%s@1" % est
        assert jm["config"] == jl["config"]
        assert [(p["step"], p["meta_loss"], p["grad_norm"]) for p in jm["curve"]] == \
               [(p["step"], p["meta_loss"], p["grad_norm"]) for p in jl["curve"]]
        rm, rl = record(mpi, spec["name"]), record(local, spec["name"])
        assert rm is not None and rm == rl   # the blob byte for byte, and its header
        st, rec = mpi.json("GET", "/v1/weights/" + spec["name"])
        st2, rec_l = local.json("GET", "/v1/weights/" + spec["name"])
        assert st == 200 and st2 == 200 and rec["provenance"]["job_id"] == jm["id"]
        # the same provenance but for the job's id and its wall time
        strip = lambda p: {k: v for k, v in p.items() if k not in ("job_id", "wall_time_s")}  # noqa: E731
        assert strip(rec["provenance"]) == strip(rec_l["provenance"]) and rec["provenance"]["outer_steps"] == 6
    # the record is in the launching daemon's registry: a session uses it at once
    st, s = mpi.json("POST", "/v1/sessions", {"optimizer": "mlp_lopt", "weights": "t_pes",
                                              "tensors": [{"name": "w", "shape": [5]}]})
    assert st == 201, s


def test_a_few_shot_job_still_runs_in_the_daemon(make_daemon):
    d = make_daemon("--meta-launcher", LAUNCHER + " --no-such-flag").start()   # would fail if used
    st, job = d.json("POST", "/v1/meta/jobs", FEWSHOT)
    assert st == 202, job
    job = wait_status(d, job["id"], ("done", "failed"))
    assert job["status"] == "done" and job["error"] is None, job


def test_delete_stops_every_rank(make_daemon):
    d = make_daemon("--meta-launcher", LAUNCHER, "--meta-launcher-grace", "30").start()
    jid = start_long(d)
    assert len(job_pids(jid)) == 3   # mpirun and its two ranks
    st, body = d.json("DELETE", f"/v1/meta/jobs/{jid}")
    assert st == 200 and body["status"] == "cancelling", body
    job = wait_status(d, jid, ("cancelled", "failed", "done", "interrupted"))
    assert job["status"] == "cancelled" and job["error"] is None, job
    assert job_pids(jid) == []   # the daemon reaps mpirun only after its ranks are gone
    # the queue goes on: the daemon is not stuck on the stopped job
    st, job2 = d.json("POST", "/v1/meta/jobs", dict(BASE, name="after", estimator="es"))
    assert st == 202
    assert wait_status(d, job2["id"], ("done", "failed"))["status"] == "done"


def test_failing_launcher_fails_the_job_with_its_stderr(make_daemon):
    d = make_daemon("--meta-launcher", LAUNCHER + " --no-such-flag").start()
    st, job = d.json("POST", "/v1/meta/jobs", dict(BASE, name="bad", estimator="es"))
    assert st == 202, job
    job = wait_status(d, job["id"], ("failed", "done"))
    assert job["status"] == "failed", job
    assert job["error"].startswith("the MPI launcher exited with status ") and "--no-such-flag" in job["error"], job
    assert job["weights"] is None and job_pids(job["id"]) == []
    # a driver that is not there: failed with what to do
    d2 = make_daemon("--meta-launcher", LAUNCHER, "--meta-mpi-binary", "/nonexistent/optirsd-mpi").start()
    st, job = d2.json("POST", "/v1/meta/jobs", dict(BASE, name="bad", estimator="es"))
    assert st == 202, job
    job = wait_status(d2, job["id"], ("failed", "done"))
    assert job["status"] == "failed" and "/nonexistent/optirsd-mpi is not an executable file" in job["error"], job


def start_long(d):
    """Posts LONG and waits until rank 0 has done two outer steps; its id."""
    st, job = d.json("POST", "/v1/meta/jobs", LONG)
    assert st == 202, job
    deadline = time.time() + 120
    while time.time() < deadline:
        st, job = d.json("GET", "/v1/meta/jobs/" + job["id"])
        if job["status"] == "running" and job["step"] >= 2:
            return job["id"]
        assert job["status"] in ("queued", "running"), job
        time.sleep(0.05)
    raise AssertionError("job stayed %s" % job["status"])


def row_status(db, jid):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT status FROM meta_jobs WHERE id = ?", (jid,)).fetchone()[0]
    finally:
        con.close()


def test_daemon_stop_interrupts_the_job_and_every_rank(make_daemon):
    d = make_daemon("--meta-launcher", LAUNCHER).start()
    jid = start_long(d)
    assert len(job_pids(jid)) == 3
    assert d.stop() == 0
    assert row_status(d.db, jid) == "interrupted"
    assert job_pids(jid) == []


def test_ranks_of_a_killed_daemon_stop_once_it_restarts(make_daemon):
    d = make_daemon("--meta-launcher", LAUNCHER).start()
    jid = start_long(d)
    d.kill9()
    assert len(job_pids(jid)) == 3   # a killed daemon cannot stop them
    # the restarted daemon marks the job interrupted; rank 0 reads that after its next step and stops
    d2 = make_daemon("--meta-launcher", LAUNCHER, tmpdir=d.dir, db=d.db).start()
    deadline = time.time() + 120
    while job_pids(jid) and time.time() < deadline:
        time.sleep(0.1)
    assert job_pids(jid) == []
    st, job = d2.json("GET", "/v1/meta/jobs/" + jid)
    assert st == 200 and job["status"] == "interrupted", job
