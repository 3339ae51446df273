"""The one statistic the study benches compare with: an unpaired two-sided
Mann-Whitney U over the seeds (hpo_bench.py, hpo_tasks.py, study_asha.py).
Needs python3-scipy (Debian), a bench-only dependency."""
import statistics

from scipy.stats import mannwhitneyu


def verdict(a, b, alpha=0.05):
    """("better" | "worse" | "≈", p): a against b, lower is better."""
    p = mannwhitneyu(a, b, alternative="two-sided").pvalue
    if p >= alpha:
        return "≈", p
    return ("better" if statistics.median(a) < statistics.median(b) else "worse"), p
