"""Weights records shared by a cluster of daemons through PostgreSQL
(--cluster-db): a record imported on one daemon is used by a session on
another (the same steps, bit for bit), a daemon started later loads it, the
records of a meta-training job and of a few-shot job finished on one daemon
step identically on another, two
daemons importing the same name at once get two versions that every daemon
names alike, and with PostgreSQL gone imports answer 503
cluster_db_unavailable while sessions step and the records already loaded stay
usable.  docs/operations.md, "A cluster of daemons"."""
import json
import os
import shutil
import threading
import time

import pytest

from pg_cluster import PG_USER, error_code, pg, pg_run, wait_until  # noqa: F401 (pg: the fixture)

BIN = {"Content-Type": "application/octet-stream"}
T = [{"name": "w", "shape": [6]}]
TINY = {"name": "tiny", "tasks": ["quadratic dim=5"], "particles": 4, "unroll": 5, "outer_steps": 6,
        "checkpoint_every": 2, "estimator": "es"}
FEWSHOT = {"method": "meta_sgd", "task": "sinusoid", "shots": 5, "inner_steps": 1, "inner_lr": 0.01,
           "meta_batch": 5, "outer_lr": 0.001, "outer_steps": 10, "seed": 0, "name": "fs"}
FEWSHOT_NP = 1 * 40 + 40 + 40 * 40 + 40 + 40 * 1 + 1     # the [1, 40, 40, 1] network
GRADS = [[0.5, -1.0, 0.25, 2.0, -0.125, 1.5], [0.1, 0.2, -0.3, 0.4, -0.5, 0.6], [1, 1, 1, -1, -1, -1]]


def blob_of(d, ref, version=None):
    st, _, data = d.request("GET", f"/v1/weights/{ref}/blob" + (f"?version={version}" if version else ""))
    assert st == 200, data
    return data


