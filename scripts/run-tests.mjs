#!/usr/bin/env node
// Runs every test file (test/**/*.test.ts) in its own Node process through tsx, streams the TAP output,
// and closes with one line `tests: N passed, N failed` counting assertions across all files. A file
// that crashes or exits non-zero counts as a failure even when its assertions passed.
// Usage: node scripts/run-tests.mjs [substring filter...]

import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

// Every GEMM (matmul, conv) runs on the tile lavapipe compiles fastest: the suite builds well over a hundred
// shape-specialised pipelines, and on a CPU adapter the bigger default tiles take several times longer to
// compile. Each tile configuration is still checked by its own tests (test/ops/linalg.test.ts, conv.test.ts).
// Set CONVIS_GEMM_TILE= (empty) to run on the adapter's own choices, as on a GPU.
if (process.env.CONVIS_GEMM_TILE === undefined) process.env.CONVIS_GEMM_TILE = 'small';

const files = find(join(root, 'test')).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
let passed = 0, failed = 0;
const failures = [];
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');

for (const file of files) {
  const name = relative(root, file);
  console.log(`# ---- ${name}`);
  const started = Date.now();
  const { code, signal, ok, notOk } = await new Promise((resolve) => {
    const child = spawn(process.execPath, [tsx, file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let ok = 0, notOk = 0, buf = '';
    const onLine = (line) => {
      if (/^ok \d+/.test(line)) ok++;
      else if (/^not ok \d+/.test(line)) {
        notOk++;
        failures.push(`${name}: ${line}`);
      }
      if (!/^(TAP version|\d+\.\.\d+$|# (tests|pass|fail|ok)\b)/.test(line)) console.log(line);
    };
    child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    child.stderr.on('data', (d) => {
      const text = String(d).split('\n').filter((l) => !/artificially reduced/.test(l)).join('\n');
      if (text.trim()) process.stderr.write(text.endsWith('\n') ? text : text + '\n');
    });
    child.on('close', (code, signal) => {
      if (buf) onLine(buf);
      resolve({ code, signal, ok, notOk });
    });
  });
  passed += ok;
  failed += notOk;
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (code !== 0 && notOk === 0) {
    failed++;
    failures.push(`${name}: exited with ${signal ?? `code ${code}`} (${secs} s)`);
  }
  console.log(`# ---- ${name}: ${ok} passed, ${notOk} failed, ${secs} s`);
}

if (failures.length) {
  console.log('# failures:');
  for (const f of failures) console.log(`#   ${f}`);
}
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
