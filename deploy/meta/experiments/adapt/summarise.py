#!/usr/bin/env python3
"""The few-shot specialisation table (docs/meta-learning.md): reads the
`optirsd eval` outputs run.sh wrote (OUTDIR/<record>.test.eval) and prints,
per arm, the per-entry ratio LO / tuned Adam (final training loss, and
held-out loss) averaged over the meta-training seeds, with the spread.
    python3 deploy/meta/experiments/adapt/summarise.py OUTDIR [split]"""
import os
import statistics
import sys

ARMS = [("base mlp_lopt, unadapted", ["mlp_lopt"]),
        ("adapted from mlp_lopt (30 steps)", ["adapt_deep_s%d" % s for s in (1, 2, 3)]),
        ("Reptile-trained (40 x 3 steps), unadapted", ["maml_general_s1"]),
        ("Reptile-trained + adapted (30 steps)", ["adapt_maml_deep_s%d" % s for s in (1, 2, 3)]),
        ("joint-trained control (120 steps), unadapted", ["multi_general_s1"]),
        ("joint-trained control + adapted (30 steps)", ["adapt_multi_deep_s%d" % s for s in (1, 2, 3)]),
        ("meta-trained from scratch (30 steps)", ["scratch_deep_s%d" % s for s in (1, 2, 3)])]


def ratio(text):
    return float("nan") if text == "n/a" else float(text)


def read(path, families=("deep_mlp",)):
    """{entry: (ratio, held-out ratio)} of an `optirsd eval` output, for the
    entries whose task text starts with one of families (a ratio n/a is nan)."""
    rows = {}
    with open(path) as f:
        for line in f:
            if not line.startswith(tuple(families)):
                continue
            t = line.split()
            num = t[-12:]
            rows[" ".join(t[:-12])] = (ratio(num[9 - 1]), ratio(num[10 - 1]))   # ratio, r held
    return rows


def main():
    out, split = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "test"
    tasks = None
    print("| arm | records | per entry: LO / tuned Adam, training (held-out) | mean over entries |")
    print("|---|---|---|---|")
    for label, recs in ARMS:
        paths = [os.path.join(out, "%s.%s.eval" % (r, split)) for r in recs]
        got = [read(p) for p in paths if os.path.exists(p) and "summary (" in open(p).read()]
        if not got:
            continue
        tasks = tasks or list(got[0])
        cells, means, hmeans = [], [], []
        for t in tasks:
            tr = [g[t][0] for g in got]
            he = [g[t][1] for g in got]
            cells.append("%.3f (%.3f)" % (statistics.mean(tr), statistics.mean(he)))
        for g in got:
            means.append(statistics.mean(g[t][0] for t in tasks))
            hmeans.append(statistics.mean(g[t][1] for t in tasks))
        spread = " ± %.3f" % statistics.stdev(means) if len(means) > 1 else ""
        print("| %s | %d | %s | %.3f%s (%.3f) |" % (label, len(got), " / ".join(cells), statistics.mean(means), spread,
                                                  statistics.mean(hmeans)))
    print("entries:", " / ".join(tasks or []))


if __name__ == "__main__":
    main()
