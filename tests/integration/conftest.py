import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Daemon  # noqa: E402


def _defaults(request):
    """Daemon keyword defaults of the requesting test module: a module that
    sets DAEMON_UNIX = True (test_unix_socket.py) gets every daemon on a unix
    socket file, the tests it imports from other modules included."""
    return {"unix": True} if getattr(request.module, "DAEMON_UNIX", False) else {}


@pytest.fixture
def daemon(request):
    d = Daemon(**_defaults(request)).start()
    yield d
    d.cleanup()


@pytest.fixture
def make_daemon(request):
    made = []
    defaults = _defaults(request)

    def make(*flags, **kw):
        d = Daemon(*flags, **{**defaults, **kw})
        made.append(d)
        return d
    yield make
    for d in made:
        d.cleanup()
