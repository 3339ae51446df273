"""optirs.torch.RemoteOptimizer keeps torch.optim's contract (issue 16 §1),
each point against torch.optim itself and a real optirsd.

Parts that need the daemon's skip mask, parameter groups with per-step
hyperparameters, or the full-state route are skipped ONLY when the daemon
answers that it lacks them (400 unknown_field for the step/create field,
404 not_found for GET /v1/sessions/{id}/state)."""
import copy
import io
import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import optirs  # noqa: E402
from daemon import Daemon  # noqa: E402
from optirs.torch import RemoteOptimizer  # noqa: E402


def _flat(params):
    return torch.cat([p.detach().reshape(-1).to(torch.float64) for p in params])


def _model(seed=1):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))


DATA = None


def _batch(k):
    global DATA
    if DATA is None:
        g = torch.Generator().manual_seed(7)
        DATA = torch.randn(64, 6, generator=g), torch.randint(0, 3, (64,), generator=g)
    x, y = DATA
    return x[k % 4::4], y[k % 4::4]


def _train(model, opt, steps, start=0, sched=None, plateau=False):
    loss_fn = torch.nn.CrossEntropyLoss()
    for k in range(start, start + steps):
        x, y = _batch(k)

        def closure():
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            return loss
        loss = opt.step(closure)
        if sched is not None:
            sched.step(float(loss)) if plateau else sched.step()


def _session_count(url):
    return len(list(optirs.Client(url).sessions()))


def _lacks(e, field):
    return isinstance(e, optirs.OptirsError) and e.code == "unknown_field" and field in e.message


# ---- 1. torch names, param_groups, repr, refusals ------------------------

def test_torch_names_mapped_and_visible(url):
    m = _model()
    before = _session_count(url)
    opt = RemoteOptimizer(m, "adam", url=url, lr=0.01, betas=(0.8, 0.99), eps=1e-7,
                          weight_decay=1e-3, amsgrad=True, foreach=None)
    g = opt.param_groups[0]
    assert g["betas"] == (0.8, 0.99) and g["eps"] == 1e-7 and g["amsgrad"] is True
    for k in ("lr", "betas", "eps", "weight_decay", "amsgrad", "warmup_steps", "clip_norm"):
        assert k in g and k in repr(opt), k
    assert "beta1" not in g and "foreach" not in g
    assert _session_count(url) == before          # nothing made before the first step
    s = RemoteOptimizer(_model(), "sgd", url=url, lr=0.1, momentum=0.9, nesterov=True, dampening=0)
    assert s.param_groups[0]["nesterov"] is True and s.param_groups[0]["momentum"] == 0.9
    # no lr= given: the group has the daemon's default, so schedulers find it
    plain = RemoteOptimizer(_model(), "sgd", url=url)
    torch.optim.lr_scheduler.CosineAnnealingLR(plain, T_max=10)
    assert plain.param_groups[0]["lr"] == 1e-3 and plain.param_groups[0]["initial_lr"] == 1e-3
    # the daemon's own names are accepted too
    assert RemoteOptimizer(_model(), "adam", url=url, beta1=0.5).param_groups[0]["betas"] == (0.5, 0.999)
    bad = [dict(maximize=True), dict(fused=True), dict(capturable=True), dict(foo=1),
           dict(momentum=0.9),                       # not an Adam hyperparameter
           dict(betas=(0.9,)), dict(lr=-1.0), dict(betas=(0.9, 0.99), beta1=0.9)]
    for kw in bad:
        with pytest.raises(ValueError):
            RemoteOptimizer(_model(), "adam", url=url, **kw)
    with pytest.raises(ValueError, match="no optimizer"):
        RemoteOptimizer(_model(), "adamx", url=url)
    with pytest.raises(ValueError, match="hyperparameter"):
        RemoteOptimizer([{"params": list(_model().parameters()), "lr_typo": 1}], "adam", url=url)
    assert _session_count(url) == before


