"""optirs.torch — a torch.optim.Optimizer whose steps run on optirsd.

    from optirs.torch import RemoteOptimizer
    opt = RemoteOptimizer(model.parameters(), optimizer="adam", lr=1e-3)
    loss.backward(); opt.step(); opt.zero_grad()

The optimizer creates one session whose tensors are the parameters of all
its groups (in order; names p0, p1, …; shapes from the tensors; initial
params their current values).  Each ``step`` concatenates every gradient into
one float32 vector (a missing .grad counts as zeros), posts it as one binary
step, and adds the answered update to the parameters in place, so the local
parameters and the daemon's copy stay equal.

The hyperparameters live on the daemon: they are fixed at creation, and
editing ``param_groups[i]["lr"]`` afterwards changes nothing (use the
daemon's schedules: ``schedule=``, ``total_steps=``).  Parameter groups cannot
be added after construction (the session's layout is fixed).
"""
import numpy as np
import torch

from .client import Client

__all__ = ["RemoteOptimizer"]

_SESSION_KEYS = ("weights", "schedule", "total_steps", "durability", "workers", "name", "tags",
                 "adapt", "non_finite", "divergence_factor", "domain")


class RemoteOptimizer(torch.optim.Optimizer):
    """``RemoteOptimizer(params, optimizer="adam", url=None, **hyperparams)``.

    Keyword-only extras: ``client`` (an optirs.Client to use instead of one
    made from ``url``/``api_key``), ``api_key``, ``session_id`` (attach to an
    existing session, e.g. the shared session of data-parallel workers,
    instead of creating one), ``worker`` (this worker's name in a shared
    session), and the session options ``weights``, ``domain`` (learned
    optimizers: ``"vision"``, ``"text"``, ``"tabular"``, ``"synthetic"`` —
    that domain's weights record, or OptirsError ``no_domain_weights``),
    ``schedule``, ``total_steps``, ``durability``, ``workers``, ``name``,
    ``tags``, ``adapt``, ``non_finite``, ``divergence_factor``.  Every
    other keyword is a hyperparameter of the daemon's optimizer (``lr``,
    ``beta1``, ``weight_decay``, …; see GET /v1/optimizers)."""

    def __init__(self, params, optimizer="adam", url=None, *, client=None, api_key=None,
                 session_id=None, worker=None, **hyperparams):
        session_opts = {k: hyperparams.pop(k) for k in _SESSION_KEYS if k in hyperparams}
        self._frozen = False
        super().__init__(params, dict(hyperparams))
        self._frozen = True
        self.client = client or Client(url, api_key=api_key)
        self.worker = worker
        plist = self._params()
        if not plist:
            raise ValueError("RemoteOptimizer got an empty parameter list")
        self._numels = [p.numel() for p in plist]
        self.num_params = sum(self._numels)
        if session_id is None:
            tensors = [{"name": "p%d" % i, "shape": list(p.shape) or [1]} for i, p in enumerate(plist)]
            with torch.no_grad():
                init = torch.cat([p.detach().reshape(-1).to("cpu", torch.float32) for p in plist])
            self.session = self.client.create_session(
                optimizer, tensors=tensors, hyperparams=hyperparams, params=init.numpy(),
                **session_opts)
        else:
            self.session = self.client.session(session_id)
        if self.session.num_params != self.num_params:
            raise ValueError("session %s has %d parameters, the model %d"
                             % (self.session.id, self.session.num_params, self.num_params))
        self.last_loss = None

    def _params(self):
        return [p for g in self.param_groups for p in g["params"]]

    def add_param_group(self, param_group):
        if getattr(self, "_frozen", False):
            raise RuntimeError("RemoteOptimizer: the session's layout is fixed; "
                               "parameter groups cannot be added after construction")
        super().add_param_group(param_group)

    @torch.no_grad()
    def step(self, closure=None, loss=None):
        """Runs one remote step; returns the closure's loss (or ``loss``).
        The loss, when known, is sent with the step (step metrics)."""
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        plist = self._params()
        flat = torch.cat([
            (p.grad.detach().reshape(-1) if p.grad is not None
             else torch.zeros(p.numel(), device=p.device)).to("cpu", torch.float32)
            for p in plist])
        lval = None
        if loss is not None:
            lval = float(loss.detach()) if torch.is_tensor(loss) else float(loss)
        update = self.session.step(flat.numpy(), loss=lval, worker=self.worker)
        u = torch.from_numpy(np.ascontiguousarray(update))
        off = 0
        for p, n in zip(plist, self._numels):
            p.add_(u[off:off + n].view_as(p).to(p.device, p.dtype))
            off += n
        self.last_loss = lval
        return loss

    def state_dict(self):
        sd = super().state_dict()
        sd["optirs"] = {"url": self.client.url, "session": self.session.id,
                        "step": self.session.last_step}
        return sd

    def load_state_dict(self, state_dict):
        """Reattaches to the session named in the state dict (the optimizer
        state itself lives on the daemon)."""
        sd = dict(state_dict)
        info = sd.pop("optirs", None)
        super().load_state_dict(sd)
        if info:
            self.session = self.client.session(info["session"])
