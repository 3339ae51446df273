"""Runs the client libraries' own test suites against the real build/optirsd,
so that `make test` covers them: the Python client (clients/python/tests,
including the torch and Fashion-MNIST tests when torch is installed) and the
Node client (node --test clients/js/test/).  Each suite starts its own
daemons (ephemeral port, temporary database)."""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPTIRSD = os.environ.get("OPTIRSD", os.path.join(ROOT, "build", "optirsd"))


def _run(cmd, timeout):
    env = dict(os.environ, OPTIRSD=OPTIRSD)
    env.pop("OPTIRS_URL", None)
    r = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    out = r.stdout.decode("utf-8", "replace")
    print(out[-6000:])
    return r.returncode, out


def test_python_client_suite():
    rc, out = _run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                    "clients/python/tests"], timeout=600)
    assert rc == 0, out[-6000:]
    assert " passed" in out and " failed" not in out


def test_node_client_suite():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    rc, out = _run([node, "--test", "clients/js/test/"], timeout=300)
    assert rc == 0, out[-6000:]
    assert "# fail 0" in out


def test_python_client_installs_with_pip():
    """`pip install ./clients/python` works offline (Debian's setuptools, no
    build isolation) and the installed package imports on its own."""
    tmp = tempfile.mkdtemp(prefix="optirs-pip-")
    try:
        src = os.path.join(tmp, "src")
        shutil.copytree(os.path.join(ROOT, "clients", "python"), src,
                        ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
        target = os.path.join(tmp, "site")
        r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation",
                            "--no-index", "--no-deps", "--target", target, src],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0 and b"No module named pip" in r.stdout:
            pytest.skip("pip is not installed")
        assert r.returncode == 0, r.stdout.decode()
        r = subprocess.run([sys.executable, "-c",
                            "import optirs, sys; print(optirs.__file__); print(optirs.Client().url)"],
                           cwd=tmp, env=dict(os.environ, PYTHONPATH=target, OPTIRS_URL="http://h:1"),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = r.stdout.decode()
        assert r.returncode == 0, out
        assert out.splitlines()[0].startswith(target) and out.splitlines()[1] == "http://h:1"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
