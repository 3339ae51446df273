"""The C client (clients/c) against a real optirsd: the C test program
clients/c/tests/test_client.c does the checking and exits non-zero on any
failure; this file starts the daemon (and a proxy that loses answers) and
builds the program with clients/c/client.mk."""
import os
import shutil
import subprocess
import sys

import pytest

from daemon import ROOT, OPTIRSD

sys.path.insert(0, os.path.join(ROOT, "clients", "python", "tests"))
from dropproxy import DropProxy  # noqa: E402

BUILD = os.path.dirname(OPTIRSD)
TEST_BIN = os.path.join(BUILD, "clients", "c", "test_client")
EXAMPLE_BIN = os.path.join(BUILD, "clients", "c", "step_loop")


@pytest.fixture(scope="module", autouse=True)
def built():
    subprocess.run(["make", "-s", "-f", "clients/c/client.mk", "BUILD=" + BUILD, "c-client"],
                   cwd=ROOT, check=True)


def run(*args, env=None, timeout=60):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    return p.returncode, p.stdout, p.stderr


def test_c_client_every_call(daemon):
    rc, out, err = run(TEST_BIN, "basic", "http://127.0.0.1:%d" % daemon.port)
    assert rc == 0, out + err
    assert out.strip().endswith(" 0 failed"), out
    assert int(out.split()[-4]) >= 50, out      # "N passed, 0 failed"


def test_c_client_compact_dtypes(daemon):
    rc, out, err = run(TEST_BIN, "dtype", "http://127.0.0.1:%d" % daemon.port)
    assert rc == 0, out + err
    assert out.strip().endswith(" 0 failed"), out


def test_c_client_retries_lost_answers_without_applying_twice(daemon):
    proxy = DropProxy(daemon.port)
    try:
        proxy.drop = 2          # the create's answer and step 1's answer are lost
        rc, out, err = run(TEST_BIN, "retry", proxy.url, "http://127.0.0.1:%d" % daemon.port)
        assert rc == 0, out + err
        assert proxy.dropped == 2
    finally:
        proxy.close()
    sid = [l.split()[1] for l in out.splitlines() if l.startswith("session ")][0]
    st, desc = daemon.json("GET", "/v1/sessions/" + sid)
    assert st == 200 and desc["step"] == 3


def test_c_example_converges(daemon):
    rc, out, err = run(EXAMPLE_BIN, env={"OPTIRS_URL": "http://127.0.0.1:%d" % daemon.port})
    assert rc == 0, out + err
    w = [float(x) for x in out.split("w = [")[1].split("]")[0].split()]
    assert w == pytest.approx([1.0, -2.0, 0.5, 3.0], abs=1e-2)


@pytest.mark.skipif(shutil.which("g++") is None, reason="no C++ compiler (g++) installed")
def test_header_is_usable_from_cpp(tmp_path):
    src = tmp_path / "use.cpp"
    src.write_text(
        '#include "optirs_client.h"\n'
        "#include <cstring>\n"
        "int main() {\n"
        "  optirs_client *c = nullptr;\n"
        '  if (optirs_client_new("http://127.0.0.1:1", nullptr, &c) != OPTIRS_OK) return 1;\n'
        "  optirs_client_set_retry(c, 0, 0.0, 0.0);\n"
        "  cJSON *j = nullptr;\n"
        "  int rc = optirs_optimizers(c, &j);\n"
        '  int ok = rc == OPTIRS_E_CONNECT && std::strcmp(optirs_client_error(c)->code, "connection_error") == 0;\n'
        "  optirs_client_free(c);\n"
        "  return ok ? 0 : 2;\n"
        "}\n")
    exe = tmp_path / "use"
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libcurl", "libcjson"],
                           capture_output=True, text=True).stdout.split()
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-I" + os.path.join(ROOT, "clients", "c"),
                    str(src), os.path.join(BUILD, "liboptirs_client.a"), "-o", str(exe)] + flags + ["-lcurl", "-lcjson"],
                   check=True)
    assert subprocess.run([str(exe)]).returncode == 0


def test_c_client_every_call_over_a_unix_socket(make_daemon):
    d = make_daemon(unix=True).start()
    rc, out, err = run(TEST_BIN, "basic", d.url)
    assert d.url.startswith("unix:///")
    assert rc == 0, out + err
    assert out.strip().endswith(" 0 failed"), out
    assert int(out.split()[-4]) >= 50, out


def test_c_client_unix_urls_and_an_early_answer(make_daemon):
    d = make_daemon("--max-json-body", "1024", unix=True).start()
    rc, out, err = run(TEST_BIN, "unix", d.url)
    assert rc == 0, out + err
    assert out.strip().endswith(" 0 failed") and int(out.split()[-4]) >= 10, out


def test_c_example_over_a_unix_socket(make_daemon):
    d = make_daemon(unix=True).start()
    rc, out, err = run(EXAMPLE_BIN, env={"OPTIRS_URL": d.url})
    assert rc == 0, out + err
    w = [float(x) for x in out.split("w = [")[1].split("]")[0].split()]
    assert w == pytest.approx([1.0, -2.0, 0.5, 3.0], abs=1e-2)
