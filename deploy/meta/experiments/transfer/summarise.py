#!/usr/bin/env python3
"""The transfer table (docs/meta-learning.md#transfer-between-domains): reads
what run.sh wrote in OUTDIR and prints, per pair SOURCE -> TARGET,
(a) the outer steps the warm-started run needs to reach the from-scratch run's
final meta-loss, and the per-step gap between the two curves (same seed, so
the same step of both runs meets the same draws), both curves smoothed by a trailing mean over the last
WINDOW steps (fewer at the first steps), from the "step N/M  meta-loss X"
lines of OUTDIR/<run>.train.log; and (b) LO / tuned Adam on the target's
held-out tasks after the equal budget (median and worst over the entries,
training loss, held-out loss in brackets) for the warm-started run, the
from-scratch run and the source record unadapted.
    python3 deploy/meta/experiments/transfer/summarise.py OUTDIR"""
import importlib.util
import math
import os
import re
import statistics
import sys

# the eval-output reader is adapt/summarise.py's (written once), loaded under its own name
_spec = importlib.util.spec_from_file_location(
    "adapt_summarise", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "adapt", "summarise.py"))
_adapt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_adapt)
read = _adapt.read

WINDOW = 5
PAIRS = [("vision_text", "mlp_lopt.vision", "text"),
         ("synthetic_vision", "tr_src_synthetic", "vision"),
         ("vision_tabular", "mlp_lopt.vision", "tabular")]
STEP = re.compile(r"^step (\d+)/\d+\s+meta-loss (\S+)")
ELAPSED = re.compile(r"\belapsed ([0-9.]+)s")


def wall(path):
    """The run's wall time in seconds: the last step line's elapsed."""
    with open(path) as f:
        times = [float(m.group(1)) for m in map(ELAPSED.search, f) if m]
    return times[-1] if times else float("nan")


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


def figure(paths, families):
    """'median (held-out median) / worst (held-out worst)' of LO / tuned Adam over
    every entry of every complete eval output in paths, or '-'."""
    tr, he = [], []
    for path in paths:
        if not os.path.exists(path) or "summary (" not in open(path).read():
            continue
        for r in read(path, families).values():
            tr += [] if math.isnan(r[0]) else [r[0]]
            he += [] if math.isnan(r[1]) else [r[1]]
    if not tr or not he:
        return "-"
    return "%.3f (%.3f) / %.3f (%.3f)" % (statistics.median(tr), statistics.median(he), max(tr), max(he))


def main():
    out = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    print("| pair | seeds | final meta-loss, smoothed, scratch / warm (median over seeds) | step-1 meta-loss, warm / scratch "
          "(median) | steps for warm to reach scratch's final: per seed (median, worst) "
          "| per-step gap warm - scratch, smoothed: median over steps and seeds (worst seed's median) "
          "| LO / tuned Adam on held-out, median (held-out) / worst (held-out) over seeds x entries: warm "
          "| scratch | source record unadapted | meta-training wall s, warm / scratch (median) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, src, tgt in PAIRS:
        seeds, reach, fin, first, secs, gaps = [], [], [], [], [], []
        for sd in range(1, 100):
            w, s = (curve(os.path.join(out, "%s_%s_s%d.train.log" % (name, a, sd))) for a in ("warm", "scratch"))
            if not w or not s:
                continue
            ws, ss = smooth(w), smooth(s)
            seeds.append(sd)
            reach.append(steps_to_reach(ws, ss[-1]))
            gaps.append([a - b for a, b in zip(ws, ss)])
            fin.append((ss[-1], ws[-1]))
            first.append((w[0], s[0]))
            secs.append(tuple(wall(os.path.join(out, "%s_%s_s%d.train.log" % (name, a, sd))) for a in ("warm", "scratch")))
        if not seeds:
            continue
        n = len(curve(os.path.join(out, "%s_scratch_s%d.train.log" % (name, seeds[0]))))
        key = [r if r is not None else n + 1 for r in reach]   # not reached counts past the budget
        text = lambda r: "not reached" if r is None or r > n else str(r)  # noqa: E731
        with open(os.path.join(here, "heldout_%s.suite" % tgt)) as f:
            fams = tuple(line.split()[0] for line in f if line.strip() and not line.startswith("#"))
        ev = [figure([os.path.join(out, "%s_%s_s%d.heldout.eval" % (name, a, sd)) for sd in seeds], fams)
              for a in ("warm", "scratch")]
        ev.append(figure([os.path.join(out, "%s.heldout_%s.eval" % (src, tgt))], fams))
        print("| %s → %s | %s | %.4f / %.4f | %.4f / %.4f | %s of %d (%s, %s) | %+.3f (%+.3f) | %s | %.1f / %.1f |" % (
            src, tgt, ",".join(map(str, seeds)),
            statistics.median(f[0] for f in fin), statistics.median(f[1] for f in fin),
            statistics.median(f[0] for f in first), statistics.median(f[1] for f in first),
            " / ".join(text(r) for r in reach), n, text(statistics.median_low(key)), text(max(key)),
            statistics.median(x for g in gaps for x in g), max(statistics.median(g) for g in gaps), " | ".join(ev),
            statistics.median(t[0] for t in secs), statistics.median(t[1] for t in secs)))


if __name__ == "__main__":
    main()
