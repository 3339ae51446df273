"""HTTP client of optirsd (proto/openapi.yaml, proto/binary.md).

Standard library only.  When numpy is importable, steps and parameters travel
as raw little-endian float32 (the binary wire format); otherwise as JSON.
Binary steps may carry float16 or bfloat16 instead (``dtype="bf16"``,
proto/binary.md §8): half the bytes, rounded to nearest even.

Thread rules: a Client may be shared by threads; each thread gets its own
keep-alive connection.  A Session object keeps a step counter and is meant for
one thread (one worker); workers of a shared session each use their own
Session object for the same id (``client.session(id)``).
"""
import http.client
import json
import os
import socket
import threading
import time
import urllib.parse
import uuid

try:  # optional: the binary fast path
    import numpy as _np
except ImportError:  # pragma: no cover - exercised only without numpy
    _np = None

DEFAULT_URL = "http://127.0.0.1:8080"

# Error codes after which re-sending the same request is safe and useful:
# the daemon is restoring (starting) or draining (shutting_down, a restart is
# expected), or a durability=step commit failed (the step was applied; the
# same k commits and answers it).
RETRYABLE_CODES = frozenset({"starting", "shutting_down", "storage_unavailable"})

# Exceptions that mean the connection broke (nothing, or not all, came back).
_CONN_ERRORS = (ConnectionError, http.client.HTTPException, socket.timeout, OSError)


class OptirsError(Exception):
    """An error answered by the daemon, or a connection failure (code
    ``connection_error``, status 0) after the retries ran out.

    ``code`` is the daemon's stable snake_case code (proto/openapi.yaml,
    ErrorCode), ``status`` the HTTP status, ``message`` the human text;
    ``expected`` is the step the session expects next (``step_conflict`` only,
    else None)."""

    def __init__(self, code, status, message, expected=None, body=None):
        super().__init__("%s (%s): %s" % (code, status, message))
        self.code = code
        self.status = status
        self.message = message
        self.expected = expected
        self.body = body


def _is_numpy(x):
    return _np is not None and isinstance(x, _np.ndarray)


