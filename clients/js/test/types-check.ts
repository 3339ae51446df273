// Type check of index.d.ts: the Node client used as docs/clients.md and
// clients/js/examples/quickstart.mjs use it, compiled with
//   tsc --noEmit --strict --target es2022 --module nodenext clients/js/test/types-check.ts
// (`make js-types`, part of `make test`).  Never run: it only has to compile.
// The `@ts-expect-error` lines are misuses the declarations must refuse; tsc
// fails if one of them compiles.
import {
  Client, DEFAULT_URL, DTYPES, OptirsError, RETRYABLE_CODES, Session, bf16Bits, decodeVector, encodeVector,
} from '../index.js';
import type {
  CreateSessionOptions, MetricRow, OptimizerInfo, SessionDescription, SessionSummary,
} from '../index.js';

export async function usage(grads: Float32Array, valLoss: number, accuracy: number): Promise<void> {
  const client = new Client();
  const other = new Client({ url: DEFAULT_URL, apiKey: null, timeout: 60000, retries: 6, backoff: 50, maxBackoff: 2000 });
  const byUrl: Client = new Client('http://127.0.0.1:8080');
  const url: string = client.url + other.url + byUrl.url;

  const params = new Float32Array(784 * 128 + 128);
  const opts: CreateSessionOptions = {
    tensors: [[784, 128], [128]], hyperparams: { lr: 1e-3 }, params, totalSteps: 10000, name: 'mnist',
    tags: { owner: 'me' }, durability: 'step', workers: 1, schedule: 'cosine', weights: 'mlp_lopt@1',
    adapt: { lr: 'hypergradient', beta: 1e-4, per_tensor: false }, nonFinite: 'skip',
    divergenceFactor: 10, domain: 'vision',
  };
  const s: Session = await client.createSession('adam', opts);
  await client.createSession('sgd', { tensors: [{ name: 'w', shape: [1] }, 3] });

  const update: Float32Array = await s.step(grads, { loss: 0.5 });
  await s.step([0.1, 0.2], { worker: 'rank-3' });
  const compact = new Client({ url: DEFAULT_URL, dtype: 'bf16', answerDtype: 'f32' });
  const half: Float32Array = await s.step(grads, { dtype: 'f16', answerDtype: 'bf16' });
  const bytes: Uint8Array = encodeVector(grads, DTYPES[2]);
  const back: Float32Array = decodeVector(bytes.buffer, 'bf16');
  const bits: number = bf16Bits(0.1);
  console.log(compact.dtype, half.length, back.length, bits);
  for (let i = 0; i < params.length; i++) params[i] += update[i];
  const step: number = s.lastStep;
  const fb: { step: number; loss: number; stored: true } = await s.feedback(step, valLoss, { accuracy });
  const p: Float32Array = await s.params();
  const rows: MetricRow[] = await s.metrics({ after: 0, limit: 1000 });
  const lr: number | null = rows.length ? rows[0].lr : null;
  const info: SessionDescription = await s.info();
  const names: string[] = info.tensors.map((t) => t.name);
  const gone: { id: string; deleted: true } = await s.delete();
  const done: SessionDescription = await s.update({ status: 'finished' });
  await s.update({ name: 'renamed', tags: { owner: 'you' } });
  const resumed: number = await s.resync();
  const where: string = s.path + s.id + s.numParams;

  const catalogue: OptimizerInfo[] = await client.optimizers();
  const kinds = catalogue.map((o) => o.kind + (o.default_weights?.ref ?? '') + o.hyperparams.length);
  const ready = await client.health();
  if (ready.status === 'storage_unavailable') console.log(ready.reason);
  const config = await client.config();
  for await (const x of client.sessions()) console.log(x.id, x.step);
  for await (const x of client.sessions({ status: 'active', q: 'mnist', tag: 'owner:me', optimizer: 'adam' })) {
    const summary: SessionSummary = x;
    console.log(summary.id, summary.status, summary.last_loss, summary.tenant);
  }
  const again: Session = await client.session(s.id);
  const raw = await client.json<{ status: string }>('GET', '/readyz');
  const res: Response = await client.request('GET', '/healthz', { idempotent: true, retryCodes: RETRYABLE_CODES });

  try {
    await again.step(grads);
  } catch (e) {
    if (e instanceof OptirsError && e.code === 'step_conflict') {
      const expected: number | null = e.expected;
      console.log(expected, e.status, e.detail, e.body, e.name);
      await again.resync();
    }
  }
  const made = new OptirsError('connection_error', 0, 'GET /: ECONNREFUSED');
  console.log(url, fb, p, lr, names, gone, done, resumed, where, kinds, config, raw, res.status, made.code);

  await client.createSession('mlp_lopt', { tensors: [[1]], weights: '@default', hyperparams: { activation: 'gelu', lr: 1e-3 } });
  await client.createSession('mlp_lopt', { tensors: [[1]], weights: '@default', hyperparams: { features: 'momentum' } });

  // Misuses the declarations must refuse.
  // @ts-expect-error tensors is required
  await client.createSession('adam', { hyperparams: { lr: 1 } });
  // @ts-expect-error a hyperparameter is a number
  await client.createSession('adam', { tensors: [[1]], hyperparams: { lr: '1e-3' } });
  // @ts-expect-error an activation is one of its names
  await client.createSession('mlp_lopt', { tensors: [[1]], hyperparams: { activation: 'tanh' } });
  // @ts-expect-error a feature set is one of its names
  await client.createSession('mlp_lopt', { tensors: [[1]], hyperparams: { features: 'all' } });
  // @ts-expect-error no such durability
  await client.createSession('adam', { tensors: [[1]], durability: 'always' });
  // @ts-expect-error gradients are numbers
  await s.step(['0.1']);
  // @ts-expect-error a loss is a number
  await s.step(grads, { loss: '0.5' });
  // @ts-expect-error no such wire dtype
  await s.step(grads, { dtype: 'fp8' });
  // @ts-expect-error diverged is not a status a PATCH sets
  await s.update({ status: 'diverged' });
  // @ts-expect-error a summary has no tensors
  for await (const x of client.sessions()) console.log(x.tensors);
  // @ts-expect-error the step counter is a number
  s.lastStep = 'one';
  // @ts-expect-error an id is read-only
  s.id = 'other';
}
