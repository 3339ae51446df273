"""The dashboard (GET /), end to end in headless Chromium.

Starts two real daemons (one open, one with an API key), creates sessions
and steps them with losses over HTTP, runs a short meta-training job, then
makes a study with hostile names, runs tests/e2e/dashboard.mjs (playwright-core driving Debian's chromium),
which checks the page against the API and saves build/artifacts/dashboard.png.
Needs `npm ci` in tests/e2e (make e2e-deps) and a built dashboard/dist/index.html
(committed; make dashboard rebuilds it).  Skips only when node or chromium is
missing."""
import json
import math
import os
import shutil
import subprocess
import time

import pytest

from daemon import OPTIRSD, ROOT, Daemon

CHROMIUM = os.environ.get("OPTIRS_CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which("node")
E2E = os.path.join(ROOT, "tests", "e2e")
PAGE = os.path.join(ROOT, "dashboard", "dist", "index.html")
SHOT = os.path.join(ROOT, "build", "artifacts", "dashboard.png")
A = [0.5 + 0.1 * i for i in range(8)]   # a diagonal quadratic 0.5 sum a_i x_i^2
with open(os.path.join(ROOT, "tests", "fixtures", "trend_curves.json")) as _f:
    REAL = json.load(_f)                 # real minibatch loss curves, gen_trend_curves.py

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed (Debian package nodejs)"),
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} is missing (Debian package chromium)"),
]


def step_quadratic(d, sid, steps, headers=None):
    """Adam on the quadratic: the reported loss falls."""
    x = [1.0] * len(A)
    for k in range(1, steps + 1):
        loss = 0.5 * sum(a * v * v for a, v in zip(A, x))
        st, _, body = d.request("POST", f"/v1/sessions/{sid}/step",
                                {"step": k, "grads": [a * v for a, v in zip(A, x)], "loss": loss}, headers)
        assert st == 200, body
        x = [v + u for v, u in zip(x, json.loads(body)["update"])]


def step_rising(d, sid, steps):
    """Reported losses that climb steadily: the tracker calls it diverging."""
    for k in range(1, steps + 1):
        st, body = d.step(sid, k, [0.01] * len(A), loss=1.0 + 0.05 * k)
        assert st == 200, body


def test_dashboard_end_to_end(make_daemon, tmp_path):
    assert os.path.exists(PAGE), "dashboard/dist/index.html is missing: run `make dashboard`"
    if not os.path.isdir(os.path.join(E2E, "node_modules", "playwright-core")):
        pytest.fail("playwright-core is not installed: run `npm ci --prefix tests/e2e` (make e2e-deps)")
    tensors = [{"name": "w", "shape": [len(A)]}]

    d = make_daemon().start()
    a = d.create(optimizer="adam", name="adam-falls", hyperparams={"lr": 0.05}, tensors=tensors,
                 tags={"exp": "falls"})["id"]
    b = d.create(optimizer="sgd", name="sgd-rises", hyperparams={"lr": 0.01}, tensors=tensors,
                 tags={"exp": "rises"})["id"]
    step_quadratic(d, a, 60)
    step_rising(d, b, 60)
    for k in (20, 40, 60):   # validation figures for the feedback chart
        st, body = d.json("POST", f"/v1/sessions/{a}/feedback",
                          {"step": k, "loss": 1.0 / k, "metrics": {"val_acc": 0.5 + k / 200}})
        assert st == 200, body
    st, body = d.json("PATCH", f"/v1/sessions/{b}", {"status": "finished"})
    assert st == 200, body
    # steps without a loss: the page must say "no loss sent"
    nl = d.create(optimizer="sgd", name="no-loss", hyperparams={"lr": 0.01}, tensors=tensors)["id"]
    for k in range(1, 11):
        st, body = d.step(nl, k, [0.01] * len(A))
        assert st == 200, body
    # real minibatch training curves (tests/fixtures/gen_trend_curves.py); the
    # least-squares fit used before called linreg_sgd's last 200 steps "diverging"
    real = []
    for run in REAL["runs"]:
        sid = d.create(optimizer="adam", name=f"real-{run['label']}", hyperparams={"lr": 0.003},
                       tensors=tensors)["id"]
        for k, loss in enumerate(run["loss"], 1):
            st, body = d.step(sid, k, [0.01] * len(A), loss=loss)
            assert st == 200, body
        real.append({"id": sid, "label": run["label"], "diverging": run["diverging"]})
    st, job = d.json("POST", "/v1/meta/jobs", {"name": "tiny", "tasks": ["quadratic dim=5"], "particles": 4,
                                                "unroll": 5, "outer_steps": 6, "checkpoint_every": 2,
                                                "estimator": "es"})
    assert st == 202, job
    deadline = time.time() + 30
    while job["status"] not in ("done", "failed") and time.time() < deadline:
        time.sleep(0.05)
        job = d.json("GET", f"/v1/meta/jobs/{job['id']}")[1]
    assert job["status"] == "done", job

    # a study with hostile names (the page must show them as text)
    hostile = {"<img src=x onerror=window.__pwned=1>lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
               "<b>arch</b>": {"type": "categorical", "choices": ["<script>window.__pwned=2</script>", "small"]}}
    st, study = d.json("POST", "/v1/studies", {"name": "<img src=x onerror=window.__pwned=3>", "space": hostile,
                                               "sampler": "random", "pruner": "none", "seed": 4})
    assert st == 201, study
    for n in range(6):
        st, t = d.json("POST", f"/v1/studies/{study['id']}/trials", {})
        assert st == 201, t
        if n == 4:
            assert d.json("POST", f"/v1/studies/{study['id']}/trials/{n}/tell", {"state": "failed"})[0] == 200
            continue
        v = (math.log10(list(t["params"].values())[0]) + 2.5) ** 2
        assert d.json("POST", f"/v1/studies/{study['id']}/trials/{n}/tell", {"value": v})[0] == 200

    # A second daemon with an API key: the page must take the key and poll.
    k = make_daemon()
    r = subprocess.run([OPTIRSD, "keys", "create", "--tenant", "ops", "--admin", "--db", k.db],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    key = r.stdout.decode().strip()
    k.start()
    auth = {"Authorization": f"Bearer {key}"}
    st, _, body = k.request("POST", "/v1/sessions", {"optimizer": "adam", "hyperparams": {"lr": 0.05},
                                                     "tensors": tensors}, auth)
    assert st == 201, body
    ks = json.loads(body)["id"]
    step_quadratic(k, ks, 20, auth)

    os.makedirs(os.path.dirname(SHOT), exist_ok=True)
    if os.path.exists(SHOT):
        os.remove(SHOT)
    cfg = {"url": f"http://127.0.0.1:{d.port}", "sessions": [{"id": a, "dim": len(A)}, {"id": b, "dim": len(A)}],
           "live_session": a, "job_id": job["id"], "study": study["id"], "real": real, "noloss": nl, "screenshot": SHOT, "chromium": CHROMIUM,
           "keyed": {"url": f"http://127.0.0.1:{k.port}", "key": key, "session": ks, "dim": len(A)}}
    path = tmp_path / "e2e.json"
    path.write_text(json.dumps(cfg))
    r = subprocess.run([NODE, os.path.join(E2E, "dashboard.mjs"), str(path)], capture_output=True, timeout=120,
                       cwd=E2E)
    out = r.stdout.decode() + r.stderr.decode()
    print(out)
    assert r.returncode == 0 and "PASS" in r.stdout.decode(), out
    assert os.path.getsize(SHOT) > 10000, "the screenshot is missing or empty"
