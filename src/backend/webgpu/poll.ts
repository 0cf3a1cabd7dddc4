// How dawn.node's promises are polled on CPU adapters.
//
// dawn.node settles a device's promises (mapAsync, onSubmittedWorkDone, popErrorScope) from a poll that calls
// the instance's ProcessEvents and reschedules itself with the global setImmediate for as long as one is pending:
// a busy loop on the main thread. On a GPU that costs one host core and gives the lowest latency. On a CPU adapter
// (lavapipe) the device's own threads run on the same cores, and the loop takes one of them: on the project's
// 2-core VM a VGG16 saliency call at 64x64 took 783 ms with the main thread busy for 671 ms of it; with the poll
// moved onto a 1 ms timer, 441 ms with the main thread busy for 35 ms (bench/RESULTS.md, notes of 2026-11-27).
//
// So while a context on a CPU adapter is open, setImmediate is wrapped: a native callback (the poll; script
// functions pass through untouched) is rescheduled at once for the first SPIN_MS of a poll chain, which covers
// small kernels, and after that on a 1 ms timer. A chain ends when a poll does not reschedule itself. The wrapper
// is removed when the last such context closes.

import { promisify } from 'node:util';

/** how long a poll chain runs at setImmediate's pace before it waits 1 ms between polls */
export const SPIN_MS = 0.5;

let installed = 0;
let original: typeof setImmediate | null = null;

const nativeSource = /\{\s*\[native code\]\s*\}\s*$/;

function isNative(fn: unknown): boolean {
  return typeof fn === 'function' && nativeSource.test(Function.prototype.toString.call(fn));
}

/** Wraps setImmediate as described above; returns the function that removes it (counted: the last removal restores). */
export function throttleNativePolling(): () => void {
  if (installed++ === 0) {
    const immediate = globalThis.setImmediate;
    original = immediate;
    let chainStart: number | null = null;
    let rescheduled = false;
    const wrapped = ((fn: (...args: unknown[]) => void, ...args: unknown[]) => {
      if (!isNative(fn)) return immediate(fn, ...args);
      const now = performance.now();
      if (chainStart === null) chainStart = now;
      rescheduled = true;
      const run = () => {
        rescheduled = false;
        try {
          fn(...args);
        } finally {
          if (!rescheduled) chainStart = null;
        }
      };
      return now - chainStart < SPIN_MS ? immediate(run) : setTimeout(run, 1);
    }) as unknown as typeof setImmediate;
    Object.defineProperty(wrapped, promisify.custom, { value: (immediate as unknown as Record<symbol, unknown>)[promisify.custom] });
    globalThis.setImmediate = wrapped;
  }
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    if (--installed === 0 && original) {
      globalThis.setImmediate = original;
      original = null;
    }
  };
}

/** Whether the wrapper is in place (tests). */
export function nativePollingThrottled(): boolean {
  return installed > 0;
}
