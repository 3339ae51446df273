"""Hyperparameter studies shared by a cluster of daemons through PostgreSQL
(--cluster-db): a study created on one daemon is asked on a second, told on a
third and read anywhere; asks sent at once through three daemons never run
more than `parallel` trials, never pass max_trials and never reuse a number;
a seed draws the same parameters whichever daemons ask; a session bound to a
trial on one daemon is pruned by the values reported through another; a
tenant's study is invisible to another tenant on every daemon; a trial asked
on one daemon is lost on another; a study one daemon runs is read on the
others; Idempotency-Keys are replayed by the daemon that answered only; with
PostgreSQL gone study calls answer 503 cluster_db_unavailable (reads too)
while bound sessions keep stepping, and work again once it is back.
docs/studies.md, "Studies in a cluster of daemons"."""
import json
import threading

from pg_cluster import auth, error_code, pg, wait_until  # noqa: F401 (pg: the fixture)

SPACE = {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
         "layers": {"type": "int", "low": 1, "high": 4},
         "batch": {"type": "categorical", "choices": [16, 32, 64, 128]}}


def create(d, headers=None, **spec):
    st, b = d.json("POST", "/v1/studies", {"name": "s", "space": SPACE, **spec}, headers)
    assert st == 201, b
    return b


def ask(d, sid, headers=None):
    return d.json("POST", f"/v1/studies/{sid}/trials", {}, headers)


def report(d, sid, n, step, value):
    return d.json("POST", f"/v1/studies/{sid}/trials/{n}/report", {"step": step, "value": value})


def tell(d, sid, n, headers=None, **body):
    return d.json("POST", f"/v1/studies/{sid}/trials/{n}/tell", body, headers)


def three(make_daemon, pg, *flags):
    return [make_daemon("--cluster-db", t, *flags).start() for t in (pg.uri, pg.conninfo, pg.uri)]


def test_create_on_a_ask_on_b_tell_on_c_best_anywhere(make_daemon, pg):
    a, b, c = three(make_daemon, pg)
    s = create(a, max_trials=4, parallel=2, seed=5, pruner="none")
    sid = s["id"]
    st, t0 = ask(b, sid)
    assert st == 201 and t0["trial"] == 0, t0
    st, r = report(c, sid, 0, 1, 0.7)
    assert st == 200 and r["prune"] is False
    st, told = tell(c, sid, 0, value=0.5)
    assert st == 200 and told["state"] == "complete" and told["value"] == 0.5
    st, t1 = ask(a, sid)
    assert st == 201 and t1["trial"] == 1
    assert tell(b, sid, 1, value=0.25)[0] == 200
    st, b2 = tell(a, sid, 1, value=0.1)                 # told once, on any daemon
    assert st == 409 and b2["error"]["code"] == "trial_finished"
    for d in (a, b, c):
        st, g = d.json("GET", f"/v1/studies/{sid}")
        assert st == 200 and g["best"] == {"trial": 1, "value": 0.25, "params": t1["params"]}, g
        assert g["n_trials"] == 2 and g["n_complete"] == 2 and g["steps_run"] == 1
        st, tr = d.json("GET", f"/v1/studies/{sid}/trials")
        assert st == 200 and [t["trial"] for t in tr["trials"]] == [0, 1]
        assert tr["trials"][0]["intermediate"] == [{"step": 1, "value": 0.7}]
        assert tr["trials"][0]["params"] == t0["params"]
        assert [x["id"] for x in d.json("GET", "/v1/studies")[1]["studies"]] == [sid]
    assert c.json("DELETE", f"/v1/studies/{sid}")[0] == 200
    for d in (a, b, c):
        assert error_code(d, "GET", f"/v1/studies/{sid}") == (404, "not_found")


