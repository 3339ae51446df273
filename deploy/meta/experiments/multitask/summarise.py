"""Prints the table of docs/meta-learning.md#multi-task-optimizer from the
eval outputs run.sh leaves in OUTDIR (RECORD.DOMAIN.eval).  Per domain and
arm: wins against tuned Adam on the domain's test entries, LO / tuned Adam on
the final training loss (median, worst) and on the held-out loss (median,
worst).  Usage: python3 summarise.py OUTDIR"""
import os
import re
import sys

ARMS = [("shipped mlp_lopt (the common start, no training)", "mlp_lopt"),
        ("(a) one shared network", "mt_shared"),
        ("(b) shared trunk + FiLM rows", "mt_film"),
        ("(b) its trunk alone, no row (ablation)", "mt_film_trunk"),
        ("(c) separate per-domain networks", "mt_sep_{d}")]
DOMAINS = ["vision", "text", "tabular"]
SUM = re.compile(r"^summary \(([^,]+), suite [^)]+\): beats tuned Adam on (\d+) of (\d+)")
RAT = re.compile(r"training loss: median ([\d.e+-]+|n/a), worst ([\d.e+-]+|n/a) over (\d+) entries.*"
                 r"held-out loss: median ([\d.e+-]+|n/a), worst ([\d.e+-]+|n/a)")


def read(path):
    if not os.path.exists(path):
        return None
    lines = open(path).read().splitlines()
    for i, l in enumerate(lines):
        m = SUM.match(l)
        if m and i + 1 < len(lines):
            r = RAT.search(lines[i + 1])
            if r:
                return dict(wins=int(m.group(2)), n=int(m.group(3)), med=r.group(1), worst=r.group(2),
                            hmed=r.group(4), hworst=r.group(5))
    return None


def wall(path):
    if not os.path.exists(path):
        return None
    m = re.findall(r"^wall ([\d.]+) s", open(path).read(), re.M)
    return float(m[-1]) if m else None


def main(out):
    print("| domain | arm | wins vs tuned Adam | LO / tuned Adam: median | worst | held-out: median | worst |")
    print("|---|---|---|---|---|---|---|")
    for d in DOMAINS:
        for label, rec in ARMS:
            r = read(os.path.join(out, f"{rec.format(d=d)}.{d}.eval"))
            if r is None:
                print(f"| {d} | {label} | (not run) | | | | |")
                continue
            print(f"| {d} | {label} | {r['wins']} of {r['n']} | {r['med']} | {r['worst']} | {r['hmed']} | {r['hworst']} |")
    print()
    for label, rec in ARMS[1:]:
        if rec == "mt_film_trunk":
            continue
        names = [rec.format(d=d) for d in DOMAINS] if "{d}" in rec else [rec]
        w = [wall(os.path.join(out, f"{n}.train.log")) for n in names]
        print(f"meta-training wall time, {label}: " + ", ".join(f"{n} {x:.0f} s" if x else f"{n} ?" for n, x in zip(names, w)))


if __name__ == "__main__":
    main(sys.argv[1])
