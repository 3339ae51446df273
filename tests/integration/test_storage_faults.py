"""Storage faults under a running daemon (issue 13, findings 9 and 10).

Finding 9: on a full disk DELETE answered 503 but the session was already
gone from memory (404), and back after a restart.  Deletes now commit to
storage first.  The disk is a small tmpfs filled by a filler file (needs
root to mount, as the crash test's disk-full case).

Finding 10: with its database files deleted under it the daemon kept
answering durable steps 200 and /readyz 200, and everything was gone after
the restart.  Now /readyz answers 503 with a reason and durable steps 503
storage_unavailable; checkpoint-mode sessions keep serving from memory."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import numpy as np
import pytest

from daemon import floats

N = 256


@pytest.fixture
def tmpfs():
    mnt = tempfile.mkdtemp(prefix="optirs-full-")
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt], check=True,
                       stderr=subprocess.PIPE)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        os.rmdir(mnt)
        pytest.skip("cannot mount a tmpfs: %s" % getattr(e, "stderr", e))
    yield mnt
    subprocess.run(["umount", "-l", mnt])
    os.rmdir(mnt)


def fill(path):
    """Fills the file system of `path` with a filler file; returns its name."""
    filler = os.path.join(path, "filler")
    try:
        with open(filler, "wb") as f:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    except OSError:
        pass    # ENOSPC, on a write or on close: the point
    return filler


def step_until_503(d, sid, k, rng):
    """Durable steps until one answers 503 (the WAL may still hold a page or
    two after the filler): returns the step that failed."""
    for _ in range(200):
        st, _, data = d.step_binary(sid, k, rng.standard_normal(N).astype(np.float32).tolist())
        if st == 503:
            return k
        assert st == 200, data
        k += 1
    raise AssertionError("the disk never filled up")


def test_failed_delete_on_a_full_disk_keeps_the_session(make_daemon, tmpfs):
    logdir = tempfile.mkdtemp(prefix="optirs-full-log-")
    db = os.path.join(tmpfs, "full.db")
    try:
        d = make_daemon(tmpdir=logdir, db=db).start()
        victim = d.create(optimizer="adam", tensors=[{"name": "w", "shape": [N]}], durability="step")["id"]
        filler_sess = d.create(optimizer="adam", tensors=[{"name": "w", "shape": [N]}], durability="step")["id"]
        rng = np.random.default_rng(9)
        for k in range(1, 4):
            st, _, _ = d.step_binary(victim, k, rng.standard_normal(N).astype(np.float32).tolist())
            assert st == 200
        params = d.json("GET", f"/v1/sessions/{victim}/params")[1]
        filler = fill(tmpfs)
        step_until_503(d, filler_sess, 1, rng)

        st, body = d.json("DELETE", f"/v1/sessions/{victim}")
        assert st == 503 and body["error"]["code"] == "storage_unavailable", body
        # Nothing changed: the session is still there, whole and usable.
        st, body = d.json("GET", f"/v1/sessions/{victim}")
        assert st == 200 and body["step"] == 3, body
        assert d.json("GET", f"/v1/sessions/{victim}/params")[1] == params
        assert victim in [s["id"] for s in d.json("GET", "/v1/sessions")[1]["sessions"]]

        # A restart (kill -9 while the disk is still full) brings it back as it was.
        d.kill9()
        os.unlink(filler)
        d = make_daemon(tmpdir=logdir, db=db).start()
        st, body = d.json("GET", f"/v1/sessions/{victim}")
        assert st == 200 and body["step"] == 3, body
        assert d.json("GET", f"/v1/sessions/{victim}/params")[1] == params
        st, _, _ = d.step_binary(victim, 4, rng.standard_normal(N).astype(np.float32).tolist())
        assert st == 200

        # With space back the delete goes through, and stays done after a restart.
        st, body = d.json("DELETE", f"/v1/sessions/{victim}")
        assert st == 200 and body["deleted"] is True, body
        assert d.json("GET", f"/v1/sessions/{victim}")[0] == 404
        assert d.stop(signal.SIGTERM) == 0
        d = make_daemon(tmpdir=logdir, db=db).start()
        assert d.json("GET", f"/v1/sessions/{victim}")[0] == 404
        assert d.json("GET", f"/v1/sessions/{filler_sess}")[0] == 200
        d.stop(signal.SIGTERM)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


def readyz(d):
    return d.json("GET", "/readyz")


def test_full_disk_makes_readyz_503_until_space_returns(make_daemon, tmpfs):
    logdir = tempfile.mkdtemp(prefix="optirs-full-log-")
    try:
        d = make_daemon(tmpdir=logdir, db=os.path.join(tmpfs, "full.db")).start()
        sid = d.create(optimizer="adam", tensors=[{"name": "w", "shape": [N]}], durability="step")["id"]
        filler = fill(tmpfs)
        rng = np.random.default_rng(10)
        failed = step_until_503(d, sid, 1, rng)
        assert readyz(d) == (503, {"status": "storage_unavailable", "reason": "storage_write_failed"})
        assert d.request("GET", "/livez")[0] == 200
        os.unlink(filler)
        # /readyz's one-page test write now commits: ready again without any client write.
        assert readyz(d) == (200, {"status": "ready"})
        st, _, _ = d.step_binary(sid, failed, rng.standard_normal(N).astype(np.float32).tolist())
        assert st == 200
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


T = [{"name": "w", "shape": [4]}]


def two_sessions(d):
    """A durability=step and a checkpoint session, each at step 2."""
    dur = d.create(optimizer="adam", tensors=T, durability="step")["id"]
    ck = d.create(optimizer="adam", tensors=T, durability="checkpoint")["id"]
    for sid in (dur, ck):
        for k in (1, 2):
            st, _, _ = d.step_binary(sid, k, [0.1 * k, -0.2, 0.3, 0.4])
            assert st == 200
    return dur, ck


def assert_durable_steps_refused(d, dur, ck, reason):
    assert readyz(d) == (503, {"status": "storage_unavailable", "reason": reason})
    params = d.request("GET", f"/v1/sessions/{dur}/params", headers={"Accept": "application/octet-stream"})[2]
    st, _, data = d.step_binary(dur, 3, [1, 2, 3, 4])
    assert st == 503 and b"storage_unavailable" in data, data
    st, body = d.json("POST", f"/v1/sessions/{dur}/step", {"step": 3, "grads": [1, 2, 3, 4]})
    assert st == 503 and body["error"]["code"] == "storage_unavailable", body
    # Nothing was applied: the session is at step 2 with the same params.
    st, body = d.json("GET", f"/v1/sessions/{dur}")
    assert st == 200 and body["step"] == 2
    assert d.request("GET", f"/v1/sessions/{dur}/params", headers={"Accept": "application/octet-stream"})[2] == params
    # Nothing durable is acknowledged: creates and deletes fail too.
    st, body = d.json("POST", "/v1/sessions", {"optimizer": "sgd", "tensors": T})
    assert st == 503 and body["error"]["code"] == "storage_unavailable", body
    st, body = d.json("DELETE", f"/v1/sessions/{ck}")
    assert st == 503 and body["error"]["code"] == "storage_unavailable", body
    # Checkpoint sessions serve from memory (documented: their snapshots fail meanwhile).
    st, _, data = d.step_binary(ck, 3, [1, 2, 3, 4])
    assert st == 200 and len(floats(data)) == 4


def test_deleted_database_files_refuse_durable_steps_and_readyz(make_daemon):
    d = make_daemon().start()
    dur, ck = two_sessions(d)
    assert readyz(d) == (200, {"status": "ready"})
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(d.db + suffix):
            os.unlink(d.db + suffix)
    assert_durable_steps_refused(d, dur, ck, "database_deleted")
    assert d.stop(signal.SIGTERM) == 0
    with open(d.dir + "/stderr.log") as f:
        assert "database_deleted: every write is refused" in f.read()


def test_replaced_database_file_refuses_durable_steps(make_daemon):
    d = make_daemon().start()
    dur, ck = two_sessions(d)
    shutil.copy(d.db, d.db + ".copy")
    os.replace(d.db + ".copy", d.db)      # same name, another inode
    assert_durable_steps_refused(d, dur, ck, "database_replaced")


def make_read_only(path):
    """Makes `path` unwritable for this process: chattr +i as root (root
    ignores mode bits), chmod otherwise.  Returns the undo function."""
    if os.geteuid() != 0:
        os.chmod(path, 0o444)
        return lambda: os.chmod(path, 0o644)
    r = subprocess.run(["chattr", "+i", path], stderr=subprocess.PIPE)
    if r.returncode != 0:
        pytest.skip("cannot make a file immutable here: %s" % r.stderr.decode().strip())
    return lambda: subprocess.run(["chattr", "-i", path], check=True)


def test_read_only_database_refuses_durable_steps_until_writable_again(make_daemon):
    d = make_daemon().start()
    dur, ck = two_sessions(d)
    undo = make_read_only(d.db)
    try:
        assert_durable_steps_refused(d, dur, ck, "database_read_only")
    finally:
        undo()
    # Writable again: ready, and the refused step goes through.
    assert readyz(d) == (200, {"status": "ready"})
    st, _, _ = d.step_binary(dur, 3, [1, 2, 3, 4])
    assert st == 200
    assert d.stop(signal.SIGTERM) == 0
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    assert d2.json("GET", f"/v1/sessions/{dur}")[1]["step"] == 3


# One outer step of this job takes seconds: it writes nothing while the test acts.
SLOW = {"name": "slow", "tasks": ["logistic_regression dim=10 batch=64"], "particles": 256, "unroll": 10000,
        "outer_steps": 1000000, "checkpoint_every": 1}


def job_status(d, jid):
    st, job = d.json("GET", f"/v1/meta/jobs/{jid}")
    assert st == 200, job
    return job["status"]


def test_cancel_of_a_queued_meta_job_that_cannot_be_stored_leaves_it_queued(make_daemon):
    """The audit of finding 9's class: cancelling a queued meta-training job
    took it off the queue before its "cancelled" was committed; a failed
    commit left a job that would never run while the database said queued."""
    d = make_daemon().start()
    st, a = d.json("POST", "/v1/meta/jobs", SLOW)
    assert st == 202, a
    st, b = d.json("POST", "/v1/meta/jobs", dict(SLOW, name="second"))
    assert st == 202, b
    for _ in range(6000):      # a safeguard against a hang, not a timing assertion
        if job_status(d, a["id"]) == "running":
            break
        time.sleep(0.01)
    assert job_status(d, a["id"]) == "running"
    undo = make_read_only(d.db)
    try:
        st, body = d.json("DELETE", f"/v1/meta/jobs/{b['id']}")
        assert st == 503 and body["error"]["code"] == "storage_unavailable", body
    finally:
        undo()
    assert job_status(d, b["id"]) == "queued"
    assert job_status(d, a["id"]) == "running"
    # Still in the queue: the retried cancel takes it off and says so.
    st, body = d.json("DELETE", f"/v1/meta/jobs/{b['id']}")
    assert st == 200 and body["status"] == "cancelled", body
