// Elementwise ops (op table) and broadcasting, forward and backward, against float64 references.

import { ops, type Tensor } from '../../src/index.js';
import { onEachBackend } from '../helpers/backends.js';
import { awayFromZero, size, uniform } from '../helpers/numeric.js';
import { checkOp, type OpCase } from '../helpers/opcheck.js';
import { broadcast2, type F64 } from '../reference/ref.js';

const map = (x: F64, f: (v: number) => number) => x.map(f);
const zip = (a: F64, b: F64, f: (x: number, y: number) => number) => a.map((v, i) => f(v, b[i]));

function unaryCase(name: string, shape: number[], run: (x: Tensor) => Tensor, f: (v: number) => number,
                   df: (v: number) => number, values?: Float32Array): OpCase {
  return {
    name, inputs: [{ shape, values }], shape, run: ([x]) => run(x), ref: ([x]) => map(x, f),
    vjp: ([x], r) => [zip(x, r, (v, rv) => df(v) * rv)],
  };
}

function binaryCase(name: string, as: number[], bs: number[], run: (a: Tensor, b: Tensor) => Tensor,
                    f: (x: number, y: number) => number, bValues?: Float32Array): OpCase {
  return {
    name, inputs: [{ shape: as }, { shape: bs, values: bValues }],
    shape: broadcast2(new Float64Array(size(as)), as, new Float64Array(size(bs)), bs, () => 0).shape,
    run: ([a, b]) => run(a, b), ref: ([a, b]) => broadcast2(a, as, b, bs, f).y,
  };
}

const positive = (shape: number[], seed: number) => uniform(shape, seed, 0.5, 2);
const odd = [3, 5, 7];

const cases: OpCase[] = [
  unaryCase('neg', odd, ops.neg, (v) => -v, () => -1),
  unaryCase('relu', odd, ops.relu, (v) => Math.max(v, 0), (v) => (v > 0 ? 1 : 0), awayFromZero(odd, 3)),
  unaryCase('exp', odd, ops.exp, Math.exp, Math.exp),
  unaryCase('log', odd, ops.log, Math.log, (v) => 1 / v, positive(odd, 4)),
  unaryCase('sqrt', odd, ops.sqrt, Math.sqrt, (v) => 0.5 / Math.sqrt(v), positive(odd, 5)),
  unaryCase('square', odd, ops.square, (v) => v * v, (v) => 2 * v),
  unaryCase('abs', odd, ops.abs, Math.abs, Math.sign, awayFromZero(odd, 6)),
  unaryCase('sigmoid', odd, ops.sigmoid, (v) => 1 / (1 + Math.exp(-v)), (v) => { const s = 1 / (1 + Math.exp(-v)); return s * (1 - s); }),
  unaryCase('scale by -2.5', [1, 1], (x) => ops.scale(x, -2.5), (v) => -2.5 * v, () => -2.5),
  unaryCase('affine', [2, 9], (x) => ops.affine(x, 3, -1), (v) => 3 * v - 1, () => 3),
  unaryCase('clip [-0.3, 0.4]', odd, (x) => ops.clip(x, -0.3, 0.4), (v) => Math.min(Math.max(v, -0.3), 0.4),
    (v) => (v >= -0.3 && v <= 0.4 ? 1 : 0),
    // keep values away from the clip points, where the derivative jumps
    Float32Array.from(uniform(odd, 7), (v) => (Math.abs(v + 0.3) < 0.02 || Math.abs(v - 0.4) < 0.02 ? v + 0.05 : v))),
  binaryCase('add same shape', [4, 3], [4, 3], ops.add, (x, y) => x + y),
  binaryCase('add [2,3,4] + [4] broadcast', [2, 3, 4], [4], ops.add, (x, y) => x + y),
  binaryCase('sub [2,1,5] - [3,1]', [2, 1, 5], [3, 1], ops.sub, (x, y) => x - y),
  binaryCase('mul [1,3,1,2] * [2,1,4,1]', [1, 3, 1, 2], [2, 1, 4, 1], ops.mul, (x, y) => x * y),
  binaryCase('mul by a scalar tensor [1]', [5, 7], [1], ops.mul, (x, y) => x * y),
  binaryCase('div [3,4] / [3,1]', [3, 4], [3, 1], ops.div, (x, y) => x / y, positive([3, 1], 9)),
  binaryCase('div NCHW by per-channel [1,3,1,1]', [2, 3, 4, 5], [1, 3, 1, 1], ops.div, (x, y) => x / y, positive([1, 3, 1, 1], 10)),
  binaryCase('add 6-D broadcast', [2, 1, 3, 1, 2, 2], [1, 2, 1, 2, 1, 2], ops.add, (x, y) => x + y),
];

await onEachBackend('elementwise', cases.map((c, i) => [c.name, (t) => checkOp(t, c, i + 1)]));

await onEachBackend('elementwise IEEE', [
  ['NaN and Inf propagate', async (t) => {
    const { tensor } = await import('../../src/index.js');
    const a = tensor([NaN, Infinity, -Infinity, 1], [4]);
    const one = tensor([1, 1, 1, 0], [4]);
    const sum = Array.from(await ops.add(a, one).data());
    t.ok(Number.isNaN(sum[0]) && sum[1] === Infinity && sum[2] === -Infinity, `add: ${sum}`);
    const q = Array.from(await ops.div(one, tensor([1, 1, 1, 0], [4])).data());
    t.ok(Number.isNaN(q[3]), `0 / 0 is NaN: ${q[3]}`);
    const e = Array.from(await ops.exp(a).data());
    t.ok(Number.isNaN(e[0]) && e[1] === Infinity && e[2] === 0, `exp: ${e}`);
    // WGSL's max() may drop a NaN operand; relu and clip must not (PyTorch keeps it too)
    const r = Array.from(await ops.relu(a).data());
    t.ok(Number.isNaN(r[0]) && r[1] === Infinity && r[2] === 0 && r[3] === 1, `relu: ${r}`);
    const c = Array.from(await ops.clip(a, -2, 2).data());
    t.ok(Number.isNaN(c[0]) && c[1] === 2 && c[2] === -2 && c[3] === 1, `clip: ${c}`);
    a.dispose();
    one.dispose();
  }],
]);
