"""The `optirs` command-line tool (build/optirs) against a real optirsd:
tables and --json output, error messages and exit codes, keys, jobs,
weights, and export/import of a session."""
import http.server
import json
import os
import subprocess
import threading

import pytest

from daemon import ROOT, OPTIRSD

BUILD = os.path.dirname(OPTIRSD)
OPTIRS = os.path.join(BUILD, "optirs")


@pytest.fixture(scope="module", autouse=True)
def built():
    subprocess.run(["make", "-s", "-f", "clients/c/client.mk", "BUILD=" + BUILD, BUILD + "/optirs"],
                   cwd=ROOT, check=True)


def cli(daemon, *args, key=None, stdin=None, url=None, binary=False):
    env = {k: v for k, v in os.environ.items() if k not in ("OPTIRS_URL", "OPTIRS_API_KEY")}
    env["OPTIRS_URL"] = url or daemon.url          # http://… or unix:///… (test_unix_socket.py)
    if key:
        env["OPTIRS_API_KEY"] = key
    p = subprocess.run([OPTIRS, *args], input=stdin, capture_output=True, env=env, timeout=60)
    if binary:
        return p.returncode, p.stdout, p.stderr.decode()
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def make_session(daemon, steps=3, **kw):
    spec = dict(optimizer="adam", hyperparams={"lr": 0.01}, tensors=[{"name": "w", "shape": [2, 3]}, {"shape": [2]}],
                params=[0.5, -1, 2, 0.25, 3, -4, 1.5, 0.125], name="cli-test", tags={"owner": "ops"})
    spec.update(kw)
    s = daemon.create(**spec)
    for k in range(1, steps + 1):
        st, _ = daemon.step(s["id"], k, [0.1 * k] * s["num_params"], loss=1.0 / k)
        assert st == 200
    return s


def table(out):
    """Rows of a table printed by optirs (header first), split on 2+ spaces."""
    import re
    return [re.split(r"\s{2,}", l.rstrip()) for l in out.strip().splitlines()]


def test_sessions_ls_empty_then_listed(daemon):
    rc, out, err = cli(daemon, "sessions", "ls")
    assert rc == 0 and "(no sessions)" in out, out + err
    rc, out, _ = cli(daemon, "--json", "sessions", "ls")
    assert rc == 0 and json.loads(out) == {"sessions": []}
    a = make_session(daemon, steps=2)
    b = make_session(daemon, steps=0, optimizer="sgd", name="second")
    rc, out, err = cli(daemon, "sessions", "ls")
    assert rc == 0, err
    rows = table(out)
    assert rows[0] == ["ID", "OPTIMIZER", "PARAMS", "STEP", "STATUS", "LOSS", "CREATED", "NAME"]
    by_id = {r[0]: r for r in rows[1:]}
    assert set(by_id) == {a["id"], b["id"]}
    assert by_id[a["id"]][1:6] == ["adam", "8", "2", "active", "0.5"]
    assert by_id[b["id"]][1:6] == ["sgd", "8", "0", "active", "-"]
    assert by_id[b["id"]][7] == "second"
    rc, out, _ = cli(daemon, "sessions", "ls", "--json")   # --json anywhere
    listed = json.loads(out)["sessions"]
    assert sorted(s["id"] for s in listed) == sorted([a["id"], b["id"]])
    st, direct = daemon.json("GET", "/v1/sessions")
    assert listed == direct["sessions"]


def test_sessions_ls_pages_through_everything(daemon):
    ids = {make_session(daemon, steps=0)["id"] for _ in range(3)}
    # the tool asks for pages of 1000; check it follows next_page_token by
    # comparing with the daemon's own two-page listing
    st, p1 = daemon.json("GET", "/v1/sessions?limit=2")
    st, p2 = daemon.json("GET", "/v1/sessions?limit=2&page_token=" + p1["next_page_token"])
    assert {s["id"] for s in p1["sessions"] + p2["sessions"]} == ids
    rc, out, _ = cli(daemon, "--json", "sessions", "ls")
    assert {s["id"] for s in json.loads(out)["sessions"]} == ids


