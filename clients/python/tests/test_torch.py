"""optirs.torch.RemoteOptimizer against a real optirsd (needs Debian's
python3-torch and, for the Fashion-MNIST tests, dataset-fashion-mnist)."""
import copy
import os
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import optirs  # noqa: E402
from optirs.torch import RemoteOptimizer  # noqa: E402

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
sys.path.insert(0, EXAMPLES)
import train_fmnist  # noqa: E402

HAVE_FMNIST = os.path.exists(os.path.join(train_fmnist.DATA, "train-images-idx3-ubyte.gz"))


def _flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def test_remote_adam_trajectory_matches_torch_adam(url):
    """Same model, same data, 50 steps: the parameters after every step agree
    with torch.optim.Adam within 1e-5 (absolute), and the daemon's copy of the
    parameters equals the model's bit for bit."""
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    ref = copy.deepcopy(model)
    init = _flat(model).clone()
    x, y = torch.randn(64, 6), torch.randint(0, 3, (64,))
    hp = dict(lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=1e-3)
    ropt = RemoteOptimizer(model.parameters(), "adam", url=url, lr=hp["lr"], beta1=0.9, beta2=0.99,
                           eps=1e-8, weight_decay=1e-3)
    topt = torch.optim.Adam(ref.parameters(), **hp)
    loss_fn = torch.nn.CrossEntropyLoss()
    worst = 0.0
    for k in range(50):
        for m, o in ((model, ropt), (ref, topt)):
            def closure(m=m, o=o):
                o.zero_grad()
                loss = loss_fn(m(x[k % 4::4]), y[k % 4::4])
                loss.backward()
                return loss
            o.step(closure)
        diff = float((_flat(model) - _flat(ref)).abs().max())
        worst = max(worst, diff)
        assert diff <= 1e-5, "step %d: max |remote - torch| = %g" % (k + 1, diff)
    moved = float((_flat(model) - init).abs().max())
    assert moved > 0.05                      # the trajectory went somewhere
    assert ropt.session.last_step == 50
    np.testing.assert_array_equal(ropt.session.params(), _flat(model).numpy())
    rows = ropt.session.metrics()
    assert len(rows) == 50 and all(r["loss"] is not None for r in rows)
    print("remote Adam vs torch.optim.Adam over 50 steps: max |diff| = %.3g" % worst)


def test_remote_optimizer_layout(url):
    """Scalar and multi-dim parameters in two groups (parameters without a
    gradient: test_torch_contract.py)."""
    a = torch.nn.Parameter(torch.tensor(2.0))
    b = torch.nn.Parameter(torch.ones(2, 3))
    c = torch.nn.Parameter(torch.full((4,), 5.0))
    opt = RemoteOptimizer([{"params": [a, b]}, {"params": [c]}], "sgd", url=url, lr=0.5)
    desc = opt.session.info()
    assert [t["shape"] for t in desc["tensors"]] == [[1], [2, 3], [4]]
    assert opt.num_params == 11
    (a * 3 + (b * b).sum() + c.sum() * 0).backward()
    opt.step(loss=0.0)
    assert float(a) == pytest.approx(2.0 - 0.5 * 3)
    np.testing.assert_allclose(b.detach().numpy(), np.zeros((2, 3)), atol=1e-7)
    np.testing.assert_array_equal(c.detach().numpy(), np.full(4, 5.0, np.float32))
    with pytest.raises(RuntimeError):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(1))]})
    sd = opt.state_dict()
    assert sd["optirs"]["session"] == opt.session.id and sd["optirs"]["step"] == 1


def test_remote_optimizer_passes_session_options(url):
    """Create options other than hyperparameters reach the session: the
    online learner of a learned optimizer, the non-finite policy."""
    w = torch.nn.Parameter(torch.ones(3))
    opt = RemoteOptimizer([w], "mlp_lopt", url=url, adapt={"learner": "pes", "memory": 32},
                          non_finite="skip")
    desc = opt.session.info()
    assert desc["adapt"]["learner"] == "pes" and desc["adapt"]["memory"] == 32
    assert desc["non_finite"] == "skip"
    assert "adapt" not in opt.defaults and "non_finite" not in opt.defaults
    (w * w).sum().backward()
    opt.step(loss=3.0)
    assert opt.session.info()["step"] == 1