@pytest.mark.parametrize("name,tcls,kw", [
    ("adam", torch.optim.Adam, dict(lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=1e-3)),
    ("adam", torch.optim.Adam, dict(lr=0.01, amsgrad=True)),
    ("adamw", torch.optim.AdamW, dict(lr=0.01, betas=(0.85, 0.995), weight_decay=0.05)),
    ("sgd", torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("sgd", torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.1)),
])
def test_trajectory_matches_torch(url, name, tcls, kw):
    """40 steps with torch's keywords: every parameter within 1e-6 of torch.optim."""
    m, ref = _model(), _model()
    ropt = RemoteOptimizer(m, name, url=url, **kw)
    topt = tcls(ref.parameters(), **kw)
    worst = 0.0
    for k in range(40):
        _train(m, ropt, 1, start=k)
        _train(ref, topt, 1, start=k)
        worst = max(worst, float((_flat(m.parameters()) - _flat(ref.parameters())).abs().max()))
    assert worst <= 1e-6, "%s %s: max |remote - torch| = %g" % (name, kw, worst)
    assert float((_flat(m.parameters()) - _flat(_model().parameters())).abs().max()) > 0.01
    print("%s %s vs torch over 40 steps: max |diff| = %.3g" % (name, kw, worst))


# ---- 2. tensor names -------------------------------------------------------