def test_sessions_show_and_rm(daemon):
    s = make_session(daemon, steps=3)
    rc, out, err = cli(daemon, "sessions", "show", s["id"])
    assert rc == 0, err
    lines = dict(l.split(None, 1) for l in out.splitlines() if l and not l.startswith(" ") and len(l.split(None, 1)) == 2)
    assert lines["id"] == s["id"] and lines["optimizer"] == "adam" and lines["step"] == "3"
    assert lines["num_params"] == "8" and lines["name"] == "cli-test"
    assert "lr=0.01" in lines["hyperparams"] and "beta1=0.9" in lines["hyperparams"]
    assert lines["tags"] == "owner=ops"
    assert "  0   w                    [2,3]" in out and "[2]" in out
    rc, out, _ = cli(daemon, "--json", "sessions", "show", s["id"])
    st, direct = daemon.json("GET", "/v1/sessions/" + s["id"])
    assert rc == 0 and json.loads(out) == direct

    rc, out, err = cli(daemon, "sessions", "rm", s["id"])
    assert rc == 0 and out.strip() == "deleted " + s["id"], out + err
    assert daemon.json("GET", "/v1/sessions/" + s["id"])[0] == 404
    rc, out, err = cli(daemon, "sessions", "rm", s["id"])
    assert rc == 1 and out == ""
    assert err.startswith("optirs: sessions rm: session_not_found (404): "), err
    rc, out, err = cli(daemon, "sessions", "show", "no-such-session")
    assert rc == 1 and "session_not_found (404)" in err


def test_metrics_table_json_after_limit(daemon):
    s = make_session(daemon, steps=5)
    rc, out, err = cli(daemon, "metrics", s["id"])
    assert rc == 0, err
    rows = table(out)
    assert rows[0] == ["STEP", "TIME", "LOSS", "GRAD_NORM", "UPDATE_NORM", "PARAM_NORM", "LR", "DURATION_US"]
    assert [r[0] for r in rows[1:]] == ["1", "2", "3", "4", "5"]
    assert rows[1][2] == "1" and rows[2][2] == "0.5"
    rc, out, _ = cli(daemon, "--json", "metrics", s["id"], "--after", "2", "--limit", "2")
    doc = json.loads(out)
    st, direct = daemon.json("GET", "/v1/sessions/%s/metrics?after=2&limit=2" % s["id"])
    assert doc == direct and [r["step"] for r in doc["metrics"]] == [3, 4]
    rc, out, _ = cli(daemon, "--json", "metrics", s["id"], "--after", "3")
    assert [r["step"] for r in json.loads(out)["metrics"]] == [4, 5]
    rc, out, err = cli(daemon, "metrics", s["id"], "--limit", "0")
    assert rc == 2 and "usage" in err
    rc, out, err = cli(daemon, "metrics", "nope")
    assert rc == 1 and "session_not_found (404)" in err


def test_optimizers_table_and_json(daemon):
    st, cat = daemon.json("GET", "/v1/optimizers")
    rc, out, err = cli(daemon, "optimizers")
    assert rc == 0, err
    rows = table(out.split("\n\n")[0])
    assert rows[0] == ["NAME", "KIND", "HYPERPARAMETERS", "DESCRIPTION"]
    assert [r[0] for r in rows[1:]] == [o["name"] for o in cat["optimizers"]]
    adam = [r for r in rows if r[0] == "adam"][0]
    assert adam[1] == "classic" and "beta2" in adam[2].split(",")
    assert "schedules: " in out and "cosine" in out
    rc, out, _ = cli(daemon, "--json", "optimizers")
    assert json.loads(out) == cat


