"""Architecture search for learned optimizers (issue 20, part 3): POST
/v1/meta/jobs with "method": "nas" — short PES runs of a few sampled
architectures, the ridge predictor ranking them, the top ones trained longer
and scored on the selection subset; progress in GET, cancel with DELETE, the
result in the best candidate's weights record; hostile requests refused."""
import math

from test_meta_jobs import wait_status

TINY = {"method": "nas", "space": {"optimizer": ["mlp_lopt", "lstm_lopt", "attn_lopt"], "hidden": [4, 8],
                                   "depth": [1], "num_heads": [1, 2]},
        "candidates": 4, "full": 3, "outer_steps": 3, "full_steps": 5, "eval_steps": 10, "eval_seeds": 1,
        "particles": 2, "unroll": 5, "task": "quadratic dim=4", "seed": 3, "name": "nas-tiny"}
FAMILIES = {"mlp_lopt", "lstm_lopt", "attn_lopt"}


def test_nas_run_result_shape(daemon):
    st, job = daemon.json("POST", "/v1/meta/jobs", TINY)
    assert st == 202, job
    cfg = job["config"]
    assert cfg["method"] == "nas" and len(cfg["candidate_architectures"]) == 4
    archs = [tuple(sorted(a.items())) for a in cfg["candidate_architectures"]]
    assert len(set(archs)) == 4   # sampled without replacement
    assert job["outer_steps"] == 4 * 3 + 3 * 5
    job = wait_status(daemon, job["id"], ("done", "failed"), timeout=300)
    assert job["status"] == "done", job
    assert job["step"] == job["outer_steps"] and job["weights"] == "nas-tiny@1"
    assert len(job["curve"]) == job["outer_steps"]

    st, rec = daemon.json("GET", "/v1/weights/nas-tiny")
    assert st == 200, rec
    nas = rec["provenance"]["nas"]
    cands = nas["candidates"]
    assert len(cands) == 4
    full = [c for c in cands if c["full_rank"] > 0]
    assert sorted(c["full_rank"] for c in full) == [1, 2, 3]
    for c in cands:
        a = c["architecture"]
        assert a["optimizer"] in FAMILIES and a["hidden"] in (4, 8) and a["depth"] == 1
        assert ("num_heads" in a) == (a["optimizer"] == "attn_lopt")
        if "num_heads" in a:
            assert a["hidden"] % a["num_heads"] == 0
        assert len(c["early_curve"]) == 3 and all(math.isfinite(v) for v in c["early_curve"])
        assert c["ntheta"] > 0 and c["sec_per_outer_step"] >= 0
        if c["full_rank"]:
            assert math.isfinite(c["score"]) and math.isfinite(c["predicted_at_pick"])
            # leave-one-out over three scored: two left, enough for the ridge
            assert math.isfinite(c["predicted_loo"])
        else:
            assert c["score"] is None and c["predicted_loo"] is None
    best = min(full, key=lambda c: c["score"])
    assert nas["best"] == best["architecture"] and nas["best_score"] == best["score"]
    assert rec["optimizer"] == best["architecture"]["optimizer"]
    assert all(nas[k] is None or -1 <= nas[k] <= 1 for k in ("spearman", "spearman_early_curve"))
    assert nas["selection_subset"] and len(nas["selection_subset"]) == 3
    # the shipped mlp_lopt record is scored the same way
    assert nas["shipped_mlp_lopt_score"] is None or math.isfinite(nas["shipped_mlp_lopt_score"])
    # the first pick, before any score, is the lowest early meta-loss
    first = next(c for c in full if c["full_rank"] == 1)
    assert first["early_meta_loss"] == min(c["early_meta_loss"] for c in cands)


def test_nas_recipe_trains_every_candidate_on_its_tasks(daemon):
    """A recipe of meta-training keys replaces the one task: each candidate (the best's record
    shows it) is meta-trained on the recipe's tasks, episodes and objective."""
    recipe = {"tasks": ["quadratic dim=4", "logistic_regression dim=4 batch=8"], "horizon_min": 8,
              "horizon_max": 16, "objective": "ref", "task_draw": "cycle"}
    body = dict(TINY, name="nas-recipe", recipe=recipe)
    del body["task"]
    st, job = daemon.json("POST", "/v1/meta/jobs", body)
    assert st == 202, job
    assert job["config"]["recipe"] == recipe and job["config"]["task"] is None, job["config"]
    job = wait_status(daemon, job["id"], ("done", "failed"), timeout=300)
    assert job["status"] == "done", job
    st, rec = daemon.json("GET", "/v1/weights/nas-recipe")
    assert st == 200, rec
    assert rec["provenance"]["task_families"] == recipe["tasks"], rec["provenance"]
    assert rec["provenance"]["config"]["recipe"] == recipe
    assert rec["domain"] == "mixed"   # a synthetic and a tabular task