def job_end(d, jid, bound=60, query=""):
    deadline = time.monotonic() + bound
    while True:
        st, job = d.json("GET", f"/v1/meta/jobs/{jid}{query}")
        assert st == 200, job
        if job["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def has(d, name, version):
    return d.request("GET", f"/v1/weights/{name}?version={version}", fresh=True)[0] == 200


def updates(d, weights):
    """Three steps of a new session using `weights`: the raw update bytes."""
    st, s = d.json("POST", "/v1/sessions", {"optimizer": "mlp_lopt", "weights": weights, "tensors": T})
    assert st == 201, s
    out = []
    for k, g in enumerate(GRADS, 1):
        st, _, body = d.step_binary(s["id"], k, g)
        assert st == 200, body
        out.append(body)
    return s["id"], out


def test_a_record_imported_on_one_daemon_is_used_on_another(make_daemon, pg):
    a = make_daemon("--cluster-db", pg.uri).start()
    b = make_daemon("--cluster-db", pg.conninfo).start()
    # A shipped record that is not the default one, under a new name.
    vision = blob_of(a, "mlp_lopt.vision")
    assert vision != blob_of(a, "mlp_lopt")
    st, _, data = a.request("POST", "/v1/weights?name=shared", vision, BIN)
    assert st == 201, data
    # B hears of it (NOTIFY) and holds the same bytes.
    assert wait_until(lambda: has(b, "shared", 1), 5), "the record did not reach B"
    assert blob_of(b, "shared", 1) == vision
    st, rec = b.json("GET", "/v1/weights/shared")
    assert st == 200 and rec["ref"] == "shared@1" and rec["provenance"] == {"imported": True}
    # A session on B with it steps exactly as one on A, and not as the default weights.
    _, on_a = updates(a, "shared")
    _, on_b = updates(b, "shared")
    assert on_a == on_b
    assert updates(b, "mlp_lopt")[1] != on_b
    # A daemon started afterwards loads it at start.
    c = make_daemon("--cluster-db", pg.uri).start()
    assert has(c, "shared", 1) and updates(c, "shared@1")[1] == on_a


def test_meta_and_fewshot_jobs_finished_on_one_daemon_give_weights_to_another(make_daemon, pg):
    a = make_daemon("--cluster-db", pg.uri).start()
    b = make_daemon("--cluster-db", pg.uri).start()
    st, job = a.json("POST", "/v1/meta/jobs", TINY)
    assert st == 202, job
    job = job_end(a, job["id"])
    assert job["status"] == "done" and job["weights"] == "tiny@1", job
    assert wait_until(lambda: has(b, "tiny", 1), 5), "the job's record did not reach B"
    st, rec = b.json("GET", "/v1/weights/tiny")
    assert st == 200 and rec["provenance"]["job_id"] == job["id"]
    assert blob_of(b, "tiny", 1) == blob_of(a, "tiny", 1)
    assert updates(a, "tiny")[1] == updates(b, "tiny")[1]

    # A few-shot job's record (meta_sgd: a network's initialisation and its learned rates) too.
    st, job = a.json("POST", "/v1/meta/jobs", FEWSHOT)
    assert st == 202, job
    job = job_end(a, job["id"])
    assert job["status"] == "done" and job["weights"] == "fs@1", job
    assert wait_until(lambda: has(b, "fs", 1), 5), "the few-shot record did not reach B"
    assert b.json("GET", "/v1/weights/fs/init") == a.json("GET", "/v1/weights/fs/init")
    steps = []
    for d in (a, b):
        st, s = d.json("POST", "/v1/sessions", {"optimizer": "meta_sgd", "weights": "fs",
                                                "tensors": [{"name": "w", "shape": [FEWSHOT_NP]}]})
        assert st == 201, s
        st, _, body = d.step_binary(s["id"], 1, [0.5] * FEWSHOT_NP)
        assert st == 200, body
        steps.append(body)
    assert steps[0] == steps[1]


def test_two_daemons_importing_one_name_get_two_versions_named_alike_everywhere(make_daemon, pg):
    a = make_daemon("--cluster-db", pg.uri).start()
    b = make_daemon("--cluster-db", pg.uri).start()
    x, y = blob_of(a, "mlp_lopt.vision"), blob_of(a, "mlp_lopt.text")
    assert x != y
    answers = {}

    def imp(d, blob, tag):
        answers[tag] = d.request("POST", "/v1/weights?name=dup", blob, BIN)

    threads = [threading.Thread(target=imp, args=(a, x, "a")), threading.Thread(target=imp, args=(b, y, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers["a"][0] == 201 and answers["b"][0] == 201, answers
    for d in (a, b):
        assert wait_until(lambda d=d: has(d, "dup", 1) and has(d, "dup", 2), 5)
    # One version each, the same on both daemons; "dup" is the same newest one.
    v1, v2 = blob_of(a, "dup", 1), blob_of(a, "dup", 2)
    assert {v1, v2} == {x, y}
    assert blob_of(b, "dup", 1) == v1 and blob_of(b, "dup", 2) == v2
    assert a.json("GET", "/v1/weights/dup")[1]["version"] == b.json("GET", "/v1/weights/dup")[1]["version"] == 2
    assert updates(a, "dup")[1] == updates(b, "dup")[1]
    assert updates(a, "dup@1")[1] == updates(b, "dup@1")[1]


def test_without_postgresql_imports_fail_cleanly_and_sessions_go_on(make_daemon, pg):
    a = make_daemon("--cluster-db", pg.uri).start()
    b = make_daemon("--cluster-db", pg.uri).start()
    vision = blob_of(a, "mlp_lopt.vision")
    assert a.request("POST", "/v1/weights?name=shared", vision, BIN)[0] == 201
    assert wait_until(lambda: has(b, "shared", 1), 5)
    sid, first = updates(b, "shared")
    # A meta job running when PostgreSQL goes (long enough to outlive the kill).
    st, orphan = a.json("POST", "/v1/meta/jobs", dict(TINY, name="orphan", outer_steps=3000, checkpoint_every=1000))
    assert st == 202, orphan
    assert wait_until(lambda: a.json("GET", f"/v1/meta/jobs/{orphan['id']}?scope=local")[1]["step"] > 0, 30)

    pg.kill()
    # Imports answer 503 and store nothing, on either daemon.
    for d in (a, b):
        st, _, data = d.request("POST", "/v1/weights?name=lost", vision, BIN)
        assert st == 503 and b"cluster_db_unavailable" in data, data
        assert d.json("GET", "/v1/weights/lost")[0] == 404
    # The session made with the shared record steps on; the record stays usable.
    for k in range(len(GRADS) + 1, len(GRADS) + 4):
        st, _, body = b.step_binary(sid, k, GRADS[0])
        assert st == 200, body
    assert b.json("GET", "/v1/weights/shared")[0] == 200
    assert updates(b, "shared")[1] == first
    assert error_code(a, "GET", "/v1/weights/shared")[0] == 200
    # A meta job cannot be recorded in the cluster: 503, and none starts (test_cluster_meta_jobs.py) …
    st, job = a.json("POST", "/v1/meta/jobs", dict(TINY, name="never"))
    assert st == 503 and job["error"]["code"] == "cluster_db_unavailable", job
    # … and the running one cannot publish its record: it fails and says why; nothing is stored.
    job = job_end(a, orphan["id"], 120, "?scope=local")
    assert job["status"] == "failed" and "cluster database" in json.dumps(job), job
    assert a.json("GET", "/v1/weights/orphan")[0] == 404

    # PostgreSQL back: imports work again and reach the other daemon.
    pg.start()
    assert wait_until(lambda: a.request("POST", "/v1/weights?name=later", vision, BIN)[0] == 201, 10)
    assert wait_until(lambda: has(b, "later", 1), 10)


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="mpirun is missing (make deps installs openmpi-bin)")
def test_a_meta_launcher_job_gives_its_record_to_the_cluster(make_daemon, pg, monkeypatch):
    if os.geteuid() == 0:   # OpenMPI refuses root without these (as make mpi-test sets them)
        monkeypatch.setenv("OMPI_ALLOW_RUN_AS_ROOT", "1")
        monkeypatch.setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    a = make_daemon("--cluster-db", pg.uri, "--meta-launcher", "mpirun --oversubscribe -np 2").start()
    b = make_daemon("--cluster-db", pg.uri).start()
    st, job = a.json("POST", "/v1/meta/jobs", dict(TINY, name="mpi"))
    assert st == 202, job
    job = job_end(a, job["id"], 120)
    assert job["status"] == "done" and job["weights"] == "mpi@1", job
    assert wait_until(lambda: has(b, "mpi", 1), 5), "the driver's record did not reach B"
    assert blob_of(b, "mpi", 1) == blob_of(a, "mpi", 1)
    assert updates(a, "mpi")[1] == updates(b, "mpi")[1]


def test_a_database_of_the_keys_only_schema_is_migrated(make_daemon, pg):
    """Schema version 1 (keys only) gains the later tables (weights, the session index, studies, meta jobs)
    at the first start of this build."""
    a = make_daemon("--cluster-db", pg.uri).start()
    a.stop()
    # Every table of the later steps goes, whatever their number.
    r = pg_run("psql", "-h", pg.dir, "-U", PG_USER, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c",
               "DO $$DECLARE t text; BEGIN FOR t IN SELECT tablename FROM pg_tables WHERE tablename LIKE 'optirs%'"
               " AND tablename NOT IN ('optirs_api_keys', 'optirs_schema') LOOP"
               " EXECUTE 'DROP TABLE IF EXISTS ' || quote_ident(t) || ' CASCADE'; END LOOP; END$$;"
               " UPDATE optirs_schema SET version = 1")
    assert r.returncode == 0, r.stderr
    a.start()
    b = make_daemon("--cluster-db", pg.uri).start()
    assert a.request("POST", "/v1/weights?name=after", blob_of(a, "mlp_lopt.text"), BIN)[0] == 201
    assert wait_until(lambda: has(b, "after", 1), 5)
    r = pg_run("psql", "-h", pg.dir, "-U", PG_USER, "-d", "postgres", "-tAc", "SELECT version FROM optirs_schema")
    assert int(r.stdout.decode().strip()) == 5, r.stdout   # weights (2), the session index (3), studies (4), meta jobs (5)
