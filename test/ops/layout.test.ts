// pad and concat, forward and backward, against the float64 reference: asymmetric padding, a fill value,
// 1x1 maps, batch > 1, 1 and 3 channels, concat of three tensors along axes 0, 1, 3 and -1. On WebGPU the same
// ops run again on a device opened with a 4 KiB storage binding limit, which drives the kernels through their
// split paths (several dispatches over rows or planes, and pieces of one row or one plane). Bad arguments
// must throw errors that name the op.

import type test from 'tape';
import { memory, ops, tensor } from '../../src/index.js';
import { backend as currentBackend } from '../../src/runtime.js';
import { checkOp, type OpCase } from '../helpers/opcheck.js';
import { type Body, onEachBackend } from '../helpers/backends.js';
import { concat, concatShape, concatVjp, pad, type Pads, padVjp } from '../reference/layout.js';

interface PadCase { name: string; shape: number[]; pads: number | [number, number] | Pads; value?: number }

const padCases: PadCase[] = [
  { name: 'pad 1 around a 3-channel 5x7 map', shape: [1, 3, 5, 7], pads: 1 },
  { name: 'asymmetric [0, 2, 1, 3], batch 2, 1 channel, value 0.5', shape: [2, 1, 4, 3], pads: [0, 2, 1, 3], value: 0.5 },
  { name: '[h, w] = [2, 0] around 1x1 maps', shape: [3, 2, 1, 1], pads: [2, 0] },
  { name: 'zero padding is a copy', shape: [1, 1, 2, 3], pads: 0 },
  { name: 'odd 17x13 maps, [3, 1, 0, 2], value -1', shape: [2, 3, 17, 13], pads: [3, 1, 0, 2], value: -1 },
];

function fourPads(p: PadCase['pads']): Pads {
  if (typeof p === 'number') return [p, p, p, p];
  return p.length === 2 ? [p[0], p[1], p[0], p[1]] : p;
}

function padOpCase(c: PadCase): OpCase {
  const p = fourPads(c.pads);
  const [N, C, H, W] = c.shape;
  return {
    name: c.name,
    inputs: [{ shape: c.shape }],
    shape: [N, C, H + p[0] + p[2], W + p[1] + p[3]],
    run: ([x]) => ops.pad(x, c.pads, c.value),
    ref: ([x]) => pad(x, c.shape, p, c.value ?? 0),
    vjp: (_xs, r) => [padVjp(r, c.shape, p)],
    fwdTol: 1e-9,
    gradTol: 1e-6,
  };
}

interface ConcatCase { name: string; shapes: number[][]; axis: number }

const concatCases: ConcatCase[] = [
  { name: 'three tensors along axis 0', shapes: [[1, 2, 3, 2], [2, 2, 3, 2], [3, 2, 3, 2]], axis: 0 },
  { name: 'three tensors along axis 1 (channels 1, 3, 2)', shapes: [[2, 1, 3, 3], [2, 3, 3, 3], [2, 2, 3, 3]], axis: 1 },
  { name: 'three tensors along axis 3', shapes: [[1, 2, 3, 1], [1, 2, 3, 4], [1, 2, 3, 2]], axis: 3 },
  { name: 'three tensors along axis -1 of 2-D', shapes: [[3, 2], [3, 5], [3, 1]], axis: -1 },
  { name: 'axis -3 of 1x1 maps, batch 2', shapes: [[2, 3, 1, 1], [2, 1, 1, 1]], axis: -3 },
  { name: 'a single tensor is a copy', shapes: [[2, 3, 4]], axis: 1 },
  { name: 'two 1-D tensors', shapes: [[5], [7]], axis: 0 },
];

function concatOpCase(c: ConcatCase): OpCase {
  return {
    name: c.name,
    inputs: c.shapes.map((shape) => ({ shape })),
    shape: concatShape(c.shapes, c.axis),
    run: (xs) => ops.concat(xs, c.axis),
    ref: (xs) => concat(xs, c.shapes, c.axis),
    vjp: (_xs, r) => concatVjp(r, c.shapes, c.axis),
    fwdTol: 1e-9,
    gradTol: 1e-6,
  };
}

