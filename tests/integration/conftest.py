import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Daemon  # noqa: E402


@pytest.fixture
def daemon():
    d = Daemon().start()
    yield d
    d.cleanup()


@pytest.fixture
def make_daemon():
    made = []

    def make(*flags, **kw):
        d = Daemon(*flags, **kw)
        made.append(d)
        return d
    yield make
    for d in made:
        d.cleanup()
