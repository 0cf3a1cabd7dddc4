// softmax, logSoftmax (stable: the row maximum is subtracted first) and crossEntropy.
// Kernels (webgpu): kernels/softmax.wgsl forward and backward, one workgroup per row.
//   softmax      y = e^(x - max) / Σ e^(x - max)     dx = y ⊙ (g − Σ g ⊙ y)
//   logSoftmax   y = x − max − log Σ e^(x - max)     dx = g − e^y Σ g

import { record } from '../autograd/graph.js';
import { backend } from '../runtime.js';
import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/create.js';
import { mul, neg } from './elementwise.js';
import { mean, sum } from './reduce.js';
import { checkTensor, fmt, normAxis, op, out } from './util.js';

function softmaxOp(name: string, x: Tensor, axis: number, log: boolean): Tensor {
  checkTensor(name, 'x', x);
  const a = normAxis(name, axis, x.shape.length);
  const outer = x.shape.slice(0, a).reduce((p, d) => p * d, 1);
  const n = x.shape[a];
  const inner = x.shape.slice(a + 1).reduce((p, d) => p * d, 1);
  const y = out(x.shape);
  backend().softmax(op(x), outer, n, inner, log, op(y));
  return record(name, y, [x], [y], (g, [sy]) => {
    const gx = out(x.shape);
    backend().softmaxBackward(op(sy), op(g), outer, n, inner, log, op(gx));
    return [gx];
  });
}

export const softmax = (x: Tensor, axis = -1): Tensor => softmaxOp('softmax', x, axis, false);
export const logSoftmax = (x: Tensor, axis = -1): Tensor => softmaxOp('logSoftmax', x, axis, true);

/** Mean over the batch of −log softmax(logits)[label]; logits [N, C], one integer label per row. */
export function crossEntropy(logits: Tensor, labels: ArrayLike<number>): Tensor {
  checkTensor('crossEntropy', 'logits', logits);
  if (logits.shape.length !== 2) throw new Error(`crossEntropy: logits must be 2-D [N, C], got ${fmt(logits.shape)}`);
  const [N, C] = logits.shape;
  if (!labels || typeof labels.length !== 'number' || labels.length !== N) {
    throw new Error(`crossEntropy: labels must hold one class per row (${N}), got ${labels?.length ?? typeof labels}`);
  }
  const onehot = new Float32Array(N * C);
  for (let i = 0; i < N; i++) {
    const c = labels[i];
    if (!Number.isInteger(c) || c < 0 || c >= C) throw new Error(`crossEntropy: labels[${i}] = ${c} is not a class in [0, ${C})`);
    onehot[i * C + c] = 1;
  }
  const t = tensor(onehot, [N, C]);
  const ls = logSoftmax(logits, 1);
  const picked = mul(ls, t);
  const perRow = sum(picked, 1);
  const nll = neg(perRow);
  const loss = mean(nll);
  for (const v of [t, ls, picked, perRow, nll]) v.dispose();
  return loss;
}
