"""Three daemons sharing one PostgreSQL (--cluster-db) behind the shipped
nginx consistent-hash front (deploy/nginx/nginx.conf, rendered for the
test's ports by nginx_front.py; a throwaway PostgreSQL from pg_cluster.py).

Checks: a key created through the front works on every shard and its
revocation (through the front) is refused by every shard within a second;
sessions created through the front land on different shards, each on one;
`GET /v1/sessions` through the front — each page answered by whichever
shard nginx picks — lists the cluster's sessions from the session index,
every one exactly once, each with the shard that holds it, a tenant's key
seeing its tenant's only; a deleted session leaves the index; a shard whose
index rows were lost gets them back when it starts (the reconcile); without
PostgreSQL the cluster list answers 503 while `scope=local` still lists the
shard.  docs/operations.md, "A cluster of daemons"."""
import json
import uuid

import pytest

from daemon import Daemon
from nginx_front import NGINX, Front
from pg_cluster import PG_USER, auth, pg, pg_run, wait_until  # noqa: F401 (pg is a fixture)

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian package nginx; make deps)")


def fjson(front, method, path, body=None, key=None):
    h = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
    if key:
        h.update(auth(key))
    st, _, data = front.request(method, path, json.dumps(body).encode() if body is not None else None, h)
    return st, (json.loads(data) if data else None)


def listing(front, key, limit):
    """Every page of GET /v1/sessions through the front: the items in order, and the page count."""
    items, tok, pages = [], None, 0
    while True:
        path = "/v1/sessions?limit=%d" % limit + ("&page_token=" + tok if tok else "")
        st, body = fjson(front, "GET", path, key=key)
        assert st == 200, body
        pages += 1
        assert len(body["sessions"]) <= limit
        items += body["sessions"]
        tok = body["next_page_token"]
        if tok is None:
            return items, pages
        assert pages < 100, "the pages do not end"


