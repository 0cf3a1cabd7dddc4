// Tensors larger than one storage binding. The device is opened with a binding limit of 64 KiB
// (16,384 floats), so these small tensors take the same split paths as VGG16's 411 MB FC weight under
// lavapipe's 128 MiB limit: linear/matmul split over M, N and K, elementwise and softmax over rows,
// reductions over slabs, conv over images.

import { ops } from '../../src/index.js';
import { onEachBackend } from '../helpers/backends.js';
import { checkOp, type OpCase } from '../helpers/opcheck.js';
import { broadcast2, type ConvGeom, conv2d, convOut, matmul, softmax, sumAxis, transpose } from '../reference/ref.js';

const LIMIT_BYTES = 64 * 1024;

const linear: OpCase = {
  name: 'linear x [3, 200] · w [150, 200]ᵀ (w is 30,000 floats)',
  inputs: [{ shape: [3, 200] }, { shape: [150, 200] }, { shape: [150] }],
  shape: [3, 150],
  run: ([x, w, b]) => ops.linear(x, w, b),
  ref: ([x, w, b]) => {
    const y = matmul(x, transpose(w, 150, 200), 3, 200, 150);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 150; j++) y[i * 150 + j] += b[j];
    return y;
  },
  vjp: ([x, w], r) => [matmul(r, w, 3, 150, 200), matmul(transpose(r, 3, 150), x, 150, 3, 200), null],
};

const matmulBig: OpCase = {
  name: 'matmul a [170, 120] @ b [120, 9] (a is 20,400 floats)',
  inputs: [{ shape: [170, 120] }, { shape: [120, 9] }],
  shape: [170, 9],
  run: ([a, b]) => ops.matmul(a, b),
  ref: ([a, b]) => matmul(a, b, 170, 120, 9),
};

const add: OpCase = {
  name: 'add [200, 150] + [150]',
  inputs: [{ shape: [200, 150] }, { shape: [150] }],
  shape: [200, 150],
  run: ([a, b]) => ops.add(a, b),
  ref: ([a, b]) => broadcast2(a, [200, 150], b, [150], (x, y) => x + y).y,
};

const mul: OpCase = {
  name: 'mul [30000] * [30000]',
  inputs: [{ shape: [30000] }, { shape: [30000] }],
  shape: [30000],
  run: ([a, b]) => ops.mul(a, b),
  ref: ([a, b]) => a.map((v, i) => v * b[i]),
  forwardOnly: true,   // 60,000 finite differences would only repeat the elementwise test
};

const sumAll: OpCase = {
  name: 'sum of 30,000 elements and of [3, 12000] rows',
  inputs: [{ shape: [3, 12000] }],
  shape: [3],
  run: ([x]) => ops.sum(x, 1),
  ref: ([x]) => sumAxis(x, 3, 12000, 1),
  forwardOnly: true,
};

const sumEverything: OpCase = {
  name: 'sum over all of [30000]',
  inputs: [{ shape: [30000] }],
  shape: [],
  run: ([x]) => ops.sum(x),
  ref: ([x]) => Float64Array.of(x.reduce((s, v) => s + v, 0)),
  forwardOnly: true,
};

const softmaxRows: OpCase = {
  name: 'softmax of [5, 6000] rows',
  inputs: [{ shape: [5, 6000] }],
  shape: [5, 6000],
  run: ([x]) => ops.softmax(x, 1),
  ref: ([x]) => softmax(x, 5, 6000, 1, false),
  forwardOnly: true,
};

const g: ConvGeom = { N: 3, C: 2, H: 50, W: 60, O: 2, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1 };
const conv: OpCase = {
  name: 'conv2d over 3 images of 6,000 floats each',
  inputs: [{ shape: [3, 2, 50, 60] }, { shape: [2, 2, 3, 3] }],
  shape: [3, 2, ...convOut(g)],
  run: ([x, w]) => ops.conv2d(x, w, null, { padding: 1 }),
  ref: ([x, w]) => conv2d(x, w, null, g),
  forwardOnly: true,
};

await onEachBackend('large tensors', [
  ['the binding limit is lowered', (t, backend) => {
    if (backend !== 'webgpu') return t.pass('binding limits are a WebGPU matter');
    return import('../../src/runtime.js').then(({ backend: b }) => {
      t.equal(b().maxBindingElements * 4 <= LIMIT_BYTES, true, `binding holds ${b().maxBindingElements} floats`);
    });
  }],
  ...[linear, matmulBig, add, mul, sumAll, sumEverything, softmaxRows, conv].map((c, i): [string, (t: import('tape').Test) => Promise<void>] => [c.name, (t) => checkOp(t, c, i + 1)]),
], { maxStorageBufferBindingSize: LIMIT_BYTES });
