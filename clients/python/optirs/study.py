"""Hyperparameter studies of optirsd (docs/studies.md): ask/tell from any
number of workers, pruning from reported intermediate values, and
``tune``, which runs an objective over a study on threads.

    import optirs
    c = optirs.Client(url)
    study = c.create_study("adam-lr", {"lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": True}},
                           max_trials=50, parallel=4, seed=0)
    trial = study.ask()
    for step in range(10):
        if trial.report(step, loss_at(step, trial.params["lr"])):
            break                       # pruned: the daemon ended the trial
    else:
        study.tell(trial, final_loss)
    print(study.best)

    best = optirs.tune(objective, space, n_trials=50, parallel=4, url=url).best
"""
import json
import threading
import time
import uuid

from .client import Client, OptirsError


class TrialPruned(Exception):
    """Raised by an objective (or ``Trial.prune_if``) to stop a pruned trial."""


class Trial:
    """One trial of a study: ``number``, ``params`` (a dict) and its state as
    this client last saw it."""

    def __init__(self, study, desc):
        self.study = study
        self.number = int(desc["trial"])
        self.params = desc.get("params", {})
        self.state = desc.get("state", "running")

    def __repr__(self):
        return "Trial(%s #%d, %s)" % (self.study.id, self.number, self.state)

    def _path(self, what):
        return "/v1/studies/%s/trials/%d/%s" % (self.study.id, self.number, what)

    def report(self, step, value):
        """Reports an intermediate value (it is also the trial's heartbeat).
        Returns True when the pruner stopped the trial: it is then
        ``pruned`` on the daemon and needs no tell."""
        body = {"step": int(step), "value": float(value)}
        try:
            ans = self.study.client._json("POST", self._path("report"), body)
        except OptirsError as e:
            # a re-sent report whose first copy pruned the trial
            if e.code == "trial_finished" and "pruned" in str(e):
                self.state = "pruned"
                return True
            raise
        if ans.get("prune"):
            self.state = "pruned"
            return True
        return False

    def prune_if(self, step, value):
        """``report``, raising TrialPruned when the trial should stop."""
        if self.report(step, value):
            raise TrialPruned("trial %d pruned at step %s" % (self.number, step))


class Study:
    """A study of one daemon (``Client.create_study`` or ``Client.study``)."""

    def __init__(self, client, desc):
        self.client = client
        self.desc = desc
        self.id = desc["id"]

    def __repr__(self):
        return "Study(%s, %r)" % (self.id, self.desc.get("name"))

    def ask(self):
        """A new trial with its parameters.  Carries an Idempotency-Key, so a
        re-send after a lost reply gets the same trial, not a second one.
        Raises OptirsError ``study_exhausted`` / ``study_parallel_limit``."""
        st, h, data = self.client.request("POST", "/v1/studies/%s/trials" % self.id, {},
                                          headers={"Idempotency-Key": str(uuid.uuid4())})
        return Trial(self, json.loads(data))

    def tell(self, trial, value=None, state=None):
        """Ends a trial: with its final ``value`` (complete), or ``state``
        "failed" or "pruned".  Returns the trial as the daemon holds it."""
        n = trial.number if isinstance(trial, Trial) else int(trial)
        body = {}
        if state is not None:
            body["state"] = state
        if value is not None:
            body["value"] = float(value)
        st, h, data = self.client.request("POST", "/v1/studies/%s/trials/%d/tell" % (self.id, n), body,
                                          headers={"Idempotency-Key": str(uuid.uuid4())})
        ans = json.loads(data)
        if isinstance(trial, Trial):
            trial.state = ans.get("state", trial.state)
        return ans

    def info(self):
        """The study as the daemon describes it now (counts, ``best``)."""
        self.desc = self.client._json("GET", "/v1/studies/%s" % self.id)
        return self.desc

    @property
    def best(self):
        """{"trial", "value", "params"} of the best complete trial, or None."""
        return self.info().get("best")

    def trials(self):
        """Every trial: state, params, value, intermediate values."""
        return self.client._json("GET", "/v1/studies/%s/trials" % self.id)["trials"]

    def delete(self):
        return self.client._json("DELETE", "/v1/studies/%s" % self.id)


def tune(objective, space, n_trials=100, parallel=1, client=None, url=None, direction="minimize",
         name="tune", sampler="tpe", pruner="median", seed=None):
    """Runs ``objective(trial) -> value`` over a new study of ``n_trials``
    trials on ``parallel`` threads and returns the Study (``.best``).

    The objective reads ``trial.params`` and may call ``trial.report(step,
    value)`` (stop when it returns True) or ``trial.prune_if(step, value)``;
    an exception other than TrialPruned fails that trial (it is told
    "failed") and is re-raised once every thread has stopped."""
    c = client or Client(url)
    study = c.create_study(name, space, direction=direction, sampler=sampler, pruner=pruner,
                           max_trials=int(n_trials), parallel=int(parallel), seed=seed)
    errors = []

    def worker():
        while not errors:
            try:
                trial = study.ask()
            except OptirsError as e:
                if e.code == "study_exhausted":
                    return
                if e.code == "study_parallel_limit":   # a slot held by a trial not yet told
                    time.sleep(0.05)
                    continue
                errors.append(e)
                return
            try:
                value = objective(trial)
            except TrialPruned:
                if trial.state == "running":
                    study.tell(trial, state="pruned")
                continue
            except BaseException as e:   # the objective's own failure
                study.tell(trial, state="failed")
                errors.append(e)
                return
            if trial.state == "running":
                if value is None:
                    study.tell(trial, state="failed")
                else:
                    study.tell(trial, value=value)

    threads = [threading.Thread(target=worker, name="optirs-tune-%d" % i) for i in range(int(parallel))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return study
