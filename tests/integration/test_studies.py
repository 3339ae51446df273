"""Hyperparameter studies over HTTP (docs/studies.md): ask/report/tell, the
median and ASHA pruners, a lost trial after the heartbeat timeout, the
parallel and max_trials refusals, idempotent asks and tells, the same
parameters for the same seed, tenants, hostile requests, and a restart that
keeps the study."""
import json
import math
import subprocess
import time

from daemon import OPTIRSD

SPACE = {"lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": True},
         "layers": {"type": "int", "low": 1, "high": 4},
         "batch": {"type": "categorical", "choices": [16, 32, 64, 128]},
         "arch": {"type": "categorical", "choices": ["small", "medium", "large"]}}


def create(d, headers=None, **spec):
    body = {"name": "s", "space": SPACE, **spec}
    st, b = d.json("POST", "/v1/studies", body, headers)
    assert st == 201, b
    return b


def ask(d, sid, headers=None):
    return d.json("POST", f"/v1/studies/{sid}/trials", {}, headers)


def report(d, sid, n, step, value):
    return d.json("POST", f"/v1/studies/{sid}/trials/{n}/report", {"step": step, "value": value})


def tell(d, sid, n, headers=None, **body):
    return d.json("POST", f"/v1/studies/{sid}/trials/{n}/tell", body, headers)


def in_space(p):
    return (1e-5 <= p["lr"] <= 0.1 and p["layers"] in (1, 2, 3, 4) and p["batch"] in (16, 32, 64, 128)
            and p["arch"] in ("small", "medium", "large"))


def test_ask_report_tell_best_and_limits(daemon):
    s = create(daemon, max_trials=3, parallel=2, seed=7, pruner="none")
    sid = s["id"]
    assert s["sampler"] == "tpe" and s["seed"] == 7 and s["best"] is None and s["n_trials"] == 0
    st, t0 = ask(daemon, sid)
    assert st == 201 and t0["trial"] == 0 and t0["state"] == "running" and in_space(t0["params"])
    st, t1 = ask(daemon, sid)
    assert st == 201 and t1["trial"] == 1
    st, b = ask(daemon, sid)
    assert st == 409 and b["error"]["code"] == "study_parallel_limit"
    for step, v in ((1, 0.9), (2, 0.7), (3, 0.6)):
        st, b = report(daemon, sid, 0, step, v)
        assert st == 200 and b == {"trial": 0, "step": step, "prune": False}
    st, b = tell(daemon, sid, 0, value=0.55)
    assert st == 200 and b["state"] == "complete" and b["value"] == 0.55
    assert [p["step"] for p in b["intermediate"]] == [1, 2, 3]
    st, b = tell(daemon, sid, 0, value=0.1)
    assert st == 409 and b["error"]["code"] == "trial_finished" and "complete" in b["error"]["message"]
    st, b = tell(daemon, sid, 1, state="failed")
    assert st == 200 and b["state"] == "failed" and b["value"] is None
    st, t2 = ask(daemon, sid)
    assert st == 201 and t2["trial"] == 2
    st, b = ask(daemon, sid)
    assert st == 409 and b["error"]["code"] == "study_exhausted"
    assert tell(daemon, sid, 2, value=0.25)[0] == 200
    st, g = daemon.json("GET", f"/v1/studies/{sid}")
    assert st == 200 and g["best"] == {"trial": 2, "value": 0.25, "params": t2["params"]}
    assert (g["n_trials"], g["n_running"], g["n_complete"]) == (3, 0, 2)
    st, tr = daemon.json("GET", f"/v1/studies/{sid}/trials")
    assert [t["state"] for t in tr["trials"]] == ["complete", "failed", "complete"]
    st, ls = daemon.json("GET", "/v1/studies")
    assert st == 200 and [x["id"] for x in ls["studies"]] == [sid]
    st, b = daemon.json("DELETE", f"/v1/studies/{sid}")
    assert st == 200 and b == {"id": sid, "deleted": True}
    assert daemon.json("GET", f"/v1/studies/{sid}")[0] == 404
    assert daemon.json("GET", f"/v1/studies/{sid}/trials")[0] == 404