def test_tensor_names(url):
    m = _model()
    opt = RemoteOptimizer(m, "adam", url=url)
    names = [t["name"] for t in opt.session.info()["tensors"]]
    assert names == [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    opt = RemoteOptimizer(list(m.named_parameters())[:2], "sgd", url=url, lr=0.1)
    assert [t["name"] for t in opt.session.info()["tensors"]] == ["0.weight", "0.bias"]
    opt = RemoteOptimizer(m.parameters(), "sgd", url=url, lr=0.1, names=["a", "b", "c", "d"])
    assert [t["name"] for t in opt.session.info()["tensors"]] == ["a", "b", "c", "d"]
    with pytest.raises(ValueError):
        RemoteOptimizer(m.parameters(), "sgd", url=url, names=["a", "a", "c", "d"])
    with pytest.raises(ValueError):
        RemoteOptimizer(m.parameters(), "sgd", url=url, names=["a"])
    long = ["encoder.layers.%d.self_attention.in_projection.weight_of_a_long_name" % i for i in (1, 2)]
    opt = RemoteOptimizer([(long[0], torch.nn.Parameter(torch.ones(2))),
                           (long[1], torch.nn.Parameter(torch.ones(2)))], "sgd", url=url, lr=0.1)
    got = [t["name"] for t in opt.session.info()["tensors"]]
    assert len(set(got)) == 2 and all(len(n) <= 63 and n.endswith("weight_of_a_long_name") for n in got)


# ---- 3/4. lazy session, loss ------------------------------------------------

def test_lazy_session_and_loss(url):
    m = _model()
    before = _session_count(url)
    opt = RemoteOptimizer(m, "adam", url=url, lr=0.01)
    assert "no session yet" in repr(opt) and _session_count(url) == before
    _train(m, opt, 3)                                       # closure: loss recorded
    assert _session_count(url) == before + 1
    x, y = _batch(0)
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(m(x), y)
    loss.backward()
    opt.step(loss=loss)                                     # loss=: recorded
    opt.zero_grad()
    torch.nn.functional.cross_entropy(m(x), y).backward()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        opt.step()                                          # no loss: said once
        opt.step()
    assert len([x for x in w if "no loss sent" in str(x.message)]) == 1
    rows = opt.session.metrics()
    assert [r["loss"] is not None for r in rows] == [True, True, True, True, False, False]
    assert rows[3]["loss"] == pytest.approx(float(loss), rel=1e-6)


# ---- 5. dtypes ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, torch.float16])
def test_dtypes_stay_the_daemons_cast(url, dtype):
    """After every step the local parameters are exactly the daemon's float32
    copy cast to their dtype (float64: the float32 values themselves; half
    types: the cast of the float32 master both sides hold)."""
    torch.manual_seed(3)
    w = torch.nn.Parameter(torch.randn(4, 5, dtype=torch.float64).to(dtype))
    b = torch.nn.Parameter(torch.randn(5, dtype=torch.float64).to(dtype))
    target = torch.randn(4, 5)
    opt = RemoteOptimizer([w, b], "adam", url=url, lr=1e-3)
    for k in range(8):
        opt.zero_grad()
        ((w.float() + b.float() - target) ** 2).sum().backward()
        opt.step(loss=0.0)
        remote = torch.from_numpy(np.array(opt.session.params(), dtype=np.float32))
        local = torch.cat([w.detach().reshape(-1), b.detach()])
        assert torch.equal(remote.to(dtype), local), "step %d" % (k + 1)
    assert w.dtype == dtype
    if dtype == torch.float64:
        assert torch.equal(remote.to(dtype), local)          # float32 values exactly


def test_complex_and_sparse_refused(url):
    with pytest.raises(ValueError, match="complex"):
        RemoteOptimizer([torch.nn.Parameter(torch.ones(3, dtype=torch.complex64))], "adam", url=url)
    emb = torch.nn.Embedding(10, 4, sparse=True)
    opt = RemoteOptimizer(emb, "sgd", url=url, lr=0.1)
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(ValueError, match="sparse gradient"):
        opt.step(loss=1.0)


# ---- 6. frozen, skipped, groups, schedulers, checkpoints -----------------------

def test_frozen_parameters_not_in_session(url):
    m = _model()
    m[0].weight.requires_grad_(False)
    w0 = m[0].weight.detach().clone()
    opt = RemoteOptimizer(m, "adam", url=url, lr=0.01, weight_decay=0.1)
    _train(m, opt, 3)
    assert [t["name"] for t in opt.session.info()["tensors"]] == ["0.bias", "2.weight", "2.bias"]
    assert torch.equal(m[0].weight.detach(), w0)
    m[0].weight.requires_grad_(True)
    with pytest.raises(RuntimeError, match="frozen"):
        _train(m, opt, 1)


def _skip_or_raise(e, field):
    cause = e.__cause__ if e.__cause__ is not None else e
    if _lacks(cause, field):
        pytest.skip("this daemon has no %s" % field)
    raise e


@pytest.mark.parametrize("name,tcls,kw", [
    ("adam", torch.optim.Adam, dict(lr=0.01, weight_decay=0.1)),
    ("sgd", torch.optim.SGD, dict(lr=0.05, momentum=0.9, weight_decay=0.1)),
])
def test_parameters_without_grad_are_skipped_as_torch(url, name, tcls, kw):
    """The last layer gets no gradient on every third step: torch leaves it
    (no momentum, no decay); so does the daemon's skip mask."""
    m, ref = _model(), _model()
    ropt = RemoteOptimizer(m, name, url=url, **kw)
    topt = tcls(ref.parameters(), **kw)
    for k in range(15):
        for mod, o in ((m, ropt), (ref, topt)):
            x, y = _batch(k)
            o.zero_grad(set_to_none=True)
            h = mod[1](mod[0](x))
            loss = h.pow(2).mean() if k % 3 == 2 else torch.nn.functional.cross_entropy(mod[2](h), y)
            loss.backward()
            try:
                o.step(loss=loss) if o is ropt else o.step()
            except RuntimeError as e:
                _skip_or_raise(e, "skip_tensors")
        diff = float((_flat(m.parameters()) - _flat(ref.parameters())).abs().max())
        assert diff <= 1e-6, "step %d: %g" % (k + 1, diff)


def test_learned_optimizer_refuses_a_skip(url):
    """A learned optimizer cannot skip a tensor: the step is refused loudly
    (the daemon's 400), never sent as zeros."""
    m = _model()
    opt = RemoteOptimizer(m, "mlp_lopt", url=url)
    x, y = _batch(0)
    m[1](m[0](x)).pow(2).mean().backward()               # the last layer gets no gradient
    w = m[2].weight.detach().clone()
    with pytest.raises((optirs.OptirsError, RuntimeError)) as e:
        opt.step(loss=1.0)
    cause = e.value.__cause__ if isinstance(e.value, RuntimeError) else e.value
    if _lacks(cause, "skip_tensors"):
        pytest.skip("this daemon has no skip_tensors")
    assert isinstance(e.value, optirs.OptirsError) and e.value.status == 400
    assert torch.equal(m[2].weight.detach(), w) and opt.session.last_step == 0


def _groups_step(opt, fn):
    try:
        return fn()
    except (optirs.OptirsError, ValueError, RuntimeError) as e:
        if _lacks(e, "groups") or _lacks(e.__cause__, "groups") or "takes no per-step" in str(e):
            pytest.skip("this daemon has no parameter groups / per-step hyperparameters")
        raise


@pytest.mark.parametrize("sched", ["groups", "edit", "StepLR", "CosineAnnealingLR", "ReduceLROnPlateau",
                                   "LambdaLR"])
def test_param_groups_and_lr_schedulers(url, sched):
    m, ref = _model(), _model()

    def groups(mod):
        return [{"params": mod[0].parameters(), "lr": 0.05},
                {"params": mod[2].parameters(), "lr": 0.002, "weight_decay": 0.01}]
    ropt = RemoteOptimizer(groups(m), "adam", url=url, lr=0.01)
    topt = torch.optim.Adam(groups(ref), lr=0.01)
    mk = {"groups": lambda o: None, "edit": lambda o: None,
          "StepLR": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.3),
          # no eta_min: lr 0 at step T_max + 1 (test_lr_zero_... goes past it)
          "CosineAnnealingLR": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=16),
          "ReduceLROnPlateau": lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
              o, factor=0.5, patience=0, threshold=0.5),
          # a schedule per group: one decays, one warms up
          "LambdaLR": lambda o: torch.optim.lr_scheduler.LambdaLR(
              o, [lambda e: 0.8 ** e, lambda e: min(1.0, (e + 1) / 6)])}[sched]
    rs, ts = mk(ropt), mk(topt)
    used, used_all = [], []
    for k in range(16):
        if sched == "edit" and k == 5:
            for o in (ropt, topt):
                o.param_groups[0]["lr"] = 1.0
                o.param_groups[1]["betas"] = (0.5, 0.9)
        used.append(ropt.param_groups[0]["lr"])
        used_all.append([g["lr"] for g in ropt.param_groups])
        _groups_step(ropt, lambda: _train(m, ropt, 1, start=k, sched=rs,
                                          plateau=sched == "ReduceLROnPlateau"))
        _train(ref, topt, 1, start=k, sched=ts, plateau=sched == "ReduceLROnPlateau")
        diff = float((_flat(m.parameters()) - _flat(ref.parameters())).abs().max())
        scale = max(1.0, float(_flat(ref.parameters()).abs().max()))   # float32's ulp
        assert diff <= 1e-6 * scale, "%s step %d: %g (|p| <= %g)" % (sched, k + 1, diff, scale)
    assert [g["lr"] for g in ropt.param_groups] == [g["lr"] for g in topt.param_groups]
    rows = ropt.session.metrics()                # the lr used (the first group's), per step
    assert [r["lr"] for r in rows] == pytest.approx(used, rel=1e-6)
    assert [r["group_lr"] for r in rows] == [pytest.approx(u, rel=1e-12) for u in used_all]   # every group's


