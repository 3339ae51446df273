"""Input strictness (issue 13, finding 12): duplicate metric names, JSON
numbers outside RFC 8259's grammar, a meta job naming missing init_weights,
and compare's ids list.  Each refusal is a 4xx with a stable code and changes
nothing."""
import json

import pytest

JSON = {"Content-Type": "application/json"}


def raw_json(d, method, path, text):
    st, h, data = d.request(method, path, text, JSON)
    return st, json.loads(data)


def code(st_body):
    st, body = st_body
    return st, body["error"]["code"]


def test_feedback_metrics_with_a_duplicate_name_are_refused(daemon):
    sid = daemon.create(optimizer="sgd", tensors=[{"shape": [3]}])["id"]
    assert daemon.step(sid, 1, [0.5] * 3)[0] == 200
    got = raw_json(daemon, "POST", f"/v1/sessions/{sid}/feedback",
                   '{"step": 1, "loss": 0.5, "metrics": {"acc": 0.9, "acc": 0.1}}')
    assert code(got) == (400, "invalid_json"), got
    st, body = daemon.json("GET", f"/v1/sessions/{sid}/feedback")
    assert st == 200 and body["feedback"] == []
    # Distinct names are stored as before.
    st, body = daemon.json("POST", f"/v1/sessions/{sid}/feedback",
                           {"step": 1, "loss": 0.5, "metrics": {"acc": 0.9, "f1": 0.1}})
    assert st == 200, body


@pytest.mark.parametrize("num", ["007", "-01", "00", "1.", "1.e5", "-.5", "01e2"])
def test_numbers_outside_the_json_grammar_are_invalid_json(daemon, num):
    sid = daemon.create(optimizer="sgd", tensors=[{"shape": [1]}])["id"]
    # grads (f32json), step (cJSON through jsonwalk), a create's hyperparameter
    # (spec.c) and a feedback loss all refuse it the same way.
    for path, text in ((f"/v1/sessions/{sid}/step", '{"step": 1, "grads": [%s]}' % num),
                       (f"/v1/sessions/{sid}/step", '{"step": %s, "grads": [1]}' % num),
                       ("/v1/sessions", '{"optimizer": "sgd", "tensors": [{"shape": [1]}],'
                                        ' "hyperparams": {"lr": %s}}' % num),
                       (f"/v1/sessions/{sid}/feedback", '{"step": 1, "loss": %s}' % num)):
        got = raw_json(daemon, "POST", path, text)
        assert code(got) == (400, "invalid_json"), (path, text, got)
    st, p = daemon.json("GET", f"/v1/sessions/{sid}/params")
    assert p == {"step": 0, "params": [0.0]}
    st, body = daemon.json("GET", "/v1/sessions")
    assert len(body["sessions"]) == 1


def test_meta_job_body_is_strict_json_too(daemon):
    # a duplicate key is invalid_json here as in every other body (it was invalid_argument)
    got = raw_json(daemon, "POST", "/v1/meta/jobs",
                   '{"name": "t", "tasks": ["quadratic dim=5"], "outer_steps": 2, "outer_steps": 3}')
    assert code(got) == (400, "invalid_json"), got
    got = raw_json(daemon, "POST", "/v1/meta/jobs",
                   '{"name": "t", "tasks": ["quadratic dim=5"], "particles": 04, "outer_steps": 2}')
    assert code(got) == (400, "invalid_json"), got
    got = raw_json(daemon, "POST", "/v1/meta/jobs",
                   '{"name": "t", "tasks": ["quadratic dim=5"], "outer_steps": 2} trailing')
    assert code(got) == (400, "invalid_json"), got
    assert daemon.json("GET", "/v1/meta/jobs")[1]["jobs"] == []


def test_meta_job_naming_missing_init_weights_is_refused_at_submit(daemon):
    body = {"name": "t", "tasks": ["quadratic dim=5"], "particles": 4, "unroll": 5, "outer_steps": 2,
            "estimator": "es", "init_weights": "no-such-weights"}
    got = daemon.json("POST", "/v1/meta/jobs", body)
    assert code(got) == (404, "not_found"), got
    assert "no-such-weights" in got[1]["error"]["message"]
    assert daemon.json("GET", "/v1/meta/jobs")[1]["jobs"] == []


@pytest.mark.parametrize("ids", [",,,", ",", "{a},", ",{a}", "{a},,{b}", "{a},{a}", "{a},{b},{a}"])
def test_compare_refuses_empty_and_repeated_ids(daemon, ids):
    a = daemon.create(optimizer="sgd", tensors=[{"shape": [1]}])["id"]
    b = daemon.create(optimizer="sgd", tensors=[{"shape": [1]}])["id"]
    got = daemon.json("GET", "/v1/compare?ids=" + ids.format(a=a, b=b))
    assert code(got) == (400, "invalid_argument"), got


def test_compare_limits_the_number_of_ids(daemon):
    sids = [daemon.create(optimizer="sgd", tensors=[{"shape": [1]}])["id"] for _ in range(17)]
    assert daemon.json("GET", "/v1/compare?ids=" + ",".join(sids[:16]))[0] == 200
    got = daemon.json("GET", "/v1/compare?ids=" + ",".join(sids))
    assert code(got) == (400, "out_of_range"), got
