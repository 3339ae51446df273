// optirs — Node client of optirsd (proto/openapi.yaml, proto/binary.md).
//
// ESM, no runtime dependencies: the global fetch of Node >= 18 (and, for a
// unix:///PATH URL, node:http over the socket file).  Steps and
// parameters travel as raw little-endian float32 (Float32Array), or steps as
// float16 / bfloat16 (dtype option, converted here); everything else as JSON.
// A Session keeps its step counter; a step whose answer is
// lost (connection error, timeout) is re-sent with the SAME step number,
// which the daemon answers from its stored update without applying it again.

export const DEFAULT_URL = 'http://127.0.0.1:8080';

// Codes after which re-sending the same request is safe and useful.
export const RETRYABLE_CODES = new Set(['starting', 'shutting_down', 'storage_unavailable']);

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** An error answered by the daemon (code, status, message, expected for
 * step_conflict), or `connection_error` (status 0) once retries ran out. */
export class OptirsError extends Error {
  constructor(code, status, message, expected = null, body = null) {
    super(`${code} (${status}): ${message}`);
    this.name = 'OptirsError';
    this.code = code;
    this.status = status;
    this.expected = expected;
    this.body = body;
    this.detail = message;
  }
}

function env(name) {
  return typeof process !== 'undefined' && process.env ? process.env[name] : undefined;
}

function toFloat32LE(v) {
  const f = v instanceof Float32Array ? v : Float32Array.from(v);
  if (LITTLE_ENDIAN) return f;
  const out = new Float32Array(f.length);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < f.length; i++) dv.setFloat32(4 * i, f[i], true);
  return out;
}

function fromFloat32LE(buf) {
  if (LITTLE_ENDIAN) return new Float32Array(buf);
  const dv = new DataView(buf);
  const out = new Float32Array(buf.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(4 * i, true);
  return out;
}

// ---- compact vectors (proto/binary.md §8) ----------------------------------

/** The element types of binary step bodies, by wire name. */
export const DTYPES = Object.freeze(['f32', 'f16', 'bf16']);
const OCTET = 'application/octet-stream';

function checkDtype(d, what = 'dtype') {
  if (!DTYPES.includes(d)) throw new TypeError(`optirs: ${what} must be one of ${DTYPES.join(', ')}, not ${JSON.stringify(d)}`);
  return d;
}

const media = (d) => (d === 'f32' ? OCTET : `${OCTET}; dtype=${d}`);
const scratch = new DataView(new ArrayBuffer(4));

/** The float16 bits of a number, rounded to float32 first, then to nearest even
 * (subnormals exact, past 65504 ±Infinity, NaN quiet). */
export function f16Bits(x) {
  scratch.setFloat32(0, x);
  const u = scratch.getUint32(0);
  const sign = (u >>> 16) & 0x8000;
  const a = u & 0x7fffffff;
  if (a >= 0x7f800000) return sign | 0x7c00 | (a > 0x7f800000 ? 0x200 | ((a >>> 13) & 0x3ff) : 0);
  if (a >= 0x477ff000) return sign | 0x7c00;
  if (a >= 0x38800000) {
    const r = a - 0x38000000;
    return sign | Math.floor((r + 0xfff + ((r >>> 13) & 1)) / 8192);
  }
  if (a < 0x33000000) return sign;
  const shift = 126 - (a >>> 23);
  const m = (a & 0x7fffff) | 0x800000;
  let h = m >>> shift;
  const rest = m - h * 2 ** shift;
  const half = 2 ** (shift - 1);
  if (rest > half || (rest === half && (h & 1))) h++;
  return sign | h;
}

/** The bfloat16 bits of a number, rounded to float32 first, then to nearest even. */
export function bf16Bits(x) {
  scratch.setFloat32(0, x);
  const u = scratch.getUint32(0);
  if ((u & 0x7fffffff) > 0x7f800000) return (u >>> 16) | 0x40;
  return Math.floor((u + 0x7fff + ((u >>> 16) & 1)) / 65536) & 0xffff;
}

/** The value of float16 bits (exact). */
export function f16Value(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 31;
  const m = h & 0x3ff;
  if (e === 31) return m ? NaN : s * Infinity;
  return e ? s * 2 ** (e - 15) * (1 + m / 1024) : s * m * 2 ** -24;
}

/** The value of bfloat16 bits (exact). */
export function bf16Value(h) {
  scratch.setUint32(0, (h << 16) >>> 0);
  return scratch.getFloat32(0);
}

/** A vector as the little-endian bytes of dtype. */
export function encodeVector(v, dtype) {
  if (dtype === 'f32') {
    const g = toFloat32LE(v);
    return new Uint8Array(g.buffer, g.byteOffset, g.byteLength);
  }
  const bits = dtype === 'f16' ? f16Bits : bf16Bits;
  const out = new Uint8Array(2 * v.length);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < v.length; i++) dv.setUint16(2 * i, bits(v[i]), true);
  return out;
}

