"""Studies the daemon runs itself, round 5 (docs/studies.md#studies-the-daemon-runs):
trials that meta-train a learned optimizer (objective.meta, objective.score) —
a tiny study runs to its end with a pruned trial, hostile objectives are
refused and create nothing — and the resumption of a daemon-run study after
a restart: killed with SIGKILL mid-run it finishes with max_trials trials,
none duplicated, each trial number with the parameters and value an
uninterrupted run gives it; a resumed run is cancelled by DELETE."""
import os
import signal
import sqlite3
import time

TASK = "mlp_regression dim=4 width=8 n_train=64"
META = {"optimizer": "mlp_lopt", "estimator": "es", "tasks": ["quadratic dim=4"], "outer_steps": 4,
        "particles": 2, "unroll": 4}
SCORE = {"suite": "selection", "tasks": 1, "horizon": 10, "seeds": 1}


def wait_idle(d, sid, limit=300):
    """Polls until the study's run has left the job queue (the limit only
    guards against a hang; nothing is asserted on time)."""
    end = time.monotonic() + limit
    while True:
        st, g = d.json("GET", f"/v1/studies/{sid}")
        assert st == 200, g
        if g["run"]["state"] == "idle" or time.monotonic() > end:
            return g
        time.sleep(0.05)


def trials_of(d, sid):
    st, b = d.json("GET", f"/v1/studies/{sid}/trials")
    assert st == 200, b
    return b["trials"]


