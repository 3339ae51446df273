"""Storage faults under a running daemon (issue 13, findings 9 and 10).

Finding 9: on a full disk DELETE answered 503 but the session was already
gone from memory (404), and back after a restart.  Deletes now commit to
storage first.  The disk is a small tmpfs filled by a filler file (needs
root to mount, as the crash test's disk-full case)."""
import os
import shutil
import signal
import subprocess
import tempfile

import numpy as np
import pytest

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
