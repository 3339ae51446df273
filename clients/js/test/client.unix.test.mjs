// The Node client over a unix socket file (unix:///PATH URLs): every test of
// client.test.mjs again with OPTIRS_JS_TRANSPORT=unix, then what is
// particular to the socket file.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import { Client } from '../index.js';
import { startUnixDaemon } from '../testing/daemon.mjs';

process.env.OPTIRS_JS_TRANSPORT = 'unix';
await import('./client.test.mjs');

const started = [];
after(async () => { for (const x of started) await x.stop(); });

test('unix URL forms', () => {
  assert.equal(new Client('unix:///run/optirs/optirs.sock').url, 'unix:///run/optirs/optirs.sock');
  for (const bad of ['unix://relative.sock', 'unix:///', 'unix:///x.sock?a=1', 'unix:relative.sock']) {
    assert.throws(() => new Client(bad), TypeError, bad);
  }
});

test('an early answer (413) is read although the body could not be sent', async () => {
  const d = await startUnixDaemon('--max-json-body', '1024');
  started.push(d);
  const c = new Client({ url: d.url, retries: 0 });
  await assert.rejects(c.createSession('sgd', { tensors: [[1]], name: 'x'.repeat(200000) }),
    (e) => e.code === 'body_too_large' && e.status === 413);
  const s = await c.createSession('sgd', { tensors: [[2]], hyperparams: { lr: 1 } });
  assert.deepEqual(Array.from(await s.step([1, 1])), [-1, -1]);
});

test('a missing socket file is a connection_error', async () => {
  const d = started[0];
  const c = new Client({ url: `unix://${path.join(d.dir, 'none.sock')}`, retries: 1, backoff: 5 });
  await assert.rejects(c.optimizers(), (e) => e.code === 'connection_error' && e.status === 0 && /ENOENT/.test(e.detail));
});