/** Small-binding cases: each needs more than one dispatch, or splits a row or a plane across dispatches. */
const splitCases: OpCase[] = [
  // big rows of 5 * 400 elements: each row's run is copied in pieces
  concatOpCase({ name: 'axis 1, rows wider than a binding', shapes: [[2, 3, 20, 20], [2, 2, 20, 20]], axis: 1 }),
  // 180 rows of 12 elements: several dispatches of whole rows
  concatOpCase({ name: 'axis 3, many rows over several dispatches', shapes: [[3, 2, 30, 5], [3, 2, 30, 7]], axis: 3 }),
  concatOpCase({ name: 'axis 0, three tensors', shapes: [[1, 700], [2, 700], [1, 700]], axis: 0 }),
  // 43x37 output planes: pad and its crop go a band of rows at a time
  padOpCase({ name: 'planes larger than a binding', shape: [1, 2, 40, 30], pads: [2, 3, 1, 4], value: 0.25 }),
  // the first band of output rows lies wholly in the top padding and reads no input row
  padOpCase({ name: 'a band of rows that is all padding', shape: [1, 1, 10, 40], pads: [30, 0, 0, 0], value: 2 }),
  padOpCase({ name: 'many small planes over several dispatches', shape: [4, 5, 10, 10], pads: 1 }),
];

/** On WebGPU the split cases must really run under the lowered limit, or they would prove nothing. */
function bindingLimitLowered(t: test.Test, backend: string): void {
  if (backend !== 'webgpu') {
    t.pass('binding windows are a WebGPU concern');
    return;
  }
  const elements = currentBackend().maxBindingElements;
  t.ok(elements < 1000, `storage bindings hold ${elements} elements`);
}

function badInputs(t: test.Test): void {
  const before = memory().liveStorages;
  const x = tensor(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);
  const y = tensor(new Float32Array(2 * 2 * 4 * 5), [2, 2, 4, 5]);
  const v = tensor(new Float32Array(6), [6]);
  t.throws(() => ops.concat([x, y], 1), /concat: xs\[1\] has shape \[2, 2, 4, 5\] but xs\[0\] has \[2, 3, 4, 4\]/, 'concat: mismatched shapes');
  t.throws(() => ops.concat([x, x], 4), /concat: axis 4 is out of range for a 4-D tensor/, 'concat: axis 4 of 4-D');
  t.throws(() => ops.concat([x, x], -5), /concat: axis -5 is out of range for a 4-D tensor/, 'concat: axis -5 of 4-D');
  t.throws(() => ops.concat([x, x], 1.5), /concat: axis 1.5 is out of range/, 'concat: fractional axis');
  t.throws(() => ops.concat([x, v], 0), /concat: xs\[1\] has shape \[6\] but xs\[0\] has \[2, 3, 4, 4\]/, 'concat: ranks differ');
  t.throws(() => ops.concat([], 0), /concat: xs must be a non-empty array/, 'concat: no tensors');
  t.throws(() => ops.concat([x, null as never], 0), /concat: xs\[1\] must be a Tensor/, 'concat: not a tensor');
  t.throws(() => ops.pad(x, -1), /pad: padding must be an integer >= 0, got -1/, 'pad: negative padding');
  t.throws(() => ops.pad(x, [0, -2, 0, 0]), /pad: padding\[1\] must be an integer >= 0, got -2/, 'pad: one negative side');
  t.throws(() => ops.pad(x, [1, 2, 3] as never), /pad: padding must be n, \[h, w\] or \[top, left, bottom, right\]/, 'pad: three sides');
  t.throws(() => ops.pad(v, 1), /pad: x must be 4-D, got shape \[6\]/, 'pad: not NCHW');
  t.throws(() => ops.pad(x, 1, NaN), /pad: value must be a number, got NaN/, 'pad: NaN value');
  for (const t0 of [x, y, v]) t0.dispose();
  t.equal(memory().liveStorages, before, 'bad inputs allocate nothing');
}

const cases: [string, Body][] = [
  ...padCases.map((c): [string, Body] => [`pad: ${c.name}`, (t) => checkOp(t, padOpCase(c))]),
  ...concatCases.map((c): [string, Body] => [`concat: ${c.name}`, (t) => checkOp(t, concatOpCase(c))]),
  ['bad inputs throw errors that name the op', badInputs],
];

await onEachBackend('layout', cases);
// 4 KiB bindings (under 1,000 floats): every split path of copyAxis and pad2d
await onEachBackend('layout (split bindings)', [
  ['the binding limit is lowered', (t, backend) => bindingLimitLowered(t, backend)],
  ...splitCases.map((c): [string, Body] => [c.name, (t) => checkOp(t, c)]),
], { maxStorageBufferBindingSize: 4096 });
