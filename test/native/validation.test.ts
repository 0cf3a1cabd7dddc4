// The addon's own checks, called directly (below the TypeScript backend, which would catch most of these
// first): wrong lengths, negative and fractional sizes, unknown and released storages, detached buffers,
// wrong types. Each must throw a JS Error that names the function; none may take the process down.

import test from 'tape';
import { loadNative, type NativeAddon } from '../../src/backend/cpu/native.js';

let native: NativeAddon | null = null;
try {
  native = loadNative();
} catch (e) {
  test('native addon: built', (t) => {
    t.fail(`the native addon does not load: ${(e as Error).message}`);
    t.end();
  });
}

if (native) {
  const n = native;
  test('native addon: argument checks throw named Errors', async (t) => {
    t.throws(() => n.alloc(4), /alloc: the cpu backend is closed/, 'calls before open() are refused');
    n.open();
    const a = n.alloc(12), b = n.alloc(12), out = n.alloc(12);
    n.upload([a, 0], new Float32Array(12).fill(1));
    n.upload([b, 0], new Float32Array(12).fill(2));

    t.throws(() => n.alloc(-1), /alloc: elements must be an integer >= 0, got -1/, 'negative size');
    t.throws(() => n.alloc(2.5), /alloc: elements must be an integer >= 0, got 2.5/, 'fractional size');
    t.throws(() => n.alloc(Number.NaN), /alloc: elements must be an integer >= 0, got NaN/, 'NaN size');
    t.throws(() => (n.alloc as (x: unknown) => number)('12'), /alloc: elements must be a number, got 12/, 'string size');
    t.throws(() => n.upload([a, 4], new Float32Array(12)), /upload: target needs 12 elements from offset 4, but its storage holds 12/,
      'upload past the end');
    t.throws(() => n.upload([a, -1], new Float32Array(1)), /upload: target offset must be an integer >= 0, got -1/, 'negative offset');
    t.throws(() => n.upload([a, 0], new Float64Array(2) as unknown as Float32Array), /upload: data must be a Float32Array/, 'wrong array type');
    const detached = new Float32Array(4);
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    t.throws(() => n.upload([a, 0], detached), /upload: data's ArrayBuffer is detached/, 'detached buffer');
    t.throws(() => n.upload([999, 0], new Float32Array(1)), /upload: target names storage 999, which does not exist or was released/,
      'unknown storage');
    t.throws(() => n.download([a, 0], 13), /download: source needs 13 elements from offset 0, but its storage holds 12/, 'download too long');

    const shape = [3, 4];
    t.throws(() => n.elementwise(13, [[a, 0], [b, 0]], [[4, 1], [4, 1]], [out, 0], [3, 5], [0, 0]),
      /elementwise: input 0 needs 13 elements from offset 0, but its storage holds 12/, 'elementwise input too short for the shape');
    t.throws(() => n.elementwise(13, [[a, 0]], [[4, 1]], [out, 0], shape, [0, 0]), /elementwise: op 13 takes 2 inputs, got 1/,
      'wrong arity');
    t.throws(() => n.elementwise(99, [], [], [out, 0], shape, [0, 0]), /elementwise: op 99 is not an operator/, 'unknown operator');
    t.throws(() => n.elementwise(13, [[a, 0], [b, 0]], [[4, -1], [4, 1]], [out, 0], shape, [0, 0]),
      /elementwise: input 0 stride 1 must be an integer >= 0/, 'negative stride');
    t.throws(() => n.gemm(1, 3, 4, 5, [a, 0], [0, 5, 1], [b, 0], [0, 4, 1], [out, 0], [4, 12], false, null, false),
      /matmul: a needs 15 elements from offset 0, but its storage holds 12/, 'matmul operand too short');
    t.throws(() => n.gemm(1, 3, 4, 2, [a, 0], [0, 2, 1], [b, 0], [0, 4, 1], [a, 0], [4, 12], false, null, false),
      /matmul: out overlaps an input/, 'matmul writing into its input');
    t.throws(() => n.conv2d([a, 0], [b, 0], null, [out, 0], [1, 3, 2, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 1, 1, 2], false),
      /conv2d: groups 2 must divide C and O/, 'conv groups that do not divide');
    t.throws(() => n.conv2d([a, 0], [b, 0], null, [out, 0], [1, 3, 2, 2, 2, 2, 2, 1, 1, 0, 1, 0, 0, 1, 1, 1], false),
      /conv2d: channels, kernel, stride, dilation and groups must be >= 1/, 'zero stride');
    t.throws(() => n.conv2d([a, 0], [b, 0], null, [out, 0], [1, 3, 4, 4, 2, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1], false),
      /conv2d: x needs 48 elements from offset 0, but its storage holds 12/, 'conv input too small for its geometry');
    t.throws(() => n.conv2d([a, 0], [b, 0], null, [out, 0], [1, 3, 2, 2], false), /conv2d: geometry must have 16 entries, got 4/,
      'short geometry');
    t.throws(() => n.maxPool2d([a, 0], [out, 0], null, [3, 2, 2, 3, 3, 2, 2, 2, 2, 0, 0, 0, 0]),
      /maxPool2d: a window of the 3x3 output lies outside the 2x2 input/, 'pool windows outside the input');
    t.throws(() => n.copyAxis([a, 0], [out, 0], 1, 4, 6, 2, 3, false), /copyAxis: rows \[3, 7\) exceed 6/, 'copy past the axis');
    t.throws(() => n.lrn([a, 0], [out, 0], 1, 3, 4, 0, 1e-4, 0.75, 2), /lrn: size must be an integer >= 1, got 0/, 'zero LRN size');
    t.throws(() => n.reduce(true, [a, 0], [out, 0], 2, 0, 3), /reduce: max over an empty axis/, 'max over nothing');

    n.release(b);
    t.throws(() => n.release(b), /release: storage \d+ does not exist or was already released/, 'double release');
    t.throws(() => n.elementwise(1, [[b, 0]], [[4, 1]], [out, 0], shape, [0, 0]),
      /elementwise: input 0 names storage \d+, which does not exist or was released/, 'use after release');

    // the addon still works after all of that
    n.elementwise(13, [[a, 0], [a, 0]], [[4, 1], [4, 1]], [out, 0], shape, [0, 0]);
    t.deepEqual(Array.from(await n.download([out, 0], 12)), new Array(12).fill(2), 'a valid call after the rejected ones');
    n.release(a);
    n.release(out);
    await n.sync();
    t.deepEqual(n.memory(), { liveStorages: 0, liveBytes: 0 }, 'every storage released');
    n.shutdown();
  });
}