def test_median_pruner_stops_a_bad_trial(daemon):
    sid = create(daemon, pruner="median", sampler="random", seed=1)["id"]
    for n in range(5):
        assert ask(daemon, sid)[1]["trial"] == n
        for step in (1, 2, 3):
            assert report(daemon, sid, n, step, 1.0 / step + 0.1 * n)[1]["prune"] is False
        assert tell(daemon, sid, n, value=1.0 / 3 + 0.1 * n)[0] == 200
    # step 2 of the complete trials: 0.5 … 0.9, median 0.7
    assert ask(daemon, sid)[1]["trial"] == 5
    assert report(daemon, sid, 5, 2, 0.65)[1]["prune"] is False
    assert ask(daemon, sid)[1]["trial"] == 6
    st, b = report(daemon, sid, 6, 2, 0.75)
    assert st == 200 and b["prune"] is True
    st, b = report(daemon, sid, 6, 3, 0.1)
    assert st == 409 and b["error"]["code"] == "trial_finished" and "pruned" in b["error"]["message"]
    trials = daemon.json("GET", f"/v1/studies/{sid}/trials")[1]["trials"]
    assert trials[6]["state"] == "pruned" and trials[5]["state"] == "running"


def test_asha_pruner_keeps_the_top_third(daemon):
    sid = create(daemon, pruner="asha", sampler="random",
                 pruner_options={"min_resource": 1, "reduction_factor": 3})["id"]
    answers = []
    for n, v in enumerate([0.5, 0.4, 0.3, 0.9, 0.2, 0.8]):
        assert ask(daemon, sid)[1]["trial"] == n
        answers.append(report(daemon, sid, n, 1, v)[1]["prune"])
    # rung 0: each against those before it; it goes on when in the top 1/3 (at least the best)
    assert answers == [False, False, False, True, False, True]


def test_lost_trial_frees_its_slot(make_daemon):
    d = make_daemon("--trial-heartbeat-timeout", "0.3").start()
    sid = create(d, parallel=1, max_trials=2)["id"]
    assert ask(d, sid)[1]["trial"] == 0
    st, b = ask(d, sid)
    assert st == 409 and b["error"]["code"] == "study_parallel_limit"
    deadline = time.monotonic() + 30
    while True:   # poll: trial 0 sends no heartbeat, so it becomes lost
        st, t = ask(d, sid)
        if st == 201:
            break
        assert t["error"]["code"] == "study_parallel_limit" and time.monotonic() < deadline
        time.sleep(0.05)
    assert t["trial"] == 1
    trials = d.json("GET", f"/v1/studies/{sid}/trials")[1]["trials"]
    assert trials[0]["state"] == "lost" and trials[0]["finished_ms"] is not None
    st, b = tell(d, sid, 0, value=1.0)
    assert st == 409 and b["error"]["code"] == "trial_finished" and "lost" in b["error"]["message"]
    st, b = report(d, sid, 0, 1, 1.0)
    assert st == 409 and b["error"]["code"] == "trial_finished"
    # the lost trial gave its budget back: max_trials 2 allows one more after trial 1
    assert tell(d, sid, 1, value=0.5)[0] == 200
    assert ask(d, sid)[1]["trial"] == 2


def test_idempotent_ask_and_tell(daemon):
    sid = create(daemon, parallel=4)["id"]
    k = {"Idempotency-Key": "ask-1"}
    st1, h1, b1 = daemon.request("POST", f"/v1/studies/{sid}/trials", {}, k)
    st2, h2, b2 = daemon.request("POST", f"/v1/studies/{sid}/trials", {}, k)
    assert st1 == st2 == 201 and b1 == b2 and h2.get("idempotent-replayed") == "true"
    assert json.loads(b1)["trial"] == 0
    assert ask(daemon, sid)[1]["trial"] == 1    # the replay asked no second trial
    st, b = daemon.json("POST", f"/v1/studies/{sid}/trials", {"x": 1}, k)
    assert st == 422 and b["error"]["code"] == "idempotency_key_reused"
    tk = {"Idempotency-Key": "tell-1"}
    st1, b1 = tell(daemon, sid, 0, tk, value=0.5)
    st2, b2 = tell(daemon, sid, 0, tk, value=0.5)
    assert st1 == st2 == 200 and b1 == b2
    st, b = tell(daemon, sid, 0, tk, value=0.4)
    assert st == 422 and b["error"]["code"] == "idempotency_key_reused"
    # the same key on another trial is another request
    st, b = tell(daemon, sid, 1, tk, value=0.5)
    assert st == 200 and b["trial"] == 1