def test_a_cluster_behind_the_front(make_daemon, pg):
    ds = [make_daemon("--cluster-db", pg.uri).start() for _ in range(3)]
    shard_of = {"127.0.0.1:%d" % d.port: i for i, d in enumerate(ds)}
    front = Front(ds)
    try:
        # A session made in open mode (no key yet) is indexed too.
        spec = {"optimizer": "sgd", "tensors": [{"shape": [2]}]}
        st, early = fjson(front, "POST", "/v1/sessions", spec)
        assert st == 201, early
        early_at = [j for j, d in enumerate(ds) if d.request("GET", "/v1/sessions/" + early["id"], fresh=True)[0] == 200]
        assert len(early_at) == 1
        early_tenant = ds[early_at[0]].json("GET", "/v1/sessions/" + early["id"])[1].get("tenant", "")

        # Keys through the front: the first (admin) one closes every shard.
        st, admin = fjson(front, "POST", "/v1/keys", {"tenant": "ops", "admin": True})
        assert st == 201, admin
        admin = admin["key"]
        st, alice = fjson(front, "POST", "/v1/keys", {"tenant": "alice"}, key=admin)
        assert st == 201, alice
        st, bob = fjson(front, "POST", "/v1/keys", {"tenant": "bob"}, key=admin)
        assert st == 201, bob
        local = "/v1/sessions?scope=local"
        bogus = "ok_" + "0" * 16 + "_" + "0" * 48
        for d in ds:
            # Open mode lets any key in: wait for the bogus key's refusal (the shard is closed).
            assert wait_until(lambda d=d: d.request("GET", local, headers=auth(bogus), fresh=True)[0] == 401, 5)
            assert d.request("GET", local, fresh=True)[0] == 401
            for who in (alice, bob):
                assert wait_until(lambda d=d, w=who: d.request("GET", local, headers=auth(w["key"]),
                                                               fresh=True)[0] == 200, 5)

        # Sessions through the front: each on one shard, not all on the same one.
        made = {early["id"]: (early_at[0], early_tenant)}
        for i in range(12):
            who = alice if i % 3 else bob
            st, s = fjson(front, "POST", "/v1/sessions", spec, key=who["key"])
            assert st == 201, s
            held = [j for j, d in enumerate(ds)
                    if d.request("GET", "/v1/sessions/" + s["id"], headers=auth(admin), fresh=True)[0] == 200]
            assert len(held) == 1, held
            made[s["id"]] = (held[0], who["tenant"])
            st, _ = fjson(front, "POST", "/v1/sessions/%s/step" % s["id"], {"step": 1, "grads": [1, 1]},
                          key=who["key"])
            assert st == 200
        assert len({h for h, _ in made.values()}) > 1, "every session landed on one shard"

        # The cluster's list through the front, in pages answered by any shard.
        assert wait_until(lambda: len(listing(front, admin, 1000)[0]) == len(made), 5)
        items, pages = listing(front, admin, 5)
        assert pages >= 3
        ids = [it["id"] for it in items]
        assert len(ids) == len(set(ids)) and set(ids) == set(made), "not every session exactly once"
        assert ids == sorted(ids)
        for it in items:
            assert shard_of[it["shard"]] == made[it["id"]][0], it
            assert it["tenant"] == made[it["id"]][1]
        # A tenant's key lists its tenant's sessions only (the filter is in SQL).
        mine, _ = listing(front, bob["key"], 2)
        assert sorted(it["id"] for it in mine) == sorted(i for i, (_, t) in made.items() if t == "bob")
        # Filters that need a session's state are refused in the cluster list; scope=local has them.
        st, body = fjson(front, "GET", "/v1/sessions?status=active", key=admin)
        assert st == 400 and body["error"]["code"] == "invalid_argument"
        st, body = fjson(front, "GET", "/v1/sessions?page_token=bogus", key=admin)
        assert st == 400 and body["error"]["code"] == "invalid_argument"
        st, body = ds[0].json("GET", local + "&status=active", headers=auth(admin))
        assert st == 200 and {s["id"] for s in body["sessions"]} == {i for i, (h, _) in made.items() if h == 0}

        # A deleted session leaves the index.
        gone = ids[0]
        assert fjson(front, "DELETE", "/v1/sessions/" + gone, key=admin)[0] == 200
        del made[gone]
        assert wait_until(lambda: gone not in {it["id"] for it in listing(front, admin, 1000)[0]}, 5)

        # The revocation of a key made through the front reaches every shard within a second.
        assert fjson(front, "DELETE", "/v1/keys/" + alice["id"], key=admin)[0] == 200
        for d in ds:
            assert wait_until(lambda d=d: d.request("GET", local, headers=auth(alice["key"]), fresh=True)[0] == 401, 1.0)
        assert fjson(front, "GET", "/v1/sessions", key=alice["key"])[0] == 401

        # A shard's index rows lost (as if its writes had been): its restart reconciles them.
        k = max(range(3), key=lambda j: sum(1 for h, _ in made.values() if h == j))
        victim = ds[k]
        port = victim.port
        victim.stop()
        r = pg_run("psql", "-h", pg.dir, "-U", PG_USER, "-d", "postgres", "-c",
                   "DELETE FROM optirs_sessions WHERE shard = '127.0.0.1:%d'" % port)
        assert r.returncode == 0, r.stderr
        assert {it["id"] for it in listing(front, admin, 1000)[0]} == {i for i, (h, _) in made.items() if h != k}
        ds[k] = make_daemon("--cluster-db", pg.uri, "--listen", "127.0.0.1:%d" % port, tmpdir=victim.dir,
                            db=victim.db).start()
        items, _ = listing(front, admin, 4)
        assert sorted(it["id"] for it in items) == sorted(made)

        # PostgreSQL gone: the cluster list answers 503; a shard's own list still answers.
        pg.kill()
        st, body = fjson(front, "GET", "/v1/sessions", key=admin)
        assert st == 503 and body["error"]["code"] == "cluster_db_unavailable", body
        st, body = ds[k].json("GET", local, headers=auth(admin))
        assert st == 200 and {s["id"] for s in body["sessions"]} == {i for i, (h, _) in made.items() if h == k}
        # Creates and steps go on without it (the keys last read are within their grace) …
        st, late = fjson(front, "POST", "/v1/sessions", spec, key=admin)
        assert st == 201, late
        assert fjson(front, "POST", "/v1/sessions/%s/step" % late["id"], {"step": 1, "grads": [1, 1]}, key=admin)[0] == 200
        late_at = [j for j, d in enumerate(ds)
                   if d.request("GET", "/v1/sessions/" + late["id"], headers=auth(admin), fresh=True)[0] == 200]
        made[late["id"]] = (late_at[0], "ops")
        # … and once PostgreSQL is back, the index catches up (the reconcile after reconnecting).
        pg.start()
        assert wait_until(lambda: fjson(front, "GET", "/v1/sessions?limit=1", key=admin)[0] == 200, 20)
        assert wait_until(lambda: sorted(it["id"] for it in listing(front, admin, 1000)[0]) == sorted(made), 20)
        items, _ = listing(front, admin, 3)
        assert sorted(it["id"] for it in items) == sorted(made)
        assert all(shard_of[it["shard"]] == made[it["id"]][0] for it in items)
    finally:
        front.stop()
