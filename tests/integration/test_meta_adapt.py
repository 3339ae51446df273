"""Few-shot specialisation of a learned optimizer (issue 19, part 2):
POST /v1/meta/jobs with "method": "adapt" runs a short PES job warm-started
from a base record on a new family's tasks and stores a new domain record;
and the Reptile-over-families meta-training keys (maml_inner_steps,
maml_step) over HTTP.  docs/meta-learning.md#few-shot-specialisation."""
from test_meta_jobs import wait_status

ADAPT = {"method": "adapt", "base": "mlp_lopt", "tasks": ["deep_mlp depth=2 width=8 batch=8"],
         "outer_steps": 2, "name": "mlp_lopt-deep", "seed": 3}


def run_done(d, body, timeout=120):
    st, job = d.json("POST", "/v1/meta/jobs", body)
    assert st == 202, job
    job = wait_status(d, job["id"], ("done", "failed"), timeout=timeout)
    assert job["status"] == "done", job
    return job


def test_adapt_job_stores_a_domain_record(daemon):
    job = run_done(daemon, ADAPT)
    cfg = job["config"]
    # the thin spec: an ordinary warm-started meta-training job with the adapt recipe
    assert cfg["init_weights"] == "mlp_lopt" and cfg["optimizer"] == "mlp_lopt"
    assert cfg["tasks"] == ["deep_mlp depth=2 width=8 batch=8"] and cfg["outer_steps"] == 2
    assert cfg["estimator"] == "pes" and cfg["particles"] == 16 and cfg["seed"] == 3
    assert cfg["domain"] == "tabular"
    assert job["step"] == 2 and job["weights"] == "mlp_lopt-deep@1"
    assert [p["step"] for p in job["curve"]] == [1, 2]

    st, rec = daemon.json("GET", "/v1/weights/mlp_lopt-deep")
    assert st == 200, rec
    st, base = daemon.json("GET", "/v1/weights/mlp_lopt")
    assert st == 200, base
    assert rec["domain"] == "tabular" and rec["architecture"] == base["architecture"]
    assert rec["provenance"]["job_id"] == job["id"]
    assert rec["provenance"]["config"]["init_weights"] == "mlp_lopt"
    # warm-started and moved: same shape as the base, other values
    st, _, a = daemon.request("GET", "/v1/weights/mlp_lopt-deep/blob")
    assert st == 200
    st, _, b = daemon.request("GET", "/v1/weights/mlp_lopt/blob")
    assert st == 200 and len(a) == len(b) and a != b

    # a session uses the adapted record like any other
    st, s = daemon.json("POST", "/v1/sessions", {"optimizer": "mlp_lopt", "weights": "mlp_lopt-deep",
                                                 "tensors": [{"name": "w", "shape": [4]}]})
    assert st == 201, s
    st, ans = daemon.step(s["id"], 1, [0.1, -0.2, 0.3, 0.0])
    assert st == 200, ans

    # the default budget, and a task string instead of a list
    body = dict(ADAPT, name="mlp_lopt-deep2", tasks="deep_mlp depth=2 width=8 batch=8")
    del body["outer_steps"]
    st, job = daemon.json("POST", "/v1/meta/jobs", body)
    assert st == 202 and job["outer_steps"] == 30 and job["config"]["tasks"] == [body["tasks"]], job
    assert daemon.json("DELETE", f"/v1/meta/jobs/{job['id']}")[0] == 200


def test_adapt_takes_the_base_architecture(daemon):
    # another optimizer's record: the job runs that optimizer at the record's size
    job = run_done(daemon, dict(ADAPT, base="lstm_lopt", name="lstm-deep", outer_steps=1))
    st, base = daemon.json("GET", "/v1/weights/lstm_lopt")
    assert st == 200, base
    assert job["config"]["optimizer"] == "lstm_lopt" and job["config"]["hidden"] == base["architecture"]["hidden"]
    st, rec = daemon.json("GET", "/v1/weights/lstm-deep")
    assert st == 200 and rec["optimizer"] == "lstm_lopt" and rec["architecture"] == base["architecture"], rec


def test_adapt_hostile_requests(daemon):
    cases = [
        (dict(ADAPT, base="no_such_record"), "invalid_argument"),
        (dict(ADAPT, base=7), "invalid_argument"),
        (dict(ADAPT, outer_steps=51), "out_of_range"),
        (dict(ADAPT, outer_steps=0), "out_of_range"),
        (dict(ADAPT, outer_steps=2.5), "out_of_range"),
        (dict(ADAPT, outer_steps="2"), "invalid_argument"),
        (dict(ADAPT, tasks=["no_such_family"]), "invalid_argument"),
        (dict(ADAPT, tasks=["deep_mlp depth=99"]), "out_of_range"),
        (dict(ADAPT, tasks=[]), "invalid_argument"),
        (dict(ADAPT, tasks=[3]), "invalid_argument"),
        (dict(ADAPT, name="mlp_lopt"), "invalid_argument"),
        (dict(ADAPT, name="lstm_lopt"), "invalid_argument"),
        (dict(ADAPT, name="bad name!"), "invalid_argument"),
        (dict(ADAPT, particles=4), "unknown_field"),
        (dict(ADAPT, init_weights="mlp_lopt"), "unknown_field"),
        (dict(ADAPT, domain="mixed2"), "invalid_argument"),
        (dict(ADAPT, name="mlp_lopt.vision"), "invalid_argument"),   # a domain default of another domain
        (dict(ADAPT, seed=-1), "out_of_range"),
    ]
    for key in ("base", "tasks", "name"):
        b = dict(ADAPT)
        del b[key]
        cases.append((b, "missing_field"))
    for body, code in cases:
        st, err = daemon.json("POST", "/v1/meta/jobs", body)
        assert st == 400 and err["error"]["code"] == code, (body, st, err)
    # a repeated key
    st, _, data = daemon.request("POST", "/v1/meta/jobs",
                                 b'{"method": "adapt", "base": "mlp_lopt", "base": "mlp_lopt", '
                                 b'"tasks": "deep_mlp", "name": "x"}', {"Content-Type": "application/json"})
    assert st == 400 and b"invalid_json" in data
    st, jobs = daemon.json("GET", "/v1/meta/jobs")
    assert st == 200 and jobs["jobs"] == []   # nothing refused was queued


def test_reptile_over_families_job(daemon):
    body = {"name": "lopt-reptile", "optimizer": "mlp_lopt", "hidden": 2, "depth": 1, "estimator": "es",
            "tasks": ["quadratic dim=5", "rosenbrock", "quadratic dim=3"], "particles": 2, "unroll": 5,
            "outer_steps": 3, "maml_inner_steps": 2, "maml_step": 0.5, "seed": 1}
    job = run_done(daemon, body)
    assert job["config"]["maml_inner_steps"] == 2 and job["config"]["maml_step"] == 0.5
    assert [p["step"] for p in job["curve"]] == [1, 2, 3]
    assert job["weights"] == "lopt-reptile@1"
    for bad, code in ((dict(body, maml_inner_steps=0, name="r2"), "invalid_argument"),   # maml_step alone
                      (dict(body, maml_inner_steps=101), "out_of_range"),
                      (dict(body, maml_step=1.5), "out_of_range"),
                      (dict(body, maml_step=0), "out_of_range")):
        st, err = daemon.json("POST", "/v1/meta/jobs", bad)
        assert st == 400 and err["error"]["code"] == code, (bad, err)