def test_same_seed_same_params_over_http(daemon):
    a = create(daemon, seed=123, sampler="tpe")["id"]
    b = create(daemon, seed=123, sampler="tpe")["id"]
    c = create(daemon, seed=124, sampler="tpe")["id"]
    differ = 0
    for n in range(13):   # past TPE's 10 startup trials
        pa, pb, pc = (ask(daemon, x)[1]["params"] for x in (a, b, c))
        assert pa == pb
        differ += pa != pc
        v = abs(math.log10(pa["lr"]) + 3) + 0.1 * pa["layers"]
        for x in (a, b, c):
            assert tell(daemon, x, n, value=v)[0] == 200
    assert differ >= 12


def test_gp_sampler_over_http(daemon):
    """The GP: floats and ints only; past its startup trials it closes in on
    the optimum, the same for the same seed."""
    space = {"lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": True},
             "width": {"type": "int", "low": 8, "high": 64, "step": 8}}
    opts = {"n_startup_trials": 5}
    a, b = (create(daemon, space=space, seed=5, sampler="gp", sampler_options=opts)["id"] for _ in range(2))
    assert daemon.json("GET", f"/v1/studies/{a}")[1]["sampler"] == "gp"
    near = 0
    for n in range(15):
        pa, pb = (ask(daemon, x)[1]["params"] for x in (a, b))
        assert pa == pb and 1e-5 <= pa["lr"] <= 0.1 and pa["width"] in range(8, 65, 8)
        v = (math.log10(pa["lr"]) + 3) ** 2 + ((pa["width"] - 40) / 8) ** 2
        near += n >= 10 and v < 0.5
        for x in (a, b):
            assert tell(daemon, x, n, value=v)[0] == 200
    assert near >= 3
    st, b = daemon.json("POST", "/v1/studies", {"name": "g", "space": SPACE, "sampler": "gp"})
    assert st == 400 and b["error"]["code"] == "invalid_argument" and "batch is categorical" in b["error"]["message"]


def test_hostile_requests_are_refused(daemon):
    bad = [
        ({"space": SPACE}, 400, "missing_field"),
        ({"name": "", "space": SPACE}, 400, "invalid_argument"),
        ({"name": "x" * 129, "space": SPACE}, 400, "invalid_argument"),
        ({"name": "a\u0007", "space": SPACE}, 400, "invalid_argument"),
        ({"name": "a", "space": SPACE, "sampler": "gp"}, 400, "invalid_argument"),
        ({"name": "a", "space": SPACE, "parallel": 0}, 400, "out_of_range"),
        ({"name": "a", "space": SPACE, "max_trials": 10**9}, 400, "out_of_range"),
        ({"name": "a", "space": {}}, 400, "invalid_argument"),
        ({"name": "a", "space": {f"p{i}": {"type": "float", "low": 0, "high": 1} for i in range(65)}},
         400, "out_of_range"),
        ({"name": "a", "space": {"x": {"type": "categorical", "choices": list(range(257))}}}, 400, "out_of_range"),
        ({"name": "a", "space": {"x": {"type": "categorical", "choices": ["a" * 257]}}}, 400, "out_of_range"),
        ({"name": "a", "space": {"x" * 65: {"type": "float", "low": 0, "high": 1}}}, 400, "invalid_argument"),
        ({"name": "a", "space": {"x": {"type": "float", "low": 0, "high": 1, "log": True}}}, 400,
         "invalid_argument"),
        ({"name": "a", "space": {"x": {"type": "int", "low": 0, "high": 5, "step": 2}}}, 400, "invalid_argument"),
        ({"name": "a", "space": SPACE, "extra": 1}, 400, "unknown_field"),
        ([1, 2], 400, "invalid_argument"),
    ]
    for body, status, code in bad:
        st, b = daemon.json("POST", "/v1/studies", body)
        assert (st, b["error"]["code"]) == (status, code), (body, b)
    for raw, code in ((b'{"name": "a", "space": {"x": {"type": "float", "low": 0, "high": 1e999}}}', "non_finite"),
                      (b'{"name": "a", "name": "b", "space": {}}', "invalid_json"),
                      (b'{"name": "\xff", "space": {}}', "invalid_utf8"),
                      (b'{"name": NaN}', "invalid_json")):
        st, h, data = daemon.request("POST", "/v1/studies", raw, {"Content-Type": "application/json"})
        assert json.loads(data)["error"]["code"] == code, (raw, data)
    assert daemon.json("GET", "/v1/studies")[1]["studies"] == []
    sid = create(daemon)["id"]
    assert ask(daemon, sid)[0] == 201
    for body, code in (({"step": 1}, "missing_field"), ({"value": 1}, "missing_field"),
                       ({"step": -1, "value": 1}, "out_of_range"), ({"step": 1.5, "value": 1}, "invalid_argument"),
                       ({"step": 1, "value": "x"}, "invalid_argument"), ({"step": 1, "value": 1, "z": 0},
                                                                         "unknown_field")):
        st, b = daemon.json("POST", f"/v1/studies/{sid}/trials/0/report", body)
        assert b["error"]["code"] == code, (body, b)
    st, h, data = daemon.request("POST", f"/v1/studies/{sid}/trials/0/report", b'{"step": 1, "value": 1e999}',
                                 {"Content-Type": "application/json"})
    assert st == 422 and json.loads(data)["error"]["code"] == "non_finite"
    for body, code in (({"state": "lost"}, "invalid_argument"), ({}, "missing_field"),
                       ({"state": "failed", "value": 1}, "invalid_argument")):
        st, b = tell(daemon, sid, 0, **body)
        assert b["error"]["code"] == code, (body, b)
    for path in (f"/v1/studies/{sid}/trials/99/tell", f"/v1/studies/{sid}/trials/x/tell",
                 f"/v1/studies/{sid}/trials/99999999999999999999/tell", "/v1/studies/nope/trials/0/tell",
                 "/v1/studies/a%2Fb/trials/0/tell"):
        st, b = daemon.json("POST", path, {"value": 1})
        assert st in (400, 404), (path, st, b)
    assert ask(daemon, "st-000")[0] == 404
    st, h, data = daemon.request("POST", f"/v1/studies/{sid}/trials", b"", {"Content-Type": "text/plain"})
    assert st == 415


