"""deploy/monitoring: the Grafana dashboard is valid JSON and the alert rules
valid YAML of Prometheus' rule-file shape, and every metric either names is
one a running daemon exports at GET /metrics (families from its # TYPE
lines: a histogram's _bucket/_sum/_count series count), besides Prometheus'
own `up`."""
import json
import os
import re
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import ROOT  # noqa: E402

MON = os.path.join(ROOT, "deploy", "monitoring")
PROMQL_WORDS = {"sum", "by", "rate", "increase", "histogram_quantile", "max", "min", "avg", "and", "or",
                "unless", "on", "label_values", "count", "without", "humanizePercentage"}


def exported_series(daemon):
    text = daemon.request("GET", "/metrics")[2].decode()
    names = set()
    for fam, kind in re.findall(r"^# TYPE (\w+) (\w+)$", text, re.M):
        names.add(fam)
        if kind == "histogram":
            names |= {fam + "_bucket", fam + "_sum", fam + "_count"}
    return names


def metric_names(expr):
    expr = re.sub(r"\{[^}]*\}", "", expr)          # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)         # ranges
    expr = re.sub(r'"[^"]*"', "", expr)
    words = set(re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*", expr))
    return {w for w in words if w not in PROMQL_WORDS and "_" in w and not w.startswith("__")}


def dashboard_exprs():
    with open(os.path.join(MON, "grafana-dashboard.json"), encoding="utf-8") as f:
        dash = json.load(f)
    assert dash["title"] and dash["panels"]
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dash["templating"]["list"]]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    return exprs


def alert_exprs():
    with open(os.path.join(MON, "alerts.yaml"), encoding="utf-8") as f:
        rules = yaml.safe_load(f)
    exprs = []
    for g in rules["groups"]:
        assert g["name"] and g["rules"]
        for r in g["rules"]:
            assert set(r) <= {"alert", "expr", "for", "labels", "annotations"}, r
            assert r["alert"] and r["expr"] and r["annotations"]["summary"]
            if "for" in r:
                assert re.fullmatch(r"\d+[smh]", r["for"])
            exprs.append(r["expr"])
    return exprs


def test_dashboard_and_alerts_reference_only_exported_metrics(daemon):
    # a diverged-free daemon still exports every family (counts may be 0)
    daemon.create(optimizer="adam", tensors=[{"shape": [2]}])
    have = exported_series(daemon) | {"up"}
    exprs = dashboard_exprs() + alert_exprs()
    used = set().union(*(metric_names(e) for e in exprs))
    assert len(used) >= 15
    missing = sorted(used - have)
    assert not missing, missing
    # and the check would notice a metric that is not exported
    assert metric_names('rate(optirs_no_such_total{x="y"}[5m])') - have == {"optirs_no_such_total"}
