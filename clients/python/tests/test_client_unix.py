"""optirs.Client over a unix socket file: unix:///PATH URLs against a real
optirsd started with --listen unix:PATH.  The URL-driven tests of
test_client.py run again here with this module's `daemon` and `url`
fixtures (the same calls, the other transport); below, what is particular to
the socket file."""
import os
import stat

import numpy as np
import pytest

import optirs
from daemon import Daemon
from test_client import (  # noqa: F401
    test_health_catalogue_and_session_lifecycle, test_json_path_matches_binary_path,
    test_sessions_iterates_every_page, test_update_and_filters, test_step_conflict_carries_expected,
    test_errors_carry_daemon_codes, test_shared_session_with_two_workers,
    test_create_options_adapt_non_finite_divergence)


@pytest.fixture(scope="module")
def daemon():
    d = Daemon("--step-timeout", "10", unix=True).start()
    yield d
    d.cleanup()


@pytest.fixture
def url(daemon):
    assert stat.S_ISSOCK(os.lstat(daemon.sock).st_mode) and daemon.port is None
    return "unix://" + daemon.sock


def test_url_forms():
    assert optirs.Client("unix:///run/optirs/optirs.sock").url == "unix:///run/optirs/optirs.sock"
    for bad in ("unix://run/optirs.sock", "unix:///", "unix:///x.sock?a=1", "unix:relative.sock", "ftp://h/"):
        with pytest.raises(ValueError):
            optirs.Client(bad)


def test_missing_socket_file_is_a_connection_error(tmp_path):
    c = optirs.Client("unix://%s" % (tmp_path / "none.sock"), retries=2, backoff=0.01)
    with pytest.raises(optirs.OptirsError) as e:
        c.optimizers()
    assert e.value.code == "connection_error" and e.value.status == 0


def test_early_answer_is_read_not_taken_for_a_lost_connection(tmp_path):
    # 413 comes from the headers and the daemon closes before the body is in:
    # the send fails (EPIPE) but the client reads the daemon's answer, and a
    # non-idempotent create is not re-sent.
    d = Daemon("--max-json-body", "1024", unix=True).start()
    try:
        c = optirs.Client("unix://" + d.sock, retries=0)
        with pytest.raises(optirs.OptirsError) as e:
            c.create_session("sgd", tensors=[[1]], name="x" * 200000)
        assert (e.value.code, e.value.status) == ("body_too_large", 413)
        s = c.create_session("sgd", tensors=[[2]], hyperparams={"lr": 1.0})
        np.testing.assert_array_equal(s.step(np.ones(2, np.float32)), -np.ones(2, np.float32))
    finally:
        d.cleanup()
