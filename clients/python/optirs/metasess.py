"""Meta-sessions of optirsd (docs/meta-learning.md, "Meta-sessions"):
first-order meta-learning (Reptile, FOMAML) of your own model.  Workers
fetch the current initialisation, adapt on one of their tasks locally, and
send back the adapted parameters (Reptile) or the query gradient at them
(FOMAML); the daemon applies the outer step once the round's K tasks are in.

    import optirs
    c = optirs.Client(url)
    ms = c.create_meta_session("reptile", [{"name": "l1.weight", "shape": [1, 40]}, …],
                               meta_batch=25, outer_lr=1e-3)
    init = ms.init()                       # {"round": r, "params": [...], "tensors": [...]}
    ms.contribute("task-7", init["round"], params=adapted)
"""
import json
import uuid

from .client import _sid, _to_list


def _flat(v):
    """A flat list of floats from a list, numpy array or torch tensor."""
    if hasattr(v, "detach"):            # torch, without importing it
        return [float(x) for x in v.detach().reshape(-1).cpu().tolist()]
    return _to_list(v)


class MetaSession:
    """One meta-session (``Client.create_meta_session`` or
    ``Client.meta_session``); ``desc`` is the daemon's description as last
    read."""

    def __init__(self, client, desc):
        self.client = client
        self.desc = desc
        self.id = desc["id"]

    def __repr__(self):
        return "MetaSession(%s, %s, round %s)" % (self.id, self.desc.get("method"), self.desc.get("round"))

    def _path(self, what=""):
        return "/v1/meta/sessions/%s%s" % (_sid(self.id), what)

    def info(self):
        """The description: round, contributions so far, meta_batch, tasks."""
        self.desc = self.client._json("GET", self._path())
        return self.desc

    def init(self):
        """The current initialisation: {"round", "tensors", "params", …}."""
        return self.client._json("GET", self._path("/init"))

    def contribute(self, task, round, params=None, grad=None):
        """Sends task's contribution to `round`: ``params`` (Reptile: the
        parameters adapted from that round's init) or ``grad`` (FOMAML: the
        query-set gradient at them), flat in tensor order (a list, numpy or
        torch vector).  Re-sent safely: the daemon is idempotent per (task,
        round), and the Idempotency-Key makes a lost answer replayable.
        Returns the daemon's answer ({"applied", "current_round", …});
        raises OptirsError "stale_round" for a round that is not open."""
        if (params is None) == (grad is None):
            raise ValueError("give exactly one of params= (reptile) and grad= (fomaml)")
        body = {"task": str(task), "round": int(round)}
        if params is not None:
            body["params"] = _flat(params)
        else:
            body["grad"] = _flat(grad)
        st, h, data = self.client.request("POST", self._path("/contributions"), body,
                                          headers={"Idempotency-Key": str(uuid.uuid4())})
        return json.loads(data)

    def delete(self):
        return self.client._json("DELETE", self._path())
