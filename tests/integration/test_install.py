"""The Python client installs the Debian-12 way and works from outside the
repository: a fresh venv with --system-site-packages (Debian's python3-venv;
torch, numpy, setuptools and wheel come from Debian), then
`pip install --no-index --no-build-isolation clients/python` — nothing is
downloaded.  The installed `optirs` and `optirs.torch` are imported with the
working directory in a temporary directory (so the source tree is not on
sys.path), one real step runs against a real daemon and is checked against
torch.optim.Adam from the same start, and the build leaves nothing in the
source tree (no build/, no *.egg-info: the package's build backend builds on
a copy).  These are the commands docs/clients.md shows."""
import json
import os
import shutil
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLIENT = os.path.join(ROOT, "clients", "python")
PY = "/usr/bin/python3"

# Runs in the venv, cwd = a temporary directory; prints one JSON line.
STEP_SCRIPT = r"""
import json, os, sys
import torch
import optirs, optirs.torch
from optirs.torch import RemoteOptimizer

torch.manual_seed(0)
model = torch.nn.Linear(3, 2)
twin = torch.nn.Linear(3, 2)
twin.load_state_dict(model.state_dict())
x = torch.randn(4, 3)
start = [p.detach().clone() for p in model.parameters()]

opt = RemoteOptimizer(model, "adam", lr=0.1)
model(x).pow(2).sum().backward()
opt.step(loss=1.0)
ref = torch.optim.Adam(twin.parameters(), lr=0.1)
twin(x).pow(2).sum().backward()
ref.step()
diff = max((a - b).abs().max().item() for a, b in zip(model.parameters(), twin.parameters()))
moved = min((a - b).abs().min().item() for a, b in zip(model.parameters(), start))
print(json.dumps({"optirs": optirs.__file__, "optirs_torch": optirs.torch.__file__,
                  "prefix": sys.prefix, "path": sys.path, "session": opt.session.id,
                  "diff": diff, "moved": moved}))
"""


def _tree(path):
    """Every file and directory under path, __pycache__ aside."""
    out = set()
    for d, dirs, files in os.walk(path):
        dirs[:] = [x for x in dirs if x != "__pycache__"]
        out.update(os.path.relpath(os.path.join(d, x), path) for x in dirs + files)
    return out


def _run(cmd, cwd, env=None, timeout=300):
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, f"{' '.join(cmd)} failed ({r.returncode}):\n{out[-6000:]}"
    return out


def test_python_client_installs_in_a_venv_and_steps(daemon):
    before = _tree(CLIENT)
    tmp = tempfile.mkdtemp(prefix="optirs-venv-")
    try:
        venv = os.path.join(tmp, "venv")
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_INDEX_URL",
                            "PIP_FIND_LINKS", "OPTIRS_API_KEY")}
        # The commands of docs/clients.md, from the repository's root.
        _run([PY, "-m", "venv", "--system-site-packages", venv], cwd=ROOT, env=env)
        _run([os.path.join(venv, "bin", "pip"), "install", "--no-index", "--no-build-isolation",
              "clients/python"], cwd=ROOT, env=env)

        env["OPTIRS_URL"] = f"http://127.0.0.1:{daemon.port}"
        out = _run([os.path.join(venv, "bin", "python"), "-c", STEP_SCRIPT], cwd=tmp, env=env)
        res = json.loads(out.strip().splitlines()[-1])
        site = os.path.join(os.path.realpath(venv), "lib")
        for mod in ("optirs", "optirs_torch"):
            assert os.path.realpath(res[mod]).startswith(site), (mod, res[mod], res["path"])
        assert not any(os.path.realpath(p or tmp).startswith(ROOT + os.sep) or
                       os.path.realpath(p or tmp) == ROOT for p in res["path"]), res["path"]
        # One real step on this daemon, the same as torch.optim.Adam's.
        assert res["diff"] <= 1e-6 and res["moved"] > 0.05, res
        st, info = daemon.json("GET", f"/v1/sessions/{res['session']}")
        assert st == 200 and info["step"] == 1, info
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    after = _tree(CLIENT)
    debris = sorted(p for p in after if p.split(os.sep)[0] in ("build", "dist")
                    or ".egg-info" in p)
    assert not debris, f"build debris in clients/python: {debris}"
    assert after == before, f"the install added {sorted(after - before)} to clients/python"
    # git agrees (build/ is in .gitignore, hence --ignored).
    git = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all",
                          "clients/python"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL) if shutil.which("git") else None
    if git is not None and git.returncode == 0:        # else not a git checkout
        left = [ln for ln in git.stdout.decode().splitlines()
                if "/build/" in ln or "/dist/" in ln or ".egg-info" in ln]
        assert not left, left
