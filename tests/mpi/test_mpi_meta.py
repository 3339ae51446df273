#!/usr/bin/python3
"""make mpi-test (inside make test): meta-training over MPI ranks is
deterministic and resumable with any rank count.

With build/optirsd-mpi under `mpirun --oversubscribe` on this machine, on
tiny configs (mlp_lopt 4x1, a quadratic and Rosenbrock, 5 particles so that
no split is even; two 40-d quadratics for the kill):
  1. PES, ES and TBPTT: the weights record's blob (read from each run's
     database) is byte-identical at R = 1, 2 and 4 (ES and TBPTT: 1 and 3),
     and equal to `optirsd meta-train`'s (threads, no MPI);
  2. PES stopped after 3 of 6 outer steps at R = 2 (--stop-after) and resumed
     at R = 4 (--resume) gives the uninterrupted run's record;
  3. a rank whose config file differs is refused with a clear message and a
     non-zero exit;
  4. a follower rank killed (SIGKILL) once the job has a meta-checkpoint ends
     the job with a non-zero exit; --resume at R = 3 finishes it with the
     uninterrupted run's record;
  5. a follower rank stopped (SIGSTOP: stuck, not dead) under --step-timeout 5
     ends the job with a non-zero exit and the job failed with a message that
     names the timeout; --resume at R = 1 finishes it likewise.
Runs as root need OpenMPI's consent: OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM) are set
here for root.  Prints 'N passed, N failed'; exit 1 on any failure.
Standard library only.
"""
import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

BASE = """name = mpi_test
optimizer = mlp_lopt
hidden = 4
depth = 1
estimator = {est}
{tasks}particles = 5
unroll = {unroll}
horizon_min = 8
horizon_max = 20
outer_steps = {steps}
checkpoint_every = {ckpt}
seed = 5
"""

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print("%s %s%s" % ("PASS" if ok else "FAIL", name, "" if ok else ": " + detail), flush=True)


def record_blob(db):
    con = sqlite3.connect(db)
    try:
        row = con.execute("SELECT blob FROM weights WHERE name = 'mpi_test' ORDER BY version DESC LIMIT 1").fetchone()
    finally:
        con.close()
    return bytes(row[0]) if row else None


