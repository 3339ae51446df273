#!/usr/bin/python3
"""What the access log costs a step: median round trip of serial binary steps
(Adam, 1000 parameters) with --log-level info (one access line per request)
and warn (none), in alternating rounds.  Figures: docs/operations.md#logs.

Usage: OPTIRSD=build/optirsd bench/log_cost.py [ROUNDS] [STEPS]"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "integration"))
from daemon import Daemon  # noqa: E402


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    res = {"info": [], "warn": []}
    for _ in range(rounds):
        for level in ("info", "warn"):
            d = Daemon("--log-level", level).start()
            try:
                s = d.create(optimizer="adam", tensors=[{"shape": [1000]}])
                g = [0.01] * 1000
                ts = []
                for k in range(1, steps + 1):
                    t = time.perf_counter()
                    st, _, _ = d.step_binary(s["id"], k, g)
                    ts.append(time.perf_counter() - t)
                    assert st == 200
                d.stop()
            finally:
                d.cleanup()
            res[level].append(statistics.median(ts[steps // 6:]) * 1e6)
    for level, v in res.items():
        print("%-4s median round trip per round (us): %s" % (level, " ".join("%.1f" % x for x in v)))


if __name__ == "__main__":
    main()
