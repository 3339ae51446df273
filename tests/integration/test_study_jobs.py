"""Studies the daemon runs itself (docs/studies.md#studies-the-daemon-runs):
a study with an "objective" is trained on the job queue — asks, built-in task
runs with the trials' hyperparameters, every step reported to the pruner, the
final value told — with its progress in GET and DELETE cancelling it; the
objective's hostile forms are refused.  Also: a restarted daemon's session
bound to a pruned trial refuses its very first step."""
import time

TASK = "mlp_regression dim=4 width=8 n_train=64"
SEED_SPACE = {"lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
              "batch": {"type": "categorical", "choices": [16, 32, 64, 128]},
              "architecture": {"type": "categorical", "choices": ["small", "medium", "large"]}}


def create(d, **spec):
    body = {"name": "job", "space": SEED_SPACE, **spec}
    return d.json("POST", "/v1/studies", body)


def wait_idle(d, sid, limit=300):
    """Polls until the study's run has left the job queue (the test's own
    time limit is only a guard against a hang; nothing is asserted on it)."""
    end = time.monotonic() + limit
    while True:
        st, g = d.json("GET", f"/v1/studies/{sid}")
        assert st == 200, g
        if g["run"]["state"] == "idle" or time.monotonic() > end:
            return g
        time.sleep(0.1)


def test_the_daemon_runs_a_study_to_its_budget(daemon):
    st, s = create(daemon, max_trials=6, parallel=2, seed=5, sampler="random", pruner="asha",
                   pruner_options={"min_resource": 2, "reduction_factor": 2},
                   objective={"task": TASK + "  ", "steps": 8, "seeds": [0, 1]})
    assert st == 201, s
    assert s["objective"] == {"task": TASK, "steps": 8, "optimizer": "adam", "seeds": [0, 1], "report": "train",
                              "report_every": 1}
    assert s["run"]["state"] in ("queued", "running", "idle")
    g = wait_idle(daemon, s["id"])
    assert g["n_trials"] == 6 and g["n_running"] == 0
    trials = daemon.json("GET", f"/v1/studies/{s['id']}/trials")[1]["trials"]
    assert len(trials) == 6
    states = {t["state"] for t in trials}
    assert states <= {"complete", "pruned"} and "complete" in states
    for t in trials:
        steps = [p["step"] for p in t["intermediate"]]
        assert steps == list(range(1, len(steps) + 1))        # every step reported, in order
        if t["state"] == "complete":
            assert len(steps) == 8 and t["value"] > 0
        else:
            assert len(steps) < 8                              # a pruned trial stopped early
    assert g["steps_run"] == sum(len(t["intermediate"]) for t in trials)
    best = min((t for t in trials if t["state"] == "complete"), key=lambda t: t["value"])
    assert g["best"]["trial"] == best["trial"] and g["best"]["value"] == best["value"]
    # no more asks: the budget is spent
    st, b = daemon.json("POST", f"/v1/studies/{s['id']}/trials", {})
    assert st == 409 and b["error"]["code"] == "study_exhausted"


def test_same_seed_same_study(daemon):
    """One job thread advances the trials in turn: a run is reproducible."""
    runs = []
    for _ in range(2):
        st, s = create(daemon, max_trials=4, parallel=2, seed=11, sampler="random", pruner="median",
                       pruner_options={"n_startup_trials": 1},
                       objective={"task": TASK, "steps": 5})
        assert st == 201, s
        wait_idle(daemon, s["id"])
        tr = daemon.json("GET", f"/v1/studies/{s['id']}/trials")[1]["trials"]
        runs.append([(t["params"], t["state"], t["value"], t["intermediate"]) for t in tr])
    assert runs[0] == runs[1]


