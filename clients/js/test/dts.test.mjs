// index.d.ts declares what index.js has, no more and no less: the exported
// names, and the members of each exported class (its methods, getters and the
// properties its constructor sets).  The types themselves are checked by tsc
// (test/types-check.ts, `make js-types`); this test needs no daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import * as optirs from '../index.js';

const dts = readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8');

// `export declare class Name … {` … the first `}` alone on a line.
function declaredClasses() {
  const out = new Map();
  for (const m of dts.matchAll(/^export declare class (\w+)[^{]*\{\n([\s\S]*?)^\}/gm)) {
    const members = new Set();
    let depth = 0;
    for (const line of m[2].split('\n')) {
      const at = depth;
      depth += (line.match(/[({]/g) || []).length - (line.match(/[)}]/g) || []).length;
      if (at !== 0) continue;                        // inside a member's multi-line type
      const d = line.match(/^ {2}(?:readonly |static |get )*(\w+)\s*[?(<:]/);
      if (d && d[1] !== 'constructor') members.add(d[1]);
    }
    out.set(m[1], members);
  }
  return out;
}

function declaredExports() {
  return new Set([...dts.matchAll(/^export declare (?:const|class|function) (\w+)/gm)].map((m) => m[1]));
}

// A class's public members at run time: prototype methods and getters, and
// the own properties of an instance.
function runtimeMembers(cls, instance) {
  const names = new Set(Object.getOwnPropertyNames(cls.prototype).filter((n) => n !== 'constructor'));
  for (const n of Object.keys(instance)) names.add(n);
  return names;
}

test('index.d.ts declares every export of index.js and nothing else', () => {
  assert.deepEqual([...declaredExports()].sort(), Object.keys(optirs).sort());
});

test('index.d.ts declares every member of each class and nothing else', () => {
  const client = new optirs.Client({ url: 'http://127.0.0.1:1' });
  const instances = {
    Client: client,
    Session: new optirs.Session(client, { id: 'x', num_params: 1, step: 0 }),
    OptirsError: new optirs.OptirsError('not_found', 404, 'no such session'),
  };
  const declared = declaredClasses();
  assert.deepEqual([...declared.keys()].sort(), Object.keys(instances).sort());
  for (const [name, obj] of Object.entries(instances)) {
    const rt = runtimeMembers(optirs[name], obj);
    assert.deepEqual([...declared.get(name)].sort(), [...rt].sort(), name);
  }
});
