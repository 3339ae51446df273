#!/usr/bin/python3
"""bench/mpi_bench.py — meta-training over MPI ranks: outer steps per second
at R = 1 and 2 on this machine, the bytes exchanged per outer step, and the
paper estimate of the parallel efficiency at 64 and 1,024 ranks from the
measured compute and exchange times (docs/operations.md, "Meta-training on a
cluster", holds the figures and the model).  Not part of make test.

    python3 bench/mpi_bench.py [--config deploy/meta/mlp_lopt_base.conf] [--steps 10]

Runs build/optirsd-mpi meta-train --profile on a copy of the config with
outer_steps = checkpoint_every = STEPS (init_weights dropped, so that the
run needs no database records) in a temporary directory; sets OpenMPI's
run-as-root consent variables for root.  Standard library only.
"""
import argparse
import math
import os
import re
import sqlite3
import subprocess
import sys
import tempfile

PROFILE = re.compile(r"profile \(rank 0, (\d+) ranks, (\d+) outer steps\): per outer step evaluation ([\d.]+) ms, "
                     r"waiting for the slowest rank ([\d.]+) ms, exchange ([\d.]+) ms; (\d+) bytes")
STEP = re.compile(r"^step (\d+)/\d+ .* elapsed ([\d.]+)s", re.M)

# Assumed cluster network for the estimate (not measured here: this machine
# has no network between ranks): per round of the allgather's recursive
# doubling, and bandwidth.  TCP over 10 GbE; InfiniBand is ~10x better on both.
NET_LATENCY_S = 50e-6
NET_BYTES_PER_S = 1.25e9


def run(binary, conf, tmp, ranks, env):
    db = os.path.join(tmp, "r%d.db" % ranks)
    cmd = ["mpirun", "--oversubscribe", "-np", str(ranks), binary, "meta-train", "--config", conf, "--db", db,
           "--profile"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("mpi_bench: %s failed (exit %d)\n%s\n%s" % (" ".join(cmd), r.returncode, r.stdout[-2000:],
                                                             r.stderr[-2000:]))
    m = PROFILE.search(r.stdout)
    steps = STEP.findall(r.stdout)
    con = sqlite3.connect(db)
    ck = con.execute("SELECT length(checkpoint) FROM meta_jobs").fetchone()[0] or 0
    con.close()
    n, wall = int(steps[-1][0]), float(steps[-1][1])
    return {"ranks": ranks, "steps": n, "wall_s": wall, "rate": n / wall if wall > 0 else float("nan"),
            "eval_ms": float(m.group(3)), "wait_ms": float(m.group(4)), "xchg_ms": float(m.group(5)),
            "bytes": int(m.group(6)), "ckpt_bytes": ck}


# The exchange alone: a config whose outer step is almost only the exchange
# (2 particles, 1 inner step of a 2-d quadratic), many steps.
PROBE = """name = probe
optimizer = mlp_lopt
hidden = 4
depth = 1
estimator = pes
task = quadratic dim=2
particles = 2
unroll = 1
outer_steps = 500
checkpoint_every = 500
"""


def estimate(c_s, ranks, per_rank, latency_s, bytes_per_s):
    """Weak scaling: per_rank particles on each of `ranks` ranks.  Step time =
    compute + allgather (ceil(log2 R) rounds of latency + the bytes a rank
    receives / bandwidth); efficiency = compute / step time."""
    compute = c_s * per_rank
    recv = ranks * (8 * per_rank + 1) * 8
    xchg = math.ceil(math.log2(ranks)) * latency_s + recv / bytes_per_s
    return compute / (compute + xchg), xchg, recv


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="deploy/meta/mlp_lopt_base.conf")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--bin", default="build/optirsd-mpi")
    a = ap.parse_args()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMPI_MCA_btl_vader_single_copy_mechanism="none")
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    with open(a.config) as f:
        lines = [ln for ln in f.read().splitlines() if not re.match(r"\s*(init_weights|outer_steps|checkpoint_every)\s*=", ln)]
    particles = next(int(ln.split("=")[1]) for ln in lines if re.match(r"\s*particles\s*=", ln))
    with tempfile.TemporaryDirectory(prefix="optirs-mpibench-") as tmp:
        conf = os.path.join(tmp, "bench.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines + ["outer_steps = %d" % a.steps, "checkpoint_every = %d" % a.steps]) + "\n")
        res = [run(os.path.abspath(a.bin), conf, tmp, R, env) for R in (1, 2)]
        probe_conf = os.path.join(tmp, "probe.conf")
        with open(probe_conf, "w") as f:
            f.write(PROBE)
        probe = run(os.path.abspath(a.bin), probe_conf, tmp, 2, env)
    load = os.getloadavg()
    print("config %s (%d particles), %d outer steps per run; load average %.2f %.2f %.2f on %d cores"
          % (a.config, particles, a.steps, load[0], load[1], load[2], os.cpu_count()))
    for r in res:
        print("R=%d: %.3f outer steps/s (%.1f s); per outer step on rank 0: evaluation %.1f ms, waiting %.1f ms, "
              "exchange %.3f ms; %d bytes received over all ranks per outer step; meta-checkpoint %d bytes"
              % (r["ranks"], r["rate"], r["wall_s"], r["eval_ms"], r["wait_ms"], r["xchg_ms"], r["bytes"],
                 r["ckpt_bytes"]))
    print("speed-up R=2 / R=1: %.2f" % (res[1]["rate"] / res[0]["rate"]))
    c = res[0]["eval_ms"] / 1e3 / particles          # compute per particle (s), from R=1
    x2 = probe["xchg_ms"] / 1e3                       # one exchange at R=2 on this machine (shared memory)
    print("exchange probe (R=2, %d steps of a 2-particle config): exchange %.4f ms, waiting %.4f ms per outer step"
          % (probe["steps"], probe["xchg_ms"], probe["wait_ms"]))
    print("compute per particle %.1f ms; exchange at R=2 %.4f ms (probe; %.3f ms in the R=2 run above, under this "
          "load); compute/communication %.0f : 1 per particle" % (c * 1e3, x2 * 1e3, res[1]["xchg_ms"],
                                                                  c / x2 if x2 > 0 else float("inf")))
    for per_rank in (1, max(1, particles // 2)):
        for R in (64, 1024):
            for label, lat, bw in (("network 50 us/round, 1.25 GB/s", NET_LATENCY_S, NET_BYTES_PER_S),):
                e, xchg, recv = estimate(c, R, per_rank, lat, bw)
                print("estimate R=%d, %d particle(s) per rank (%d in all), %s: exchange %.3f ms, %d bytes per rank "
                      "per step, efficiency %.4f" % (R, per_rank, R * per_rank, label, xchg * 1e3, recv, e))
    ck = res[0]["ckpt_bytes"] / particles
    print("checkpoint gather: %.0f bytes per particle per checkpoint (at R=1024 with 1 particle per rank: %.1f MB "
          "to rank 0 every checkpoint_every steps)" % (ck, ck * 1024 / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
