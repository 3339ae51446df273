// The Node client against a real optirsd (node --test clients/js/test/).
// OPTIRS_JS_TRANSPORT=unix runs the same tests over a unix socket file
// (client.unix.test.mjs sets it and imports this file); the lost-reply test
// needs a TCP proxy and runs on TCP only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

import { Client, OptirsError } from '../index.js';
import { startDaemon, startUnixDaemon } from '../testing/daemon.mjs';
import { DropProxy } from '../testing/dropproxy.mjs';

const UNIX = process.env.OPTIRS_JS_TRANSPORT === 'unix';
let d;
before(async () => {
  d = await (UNIX ? startUnixDaemon : startDaemon)('--step-timeout', '10');
  assert.ok(UNIX ? d.url.startsWith('unix:///') : d.url.startsWith('http://'), d.url);
});
after(async () => { await d.stop(); });

const f32 = (a) => Float32Array.from(a);

test('health, catalogue and a session lifecycle', async () => {
  const c = new Client({ url: d.url });
  assert.deepEqual(await c.health(), { status: 'ready' });
  const names = (await c.optimizers()).map((o) => o.name);
  for (const n of ['sgd', 'adam', 'mlp_lopt']) assert.ok(names.includes(n), n);
  const s = await c.createSession('adam', {
    tensors: [[2, 3], { name: 'b', shape: [3] }], hyperparams: { lr: 0.01 },
    params: [0, 1, 2, 3, 4, 5, 6, 7, 8], name: 'js-lifecycle', tags: { who: 'test' }, durability: 'step',
  });
  assert.equal(s.numParams, 9);
  assert.equal(s.lastStep, 0);
  let p = f32([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  for (let k = 1; k <= 3; k++) {
    const g = f32(Array.from({ length: 9 }, (_, i) => (i - 4) * 0.25 * k));
    const u = await s.step(g, { loss: 1 / k });
    assert.ok(u instanceof Float32Array && u.length === 9);
    p = p.map((x, i) => Math.fround(x + u[i]));   // float32 addition, like the daemon
  }
  assert.equal(s.lastStep, 3);
  assert.deepEqual(await s.params(), p);         // bit-for-bit agreement
  const info = await s.info();
  assert.equal(info.step, 3);
  assert.equal(info.name, 'js-lifecycle');
  const rows = await s.metrics();
  assert.deepEqual(rows.map((r) => r.step), [1, 2, 3]);
  assert.ok(Math.abs(rows[2].loss - 1 / 3) < 1e-6);
  assert.deepEqual((await s.metrics({ after: 1, limit: 1 })).map((r) => r.step), [2]);
  assert.equal((await s.feedback(2, 0.25, { acc: 0.5 })).stored, true);
  assert.equal((await c.session(s.id)).lastStep, 3);
  assert.deepEqual(await s.delete(), { id: s.id, deleted: true });
  await assert.rejects(c.session(s.id), (e) => e instanceof OptirsError && e.code === 'session_not_found' && e.status === 404);
});

test('createSession sends a tensor graph; a hostile one is refused', async () => {
  const c = new Client({ url: d.url });
  const s = await c.createSession('graph_lopt', {
    tensors: [{ name: 'emb', shape: [4, 2], role: 'embedding' }, { name: 'w', shape: [2, 2], inputs: ['emb'] },
      { name: 'b', shape: [2], inputs: ['emb'], role: 'bias' }],
  });
  const t = (await c.session(s.id)).desc.tensors;
  assert.deepEqual(t.map((x) => [x.name, x.inputs, x.role]),
    [['emb', [], 'embedding'], ['w', ['emb'], 'weight'], ['b', ['emb'], 'bias']]);
  const u = await s.step(f32(Array.from({ length: 14 }, (_, i) => i - 7)));
  assert.equal(u.length, 14);
  await assert.rejects(
    c.createSession('graph_lopt', { tensors: [{ name: 'a', shape: [2] }, { name: 'b', shape: [2], inputs: ['b'] }] }),
    (e) => e instanceof OptirsError && e.code === 'invalid_argument' && /self-loop/.test(e.message),
  );
});

test('sessions() iterates every page', async () => {
  const c = new Client(d.url);
  const made = new Set();
  for (let i = 0; i < 5; i++) made.add((await c.createSession('sgd', { tensors: [[1]] })).id);
  const seen = [];
  const order = [];
  for await (const s of c.sessions({ pageSize: 2 })) {
    seen.push(s.id);
    order.push([s.created_ms, s.id]);
  }
  for (const id of made) assert.ok(seen.includes(id));
  assert.equal(new Set(seen).size, seen.length);
  // newest first: creation time, then id, both descending
  const newer = (a, b) => (a[0] !== b[0] ? b[0] - a[0] : a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0);
  assert.deepEqual([...order].sort(newer), order);
});

test('update() changes a session; sessions() filters', async () => {
  const c = new Client(d.url);
  const a = await c.createSession('adam', { tensors: [[2]], name: 'js-filter-a', tags: { team: 'ops' } });
  const b = await c.createSession('sgd', { tensors: [[2]], name: 'js-filter-b' });
  assert.equal((await a.update({ status: 'finished' })).status, 'finished');
  await assert.rejects(a.step([1, 1]), (e) => e instanceof OptirsError && e.code === 'session_closed' && e.status === 409);
  const ids = async (opts) => { const out = []; for await (const s of c.sessions(opts)) out.push(s.id); return out; };
  assert.deepEqual(await ids({ status: 'finished', q: 'JS-FILTER' }), [a.id]);
  assert.deepEqual(await ids({ tag: 'team:ops', optimizer: 'adam', q: 'js-filter' }), [a.id]);
  assert.equal((await b.update({ name: 'js b & c?' })).name, 'js b & c?');
  assert.deepEqual(await ids({ name: 'js b & c?' }), [b.id]);
});

test('step_conflict carries expected; resync continues', async () => {
  const c = new Client(d.url);
  const a = await c.createSession('sgd', { tensors: [[2]] });
  const stale = await c.session(a.id);
  await a.step([1, 1]);
  await a.step([1, 1]);
  await assert.rejects(stale.step([1, 1]), (e) => {
    assert.ok(e instanceof OptirsError);
    assert.equal(e.code, 'step_conflict');
    assert.equal(e.status, 409);
    assert.equal(e.expected, 3);
    return true;
  });
  assert.equal(stale.lastStep, 0);
  assert.equal(await stale.resync(), 2);
  await stale.step([1, 1]);
  assert.equal((await a.info()).step, 3);
});

test('errors carry the daemon codes', async () => {
  const c = new Client(d.url);
  await assert.rejects(c.createSession('no_such_opt', { tensors: [[1]] }),
    (e) => e.code === 'unknown_optimizer' && e.status === 400);
  await assert.rejects(c.createSession('adam', { tensors: [[1]], hyperparams: { beta3: 1 } }),
    (e) => e.code === 'unknown_hyperparameter' && /beta3/.test(e.detail));
  const s = await c.createSession('sgd', { tensors: [[2]] });
  await assert.rejects(s.step([NaN, 0]), (e) => e.code === 'non_finite' && e.status === 422);
  assert.equal(s.lastStep, 0);
  await assert.rejects(s.step([1, 2, 3]), RangeError);
});

test('a lost reply is re-sent with the same step and applied once', { skip: UNIX && 'the proxy is TCP' }, async () => {
  const proxy = await new DropProxy(d.port).listen();
  try {
    const c = new Client({ url: proxy.url, backoff: 10 });
    const s = await c.createSession('sgd', { tensors: [[3]], hyperparams: { lr: 1 }, params: [1, 1, 1] });
    proxy.drop = 1;
    const u = await s.step([0.5, -1, 2]);
    assert.equal(proxy.dropped, 1);
    assert.deepEqual(Array.from(u), [-0.5, 1, -2]);
    assert.equal(s.lastStep, 1);
    const direct = await new Client(d.url).session(s.id);
    assert.equal(direct.lastStep, 1);
    assert.deepEqual(Array.from(await direct.params()), [0.5, 2, -1]);   // once, not twice
    proxy.drop = 2;
    const u2 = await s.step([1, 1, 1]);
    assert.equal(proxy.dropped, 3);
    assert.deepEqual(Array.from(u2), [-1, -1, -1]);
    assert.deepEqual(Array.from(await direct.params()), [-0.5, 1, -2]);
    assert.deepEqual((await direct.metrics()).map((r) => r.step), [1, 2]);
  } finally {
    await proxy.close();
  }
});

test('an unreachable daemon gives up after bounded retries', async () => {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const port = srv.address().port;
  await new Promise((r) => srv.close(r));           // nothing listens there now
  const c = new Client({ url: `http://127.0.0.1:${port}`, retries: 3, backoff: 5 });
  await assert.rejects(c.optimizers(), (e) => e.code === 'connection_error' && e.status === 0);
});

test('a shared session with two workers', async () => {
  const c = new Client(d.url);
  const s = await c.createSession('sgd', { tensors: [[4]], hyperparams: { lr: 1 }, workers: 2 });
  const grads = { w0: [1, 2, 3, 4], w1: [3, 2, 1, 0] };
  const work = async (name) => {
    const mine = await c.session(s.id);
    const out = [];
    for (let k = 1; k <= 3; k++) out.push(await mine.step(grads[name].map((x) => x * k), { loss: 1, worker: name }));
    return out;
  };
  const [a, b] = await Promise.all([work('w0'), work('w1')]);
  for (let k = 0; k < 3; k++) {
    assert.deepEqual(a[k], b[k]);
    assert.deepEqual(Array.from(a[k]), [1, 1, 1, 1].map(() => -2 * (k + 1)));
  }
  const info = await s.info();
  assert.equal(info.step, 3);
  assert.equal(info.workers, 2);
  assert.deepEqual(Array.from(await s.params()), [-12, -12, -12, -12]);
});

test('the example runs', async () => {
  const { spawnSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const ex = fileURLToPath(new URL('../examples/quickstart.mjs', import.meta.url));
  const r = spawnSync(process.execPath, [ex], { env: { ...process.env, OPTIRS_URL: d.url }, encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /loss .* -> /);
});

test('create options: adapt, nonFinite, divergenceFactor', async () => {
  const c = new Client(d.url);
  const s = await c.createSession('adam', {
    tensors: [[3]], adapt: { lr: 'hypergradient', beta: 1e-3 }, nonFinite: 'skip', divergenceFactor: 100,
  });
  const info = await s.info();
  assert.equal(info.adapt.lr, 'hypergradient');
  assert.equal(info.adapt.beta, 1e-3);
  assert.equal(info.non_finite, 'skip');
  assert.equal(info.divergence_factor, 100);
  assert.deepEqual(Array.from(await s.step(f32([NaN, 1, 1]))), [0, 0, 0]);  // skipped, still counted
  assert.equal((await s.info()).step, 1);
  await assert.rejects(c.createSession('adam', { tensors: [[3]], adapt: { lr: 'sometimes' } }),
    (e) => e instanceof OptirsError && e.status >= 400 && e.status < 500);
});

test('create with a domain: its record, or no_domain_weights', async () => {
  // synthetic: the one domain without a shipped mlp_lopt record.
  const c = new Client(d.url);
  await assert.rejects(c.createSession('mlp_lopt', { tensors: [[3]], domain: 'synthetic' }),
    (e) => e instanceof OptirsError && e.code === 'no_domain_weights' && e.status === 422);
  const blob = new Uint8Array(await (await c.request('GET', '/v1/weights/mlp_lopt/blob')).arrayBuffer());
  await c.request('POST', '/v1/weights?name=mlp_lopt.synthetic&domain=synthetic',
    { body: blob, headers: { 'Content-Type': 'application/octet-stream' }, idempotent: false });
  const s = await c.createSession('mlp_lopt', { tensors: [[3]], domain: 'synthetic' });
  assert.equal(s.desc.domain, 'synthetic');
  assert.equal((await s.info()).weights, 'mlp_lopt.synthetic@1');
  assert.equal((await s.step(f32([1, -1, 0.5]))).length, 3);
  const lo = (await c.optimizers()).find((o) => o.name === 'mlp_lopt');
  assert.equal(lo.domain_weights.synthetic.ref, 'mlp_lopt.synthetic@1');
  await assert.rejects(c.createSession('mlp_lopt', { tensors: [[3]], domain: 'Synthetic' }),
    (e) => e instanceof OptirsError && e.code === 'invalid_argument' && e.status === 400);
});
