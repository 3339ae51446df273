"""Issue 13, findings 2 and 3: the auth state is one decision (once a key has
existed the daemon never serves open again; a non-loopback listener is never
open without --allow-open), and rate limits are keyed by the full key id (a
bogus key whose id shares the real key's auth-cache slot does not refill the
real key's bucket)."""
import json
import secrets
import subprocess
import time

from daemon import OPTIRSD, Daemon


def keys_cli(db, *args):
    r = subprocess.run([OPTIRSD, "keys", *args, "--db", db], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().strip()


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def code(body):
    return json.loads(body)["error"]["code"]


class AnyAddressDaemon(Daemon):
    """A daemon listening on 0.0.0.0 (not a loopback address), reached over
    127.0.0.1."""

    def start(self, timeout=20):
        self.log = open(f"{self.dir}/stderr.log", "ab")
        self.proc = subprocess.Popen([OPTIRSD, "--db", self.db, "--threads", "4", *self.flags,
                                      "--listen", "0.0.0.0:0"], stdout=subprocess.PIPE, stderr=self.log)
        first = self.proc.stdout.readline().decode()
        assert first.startswith("listening on http://0.0.0.0:"), first
        self.port = int(first.strip().rsplit(":", 1)[1])
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.request("GET", "/readyz", fresh=True)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("optirsd did not become ready")


def revoke_the_only_key(d, key):
    key_id = key[3:19]
    st, body = d.json("DELETE", f"/v1/keys/{key_id}", headers=auth(key))
    assert st == 200 and body["revoked"] is True
    time.sleep(1.2)  # the reproduction: open mode used to be re-derived after a second


def assert_closed(d):
    st, h, body = d.request("POST", "/v1/keys", {"tenant": "mallory", "admin": True}, fresh=True)
    assert st == 401 and code(body) == "unauthorized", body
    st, h, body = d.request("GET", "/v1/sessions", fresh=True)
    assert st == 401
    assert d.request("GET", "/livez", fresh=True)[0] == 200


def test_revoking_the_last_key_on_a_non_loopback_address_leaves_it_closed(tmp_path):
    d = AnyAddressDaemon(tmpdir=str(tmp_path))
    try:
        key = keys_cli(d.db, "create", "--tenant", "ops", "--admin")
        d.start()
        assert d.json("GET", "/v1/sessions", headers=auth(key))[0] == 200
        revoke_the_only_key(d, key)
        assert_closed(d)
        # A restart reads the durable fact: still closed, and it starts at all
        # (no key is active, but one has existed).
        d.stop()
        d.start()
        assert_closed(d)
        d.stop()
        assert b"every API key is revoked" in open(f"{d.dir}/stderr.log", "rb").read()
    finally:
        d.cleanup()


def test_allow_open_does_not_reopen_a_daemon_that_had_keys(tmp_path):
    d = AnyAddressDaemon("--allow-open", "1", tmpdir=str(tmp_path))
    try:
        d.start()
        # Never had a key, --allow-open 1: open, as documented.
        st, k = d.json("POST", "/v1/keys", {"tenant": "ops", "admin": True})
        assert st == 201
        # The first key closes it; revoking that key does not reopen it.
        assert d.json("GET", "/v1/sessions")[0] == 401
        revoke_the_only_key(d, k["key"])
        assert_closed(d)
    finally:
        d.cleanup()


def test_revoking_the_last_key_on_loopback_stays_closed_across_restarts(make_daemon):
    d = make_daemon()
    key = keys_cli(d.db, "create", "--tenant", "ops", "--admin")
    d.start()
    revoke_the_only_key(d, key)
    assert_closed(d)
    d.stop()
    d.start()
    assert_closed(d)
    # Recovery is the documented one: a key created with the CLI.
    fresh = keys_cli(d.db, "create", "--tenant", "ops", "--admin")
    st, k = d.json("POST", "/v1/keys", {"tenant": "alice"}, headers=auth(fresh))
    assert st == 201 and k["tenant"] == "alice"


def old_cache_slot(key_id):
    """The auth-cache slot of a key id (FNV-1a % 1024), where the token bucket
    used to live."""
    h = 2166136261
    for ch in key_id.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h % 1024


def colliding_bogus_key(real_key):
    real_id = real_key[3:19]
    want = old_cache_slot(real_id)
    while True:
        bogus_id = secrets.token_hex(8)
        if bogus_id != real_id and old_cache_slot(bogus_id) == want:
            return f"ok_{bogus_id}_{secrets.token_hex(24)}"


def test_a_colliding_bogus_key_does_not_refill_the_real_keys_bucket(make_daemon):
    d = make_daemon("--rate-limit", "0.001", "--rate-burst", "3")
    key = keys_cli(d.db, "create", "--tenant", "ops", "--admin")
    d.start()
    for _ in range(3):
        assert d.request("GET", "/v1/sessions", headers=auth(key), fresh=True)[0] == 200
    bogus = colliding_bogus_key(key)
    for _ in range(5):
        st, h, body = d.request("GET", "/v1/sessions", headers=auth(bogus), fresh=True)
        assert st == 401 and code(body) == "unauthorized"
        st, h, body = d.request("GET", "/v1/sessions", headers=auth(key), fresh=True)
        assert st == 429 and code(body) == "rate_limited" and int(h["retry-after"]) >= 1


def test_two_real_keys_in_one_cache_slot_keep_their_own_buckets(make_daemon):
    d = make_daemon("--rate-limit", "0.001", "--rate-burst", "2")
    # Keys until two share a slot of the old cache (1024 slots: ~40 keys).
    seen = {}
    while True:
        key = keys_cli(d.db, "create", "--tenant", "t")
        slot = old_cache_slot(key[3:19])
        if slot in seen:
            a, b = seen[slot], key
            break
        seen[slot] = key
    d.start()
    for key in (a, b):
        for _ in range(2):
            assert d.request("GET", "/v1/sessions", headers=auth(key), fresh=True)[0] == 200
    for _ in range(3):
        for key in (a, b):
            assert d.request("GET", "/v1/sessions", headers=auth(key), fresh=True)[0] == 429
