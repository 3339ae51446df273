"""`optirsd objective` (src/cli/cli_objective.c): one trial of a daemon-run
study's built-in task objective outside the daemon prints the value the
daemon's run told that trial, the same %.17g (a classic optimizer, and a
learned one on the built-in weights of a fresh --db), one trial at a time or
as a stream; bad input is refused with exit 2.

The CLI prints the exact %.17g; the API prints doubles as cJSON does (15
significant digits when they read back within a relative DBL_EPSILON, so up
to an ulp off): the check is that the API's number is cJSON's rendering of
the CLI's value (test_study_run.c compares the doubles themselves)."""
import json
import subprocess
import sys

from daemon import OPTIRSD
from test_study_jobs import wait_idle

TASK = "fmnist_mlp width=8 batch=16"


def as_cjson_prints(x):
    """The double a client reads back from cJSON's print_number(x)."""
    s15 = float("%.15g" % x)
    return s15 if abs(s15 - x) <= max(abs(s15), abs(x)) * sys.float_info.epsilon else x


def objective_cli(obj, params, db, stdin=None):
    r = subprocess.run([OPTIRSD, "objective", "--objective", json.dumps(obj), "--params", params, "--db", db],
                       capture_output=True, text=True, timeout=120, input=stdin)
    return r.returncode, r.stdout, r.stderr


def run_study(d, space, obj):
    st, s = d.json("POST", "/v1/studies", {"name": "cli", "space": space, "max_trials": 4, "parallel": 2, "seed": 3,
                                           "sampler": "random", "pruner": "none", "objective": obj})
    assert st == 201, s
    wait_idle(d, s["id"])
    trials = d.json("GET", f"/v1/studies/{s['id']}/trials")[1]["trials"]
    assert len(trials) == 4 and all(t["state"] == "complete" for t in trials), trials
    return trials


def test_the_cli_gives_the_daemons_values(daemon, tmp_path):
    db = str(tmp_path / "w.db")
    cases = [
        ({"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
          "beta1": {"type": "float", "low": 0.5, "high": 0.999},
          "weight_decay": {"type": "float", "low": 1e-6, "high": 0.1, "log": True}},
         {"task": TASK, "steps": 30, "optimizer": "adam", "seeds": [0, 2], "report": "heldout", "report_every": 7}),
        ({"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}},
         {"task": "conv_net width=2 batch=8", "steps": 10, "optimizer": "mlp_lopt"}),
    ]
    for space, obj in cases:
        trials = run_study(daemon, space, obj)
        for t in trials:
            rc, out, err = objective_cli(obj, json.dumps(t["params"]), db)
            assert rc == 0, err
            assert out == "%.17g\n" % float(out) and as_cjson_prints(float(out)) == t["value"], (t, out)
        # the stream: one answer a line, in order, the same values
        lines = "".join(json.dumps(t["params"]) + "\n" for t in trials) + '{"nope": 1}\n'
        rc, out, err = objective_cli(obj, "-", db, stdin=lines)
        assert rc == 0, err
        got = out.splitlines()
        assert [as_cjson_prints(float(g)) for g in got[:4]] == [t["value"] for t in trials]
        assert got[4].startswith("error ") and "nope" in got[4] and len(got) == 5


def test_bad_input_and_a_diverging_trial(tmp_path):
    db = str(tmp_path / "w.db")
    ok = {"task": TASK, "steps": 3}
    for obj, params in [(ok, '{"lrr": 0.1}'), (ok, '{"lr": 1e9}'), (ok, "[1"), (ok, '{"lr": "x"}'),
                        ({"task": TASK}, '{"lr": 0.1}'), ({"task": "nope", "steps": 3}, '{"lr": 0.1}'),
                        ({"meta": {}}, '{"lr": 0.1}'), ({**ok, "optimizer": "nope"}, '{"lr": 0.1}')]:
        rc, out, err = objective_cli(obj, params, db)
        assert rc == 2 and out == "" and err.startswith("optirsd objective: "), (obj, params, rc, out, err)
        # a refusal never reads as a diverged trial (it did, with a stale step, before a mend)
        assert "failed at step" not in err, (obj, params, err)
    assert "unknown task family" in objective_cli({"task": "../../x", "steps": 3}, '{"lr": 0.1}', db)[2]
    r = subprocess.run([OPTIRSD, "objective", "--params", "{}"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "usage" in r.stderr
    rc, out, err = objective_cli({"task": "rosenbrock", "steps": 50, "optimizer": "sgd"}, '{"lr": 10}', db)
    assert rc == 1 and out == "" and "failed at step" in err