def test_usage_and_unreachable_exit_codes(daemon):
    rc, out, err = cli(daemon)
    assert rc == 2 and "usage: optirs" in err
    rc, out, err = cli(daemon, "frobnicate")
    assert rc == 2 and 'unknown command "frobnicate"' in err
    rc, out, err = cli(daemon, "sessions", "show")
    assert rc == 2
    rc, out, err = cli(daemon, "--help")
    assert rc == 0 and "full state" in out and "NOT transferable" not in out
    rc, out, err = cli(daemon, "optimizers", url="http://127.0.0.1:1")
    assert rc == 3 and "cannot reach http://127.0.0.1:1" in err, err
    rc, out, err = cli(daemon, "optimizers", url="not-a-url")
    assert rc == 2
    # --url wins over OPTIRS_URL
    rc, out, err = cli(daemon, "--url", "http://127.0.0.1:%d" % daemon.port, "optimizers", url="http://127.0.0.1:1")
    assert rc == 0, err


def test_keys_create_ls_rm_and_auth(daemon):
    rc, out, err = cli(daemon, "keys", "ls")
    assert rc == 0 and table(out) == [["ID", "TENANT", "ADMIN", "CREATED", "REVOKED"]], out + err
    rc, out, err = cli(daemon, "--json", "keys", "create", "--tenant", "ops", "--admin")
    assert rc == 0, err
    admin = json.loads(out)
    assert admin["key"].startswith("ok_") and admin["admin"] is True
    # the daemon is closed now: no key → 401, with the admin key → fine
    rc, out, err = cli(daemon, "sessions", "ls")
    assert rc == 1 and "unauthorized (401)" in err, err
    rc, out, err = cli(daemon, "keys", "create", "--tenant", "team-a", key=admin["key"])
    assert rc == 0 and "(the key is shown only this once)" in out, err
    user_key = [l.split()[1] for l in out.splitlines() if l.startswith("key ")][0]
    user_id = [l.split()[1] for l in out.splitlines() if l.startswith("id ")][0]
    rc, out, err = cli(daemon, "keys", "ls", key=admin["key"])
    rows = table(out)
    assert {r[1] for r in rows[1:]} == {"ops", "team-a"} and rows[1][4] == "-"
    rc, out, err = cli(daemon, "keys", "ls", key=user_key)
    assert rc == 1 and "(403)" in err, err
    rc, out, err = cli(daemon, "sessions", "ls", key=user_key)
    assert rc == 0, err
    rc, out, err = cli(daemon, "keys", "rm", user_id, key=admin["key"])
    assert rc == 0 and out.strip() == "revoked " + user_id
    rc, out, err = cli(daemon, "keys", "rm", "0123456789abcdef", key=admin["key"])
    assert rc == 1 and "not_found (404)" in err and "not supported" not in err, err
    rc, out, err = cli(daemon, "keys", "create", key=admin["key"])
    assert rc == 2


def test_jobs_ls_and_show_missing(daemon):
    rc, out, err = cli(daemon, "--json", "jobs", "ls")
    assert rc == 0, err
    st, direct = daemon.json("GET", "/v1/meta/jobs")
    assert json.loads(out) == direct
    rc, out, err = cli(daemon, "jobs", "show", "no-such-job")
    assert rc == 1 and "not_found (404)" in err and "not supported" not in err, err
    rc, out, err = cli(daemon, "jobs", "cancel", "no-such-job")
    assert rc == 1 and "(404)" in err


