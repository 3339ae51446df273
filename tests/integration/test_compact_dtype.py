"""Compact binary bodies (proto/binary.md §8): float16 and bfloat16 step
requests and answers chosen by the `dtype` parameter of Content-Type and
Accept — known bit patterns both ways, the 406 and 415 refusals, lengths
that do not match the dtype, the float32 fallback of an answer that would
overflow, the non-finite policy on decoded values, a bf16 step giving
exactly the state of the float32 step of the same (rounded) gradients, and
the workers of a shared step in different dtypes."""
import json
import random
import struct

OCTET = "application/octet-stream"


def u16(data):
    return list(struct.unpack(f"<{len(data) // 2}H", data))


def pack16(bits):
    return struct.pack(f"<{len(bits)}H", *bits)


def f32(data):
    return list(struct.unpack(f"<{len(data) // 4}f", data))


def step_raw(d, sid, k, body, ctype, accept=None, extra=None):
    h = {"Content-Type": ctype, "X-Optirs-Step": str(k)}
    if accept is not None:
        h["Accept"] = accept
    h.update(extra or {})
    return d.request("POST", f"/v1/sessions/{sid}/step", body, h)


def sgd(d, n=3, lr=0.5):
    return d.create(optimizer="sgd", hyperparams={"lr": lr}, tensors=[{"shape": [n]}])["id"]


def test_bf16_request_and_answer_bits(daemon):
    sid = sgd(daemon)
    # 1.0, -2.0, 0.10009765625 (bf16 of 0.1); sgd lr 0.5: update = -g/2
    st, h, data = step_raw(daemon, sid, 1, pack16([0x3F80, 0xC000, 0x3DCD]), OCTET + "; dtype=bf16")
    assert st == 200, data
    assert h["content-type"] == OCTET + "; dtype=bf16"
    assert h["content-length"] == "6"
    assert data == bytes.fromhex("00bf803f4dbd")
    assert u16(data) == [0xBF00, 0x3F80, 0xBD4D]
    # the daemon's own state is float32: the exact sum
    st, h, data = daemon.request("GET", f"/v1/sessions/{sid}/params", headers={"Accept": OCTET})
    assert st == 200 and h["content-type"] == OCTET
    assert f32(data) == [-0.5, 1.0, -0.050048828125]


def test_f16_request_and_answer_bits(daemon):
    sid = sgd(daemon)
    # 1.0, -2.0, 0.0999755859375 (f16 of 0.1)
    st, h, data = step_raw(daemon, sid, 1, pack16([0x3C00, 0xC000, 0x2E66]), OCTET + ";dtype=f16")
    assert st == 200, data
    assert h["content-type"] == OCTET + "; dtype=f16"
    assert u16(data) == [0xB800, 0x3C00, 0xAA66]
    # a retry answers the same bytes, nothing applied
    st, h, again = step_raw(daemon, sid, 1, pack16([0x3C00, 0xC000, 0x2E66]), OCTET + ";dtype=f16")
    assert st == 200 and again == data
    st, h, data = daemon.request("GET", f"/v1/sessions/{sid}/params", headers={"Accept": OCTET})
    assert f32(data) == [-0.5, 1.0, -0.04998779296875]


