"""optirs studies (Client.create_study, Study, Trial, optirs.tune) against a
real optirsd."""
import threading

import pytest

import optirs

SPACE = {"x": {"type": "float", "low": -5.0, "high": 5.0},
         "k": {"type": "int", "low": 1, "high": 8},
         "act": {"type": "categorical", "choices": ["relu", "gelu", "swish"]}}


def test_ask_report_tell_and_best(url):
    c = optirs.Client(url)
    study = c.create_study("client", SPACE, max_trials=3, parallel=2, seed=3, pruner="none")
    assert study.id.startswith("st-") and study.desc["seed"] == 3
    t = study.ask()
    assert t.number == 0 and -5 <= t.params["x"] <= 5 and t.params["act"] in ("relu", "gelu", "swish")
    assert t.report(1, 2.0) is False
    told = study.tell(t, (t.params["x"] - 1) ** 2)
    assert told["state"] == "complete" and t.state == "complete"
    t1 = study.ask()
    study.tell(t1, state="failed")
    t2 = study.ask()
    with pytest.raises(optirs.OptirsError) as e:
        study.ask()
    assert (e.value.code, e.value.status) == ("study_exhausted", 409)
    study.tell(t2, -1.0)
    assert study.best["trial"] == 2 and study.best["value"] == -1.0
    assert [x["state"] for x in study.trials()] == ["complete", "failed", "complete"]
    assert c.study(study.id).id == study.id
    assert study.id in [s["id"] for s in c.studies()]
    with pytest.raises(optirs.OptirsError) as e:
        study.tell(t, 0.0)
    assert e.value.code == "trial_finished"
    assert study.delete()["deleted"] is True


def test_report_returns_the_prune_flag(url):
    c = optirs.Client(url)
    study = c.create_study("prune", {"x": {"type": "float", "low": 0, "high": 1}}, pruner="median",
                           sampler="random", seed=1)
    for n in range(5):
        t = study.ask()
        for step in range(3):
            assert t.report(step, 1.0 + step + n) is False
        study.tell(t, 1.0 + n)
    t = study.ask()
    assert t.report(0, 100.0) is True and t.state == "pruned"
    with pytest.raises(optirs.TrialPruned):
        t.prune_if(1, 100.0)   # a re-sent report of a pruned trial answers "pruned" too


def test_tune_runs_on_threads_and_finds_the_minimum(url):
    seen = set()
    lock = threading.Lock()

    def objective(trial):
        with lock:
            seen.add(threading.get_ident())
        x = trial.params["x"]
        for step in range(3):
            trial.prune_if(step, (x - 1.5) ** 2 + 1.0 / (step + 1))
        return (x - 1.5) ** 2 + (0.1 if trial.params["act"] != "gelu" else 0.0)

    study = optirs.tune(objective, SPACE, n_trials=30, parallel=3, url=url, seed=5, pruner="none")
    states = [t["state"] for t in study.trials()]
    assert len(states) == 30 and all(s == "complete" for s in states)
    assert len(seen) >= 2                       # more than one worker thread ran trials
    best = study.best
    assert best["value"] < 1.0 and abs(best["params"]["x"] - 1.5) < 1.0


def test_tune_fails_the_trial_and_reraises_the_objective_error(url):
    def objective(trial):
        raise ValueError("boom")

    with pytest.raises(ValueError):
        optirs.tune(objective, SPACE, n_trials=5, parallel=1, url=url, name="failing")
    c = optirs.Client(url)
    study = [s for s in c.studies() if s["name"] == "failing"][0]
    trials = c.study(study["id"]).trials()
    assert trials and all(t["state"] == "failed" for t in trials)