def test_jobs_ls_shows_the_pace_and_eta(daemon):
    tiny = {"name": "clipace", "tasks": ["quadratic dim=5"], "particles": 4, "unroll": 5, "outer_steps": 3,
            "checkpoint_every": 1, "estimator": "es"}
    st, job = daemon.json("POST", "/v1/meta/jobs", tiny)
    assert st == 202, job
    import time
    deadline = time.time() + 60
    while daemon.json("GET", "/v1/meta/jobs/" + job["id"])[1]["status"] != "done" and time.time() < deadline:
        time.sleep(0.05)
    rc, out, err = cli(daemon, "jobs", "ls")
    assert rc == 0, err
    rows = table(out)
    assert rows[0] == ["ID", "NAME", "STATUS", "STEP", "OF", "STEPS/S", "ETA", "WEIGHTS", "CREATED"]
    row = [r for r in rows[1:] if r[0] == job["id"]][0]
    assert row[2:5] == ["done", "3", "3"] and float(row[5]) > 0 and row[6] == "0s" and row[7] == "clipace@1", row
    rc, out, err = cli(daemon, "jobs", "show", job["id"])
    fields = dict(l.split(None, 1) for l in out.splitlines() if len(l.split(None, 1)) == 2)
    assert rc == 0 and float(fields["rate_per_s"]) > 0 and fields["eta_s"] == "0", out


class _OldDaemon(http.server.BaseHTTPRequestHandler):
    """Answers like an optirsd whose route table lacks a path: 404 not_found."""
    def _nf(self):
        body = json.dumps({"error": {"code": "not_found", "message": "no route for %s" % self.path}}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_DELETE = _nf

    def log_message(self, *a):
        pass


def test_apis_the_daemon_lacks_are_reported_as_not_supported(daemon):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OldDaemon)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d" % srv.server_address[1]
        for args, what in ((["jobs", "ls"], "jobs ls"), (["jobs", "show", "j1"], "jobs show"),
                           (["keys", "ls"], "keys ls"), (["weights", "ls"], "weights ls"),
                           (["export", "--weights", "x@2"], "export --weights")):
            rc, out, err = cli(daemon, *args, url=url)
            assert rc == 4, (args, err)
            assert err.startswith("optirs: %s: not supported by this daemon (404 not_found: no route for " % what), err
    finally:
        srv.shutdown()


def test_export_import_carries_the_full_state_to_a_new_daemon(make_daemon):
    """optirs export ID on one daemon, optirs import on a NEW daemon (fresh
    database): one more step with the same gradient on both gives identical
    parameters, bit for bit (Adam's moments and step counter came along)."""
    d1 = make_daemon().start()
    s = make_session(d1, steps=4, schedule="cosine", total_steps=100, durability="step")
    rc, out, err = cli(d1, "export", s["id"])
    assert rc == 0, err
    doc = json.loads(out)
    st, direct = d1.json("GET", "/v1/sessions/%s/state" % s["id"])
    assert doc == direct and doc["format"] == "optirs-session-state" and doc["step"] == 4
    d2 = make_daemon().start()
    rc, out2, err = cli(d2, "--json", "import", "--name", "moved & renamed", stdin=out.encode())
    assert rc == 0, err
    new = json.loads(out2)
    assert new["step"] == 4 and new["name"] == "moved & renamed"
    for k in ("optimizer", "hyperparams", "schedule", "tensors", "num_params", "durability", "total_steps", "tags"):
        assert new[k] == s[k], k
    g = [0.3, -0.2, 0.1, 0.05, -0.4, 0.25, 0.6, -0.125]
    a = d1.step(s["id"], 5, g, loss=0.2)
    b = d2.step(new["id"], 5, g, loss=0.2)
    assert a[0] == b[0] == 200 and a[1]["update"] == b[1]["update"]
    p1 = d1.json("GET", "/v1/sessions/%s/params" % s["id"])[1]
    p2 = d2.json("GET", "/v1/sessions/%s/params" % new["id"])[1]
    assert p1["params"] == p2["params"] and p1["step"] == p2["step"] == 5
    # the plain line
    rc, out3, err = cli(d2, "import", stdin=out.encode())
    assert rc == 0 and out3.startswith("imported as ") and "at step 4 (full optimizer state)" in out3, out3 + err


