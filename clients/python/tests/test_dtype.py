"""Compact step bodies from the Python client (proto/binary.md §8): the
numpy codecs against known bit patterns and edges, steps in f16 / bf16 both
ways against a real optirsd, the float32 fallback of an overflowing answer,
and RemoteOptimizer(dtype="bf16") rounding with torch's own cast."""
import struct

import numpy as np
import pytest

import optirs
from optirs.client import _answer_dtype


def _bits16(data):
    return list(struct.unpack("<%dH" % (len(data) // 2), data))


def test_codecs_known_values_and_edges():
    v = np.array([1.0, -2.0, 0.1, 65504.0, 65520.0, -0.0, 2.0 ** -25, 3 * 2.0 ** -25, np.inf, np.nan],
                 dtype=np.float32)
    assert _bits16(optirs.encode_vector(v, "f16")) == [0x3C00, 0xC000, 0x2E66, 0x7BFF, 0x7C00, 0x8000,
                                                       0x0000, 0x0002, 0x7C00, 0x7E00]
    u = np.array([0x3F808000, 0x3F818000, 0x3DCCCCCD, 0x7F7F7FFF, 0x7F7F8000, 0x7F800001, 0xFF800000],
                 dtype=np.uint32).view(np.float32)
    assert _bits16(optirs.encode_vector(u, "bf16")) == [0x3F80, 0x3F82, 0x3DCD, 0x7F7F, 0x7F80, 0x7FC0, 0xFF80]
    assert optirs.encode_vector(v[:2], "f32") == struct.pack("<2f", 1.0, -2.0)
    # decoding is exact; every bf16 pattern that is not a NaN round-trips
    allbits = np.arange(65536, dtype=np.uint32).astype("<u2")
    f = optirs.decode_vector(allbits.tobytes(), "bf16")
    assert f.dtype == np.float32 and (f.view(np.uint32) == allbits.astype(np.uint32) << 16).all()
    keep = ~np.isnan(f)
    assert (np.frombuffer(optirs.encode_vector(f[keep], "bf16"), "<u2") == allbits[keep]).all()
    h = optirs.decode_vector(allbits.tobytes(), "f16")
    keep = ~np.isnan(h)
    assert (np.frombuffer(optirs.encode_vector(h[keep], "f16"), "<u2") == allbits[keep]).all()
    assert _answer_dtype("application/octet-stream; dtype=bf16") == "bf16"
    assert _answer_dtype("application/octet-stream") == "f32"


def test_torch_bf16_cast_agrees_with_the_numpy_codec():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    u = np.concatenate([rng.integers(0, 2 ** 32, 200000, dtype=np.uint64).astype(np.uint32),
                        np.arange(0x3F800000, 0x3F820000, dtype=np.uint32),       # ties around 1
                        np.array([0x7F7F7FFF, 0x7F7F8000, 0x00008000, 0x00018000], dtype=np.uint32)])
    v = u.view(np.float32)
    v = v[~np.isnan(v)]
    mine = np.frombuffer(optirs.encode_vector(v, "bf16"), "<u2")
    theirs = torch.from_numpy(v).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    assert (mine == theirs).all()
    mine = np.frombuffer(optirs.encode_vector(v, "f16"), "<u2")
    theirs = torch.from_numpy(v).to(torch.float16).view(torch.int16).numpy().view(np.uint16)
    assert (mine == theirs).all()


def test_steps_in_each_dtype(url):
    c = optirs.Client(url, binary=True)
    s = c.create_session("sgd", [[4]], hyperparams={"lr": 1.0})
    g = np.array([0.1, -3.0, 1e-3, 2.0], dtype=np.float32)
    u = s.step(g, dtype="bf16")                       # answer: the request's dtype
    assert u.dtype == np.float32
    assert (u.view(np.uint32) >> 16).tolist() == [0xBDCD, 0x4040, 0xBA83, 0xC000]
    assert (u.view(np.uint32) & 0xFFFF).tolist() == [0, 0, 0, 0]
    u = s.step(g, dtype="f16", answer_dtype="f32")    # the daemon's float32 update of the rounded grads
    want = -g.astype(np.float16).astype(np.float32)
    assert (u == want).all()
    u = s.step(g, dtype="f32", answer_dtype="f16")
    assert (u == (-g).astype(np.float16).astype(np.float32)).all()
    # the daemon kept float32 state: the sum of its exact updates
    bf = (np.frombuffer(optirs.encode_vector(g, "bf16"), "<u2").astype(np.uint32) << 16).view(np.float32)
    p = -bf - g.astype(np.float16).astype(np.float32) - g
    np.testing.assert_array_equal(s.params(), p)
    # a client-wide default
    cb = optirs.Client(url, binary=True, dtype="bf16")
    sb = cb.session(s.id)
    assert (sb.step(np.ones(4, np.float32)) == -1.0).all()
    with pytest.raises(ValueError):
        optirs.Client(url, dtype="fp8")
    with pytest.raises(ValueError):
        optirs.Client(url, binary=False, dtype="bf16")


def test_overflowing_answer_comes_back_in_float32(url):
    c = optirs.Client(url, binary=True)
    s = c.create_session("sgd", [[2]], hyperparams={"lr": 1.0})
    u = s.step(np.array([70000.0, 0.5], np.float32), answer_dtype="f16")
    assert u.tolist() == [-70000.0, -0.5]             # exact: sent as float32
    # a gradient past f16's range becomes inf on the way in: non_finite
    with pytest.raises(optirs.OptirsError) as e:
        s.step(np.array([70000.0, 0.5], np.float32), dtype="f16")
    assert e.value.code == "non_finite" and e.value.status == 422


def test_remote_optimizer_bf16_transport(url):
    torch = pytest.importorskip("torch")
    from optirs.torch import RemoteOptimizer
    torch.manual_seed(2)
    model = torch.nn.Linear(5, 3)
    x, y = torch.randn(32, 5), torch.randn(32, 3)
    opt = RemoteOptimizer(model, "sgd", url, lr=0.1, dtype="bf16")
    before = [p.detach().clone() for p in model.parameters()]
    opt.zero_grad()
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    grads = [p.grad.detach().clone() for p in model.parameters()]
    opt.step(loss=loss)
    # the daemon saw torch's bf16 rounding of each gradient; the float32
    # answer keeps the local copy equal to the daemon's
    for p, b, g in zip(model.parameters(), before, grads):
        want = b - 0.1 * g.to(torch.bfloat16).to(torch.float32)
        assert torch.equal(p.detach(), want)
    np.testing.assert_array_equal(opt.session.params(),
                                  torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy())
    opt.close(delete=True)
    with pytest.raises(ValueError):
        RemoteOptimizer(torch.nn.Linear(2, 2), "sgd", url, lr=0.1, dtype="bfloat16")
