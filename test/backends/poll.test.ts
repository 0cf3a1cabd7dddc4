// dawn.node's promise poll on CPU adapters (src/backend/webgpu/poll.ts): setImmediate is wrapped while a context on
// a CPU adapter is open; script callbacks pass through, a native callback chain (bound functions stand in for
// dawn.node's poll: their source reads "[native code]" too) runs at setImmediate's pace for its first 0.5 ms and
// then on 1 ms timers, a chain that stops starts the next one afresh, and the last removal restores the original.

import test from 'tape';
import { close, init, ops, tensor } from '../../src/index.js';
import { nativePollingThrottled, SPIN_MS, throttleNativePolling } from '../../src/backend/webgpu/poll.js';
import { availableBackends, webgpuOnCpu } from '../helpers/backends.js';

const backends = await availableBackends();

/** Spies on setImmediate (as the wrapper finds it) and setTimeout: how many callbacks each was handed. */
function spies() {
  const immediate = globalThis.setImmediate, timeout = globalThis.setTimeout;
  const counts = { immediate: 0, timeout: 0 };
  globalThis.setImmediate = ((fn: (...a: unknown[]) => void, ...a: unknown[]) => {
    counts.immediate++;
    return immediate(fn, ...a);
  }) as typeof setImmediate;
  globalThis.setTimeout = ((fn: (...a: unknown[]) => void, ms?: number, ...a: unknown[]) => {
    counts.timeout++;
    return timeout(fn, ms, ...a);
  }) as typeof setTimeout;
  return { counts, restore: () => { globalThis.setImmediate = immediate; globalThis.setTimeout = timeout; } };
}

/** A chain of `polls` native callbacks, each scheduling the next through setImmediate; resolves after the last. */
function chain(polls: number): Promise<void> {
  return new Promise((resolve) => {
    let left = polls;
    const poll = function (this: unknown) {
      if (--left > 0) setImmediate(poll.bind(null));
      else resolve();
    };
    setImmediate(poll.bind(null));
  });
}

test('poll wrapper: script callbacks pass through, a native chain slows to 1 ms timers after 0.5 ms, then starts afresh', async (t) => {
  const spy = spies();
  const remove = throttleNativePolling();
  try {
    t.ok(nativePollingThrottled(), 'installed');
    let ran = false;
    await new Promise<void>((resolve) => setImmediate(() => { ran = true; resolve(); }));
    t.ok(ran, 'a script callback runs');
    t.deepEqual(spy.counts, { immediate: 1, timeout: 0 }, 'through the original setImmediate');

    spy.counts.immediate = spy.counts.timeout = 0;
    const t0 = performance.now();
    await chain(30);
    const ms = performance.now() - t0;
    t.ok(spy.counts.immediate >= 1, `the chain's first polls went through setImmediate (${spy.counts.immediate})`);
    t.ok(spy.counts.timeout >= 1, `later ones through 1 ms timers (${spy.counts.timeout})`);
    t.equal(spy.counts.immediate + spy.counts.timeout, 30, 'every poll scheduled once');
    // a timer waits at least 1 ms: the polls after the spin each cost that much
    t.ok(ms >= spy.counts.timeout, `30 polls took ${ms.toFixed(1)} ms, at least 1 ms per timer`);
    t.ok(SPIN_MS < 1, 'the spin is shorter than one timer');

    spy.counts.immediate = spy.counts.timeout = 0;
    await chain(1);
    t.deepEqual(spy.counts, { immediate: 1, timeout: 0 }, 'a new chain starts at setImmediate\'s pace again');
  } finally {
    remove();
    spy.restore();
  }
  t.notOk(nativePollingThrottled(), 'removed');
});

test('poll wrapper: counted, and the last removal restores setImmediate itself', (t) => {
  const before = globalThis.setImmediate;
  const a = throttleNativePolling(), b = throttleNativePolling();
  t.notEqual(globalThis.setImmediate, before, 'wrapped');
  a();
  a();
  t.notEqual(globalThis.setImmediate, before, 'still wrapped while one holder remains (a second call of a removal counts once)');
  b();
  t.equal(globalThis.setImmediate, before, 'the original is back');
  t.end();
});

test('poll wrapper: on while a webgpu context on a CPU adapter is open, off after close()', async (t) => {
  if (!backends.includes('webgpu')) return t.pass('no WebGPU adapter here');
  await init({ backend: 'webgpu' });
  try {
    t.equal(nativePollingThrottled(), webgpuOnCpu(), `wrapped exactly on a CPU adapter (${webgpuOnCpu()})`);
    const y = ops.add(tensor([1, 2, 3], [3]), tensor([10, 20, 30], [3]));
    t.deepEqual(Array.from(await y.data()), [11, 22, 33], 'a read-back settles under it');
  } finally {
    await close();
  }
  t.notOk(nativePollingThrottled(), 'removed by close()');
});
