"""Conditional parameters and the multivariate TPE over HTTP
(docs/studies.md#conditional-parameters): a conditional study asks only the
active parameters (random, TPE and multivariate TPE, past the startup
trials) and GET shows the conditions; hostile `when` specs are refused with
400 naming the parameter and create nothing; a session bound to a trial
takes only its active parameters; a daemon-run study trains with them; a
multivariate study is the same for the same seed and survives a restart."""
import math
import time

SPACE = {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
         "optimizer": {"type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
         "momentum": {"type": "float", "low": 0, "high": 0.99, "when": {"optimizer": ["sgd"]}},
         "beta2": {"type": "float", "low": 0.9, "high": 0.9999, "when": {"optimizer": ["rmsprop", "adam"]}},
         "nesterov": {"type": "categorical", "choices": [True, False], "when": {"optimizer": ["sgd"]}},
         "dampening": {"type": "float", "low": 0, "high": 0.5, "when": {"nesterov": [False]}}}


def active(p):
    names = {"lr", "optimizer"}
    if p["optimizer"] == "sgd":
        names |= {"momentum", "nesterov"}
        if p["nesterov"] is False:
            names.add("dampening")
    else:
        names.add("beta2")
    return names


def objective(p):
    v = (math.log10(p["lr"]) + 2) ** 2
    if p["optimizer"] == "sgd":
        v += (p["momentum"] - 0.9) ** 2 + (0.5 if p["nesterov"] else p["dampening"])
    else:
        v += 0.3 + (p["beta2"] - 0.99) ** 2
    return v


def run(d, sid, n, first=0):
    asked = []
    for k in range(first, first + n):
        st, t = d.json("POST", f"/v1/studies/{sid}/trials", {})
        assert st == 201 and t["trial"] == k, t
        p = t["params"]
        assert set(p) == active(p), p
        assert 1e-4 <= p["lr"] <= 1e-1 and p["optimizer"] in ("sgd", "adam", "rmsprop")
        asked.append(p)
        st, b = d.json("POST", f"/v1/studies/{sid}/trials/{k}/tell", {"value": objective(p)})
        assert st == 200 and b["params"] == p, b
    return asked


def test_conditional_study_asks_only_active_parameters(daemon):
    for sampler, opts in (("random", None), ("tpe", None), ("tpe", {"multivariate": True})):
        body = {"name": "cond", "space": SPACE, "sampler": sampler, "seed": 4, "pruner": "none"}
        if opts:
            body["sampler_options"] = opts
        st, s = daemon.json("POST", "/v1/studies", body)
        assert st == 201, s
        # the space as stored: conditions kept, choices in the parent's order
        assert s["space"]["beta2"]["when"] == {"optimizer": ["adam", "rmsprop"]}
        assert s["space"]["dampening"]["when"] == {"nesterov": [False]}
        assert "when" not in s["space"]["lr"]
        assert s["sampler_options"]["multivariate"] is bool(opts)
        asked = run(daemon, s["id"], 30)   # 10 startup trials, then the sampler's own
        kinds = {p["optimizer"] for p in asked}
        assert "sgd" in kinds and kinds & {"adam", "rmsprop"}
        st, g = daemon.json("GET", f"/v1/studies/{s['id']}")
        assert st == 200 and g["space"] == s["space"] and set(g["best"]["params"]) == active(g["best"]["params"])
        tr = daemon.json("GET", f"/v1/studies/{s['id']}/trials")[1]["trials"]
        assert [t["params"] for t in tr] == asked
        if sampler == "tpe":
            # TPE learns the cheaper branch (sgd with nesterov false and small dampening is best)
            late = sum(objective(p) for p in asked[20:]) / 10
            early = sum(objective(p) for p in asked[:10]) / 10
            assert late < early, (late, early)


def test_hostile_conditions_are_refused(daemon):
    f = {"type": "float", "low": 0, "high": 1}
    c = {"type": "categorical", "choices": ["a", "b"]}
    bad = [
        ({"x": {**f, "when": {"nope": ["a"]}}}, "x"),                        # unknown parent
        ({"x": {**f, "when": {"y": [0.5]}}, "y": f}, "x"),                    # parent not a categorical
        ({"c": {**c, "when": {"c": ["a"]}}}, "c"),                            # itself
        ({"x": {**f, "when": {"c": ["z"]}}, "c": c}, "x"),                    # not one of its choices
        ({"x": {**f, "when": {"c": ["a", "a"]}}, "c": c}, "x"),               # twice
        ({"x": {**f, "when": {"c": []}}, "c": c}, "x"),                       # none
        ({"x": {**f, "when": {"c": "a"}}, "c": c}, "x"),                      # not an array
        ({"x": {**f, "when": {"c": ["a"], "d": ["a"]}}, "c": c, "d": c}, "x"),   # two parents
        ({"x": {**f, "when": ["c"]}, "c": c}, "x"),                           # not an object
        ({"x": {**f, "when": None}, "c": c}, "x"),
        ({"c": {**c, "when": {"d": ["a"]}}, "d": {**c, "when": {"c": ["b"]}}}, "cycle"),
        ({"c": {**c, "when": {"d": ["a"]}}, "d": {**c, "when": {"e": ["a"]}}, "e": {**c, "when": {"c": ["a"]}}},
         "cycle"),
        ({**{f"c{i}": {**c, "when": {f"c{i - 1}": ["a"]}} for i in range(1, 10)}, "c0": c}, "chain"),   # 9 deep
    ]
    for space, word in bad:
        st, b = daemon.json("POST", "/v1/studies", {"name": "bad", "space": space})
        assert st == 400 and b["error"]["code"] == "invalid_argument" and word in b["error"]["message"], (space, b)
    for body, word in (({"sampler": "gp", "space": {"x": {**f, "when": {"c": ["a"]}}, "c": c}}, "gp"),
                       ({"sampler": "random", "sampler_options": {"multivariate": True}, "space": {"x": f}},
                        "multivariate"),
                       ({"sampler_options": {"multivariate": "yes"}, "space": {"x": f}}, "multivariate")):
        st, b = daemon.json("POST", "/v1/studies", {"name": "bad", **body})
        assert st == 400 and b["error"]["code"] == "invalid_argument" and word in b["error"]["message"], (body, b)
    # 8 deep is fine
    space = {**{f"c{i}": {**c, "when": {f"c{i - 1}": ["a"]}} for i in range(1, 9)}, "c0": c}
    st, s = daemon.json("POST", "/v1/studies", {"name": "deep", "space": space, "sampler": "random", "seed": 1})
    assert st == 201, s
    for _ in range(8):
        p = daemon.json("POST", f"/v1/studies/{s['id']}/trials", {})[1]["params"]
        depth = 0
        while f"c{depth + 1}" in p:
            depth += 1
        assert all(p[f"c{i}"] == "a" for i in range(depth)) and len(p) == depth + 1, p
    assert [x["name"] for x in daemon.json("GET", "/v1/studies")[1]["studies"]] == ["deep"]


def test_bound_session_takes_only_active_parameters(daemon):
    space = {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
             "decay": {"type": "categorical", "choices": ["none", "l2"]},
             "weight_decay": {"type": "float", "low": 0.01, "high": 0.1, "when": {"decay": ["l2"]}}}
    st, s = daemon.json("POST", "/v1/studies", {"name": "bind", "space": space, "sampler": "random", "seed": 2,
                                                "pruner": "none"})
    assert st == 201, s
    seen = set()
    for n in range(12):
        t = daemon.json("POST", f"/v1/studies/{s['id']}/trials", {})[1]
        p = t["params"]
        sess = daemon.create(optimizer="adamw", tensors=[{"shape": [2]}], trial=f"{s['id']}/{n}",
                             hyperparams={"weight_decay": 0.5})
        assert sess["hyperparams"]["lr"] == p["lr"]
        if p["decay"] == "l2":
            assert sess["hyperparams"]["weight_decay"] == p["weight_decay"]
        else:
            assert "weight_decay" not in p and sess["hyperparams"]["weight_decay"] == 0.5   # the request's own
        seen.add(p["decay"])
        assert daemon.json("POST", f"/v1/studies/{s['id']}/trials/{n}/tell", {"value": 1.0})[0] == 200
    assert seen == {"none", "l2"}


def test_daemon_run_study_with_a_condition(daemon):
    space = {"lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
             "architecture": {"type": "categorical", "choices": ["small", "large"]},
             "weight_decay": {"type": "float", "low": 0, "high": 0.01, "when": {"architecture": ["large"]}}}
    st, s = daemon.json("POST", "/v1/studies", {
        "name": "job", "space": space, "sampler": "tpe", "sampler_options": {"multivariate": True},
        "pruner": "none", "max_trials": 14, "parallel": 2, "seed": 1,
        "objective": {"task": "mlp_regression dim=4 width=8 n_train=64", "steps": 3, "optimizer": "adamw"}})
    assert st == 201, s
    end = time.monotonic() + 300   # a guard against a hang only
    while daemon.json("GET", f"/v1/studies/{s['id']}")[1]["run"]["state"] != "idle" and time.monotonic() < end:
        time.sleep(0.1)
    trials = daemon.json("GET", f"/v1/studies/{s['id']}/trials")[1]["trials"]
    assert len(trials) == 14 and all(t["state"] == "complete" for t in trials), trials
    for t in trials:
        p = t["params"]
        assert ("weight_decay" in p) == (p["architecture"] == "large"), p
        assert len(t["intermediate"]) == 3


def test_multivariate_same_seed_and_restart(make_daemon):
    body = {"name": "mv", "space": SPACE, "sampler": "tpe", "sampler_options": {"multivariate": True}, "seed": 9,
            "pruner": "none"}
    d = make_daemon().start()
    a = d.json("POST", "/v1/studies", body)[1]["id"]
    b = d.json("POST", "/v1/studies", body)[1]["id"]
    other = d.json("POST", "/v1/studies", {**body, "seed": 10})[1]["id"]
    pa, pb, po = run(d, a, 14), run(d, b, 14), run(d, other, 14)
    assert pa == pb and pa != po
    before = d.json("GET", f"/v1/studies/{a}")[1]
    assert d.kill9() in (-9, 137)
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    assert d2.json("GET", f"/v1/studies/{a}")[1] == before
    # both studies carry on alike after the restart: the stored request and history decide
    assert run(d2, a, 6, first=14) == run(d2, b, 6, first=14)


def test_conditional_answers_match_the_spec(daemon):
    """A conditional, multivariate study's request and answers validate
    against proto/openapi.yaml (test_openapi_responses.Contract)."""
    import pytest
    pytest.importorskip("jsonschema")
    from test_openapi_responses import Contract
    c = Contract()
    body = {"name": "contract", "space": SPACE, "sampler_options": {"multivariate": True}}
    c.check_request("POST", "/v1/studies", body)
    st, h, data = daemon.request("POST", "/v1/studies", body)
    assert st == 201
    sid = c.check("POST", "/v1/studies", st, h, data)["id"]
    st, h, data = daemon.request("POST", f"/v1/studies/{sid}/trials", {})
    c.check("POST", f"/v1/studies/{sid}/trials", st, h, data)
    st, h, data = daemon.request("GET", f"/v1/studies/{sid}")
    assert c.check("GET", f"/v1/studies/{sid}", st, h, data)["space"]["momentum"]["when"] == {"optimizer": ["sgd"]}
    st, h, data = daemon.request("POST", "/v1/studies", {"name": "x", "space": {"x": {"type": "float", "low": 0,
                                                                                     "high": 1, "when": {"y": [1]}}}})
    assert st == 400
    c.check("POST", "/v1/studies", st, h, data)
