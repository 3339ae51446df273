"""The shipped sharding front (deploy/nginx/nginx.conf, the ConfigMap of
deploy/kustomization.yaml) in front of three real optirsd on loopback.

Checks: every session lives on exactly one daemon (asked directly), all of
its requests through nginx reach that daemon, a retried create (same
Idempotency-Key) reaches the same daemon, and a session survives its
daemon's restart (SIGTERM, restart on the same port and database) while
nginx keeps routing to it.  nginx is Debian's package; the config is the
shipped file with only the lines marked "(rendered by the test)" replaced."""
import os
import re
import struct
import time
import uuid

import pytest

from daemon import ROOT, Daemon
from nginx_front import CONF, NGINX, Front

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian package nginx; make deps)")


@pytest.fixture
def shards():
    ds = [Daemon().start() for _ in range(3)]
    front = None
    try:
        front = Front(ds)
        yield front, ds
    finally:
        if front:
            front.stop()
        for d in ds:
            d.cleanup()


def create(front, n, key=None):
    import json
    body = json.dumps({"optimizer": "sgd", "hyperparams": {"lr": 0.5}, "tensors": [{"shape": [n]}],
                       "params": [1.0] * n, "name": "routed"}).encode()
    h = {"Content-Type": "application/json", "Idempotency-Key": key or uuid.uuid4().hex}
    st, hd, data = front.request("POST", "/v1/sessions", body, h)
    assert st == 201, data
    return json.loads(data), hd


