#!/usr/bin/env python3
"""The transfer table (docs/meta-learning.md#transfer-between-domains): reads
what run.sh wrote in OUTDIR and prints, per pair SOURCE -> TARGET,
(a) the outer steps the warm-started run needs to reach the from-scratch run's
final meta-loss, both curves smoothed by a trailing mean over the last
WINDOW steps (fewer at the first steps), from the "step N/M  meta-loss X"
lines of OUTDIR/<run>.train.log; and (b) LO / tuned Adam on the target's
held-out tasks after the equal budget (median and worst over the entries,
training loss, held-out loss in brackets) for the warm-started run, the
from-scratch run and the source record unadapted.
    python3 deploy/meta/experiments/transfer/summarise.py OUTDIR"""
import math
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "adapt"))
from summarise import read  # noqa: E402  (the eval-output reader, written once)

WINDOW = 5
PAIRS = [("vision_text", "mlp_lopt.vision", "text"),
         ("synthetic_vision", "tr_src_synthetic", "vision"),
         ("vision_tabular", "mlp_lopt.vision", "tabular")]
STEP = re.compile(r"^step (\d+)/\d+\s+meta-loss (\S+)")


def curve(path):
    """The per-step meta-loss, step 1 first ([] before the run's log exists)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [float(m.group(2)) for m in map(STEP.match, f) if m]


def smooth(xs):
    return [statistics.mean(xs[max(0, i + 1 - WINDOW):i + 1]) for i in range(len(xs))]


def steps_to_reach(warm, target):
    """The first step (1-based) whose smoothed meta-loss is <= target, or None."""
    for i, x in enumerate(warm):
        if x <= target:
            return i + 1
    return None


def figure(path, families):
    """'median (held median) / worst (held worst)' of LO / tuned Adam, or '-'."""
    if not os.path.exists(path) or "summary (" not in open(path).read():
        return "-"
    rows = read(path, families)
    tr = [r[0] for r in rows.values() if not math.isnan(r[0])]
    he = [r[1] for r in rows.values() if not math.isnan(r[1])]
    return "%.3f (%.3f) / %.3f (%.3f)" % (statistics.median(tr), statistics.median(he), max(tr), max(he))


def main():
    out = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    print("| pair | final meta-loss, smoothed: scratch / warm | warm's step-1 meta-loss (scratch's) "
          "| steps for warm to reach scratch's final | LO / tuned Adam on held-out, median (held) / worst (held): "
          "warm | scratch | source unadapted |")
    print("|---|---|---|---|---|---|---|")
    for name, src, tgt in PAIRS:
        w, s = (curve(os.path.join(out, "%s_%s.train.log" % (name, a))) for a in ("warm", "scratch"))
        if not w or not s:
            continue
        ws, ss = smooth(w), smooth(s)
        reach = steps_to_reach(ws, ss[-1])
        with open(os.path.join(here, "heldout_%s.suite" % tgt)) as f:
            fams = tuple(line.split()[0] for line in f if line.strip() and not line.startswith("#"))
        ev = [figure(os.path.join(out, "%s_%s.heldout.eval" % (name, a)), fams) for a in ("warm", "scratch")]
        ev.append(figure(os.path.join(out, "%s.heldout_%s.eval" % (src, tgt)), fams))
        print("| %s → %s (`%s`) | %.4f / %.4f | %.4f (%.4f) | %s of %d | %s |" % (
            src, tgt, name, ss[-1], ws[-1], w[0], s[0],
            reach if reach is not None else "not reached", len(s), " | ".join(ev)))


if __name__ == "__main__":
    main()