def test_accept_chooses_the_answer_dtype(daemon):
    sid = sgd(daemon, lr=1.0)
    g = [0.1, -3.0, 1e-3]
    # float32 request, bf16 answer: each value rounded to nearest even
    st, h, data = daemon.step_binary(sid, 1, g, accept=OCTET + "; dtype=bf16")
    assert st == 200 and h["content-type"] == OCTET + "; dtype=bf16"
    assert u16(data) == [0xBDCD, 0x4040, 0xBA83]
    # bf16 request, float32 answer (Accept names f32)
    st, h, data = step_raw(daemon, sid, 2, pack16([0x3F80, 0x0000, 0x8000]), OCTET + "; dtype=bf16",
                           accept=OCTET + "; dtype=f32")
    assert st == 200 and h["content-type"] == OCTET and f32(data) == [-1.0, -0.0, 0.0]
    # Accept without a dtype: the request's
    st, h, data = step_raw(daemon, sid, 3, pack16([0x3C00] * 3), OCTET + "; dtype=f16", accept=OCTET)
    assert st == 200 and h["content-type"] == OCTET + "; dtype=f16" and u16(data) == [0xBC00] * 3
    # several named: the request's when listed, else the first listed
    st, h, data = step_raw(daemon, sid, 4, pack16([0x3C00] * 3), OCTET + "; dtype=f16",
                           accept=f"{OCTET}; dtype=bf16, {OCTET}; dtype=f16")
    assert st == 200 and h["content-type"] == OCTET + "; dtype=f16"
    st, h, data = daemon.step_binary(sid, 5, [1, 1, 1], accept=f"{OCTET}; dtype=bf16, {OCTET}; dtype=f16")
    assert st == 200 and h["content-type"] == OCTET + "; dtype=bf16" and u16(data) == [0xBF80] * 3
    # a JSON step may ask for a compact answer
    st, h, data = daemon.request("POST", f"/v1/sessions/{sid}/step", {"step": 6, "grads": [2, 2, 2]},
                                 {"Accept": OCTET + "; dtype=f16"})
    assert st == 200 and h["content-type"] == OCTET + "; dtype=f16" and u16(data) == [0xC000] * 3
    # unknown dtype next to JSON: JSON
    st, h, data = step_raw(daemon, sid, 7, pack16([0, 0, 0]), OCTET + "; dtype=bf16",
                           accept=f"{OCTET}; dtype=fp8, application/json")
    assert st == 200 and h["content-type"] == "application/json"
    assert json.loads(data) == {"step": 7, "update": [0.0, 0.0, 0.0]}
    # case-insensitive names and a quoted value
    st, h, data = step_raw(daemon, sid, 8, pack16([0x3F80] * 3), 'Application/Octet-Stream; DType="BF16"')
    assert st == 200 and h["content-type"] == OCTET + "; dtype=bf16"


def test_params_in_a_compact_dtype(daemon):
    sid = sgd(daemon, lr=1.0)
    assert daemon.step_binary(sid, 1, [-0.1, 65504.0, 1e-8])[0] == 200
    st, h, data = daemon.request("GET", f"/v1/sessions/{sid}/params", headers={"Accept": OCTET + "; dtype=f16"})
    assert st == 200 and h["content-type"] == OCTET + "; dtype=f16" and h["x-optirs-step"] == "1"
    assert u16(data) == [0x2E66, 0xFBFF, 0x8000]   # 1e-8 is under half the smallest subnormal: -0
    st, body = daemon.json("GET", f"/v1/sessions/{sid}/params", headers={"Accept": OCTET + "; dtype=fp8"})
    assert st == 406 and body["error"]["code"] == "not_acceptable"


def test_unknown_or_repeated_dtype_is_415(daemon):
    sid = sgd(daemon)
    for ctype in (OCTET + "; dtype=fp8", OCTET + "; dtype=", OCTET + "; dtype=bf16; dtype=bf16",
                  OCTET + "; dtype=float16"):
        st, h, data = step_raw(daemon, sid, 1, pack16([0, 0, 0]), ctype)
        assert st == 415, ctype
        assert json.loads(data)["error"]["code"] == "unsupported_media_type"
        assert h["content-type"] == "application/json"
    st, body = daemon.json("GET", f"/v1/sessions/{sid}")
    assert body["step"] == 0


def test_unmet_accept_is_406(daemon):
    sid = sgd(daemon)
    for accept in (OCTET + "; dtype=fp8", f"{OCTET}; dtype=int8, {OCTET}; dtype=f64"):
        st, h, data = step_raw(daemon, sid, 1, pack16([0, 0, 0]), OCTET + "; dtype=bf16", accept=accept)
        assert st == 406, accept
        assert json.loads(data)["error"]["code"] == "not_acceptable"
    st, body = daemon.json("GET", f"/v1/sessions/{sid}")
    assert body["step"] == 0


def test_length_must_match_the_dtype(daemon):
    sid = sgd(daemon)
    cases = [(OCTET + "; dtype=bf16", 12), (OCTET + "; dtype=f16", 4), (OCTET + "; dtype=bf16", 0),
             (OCTET + "; dtype=f16", 7), (OCTET, 6)]
    for ctype, nbytes in cases:
        st, h, data = step_raw(daemon, sid, 1, b"\0" * nbytes, ctype)
        assert st == 400, (ctype, nbytes)
        err = json.loads(data)["error"]
        assert err["code"] == "length_mismatch"
        assert str(6 if "dtype" in ctype else 12) in err["message"]
    st, body = daemon.json("GET", f"/v1/sessions/{sid}")
    assert body["step"] == 0