def step(front, sid, k, grads, retry_502=False):
    """A binary step through nginx; returns (status, update).  With
    retry_502, answers 502/503/504 (daemon restarting) are re-sent with the
    same k, at most 200 times (bounded; no timing assertion)."""
    body = struct.pack("<%df" % len(grads), *grads)
    h = {"Content-Type": "application/octet-stream", "Accept": "application/octet-stream", "X-Optirs-Step": str(k)}
    for _ in range(200):
        try:
            st, hd, data = front.request("POST", "/v1/sessions/%s/step" % sid, body, h)
        except OSError:
            st, hd, data = 0, {}, b""
        if retry_502 and st in (0, 502, 503, 504):
            time.sleep(0.05)
            continue
        if st != 200:
            return st, data
        assert hd["x-optirs-step"] == str(k)
        return st, list(struct.unpack("<%df" % (len(data) // 4), data))
    raise AssertionError("step %d never answered" % k)


def holders(ds, sid):
    """Indexes of the daemons that have session sid, asked directly."""
    out = []
    for i, d in enumerate(ds):
        st, body = d.json("GET", "/v1/sessions/" + sid)
        assert st in (200, 404), (st, body)
        if st == 200:
            out.append((i, body))
        else:
            assert body["error"]["code"] == "session_not_found"
    return out


def test_manifests_match_the_proxy_config():
    """The ConfigMap is this file; one upstream server per StatefulSet pod,
    each a per-pod Service; one volume per pod; a headless Service."""
    import yaml
    with open(os.path.join(ROOT, "deploy", "kustomization.yaml")) as f:
        k = yaml.safe_load(f)
    gen = [g for g in k["configMapGenerator"] if g["name"] == "optirs-nginx"][0]
    assert gen["files"] == ["nginx/nginx.conf"]
    with open(os.path.join(ROOT, "deploy", "k8s", "optirsd.yaml")) as f:
        docs = list(yaml.safe_load_all(f))
    sts = [d for d in docs if d["kind"] == "StatefulSet"][0]
    svcs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    assert svcs[sts["spec"]["serviceName"]]["spec"]["clusterIP"] == "None"
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] == ["ReadWriteOnce"]
    args = sts["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--db") + 1].startswith("/var/lib/optirs/")
    with open(CONF) as f:
        servers = re.findall(r"^\s*server\s+(\S+):8080\s+max_fails=0;", f.read(), re.M)
    n = sts["spec"]["replicas"]
    assert servers == ["optirs-%d" % i for i in range(n)]
    for i in range(n):
        sel = svcs["optirs-%d" % i]["spec"]["selector"]
        assert sel["statefulset.kubernetes.io/pod-name"] == "optirs-%d" % i


def test_manifests_give_the_shards_the_cluster_database():
    """The PostgreSQL piece: a StatefulSet with a volume and a Service, the
    Secret the shards read --cluster-db (and libpq's PGPASSWORD) from, and each
    shard advertised at its per-pod Service."""
    import yaml
    with open(os.path.join(ROOT, "deploy", "kustomization.yaml")) as f:
        assert "k8s/postgres.yaml" in yaml.safe_load(f)["resources"]
    with open(os.path.join(ROOT, "deploy", "k8s", "postgres.yaml")) as f:
        pg = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(f)}
    secret = pg[("Secret", "optirs-cluster-db")]["stringData"]
    assert "@optirs-pg:5432/" in secret["dsn"] and ":" not in secret["dsn"].split("//")[1].split("@")[0]
    sts = pg[("StatefulSet", "optirs-pg")]
    assert sts["spec"]["replicas"] == 1 and sts["spec"]["volumeClaimTemplates"]
    port = pg[("Service", "optirs-pg")]["spec"]["ports"][0]
    assert port["port"] == 5432 and port["targetPort"] == "postgres"
    with open(os.path.join(ROOT, "deploy", "k8s", "optirsd.yaml")) as f:
        shard = [d for d in yaml.safe_load_all(f) if d["kind"] == "StatefulSet"][0]
    c = shard["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in c["env"]}
    var = c["args"][c["args"].index("--cluster-db") + 1]
    assert var.startswith("$(") and env[var[2:-1]]["valueFrom"]["secretKeyRef"] == {"name": "optirs-cluster-db",
                                                                                   "key": "dsn"}
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "password"
    assert c["args"][c["args"].index("--cluster-advertise") + 1] == "$(POD_NAME):8080"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_sessions_are_pinned_to_one_daemon_and_survive_its_restart(shards):
    front, ds = shards
    n = 4
    grads = [0.5, -1.0, 2.0, 0.25]
    params = {}
    sessions = []
    for _ in range(12):
        s, _ = create(front, n)
        sessions.append(s["id"])
        params[s["id"]] = [1.0] * n
    for k in range(1, 6):
        for sid in sessions:
            st, u = step(front, sid, k, grads)
            assert st == 200, u
            params[sid] = [struct.unpack("<f", struct.pack("<f", p + x))[0] for p, x in zip(params[sid], u)]
    where = {}
    for sid in sessions:
        h = holders(ds, sid)
        assert len(h) == 1, (sid, h)
        i, desc = h[0]
        assert desc["step"] == 5
        where[sid] = i
    # 12 creates spread over the ring (all on one daemon: probability 3^-11)
    assert len(set(where.values())) >= 2, where

    # restart the daemon holding the most sessions
    victim = max(range(3), key=lambda i: sum(1 for v in where.values() if v == i))
    moved = [sid for sid, i in where.items() if i == victim]
    d = ds[victim]
    port, ddir, db = d.port, d.dir, d.db
    assert d.stop() == 0
    # while it is down nginx says 502 (never 404: no other daemon may claim it)
    st, data = step(front, moved[0], 6, grads)
    assert st == 502, (st, data)
    d2 = Daemon("--listen", "127.0.0.1:%d" % port, tmpdir=ddir, db=db)
    ds[victim] = d2
    d.own_dir = False              # d2 owns (and cleans) the directory now
    d2.own_dir = True
    d2.start()
    assert d2.port == port
    for k in range(6, 9):
        for sid in sessions:
            st, u = step(front, sid, k, grads, retry_502=True)
            assert st == 200, (sid, k, u)
            params[sid] = [struct.unpack("<f", struct.pack("<f", p + x))[0] for p, x in zip(params[sid], u)]
    for sid in sessions:
        h = holders(ds, sid)
        assert len(h) == 1 and h[0][0] == where[sid] and h[0][1]["step"] == 8, (sid, h)
        st, body = ds[where[sid]].json("GET", "/v1/sessions/%s/params" % sid)
        assert body["params"] == params[sid]
        assert body["params"] == [1.0 - 8 * 0.25, 1.0 + 8 * 0.5, 1.0 - 8 * 1.0, 1.0 - 8 * 0.125]


def test_retried_create_reaches_the_same_daemon(shards):
    front, ds = shards
    key = uuid.uuid4().hex
    a, _ = create(front, 2, key=key)
    b, hd = create(front, 2, key=key)
    assert a["id"] == b["id"] and hd.get("idempotent-replayed") == "true"
    assert len(holders(ds, a["id"])) == 1


def test_unknown_session_is_404_after_asking_every_daemon(shards):
    front, ds = shards
    st, hd, data = front.request("GET", "/v1/sessions/00000000-0000-4000-8000-000000000000")
    assert st == 404 and b"session_not_found" in data
    st, hd, data = front.request("GET", "/v1/optimizers")
    assert st == 200