def test_lr_zero_cosine_annealing_without_eta_min_and_a_zero_group(url):
    """CosineAnnealingLR(T_max=5) without eta_min reaches lr 0 exactly at its
    5th sched.step() and climbs back; a second group sits at lr 0 all along.
    torch.optim.Adam takes both (moments and step counts advance, nothing
    moves); so does the daemon, to <= 1e-6 at every step."""
    m, ref = _model(), _model()

    def groups(mod):
        return [{"params": mod[0].parameters()}, {"params": mod[2].parameters(), "lr": 0.0}]
    ropt = RemoteOptimizer(groups(m), "adam", url=url, lr=0.02)
    topt = torch.optim.Adam(groups(ref), lr=0.02)
    rs = torch.optim.lr_scheduler.CosineAnnealingLR(ropt, T_max=5)
    ts = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=5)
    frozen = _flat(m[2].parameters())
    used = []
    for k in range(12):
        used.append([g["lr"] for g in ropt.param_groups])
        _groups_step(ropt, lambda: _train(m, ropt, 1, start=k, sched=rs))
        _train(ref, topt, 1, start=k, sched=ts)
        diff = float((_flat(m.parameters()) - _flat(ref.parameters())).abs().max())
        assert diff <= 1e-6, "step %d: %g" % (k + 1, diff)
    assert [u[0] for u in used].count(0.0) == 1 and used[5][0] == 0.0   # torch's own zero, sent as is
    assert all(u[1] == 0.0 for u in used)
    assert torch.equal(_flat(m[2].parameters()), frozen)                # a zero-lr group never moves
    with pytest.raises(ValueError, match="out of range"):
        ropt.param_groups[0]["lr"] = -1e-3
        ropt.step(lambda: _train_loss(m))


def _train_loss(model):
    x, y = _batch(0)
    loss = torch.nn.CrossEntropyLoss()(model(x), y)
    loss.backward()
    return loss


def _checkpoint(model, opt):
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buf)
    buf.seek(0)
    return torch.load(buf)