def _asks(d, sid, n, out):
    conn = d.new_connection()
    try:
        for _ in range(n):
            conn.request("POST", f"/v1/studies/{sid}/trials", body=b"{}", headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            out.append((resp.status, json.loads(resp.read())))
    finally:
        conn.close()


def _round(daemons, sid, per_thread=4):
    """2 threads per daemon asking at once; the answers."""
    out, threads = [], []
    for d in daemons:
        for _ in range(2):
            threads.append(threading.Thread(target=_asks, args=(d, sid, per_thread, out)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert len(out) == len(threads) * per_thread
    return out


def test_concurrent_asks_on_three_daemons_hold_parallel_and_max_trials(make_daemon, pg):
    ds = three(make_daemon, pg)
    sid = create(ds[0], max_trials=5, parallel=3, seed=1, pruner="none")["id"]
    # 24 asks at once: exactly `parallel` get a trial, numbers 0, 1, 2, once each.
    out = _round(ds, sid)
    won = sorted(b["trial"] for st, b in out if st == 201)
    assert won == [0, 1, 2], won
    assert {b["error"]["code"] for st, b in out if st != 201} == {"study_parallel_limit"}
    for n in won:
        assert tell(ds[n % 3], sid, n, value=float(n))[0] == 200
    # Again: max_trials 5 leaves two.
    out = _round(ds, sid)
    won = sorted(b["trial"] for st, b in out if st == 201)
    assert won == [3, 4], won
    assert {b["error"]["code"] for st, b in out if st != 201} == {"study_exhausted"}
    trials = ds[1].json("GET", f"/v1/studies/{sid}/trials")[1]["trials"]
    assert [t["trial"] for t in trials] == [0, 1, 2, 3, 4]


def _drive(daemons, sid, n):
    """n trials asked and told in turn through `daemons` (round robin); the params."""
    got = []
    for i in range(n):
        d = daemons[i % len(daemons)]
        st, t = ask(d, sid)
        assert st == 201 and t["trial"] == i, t
        p = t["params"]
        value = (p["lr"] - 0.01) ** 2 + 0.01 * p["layers"] + p["batch"] / 1000.0
        assert tell(daemons[(i + 1) % len(daemons)], sid, i, value=value)[0] == 200
        got.append(p)
    return got


def test_the_same_seed_draws_the_same_params_through_one_or_three_daemons(make_daemon, pg):
    ds = three(make_daemon, pg)
    spec = dict(sampler="tpe", seed=11, pruner="none", max_trials=12, parallel=1,
                sampler_options={"n_startup_trials": 3, "n_ei_candidates": 8})
    one = _drive(ds[:1], create(ds[0], **spec)["id"], 8)
    rr = _drive(ds, create(ds[1], **spec)["id"], 8)
    assert one == rr
    assert len({json.dumps(p, sort_keys=True) for p in one}) == 8   # the history did steer the draws


def test_a_session_on_b_is_pruned_by_values_reported_through_c(make_daemon, pg):
    a, b, c = three(make_daemon, pg)
    space = {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}}
    sid = create(a, space=space, pruner="median", sampler="random", seed=3)["id"]
    for n in range(5):
        assert ask(c, sid)[1]["trial"] == n
        for step in (1, 2, 3):
            assert report(c, sid, n, step, 1.0 / step + 0.1 * n)[0] == 200
        assert tell(c, sid, n, value=1.0 / 3 + 0.1 * n)[0] == 200
    t = ask(a, sid)[1]
    assert t["trial"] == 5
    s = b.create(optimizer="adam", tensors=[{"shape": [2]}], trial=f"{sid}/5")
    assert s["hyperparams"]["lr"] == t["params"]["lr"]          # the trial's value, read on B
    assert b.step(s["id"], 1, [0.1, -0.1], loss=1.05)[0] == 200  # step-1 median 1.2: goes on
    assert b.step(s["id"], 2, [0.1, -0.1])[0] == 200             # no loss: nothing reported
    st, body = b.step(s["id"], 3, [0.1, -0.1], loss=5.0)         # step-3 median 0.533: pruned
    assert st == 200, body
    st, body = b.step(s["id"], 4, [0.1, -0.1], loss=0.1)
    assert st == 410 and body["error"]["code"] == "trial_pruned"
    for d in (a, c):
        tr = d.json("GET", f"/v1/studies/{sid}/trials")[1]["trials"][5]
        assert tr["state"] == "pruned"
        assert tr["intermediate"] == [{"step": 1, "value": 1.05}, {"step": 3, "value": 5.0}]
    # A second bound session on B, its trial pruned by a report through C:
    # B learns it from its next report, and refuses the step after.
    t6 = ask(c, sid)[1]
    assert t6["trial"] == 6
    s2 = b.create(optimizer="adam", tensors=[{"shape": [2]}], trial=f"{sid}/6")
    assert b.step(s2["id"], 1, [0.1, -0.1], loss=1.0)[0] == 200
    st, r = report(c, sid, 6, 2, 9.0)
    assert st == 200 and r["prune"] is True
    assert b.step(s2["id"], 2, [0.1, -0.1], loss=0.5)[0] == 200   # its report finds the trial pruned
    st, body = b.step(s2["id"], 3, [0.1, -0.1], loss=0.5)
    assert st == 410 and body["error"]["code"] == "trial_pruned"


def test_tenants_are_isolated_across_daemons(make_daemon, pg):
    a, b, c = three(make_daemon, pg)
    st, first = a.json("POST", "/v1/keys", {"tenant": "ops", "admin": True})
    assert st == 201, first
    admin = auth(first["key"])
    keys = {}
    for who in ("alice", "bob"):
        st, k = a.json("POST", "/v1/keys", {"tenant": who}, headers=admin)
        assert st == 201, k
        keys[who] = auth(k["key"])
    bogus = auth("ok_" + "0" * 16 + "_" + "0" * 48)
    for d in (b, c):   # the keys reach B and C (NOTIFY): closed (open mode takes any key), then each key
        assert wait_until(lambda d=d: d.json("GET", "/v1/studies", headers=bogus)[0] == 401, 5)
        for k in keys.values():
            assert wait_until(lambda d=d, k=k: d.json("GET", "/v1/studies", headers=k)[0] == 200, 5)
    sid = create(a, headers=keys["alice"], pruner="none")["id"]
    for d in (a, b, c):
        st, body = d.json("GET", f"/v1/studies/{sid}", headers=keys["bob"])
        assert st == 404 and body["error"]["code"] == "not_found"
        assert d.json("GET", "/v1/studies", headers=keys["bob"])[1]["studies"] == []
        assert ask(d, sid, headers=keys["bob"])[0] == 404
        assert d.json("DELETE", f"/v1/studies/{sid}", headers=keys["bob"])[0] == 404
        assert d.json("GET", f"/v1/studies/{sid}", headers=keys["alice"])[0] == 200
    st, t = ask(b, sid, headers=keys["alice"])
    assert st == 201 and t["trial"] == 0
    assert tell(c, sid, 0, headers=keys["bob"], value=1.0)[0] == 404
    # a bound session: bob cannot bind alice's trial on any daemon
    for d in (a, b, c):
        st, body = d.json("POST", "/v1/sessions", {"optimizer": "sgd", "tensors": [{"shape": [2]}],
                                                   "trial": f"{sid}/0"}, headers=keys["bob"])
        assert st == 404, body
    assert tell(c, sid, 0, headers=keys["alice"], value=1.0)[0] == 200
    # the admin sees every tenant's study, on every daemon
    for d in (a, b, c):
        assert [x["id"] for x in d.json("GET", "/v1/studies", headers=admin)[1]["studies"]] == [sid]


def test_postgres_lost_means_503_for_studies_and_steps_go_on(make_daemon, pg):
    a, b, c = three(make_daemon, pg)
    sid = create(a, pruner="none", space={"lr": {"type": "float", "low": 1e-3, "high": 1e-2}}, parallel=4)["id"]
    assert ask(b, sid)[1]["trial"] == 0
    s = c.create(optimizer="sgd", tensors=[{"shape": [2]}], trial=f"{sid}/0")
    assert c.step(s["id"], 1, [1.0, 1.0], loss=0.9)[0] == 200
    pg.kill()
    calls = [("POST", "/v1/studies", {"name": "x", "space": SPACE}), ("POST", f"/v1/studies/{sid}/trials", {}),
             ("POST", f"/v1/studies/{sid}/trials/0/report", {"step": 5, "value": 1.0}),
             ("POST", f"/v1/studies/{sid}/trials/0/tell", {"value": 1.0}),
             ("GET", f"/v1/studies/{sid}", None), ("GET", f"/v1/studies/{sid}/trials", None),
             ("GET", "/v1/studies", None), ("DELETE", f"/v1/studies/{sid}", None)]
    for d in (a, b, c):
        for method, path, body in calls:
            assert error_code(d, method, path, body) == (503, "cluster_db_unavailable"), (method, path)
        # a new bound session cannot read its trial
        st, body = d.json("POST", "/v1/sessions", {"optimizer": "sgd", "tensors": [{"shape": [2]}],
                                                   "trial": f"{sid}/0"})
        assert st == 503 and body["error"]["code"] == "cluster_db_unavailable", body
    # the bound session keeps stepping: its reports fail (logged), its steps do not
    for k in (2, 3):
        assert c.step(s["id"], k, [1.0, 1.0], loss=0.8)[0] == 200
    pg.start()
    # back: every call works again, with what was committed before (each daemon reconnects at
    # its first call at least PG_STUDIES_RETRY_MS after its last failed attempt: polled)
    for d in (a, b, c):
        assert wait_until(lambda d=d: d.json("GET", f"/v1/studies/{sid}")[0] == 200, 10)
    st, t1 = ask(a, sid)
    assert st == 201 and t1["trial"] == 1, t1
    assert c.step(s["id"], 4, [1.0, 1.0], loss=0.7)[0] == 200
    st, tr = b.json("GET", f"/v1/studies/{sid}/trials")
    assert st == 200 and [t["trial"] for t in tr["trials"]] == [0, 1]
    steps = [v["step"] for v in tr["trials"][0]["intermediate"]]
    assert steps == [1, 4], steps     # 2 and 3 were reported while PostgreSQL was down: lost with it
    assert tell(c, sid, 0, value=0.5)[0] == 200
    assert b.json("GET", f"/v1/studies/{sid}")[1]["best"]["value"] == 0.5


def test_a_trial_asked_on_a_is_lost_on_b_and_its_slot_returns(make_daemon, pg):
    a, b, c = three(make_daemon, pg, "--trial-heartbeat-timeout", "2")
    sid = create(a, parallel=1, max_trials=2, pruner="none")["id"]
    assert ask(a, sid)[1]["trial"] == 0
    st, body = ask(b, sid)
    assert st == 409 and body["error"]["code"] == "study_parallel_limit"
    # trial 0 sends no heartbeat: B marks it lost (polled, not timed) and takes its slot
    got = {}

    def slot():
        st, t = ask(b, sid)
        got.update(t)
        return st == 201

    assert wait_until(slot, 60)
    assert got["trial"] == 1
    # told at once through C (a heartbeat timeout of 2 s leaves it running until then)
    assert tell(c, sid, 1, value=0.5)[0] == 200
    for d in (a, c):
        trials = d.json("GET", f"/v1/studies/{sid}/trials")[1]["trials"]
        assert [t["state"] for t in trials] == ["lost", "complete"]
    st, body = tell(c, sid, 0, value=1.0)
    assert st == 409 and body["error"]["code"] == "trial_finished" and "lost" in body["error"]["message"]
    assert ask(a, sid)[1]["trial"] == 2      # the lost trial gave its budget back


def test_a_study_run_by_a_stores_its_trials_for_every_daemon(make_daemon, pg):
    a, b, c = three(make_daemon, pg)
    task = "mlp_regression dim=4 width=8 n_train=64"
    s = create(a, max_trials=3, parallel=1, seed=5, sampler="random", pruner="none",
               space={"lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}},
               objective={"task": task, "steps": 4, "seeds": [0]})
    sid = s["id"]

    def idle():
        st, g = a.json("GET", f"/v1/studies/{sid}")
        return st == 200 and g["run"]["state"] == "idle" and g

    g = wait_until(idle, 300)
    assert g and g["n_trials"] == 3 and g["n_complete"] == 3, g
    # B and C read the trials A ran (their "run" is their own queue's: idle)
    for d in (b, c):
        st, gd = d.json("GET", f"/v1/studies/{sid}")
        assert st == 200 and gd["best"] == g["best"] and gd["run"]["state"] == "idle"
        trials = d.json("GET", f"/v1/studies/{sid}/trials")[1]["trials"]
        assert [len(t["intermediate"]) for t in trials] == [4, 4, 4]
    st, body = ask(c, sid)
    assert st == 409 and body["error"]["code"] == "study_exhausted"


def test_idempotency_keys_are_per_daemon(make_daemon, pg):
    """docs/studies.md: a retry with the same Idempotency-Key is replayed by the daemon that
    answered it; on another daemon an ask is asked again and a tell is refused (told once)."""
    a, b, c = three(make_daemon, pg)
    sid = create(a, pruner="none", parallel=4)["id"]
    k = {"Idempotency-Key": "ask-1"}
    st1, _, b1 = a.request("POST", f"/v1/studies/{sid}/trials", {}, k)
    st2, h2, b2 = a.request("POST", f"/v1/studies/{sid}/trials", {}, k)
    assert st1 == st2 == 201 and b1 == b2 and h2.get("idempotent-replayed") == "true"
    st3, h3, b3 = b.request("POST", f"/v1/studies/{sid}/trials", {}, k)
    assert st3 == 201 and "idempotent-replayed" not in h3
    assert [json.loads(x)["trial"] for x in (b1, b3)] == [0, 1]
    tk = {"Idempotency-Key": "tell-1"}
    assert tell(a, sid, 0, headers=tk, value=0.5)[0] == 200
    st, h, body = a.request("POST", f"/v1/studies/{sid}/trials/0/tell", {"value": 0.5}, tk)
    assert st == 200 and h.get("idempotent-replayed") == "true"
    st, body = tell(c, sid, 0, headers=tk, value=0.5)
    assert st == 409 and body["error"]["code"] == "trial_finished"
    tr = c.json("GET", f"/v1/studies/{sid}/trials")[1]["trials"]
    assert tr[0]["state"] == "complete" and tr[0]["value"] == 0.5 and tr[1]["state"] == "running"