def test_non_finite_after_decoding(daemon):
    sid = sgd(daemon)
    for ctype, bits in ((OCTET + "; dtype=f16", [0, 0x7C00, 0]), (OCTET + "; dtype=f16", [0xFE00, 0, 0]),
                        (OCTET + "; dtype=bf16", [0, 0, 0xFF80]), (OCTET + "; dtype=bf16", [0x7FC0, 0, 0])):
        st, h, data = step_raw(daemon, sid, 1, pack16(bits), ctype)
        assert st == 422 and json.loads(data)["error"]["code"] == "non_finite", (ctype, bits)
    # the session's policy applies as for float32: skip answers a zero update
    sk = daemon.create(optimizer="sgd", hyperparams={"lr": 0.5}, tensors=[{"shape": [3]}], non_finite="skip")["id"]
    st, h, data = step_raw(daemon, sk, 1, pack16([0, 0x7C00, 0]), OCTET + "; dtype=f16")
    assert st == 200 and u16(data) == [0, 0, 0] and h.get("x-optirs-applied") == "false"


def test_overflowing_answer_falls_back_to_float32(daemon):
    sid = sgd(daemon, lr=1.0)
    # -70000 is past f16's 65504: the whole answer comes in float32, exact
    st, h, data = step_raw(daemon, sid, 1, struct.pack("<3f", 70000.0, -1.0, 0.5), OCTET,
                           accept=OCTET + "; dtype=f16")
    assert st == 200 and h["content-type"] == OCTET and f32(data) == [-70000.0, 1.0, -0.5]
    # the retry of that step answers it the same way
    st, h, again = step_raw(daemon, sid, 1, struct.pack("<3f", 70000.0, -1.0, 0.5), OCTET,
                            accept=OCTET + "; dtype=f16")
    assert st == 200 and h["content-type"] == OCTET and again == data
    # 65504 still fits, and 65519 rounds to it
    st, h, data = step_raw(daemon, sid, 2, struct.pack("<3f", -65519.0, 0.0, 0.0), OCTET,
                           accept=OCTET + "; dtype=f16")
    assert st == 200 and h["content-type"] == OCTET + "; dtype=f16" and u16(data)[0] == 0x7BFF


def test_bf16_step_equals_the_f32_step_of_its_rounded_gradients(daemon):
    n = 257
    rng = random.Random(17)
    spec = dict(optimizer="adamw", hyperparams={"lr": 0.01, "weight_decay": 0.01}, tensors=[{"shape": [n]}])
    a = daemon.create(**spec)["id"]
    b = daemon.create(**spec)["id"]
    for k in range(1, 4):
        bits = [rng.getrandbits(16) & 0xBFFF for _ in range(n)]   # finite: exponent never all ones
        body16 = pack16(bits)
        widened = struct.pack(f"<{n}I", *[x << 16 for x in bits])   # bf16 -> f32 is a shift
        st, ha, ua = step_raw(daemon, a, k, body16, OCTET + "; dtype=bf16", accept=OCTET + "; dtype=f32")
        assert st == 200, ua
        st, hb, ub = step_raw(daemon, b, k, widened, OCTET)
        assert st == 200, ub
        assert ua == ub
    pa = daemon.request("GET", f"/v1/sessions/{a}/params", headers={"Accept": OCTET})[2]
    pb = daemon.request("GET", f"/v1/sessions/{b}/params", headers={"Accept": OCTET})[2]
    assert pa == pb and len(pa) == 4 * n


def test_shared_session_workers_with_different_dtypes(daemon):
    """Two workers of one shared step, one in bf16, one in float32: the mean
    of the widened gradients is applied once, and each worker gets the update
    in its own dtype."""
    import http.client
    import threading
    sid = daemon.create(optimizer="sgd", hyperparams={"lr": 1.0}, tensors=[{"shape": [2]}], workers=2)["id"]
    posts = {"a": (pack16([0x3F80, 0x4000]), OCTET + "; dtype=bf16"),      # 1.0, 2.0
             "b": (struct.pack("<2f", 3.0, -4.0), OCTET)}
    out = {}

    def post(w):
        c = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
        body, ctype = posts[w]
        c.request("POST", f"/v1/sessions/{sid}/step", body,
                  {"Content-Type": ctype, "X-Optirs-Step": "1", "X-Optirs-Worker": w})
        r = c.getresponse()
        out[w] = (r.status, r.getheader("Content-Type"), r.read())
        c.close()
    ts = [threading.Thread(target=post, args=(w,)) for w in posts]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert out["a"][0] == out["b"][0] == 200, out
    assert out["a"][1] == OCTET + "; dtype=bf16" and u16(out["a"][2]) == [0xC000, 0x3F80]   # -2, 1
    assert out["b"][1] == OCTET and f32(out["b"][2]) == [-2.0, 1.0]