/** Little-endian bytes of dtype as a Float32Array (exact). */
export function decodeVector(buf, dtype) {
  if (dtype === 'f32') return fromFloat32LE(buf);
  const value = dtype === 'f16' ? f16Value : bf16Value;
  const dv = new DataView(buf);
  const out = new Float32Array(buf.byteLength / 2);
  for (let i = 0; i < out.length; i++) out[i] = value(dv.getUint16(2 * i, true));
  return out;
}

/** The dtype a binary answer's Content-Type names (none: f32). */
function answerDtype(ctype) {
  const m = /;\s*dtype\s*=\s*"?([A-Za-z0-9]+)"?/i.exec(ctype || '');
  return m ? m[1].toLowerCase() : 'f32';
}

function checkId(id) {
  const s = String(id);
  if (!/^[A-Za-z0-9_.-]{1,79}$/.test(s)) throw new TypeError(`optirs: ${JSON.stringify(id)} is not a session id`);
  return s;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function errorFrom(res) {
  const text = await res.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  if (body && body.error) {
    const e = body.error;
    return new OptirsError(e.code ?? 'unknown', res.status, e.message ?? '', e.expected ?? null, body);
  }
  if (body && body.status) return new OptirsError(body.status, res.status, `not ready: ${body.status}`, null, body);
  return new OptirsError(`http_${res.status}`, res.status, text.slice(0, 200), null, null);
}

// unix:///ABSOLUTE/PATH: the socket file of a daemon started with
// --listen unix:/ABSOLUTE/PATH; null for http(s) URLs.
function unixPath(url) {
  if (!url.startsWith('unix:')) return null;
  const m = /^unix:\/\/(\/[^?#]*[^/?#])\/*$/.exec(url);
  if (!m) throw new TypeError(`optirs: a unix socket url is unix:///ABSOLUTE/PATH, not ${url}`);
  return m[1];
}

// fetch's contract over a unix socket file (node:http's socketPath): resolves
// to a Response, rejects with a TypeError whose cause carries the socket's
// error code, as fetch does.  The daemon answers some errors (401, 403, 404,
// 413 …) from the headers and closes: the rest of the body then cannot be
// sent (EPIPE), and the answer that came is what resolves.
async function unixFetch(socketPath, path, { method, headers, body, signal }) {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    let answered = false;
    let done = false;
    const fail = (err) => {
      if (done) return;
      done = true;
      reject(err?.name === 'AbortError' || err?.name === 'TimeoutError' ? err : new TypeError('fetch failed', { cause: err }));
    };
    const req = http.request({ socketPath, method, path, headers: { Host: 'localhost', ...headers }, signal });
    req.on('response', (res) => {
      answered = true;
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        if (done) return;
        done = true;
        const h = new Headers();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
        const empty = [204, 205, 304].includes(res.statusCode);
        resolve(new Response(empty ? null : Buffer.concat(chunks), { status: res.statusCode, headers: h }));
      });
    });
    req.on('error', (err) => {
      if (answered && (err.code === 'EPIPE' || err.code === 'ECONNRESET')) return;   // the answer is read
      fail(err);
    });
    req.end(body === undefined ? undefined : typeof body === 'string' ? body
      : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  });
}

