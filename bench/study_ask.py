#!/usr/bin/python3
"""Wall time of an ask (POST /v1/studies/{id}/trials, over loopback HTTP) as
a study's history grows: a TPE study over four parameters (log float, float,
int, categorical), N serial ask/tell rounds on a quadratic-like objective,
the mean ask time per window of trials.  Figures: docs/studies.md#cost.

Usage: OPTIRSD=build/optirsd bench/study_ask.py [N]"""
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "integration"))
from daemon import Daemon  # noqa: E402

SPACE = {"lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
         "wd": {"type": "float", "low": 0.0, "high": 0.1},
         "layers": {"type": "int", "low": 1, "high": 8},
         "act": {"type": "categorical", "choices": ["relu", "gelu", "swish"]}}


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    d = Daemon().start()
    try:
        st, s = d.json("POST", "/v1/studies", {"name": "ask-bench", "space": SPACE, "sampler": "tpe",
                                               "max_trials": n, "parallel": 1, "seed": 0, "pruner": "none"})
        sid = s["id"]
        times = []
        for k in range(n):
            t0 = time.perf_counter()
            st, t = d.json("POST", f"/v1/studies/{sid}/trials", {})
            times.append(time.perf_counter() - t0)
            assert st == 201, t
            p = t["params"]
            v = (math.log10(p["lr"]) + 3) ** 2 + 10 * p["wd"] + 0.1 * p["layers"] + (p["act"] != "gelu")
            assert d.json("POST", f"/v1/studies/{sid}/trials/{k}/tell", {"value": v})[0] == 200
        edges = [0, 10, 100, 500, n] if n > 500 else [0, 10, n]
        for a, b in zip(edges, edges[1:]):
            w = times[a:b]
            print("trials %4d-%4d: %.2f ms per ask (mean)" % (a, b - 1, 1e3 * sum(w) / len(w)))
        st, g = d.json("GET", f"/v1/studies/{sid}")
        print("best after %d trials: %.4g" % (n, g["best"]["value"]))
    finally:
        d.cleanup()


if __name__ == "__main__":
    main()
