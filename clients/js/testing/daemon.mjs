// Starts a real optirsd for the tests: ephemeral port on 127.0.0.1 (or, with
// startUnixDaemon, the socket file optirs.sock in its directory), fresh
// database in a temporary directory (like tests/integration/daemon.py).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';

import { Client } from '../index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const OPTIRSD = process.env.OPTIRSD || path.join(ROOT, 'build', 'optirsd');

export async function startDaemon(...flags) {
  return start(false, flags);
}

export async function startUnixDaemon(...flags) {
  return start(true, flags);
}

async function start(unix, flags) {
  const dir = mkdtempSync(path.join(tmpdir(), 'optirs-js-'));
  const log = openSync(path.join(dir, 'stderr.log'), 'a');
  const sock = unix ? path.join(dir, 'optirs.sock') : null;
  const listen = unix ? `unix:${sock}` : '127.0.0.1:0';
  const proc = spawn(OPTIRSD, ['--listen', listen, '--db', path.join(dir, 'optirs.db'), '--threads', '4', ...flags],
    { stdio: ['ignore', 'pipe', log] });
  const rl = readline.createInterface({ input: proc.stdout });
  const first = await new Promise((resolve, reject) => {
    rl.once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`optirsd exited ${code} before listening`)));
    proc.once('error', reject);
  });
  rl.close();
  proc.stdout.resume();
  const m = unix ? null : /^listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(first);
  if (unix ? first !== `listening on unix://${sock}` : !m) throw new Error(`unexpected first line: ${first}`);
  const url = unix ? `unix://${sock}` : `http://127.0.0.1:${m[1]}`;
  const probe = new Client({ url, retries: 0 });
  for (let i = 0; i < 500; i++) {
    try {
      if ((await probe.health()).status === 'ready') break;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url,
    sock,
    dir,
    port: unix ? null : Number(m[1]),
    async stop() {
      if (proc.exitCode === null) {
        const done = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await done;
      }
      closeSync(log);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
