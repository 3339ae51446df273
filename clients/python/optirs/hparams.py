"""optirs.hparams — torch.optim's hyperparameter names mapped to the daemon's.

A ``Table`` is built from one optimizer's entry of GET /v1/optimizers (its
``hyperparams`` list: name, default, min, max, exclusivity, integer).  It
turns the keywords a torch user writes (``betas=(0.9, 0.99)``, ``eps``,
``weight_decay``, ``amsgrad=True``, ``momentum``, ``nesterov``, …) into a
parameter group's entries (torch's names and types: ``betas`` a tuple, the
flags bools) and a group into the daemon's ``{name: number}`` (``beta1``,
``beta2``, flags 0/1).

Invariants: every hyperparameter of the optimizer is in a group (the
catalogue's default when not given); a name the optimizer does not have, a
value out of the catalogue's range, and a torch option the daemon cannot
honour (``maximize``, ``foreach``/``fused``/``capturable``/``differentiable``
other than their defaults) raise ValueError — nothing is dropped silently.
No torch import: the mapping is plain data.
"""

__all__ = ["Table", "TORCH_ONLY_OPTIONS"]

# torch.optim keywords with no daemon counterpart, and the values that mean
# "the default behaviour" (accepted and not kept).  Anything else is refused.
TORCH_ONLY_OPTIONS = {
    "foreach": (None, False),
    "fused": (None, False),
    "capturable": (False,),
    "differentiable": (False,),
    "maximize": (False,),
}

# Daemon hyperparameters that are 0/1 flags: bools in a parameter group.
_FLAGS = frozenset({"amsgrad", "nesterov", "centered"})

# Keys a parameter group may hold that are no hyperparameter: the group's
# label (a common convention) and the base lr the torch schedulers record.
GROUP_EXTRAS = frozenset({"name", "initial_lr"})


class Table:
    """The hyperparameters of one optimizer (a catalogue entry)."""

    def __init__(self, entry):
        self.optimizer = entry["name"]
        self.kind = entry.get("kind")
        self.specs = {h["name"]: h for h in entry["hyperparams"]}
        self.order = [h["name"] for h in entry["hyperparams"]]
        self.has_betas = "beta1" in self.specs and "beta2" in self.specs

    def group_keys(self):
        """The hyperparameter keys of a parameter group, in catalogue order."""
        keys = []
        for n in self.order:
            if self.has_betas and n in ("beta1", "beta2"):
                if "betas" not in keys:
                    keys.append("betas")
            else:
                keys.append(n)
        return keys

    def accepted(self):
        return ", ".join(self.group_keys() + (["beta1", "beta2"] if self.has_betas else []))

    def _check(self, name, value):
        """value as a float within the catalogue's range for name, or ValueError."""
        h = self.specs[name]
        if "values" in h:   # a named hyperparameter (mlp_lopt's activation): one of its names
            if value not in h["values"]:
                raise ValueError("%s: hyperparameter %s must be one of %s, not %r"
                                 % (self.optimizer, name, ", ".join(h["values"]), value))
            return value
        if isinstance(value, str) or value is None:
            raise ValueError("%s: hyperparameter %s must be a number, not %r"
                             % (self.optimizer, name, value))
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValueError("%s: hyperparameter %s must be a number, not %r"
                             % (self.optimizer, name, value)) from None
        lo, hi = h["min"], h["max"]
        bad = (v != v or v < lo or v > hi or (h.get("min_exclusive") and v == lo)
               or (h.get("max_exclusive") and v == hi))
        if bad:
            raise ValueError("%s: %s = %r is out of range (%s%g, %g%s)" % (
                self.optimizer, name, value, "(" if h.get("min_exclusive") else "[", lo, hi,
                ")" if h.get("max_exclusive") else "]"))
        if h.get("integer") and v != int(v):
            raise ValueError("%s: %s must be an integer, not %r" % (self.optimizer, name, value))
        return v

    def _typed(self, name, v):
        if "values" in self.specs[name]:
            return v
        if name in _FLAGS:
            return bool(v)
        if self.specs[name].get("integer"):
            return int(v)
        return v

    def normalize(self, kw, where="keyword"):
        """kw (torch or daemon names) as group entries: {key: value} with
        torch's keys and types, every value checked.  Raises ValueError on an
        unknown name or an option the daemon cannot honour."""
        out = {}
        for k, v in kw.items():
            if k in TORCH_ONLY_OPTIONS:
                if not ((v is None and None in TORCH_ONLY_OPTIONS[k]) or v is False):
                    hint = " (negate the loss instead)" if k == "maximize" else ""
                    raise ValueError("optirs: torch option %s=%r is not supported by the daemon%s"
                                     % (k, v, hint))
                continue
            if k == "betas" and self.has_betas:
                try:
                    b1, b2 = v
                except (TypeError, ValueError):
                    raise ValueError("%s: betas must be a pair (beta1, beta2), not %r"
                                     % (self.optimizer, v)) from None
                if "beta1" in kw or "beta2" in kw:
                    raise ValueError("%s: give betas or beta1/beta2, not both" % self.optimizer)
                out["betas"] = (self._check("beta1", b1), self._check("beta2", b2))
            elif k in ("beta1", "beta2") and self.has_betas:
                cur = list(out.get("betas", (None, None)))
                cur[0 if k == "beta1" else 1] = self._check(k, v)
                out["betas"] = tuple(cur)
            elif k in self.specs:
                out[k] = self._typed(k, self._check(k, v))
            else:
                raise ValueError("optirs: %s has no hyperparameter %r (%s); accepted: %s"
                                 % (self.optimizer, k, where, self.accepted()))
        if "betas" in out and None in out["betas"]:
            b = list(out["betas"])
            for i, n in enumerate(("beta1", "beta2")):
                if b[i] is None:
                    b[i] = float(self.specs[n]["default"])
            out["betas"] = tuple(b)
        return out

    def defaults(self, kw):
        """Every group key with its value: kw's (checked), else the catalogue's default."""
        given = self.normalize(kw)
        out = {}
        for k in self.group_keys():
            if k in given:
                out[k] = given[k]
            elif k == "betas":
                out[k] = (float(self.specs["beta1"]["default"]), float(self.specs["beta2"]["default"]))
            else:
                d = self.specs[k]["default"]
                out[k] = self._typed(k, d if isinstance(d, str) else float(d))
        return out

    def to_daemon(self, group):
        """A parameter group's hyperparameters as the daemon's {name: float},
        every value checked again (a group may have been edited)."""
        out = {}
        for k in self.group_keys():
            v = group[k]
            if k == "betas":
                try:
                    b1, b2 = v
                except (TypeError, ValueError):
                    raise ValueError("%s: betas must be a pair, not %r" % (self.optimizer, v)) from None
                out["beta1"] = self._check("beta1", _scalar(b1))
                out["beta2"] = self._check("beta2", _scalar(b2))
            else:
                out[k] = self._check(k, _scalar(v))
        return out

    def from_daemon(self, hp):
        """The daemon's {name: number} as group entries (torch's keys and types)."""
        out = {}
        for k in self.group_keys():
            if k == "betas":
                out[k] = (float(hp["beta1"]), float(hp["beta2"]))
            elif k in hp:
                out[k] = self._typed(k, hp[k] if isinstance(hp[k], str) else float(hp[k]))
        return out


def _scalar(v):
    """A Python number from v (a number, a bool or a one-element tensor)."""
    if hasattr(v, "item") and callable(v.item):
        return v.item()
    return v
