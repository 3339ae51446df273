"""optirs.torch.RemoteOptimizer over a unix socket file: the trajectory
test of test_torch.py again, with a daemon on --listen unix:PATH (skipped,
like test_torch.py, when torch is not installed)."""
import pytest

from daemon import Daemon
from test_torch import test_remote_adam_trajectory_matches_torch_adam  # noqa: F401


@pytest.fixture(scope="module")
def daemon():
    d = Daemon("--step-timeout", "10", unix=True).start()
    yield d
    d.cleanup()


@pytest.fixture
def url(daemon):
    return "unix://" + daemon.sock