class Runner:
    def __init__(self, mpirun, binary, optirsd, tmp):
        self.mpirun, self.binary, self.optirsd, self.tmp = mpirun, binary, optirsd, tmp
        self.env = dict(os.environ, OMPI_MCA_btl_vader_single_copy_mechanism="none",
                        OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")
        if os.geteuid() == 0:
            self.env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        self.n = 0

    def config(self, est, steps=6, ckpt=2, unroll=5, tasks=("quadratic dim=5", "rosenbrock"), **extra):
        self.n += 1
        path = os.path.join(self.tmp, "c%d.conf" % self.n)
        text = BASE.format(est=est, steps=steps, ckpt=ckpt, unroll=unroll,
                           tasks="".join("task = %s\n" % t for t in tasks))
        text += "".join("%s = %s\n" % kv for kv in extra.items())
        with open(path, "w") as f:
            f.write(text)
        return path

    def db(self, tag):
        return os.path.join(self.tmp, tag + ".db")

    def cmd(self, ranks, conf, db, *args):
        return [self.mpirun, "--oversubscribe", "-np", str(ranks), self.binary, "meta-train", "--config", conf,
                "--db", db] + list(args)

    def mpi(self, ranks, conf, db, *args, timeout=120):
        return subprocess.run(self.cmd(ranks, conf, db, *args), env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def serial(self, conf, db):
        return subprocess.run([self.optirsd, "meta-train", "--config", conf, "--db", db, "--threads", "2"],
                              env=self.env, capture_output=True, text=True, timeout=120)


def ok_run(name, r):
    good = r.returncode == 0 and "stored weights mpi_test@1" in r.stdout
    if not good:
        check(name, False, "exit %d\n%s\n%s" % (r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
    return good


def test_identical(run, est, ranks):
    conf = run.config(est)
    blobs = {}
    for R in ranks:
        db = run.db("%s-r%d" % (est, R))
        if not ok_run("%s at R=%d runs" % (est, R), run.mpi(R, conf, db)):
            return
        blobs[R] = record_blob(db)
    ref = blobs[ranks[0]]
    check("%s: records identical at R=%s" % (est, ",".join(map(str, ranks))),
          ref is not None and all(b == ref for b in blobs.values()),
          "blob lengths %s" % {R: len(b or b"") for R, b in blobs.items()})
    if run.optirsd:
        db = run.db("%s-serial" % est)
        if ok_run("%s with optirsd meta-train" % est, run.serial(conf, db)):
            check("%s: MPI record equals optirsd meta-train's (threads)" % est, record_blob(db) == ref)
    return ref


def test_resume_other_r(run, ref):
    conf = run.config("pes")
    db = run.db("pes-resume")
    r = run.mpi(2, conf, db, "--stop-after", "3")
    check("PES stopped after 3 steps at R=2", r.returncode != 0 and "rerun with --resume" in r.stdout,
          "exit %d\n%s\n%s" % (r.returncode, r.stdout[-1500:], r.stderr[-1500:]))
    con = sqlite3.connect(db)
    st = con.execute("SELECT status, step, checkpoint IS NOT NULL FROM meta_jobs").fetchall()
    con.close()
    check("the stopped job is interrupted at step 3 with a checkpoint", st == [("interrupted", 3, 1)], repr(st))
    r = run.mpi(4, conf, db, "--resume")
    if ok_run("PES resumed at R=4", r):
        check("resumed at R=4 from R=2's checkpoint: the uninterrupted record",
              "resuming at outer step 3" in r.stdout and record_blob(db) == ref, r.stdout[-800:])


def test_config_differs(run):
    a, b = run.config("pes"), run.config("pes", outer_lr="0.002")
    db = run.db("differs")
    cmd = run.cmd(1, a, db) + [":", "-np", "1", run.binary, "meta-train", "--config", b]
    r = subprocess.run(cmd, env=run.env, capture_output=True, text=True, timeout=120)
    check("a rank with another config is refused", r.returncode != 0 and
          "rank 1: its config file differs from rank 0's" in r.stderr, "exit %d\n%s" % (r.returncode, r.stderr[-1500:]))


def rank_of(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            env = dict(x.split(b"=", 1) for x in f.read().split(b"\0") if b"=" in x)
        return int(env.get(b"OMPI_COMM_WORLD_RANK", b"-1"))
    except (OSError, ValueError):
        return -1


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def interrupt_follower(run, conf, db, sig, *args):
    """Starts conf at R=2 and sends sig to rank 1 once the job has a
    meta-checkpoint.  (outer step of the kill or None, exit status, stdout,
    stderr)."""
    p = subprocess.Popen(run.cmd(2, conf, db, *args), env=run.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    hit = None
    deadline = time.monotonic() + 120
    while p.poll() is None and time.monotonic() < deadline and hit is None:
        time.sleep(0.01)
        try:
            con = sqlite3.connect(db, timeout=1)
            row = con.execute("SELECT step FROM meta_jobs WHERE checkpoint IS NOT NULL").fetchone()
            con.close()
        except sqlite3.Error:
            row = None
        if not row:
            continue
        victim = next((c for c in children(p.pid) if rank_of(c) == 1), None)
        if victim:
            os.kill(victim, sig)
            hit = row[0]
    try:
        out, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    return hit, p.returncode, out, err


def test_interrupted_rank(run):
    """A follower killed, then one stopped (SIGSTOP: stuck, not dead), each
    once the job has a meta-checkpoint; each job resumed with another R.
    The job is long enough (300 outer steps of 40 inner steps on two 40-d
    quadratics: about a second on an idle machine) for the signal to land
    while it runs; the test fails, not passes, when it does not."""
    conf = run.config("pes", steps=300, ckpt=5, unroll=40, tasks=("quadratic dim=40", "quadratic dim=40 noise=0.1"))
    ref_db = run.db("kill-ref")
    if not ok_run("PES 300 steps at R=1", run.mpi(1, conf, ref_db, timeout=300)):
        return
    ref = record_blob(ref_db)
    for sig, args, resume_r in ((signal.SIGKILL, (), 3), (signal.SIGSTOP, ("--step-timeout", "5"), 1)):
        what = "killed" if sig == signal.SIGKILL else "stopped"
        db = run.db(what)
        hit, code, out, err = interrupt_follower(run, conf, db, sig, *args)
        if hit is None:
            check("a follower %s mid-run" % what, False,
                  "the job ended before a follower could be %s (exit %s)" % (what, code))
            continue
        check("a %s follower ends the job with a non-zero exit" % what, code != 0 and "stored weights" not in out,
              "exit %d" % code)
        if sig == signal.SIGSTOP:
            con = sqlite3.connect(db)
            st = con.execute("SELECT status, error FROM meta_jobs").fetchone()
            con.close()
            check("the stuck rank is reported: --step-timeout, job failed", "--step-timeout 5" in err and
                  st[0] == "failed" and "--step-timeout 5" in (st[1] or ""), "%r\n%s" % (st, err[-1500:]))
        r = run.mpi(resume_r, conf, db, "--resume", timeout=300)
        if ok_run("resumed at R=%d after the %s follower" % (resume_r, what), r):
            check("resumed at R=%d after a follower %s past step %d: the uninterrupted record" % (resume_r, what, hit),
                  "(resumed)" in r.stdout and record_blob(db) == ref)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="build/optirsd-mpi")
    ap.add_argument("--optirsd", help="build/optirsd (compared with, when given)")
    a = ap.parse_args()
    mpirun = subprocess.run(["sh", "-c", "command -v mpirun"], capture_output=True, text=True).stdout.strip()
    if not mpirun or not os.access(a.bin, os.X_OK):
        print("mpi-test: mpirun or %s is missing (make deps installs OpenMPI; make builds the binary)" % a.bin)
        print("0 passed, 1 failed")
        return 1
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="optirs-mpi-") as tmp:
        run = Runner(mpirun, os.path.abspath(a.bin), a.optirsd and os.path.abspath(a.optirsd), tmp)
        ref = test_identical(run, "pes", [1, 2, 4])
        test_identical(run, "es", [1, 3])
        test_identical(run, "tbptt", [1, 3])
        if ref is not None:
            test_resume_other_r(run, ref)
        test_config_differs(run)
        test_interrupted_rank(run)
    passed = sum(results)
    print("mpi-test: %.1f s" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
