"""Runs the client libraries' own test suites against the real build/optirsd,
so that `make test` covers them: the Python client (clients/python/tests,
including the torch and Fashion-MNIST tests when torch is installed) and the
Node client (node --test clients/js/test/).  Each suite starts its own
daemons (ephemeral port, temporary database).  The installed package (a venv,
pip): test_install.py."""
import os
import shutil
import subprocess
import sys

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