def test_import_refuses_a_tampered_file_and_creates_nothing(daemon):
    s = make_session(daemon, steps=2)
    rc, out, err = cli(daemon, "export", s["id"])
    assert rc == 0, err
    doc = json.loads(out)
    before = daemon.json("GET", "/v1/sessions")[1]["sessions"]
    bad_spec = json.loads(out)
    bad_spec["spec"]["hyperparams"]["lr"] = 0.5                       # an edited spec
    bad_state = json.loads(out)
    bad_state["state"] = ("B" if doc["state"][0] != "B" else "C") + doc["state"][1:]   # an edited snapshot
    for bad in (bad_spec, bad_state, dict(doc, step=1), dict(doc, extra=1)):
        rc, out2, err = cli(daemon, "import", stdin=json.dumps(bad).encode())
        assert rc == 1 and out2 == "", (rc, out2, err)
        assert err.startswith("optirs: import: invalid_state (400): "), err
    rc, _, err = cli(daemon, "import", stdin=b"{not json")
    assert rc == 5 and "not an optirs export document" in err
    rc, _, err = cli(daemon, "import", stdin=json.dumps({"format": "optirs-session-export", "version": 9}).encode())
    assert rc == 5 and "version 9" in err
    rc, _, err = cli(daemon, "import", stdin=json.dumps({"format": "something", "version": 1}).encode())
    assert rc == 5 and 'unknown format "something"' in err
    rc, _, err = cli(daemon, "import", "--name", "x", "--weights", "w", stdin=b"")
    assert rc == 2
    rc, _, err = cli(daemon, "export", "no-such-session")
    assert rc == 1 and "session_not_found" in err
    rc, _, err = cli(daemon, "export", "a/b")
    assert rc == 2
    assert daemon.json("GET", "/v1/sessions")[1]["sessions"] == before


def test_an_older_export_document_still_imports_at_step_0(daemon):
    """Files written by an optirs before full-state export (spec and
    parameters) import as they did: the parameters, a fresh optimizer."""
    s = make_session(daemon, steps=3)
    st, params = daemon.json("GET", "/v1/sessions/%s/params" % s["id"])
    old = {"format": "optirs-session-export", "version": 1, "session": s, "step": 3, "params": params["params"]}
    rc, out, err = cli(daemon, "--json", "import", stdin=json.dumps(old).encode())
    assert rc == 0, err
    new = json.loads(out)
    assert new["step"] == 0 and new["hyperparams"] == s["hyperparams"]
    assert daemon.json("GET", "/v1/sessions/%s/params" % new["id"])[1]["params"] == params["params"]
    rc, out, err = cli(daemon, "import", "--name", "x", stdin=json.dumps(old).encode())
    assert rc == 2 and "full-state" in err


def test_export_on_a_daemon_without_full_state_is_not_supported(daemon):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OldDaemon)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        rc, out, err = cli(daemon, "export", "some-id", url="http://127.0.0.1:%d" % srv.server_address[1])
        assert rc == 4 and "not supported by this daemon" in err and "/state" in err, err
    finally:
        srv.shutdown()


def test_weights_export_import(daemon):
    st, lst = daemon.json("GET", "/v1/weights")
    if st == 404:
        pytest.skip("this daemon has no /v1/weights")
    rc, out, err = cli(daemon, "--json", "weights", "ls")
    assert rc == 0 and json.loads(out) == lst, err
    rc, out, err = cli(daemon, "export", "--weights", "no-such-weights")
    assert rc == 1 and "not_found (404)" in err and "not supported" not in err, err
    if not lst["weights"]:
        pytest.skip("the daemon holds no weights record to export (none shipped in this build)")
    ref = lst["weights"][0]["ref"]
    rc, blob, err = cli(daemon, "export", "--weights", ref, binary=True)
    assert rc == 0 and len(blob) > 0, err
    rc, out, err = cli(daemon, "--json", "import", "--weights", "cli-copy", stdin=blob)
    assert rc == 0, err
    rec = json.loads(out)
    assert rec["name"] == "cli-copy" and rec["version"] == 1
    st, src = daemon.json("GET", "/v1/weights/" + ref.replace("@", "?version="))
    assert rec["architecture"] == src["architecture"] and rec["optimizer"] == src["optimizer"]
    rc, blob2, err = cli(daemon, "export", "--weights", "cli-copy@1", binary=True)
    assert rc == 0 and len(blob2) == len(blob)