def keys_cli(db, *args):
    r = subprocess.run([OPTIRSD, "keys", *args, "--db", db], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().strip()


def test_tenants_see_only_their_studies(make_daemon):
    d = make_daemon()
    admin = keys_cli(d.db, "create", "--tenant", "ops", "--admin")
    ka = keys_cli(d.db, "create", "--tenant", "a")
    kb = keys_cli(d.db, "create", "--tenant", "b")
    d.start()
    A, B, ADM = ({"Authorization": f"Bearer {k}"} for k in (ka, kb, admin))
    sid = create(d, A)["id"]
    assert d.json("GET", f"/v1/studies/{sid}", headers=B)[0] == 404
    assert ask(d, sid, B)[0] == 404
    assert d.json("DELETE", f"/v1/studies/{sid}", headers=B)[0] == 404
    assert d.json("GET", "/v1/studies", headers=B)[1]["studies"] == []
    assert ask(d, sid, A)[0] == 201
    assert d.json("GET", f"/v1/studies/{sid}", headers=ADM)[0] == 200
    assert [s["id"] for s in d.json("GET", "/v1/studies", headers=ADM)[1]["studies"]] == [sid]
    assert d.json("GET", "/v1/studies")[0] == 401


def test_restart_keeps_the_study(make_daemon):
    d = make_daemon().start()
    sid = create(d, seed=5, max_trials=20)["id"]
    asked = []
    for n in range(12):
        t = ask(d, sid)[1]
        asked.append(t["params"])
        assert tell(d, sid, n, value=abs(math.log10(t["params"]["lr"]) + 2))[0] == 200
    assert ask(d, sid)[1]["trial"] == 12
    assert report(d, sid, 12, 1, 0.5)[0] == 200
    before = d.json("GET", f"/v1/studies/{sid}")[1]
    assert d.kill9() in (-9, 137)
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    after = d2.json("GET", f"/v1/studies/{sid}")[1]
    assert after == before
    tr = d2.json("GET", f"/v1/studies/{sid}/trials")[1]["trials"]
    assert [t["params"] for t in tr[:12]] == asked and tr[12]["intermediate"] == [{"step": 1, "value": 0.5}]
    assert tell(d2, sid, 12, value=0.3)[0] == 200
    assert ask(d2, sid)[1]["trial"] == 13


def test_answers_match_the_spec(daemon):
    """Every study route's answers, successes and refusals, validate against
    proto/openapi.yaml (test_openapi_responses.Contract)."""
    import pytest
    pytest.importorskip("jsonschema")
    from test_openapi_responses import Contract
    c = Contract()

    def call(method, path, body=None, headers=None, valid=False):
        if valid and body is not None:
            c.check_request(method, path, body)
        st, h, data = daemon.request(method, path, body, headers)
        return st, c.check(method, path, st, h, data)

    body = {"name": "contract", "space": SPACE, "pruner": "median", "max_trials": 2, "parallel": 1}
    st, s = call("POST", "/v1/studies", body, valid=True)
    assert st == 201
    sid = s["id"]
    assert call("POST", "/v1/studies", {"name": "x"})[0] == 400
    assert call("POST", f"/v1/studies/{sid}/trials", {}, {"Idempotency-Key": "c1"}, valid=True)[0] == 201
    assert call("POST", f"/v1/studies/{sid}/trials", {}, {"Idempotency-Key": "c1"})[0] == 201
    assert call("POST", f"/v1/studies/{sid}/trials", {})[0] == 409
    assert call("POST", f"/v1/studies/{sid}/trials/0/report", {"step": 1, "value": 0.5}, valid=True)[0] == 200
    assert call("POST", f"/v1/studies/{sid}/trials/0/report", {"step": 1})[0] == 400
    assert call("POST", f"/v1/studies/{sid}/trials/0/tell", {"value": 0.5}, valid=True)[0] == 200
    assert call("POST", f"/v1/studies/{sid}/trials/0/tell", {"value": 0.5})[0] == 409
    assert call("POST", f"/v1/studies/{sid}/trials/0/report", {"step": 2, "value": 0.5})[0] == 409
    assert call("POST", f"/v1/studies/{sid}/trials/7/tell", {"state": "failed"})[0] == 404
    assert call("POST", f"/v1/studies/{sid}/trials", {})[0] == 201
    assert call("POST", f"/v1/studies/{sid}/trials/1/tell", {"state": "failed"}, valid=True)[0] == 200
    assert call("POST", f"/v1/studies/{sid}/trials", {})[0] == 409
    assert call("GET", f"/v1/studies/{sid}")[0] == 200
    assert call("GET", f"/v1/studies/{sid}/trials")[0] == 200
    assert call("GET", "/v1/studies")[0] == 200
    assert call("DELETE", f"/v1/studies/{sid}")[0] == 200
    assert call("GET", f"/v1/studies/{sid}")[0] == 404
    assert call("DELETE", f"/v1/studies/{sid}")[0] == 404


def test_cli_studies_ls_and_show(daemon):
    """`optirs studies ls|show` (clients/c/optirs_cli.c)."""
    import test_cli
    subprocess.run(["make", "-s", "-f", "clients/c/client.mk", "BUILD=" + test_cli.BUILD, test_cli.OPTIRS],
                   cwd=test_cli.ROOT, check=True)
    sid = create(daemon, seed=2, pruner="none", name="cli-study")["id"]
    assert ask(daemon, sid)[0] == 201
    assert report(daemon, sid, 0, 1, 0.75)[0] == 200
    assert tell(daemon, sid, 0, value=0.5)[0] == 200
    assert ask(daemon, sid)[0] == 201
    rc, out, err = test_cli.cli(daemon, "studies", "ls")
    assert rc == 0, err
    rows = test_cli.table(out)
    assert rows[0] == ["ID", "NAME", "DIRECTION", "SAMPLER", "PRUNER", "TRIALS", "RUNNING", "COMPLETE", "CREATED"]
    assert rows[1][:8] == [sid, "cli-study", "minimize", "tpe", "none", "2", "1", "1"]
    rc, out, err = test_cli.cli(daemon, "studies", "show", sid)
    assert rc == 0, err
    assert "best: trial 0, value 0.5" in out
    lines = out.splitlines()
    head = [i for i, l in enumerate(lines) if l.split()[:3] == ["TRIAL", "STATE", "VALUE"]][0]
    assert lines[head + 1].split()[:4] == ["0", "complete", "0.5", "0.75"]
    assert lines[head + 2].split()[:4] == ["1", "running", "-", "-"]
    rc, out, err = test_cli.cli(daemon, "--json", "studies", "show", sid)
    assert rc == 0 and json.loads(out)["id"] == sid and len(json.loads(out)["trials"]) == 2
    rc, out, err = test_cli.cli(daemon, "studies", "show", "st-nope")
    assert rc == 1 and "not_found (404)" in err
    rc, out, err = test_cli.cli(daemon, "studies", "rm", sid)
    assert rc == 2


def test_session_bound_to_a_trial(daemon):
    """POST /v1/sessions {"trial": "STUDY/N"}: hyperparameters from the trial,
    step losses as its intermediate values, 410 trial_pruned once pruned."""
    space = {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
             "batch": {"type": "categorical", "choices": [16, 32]}}
    sid = create(daemon, space=space, pruner="median", sampler="random", seed=3)["id"]
    for n in range(5):
        assert ask(daemon, sid)[1]["trial"] == n
        for step in (1, 2, 3):
            assert report(daemon, sid, n, step, 1.0 / step + 0.1 * n)[0] == 200
        assert tell(daemon, sid, n, value=1.0 / 3 + 0.1 * n)[0] == 200
    t = ask(daemon, sid)[1]
    assert t["trial"] == 5
    s = daemon.create(optimizer="adam", tensors=[{"shape": [2]}], trial=f"{sid}/5", hyperparams={"lr": 0.5})
    assert s["trial"] == f"{sid}/5"
    assert s["hyperparams"]["lr"] == t["params"]["lr"]       # the trial's value wins
    st, b = daemon.step(s["id"], 1, [0.1, -0.1], loss=1.05)   # step-1 median 1.2: goes on
    assert st == 200, b
    st, b = daemon.step(s["id"], 2, [0.1, -0.1])              # no loss: nothing reported
    assert st == 200
    st, b = daemon.step(s["id"], 3, [0.1, -0.1], loss=5.0)    # step-3 median 0.533: pruned
    assert st == 200, b                                       # this step is applied and answered
    st, b = daemon.step(s["id"], 4, [0.1, -0.1], loss=0.1)
    assert st == 410 and b["error"]["code"] == "trial_pruned"
    tr = daemon.json("GET", f"/v1/studies/{sid}/trials")[1]["trials"][5]
    assert tr["state"] == "pruned" and tr["intermediate"] == [{"step": 1, "value": 1.05}, {"step": 3, "value": 5.0}]
    # the binding is checked when the session is made
    for ref, status, code in (("nope/0", 404, "not_found"), (f"{sid}/99", 404, "not_found"),
                              (f"{sid}/0", 409, "trial_finished"), (f"{sid}/5", 409, "trial_finished"),
                              ("no-slash", 400, "invalid_argument"), (f"{sid}/-1", 400, "invalid_argument")):
        st, b = daemon.json("POST", "/v1/sessions", {"optimizer": "adam", "tensors": [{"shape": [2]}], "trial": ref})
        assert (st, b["error"]["code"]) == (status, code), (ref, b)
    # a trial whose value is outside the optimizer's range is refused
    sid2 = create(daemon, space={"lr": {"type": "float", "low": 20, "high": 30}}, pruner="none")["id"]
    assert ask(daemon, sid2)[0] == 201
    st, b = daemon.json("POST", "/v1/sessions", {"optimizer": "adam", "tensors": [{"shape": [2]}],
                                                 "trial": f"{sid2}/0"})
    assert st == 400 and b["error"]["code"] == "out_of_range", b


def test_restart_keeps_a_sessions_binding(make_daemon):
    d = make_daemon().start()
    sid = create(d, pruner="none", space={"lr": {"type": "float", "low": 1e-3, "high": 1e-2}})["id"]
    assert ask(d, sid)[0] == 201
    s = d.create(optimizer="sgd", tensors=[{"shape": [2]}], trial=f"{sid}/0", durability="step")
    assert d.step(s["id"], 1, [1.0, 1.0], loss=0.9)[0] == 200
    assert d.stop() == 0
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    st, g = d2.json("GET", f"/v1/sessions/{s['id']}")
    assert st == 200 and g["trial"] == f"{sid}/0" and g["hyperparams"]["lr"] == s["hyperparams"]["lr"]
    assert d2.step(s["id"], 2, [1.0, 1.0], loss=0.8)[0] == 200
    tr = d2.json("GET", f"/v1/studies/{sid}/trials")[1]["trials"][0]
    assert tr["intermediate"] == [{"step": 1, "value": 0.9}, {"step": 2, "value": 0.8}]