@pytest.mark.parametrize("name,tcls,kw", [
    ("adam", torch.optim.Adam, dict(lr=0.01, betas=(0.9, 0.99))),
    ("adamw", torch.optim.AdamW, dict(lr=0.01, weight_decay=0.05)),
    ("sgd", torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
])
def test_save_kill_resume_matches_torch(name, tcls, kw):
    """20 steps, checkpoint, the daemon killed (SIGKILL; its database gone
    with it), 20 more steps on a new daemon from the checkpoint: equal to
    torch.optim resumed the same way within 1e-6; load_state_dict makes no
    session, the first step after it exactly one."""
    ref = _model()
    topt = tcls(ref.parameters(), **kw)
    _train(ref, topt, 20)
    tck = _checkpoint(ref, topt)
    ref, topt = _model(5), None
    ref.load_state_dict(tck["model"])
    topt = tcls(ref.parameters(), **kw)
    topt.load_state_dict(tck["opt"])
    _train(ref, topt, 20, start=20)

    d1 = Daemon().start()
    try:
        url1 = "http://127.0.0.1:%d" % d1.port
        m = _model()
        opt = RemoteOptimizer(m, name, url=url1, **kw)
        _train(m, opt, 20)
        ck = _checkpoint(m, opt)
        if ck["opt"]["optirs"]["state"] is None:
            pytest.skip("this daemon has no GET /v1/sessions/{id}/state")
        assert ck["opt"]["optirs"]["step"] == 20
    finally:
        d1.kill9()
        d1.cleanup()
    d2 = Daemon().start()
    try:
        url2 = "http://127.0.0.1:%d" % d2.port
        m2 = _model(5)
        m2.load_state_dict(ck["model"])
        opt2 = RemoteOptimizer(m2, name, url=url2, **kw)
        opt2.load_state_dict(ck["opt"])
        assert _session_count(url2) == 0                  # lazy: no stray session
        _train(m2, opt2, 20, start=20)
        assert _session_count(url2) == 1 and opt2.session.last_step == 40
        diff = float((_flat(m2.parameters()) - _flat(ref.parameters())).abs().max())
        assert diff <= 1e-6, "%s resumed: max |remote - torch| = %g" % (name, diff)
        print("%s save -> kill -> resume vs torch: max |diff| = %.3g" % (name, diff))
        # a model not restored from the checkpoint is refused, not stepped on
        m3 = _model(9)
        opt3 = RemoteOptimizer(m3, name, url=url2, **kw)
        opt3.load_state_dict(ck["opt"])
        with pytest.raises(ValueError, match="differ"):
            _train(m3, opt3, 1, start=20)
        assert _session_count(url2) == 1
    finally:
        d2.cleanup()


def test_resume_with_groups_and_scheduler_matches_torch():
    """Two groups and a StepLR: checkpoint (model, optimizer, scheduler) at
    step 8, the daemon killed, 8 more steps on a new daemon: equal to
    torch.optim.Adam and its scheduler resumed the same way."""
    def groups(mod):
        return [{"params": mod[0].parameters(), "lr": 0.03},
                {"params": mod[2].parameters(), "lr": 0.01, "betas": (0.8, 0.99)}]

    def sched(o):
        return torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)
    ref = _model()
    topt = torch.optim.Adam(groups(ref))
    ts = sched(topt)
    _train(ref, topt, 16, sched=ts)
    d = Daemon().start()
    try:
        url = "http://127.0.0.1:%d" % d.port
        m = _model()
        opt = RemoteOptimizer(groups(m), "adam", url=url)
        rs = sched(opt)
        _groups_step(opt, lambda: _train(m, opt, 8, sched=rs))
        ck = _checkpoint(m, opt)
        ck["sched"] = rs.state_dict()
        if ck["opt"]["optirs"]["state"] is None:
            pytest.skip("this daemon has no GET /v1/sessions/{id}/state")
    finally:
        d.kill9()
        d.cleanup()
    d = Daemon().start()
    try:
        url = "http://127.0.0.1:%d" % d.port
        m2 = _model(6)
        m2.load_state_dict(ck["model"])
        opt2 = RemoteOptimizer(groups(m2), "adam", url=url)
        rs2 = sched(opt2)
        opt2.load_state_dict(ck["opt"])
        rs2.load_state_dict(ck["sched"])
        _train(m2, opt2, 8, start=8, sched=rs2)
        diff = float((_flat(m2.parameters()) - _flat(ref.parameters())).abs().max())
        assert diff <= 1e-6, "resumed with groups and StepLR: %g" % diff
        assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in topt.param_groups]
    finally:
        d.cleanup()