def test_meta_training_trials_run_to_the_end_with_a_pruned_one(daemon):
    """Four tiny meta-training trials, one at a time, under the median
    pruner: the unroll changes the meta-loss from the first outer step on, so
    a trial worse than the first complete one at a step is pruned there."""
    body = {"name": "meta", "space": {"unroll": {"type": "categorical", "choices": [2, 8]},
                                      "outer_lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}},
            "sampler": "random", "pruner": "median", "pruner_options": {"n_startup_trials": 1},
            "max_trials": 4, "parallel": 1, "seed": 3,
            "objective": {"meta": META, "score": SCORE}}
    st, s = daemon.json("POST", "/v1/studies", body)
    assert st == 201, s
    ob = s["objective"]
    assert ob["score"] == SCORE and ob["report_every"] == 1
    assert ob["meta"]["optimizer"] == "mlp_lopt" and ob["meta"]["outer_steps"] == 4
    assert "name" not in ob["meta"] and "checkpoint_every" not in ob["meta"]
    g = wait_idle(daemon, s["id"])
    assert g["n_trials"] == 4 and g["n_running"] == 0
    tr = trials_of(daemon, s["id"])
    states = [t["state"] for t in tr]
    assert "complete" in states and "pruned" in states, tr
    assert set(states) <= {"complete", "pruned"}
    for t in tr:
        steps = [p["step"] for p in t["intermediate"]]
        assert steps == list(range(1, len(steps) + 1))   # each outer step's meta-loss, in order
        if t["state"] == "complete":
            assert len(steps) == 4 and isinstance(t["value"], float)
        else:
            assert len(steps) < 4 and t["value"] is None  # stopped at the step the pruner said so
    best = min((t for t in tr if t["state"] == "complete"), key=lambda t: t["value"])
    assert g["best"]["trial"] == best["trial"]
    # the same study again: the same trials, states, curves and scores
    st, s2 = daemon.json("POST", "/v1/studies", body)
    assert st == 201
    wait_idle(daemon, s2["id"])
    again = trials_of(daemon, s2["id"])
    strip = lambda ts: [(t["params"], t["state"], t["value"], t["intermediate"]) for t in ts]  # noqa: E731
    assert strip(again) == strip(tr)


def test_hostile_meta_objectives_are_refused(daemon):
    space = {"outer_lr": {"type": "float", "low": 1e-4, "high": 1e-2}}
    cases = [
        ({"meta": META, "steps": 3}, space, "invalid_argument", "steps"),
        ({"meta": META, "task": TASK}, space, "invalid_argument", "task"),
        ({"meta": {**META, "name": "x"}}, space, "invalid_argument", "name"),
        ({"meta": {**META, "checkpoint_every": 2}}, space, "invalid_argument", "checkpoint_every"),
        ({"meta": {**META, "threads": 2}}, space, "invalid_argument", "threads"),
        ({"meta": {**META, "nonsense": 1}}, space, "unknown_field", "nonsense"),
        ({"meta": {**META, "particles": 0}}, space, "out_of_range", "particles"),
        ({"meta": {**META, "sigma": "NaN"}}, space, "out_of_range", "sigma"),
        ({"meta": {**META, "optimizer": "adam"}}, space, "unknown_optimizer", "optimizer"),
        ({"meta": {**META, "tasks": ["no_such_family"]}}, space, "invalid_argument", "no_such_family"),
        ({"meta": "mlp_lopt"}, space, "invalid_argument", "objective.meta"),
        ({"meta": META, "score": {"suite": "test"}}, space, "invalid_argument", "suite"),
        ({"meta": META, "score": {"tasks": 4}}, space, "out_of_range", "tasks"),
        ({"meta": META, "score": {"horizon": 10001}}, space, "out_of_range", "horizon"),
        ({"meta": META, "score": {"seeds": 0}}, space, "out_of_range", "seeds"),
        ({"meta": META, "score": {"bogus": 1}}, space, "unknown_field", "bogus"),
        ({"meta": META, "report_every": 0}, space, "out_of_range", "report_every"),
        # parameters a trial cannot set
        ({"meta": META}, {"layers": {"type": "int", "low": 1, "high": 4}}, "invalid_argument", "layers"),
        ({"meta": META}, {"optimizer": {"type": "categorical", "choices": ["mlp_lopt"]}}, "invalid_argument",
         "optimizer"),
        ({"meta": META}, {"particles": {"type": "float", "low": 1, "high": 4}}, "invalid_argument", "particles"),
        ({"meta": META}, {"sigma": {"type": "float", "low": 0.001, "high": 50}}, "invalid_argument", "sigma"),
        ({"meta": META}, {"hidden": {"type": "categorical", "choices": [4, "x"]}}, "invalid_argument", "hidden"),
        ({"meta": META}, {"keep_checkpoints": {"type": "int", "low": 0, "high": 1}}, "invalid_argument",
         "keep_checkpoints"),
        ({"meta": {**META, "optimizer": "lstm_lopt"}}, {"trust": {"type": "float", "low": 0, "high": 1}},
         "invalid_argument", "trust"),
        # the cost: the default 10000 trials of this request
        ({"meta": {**META, "outer_steps": 1000, "particles": 64, "unroll": 100}}, space, "out_of_range",
         "inner steps"),
        ({"meta": {**META, "init_weights": "no-such-record"}}, space, "not_found", "no-such-record"),
        ({"meta": META, "maximize": True}, space, "invalid_argument", "direction"),
    ]
    for obj, sp, code, names in cases:
        body = {"name": "h", "space": sp, "objective": obj}
        if obj.pop("maximize", False):
            body["direction"] = "maximize"
        if code != "out_of_range" or names != "inner steps":
            body["max_trials"] = 4
        st, b = daemon.json("POST", "/v1/studies", body)
        assert st in (400, 404) and b["error"]["code"] == code, (obj, sp, b)
        assert names in b["error"]["message"], (names, b)
    assert daemon.json("GET", "/v1/studies")[1]["studies"] == []      # nothing was created


def reference_params(d, n, seed):
    """Trial n's parameters for the seed: a client's study of the same space
    and seed with the random sampler (which draws trial n from the seed and n
    alone, whatever the history)."""
    st, s = d.json("POST", "/v1/studies", {"name": "ref", "space": SPACE, "seed": seed, "sampler": "random",
                                           "pruner": "none", "parallel": 64})
    assert st == 201
    out = [d.json("POST", f"/v1/studies/{s['id']}/trials", {})[1]["params"] for _ in range(n)]
    assert d.json("DELETE", f"/v1/studies/{s['id']}")[0] == 200
    return out


SPACE = {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}}
RUN = {"name": "resume", "space": SPACE, "sampler": "random", "pruner": "none", "max_trials": 8, "parallel": 2,
       "seed": 21, "objective": {"task": TASK, "steps": 150}}