def test_remote_optimizer_domain(daemon, url):
    """domain= reaches the create request: the domain's record, or the
    daemon's refusal when the optimizer has none (synthetic: the one domain
    without a shipped mlp_lopt record)."""
    w = torch.nn.Parameter(torch.ones(3))
    lazy = RemoteOptimizer([w], "mlp_lopt", url=url, domain="synthetic")   # made at first use
    with pytest.raises(optirs.OptirsError) as e:
        lazy.session
    assert e.value.code == "no_domain_weights"
    st, _, blob = daemon.request("GET", "/v1/weights/mlp_lopt/blob")
    assert st == 200
    st, _, data = daemon.request("POST", "/v1/weights?name=mlp_lopt.synthetic&domain=synthetic", blob,
                                 {"Content-Type": "application/octet-stream"})
    assert st == 201, data
    opt = RemoteOptimizer([w], "mlp_lopt", url=url, domain="synthetic")
    desc = opt.session.info()
    assert desc["domain"] == "synthetic" and desc["weights"] == "mlp_lopt.synthetic@1"
    assert "domain" not in opt.defaults
    (w * w).sum().backward()
    opt.step(loss=3.0)
    assert opt.session.info()["step"] == 1


@pytest.fixture(scope="module")
def fmnist():
    if not HAVE_FMNIST:
        pytest.skip("dataset-fashion-mnist is not installed")
    return train_fmnist.load_fmnist()


def test_fmnist_mlp_with_remote_adam_reaches_80_percent(url, fmnist):
    torch.set_num_threads(1)
    r = train_fmnist.train(url, "adam", epochs=3, data=fmnist, lr=1e-3)
    print("Fashion-MNIST 784-128-10 MLP, remote adam: accuracy %.4f, %d steps of %d params, %.1f s"
          % (r["accuracy"], r["steps"], r["num_params"], r["seconds"]))
    assert r["params_match"]
    assert r["accuracy"] >= 0.80


def _learned_weights(client, optimizer):
    """The name of a weights record for `optimizer` that the daemon lists, or
    None.  Tolerates the catalogue shapes in use: a "weights" list on the
    optimizer's entry or on the catalogue (strings or {"name", …} objects)."""
    st, h, data = client.request("GET", "/v1/optimizers")
    import json
    cat = json.loads(data)
    cands = []
    for o in cat.get("optimizers", []):
        if o.get("name") == optimizer:
            cands += o.get("weights") or []
    for w in cat.get("weights") or []:
        if not isinstance(w, dict) or w.get("optimizer") in (None, optimizer):
            cands.append(w)
    for w in cands:
        name = w if isinstance(w, str) else w.get("name")
        if name:
            return name
    return None


def test_fmnist_mlp_with_learned_optimizer_learns(url, fmnist):
    """mlp_lopt with trained weights when the daemon lists some, else its
    default weights.  The figure is printed; the test asserts learning
    (>= 70%), not the 80% of Adam."""
    torch.set_num_threads(1)
    weights = _learned_weights(optirs.Client(url), "mlp_lopt")
    hp = {"weights": weights} if weights else {}
    r = train_fmnist.train(url, "mlp_lopt", epochs=3, data=fmnist, **hp)
    print("Fashion-MNIST 784-128-10 MLP, remote mlp_lopt (weights: %s): accuracy %.4f, %d steps, %.1f s"
          % (weights or "default", r["accuracy"], r["steps"], r["seconds"]))
    assert r["params_match"]
    assert r["accuracy"] >= 0.70


def test_remote_optimizer_sends_the_module_graph(url):
    """graph_lopt: the module's tensor graph (module order, roles from the
    module type and the parameter name) reaches the session; adam gets none
    unless graph=True; graph=True needs a module."""
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Embedding(7, 4), torch.nn.Linear(4, 5), torch.nn.LayerNorm(5),
                                torch.nn.ReLU(), torch.nn.Linear(5, 2))
    x = torch.randint(0, 7, (8,))
    opt = RemoteOptimizer(model, "graph_lopt", url=url, lr=1e-3)
    opt.zero_grad()
    loss = model(x).sum()
    loss.backward()
    opt.step(loss=loss)
    got = {t["name"]: (t["inputs"], t["role"]) for t in opt.session.info()["tensors"]}
    assert got == {
        "0.weight": ([], "embedding"),
        "1.weight": (["0.weight"], "weight"),
        "1.bias": (["0.weight"], "bias"),
        "2.weight": (["1.weight", "1.bias"], "norm"),
        "2.bias": (["1.weight", "1.bias"], "norm"),
        "4.weight": (["2.weight", "2.bias"], "weight"),
        "4.bias": (["2.weight", "2.bias"], "bias"),
    }
    assert opt.session.last_step == 1
    plain = RemoteOptimizer(model, "adam", url=url, lr=1e-3)
    assert all("inputs" not in t for t in plain.session.info()["tensors"])
    forced = RemoteOptimizer(model, "adam", url=url, lr=1e-3, graph=True)
    assert forced.session.info()["tensors"][1]["inputs"] == ["0.weight"]
    with pytest.raises(ValueError):
        RemoteOptimizer(model.parameters(), "adam", url=url, graph=True)
