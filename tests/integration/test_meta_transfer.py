"""Transfer between domains (docs/meta-learning.md#transfer-between-domains):
the per-step meta-loss curve that deploy/meta/experiments/transfer/summarise.py
reads from `optirsd meta-train`'s output, a warm start (init_weights) seen in
it, and the smoothing and steps-to-reach rules the table states."""
import importlib.util
import math
import os
import subprocess

from daemon import OPTIRSD

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location(
    "transfer_summarise", os.path.join(ROOT, "deploy/meta/experiments/transfer/summarise.py"))
summ = importlib.util.module_from_spec(spec)
spec.loader.exec_module(summ)


def train(tmp_path, name, init):
    conf = tmp_path / (name + ".conf")
    lines = ["name = " + name, "optimizer = mlp_lopt", "hidden = 8", "depth = 1", "estimator = pes",
             "particles = 3", "unroll = 5", "horizon_min = 10", "horizon_max = 20", "outer_steps = 4",
             "seed = 1", "task = logistic_regression dim=5"] + (["init_weights = " + init] if init else [])
    conf.write_text("\n".join(lines) + "\n")
    log = tmp_path / (name + ".train.log")
    r = subprocess.run([OPTIRSD, "meta-train", "--config", str(conf), "--db", str(tmp_path / "t.db"),
                        "--threads", "1"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    log.write_text(r.stdout)
    return summ.curve(str(log))


def test_curve_from_meta_train_output_and_warm_start(tmp_path):
    scratch = train(tmp_path, "sc", None)
    warm = train(tmp_path, "wm", "mlp_lopt.vision")
    assert len(scratch) == 4 and len(warm) == 4
    assert all(math.isfinite(x) for x in scratch + warm)
    # same seed, same tasks: only the starting weights differ, so step 1 differs
    assert warm[0] != scratch[0]
    assert summ.curve(str(tmp_path / "absent.log")) == []


def test_smoothing_and_steps_to_reach():
    assert summ.WINDOW == 5
    xs = [10, 8, 6, 4, 2, 0, 0]
    assert summ.smooth(xs) == [10, 9, 8, 7, 6, 4, 2.4]
    assert summ.steps_to_reach(summ.smooth(xs), 6) == 5
    assert summ.steps_to_reach(summ.smooth(xs), 10) == 1
    assert summ.steps_to_reach(summ.smooth(xs), 1) is None