class _UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket file (a ``unix:///PATH`` URL); the Host
    header says localhost."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self._unix_path)
        except OSError:
            s.close()
            raise
        self.sock = s


def _parse_url(url):
    """(scheme, host, port, unix socket path or None, path prefix) of a base URL."""
    u = urllib.parse.urlsplit(url)
    if u.scheme == "unix":
        # unix:///run/optirs/optirs.sock: the whole path names the socket file.
        if u.netloc or not u.path.startswith("/") or u.path == "/" or u.query or u.fragment:
            raise ValueError("optirs: a unix socket url is unix:///ABSOLUTE/PATH, not %r" % url)
        return "unix", "localhost", None, u.path, ""
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValueError("optirs: url must be http(s)://HOST[:PORT][/prefix] or unix:///PATH, not %r" % url)
    return u.scheme, u.hostname, u.port or (443 if u.scheme == "https" else 80), None, u.path.rstrip("/")


# The element types of binary vectors (proto/binary.md §8), by wire name.
DTYPES = ("f32", "f16", "bf16")
_OCTET = "application/octet-stream"


def _check_dtype(d, what="dtype"):
    if d not in DTYPES:
        raise ValueError("optirs: %s must be one of %s, not %r" % (what, ", ".join(DTYPES), d))
    return d


def _media(dtype):
    """The media type of a binary vector of ``dtype``."""
    return _OCTET if dtype == "f32" else "%s; dtype=%s" % (_OCTET, dtype)


def encode_vector(v, dtype):
    """A float32 vector (numpy) as the little-endian bytes of ``dtype``:
    float16 and bfloat16 round to nearest, ties to even; a value past
    float16's range becomes ±inf (the daemon then applies its non-finite
    policy)."""
    a = _np.ascontiguousarray(_np.asarray(v, dtype=_np.float32).reshape(-1))
    if dtype == "f32":
        return a.astype("<f4", copy=False).tobytes()
    if dtype == "f16":
        with _np.errstate(over="ignore"):
            return a.astype("<f2").tobytes()
    u = a.view(_np.uint32)
    r = u >> 16                         # (u + 0x7FFF + lsb) >> 16, in place: few passes
    r &= 1
    r += 0x7FFF
    r += u                              # wraps only for NaNs, fixed below
    r >>= 16
    out = r.astype("<u2")
    nan = _np.isnan(a)
    if nan.any():                       # keep NaNs NaN (quiet), never let them round to inf
        out[nan] = ((u[nan] >> 16) | 0x0040).astype("<u2")
    return out.tobytes()


def decode_vector(data, dtype):
    """Little-endian bytes of ``dtype`` as a new float32 numpy array (exact:
    both 16-bit formats are subsets of float32)."""
    if dtype == "f32":
        return _np.frombuffer(data, dtype="<f4").astype(_np.float32)
    if dtype == "f16":
        return _np.frombuffer(data, dtype="<f2").astype(_np.float32)
    # each float32: the bf16's 16 bits on top, zeros below (contiguous passes,
    # half the time of interleaving into a zeroed array)
    w = _np.frombuffer(data, dtype="<u2").astype("<u4")
    w <<= 16
    return w.view("<f4").astype(_np.float32, copy=False)


def _answer_dtype(content_type):
    """The dtype named by a binary answer's Content-Type (none: f32)."""
    for part in (content_type or "").split(";")[1:]:
        k, _, v = part.partition("=")
        if k.strip().lower() == "dtype":
            return v.strip().strip('"').lower()
    return "f32"


class Client:
    """A connection to one optirsd.

    ``url`` is ``http(s)://HOST[:PORT][/prefix]`` or ``unix:///PATH`` (the
    daemon's ``--listen unix:/PATH`` socket file); it defaults to
    $OPTIRS_URL, then http://127.0.0.1:8080; ``api_key``
    to $OPTIRS_API_KEY (sent as ``Authorization: Bearer``).  ``timeout`` is the
    socket timeout of one request in seconds (a shared-session step waits for
    the other workers, up to the daemon's step-timeout, 30 s by default).
    ``retries`` bounds the re-sends after a connection error; the waits
    between them grow from ``backoff`` seconds, doubling, to ``max_backoff``.
    ``binary`` forces (True) or forbids (False) the binary wire format;
    the default uses it when numpy is available.  ``dtype`` is the element
    type of binary step requests: ``"f32"`` (default), ``"f16"`` or
    ``"bf16"`` (half the bytes, rounded to nearest even); ``answer_dtype``
    that of the answers (default: ``dtype``, as the daemon does).  A 16-bit
    answer is the update rounded: ``params + update`` here then drifts from
    the daemon's float32 copy by that rounding (``answer_dtype="f32"`` keeps
    them equal).  Both need binary."""

    def __init__(self, url=None, api_key=None, timeout=60.0, retries=6,
                 backoff=0.05, max_backoff=2.0, binary=None, dtype="f32", answer_dtype=None):
        self.url = (url or os.environ.get("OPTIRS_URL") or DEFAULT_URL).rstrip("/")
        scheme, self._host, self._port, self._unix, self._prefix = _parse_url(self.url)
        self._https = scheme == "https"
        self.api_key = api_key if api_key is not None else os.environ.get("OPTIRS_API_KEY")
        self.timeout = timeout
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        if binary and _np is None:
            raise ValueError("optirs: binary=True needs numpy")
        self.binary = (_np is not None) if binary is None else bool(binary)
        self.dtype = _check_dtype(dtype)
        self.answer_dtype = _check_dtype(answer_dtype if answer_dtype is not None else dtype, "answer_dtype")
        if (self.dtype != "f32" or self.answer_dtype != "f32") and not self.binary:
            raise ValueError("optirs: dtype %s / answer_dtype %s needs the binary format (numpy)"
                             % (self.dtype, self.answer_dtype))
        self._local = threading.local()

    # ---- transport ------------------------------------------------------

    def _conn(self):
        c = getattr(self._local, "conn", None)
        if c is None:
            if self._unix:
                c = _UnixHTTPConnection(self._unix, self.timeout)
            else:
                cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
                c = cls(self._host, self._port, timeout=self.timeout)
            self._local.conn = c
        return c

    def _drop_conn(self):
        c = getattr(self._local, "conn", None)
        self._local.conn = None
        if c is not None:
            try:
                c.close()
            except OSError:
                pass

    def close(self):
        """Closes this thread's connection (others close when their thread ends)."""
        self._drop_conn()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _once(self, method, path, body, headers, into=None):
        """One request on this thread's connection; returns (status, headers
        (lower-case keys), body bytes).  Raises a connection error as is.
        ``into``: a writable buffer (e.g. a numpy array); a 2xx answer of
        exactly its size is read straight into it and returned instead of
        bytes (no intermediate copy)."""
        h = {"Accept": "application/json"}
        if self.api_key:
            h["Authorization"] = "Bearer " + self.api_key
        h.update(headers or {})
        c = self._conn()
        try:
            try:
                c.request(method, self._prefix + path, body=body, headers=h)
            except (BrokenPipeError, ConnectionResetError):
                # The daemon answers some errors (401, 403, 404, 413 …) from
                # the headers and closes; the rest of the body then cannot be
                # sent (at once on a unix socket), but the answer may be
                # waiting: read it, or fail as a connection error.
                pass
            r = c.getresponse()
            if into is not None and 200 <= r.status < 300 and r.length == memoryview(into).nbytes:
                _read_into(r, memoryview(into).cast("B"))
                data = into
            else:
                data = r.read()
        except BaseException:
            self._drop_conn()
            raise
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if hdrs.get("connection", "").lower() == "close" or r.will_close:
            self._drop_conn()
        return r.status, hdrs, data

    def _sleep(self, attempt):
        time.sleep(min(self.max_backoff, self.backoff * (2 ** attempt)))

    def request(self, method, path, body=None, headers=None, idempotent=True,
                retry_codes=RETRYABLE_CODES, into=None):
        """Sends one request and returns (status, headers, body bytes) of a
        2xx answer; raises OptirsError otherwise.  ``body`` may be bytes, or
        a dict/list sent as JSON.  Idempotent requests (GET, DELETE and
        steps, which carry their number) are re-sent after connection errors
        and after the codes in RETRYABLE_CODES, at most ``retries`` times with
        exponential backoff; a non-idempotent one only when its connection was
        a reused keep-alive one that the server had closed.  Any request
        answered ``429 rate_limited`` is re-sent after its Retry-After.
        ``body`` may also be any buffer (a memoryview of a numpy array: sent
        as is, not copied); ``into`` as in _once."""
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body, allow_nan=False).encode()
            hdrs.setdefault("Content-Type", "application/json")
        attempt = 0
        while True:
            reused = getattr(self._local, "conn", None) is not None
            try:
                st, h, data = self._once(method, path, body, hdrs, into)
            except _CONN_ERRORS as e:
                stale = reused and isinstance(e, (http.client.RemoteDisconnected,
                                                  ConnectionResetError, BrokenPipeError))
                if (idempotent or (stale and attempt == 0)) and attempt < self.retries:
                    if not (stale and attempt == 0):
                        self._sleep(attempt)
                    attempt += 1
                    continue
                raise OptirsError("connection_error", 0, "%s %s: %s: %s" % (
                    method, path, type(e).__name__, e)) from e
            if 200 <= st < 300:
                return st, h, data
            err = _error_from(st, data)
            if err.code == "rate_limited" and attempt < self.retries:
                # Not processed at all, so safe for any request: wait as told.
                try:
                    wait = float(h.get("retry-after", "0"))
                except ValueError:
                    wait = 0.0
                time.sleep(min(60.0, max(wait, self.backoff * (2 ** attempt))))
                attempt += 1
                continue
            if idempotent and err.code in retry_codes and attempt < self.retries:
                self._sleep(attempt)
                attempt += 1
                continue
            raise err

    def _json(self, method, path, body=None, idempotent=True):
        st, h, data = self.request(method, path, body, idempotent=idempotent)
        return json.loads(data) if data else None

    # ---- resources ------------------------------------------------------

    def health(self):
        """GET /readyz: {"status": "ready" | "starting" | "draining"} (not an
        error while starting or draining).  Raises OptirsError when the daemon
        cannot be reached."""
        try:
            st, h, data = self.request("GET", "/readyz", retry_codes=())
            return json.loads(data)
        except OptirsError as e:
            if e.status == 503 and isinstance(e.body, dict) and "status" in e.body:
                return e.body
            raise

    def optimizers(self):
        """The optimizer catalogue: a list of {name, kind, description,
        hyperparams, …} in registry order."""
        return self._json("GET", "/v1/optimizers")["optimizers"]

    def optimizer(self, name):
        """The catalogue entry of one optimizer (fetched once per Client);
        ValueError naming the available ones when the daemon has none of
        that name."""
        cat = getattr(self, "_catalogue", None)
        if cat is None:
            cat = self._catalogue = {o["name"]: o for o in self.optimizers()}
        if name not in cat:
            raise ValueError("optirs: the daemon has no optimizer %r (it has: %s)"
                             % (name, ", ".join(cat)))
        return cat[name]

    def config(self):
        """The daemon's effective configuration (GET /v1/config)."""
        return self._json("GET", "/v1/config")

    def create_session(self, optimizer, tensors, hyperparams=None, params=None,
                       durability=None, workers=None, total_steps=None, name=None,
                       tags=None, weights=None, schedule=None, adapt=None,
                       non_finite=None, divergence_factor=None, domain=None, groups=None):
        """Creates a session and returns its Session.

        ``tensors`` is a list of shapes (``[[784, 128], [128]]``) or of dicts
        ``{"name": …, "shape": […]}``; ``params`` the initial parameters, a
        flat sequence or numpy array of num_params values (default zeros).
        ``adapt`` is the online-adaptation object (``{"lr": "hypergradient"}``
        for classic optimizers; see docs/analytics.md), ``non_finite`` is
        ``"reject"`` or ``"skip"``, ``divergence_factor`` a float (0: off).
        ``domain`` (learned optimizers: ``"vision"``, ``"text"``, ``"tabular"``
        or ``"synthetic"``) picks the optimizer's weights record for that
        domain; the daemon refuses it (OptirsError ``no_domain_weights``)
        when there is none, rather than use the general one.
        ``groups`` declares parameter groups: a list of ``{"tensors": [names
        or indices], <hyperparameter>: value, …}``, every tensor in exactly
        one group (their hyperparameters override ``hyperparams``; steps may
        then carry per-group values, see ``Session.step``).
        Every other argument left None takes the daemon's default.  The
        request carries a fresh ``Idempotency-Key``, so it is re-sent after a
        connection error like a step (a daemon that keeps idempotency records
        answers the first session again)."""
        ts = []
        for i, t in enumerate(tensors):
            if isinstance(t, dict):
                ts.append(dict(t))
            else:
                ts.append({"shape": [int(d) for d in (t if isinstance(t, (list, tuple)) else [t])]})
        spec = {"optimizer": optimizer, "tensors": ts}
        if hyperparams:
            # a string stays a string: a named hyperparameter (mlp_lopt's activation)
            spec["hyperparams"] = {k: v if isinstance(v, str) else int(v) if isinstance(v, bool) else float(v)
                                   for k, v in hyperparams.items()}
        if params is not None:
            spec["params"] = _to_list(params)
        for k, v in (("durability", durability), ("workers", workers), ("total_steps", total_steps),
                     ("name", name), ("tags", tags), ("weights", weights), ("schedule", schedule),
                     ("adapt", adapt), ("non_finite", non_finite), ("divergence_factor", divergence_factor),
                     ("domain", domain), ("groups", groups)):
            if v is not None:
                spec[k] = v
        # The Idempotency-Key makes a re-sent create (after a lost reply)
        # answer the first session instead of making a second one.
        st, h, data = self.request("POST", "/v1/sessions", spec,
                                   headers={"Idempotency-Key": str(uuid.uuid4())})
        desc = json.loads(data)
        return Session(self, desc)

    def import_session(self, state, name=None, tags=None):
        """Creates a NEW session from a full state exported by
        ``Session.export_state()`` (possibly of another daemon): same step,
        and its next step gives exactly the update the exported session
        would have given.  ``name``/``tags`` replace the exported ones."""
        body = {"state": state}
        if name is not None:
            body["name"] = name
        if tags is not None:
            body["tags"] = tags
        st, h, data = self.request("POST", "/v1/sessions", body,
                                   headers={"Idempotency-Key": str(uuid.uuid4())})
        return Session(self, json.loads(data))

    def create_study(self, name, space, direction="minimize", sampler=None, pruner=None, max_trials=None,
                     parallel=None, seed=None, sampler_options=None, pruner_options=None, objective=None):
        """Creates a hyperparameter study (docs/studies.md) and returns its
        optirs.Study: ``space`` maps names to ``{"type": "float"|"int"|
        "categorical", …}`` (a conditional one adds ``"when": {"parent":
        [choices]}``; the daemon checks the space).  Arguments left None take the daemon's
        defaults.  ``objective`` ({"task", "steps", "optimizer", "seeds"}):
        the daemon runs the study itself on a built-in task
        (docs/studies.md#studies-the-daemon-runs); ({"meta", "score"}): its
        trials meta-train a learned optimizer
        (docs/studies.md#trials-that-meta-train)."""
        from .study import Study
        spec = {"name": name, "space": space, "direction": direction}
        for k, v in (("sampler", sampler), ("pruner", pruner), ("max_trials", max_trials),
                     ("parallel", parallel), ("seed", seed), ("sampler_options", sampler_options),
                     ("pruner_options", pruner_options), ("objective", objective)):
            if v is not None:
                spec[k] = v
        # not re-sent on its own (no Idempotency-Key on study creates)
        return Study(self, self._json("POST", "/v1/studies", spec, idempotent=False))

    def create_meta_session(self, method, tensors, meta_batch=None, outer_lr=None, outer_optimizer=None,
                            init=None, seed=None, name=None):
        """Creates a meta-session (docs/meta-learning.md, "Meta-sessions"):
        first-order meta-learning ("reptile" or "fomaml") of the model whose
        layout ``tensors`` gives ([{"name", "shape"}, …]); ``init`` is
        "seeded" (the default), "zeros" or a flat list of initial values.
        Arguments left None take the daemon's defaults.  Returns an
        optirs.MetaSession."""
        from .metasess import MetaSession, _flat
        spec = {"method": method, "tensors": tensors}
        if init is not None and not isinstance(init, str):
            init = _flat(init)
        for k, v in (("meta_batch", meta_batch), ("outer_lr", outer_lr), ("outer_optimizer", outer_optimizer),
                     ("init", init), ("seed", seed), ("name", name)):
            if v is not None:
                spec[k] = v
        # not re-sent on its own (a create has no Idempotency-Key)
        return MetaSession(self, self._json("POST", "/v1/meta/sessions", spec, idempotent=False))

    def meta_session(self, meta_session_id):
        """The optirs.MetaSession of an existing id."""
        from .metasess import MetaSession
        return MetaSession(self, self._json("GET", "/v1/meta/sessions/%s" % _sid(meta_session_id)))

    def meta_sessions(self):
        """The caller's meta-sessions, oldest first (dicts)."""
        return self._json("GET", "/v1/meta/sessions")["meta_sessions"]

    def study(self, study_id):
        """The optirs.Study of an existing id."""
        from .study import Study
        return Study(self, self._json("GET", "/v1/studies/%s" % _sid(study_id)))

    def studies(self):
        """The caller's studies, newest first (dicts)."""
        return self._json("GET", "/v1/studies")["studies"]

    def session(self, session_id):
        """The Session of an existing id (its step counter starts at the
        session's current step)."""
        return Session(self, self._json("GET", "/v1/sessions/%s" % _sid(session_id)))

    def sessions(self, page_size=100, status=None, name=None, tag=None, optimizer=None, q=None):
        """Iterates over the sessions' summaries (dicts), newest first, page by
        page.  Filters (all optional, combined): ``status`` ("active",
        "diverged", "finished", "archived"), ``name`` (exact), ``tag`` ("key"
        or "key:value"), ``optimizer``, and ``q``, a search in names and tags
        ignoring case."""
        token = None
        filters = [(k, v) for k, v in (("status", status), ("name", name), ("tag", tag),
                                       ("optimizer", optimizer), ("q", q)) if v is not None]
        while True:
            query = "limit=%d" % page_size
            if filters:
                query += "&" + urllib.parse.urlencode(filters)
            if token:
                query += "&page_token=" + urllib.parse.quote(token, safe="")
            page = self._json("GET", "/v1/sessions?" + query)
            for s in page["sessions"]:
                yield s
            token = page.get("next_page_token")
            if not token or not page["sessions"]:
                return


