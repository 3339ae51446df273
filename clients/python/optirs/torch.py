"""optirs.torch — a torch.optim.Optimizer whose steps run on optirsd.

    from optirs.torch import RemoteOptimizer
    with RemoteOptimizer(model, "adam", lr=1e-3, betas=(0.9, 0.99)) as opt:
        for x, y in loader:
            opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward()
            opt.step(loss=loss)                      # or opt.step(closure)

Contract kept with torch.optim (each point fails loudly when it cannot hold):

- Hyperparameters take torch's names and types (``betas=(b1, b2)``, ``eps``,
  ``weight_decay``, ``amsgrad=True``, ``momentum``, ``nesterov``, …, or the
  daemon's ``beta1``/``beta2``); every hyperparameter of the daemon's
  optimizer is in each ``param_groups`` entry and in ``repr()``; an unknown
  name or an option the daemon cannot honour is a ValueError (optirs.hparams).
- The session is made lazily, on the first ``step()`` (or when ``.session``
  is read): its tensors are the parameters that require a gradient, in group
  order, named after ``named_parameters()`` when given a module or
  ``(name, tensor)`` pairs (or ``names=``), else ``p<index>`` (a name over 63
  bytes keeps its end behind a hash); each
  parameter group is a group of the session with its own hyperparameters.
  Frozen parameters (requires_grad=False then) are not part of it; one that
  has a gradient later is an error.
- A step sends every gradient as one float32 vector (``dtype="bf16"`` or
  ``"f16"``: as one bfloat16 or float16 vector, rounded by torch's own cast,
  half the bytes; the answer stays float32 unless ``answer_dtype`` says
  otherwise, see below); a parameter whose
  ``.grad`` is None is skipped as torch skips it (the daemon's skip mask: no
  update, no momentum, no decay); the current value of every group's
  hyperparameters that differs from the session's goes with the step, so
  ``param_groups[i]["lr"] = …`` and torch.optim.lr_scheduler take effect.
- The local parameters stay equal to the daemon's float32 copy: float32 as is;
  float64 parameters are rounded to float32 when the session is made and stay
  float32 values; float16/bfloat16 parameters are the cast of a float32
  master copy kept here (as the daemon's).  ``answer_dtype="bf16"`` (or
  ``"f16"``) halves the answer too, and gives this point up: the local
  parameters then add the rounded update and drift from the daemon's copy
  by that rounding.  Complex parameters, sparse
  parameters or gradients, and non-float dtypes are refused (ValueError).
- ``state_dict()`` holds the daemon's full state (GET /v1/sessions/{id}/state);
  ``load_state_dict`` creates no session: the first step afterwards attaches to
  the checkpoint's session when the daemon has it at the checkpoint's step, or
  imports the saved state into a new session (exactly the same next update),
  and refuses a daemon session whose step disagrees (``resume="import"`` then
  continues from the checkpoint's own state).  The local parameters must then
  equal the checkpoint's (restore the model first).
- The loss of a step is the closure's or ``loss=``; without either no loss is
  recorded (a warning says so once).
- The model's tensor graph (what ``graph_lopt`` reads): given a module, each
  session tensor names as ``inputs`` the parameters of the previous module
  (in ``named_modules()`` order, modules without parameters skipped; at most
  the last 8) and takes a ``role`` from its module's type (Embedding:
  embedding; a ...Norm: norm) or else its name (…bias: bias, …weight:
  weight, other: other).  ``graph=None`` (default) sends it for
  ``graph_lopt`` only, ``graph=True`` for any optimizer, ``graph=False``
  never; a daemon without the graph gets the tensors without it.
"""
import hashlib
import warnings

import numpy as np
import torch

from .client import DTYPES, Client, OptirsError
from .hparams import GROUP_EXTRAS, Table

__all__ = ["RemoteOptimizer"]

_SESSION_KEYS = ("weights", "schedule", "total_steps", "durability", "workers", "name", "tags",
                 "adapt", "non_finite", "divergence_factor", "domain")
_FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
_NAME_MAX = 63                      # bytes of a tensor name (LAYOUT_NAME_MAX - 1)
_CKPT_FORMAT = "optirs-torch-optimizer"


def _unsupported(p, what):
    """Why tensor p cannot be a session tensor, or None."""
    if p.is_complex():
        return ("%s is complex (%s): the daemon optimizes real float32 vectors; "
                "optimize torch.view_as_real(...) of a real parameter instead" % (what, p.dtype))
    if p.is_sparse or p.layout != torch.strided:
        return "%s is a sparse tensor (%s): only dense parameters are supported" % (what, p.layout)
    if p.dtype not in _FLOATS:
        return "%s has dtype %s: only float32, float64, float16 and bfloat16" % (what, p.dtype)
    return None


def _module_graph(model):
    """{id(param): (index of its module in named_modules() order, role)}."""
    out = {}
    for mi, (_, m) in enumerate(model.named_modules()):
        kind = type(m).__name__
        for pname, p in m.named_parameters(recurse=False):
            if id(p) in out:                 # a shared parameter: its first module
                continue
            if kind.startswith("Embedding"):
                role = "embedding"
            elif "Norm" in kind:
                role = "norm"
            elif pname.endswith("bias"):
                role = "bias"
            elif pname.endswith("weight"):
                role = "weight"
            else:
                role = "other"
            out[id(p)] = (mi, role)
    return out


