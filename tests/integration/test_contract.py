"""The HTTP contract (proto/openapi.yaml) agrees with the server's sources.

Needs no running daemon: it reads the route table (src/server/routes.c), the
error table (src/core/errors.h), the configuration table (src/server/config.c)
and the optimizers' hyperparameter tables (src/core/opt/opt.c, opt_classic.c,
lopt_*.c, registered in opt_registry.c), and checks that the spec documents
exactly those, in both directions where that makes sense.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_contract.py
Needs python3-yaml (Debian)."""
import glob
import math
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC_PATH = os.path.join(ROOT, "proto", "openapi.yaml")
BINARY_MD = os.path.join(ROOT, "proto", "binary.md")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def strip_c_comments(src):
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    return re.sub(r"//[^\n]*", " ", src)


@pytest.fixture(scope="module")
def spec():
    with open(SPEC_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


def spec_operations(spec):
    """{(METHOD, path): operation} for every operation in the spec."""
    ops = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                ops[(method.upper(), path)] = op
    return ops


def route_table():
    """[(METHOD, pattern, handler, name)] from routes.c, in table order."""
    src = strip_c_comments(read("src/server/routes.c"))
    rows = re.findall(r'\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*"([^"]+)"\s*(?:,\s*[\w| ]+)?\}', src)
    assert len(rows) >= 10, "could not parse the route table in src/server/routes.c"
    return rows


def error_table():
    """{code: http status}: the codes from the ERR_MAP X-macro of core's
    errors.h, their statuses from the server's table (http_status.c)."""
    src = read("src/core/errors.h")
    rows = re.findall(r'X\(\s*(ERR_\w+)\s*,\s*"([a-z0-9_]+)"\s*,', src)
    assert len(rows) >= 20, "could not parse ERR_MAP in src/core/errors.h"
    statuses = dict(re.findall(r'HTTP_STATUS_\(\s*(ERR_\w+)\s*,\s*(\d{3})\s*,', read("src/server/http_status.c")))
    missing = [enum for enum, _ in rows if enum not in statuses]
    assert not missing, "no HTTP status in src/server/http_status.c for %s" % missing
    table = {code: int(statuses[enum]) for enum, code in rows}
    assert len(table) == len(rows), "errors.h repeats a code string"
    return table


def resolve(ref, spec):
    assert ref.startswith("#/"), ref
    node = spec
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def walk(node, path=()):
    """Yields (path, dict) for every mapping in a YAML tree."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, path + (i,))


# ---- routes ------------------------------------------------------------------

def test_every_route_is_in_the_spec(spec):
    ops = spec_operations(spec)
    missing = [(m, p) for m, p, _, _ in route_table() if (m, p) not in ops]
    assert not missing, "routed but not in proto/openapi.yaml: %s" % missing


def test_every_spec_operation_is_routed(spec):
    routed = {(m, p) for m, p, _, _ in route_table()}
    extra = [k for k in spec_operations(spec) if k not in routed]
    assert not extra, "in proto/openapi.yaml but not in src/server/routes.c: %s" % extra


def test_route_table_has_no_duplicates():
    keys = [(m, p) for m, p, _, _ in route_table()]
    assert len(keys) == len(set(keys)), keys
    names = [n for _, _, _, n in route_table()]
    assert len(names) == len(set(names)), names


def test_operation_ids_are_route_names(spec):
    """operationId is the route's name: the `route` label of /metrics."""
    ops = spec_operations(spec)
    for m, p, _, name in route_table():
        assert ops[(m, p)].get("operationId") == name, (m, p, name)


def test_path_parameters_are_declared(spec):
    for path, item in spec["paths"].items():
        names = set(re.findall(r"\{(\w+)\}", path))
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            params = [resolve(p["$ref"], spec) if "$ref" in p else p
                      for p in item.get("parameters", []) + op.get("parameters", [])]
            declared = {p["name"] for p in params if p["in"] == "path"}
            assert declared == names, (method, path, declared, names)
            for p in params:
                if p["in"] == "path":
                    assert p.get("required") is True, (path, p["name"])


# ---- errors ------------------------------------------------------------------

def test_every_error_code_is_in_the_spec(spec):
    enum = spec["components"]["schemas"]["ErrorCode"]["enum"]
    table = error_table()
    missing = sorted(set(table) - set(enum))
    assert not missing, "codes of errors.h missing from ErrorCode: %s" % missing
    extra = sorted(set(enum) - set(table))
    assert not extra, "ErrorCode lists codes errors.h does not have: %s" % extra
    assert len(enum) == len(set(enum))


def test_error_statuses_match_errors_h(spec):
    schema = spec["components"]["schemas"]["ErrorCode"]
    statuses = schema["x-http-status"]
    table = error_table()
    assert statuses == table
    # The human table in the description names each code with its status too.
    for code, status in table.items():
        assert re.search(r"\|\s*`%s`\s*\|\s*%d\s*\|" % (re.escape(code), status), schema["description"]), code


def test_error_schema_shape(spec):
    err = spec["components"]["schemas"]["Error"]
    inner = err["properties"]["error"]
    assert err["required"] == ["error"]
    assert set(inner["required"]) == {"code", "message"}
    assert inner["properties"]["code"] == {"$ref": "#/components/schemas/ErrorCode"}
    assert "expected" in inner["properties"]
    conflict = spec["components"]["schemas"]["StepConflictError"]["properties"]["error"]
    assert "expected" in conflict["required"]
    assert conflict["properties"]["code"]["const"] == "step_conflict"


def test_documented_error_responses_use_their_codes_status(spec):
    """Each response that lists x-error-codes has the status of those codes."""
    table = error_table()
    checked = 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            for status, resp in op["responses"].items():
                if "$ref" in resp:
                    resp = resolve(resp["$ref"], spec)
                for code in resp.get("x-error-codes", []):
                    assert code in table, (method, path, status, code)
                    assert str(table[code]) == str(status), (method, path, status, code, table[code])
                    checked += 1
    assert checked > 40


def test_every_operation_has_a_default_error(spec):
    for (m, p), op in spec_operations(spec).items():
        assert "default" in op["responses"], (m, p)


# ---- step and params: both encodings, headers --------------------------------

def test_step_documents_both_encodings_and_headers(spec):
    op = spec["paths"]["/v1/sessions/{id}/step"]["post"]
    assert set(op["requestBody"]["content"]) == {"application/json", "application/octet-stream"}
    headers = {p["name"] for p in op["parameters"] if p["in"] == "header"}
    assert headers == {"X-Optirs-Step", "X-Optirs-Loss", "X-Optirs-Worker", "X-Optirs-Skip-Tensors",
                       "X-Optirs-Hyperparams"}
    ok = op["responses"]["200"]
    assert set(ok["content"]) == {"application/json", "application/octet-stream"}
    assert "X-Optirs-Step" in ok["headers"]
    params_ok = spec["paths"]["/v1/sessions/{id}/params"]["get"]["responses"]["200"]
    assert set(params_ok["content"]) == {"application/json", "application/octet-stream"}
    assert "X-Optirs-Step" in params_ok["headers"]


def test_binary_md_covers_the_format():
    with open(BINARY_MD, encoding="utf-8") as f:
        text = f.read()
    for needle in ("little-endian", "4·N", "X-Optirs-Step", "X-Optirs-Loss", "X-Optirs-Worker",
                   "Accept", "length_mismatch", "invalid_header", "non_finite", "406",
                   "00 00 00 3f", "struct.pack", "/v1/sessions/{id}/params"):
        assert needle in text, needle


# ---- create request and session description -----------------------------------

def spec_c_fields():
    """Keys spec.c accepts in a create request (restoring-only ones excluded)."""
    src = strip_c_comments(read("src/service/spec.c"))
    body = src[src.index("static int on_member"):src.index("static int parse_tensors")]
    keys = set(re.findall(r'strcmp\(key,\s*"(\w+)"\)\s*==\s*0\)', body))
    restoring = set(re.findall(r'c->restoring\s*&&\s*strcmp\(key,\s*"(\w+)"\)', body))
    return keys - restoring


def test_create_request_fields_match_spec_c(spec):
    props = set(spec["components"]["schemas"]["CreateSessionRequest"]["properties"])
    assert props == spec_c_fields()


def test_session_description_fields(spec):
    """Session lists what spec_to_json and session_describe put in it."""
    src = strip_c_comments(read("src/service/spec.c"))
    s2j = src[src.index("cJSON *spec_to_json"):]
    keys = set(re.findall(r'cJSON_Add\w*ToObject\(o,\s*"(\w+)"', s2j))
    keys |= set(re.findall(r'cJSON_AddItemToObject\(o,\s*"(\w+)"', s2j))
    ses = strip_c_comments(read("src/service/session.c"))
    meta = ses[ses.index("char *session_make_meta"):ses.index("int sessions_create")]
    keys |= set(re.findall(r'ToObject\(m,\s*"(\w+)"', meta))
    desc = ses[ses.index("cJSON *session_describe"):ses.index("int sessions_delete")]
    keys |= set(re.findall(r'ToObject\(o,\s*"(\w+)"', desc))
    assert {"id", "optimizer", "num_params", "step", "status"} <= keys
    schemas = spec["components"]["schemas"]
    summary = set(schemas["SessionSummary"]["properties"])
    full = summary | set(schemas["Session"]["properties"])
    assert schemas["Session"]["allOf"] == [{"$ref": "#/components/schemas/SessionSummary"}]
    assert full == keys
    # GET /v1/sessions lists summaries: h_life.c removes exactly these keys.
    hs = strip_c_comments(read("src/server/h_life.c"))
    dropped = set(re.findall(r'cJSON_DeleteItemFromObject\w*\(d,\s*"(\w+)"\)', hs))
    assert dropped and full - summary == dropped


# ---- configuration ----------------------------------------------------------------

def test_config_keys_match_config_c(spec):
    src = strip_c_comments(read("src/server/config.c"))
    rows = re.findall(r'\{\s*"([\w-]+)"\s*,\s*CT_(STR|INT|DOUBLE)\s*,[^"]*"([^"]*)"', src)
    assert len(rows) >= 8
    cfg = spec["components"]["schemas"]["Config"]
    assert set(cfg["properties"]) == {name for name, _, _ in rows}
    assert set(cfg["required"]) == {name for name, _, _ in rows}
    for name, kind, default in rows:
        p = cfg["properties"][name]
        want = {"STR": "string", "INT": "integer", "DOUBLE": "number"}[kind]
        assert p["type"] == want, name
        if kind == "STR":
            assert p["default"] == default, name
        else:
            assert math.isclose(float(p["default"]), float(default)), name


# ---- Prometheus metrics ---------------------------------------------------------------

def test_metric_families_are_documented(spec):
    src = read("src/server/prom.c")
    families = set(re.findall(r"# TYPE (optirs_\w+) ", src))
    assert len(families) >= 8
    desc = spec["paths"]["/metrics"]["get"]["description"]
    missing = sorted(f for f in families if f not in desc)
    assert not missing, missing


# ---- optimizers and hyperparameters -----------------------------------------------------

def c_macros():
    macros = {}
    for h in glob.glob(os.path.join(ROOT, "src", "core", "**", "*.h"), recursive=True):
        with open(h, encoding="utf-8") as f:
            for name, val in re.findall(r"^#define\s+(\w+)\s+([-+0-9.eE]+)\s*(?:/\*.*)?$", f.read(), re.M):
                macros[name] = val
    return macros


def c_number(tok, macros):
    tok = tok.strip()
    tok = macros.get(tok, tok)
    return float(tok)


HP_ROW = re.compile(r'\{\s*"(\w+)"\s*,\s*([^,{}]+?)\s*,\s*([^,{}]+?)\s*,\s*([^,{}]+?)\s*,'
                    r'\s*([01])\s*,\s*([01])\s*,\s*([01])\s*,')


def hparam_rows(block, macros):
    rows = []
    for name, d, lo, hi, lo_open, hi_open, integer in HP_ROW.findall(block):
        rows.append(dict(name=name, default=c_number(d, macros), min=c_number(lo, macros),
                         max=c_number(hi, macros), min_open=lo_open == "1", max_open=hi_open == "1",
                         integer=integer == "1"))
    return rows


def c_optimizers():
    """{name: (kind, [common + own hyperparameter rows])} from the C sources."""
    macros = c_macros()
    tables, vtbls = {}, {}
    for path in sorted(glob.glob(os.path.join(ROOT, "src", "core", "**", "*.c"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            src = strip_c_comments(f.read())
        for m in re.finditer(r"hparam_def\s+(\w+)\s*\[[^\]]*\]\s*=\s*\{(.*?)\};", src, re.S):
            tables[m.group(1)] = hparam_rows(m.group(2), macros)
        for m in re.finditer(r"const\s+opt_vtbl\s+(\w+)\s*=\s*\{(.*?)\};", src, re.S):
            body = m.group(2)
            name = re.search(r'\.name\s*=\s*"(\w+)"', body)
            hp = re.search(r"\.hparams\s*=\s*(\w+)", body)
            kind = re.search(r"\.kind\s*=\s*OPT_KIND_(\w+)", body)
            if name:
                vtbls[m.group(1)] = (name.group(1), hp.group(1) if hp else None,
                                     kind.group(1).lower() if kind else None)
    reg_src = strip_c_comments(read("src/core/opt/opt_registry.c"))
    reg_body = re.search(r"registry\[\]\s*=\s*\{(.*?)\};", reg_src, re.S).group(1)
    registered = re.findall(r"&(\w+)", reg_body)
    common = tables["common_hparams"]
    out = {}
    for v in registered:
        name, table, kind = vtbls[v]
        out[name] = (kind, common + (tables[table] if table else []))
    return out


def flatten_hparams(schema_name, spec):
    """{name: property schema} of a Hyperparams_* schema including its allOf parts."""
    schema = spec["components"]["schemas"][schema_name]
    props = {}
    for part in schema.get("allOf", []):
        props.update(resolve(part["$ref"], spec)["properties"] if "$ref" in part else part["properties"])
    props.update(schema.get("properties", {}))
    return props


def test_optimizers_match_the_registry(spec):
    opts = c_optimizers()
    assert {"sgd", "adam", "adamw", "rmsprop", "adagrad"} <= set(opts)
    create = spec["components"]["schemas"]["CreateSessionRequest"]
    assert create["properties"]["optimizer"]["enum"] == list(opts)
    conditional = {}
    for rule in create["allOf"]:
        name = rule["if"]["properties"]["optimizer"]["const"]
        conditional[name] = rule["then"]["properties"]["hyperparams"]["$ref"].rsplit("/", 1)[1]
    assert conditional == {n: "Hyperparams_" + n for n in opts}
    kinds = spec["components"]["schemas"]["OptimizerCatalogue"]["properties"]["optimizers"]["items"][
        "properties"]["kind"]["enum"]
    assert {k for k, _ in opts.values()} <= set(kinds)


def test_hyperparameters_match_the_c_tables(spec):
    for name, (_, rows) in c_optimizers().items():
        props = flatten_hparams("Hyperparams_" + name, spec)
        assert list(props) == [r["name"] for r in rows], name
        for r in rows:
            p = props[r["name"]]
            where = "%s.%s" % (name, r["name"])
            if "enum" in p:   # a named hyperparameter (hparam_enum): names over the API, indices in C
                assert p["type"] == "string" and r["integer"] and r["min"] == 0, where
                assert len(p["enum"]) == r["max"] + 1 and p["default"] == p["enum"][int(r["default"])], where
                continue
            assert p["type"] == ("integer" if r["integer"] else "number"), where
            assert math.isclose(float(p["default"]), r["default"], rel_tol=1e-12), where
            lo_key = "exclusiveMinimum" if r["min_open"] else "minimum"
            hi_key = "exclusiveMaximum" if r["max_open"] else "maximum"
            assert lo_key in p and math.isclose(float(p[lo_key]), r["min"], rel_tol=1e-12), where
            assert hi_key in p and math.isclose(float(p[hi_key]), r["max"], rel_tol=1e-12), where
            other_lo = "minimum" if r["min_open"] else "exclusiveMinimum"
            other_hi = "maximum" if r["max_open"] else "exclusiveMaximum"
            assert other_lo not in p and other_hi not in p, where


def test_schedules_match_opt_c(spec):
    src = strip_c_comments(read("src/core/opt/opt.c"))
    body = re.search(r"schedule_names\[\]\s*=\s*\{(.*?)\};", src, re.S).group(1)
    names = re.findall(r'"(\w+)"', body)
    assert spec["components"]["schemas"]["CreateSessionRequest"]["properties"]["schedule"]["enum"] == names
    assert spec["components"]["schemas"]["SessionSummary"]["properties"]["schedule"]["enum"] == names


# ---- the document itself ------------------------------------------------------------------

def test_every_ref_resolves(spec):
    for _, node in walk(spec):
        ref = node.get("$ref")
        if isinstance(ref, str):
            resolve(ref, spec)


def test_openapi_version_and_validity(spec):
    assert str(spec["openapi"]).startswith("3.1.")
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(spec)
