// Tensors larger than one storage binding. The device is opened with a binding limit of 16 KiB
// (4,096 floats), so these small tensors take the same split paths as VGG16's 411 MB FC weight under
// lavapipe's 128 MiB limit: linear/matmul split over M, N and K, elementwise and softmax over rows,
// reductions over slabs, conv over images.

import { ops } from '../../src/index.js';
import { onEachBackend } from '../helpers/backends.js';
import { checkOp, type OpCase } from '../helpers/opcheck.js';
import { withAlgorithm } from '../helpers/webgpu.js';
import { broadcast2, type ConvGeom, conv2d, conv2dVjp, convOut, matmul, softmax, sumAxis, transpose } from '../reference/ref.js';

const LIMIT_BYTES = 16 * 1024;

const linear: OpCase = {
  name: 'linear x [3, 100] · w [75, 100]ᵀ (w is 7,500 floats)',
  inputs: [{ shape: [3, 100] }, { shape: [75, 100] }, { shape: [75] }],
  shape: [3, 75],
  run: ([x, w, b]) => ops.linear(x, w, b),
  ref: ([x, w, b]) => {
    const y = matmul(x, transpose(w, 75, 100), 3, 100, 75);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 75; j++) y[i * 75 + j] += b[j];
    return y;
  },
  vjp: ([x, w], r) => [matmul(r, w, 3, 75, 100), matmul(transpose(r, 3, 75), x, 75, 3, 100), null],
};

const matmulBig: OpCase = {
  name: 'matmul a [85, 60] @ b [60, 9] (a is 5,100 floats)',
  inputs: [{ shape: [85, 60] }, { shape: [60, 9] }],
  shape: [85, 9],
  run: ([a, b]) => ops.matmul(a, b),
  ref: ([a, b]) => matmul(a, b, 85, 60, 9),
};

const add: OpCase = {
  name: 'add [100, 75] + [75]',
  inputs: [{ shape: [100, 75] }, { shape: [75] }],
  shape: [100, 75],
  run: ([a, b]) => ops.add(a, b),
  ref: ([a, b]) => broadcast2(a, [100, 75], b, [75], (x, y) => x + y).y,
};

const mul: OpCase = {
  name: 'mul [9000] * [9000]',
  inputs: [{ shape: [9000] }, { shape: [9000] }],
  shape: [9000],
  run: ([a, b]) => ops.mul(a, b),
  ref: ([a, b]) => a.map((v, i) => v * b[i]),
  forwardOnly: true,   // 18,000 finite differences would only repeat the elementwise test
};

const sumAll: OpCase = {
  name: 'sum of [3, 5000] rows',
  inputs: [{ shape: [3, 5000] }],
  shape: [3],
  run: ([x]) => ops.sum(x, 1),
  ref: ([x]) => sumAxis(x, 3, 5000, 1),
  forwardOnly: true,
};

const sumEverything: OpCase = {
  name: 'sum over all of [9000]',
  inputs: [{ shape: [9000] }],
  shape: [],
  run: ([x]) => ops.sum(x),
  ref: ([x]) => Float64Array.of(x.reduce((s, v) => s + v, 0)),
  forwardOnly: true,
};

const softmaxRows: OpCase = {
  name: 'softmax of [5, 1500] rows',
  inputs: [{ shape: [5, 1500] }],
  shape: [5, 1500],
  run: ([x]) => ops.softmax(x, 1),
  ref: ([x]) => softmax(x, 5, 1500, 1, false),
  forwardOnly: true,
};

const g: ConvGeom = { N: 3, C: 2, H: 30, W: 30, O: 2, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1 };
const conv: OpCase = {
  name: 'conv2d over 3 images of 1,800 floats each',
  inputs: [{ shape: [3, 2, 30, 30] }, { shape: [2, 2, 3, 3] }],
  shape: [3, 2, ...convOut(g)],
  run: ([x, w]) => ops.conv2d(x, w, null, { padding: 1 }),
  ref: ([x, w]) => conv2d(x, w, null, g),
};

// on adapters that run the subgroup kernel (lavapipe), a batch whose shifted copies (1,536 floats an image: 3 kernel
// columns x 8 padded channels x 8 x 8) do not fit one binding together runs in chunks of images, forward and
// backward-input; elsewhere the direct GEMM splits it by images as above
const gs: ConvGeom = { N: 3, C: 5, H: 6, W: 6, O: 6, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1 };
/** conv2d with bias and padding 1 on geometry g, against the float64 reference, gradients included. */
const paddedConv = (name: string, g: ConvGeom): OpCase => ({
  name,
  inputs: [{ shape: [g.N, g.C, g.H, g.W] }, { shape: [g.O, g.C, g.KH, g.KW] }, { shape: [g.O] }],
  shape: [g.N, g.O, ...convOut(g)],
  run: ([x, w, b]) => ops.conv2d(x, w, b, { padding: 1 }),
  ref: ([x, w, b]) => conv2d(x, w, b, g),
  vjp: ([x, w], r) => conv2dVjp(x, w, r, g),
  fwdTol: 1e-5,
  gradTol: 1e-4,
});
const convChunks = paddedConv('conv2d over 3 images whose shifted copies split the batch', gs);

// Winograd (src/backend/webgpu/winograd.ts) runs a batch in chunks of images whose transformed input and output
// fit one binding: here F(2x2)'s take 16 x 6 x 36 = 3,456 floats an image (one image a chunk, 3 chunks) and
// F(4x4)'s 36 x 6 x 9 = 1,944 (two images, then one), forward and backward-input (5 -> 6 channels, then 6 -> 5)
const gw: ConvGeom = { N: 3, C: 5, H: 12, W: 12, O: 6, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1 };
const winogradChunks = (alg: 'winograd' | 'winograd4', chunks: number): [string, (t: import('tape').Test) => Promise<void>] =>
  [`conv2d through ${alg} over 3 images in ${chunks} chunks`, async (t) => {
    const labels = await withAlgorithm(alg, async (seen) => {
      await checkOp(t, paddedConv(`${alg}, 3 images`, gw), alg === 'winograd' ? 20 : 21);
      return seen;
    });
    if (!labels) return t.pass('the convolution algorithm is a WebGPU matter');
    // the weight gradient's pass is the direct GEMM's: the transforms ran for forward and backward-input only
    t.equal(labels.filter((l) => l === `${alg}:input`).length, 2 * chunks, `${chunks} input transforms in each of the 2 passes`);
    t.equal(labels.filter((l) => l === `${alg}:output`).length, 2 * chunks, `${chunks} output transforms in each`);
  }];

await onEachBackend('large tensors', [
  ['the binding limit is lowered', (t, backend) => {
    if (backend !== 'webgpu') return t.pass('binding limits are a WebGPU matter');
    return import('../../src/runtime.js').then(({ backend: b }) => {
      t.equal(b().maxBindingElements * 4 <= LIMIT_BYTES, true, `binding holds ${b().maxBindingElements} floats`);
    });
  }],
  ...[linear, matmulBig, add, mul, sumAll, sumEverything, softmaxRows, conv, convChunks].map((c, i): [string, (t: import('tape').Test) => Promise<void>] => [c.name, (t) => checkOp(t, c, i + 1)]),
  winogradChunks('winograd', 3),
  winogradChunks('winograd4', 2),
], { maxStorageBufferBindingSize: LIMIT_BYTES });