/** A connection to one optirsd. */
export class Client {
  #socketPath = null;   // unix:///PATH: the socket file

  /**
   * @param {string|object} [opts] the URL, or {url, apiKey, timeout, retries, backoff, maxBackoff,
   * dtype, answerDtype}.
   * url is http(s)://HOST[:PORT][/prefix] or unix:///ABSOLUTE/PATH (a daemon's --listen unix: socket
   * file); it defaults to $OPTIRS_URL then http://127.0.0.1:8080; apiKey to $OPTIRS_API_KEY.
   * dtype: the element type of step requests, 'f32' (default), 'f16' or 'bf16' (half
   * the bytes, rounded to nearest even); answerDtype: that of the answers (default:
   * dtype).  A 16-bit answer is the update rounded: params + update here then drifts
   * from the daemon's float32 copy by that rounding.
   */
  constructor(opts = {}) {
    if (typeof opts === 'string') opts = { url: opts };
    this.url = String(opts.url || env('OPTIRS_URL') || DEFAULT_URL).replace(/\/+$/, '');
    this.#socketPath = unixPath(this.url);
    const u = this.#socketPath ? null : new URL(this.url);
    if (u && u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new TypeError(`optirs: url must be http(s)://… or unix:///PATH, not ${this.url}`);
    }
    this.apiKey = opts.apiKey ?? env('OPTIRS_API_KEY') ?? null;
    this.timeout = opts.timeout ?? 60000;          // ms, per request
    this.retries = opts.retries ?? 6;
    this.backoff = opts.backoff ?? 50;             // ms, doubled per retry
    this.maxBackoff = opts.maxBackoff ?? 2000;
    this.dtype = checkDtype(opts.dtype ?? 'f32');
    this.answerDtype = checkDtype(opts.answerDtype ?? this.dtype, 'answerDtype');
  }

  /**
   * Sends one request; resolves to the fetch Response of a 2xx answer, rejects
   * with OptirsError otherwise.  Idempotent requests (GET, DELETE, steps) are
   * re-sent after connection errors, timeouts and RETRYABLE_CODES with bounded
   * exponential backoff; others only when the connection was refused.  Any
   * request answered 429 rate_limited is re-sent after its Retry-After.
   */
  async request(method, path, { body, headers, idempotent = true, retryCodes = RETRYABLE_CODES } = {}) {
    const h = { Accept: 'application/json', ...(headers || {}) };
    if (this.apiKey) h.Authorization = `Bearer ${this.apiKey}`;
    if (body !== undefined && !(body instanceof Uint8Array) && !ArrayBuffer.isView(body) && typeof body !== 'string') {
      body = JSON.stringify(body);
      h['Content-Type'] ??= 'application/json';
    }
    for (let attempt = 0; ; attempt++) {
      let res;
      try {
        const init = { method, headers: h, body, signal: AbortSignal.timeout(this.timeout) };
        res = this.#socketPath ? await unixFetch(this.#socketPath, path, init) : await fetch(this.url + path, init);
      } catch (err) {
        const refused = err?.cause?.code === 'ECONNREFUSED';
        if ((idempotent || refused) && attempt < this.retries) {
          await sleep(Math.min(this.maxBackoff, this.backoff * 2 ** attempt));
          continue;
        }
        const why = err?.cause?.code || err?.cause?.message || err?.name || String(err);
        throw new OptirsError('connection_error', 0, `${method} ${path}: ${why}`);
      }
      if (res.ok) return res;
      const e = await errorFrom(res);
      if (e.code === 'rate_limited' && attempt < this.retries) {
        // Not processed at all, so safe for any request: wait as told.
        const told = Number(res.headers.get('retry-after')) || 0;
        await sleep(Math.min(60000, Math.max(told * 1000, this.backoff * 2 ** attempt)));
        continue;
      }
      if (idempotent && retryCodes.has(e.code) && attempt < this.retries) {
        await sleep(Math.min(this.maxBackoff, this.backoff * 2 ** attempt));
        continue;
      }
      throw e;
    }
  }

