// Which backends this machine can run, and one test body run on each (candle's test_device!, in tape).
// CONVIS_REQUIRE_WEBGPU=1 turns a missing WebGPU adapter into a failure instead of a notice; CONVIS_BACKENDS=cpu
// (a comma-separated list) probes only those backends (the sanitizer run tests native code alone).

import test from 'tape';
import { close, init, type InitOptions } from '../../src/index.js';

export type BackendName = 'webgpu' | 'cpu';
export type Body = (t: test.Test, backend: BackendName) => Promise<void> | void;

let probed: BackendName[] | null = null;
let cpuAdapter = false;

/** True when the WebGPU adapter is a CPU (lavapipe): some GPU-only variants are then checked more lightly. */
export function webgpuOnCpu(): boolean {
  return cpuAdapter;
}

/** Probes once per process and says which backends run. */
export async function availableBackends(): Promise<BackendName[]> {
  if (probed) return probed;
  const found: BackendName[] = [];
  const missing: string[] = [];
  const wanted = process.env.CONVIS_BACKENDS?.split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of ['webgpu', 'cpu'] as const) {
    if (wanted && !wanted.includes(name)) continue;
    try {
      const info = await init({ backend: name });
      if (name === 'webgpu') cpuAdapter = /llvmpipe|lavapipe|swiftshader/i.test(info.device);
      await close();
      found.push(name);
    } catch (e) {
      missing.push(`${name} (${(e as Error).message.split('\n')[0].slice(0, 160)})`);
    }
  }
  if (missing.length) console.log(`# backends unavailable here: ${missing.join('; ')}`);
  console.log(`# backends under test: ${found.join(', ') || 'none'}`);
  if (process.env.CONVIS_REQUIRE_WEBGPU === '1' && !found.includes('webgpu')) {
    test('CONVIS_REQUIRE_WEBGPU=1: a WebGPU adapter is present', (t) => {
      t.fail('WebGPU is unavailable but CONVIS_REQUIRE_WEBGPU=1');
      t.end();
    });
  }
  probed = found;
  return found;
}

/**
 * Registers every case once per available backend, between an init() and a close().
 * Call it with await at the top level of a test file.
 */
export async function onEachBackend(group: string, cases: [string, Body][], opts: Omit<InitOptions, 'backend'> = {}): Promise<void> {
  for (const backend of await availableBackends()) {
    test(`${backend} ${group}: init`, async (t) => {
      const info = await init({ ...opts, backend });
      t.equal(info.name, backend, `opened ${info.device}`);
    });
    for (const [name, body] of cases) {
      test(`${backend} ${group}: ${name}`, async (t) => {
        await body(t, backend);
      });
    }
    test(`${backend} ${group}: close`, async (t) => {
      await close();
      t.pass('closed');
    });
  }
}