def test_resume_refuses_a_session_at_another_step(url):
    """The checkpoint says step 10; the daemon's session went on to 15: the
    default resume refuses at load_state_dict; resume="import" continues from
    the checkpoint's own state, as torch does."""
    m = _model()
    opt = RemoteOptimizer(m, "adam", url=url, lr=0.01)
    _train(m, opt, 10)
    ck = _checkpoint(m, opt)
    if ck["opt"]["optirs"]["state"] is None:
        pytest.skip("this daemon has no GET /v1/sessions/{id}/state")
    _train(m, opt, 1, start=10)
    at11 = _flat(m.parameters())
    _train(m, opt, 4, start=11)
    m2 = _model(3)
    m2.load_state_dict(ck["model"])
    opt2 = RemoteOptimizer(m2, "adam", url=url, lr=0.01)
    with pytest.raises(ValueError, match="step 15 on the daemon, the checkpoint at step 10"):
        opt2.load_state_dict(ck["opt"])
    opt3 = RemoteOptimizer(m2, "adam", url=url, lr=0.01, resume="import")
    opt3.load_state_dict(ck["opt"])
    _train(m2, opt3, 1, start=10)
    assert opt3.session.id != opt.session.id and opt3.session.last_step == 11
    assert torch.equal(_flat(m2.parameters()), at11)      # the same step 11, bit for bit


def test_restart_that_lost_steps_is_refused_then_imported():
    """The issue's case: the daemon is killed before its next checkpoint and
    comes back with the session at step 0 while the checkpoint says 10.  The
    default resume refuses it at load_state_dict; resume="import" continues
    from the checkpoint's state, equal to torch.optim.Adam resumed the same way."""
    d = Daemon("--checkpoint-interval", "86400").start()
    try:
        url = "http://127.0.0.1:%d" % d.port
        m = _model()
        opt = RemoteOptimizer(m, "adam", url=url, lr=0.01)
        _train(m, opt, 10)
        ck = _checkpoint(m, opt)
        if ck["opt"]["optirs"]["state"] is None:
            pytest.skip("this daemon has no GET /v1/sessions/{id}/state")
        d.kill9()
        d = Daemon("--checkpoint-interval", "86400", tmpdir=d.dir, db=d.db).start()
        d.own_dir = True
        url = "http://127.0.0.1:%d" % d.port
        sid = ck["opt"]["optirs"]["session"]
        assert optirs.Client(url).session(sid).last_step == 0     # the lost window
        m2 = _model(4)
        m2.load_state_dict(ck["model"])
        with pytest.raises(ValueError, match="step 0 on the daemon, the checkpoint at step 10"):
            RemoteOptimizer(m2, "adam", url=url, lr=0.01).load_state_dict(ck["opt"])
        opt2 = RemoteOptimizer(m2, "adam", url=url, lr=0.01, resume="import")
        opt2.load_state_dict(ck["opt"])
        _train(m2, opt2, 5, start=10)
        ref = _model()
        topt = torch.optim.Adam(ref.parameters(), lr=0.01)
        _train(ref, topt, 15)
        diff = float((_flat(m2.parameters()) - _flat(ref.parameters())).abs().max())
        assert diff <= 1e-6 and opt2.session.last_step == 15
    finally:
        d.cleanup()


# ---- 7. close, context manager ------------------------------------------------

def test_close_and_context_manager(url):
    m = _model()
    with RemoteOptimizer(m, "adam", url=url, lr=0.01) as opt:
        _train(m, opt, 2)
        sid = opt.session.id
    with pytest.raises(RuntimeError, match="closed"):
        _train(m, opt, 1)
    c = optirs.Client(url)
    assert c.session(sid).last_step == 2                 # kept (finished, not deleted)
    opt = RemoteOptimizer(m, "adam", url=url, lr=0.01)
    _train(m, opt, 1)
    sid = opt.session.id
    opt.close(delete=True)
    opt.close()
    with pytest.raises(optirs.OptirsError) as e:
        c.session(sid)
    assert e.value.code == "session_not_found"
    with RemoteOptimizer(m, "adam", url=url) as opt:     # never stepped: nothing made
        pass