def test_the_seeds_example_runs_as_written(daemon):
    """The issue's example (lr 1e-5..1e-1 log, batch {16..128}, architecture
    {small, medium, large}, parallel 4) with a small budget."""
    st, s = create(daemon, max_trials=8, parallel=4, seed=0, pruner="asha",
                   objective={"task": TASK, "steps": 6})
    assert st == 201, s
    g = wait_idle(daemon, s["id"])
    assert g["n_trials"] == 8 and g["best"] is not None
    tr = daemon.json("GET", f"/v1/studies/{s['id']}/trials")[1]["trials"]
    assert {t["params"]["architecture"] for t in tr} <= {"small", "medium", "large"}


def test_delete_cancels_the_run(daemon):
    st, s = create(daemon, max_trials=10000, parallel=2, seed=1, pruner="none",
                   objective={"task": TASK, "steps": 100000})
    assert st == 201, s
    sid = s["id"]
    while daemon.json("GET", f"/v1/studies/{sid}")[1]["steps_run"] < 3:
        time.sleep(0.05)
    assert daemon.json("DELETE", f"/v1/studies/{sid}") == (200, {"id": sid, "deleted": True})
    assert daemon.json("GET", f"/v1/studies/{sid}")[0] == 404
    # the queue is free again: a second study runs to its end
    st, s2 = create(daemon, max_trials=2, parallel=1, pruner="none", objective={"task": TASK, "steps": 3})
    assert st == 201
    g = wait_idle(daemon, s2["id"])
    assert g["n_complete"] == 2


def test_hostile_objectives_are_refused(daemon):
    cases = [
        ({"steps": 5}, 400, "missing_field"),
        ({"task": TASK}, 400, "missing_field"),
        ({"task": "no_such_family", "steps": 5}, 400, "invalid_argument"),
        ({"task": TASK + " width=0", "steps": 5}, 400, "out_of_range"),
        ({"task": TASK, "steps": 0}, 400, "out_of_range"),
        ({"task": TASK, "steps": 100001}, 400, "out_of_range"),
        ({"task": TASK, "steps": 5, "optimizer": 5}, 400, "invalid_argument"),
        ({"task": TASK, "steps": 5, "optimizer": "nope"}, 400, "invalid_argument"),
        ({"task": TASK, "steps": 5, "seeds": []}, 400, "invalid_argument"),
        ({"task": TASK, "steps": 5, "seeds": list(range(9))}, 400, "invalid_argument"),
        ({"task": TASK, "steps": 5, "seeds": [-1]}, 400, "out_of_range"),
        ({"task": TASK, "steps": 5, "extra": 1}, 400, "unknown_field"),
        ({"task": "x" * 400, "steps": 5}, 400, "invalid_argument"),
        ("adam", 400, "invalid_argument"),
        ({"task": TASK, "steps": 5, "report": "val"}, 400, "invalid_argument"),
        ({"task": TASK, "steps": 5, "report_every": 6}, 400, "out_of_range"),
    ]
    for obj, status, code in cases:
        st, b = create(daemon, objective=obj)
        assert (st, b["error"]["code"]) == (status, code), (obj, b)
    # a parameter the objective cannot use, and architecture choices it does not know
    for space in ({"layers": {"type": "int", "low": 1, "high": 4}},
                  {"architecture": {"type": "categorical", "choices": ["small", "<huge>"]}},
                  {"batch": {"type": "float", "low": 1, "high": 4}},
                  {"architecture": {"type": "categorical", "choices": ["small"]},
                   "width": {"type": "int", "low": 1, "high": 4}}):
        st, b = daemon.json("POST", "/v1/studies", {"name": "x", "space": space,
                                                    "objective": {"task": TASK, "steps": 5}})
        assert st == 400 and b["error"]["code"] == "invalid_argument", (space, b)
    # a learned optimizer's trial runs its weights record, whose shape and init would ignore the value
    for name, opt in (("hidden", "mlp_lopt"), ("activation", "mlp_lopt"), ("features", "mlp_lopt"),
                      ("num_heads", "attn_lopt"), ("forget_gate_bias", "lstm_lopt"), ("depth", "hybrid")):
        st, b = daemon.json("POST", "/v1/studies", {"name": "x", "space": {name: {"type": "int", "low": 1, "high": 2}},
                                                    "objective": {"task": TASK, "steps": 5, "optimizer": opt}})
        assert st == 400 and b["error"]["code"] == "invalid_argument", (name, b)
        assert "fixed by the weights record" in b["error"]["message"], b
    assert daemon.json("GET", "/v1/studies")[1]["studies"] == []    # nothing was created


