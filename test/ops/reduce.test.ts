// sum / mean over axes, softmax, logSoftmax and crossEntropy against float64 references.

import { ops, tensor } from '../../src/index.js';
import { onEachBackend } from '../helpers/backends.js';
import { relErr, uniform } from '../helpers/numeric.js';
import { checkOp, type OpCase } from '../helpers/opcheck.js';
import { type F64, softmax, sumAxis } from '../reference/ref.js';

function prod(s: number[]) { return s.reduce((a, b) => a * b, 1); }

/** Reference sum over a sorted list of axes (keepDims layout is the same memory order). */
function sumAxes(x: F64, shape: number[], axes: number[]): F64 {
  let cur = x, s = [...shape];
  for (const a of axes) {
    cur = sumAxis(cur, prod(s.slice(0, a)), s[a], prod(s.slice(a + 1)));
    s[a] = 1;
  }
  return cur;
}

function sumCase(shape: number[], axes: number[] | undefined, keep: boolean, isMean = false): OpCase {
  const all = axes ?? shape.map((_, i) => i);
  const count = all.reduce((n, a) => n * shape[a], 1);
  const outShape = keep ? shape.map((d, i) => (all.includes(i) ? 1 : d)) : shape.filter((_, i) => !all.includes(i));
  return {
    name: `${isMean ? 'mean' : 'sum'} ${JSON.stringify(shape)} axes ${JSON.stringify(axes ?? 'all')}${keep ? ' keepDims' : ''}`,
    inputs: [{ shape }],
    shape: outShape,
    run: ([x]) => (isMean ? ops.mean(x, axes, keep) : ops.sum(x, axes, keep)),
    ref: ([x]) => sumAxes(x, shape, all).map((v) => (isMean ? v / count : v)),
  };
}

function softmaxCase(shape: number[], axis: number, log: boolean): OpCase {
  const a = axis < 0 ? axis + shape.length : axis;
  return {
    name: `${log ? 'logSoftmax' : 'softmax'} ${JSON.stringify(shape)} axis ${axis}`,
    inputs: [{ shape, values: uniform(shape, 11 + a, -4, 4) }],
    shape,
    run: ([x]) => (log ? ops.logSoftmax(x, axis) : ops.softmax(x, axis)),
    ref: ([x]) => softmax(x, prod(shape.slice(0, a)), shape[a], prod(shape.slice(a + 1)), log),
  };
}

const labels = [2, 0, 4];
const ceCase: OpCase = {
  name: 'crossEntropy [3, 5]',
  inputs: [{ shape: [3, 5] }],
  shape: [],
  run: ([x]) => ops.crossEntropy(x, labels),
  ref: ([x]) => {
    const ls = softmax(x, 3, 5, 1, true);
    return Float64Array.of(-(ls[0 * 5 + 2] + ls[1 * 5 + 0] + ls[2 * 5 + 4]) / 3);
  },
};

const cases: OpCase[] = [
  sumCase([7], undefined, false),
  sumCase([3, 5], [0], false),
  sumCase([3, 5], [1], true),
  sumCase([2, 3, 4, 5], [0, 2, 3], false),
  sumCase([2, 3, 4, 5], [1, -1].map((a) => (a < 0 ? a + 4 : a)), true),
  sumCase([1, 1], undefined, false),
  sumCase([300, 7], [0], false, true),
  sumCase([2, 3, 4, 5], [2, 3], true, true),
  softmaxCase([4, 10], -1, false),
  softmaxCase([2, 3, 5], 1, false),
  softmaxCase([3, 1000], 1, true),
  softmaxCase([2, 4, 3, 3], 1, true),
  ceCase,
];

await onEachBackend('reduce', [
  ...cases.map((c, i): [string, (t: import('tape').Test) => Promise<void>] => [c.name, (t) => checkOp(t, c, i + 1)]),
  ['softmax is stable for logits of 1e4', async (t) => {
    const x = tensor([1e4, 1e4 + 1, 1e4 - 1, -1e4], [1, 4]);
    const y = await ops.softmax(x).data();
    const ref = softmax(Float64Array.from([1e4, 1e4 + 1, 1e4 - 1, -1e4]), 1, 4, 1, false);
    t.ok(y.every(Number.isFinite) && relErr(y, ref) < 1e-6, `finite and exact: ${Array.from(y)}`);
    const ls = await ops.logSoftmax(x).data();
    t.ok(ls.every(Number.isFinite), 'logSoftmax finite');
    x.dispose();
  }],
  ['crossEntropy rejects a label out of range', (t) => {
    const x = tensor(new Float32Array(6), [2, 3]);
    t.throws(() => ops.crossEntropy(x, [0, 3]), /crossEntropy: labels\[1\] = 3/);
    t.throws(() => ops.crossEntropy(x, [0]), /crossEntropy: labels must hold one class per row/);
    x.dispose();
  }],
  ['sum rejects an axis out of range', (t) => {
    const x = tensor(new Float32Array(6), [2, 3]);
    t.throws(() => ops.sum(x, 2), /sum: axis 2 is out of range for a 2-D tensor/);
    t.throws(() => ops.softmax(x, -3), /softmax: axis -3 is out of range/);
    x.dispose();
  }],
]);