def test_a_killed_study_resumes_and_ends_as_an_uninterrupted_one_would(make_daemon):
    d = make_daemon().start()
    # the uninterrupted run, for comparison
    st, a = d.json("POST", "/v1/studies", RUN)
    assert st == 201, a
    wait_idle(d, a["id"])
    uninterrupted = {t["trial"]: t for t in trials_of(d, a["id"])}
    assert sorted(uninterrupted) == list(range(8))
    # the same study, killed mid-run: stopped (SIGSTOP) to read which trials
    # run at that instant from its database, then killed (SIGKILL)
    st, b = d.json("POST", "/v1/studies", RUN)
    assert st == 201
    sid = b["id"]
    while True:
        g = d.json("GET", f"/v1/studies/{sid}")[1]
        assert g["n_complete"] < 8, g                               # still mid-run
        if g["n_complete"] >= 2:
            os.kill(d.proc.pid, signal.SIGSTOP)
            with sqlite3.connect(f"file:{d.db}?mode=ro", uri=True) as db:
                running = {n for (n,) in db.execute(
                    "SELECT number FROM trials WHERE study_id = ? AND state = 'running'", (sid,))}
            if running:
                break
            os.kill(d.proc.pid, signal.SIGCONT)                      # between a tell and the next ask
        time.sleep(0.02)
    assert d.kill9() == -9
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    g = d2.json("GET", f"/v1/studies/{sid}")[1]
    assert g["run"]["state"] in ("queued", "running", "idle")
    g = wait_idle(d2, sid)
    tr = trials_of(d2, sid)
    numbers = [t["trial"] for t in tr]
    assert numbers == list(range(len(numbers)))                      # each number once, none reused
    lost = {t["trial"] for t in tr if t["state"] == "lost"}
    counted = [t for t in tr if t["state"] != "lost"]
    assert len(counted) == 8 and g["n_running"] == 0                # max_trials trials that are not lost
    assert all(t["state"] == "complete" for t in counted)
    assert lost == running                                           # exactly the trials running at the kill
    for t in tr:
        if t["trial"] in lost:
            assert len(t["intermediate"]) < 150                      # they had not finished
    # what is the same as the uninterrupted run: every trial number's
    # parameters, and the value of every number both ran to the end
    ref = reference_params(d2, len(tr), RUN["seed"])
    for t in tr:
        assert t["params"] == ref[t["trial"]], t["trial"]
        u = uninterrupted.get(t["trial"])
        if u and t["state"] == "complete":
            assert t["value"] == u["value"] and t["intermediate"] == u["intermediate"]
    # the budget is spent, and a further restart resumes nothing
    st, e = d2.json("POST", f"/v1/studies/{sid}/trials", {})
    assert st == 409 and e["error"]["code"] == "study_exhausted"
    assert d2.stop() == 0
    d3 = make_daemon(tmpdir=d.dir, db=d.db).start()
    assert d3.json("GET", f"/v1/studies/{sid}")[1]["run"]["state"] == "idle"
    assert trials_of(d3, sid) == tr


def test_delete_cancels_a_resumed_run(make_daemon):
    d = make_daemon().start()
    st, s = d.json("POST", "/v1/studies", {"name": "long", "space": SPACE, "max_trials": 10000, "parallel": 2,
                                           "pruner": "none", "objective": {"task": TASK, "steps": 100000}})
    assert st == 201
    sid = s["id"]
    while d.json("GET", f"/v1/studies/{sid}")[1]["steps_run"] < 3:
        time.sleep(0.05)
    assert d.stop() == 0                                             # SIGTERM this time
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    tr = trials_of(d2, sid)
    assert [t["state"] for t in tr[:2]] == ["lost", "lost"]          # the run's two trials died with it
    before = d2.json("GET", f"/v1/studies/{sid}")[1]["steps_run"]
    while True:                                                      # the resumed run trains new trials
        g = d2.json("GET", f"/v1/studies/{sid}")[1]
        if g["steps_run"] >= before + 3:
            break
        time.sleep(0.05)
    assert g["run"]["state"] == "running" and g["n_running"] == 2
    assert d2.json("DELETE", f"/v1/studies/{sid}") == (200, {"id": sid, "deleted": True})
    assert d2.json("GET", f"/v1/studies/{sid}")[0] == 404
    # the queue is free again: a second study runs to its end
    st, s2 = d2.json("POST", "/v1/studies", {"name": "after", "space": SPACE, "max_trials": 2, "parallel": 1,
                                             "pruner": "none", "objective": {"task": TASK, "steps": 3}})
    assert st == 201
    assert wait_idle(d2, s2["id"])["n_complete"] == 2
    # and a restart does not bring the deleted study back
    assert d2.stop() == 0
    d3 = make_daemon(tmpdir=d.dir, db=d.db).start()
    assert d3.json("GET", f"/v1/studies/{sid}")[0] == 404


def test_meta_answers_match_the_spec(daemon):
    """A meta-training study's create, GET and refusals validate against
    proto/openapi.yaml."""
    import pytest
    pytest.importorskip("jsonschema")
    from test_openapi_responses import Contract
    c = Contract()

    def call(method, path, body=None, valid=False):
        if valid and body is not None:
            c.check_request(method, path, body)
        st, h, data = daemon.request(method, path, body)
        return st, c.check(method, path, st, h, data)

    body = {"name": "contract", "space": {"sigma": {"type": "float", "low": 0.005, "high": 0.02}},
            "max_trials": 2, "parallel": 2, "pruner": "none", "objective": {"meta": META, "score": SCORE}}
    st, s = call("POST", "/v1/studies", body, valid=True)
    assert st == 201 and "run" in s
    wait_idle(daemon, s["id"])
    st, g = call("GET", f"/v1/studies/{s['id']}")
    assert st == 200 and g["n_complete"] == 2 and g["steps_run"] == 2 * META["outer_steps"]
    assert call("POST", "/v1/studies", {**body, "objective": {"meta": {**META, "name": "x"}}})[0] == 400
    assert call("POST", "/v1/studies", {**body, "objective": {"meta": {**META, "init_weights": "nope"}}})[0] == 404