def test_nas_recipe_hostile(daemon):
    bad = [
        ({"recipe": []}, "invalid_argument", "recipe must be an object"),
        ({"recipe": {"hidden": 8}}, "unknown_field", "recipe key \"hidden\""),
        ({"recipe": {"outer_steps": 8}}, "unknown_field", "recipe key \"outer_steps\""),
        ({"recipe": {"trust": 1}}, "unknown_field", "recipe key \"trust\""),
        ({"recipe": {"tasks": ["quadratic dim=4"]}}, "invalid_argument", "give task or recipe.tasks"),
        ({"recipe": {"horizon_min": -1}}, "out_of_range", "recipe: "),
        ({"recipe": {"tasks": ["no_such_family"]}}, None, "recipe: "),
        ({"recipe": {"tasks": []}}, "invalid_argument", "recipe: "),
        ({"recipe": {"objective": "bogus"}}, None, "recipe: "),
        ({"recipe": {"tasks": ["quadratic dim=4"] * 40}}, None, "recipe"),
        ({"recipe": {"tasks": ["quadratic dim=4 " + "x" * 150] * 60}}, "invalid_argument", "longer than"),
    ]
    for patch, code, frag in bad:
        st, err = daemon.json("POST", "/v1/meta/jobs", dict(TINY, **patch))
        assert st == 400, (patch, err)
        if code:
            assert err["error"]["code"] == code, (patch, err)
        assert frag in err["error"]["message"], (patch, err)
    assert daemon.json("GET", "/v1/meta/jobs")[1]["jobs"] == []


def test_nas_progress_and_cancel(daemon):
    st, job = daemon.json("POST", "/v1/meta/jobs", dict(TINY, outer_steps=100000, full_steps=100000, name="nas-long"))
    assert st == 202, job
    job = wait_status(daemon, job["id"], ("running",))
    deadline_job = job
    for _ in range(400):
        st, deadline_job = daemon.json("GET", f"/v1/meta/jobs/{job['id']}")
        if deadline_job["step"] > 0:
            break
    assert deadline_job["step"] > 0 and 0 < deadline_job["progress"] < 1
    st, c = daemon.json("DELETE", f"/v1/meta/jobs/{job['id']}")
    assert st == 200 and c["status"] in ("cancelling", "cancelled")
    job = wait_status(daemon, job["id"], ("cancelled",), timeout=60)
    assert job["weights"] is None
    assert daemon.json("GET", "/v1/weights/nas-long")[0] == 404


def test_nas_hostile_requests(daemon):
    bad = [
        ({"space": {"optimizer": ["adam"]}}, "invalid_argument"),
        ({"space": {"optimizer": ["nn_adam"]}}, "invalid_argument"),
        ({"space": {"optimizer": "mlp_lopt"}}, "invalid_argument"),
        ({"space": {"optimizer": ["mlp_lopt", "mlp_lopt"]}}, "invalid_argument"),
        ({"space": {"activation": ["tanh"]}}, "invalid_argument"),
        ({"space": {"activation": ["gelu", "gelu"]}}, "invalid_argument"),
        ({"space": {"activation": "gelu"}}, "invalid_argument"),
        ({"space": {"activation": []}}, "invalid_argument"),
        ({"space": {"activation": ["GELU"]}}, "invalid_argument"),
        ({"space": {"layers": ["gru"]}}, "unknown_field"),
        ({"space": {"hidden": [0]}}, "out_of_range"),
        ({"space": {"hidden": [100000]}}, "out_of_range"),
        ({"space": {"hidden": []}}, "out_of_range"),
        ({"space": {"hidden": [1.5]}}, "invalid_argument"),
        ({"space": {"depth": [9]}}, "out_of_range"),
        ({"space": []}, "invalid_argument"),
        ({"candidates": 1}, "out_of_range"),
        ({"candidates": 1000}, "out_of_range"),
        ({"full": 5}, "invalid_argument"),
        ({"full_steps": 2}, "invalid_argument"),
        ({"outer_steps": -1}, "out_of_range"),
        ({"outer_steps": "3"}, "invalid_argument"),
        ({"name": "../x"}, "invalid_argument"),
        ({"name": "mlp_lopt"}, "invalid_argument"),          # the best may be another family
        ({"name": "attn_lopt.vision"}, "invalid_argument"),  # a domain default's name
        ({"task": "no_such_family"}, None),
        ({"bogus": 1}, "unknown_field"),
        # two architectures only (mlp_lopt 4 and 8), four candidates asked
        ({"space": {"optimizer": ["mlp_lopt"], "hidden": [4, 8], "depth": [1]}}, "invalid_argument"),
    ]
    for patch, code in bad:
        body = dict(TINY)
        body.update(patch)
        st, err = daemon.json("POST", "/v1/meta/jobs", body)
        assert st == 400, (patch, err)
        if code:
            assert err["error"]["code"] == code, (patch, err)
    # an axis of a family the space does not list would search nothing: refused, not ignored
    for space, key, fam in (({"optimizer": ["gru_lopt"], "features": ["adam"]}, "features", "mlp_lopt"),
                            ({"optimizer": ["lstm_lopt"], "activation": ["gelu"]}, "activation", "mlp_lopt"),
                            ({"num_heads": [1, 2]}, "num_heads", "attn_lopt")):
        st, err = daemon.json("POST", "/v1/meta/jobs", dict(TINY, space=space))
        assert st == 400 and err["error"]["code"] == "invalid_argument", (space, err)
        assert f"space.{key} applies to {fam} only" in err["error"]["message"], err
    st = daemon.request("POST", "/v1/meta/jobs", b'{"method":"nas","space":{"hidden":[4],"hidden":[8]}}',
                        headers={"Content-Type": "application/json"})[0]
    assert st == 400
    assert daemon.json("GET", "/v1/meta/jobs")[1]["jobs"] == []
