"""Fixtures of the Python client tests: a real optirsd on an ephemeral port
with a temporary database (tests/integration/daemon.py), and the client
package imported from this source tree (no install needed)."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.dirname(HERE))                       # clients/python
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))  # daemon.py
sys.path.insert(0, HERE)                                        # dropproxy.py

from daemon import Daemon  # noqa: E402


@pytest.fixture(scope="module")
def daemon():
    d = Daemon("--step-timeout", "10").start()
    yield d
    d.cleanup()


@pytest.fixture
def url(daemon):
    return "http://127.0.0.1:%d" % daemon.port