class RemoteOptimizer(torch.optim.Optimizer):
    """``RemoteOptimizer(params, optimizer="adam", url=None, **hyperparams)``.

    ``params``: a module (its ``named_parameters()``), tensors, ``(name,
    tensor)`` pairs, or parameter groups (dicts with ``"params"`` and their
    own hyperparameters), as torch.optim takes them.  Keyword-only extras:
    ``client`` (an optirs.Client to use instead of one made from
    ``url``/``api_key``), ``api_key``, ``names`` (tensor names in parameter
    order), ``session_id`` (attach to an existing session, e.g. the shared
    session of data-parallel workers), ``worker`` (this worker's name in a
    shared session), ``resume`` (``"attach"`` or ``"import"``, see
    load_state_dict), and the session options ``weights``, ``domain``,
    ``schedule``, ``total_steps``, ``durability``, ``workers``, ``name``,
    ``tags``, ``adapt``, ``non_finite``, ``divergence_factor``, and the wire
    dtypes ``dtype`` (of the gradients: ``"f32"``, ``"f16"``, ``"bf16"``)
    and ``answer_dtype`` (of the updates, default ``"f32"``; binary client
    only, proto/binary.md §8).  Every other
    keyword is a hyperparameter (torch's or the daemon's name; see
    GET /v1/optimizers)."""

    def __init__(self, params, optimizer="adam", url=None, *, client=None, api_key=None,
                 session_id=None, worker=None, names=None, resume="attach", dtype="f32",
                 answer_dtype="f32", graph=None, **hyperparams):
        if resume not in ("attach", "import"):
            raise ValueError("optirs: resume must be 'attach' or 'import', not %r" % (resume,))
        self._session_opts = {k: hyperparams.pop(k) for k in _SESSION_KEYS if k in hyperparams}
        self.client = client or Client(url, api_key=api_key)
        for what, d in (("dtype", dtype), ("answer_dtype", answer_dtype)):
            if d not in DTYPES:
                raise ValueError("optirs: %s must be one of %s, not %r" % (what, ", ".join(DTYPES), d))
        if (dtype != "f32" or answer_dtype != "f32") and not self.client.binary:
            raise ValueError("optirs: dtype %s / answer_dtype %s needs a binary client (numpy)"
                             % (dtype, answer_dtype))
        self.dtype, self.answer_dtype = dtype, answer_dtype
        self.optimizer = optimizer
        self._table = Table(self.client.optimizer(optimizer))
        self._names = {}                      # id(param) -> tensor name
        self._session = None
        self._attach_id = session_id
        self._pending = None                  # the "optirs" part of a loaded checkpoint
        self._resume = resume
        self._closed = False
        self._warned_loss = False
        self._features = set()                # step fields this daemon is known to take
        self.worker = worker
        self.last_loss = None
        if graph not in (None, True, False):
            raise ValueError("optirs: graph must be None, True or False, not %r" % (graph,))
        self._graph = graph
        self._modules = {}                    # id(param) -> (module index, role)
        if isinstance(params, torch.nn.Module):
            self._modules = _module_graph(params)
            params = list(params.named_parameters())
        elif graph:
            raise ValueError("optirs: graph=True needs the model (a torch.nn.Module) as params")
        super().__init__(params, self._table.defaults(hyperparams))
        if names is not None:
            plist = self._all_params()
            names = list(names)
            if len(names) != len(plist):
                raise ValueError("optirs: %d names for %d parameters" % (len(names), len(plist)))
            for p, n in zip(plist, names):
                self._names[id(p)] = str(n)
        self._check_names()

    # ---- parameter groups and names ------------------------------------

    def _all_params(self):
        return [p for g in self.param_groups for p in g["params"]]

    def add_param_group(self, param_group):
        """As torch's; the hyperparameters are checked and take torch's
        names.  Refused once the session exists (its layout is fixed)."""
        if getattr(self, "_session", None) is not None:
            raise RuntimeError("RemoteOptimizer: the session's layout is fixed; "
                               "parameter groups cannot be added after the first step")
        group = dict(param_group)
        ps = group["params"]
        if isinstance(ps, torch.nn.Module):
            ps = list(ps.named_parameters())
        elif isinstance(ps, torch.Tensor):
            ps = [ps]
        else:
            ps = list(ps)
        plain = []
        for item in ps:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
                self._names[id(item[1])] = item[0]
                item = item[1]
            if isinstance(item, torch.Tensor):
                why = _unsupported(item, "parameter %s" % self._names.get(id(item), "#%d" % len(plain)))
                if why:
                    raise ValueError("optirs: " + why)
            plain.append(item)
        group["params"] = plain
        hp = {k: v for k, v in group.items() if k != "params" and k not in GROUP_EXTRAS}
        extras = {k: v for k, v in group.items() if k in GROUP_EXTRAS}
        group = dict(self._table.normalize(hp, "in a parameter group"), params=plain, **extras)
        super().add_param_group(group)
        self._check_names()

    def _check_names(self):
        seen = set()
        for i, p in enumerate(self._all_params()):
            n = self._name(i, p)
            if not n:
                raise ValueError("optirs: parameter %d has an empty name" % i)
            if n in seen:
                raise ValueError("optirs: tensor name %r appears twice" % n)
            seen.add(n)

    def _name(self, i, p):
        """Parameter i's tensor name; one longer than the daemon's limit
        keeps its end behind a hash of the whole (deterministic)."""
        n = self._names.get(id(p), "p%d" % i)
        b = n.encode()
        if len(b) <= _NAME_MAX:
            return n
        tail = b[-(_NAME_MAX - 9):].decode("utf-8", "ignore")
        return "%s~%s" % (hashlib.sha1(b).hexdigest()[:8], tail)

    def _layout(self):
        """[(group index, param, name)] of the session's tensors: the
        parameters that require a gradient, in group order."""
        out = []
        for gi, g in enumerate(self.param_groups):
            for p in g["params"]:
                if p.requires_grad:
                    out.append((gi, p, None))
        allp = self._all_params()
        index = {id(p): i for i, p in enumerate(allp)}
        out = [(gi, p, self._name(index[id(p)], p)) for gi, p, _ in out]
        if not out:
            raise ValueError("RemoteOptimizer: no parameter requires a gradient")
        for gi, p, n in out:
            why = _unsupported(p, "parameter %s" % n)
            if why:
                raise ValueError("optirs: " + why)
        return out

    # ---- the session ---------------------------------------------------

    @property
    def session(self):
        """The optirs.Session (made, attached or imported on first use)."""
        if self._session is None:
            self._bind()
        return self._session

    @property
    def num_params(self):
        return self.session.num_params

    def _bind(self):
        if self._closed:
            raise RuntimeError("RemoteOptimizer is closed")
        self._lay = self._layout()
        self._numels = [p.numel() for _, p, _ in self._lay]
        gidx = sorted({gi for gi, _, _ in self._lay})
        self._dgroup = {gi: k for k, gi in enumerate(gidx)}     # local group -> session group
        if self._pending is not None:
            sess = self._resume_session(self._pending)
        elif self._attach_id is not None:
            sess = self.client.session(self._attach_id)
            self._check_layout(sess)
        else:
            sess = self._create()
        self._shadow = {}
        if self._attach_id is not None or sess.last_step > 0:
            try:
                self._sync_from_daemon(sess)
            except ValueError:
                if self._pending is not None and sess.id != self._pending.get("session"):
                    sess.delete()           # the import just made: no stray session
                raise
        else:
            for _, p, _ in self._lay:
                if p.dtype in (torch.float16, torch.bfloat16):
                    self._shadow[id(p)] = p.detach().to(torch.float32)
        self._base = self._session_hparams(sess.desc)
        self._session = sess
        self._pending = None

    def _create(self):
        with torch.no_grad():
            for _, p, _ in self._lay:
                if p.dtype == torch.float64:     # the daemon's float32 value, exactly
                    p.copy_(p.to(torch.float32))
            init = torch.cat([p.detach().reshape(-1).to("cpu", torch.float32)
                              for _, p, _ in self._lay])
        plain = [{"name": n, "shape": list(p.shape) or [1]} for _, p, n in self._lay]
        send = self._graph if self._graph is not None else self.optimizer == "graph_lopt"
        if send and self._modules:
            try:
                return self._create_with(self._graph_tensors(plain), init)
            except OptirsError as e:
                if e.code != "unknown_field" or not ("inputs" in e.message or "role" in e.message):
                    raise
                warnings.warn("optirs: this daemon takes no tensor graph; the session has none")
        return self._create_with(plain, init)

    def _graph_tensors(self, plain):
        """Copies of plain's tensors with "inputs" and "role" (the module order)."""
        plain = [dict(t) for t in plain]
        mods, order = {}, []
        for (_, p, n), t in zip(self._lay, plain):
            mi, role = self._modules.get(id(p), (None, "other"))
            if mi not in mods:
                mods[mi] = []
                order.append(mi)
            mods[mi].append(n)
            t["role"] = role
        prev = {}
        for k, mi in enumerate(order):
            prev[mi] = mods[order[k - 1]][-8:] if k else []
        for (_, p, n), t in zip(self._lay, plain):
            t["inputs"] = list(prev[self._modules.get(id(p), (None, ""))[0]])
        return plain

    def _create_with(self, tensors, init):
        base = self._table.to_daemon(self.defaults)
        groups = []
        for gi in sorted(self._dgroup):
            hp = self._table.to_daemon(self.param_groups[gi])
            g = {"tensors": [n for gj, _, n in self._lay if gj == gi]}
            g.update({k: v for k, v in hp.items() if v != base[k]})
            groups.append(g)
        differ = any(len(g) > 1 for g in groups)
        # Several groups become the session's groups when they differ, or
        # when the daemon can take per-group values later (classic
        # optimizers of a session of one worker without adaptation).
        able = (self._table.kind == "classic" and not self._session_opts.get("adapt")
                and int(self._session_opts.get("workers") or 1) <= 1)
        opts = dict(self._session_opts)
        if len(groups) > 1 and (differ or able):
            opts["groups"] = groups
        try:
            return self.client.create_session(self.optimizer, tensors=tensors, hyperparams=base,
                                              params=init.numpy(), **opts)
        except OptirsError as e:
            if e.code != "unknown_field" or "groups" not in e.message:
                raise
            if differ:
                raise ValueError("optirs: this daemon has no parameter groups, and the groups "
                                 "here have different hyperparameters") from e
        # A daemon without parameter groups: one set of hyperparameters.
        return self.client.create_session(self.optimizer, tensors=tensors, hyperparams=base,
                                          params=init.numpy(), **self._session_opts)

    def _check_layout(self, sess):
        want = [(n, list(p.shape) or [1]) for _, p, n in self._lay]
        have = [(t["name"], list(t["shape"])) for t in sess.desc.get("tensors", [])]
        if sess.num_params != sum(self._numels):
            raise ValueError("optirs: session %s has %d parameters, the model %d"
                             % (sess.id, sess.num_params, sum(self._numels)))
        if [s for _, s in have] != [s for _, s in want]:
            raise ValueError("optirs: session %s has tensors %s, the model %s"
                             % (sess.id, have, want))

    def _session_hparams(self, desc):
        """The hyperparameters the daemon applies to each of the session's
        groups when a step carries none: [{name: value}], one per group of
        the session (one for a session without groups)."""
        base = {k: v if isinstance(v, str) else float(v)   # a name: mlp_lopt's activation
                for k, v in desc.get("hyperparams", {}).items()}
        groups = desc.get("groups")
        if not isinstance(groups, list) or not groups:
            return [base]
        if len(groups) != len(self._dgroup):
            raise ValueError("optirs: session %s has %d parameter groups, this optimizer %d"
                             % (desc.get("id"), len(groups), len(self._dgroup)))
        out = []
        for g in groups:
            hp = dict(base)
            src = g.get("hyperparams", g) if isinstance(g, dict) else {}
            hp.update({n: float(v) for n, v in src.items()
                       if n in base and isinstance(v, (int, float)) and not isinstance(v, bool)})
            out.append(hp)
        return out

    def _sync_from_daemon(self, sess):
        """An attached or imported session: the local parameters must be the
        daemon's (cast to their dtype); float16/bfloat16 masters come from it."""
        remote = torch.from_numpy(np.array(sess.params(), dtype=np.float32))
        off = 0
        bad = []
        with torch.no_grad():
            for (_, p, n), k in zip(self._lay, self._numels):
                r = remote[off:off + k].view_as(p)
                off += k
                if not torch.equal(r.to(p.dtype), p.detach().to("cpu")):
                    bad.append(n)
                elif p.dtype in (torch.float16, torch.bfloat16):
                    self._shadow[id(p)] = r.to(p.device)
        if bad:
            raise ValueError("optirs: the parameters %s differ from session %s's at step %d "
                             "(restore the model's state_dict from the same checkpoint first)"
                             % (", ".join(bad[:5]) + (" …" if len(bad) > 5 else ""),
                                sess.id, sess.last_step))

    # ---- a step --------------------------------------------------------

    @torch.no_grad()
    def step(self, closure=None, loss=None):
        """Runs one remote step; returns the closure's loss (or ``loss``).
        The loss, when known, is sent with the step (step metrics)."""
        if self._closed:
            raise RuntimeError("RemoteOptimizer is closed")
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        sess = self.session
        lay_ids = {id(p) for _, p, _ in self._lay}
        for i, p in enumerate(self._all_params()):
            if id(p) not in lay_ids and p.grad is not None:
                raise RuntimeError("optirs: parameter %s has a gradient but was frozen "
                                   "(requires_grad=False) when the session was made, so the "
                                   "session has no room for it" % self._name(i, p))
        parts, skip = [], []
        for t, ((_, p, n), k) in enumerate(zip(self._lay, self._numels)):
            g = p.grad
            if g is None:
                skip.append(t)
                parts.append(torch.zeros(k, dtype=torch.float32))
                continue
            if g.is_sparse or g.layout != torch.strided:
                raise ValueError("optirs: parameter %s has a sparse gradient; the daemon takes "
                                 "dense gradients (e.g. nn.Embedding(sparse=False))" % n)
            if g.is_complex():
                raise ValueError("optirs: parameter %s has a complex gradient" % n)
            if p.numel() != k:
                raise ValueError("optirs: parameter %s has %d elements, the session %d"
                                 % (n, p.numel(), k))
            parts.append(g.detach().reshape(-1).to("cpu", torch.float32))
        if len(skip) == len(self._lay):
            return loss                        # torch: no parameter has a gradient, no step
        lval = None
        if loss is not None:
            lval = float(loss.detach()) if torch.is_tensor(loss) else float(loss)
        elif not self._warned_loss:
            self._warned_loss = True
            warnings.warn("optirs: no loss sent with this step (use opt.step(loss=loss) or a "
                          "closure); the session's metrics record none", stacklevel=4)
        hp = self._step_hparams()
        need = [f for f, on in (("skip", bool(skip)), ("hyperparams", hp is not None)) if on]
        probe = [f for f in need if f not in self._features]
        # one tensor: its gradient's own memory, no concatenation copy
        flat = parts[0] if len(parts) == 1 else torch.cat(parts)
        if self.dtype != "f32":
            # torch's own cast rounds to nearest even, as the wire format says;
            # a JSON probe step carries the same rounded values as floats
            half = flat.to(torch.bfloat16 if self.dtype == "bf16" else torch.float16)
            flat = half.to(torch.float32) if probe else half.view(torch.int16)
        try:
            update = sess.step(flat.numpy(), loss=lval, worker=self.worker, skip=skip or None,
                               hyperparams=hp, binary=False if probe else None,
                               dtype=None if probe else self.dtype,
                               answer_dtype=None if probe else self.answer_dtype)
        except OptirsError as e:
            if e.code == "unknown_field" and "hyperparams" in e.message:
                raise RuntimeError("optirs: param_groups changed (%s) but this daemon takes no "
                                   "per-step hyperparameters" % hp) from e
            if e.code == "unknown_field" and "skip_tensors" in e.message:
                raise RuntimeError(
                    "optirs: %s have no gradient this step and this daemon cannot skip tensors "
                    "(torch would leave them and their state alone); give them a gradient or "
                    "use a daemon with the skip mask" % ", ".join(self._lay[t][2] for t in skip)
                ) from e
            raise
        self._features.update(probe)
        u = torch.from_numpy(np.ascontiguousarray(update, dtype=np.float32))
        off = 0
        skipped = set(skip)
        for t, ((_, p, _), k) in enumerate(zip(self._lay, self._numels)):
            if t not in skipped:
                self._apply(p, u[off:off + k].view_as(p))
            off += k
        self.last_loss = lval
        return loss

    def _apply(self, p, u):
        """p += u as the daemon adds it (float32), keeping p its cast."""
        if p.dtype == torch.float32:
            p.add_(u.to(p.device))
        elif p.dtype == torch.float64:
            p.copy_(p.to(torch.float32) + u.to(p.device))
        else:
            m = self._shadow[id(p)]
            m.add_(u.to(m.device))
            p.copy_(m)

    def _step_hparams(self):
        """The step's hyperparameters: per session group, the values that
        differ from the group's own; None when nothing differs."""
        vals = [self._table.to_daemon(self.param_groups[gi]) for gi in sorted(self._dgroup)]
        if len(self._base) == 1 and any(v != vals[0] for v in vals[1:]):
            raise RuntimeError("optirs: the param_groups' hyperparameters now differ, but the "
                               "session has one set (its optimizer or this daemon takes no "
                               "parameter groups, or they were equal when it was made)")
        if len(self._base) == 1:
            vals = vals[:1]
        out = [{k: v for k, v in hp.items() if k not in base or v != base[k]}
               for hp, base in zip(vals, self._base)]
        return out if any(out) else None

    # ---- checkpoints ---------------------------------------------------

    def state_dict(self):
        """torch's state dict plus ``"optirs"``: the optimizer, the tensor
        names, the session and its step, and the daemon's full state (None
        for a daemon without GET /v1/sessions/{id}/state: attach-only)."""
        sd = super().state_dict()
        if self._session is None:
            info = dict(self._pending) if self._pending else {
                "format": _CKPT_FORMAT, "version": 1, "optimizer": self.optimizer,
                "session": None, "step": 0, "state": None}
        else:
            try:
                state = self._session.export_state()
            except OptirsError as e:
                if e.code != "not_found":
                    raise
                state = None
            step = int(state["step"]) if state else self._session.last_step
            info = {"format": _CKPT_FORMAT, "version": 1, "optimizer": self.optimizer,
                    "session": self._session.id, "step": step, "state": state}
        info["url"] = self.client.url
        info["names"] = [n for _, _, n in self._layout()]
        sd["optirs"] = info
        return sd

    def load_state_dict(self, state_dict):
        """Loads a RemoteOptimizer checkpoint without making a session.  The
        next step attaches to the checkpoint's session if the daemon has it
        at the checkpoint's step, else imports the saved full state into a
        new session.  A daemon session at another step is refused here
        (ValueError) unless ``resume="import"``."""
        sd = dict(state_dict)
        info = sd.pop("optirs", None)
        if isinstance(info, dict) and "format" not in info and "session" in info:
            # a checkpoint of the first client (session and step only): attach-only
            info = {"format": _CKPT_FORMAT, "version": 1, "optimizer": self.optimizer,
                    "session": info["session"], "step": info.get("step", 0), "state": None,
                    "names": [n for _, _, n in self._layout()]}
        if not isinstance(info, dict) or info.get("format") != _CKPT_FORMAT:
            raise ValueError("optirs: not a RemoteOptimizer state dict (no 'optirs' part)")
        if info.get("optimizer") != self.optimizer:
            raise ValueError("optirs: the checkpoint is of optimizer %r, this one %r"
                             % (info.get("optimizer"), self.optimizer))
        names = [n for _, _, n in self._layout()]
        if info.get("names") != names:
            raise ValueError("optirs: the checkpoint's tensors %s are not this optimizer's %s"
                             % (info.get("names"), names))
        if info.get("session") is not None:
            self._decide(info)
        super().load_state_dict(sd)
        self._session = None
        self._attach_id = None
        self._pending = dict(info) if info.get("session") is not None else None

    def _decide(self, info):
        """'attach' or 'import' for a checkpoint, or ValueError."""
        try:
            desc = self.client._json("GET", "/v1/sessions/%s" % info["session"])
        except OptirsError as e:
            if e.code != "session_not_found":
                raise
            desc = None
        if desc is not None and self._resume == "attach":
            if int(desc["step"]) == int(info["step"]):
                return "attach"
            raise ValueError(
                "optirs: session %s is at step %d on the daemon, the checkpoint at step %d; "
                "stepping on would use the wrong optimizer state. Pass resume='import' to "
                "continue from the checkpoint's saved state in a new session"
                % (info["session"], int(desc["step"]), int(info["step"])))
        if info.get("state") is None:
            raise ValueError("optirs: session %s is not on this daemon and the checkpoint holds "
                             "no full state (saved from a daemon without state export)"
                             % info["session"])
        return "import"

    def _resume_session(self, info):
        how = self._decide(info)
        if how == "attach":
            sess = self.client.session(info["session"])
        else:
            sess = self.client.import_session(info["state"])
        self._check_layout(sess)
        if sess.last_step != int(info["step"]):
            raise ValueError("optirs: session %s is at step %d, the checkpoint at %d"
                             % (sess.id, sess.last_step, int(info["step"])))
        return sess

    # ---- lifecycle -----------------------------------------------------

    def close(self, delete=False):
        """Ends this optimizer: marks the session finished (a daemon with
        session lifecycle; PATCH) or deletes it (``delete=True``), and closes
        the connection.  Further steps raise RuntimeError.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._session is not None:
                if delete:
                    self._session.delete()
                else:
                    try:
                        self.client.request("PATCH", self._session._path, {"status": "finished"})
                    except OptirsError as e:
                        if e.code != "method_not_allowed":
                            raise
        finally:
            self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        where = "session %s" % self._session.id if self._session is not None else "no session yet"
        head = "RemoteOptimizer(%s @ %s, %s)" % (self.optimizer, self.client.url, where)
        return head + "\n" + super().__repr__()