  async json(method, path, body, opts = {}) {
    const res = await this.request(method, path, { body, ...opts });
    const text = await res.text();
    return text ? JSON.parse(text) : null;
  }

  /** GET /readyz: {status: 'ready'|'starting'|'draining'|'storage_unavailable', reason?} (a 503's body
   * is returned, not thrown). */
  async health() {
    try {
      return await this.json('GET', '/readyz', undefined, { retryCodes: new Set() });
    } catch (e) {
      if (e instanceof OptirsError && e.status === 503 && e.body?.status) return e.body;
      throw e;
    }
  }

  /** The optimizer catalogue: [{name, kind, description, hyperparams}, …]. */
  async optimizers() {
    return (await this.json('GET', '/v1/optimizers')).optimizers;
  }

  /** The daemon's effective configuration. */
  async config() {
    return this.json('GET', '/v1/config');
  }

  /**
   * Creates a session.  tensors: shapes ([[784, 128], [128]]) or {name, shape}
   * objects, which may carry the tensor graph: {name, shape, inputs: [names],
   * role: 'weight'|'bias'|'embedding'|'norm'|'other'} (graph_lopt reads it);
   * params: initial values (array or Float32Array, default zeros).
   * domain (learned optimizers: 'vision', 'text', 'tabular', 'synthetic'):
   * that domain's weights record; rejects with OptirsError
   * 'no_domain_weights' when the optimizer has none.
   */
  async createSession(optimizer, { tensors, hyperparams, params, durability, workers, totalSteps,
    name, tags, weights, schedule, adapt, nonFinite, divergenceFactor, domain } = {}) {
    if (!Array.isArray(tensors) || tensors.length === 0) throw new TypeError('optirs: tensors is required');
    const spec = {
      optimizer,
      tensors: tensors.map((t) => (Array.isArray(t) ? { shape: t } : typeof t === 'number' ? { shape: [t] } : { ...t })),
    };
    if (hyperparams) spec.hyperparams = hyperparams;
    if (params !== undefined) spec.params = Array.from(params);
    const extra = {
      durability, workers, total_steps: totalSteps, name, tags, weights, schedule, adapt,
      non_finite: nonFinite, divergence_factor: divergenceFactor, domain,
    };
    for (const [k, v] of Object.entries(extra)) if (v !== undefined && v !== null) spec[k] = v;
    // The Idempotency-Key makes a re-sent create (after a lost reply) answer
    // the first session instead of making a second one.
    const headers = { 'Idempotency-Key': globalThis.crypto.randomUUID() };
    return new Session(this, await this.json('POST', '/v1/sessions', spec, { headers }));
  }

  /** The Session of an existing id; its step counter starts at the session's step. */
  async session(id) {
    return new Session(this, await this.json('GET', `/v1/sessions/${checkId(id)}`));
  }

  /** Iterates over the session summaries, newest first, page by page; filters (all optional,
   * combined): status, name (exact), tag ("key" or "key:value"), optimizer, q (a search in
   * names and tags, ignoring case). */
  async *sessions({ pageSize = 100, status, name, tag, optimizer, q: search } = {}) {
    const filters = new URLSearchParams();
    for (const [k, v] of Object.entries({ status, name, tag, optimizer, q: search })) {
      if (v !== undefined && v !== null) filters.append(k, String(v));
    }
    const extra = filters.toString();
    let token = null;
    for (;;) {
      let q = `limit=${pageSize}${extra ? `&${extra}` : ''}`;
      if (token) q += `&page_token=${encodeURIComponent(token)}`;
      const page = await this.json('GET', `/v1/sessions?${q}`);
      yield* page.sessions;
      token = page.next_page_token;
      if (!token || page.sessions.length === 0) return;
    }
  }
}

