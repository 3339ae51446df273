#!/usr/bin/python3
"""What binding a session to a study trial costs a step: the mean round trip
of serial JSON steps with a loss (Adam, 100 parameters) of an unbound session
and of one bound to a trial whose study holds TRIALS finished trials of STEPS
reported values each (the history the median pruner reads at every step).
With `cluster`, the daemon keeps its studies in a throwaway PostgreSQL
(--cluster-db, started as tests/integration/pg_cluster.py starts it: a unix
socket, fsync off), so each bound step's report is a PostgreSQL transaction.
Figures: docs/studies.md#sessions-bound-to-a-trial.

Usage: OPTIRSD=build/optirsd bench/study_bound_step.py [TRIALS] [STEPS] [local|cluster]"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "integration"))
from daemon import Daemon  # noqa: E402
from pg_cluster import Postgres  # noqa: E402


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    mode = sys.argv[3] if len(sys.argv) > 3 else "local"
    if mode not in ("local", "cluster"):
        sys.exit("mode: local or cluster")
    pg = Postgres().init().start() if mode == "cluster" else None
    d = Daemon(*(("--cluster-db", pg.uri) if pg else ())).start()
    try:
        st, s = d.json("POST", "/v1/studies", {"name": "bench", "pruner": "median",
                                               "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-2}}})
        sid = s["id"]
        for n in range(trials):
            d.json("POST", f"/v1/studies/{sid}/trials", {})
            for k in range(1, steps + 1):
                d.json("POST", f"/v1/studies/{sid}/trials/{n}/report", {"step": k, "value": 1.0 / k + 0.01 * n})
            d.json("POST", f"/v1/studies/{sid}/trials/{n}/tell", {"value": 0.01 * n})
        d.json("POST", f"/v1/studies/{sid}/trials", {})
        bound = d.create(optimizer="adam", tensors=[{"shape": [100]}], trial=f"{sid}/{trials}")
        free = d.create(optimizer="adam", tensors=[{"shape": [100]}])
        g = [0.01] * 100
        for name, sess in (("unbound", free), ("bound", bound)):
            t0 = time.perf_counter()
            for k in range(1, steps + 1):
                st, b = d.step(sess["id"], k, g, loss=1.0 / k)
                assert st == 200, b
            dt = (time.perf_counter() - t0) / steps
            print("%s: %-8s session: %.3f ms per step (history: %d trials x %d values)" %
                  (mode, name, dt * 1e3, trials, steps))
    finally:
        d.cleanup()
        if pg:
            pg.cleanup()


if __name__ == "__main__":
    main()