def _read_into(resp, mv):
    """Fills the byte memoryview mv from the http.client response resp."""
    got = 0
    while got < len(mv):
        n = resp.readinto(mv[got:])
        if not n:
            raise http.client.IncompleteRead(bytes(mv[:got]), len(mv) - got)
        got += n


def _sid(session_id):
    s = str(session_id)
    if not s or any(not (ch.isalnum() or ch in "_.-") for ch in s):
        raise ValueError("optirs: %r is not a session id" % (session_id,))
    return s


def _to_list(v):
    if _is_numpy(v):
        return [float(x) for x in _np.asarray(v, dtype=_np.float32).ravel()]
    return [float(x) for x in v]


def _error_from(status, data):
    try:
        body = json.loads(data)
        e = body["error"]
        return OptirsError(e.get("code", "unknown"), status, e.get("message", ""),
                           e.get("expected"), body)
    except (ValueError, KeyError, TypeError):
        try:
            body = json.loads(data)
        except ValueError:
            body = None
        if isinstance(body, dict) and "status" in body:  # /readyz 503
            return OptirsError(body["status"], status, "not ready: %s" % body["status"], None, body)
        return OptirsError("http_%d" % status, status, data[:200].decode("utf-8", "replace"), None, None)


class Session:
    """One optimizer session on the daemon.

    ``step`` numbers its requests itself: it starts from the session's step
    when this object was made and adds one after each answered step.  After a
    step_conflict (another process stepped, or a checkpoint session rolled
    back after a crash) call ``resync()`` to continue from the daemon's step."""

    def __init__(self, client, desc):
        self.client = client
        self.id = desc["id"]
        self.desc = desc
        self.num_params = int(desc["num_params"])
        self.last_step = int(desc.get("step", 0))

    def __repr__(self):
        return "<optirs.Session %s %s N=%d step=%d>" % (
            self.id, self.desc.get("optimizer"), self.num_params, self.last_step)

    @property
    def _path(self):
        return "/v1/sessions/" + self.id

    def step(self, grads, loss=None, worker=None, skip=None, hyperparams=None, binary=None,
             dtype=None, answer_dtype=None):
        """Posts the gradients of the next step and returns its update
        (``new_params = params + update``): a numpy float32 array when grads
        is a numpy array, else a list of floats.  A connection lost before the
        answer is re-sent with the same step number (the daemon answers a
        retry of its last step from what it stored, never applying it twice).
        Raises OptirsError (e.g. ``step_conflict`` with ``.expected``).

        ``skip``: indices of tensors without a gradient this step (their
        values in grads are ignored; they get no update and their optimizer
        state does not move).  ``hyperparams``: one dict per parameter group
        of the session, hyperparameter values for this step only.
        ``binary=False`` sends this step as JSON even on a binary client (a
        daemon without these fields refuses them there, 400 unknown_field,
        where the binary headers would be ignored).  ``dtype`` and
        ``answer_dtype`` override the client's for this step (binary only);
        with a 16-bit ``dtype``, ``grads`` may also be a numpy int16 or
        uint16 array of the values' bit patterns, already rounded (e.g.
        torch's ``t.to(torch.bfloat16).view(torch.int16).numpy()``), sent as is.
        """
        k = self.last_step + 1
        as_numpy = _is_numpy(grads)
        skip = [int(i) for i in skip] if skip else None
        if self.client.binary and binary is not False:
            dt = _check_dtype(dtype if dtype is not None else self.client.dtype)
            bits = _is_numpy(grads) and grads.dtype in (_np.int16, _np.uint16)
            if bits and dt == "f32":
                raise ValueError("optirs: 16-bit patterns as grads need dtype f16 or bf16")
            g = _np.ascontiguousarray((grads.view(_np.uint16) if bits else
                                       _np.asarray(grads, dtype="<f4")).reshape(-1))
            if g.size != self.num_params:
                raise ValueError("optirs: %d gradients for a session of %d parameters"
                                 % (g.size, self.num_params))
            at = _check_dtype(answer_dtype if answer_dtype is not None
                              else dtype if dtype is not None else self.client.answer_dtype, "answer_dtype")
            # Accept names a dtype only when it is not plain float32 both ways
            # (a daemon before compact bodies then sees the request it knows).
            h = {"Content-Type": _media(dt),
                 "Accept": _OCTET if dt == at == "f32" else "%s; dtype=%s" % (_OCTET, at),
                 "X-Optirs-Step": str(k)}
            if loss is not None:
                h["X-Optirs-Loss"] = repr(float(loss))
            if worker is not None:
                h["X-Optirs-Worker"] = str(worker)
            if skip:
                h["X-Optirs-Skip-Tensors"] = ",".join(str(i) for i in skip)
            if hyperparams is not None:
                h["X-Optirs-Hyperparams"] = json.dumps(hyperparams, allow_nan=False,
                                                       separators=(",", ":"))
            # The gradients go out of g's own memory (f32, or 16-bit patterns
            # given as such) and a float32 answer is read straight into the
            # update array: no copy on either side.  A 16-bit answer, or its
            # float32 fallback (proto/binary.md §8), is decoded by the
            # answer's own Content-Type.
            body = (memoryview(g.astype("<u2", copy=False)).cast("B") if bits else
                    memoryview(g).cast("B") if dt == "f32" else encode_vector(g, dt))
            update = _np.empty(self.num_params, dtype="<f4") if at == "f32" else None
            st, rh, data = self.client.request("POST", self._path + "/step", body, h, into=update)
            if update is None or data is not update:
                got = _answer_dtype(rh.get("content-type"))
                size = {"f32": 4, "f16": 2, "bf16": 2}.get(got)
                if size is None or len(data) != size * self.num_params:
                    raise OptirsError("length_mismatch", st, "answer of %d bytes (%s) for %d parameters"
                                      % (len(data), rh.get("content-type"), self.num_params))
                update = decode_vector(data, got)
            self.last_step = k
            return update if as_numpy else update.tolist()
        g = _to_list(grads)
        if len(g) != self.num_params:
            raise ValueError("optirs: %d gradients for a session of %d parameters"
                             % (len(g), self.num_params))
        body = {"step": k, "grads": g}
        if loss is not None:
            body["loss"] = float(loss)
        if worker is not None:
            body["worker"] = str(worker)
        if skip:
            body["skip_tensors"] = skip
        if hyperparams is not None:
            body["hyperparams"] = hyperparams
        st, rh, data = self.client.request("POST", self._path + "/step", body)
        update = json.loads(data)["update"]
        self.last_step = k
        if as_numpy:
            return _np.asarray(update, dtype=_np.float32)
        return update

    def export_state(self):
        """The session's full state (GET /v1/sessions/{id}/state): a JSON
        object holding the spec, the step and the optimizer state, for
        ``Client.import_session`` here or on another daemon.  A daemon
        without the route raises OptirsError ``not_found``."""
        return self.client._json("GET", self._path + "/state")

    def resync(self):
        """Sets the step counter to the daemon's last applied step; returns it."""
        self.info()
        return self.last_step

    def params(self):
        """The daemon's copy of the parameters (numpy float32 array when numpy
        is available, else a list)."""
        if self.client.binary:
            out = _np.empty(self.num_params, dtype="<f4")      # read straight into it
            st, h, data = self.client.request("GET", self._path + "/params",
                                              headers={"Accept": "application/octet-stream"}, into=out)
            return out if data is out else _np.frombuffer(data, dtype="<f4").astype(_np.float32)
        return self.client._json("GET", self._path + "/params")["params"]

    def feedback(self, step, loss, metrics=None):
        """Stores loss feedback (and optional named figures) for a taken step."""
        body = {"step": int(step), "loss": float(loss)}
        if metrics:
            body["metrics"] = {k: float(v) for k, v in metrics.items()}
        return self.client._json("POST", self._path + "/feedback", body)

    def metrics(self, after=0, limit=1000):
        """One page of per-step analytics rows with step > after (at most
        ``limit``); page on with ``after=rows[-1]["step"]``."""
        return self.client._json("GET", "%s/metrics?after=%d&limit=%d"
                                 % (self._path, int(after), int(limit)))["metrics"]

    def info(self):
        """The session's current description (also refreshes the step counter)."""
        self.desc = self.client._json("GET", self._path)
        self.last_step = int(self.desc["step"])
        return self.desc

    def update(self, name=None, tags=None, status=None):
        """Changes the session's name, tags (replaced whole) or status
        ("finished" or "archived": the session then takes no more steps;
        ``409 session_closed`` after that) and returns its description."""
        body = {k: v for k, v in (("name", name), ("tags", tags), ("status", status)) if v is not None}
        self.desc = self.client._json("PATCH", self._path, body)
        return self.desc

    def delete(self):
        """Deletes the session, its state, metrics and feedback."""
        return self.client._json("DELETE", self._path)