def test_a_trial_the_optimizer_refuses_fails(daemon):
    st, s = create(daemon, space={"beta1": {"type": "float", "low": 0.5, "high": 2.0}}, max_trials=3,
                   parallel=1, sampler="random", pruner="none", seed=2, objective={"task": TASK, "steps": 3})
    assert st == 201, s
    wait_idle(daemon, s["id"])
    tr = daemon.json("GET", f"/v1/studies/{s['id']}/trials")[1]["trials"]
    for t in tr:
        assert t["state"] == ("failed" if t["params"]["beta1"] >= 1 else "complete"), t


def test_restarted_session_of_a_pruned_trial_refuses_its_first_step(make_daemon):
    """The binding's pruned state is read back before the first step after a
    restart: that step answers 410 and changes nothing."""
    d = make_daemon().start()
    space = {"lr": {"type": "float", "low": 1e-3, "high": 1e-2}}
    st, s = d.json("POST", "/v1/studies", {"name": "p", "space": space, "pruner": "median", "sampler": "random",
                                           "pruner_options": {"n_startup_trials": 1}})
    sid = s["id"]
    assert d.json("POST", f"/v1/studies/{sid}/trials", {})[0] == 201
    assert d.json("POST", f"/v1/studies/{sid}/trials/0/report", {"step": 1, "value": 0.1})[0] == 200
    assert d.json("POST", f"/v1/studies/{sid}/trials/0/tell", {"value": 0.1})[0] == 200
    assert d.json("POST", f"/v1/studies/{sid}/trials", {})[0] == 201
    sess = d.create(optimizer="sgd", tensors=[{"shape": [2]}], trial=f"{sid}/1", durability="step")
    assert d.step(sess["id"], 1, [1.0, 1.0], loss=0.9)[0] == 200          # worse than the median: pruned
    assert d.json("GET", f"/v1/studies/{sid}/trials")[1]["trials"][1]["state"] == "pruned"
    before = d.json("GET", f"/v1/sessions/{sess['id']}/params")
    assert d.stop() == 0
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    st, b = d2.step(sess["id"], 2, [1.0, 1.0], loss=0.8)
    assert st == 410 and b["error"]["code"] == "trial_pruned", b
    assert d2.json("GET", f"/v1/sessions/{sess['id']}/params") == before   # nothing applied
    assert d2.json("GET", f"/v1/sessions/{sess['id']}")[1]["step"] == 1
    st, b = d2.step(sess["id"], 2, [1.0, 1.0], loss=0.8)
    assert st == 410


def test_answers_match_the_spec(daemon):
    """A study with an objective: its create, GET and the refusal of a bad
    objective validate against proto/openapi.yaml."""
    import pytest
    pytest.importorskip("jsonschema")
    from test_openapi_responses import Contract
    c = Contract()

    def call(method, path, body=None, valid=False):
        if valid and body is not None:
            c.check_request(method, path, body)
        st, h, data = daemon.request(method, path, body)
        return st, c.check(method, path, st, h, data)

    body = {"name": "contract", "space": SEED_SPACE, "max_trials": 2, "parallel": 2,
            "objective": {"task": TASK, "steps": 3, "optimizer": "adam", "seeds": [0]}}
    st, s = call("POST", "/v1/studies", body, valid=True)
    assert st == 201 and "run" in s
    wait_idle(daemon, s["id"])
    st, g = call("GET", f"/v1/studies/{s['id']}")
    assert st == 200 and g["run"]["state"] == "idle" and g["steps_run"] == 6
    assert call("POST", "/v1/studies", {**body, "objective": {"task": TASK}})[0] == 400
