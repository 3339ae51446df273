// Fit y = 3x - 2 with a linear model whose Adam steps run in optirsd.
//   make run                                  # a daemon on 127.0.0.1:8080
//   OPTIRS_URL=http://127.0.0.1:8080 node clients/js/examples/quickstart.mjs
import { Client } from '../index.js';

const client = new Client();                       // $OPTIRS_URL or http://127.0.0.1:8080
const session = await client.createSession('adam', {
  tensors: [{ name: 'w', shape: [1] }, { name: 'b', shape: [1] }],
  hyperparams: { lr: 0.1 },
  name: 'js-quickstart',
});
const params = new Float32Array(2);                // [w, b], the daemon starts from zeros too
const xs = Array.from({ length: 32 }, (_, i) => i / 16 - 1);
const lossOf = ([w, b]) => xs.reduce((s, x) => s + (w * x + b - (3 * x - 2)) ** 2, 0) / xs.length;
const first = lossOf(params);
for (let k = 0; k < 200; k++) {
  const [w, b] = params;
  let gw = 0, gb = 0;
  for (const x of xs) {
    const r = w * x + b - (3 * x - 2);
    gw += (2 * r * x) / xs.length;
    gb += (2 * r) / xs.length;
  }
  const update = await session.step([gw, gb], { loss: lossOf(params) });
  for (let i = 0; i < 2; i++) params[i] += update[i];
}
const remote = await session.params();
console.log(`session ${session.id}: loss ${first.toFixed(4)} -> ${lossOf(params).toFixed(6)}, ` +
  `w=${params[0].toFixed(3)} b=${params[1].toFixed(3)} (daemon agrees: ${remote.every((v, i) => v === params[i])})`);
await session.delete();
