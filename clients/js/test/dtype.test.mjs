// Compact step bodies from the Node client (proto/binary.md §8): the JS
// conversions on every 16-bit pattern and on the rounding edges, and steps in
// f16 / bf16 both ways against a real optirsd, with the float32 fallback of an
// answer that would overflow.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Client, OptirsError, bf16Bits, bf16Value, f16Bits, f16Value, encodeVector, decodeVector } from '../index.js';
import { startDaemon } from '../testing/daemon.mjs';

let d;
before(async () => { d = await startDaemon(); });
after(async () => { await d.stop(); });

const fromBits = (u) => new Float32Array(new Uint32Array([u]).buffer)[0];

test('every 16-bit pattern decodes exactly and re-encodes to itself', () => {
  for (let h = 0; h < 65536; h++) {
    const v = f16Value(h);
    if (Number.isNaN(v)) assert.equal(f16Bits(v) & 0x7e00, 0x7e00);
    else assert.equal(f16Bits(v), h, `f16 0x${h.toString(16)}`);
    const b = bf16Value(h);
    if (Number.isNaN(b)) assert.ok((h & 0x7f80) === 0x7f80 && (h & 0x7f));
    else assert.equal(bf16Bits(b), h, `bf16 0x${h.toString(16)}`);
  }
});

test('rounding edges: ties to even, overflow, subnormals, signed zero, NaN', () => {
  assert.equal(f16Bits(0.1), 0x2e66);
  assert.equal(f16Bits(65504), 0x7bff);
  assert.equal(f16Bits(65519.99), 0x7bff);
  assert.equal(f16Bits(65520), 0x7c00);
  assert.equal(f16Bits(-Infinity), 0xfc00);
  assert.equal(f16Bits(1 + 2 ** -11), 0x3c00);
  assert.equal(f16Bits(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(f16Bits(2 ** -24), 0x0001);
  assert.equal(f16Bits(2 ** -25), 0x0000);
  assert.equal(f16Bits(3 * 2 ** -25), 0x0002);
  assert.equal(f16Bits(5 * 2 ** -25), 0x0002);
  assert.equal(f16Bits(2 ** -14 - 2 ** -25), 0x0400);
  assert.equal(f16Bits(-0), 0x8000);
  assert.equal(f16Bits(NaN) & 0x7e00, 0x7e00);
  assert.equal(bf16Bits(0.1), 0x3dcd);
  assert.equal(bf16Bits(fromBits(0x3f808000)), 0x3f80);
  assert.equal(bf16Bits(fromBits(0x3f818000)), 0x3f82);
  assert.equal(bf16Bits(fromBits(0x7f7f7fff)), 0x7f7f);
  assert.equal(bf16Bits(fromBits(0x7f7f8000)), 0x7f80);
  assert.equal(bf16Bits(fromBits(0xff7fffff)), 0xff80);
  assert.equal(bf16Bits(fromBits(0x00008000)), 0x0000);
  assert.equal(bf16Bits(fromBits(0x00018000)), 0x0002);
  assert.equal(bf16Bits(-0), 0x8000);
  assert.equal(bf16Bits(NaN) & 0x7fc0, 0x7fc0);
  const bytes = encodeVector([1, -2, 0.1], 'bf16');
  assert.deepEqual([...bytes], [0x80, 0x3f, 0x00, 0xc0, 0xcd, 0x3d]);
  assert.deepEqual(decodeVector(bytes.buffer, 'bf16'), Float32Array.from([1, -2, 0.10009765625]));
});

test('steps in f16 and bf16, both ways', async () => {
  const c = new Client({ url: d.url, dtype: 'bf16' });
  assert.equal(c.answerDtype, 'bf16');
  const s = await c.createSession('sgd', { tensors: [[3]], hyperparams: { lr: 0.5 } });
  let u = await s.step([1, -2, 0.1]);                          // bf16 both ways
  assert.deepEqual(u, Float32Array.from([-0.5, 1, -0.050048828125]));
  u = await s.step([1, -2, 0.1], { dtype: 'f16', answerDtype: 'f32' });
  assert.deepEqual(u, Float32Array.from([-0.5, 1, Math.fround(-0.5 * f16Value(0x2e66))]));
  u = await s.step([2, 2, 2], { dtype: 'f32', answerDtype: 'f16' });
  assert.deepEqual(u, Float32Array.from([-1, -1, -1]));
  const p = await s.params();                                  // the daemon's float32 sums
  assert.deepEqual(p, Float32Array.from([-2, 1, Math.fround(Math.fround(-0.050048828125 - 0.0499877929687500) - 1)]));
  assert.throws(() => new Client({ url: d.url, dtype: 'fp8' }), TypeError);
});

test('an answer that would overflow f16 comes back in float32; an overflowing gradient is non_finite', async () => {
  const c = new Client({ url: d.url });
  const s = await c.createSession('sgd', { tensors: [[2]], hyperparams: { lr: 1 } });
  const u = await s.step([70000, 0.5], { answerDtype: 'f16' });
  assert.deepEqual(u, Float32Array.from([-70000, -0.5]));
  await assert.rejects(s.step([70000, 0.5], { dtype: 'f16' }),
    (e) => e instanceof OptirsError && e.code === 'non_finite' && e.status === 422);
});