def test_domain_session_show_export_import(daemon):
    """A session created with a domain shows it, and export/import carries it
    with its pinned record (the import's create agrees with itself).  The
    record is imported for synthetic, the one domain without a shipped
    mlp_lopt record, so the session pins our copy at version 1."""
    rc, blob, err = cli(daemon, "export", "--weights", "mlp_lopt", binary=True)
    assert rc == 0, err
    rc, out, err = cli(daemon, "--json", "import", "--weights", "mlp_lopt.synthetic", "--domain", "synthetic", stdin=blob)
    assert rc == 0, err
    s = make_session(daemon, steps=2, optimizer="mlp_lopt", hyperparams={}, domain="synthetic")
    assert s["weights"] == "mlp_lopt.synthetic@1"
    rc, out, err = cli(daemon, "sessions", "show", s["id"])
    assert rc == 0, err
    lines = dict(l.split(None, 1) for l in out.splitlines() if l and not l.startswith(" ") and len(l.split(None, 1)) == 2)
    assert lines["domain"] == "synthetic" and lines["weights"] == "mlp_lopt.synthetic@1"
    rc, out, err = cli(daemon, "export", s["id"])
    assert rc == 0, err
    rc, out2, err = cli(daemon, "--json", "import", stdin=out.encode())
    assert rc == 0, err
    new = json.loads(out2)
    assert new["domain"] == "synthetic" and new["weights"] == "mlp_lopt.synthetic@1"


def test_sessions_ls_filters_and_set(daemon):
    a = make_session(daemon, steps=1, name="alpha run", tags={"team": "vision"})
    b = make_session(daemon, steps=0, name="beta", optimizer="sgd", hyperparams={"lr": 0.1})
    rc, out, _ = cli(daemon, "--json", "sessions", "ls", "--q", "ALPHA R")
    assert rc == 0 and [s["id"] for s in json.loads(out)["sessions"]] == [a["id"]]
    rc, out, _ = cli(daemon, "--json", "sessions", "ls", "--tag", "team:vision", "--optimizer", "adam")
    assert rc == 0 and [s["id"] for s in json.loads(out)["sessions"]] == [a["id"]]
    rc, out, _ = cli(daemon, "--json", "sessions", "set", a["id"], "--status", "finished", "--name", "a & b?")
    assert rc == 0 and json.loads(out)["status"] == "finished" and json.loads(out)["name"] == "a & b?"
    rc, out, _ = cli(daemon, "--json", "sessions", "ls", "--status", "finished", "--name", "a & b?")
    assert rc == 0 and [s["id"] for s in json.loads(out)["sessions"]] == [a["id"]]
    rc, out, _ = cli(daemon, "--json", "sessions", "ls", "--status", "active", "--optimizer", "sgd")
    assert rc == 0 and [s["id"] for s in json.loads(out)["sessions"]] == [b["id"]]
    rc, _, err = cli(daemon, "sessions", "set", a["id"], "--status", "active")
    assert rc == 1 and "session_closed" in err
    rc, _, err = cli(daemon, "sessions", "ls", "--status", "done")
    assert rc == 1 and "invalid_argument" in err
    for bad in (["sessions", "ls", "--colour", "red"], ["sessions", "ls", "--q"], ["sessions", "set", a["id"]],
                ["sessions", "set", a["id"], "--step", "3"], ["sessions", "set", "a/b", "--name", "x"]):
        rc, _, err = cli(daemon, *bad)
        assert rc == 2, (bad, err)
    rc, out, _ = cli(daemon, "--version")
    assert rc == 0 and out.startswith("optirs ")