/** One optimizer session.  Use one Session object per worker. */
export class Session {
  constructor(client, desc) {
    this.client = client;
    this.id = desc.id;
    this.desc = desc;
    this.numParams = desc.num_params;
    this.lastStep = desc.step ?? 0;
  }

  get path() {
    return `/v1/sessions/${this.id}`;
  }

  /**
   * Posts the gradients of the next step (binary float32) and resolves to
   * its update (Float32Array; new params = params + update).  A lost answer is
   * re-sent with the same step number.  Rejects with OptirsError (e.g.
   * step_conflict with .expected).  dtype / answerDtype override the client's
   * for this step; the answer's Content-Type says its dtype (float32 when a value
   * would have overflowed the 16-bit one).
   */
  async step(grads, { loss, worker, dtype, answerDtype: at } = {}) {
    const dt = checkDtype(dtype ?? this.client.dtype);
    at = checkDtype(at ?? dtype ?? this.client.answerDtype, 'answerDtype');
    if (grads.length !== this.numParams) {
      throw new RangeError(`optirs: ${grads.length} gradients for a session of ${this.numParams} parameters`);
    }
    const k = this.lastStep + 1;
    const headers = {
      'Content-Type': media(dt),
      Accept: dt === 'f32' && at === 'f32' ? OCTET : `${OCTET}; dtype=${at}`,
      'X-Optirs-Step': String(k),
    };
    if (loss !== undefined && loss !== null) headers['X-Optirs-Loss'] = String(Number(loss));
    if (worker !== undefined && worker !== null) headers['X-Optirs-Worker'] = String(worker);
    const body = encodeVector(grads, dt);
    const res = await this.client.request('POST', `${this.path}/step`, { body, headers });
    const buf = await res.arrayBuffer();
    const got = answerDtype(res.headers.get('content-type'));
    const size = { f32: 4, f16: 2, bf16: 2 }[got];
    if (!size || buf.byteLength !== size * this.numParams) {
      throw new OptirsError('length_mismatch', res.status,
        `answer of ${buf.byteLength} bytes (${res.headers.get('content-type')}) for ${this.numParams} parameters`);
    }
    this.lastStep = k;
    return decodeVector(buf, got);
  }

  /** Sets the step counter to the daemon's last applied step; resolves to it. */
  async resync() {
    await this.info();
    return this.lastStep;
  }

  /** The daemon's copy of the parameters (Float32Array). */
  async params() {
    const res = await this.client.request('GET', `${this.path}/params`, { headers: { Accept: 'application/octet-stream' } });
    return fromFloat32LE(await res.arrayBuffer());
  }

  /** Stores loss feedback (and optional named figures) for a taken step. */
  async feedback(step, loss, metrics) {
    const body = { step, loss };
    if (metrics) body.metrics = metrics;
    return this.client.json('POST', `${this.path}/feedback`, body);
  }

  /** One page of step analytics rows with step > after (at most limit). */
  async metrics({ after = 0, limit = 1000 } = {}) {
    return (await this.client.json('GET', `${this.path}/metrics?after=${after}&limit=${limit}`)).metrics;
  }

  /** The current description (refreshes the step counter). */
  async info() {
    this.desc = await this.client.json('GET', this.path);
    this.lastStep = this.desc.step;
    return this.desc;
  }

  /** Changes the session's name, tags (replaced whole) or status ('finished' or 'archived':
   * no more steps, `409 session_closed`); returns its description. */
  async update({ name, tags, status } = {}) {
    const body = {};
    if (name !== undefined) body.name = name;
    if (tags !== undefined) body.tags = tags;
    if (status !== undefined) body.status = status;
    this.desc = await this.client.json('PATCH', this.path, body);
    return this.desc;
  }

  /** Deletes the session, its state, metrics and feedback. */
  async delete() {
    return this.client.json('DELETE', this.path);
  }
}
