// matmul and linear. Kernel: backend matmul (webgpu: kernels/gemm.wgsl main through the matmul
// specialisation), whose strided operands make every transpose below free.
//   C = A B        dA = dC Bᵀ      dB = Aᵀ dC
//   y = x Wᵀ + b   dx = dy W       dW = dyᵀ x      db = Σ_rows dy

import { needsGrad, record } from '../autograd/graph.js';
import { backend } from '../runtime.js';
import type { Tensor } from '../tensor/tensor.js';
import { sum } from './reduce.js';
import { checkTensor, fmt, op, out } from './util.js';

function gemm(a: Tensor, b: Tensor, shape: number[], transA: boolean, transB: boolean, bias: Tensor | null = null): Tensor {
  const y = out(shape);
  backend().matmul(op(a), op(b), op(y), { transA, transB, accumulate: false, bias: bias ? op(bias) : null });
  return y;
}

/** a [..., M, K] @ b [..., K, N]; b may be 2-D and is then shared by every matrix of a. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkTensor('matmul', 'a', a);
  checkTensor('matmul', 'b', b);
  if (a.shape.length < 2 || b.shape.length < 2) {
    throw new Error(`matmul: a and b must be at least 2-D, got ${fmt(a.shape)} and ${fmt(b.shape)}`);
  }
  const M = a.shape[a.shape.length - 2], K = a.shape[a.shape.length - 1];
  const K2 = b.shape[b.shape.length - 2], N = b.shape[b.shape.length - 1];
  if (K !== K2) throw new Error(`matmul: inner sizes differ: a ${fmt(a.shape)} has K = ${K}, b ${fmt(b.shape)} has K = ${K2}`);
  const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
  if (batchB.length > 0 && (batchA.length !== batchB.length || batchA.some((d, i) => d !== batchB[i]))) {
    throw new Error(`matmul: batch shapes differ: a ${fmt(a.shape)}, b ${fmt(b.shape)} (b must be 2-D or match a's batch)`);
  }
  if (batchA.length === 0 && batchB.length > 0) {
    throw new Error(`matmul: a ${fmt(a.shape)} is 2-D but b ${fmt(b.shape)} is batched`);
  }
  const shape = [...batchA, M, N];
  const y = gemm(a, b, shape, false, false);
  const needA = needsGrad(a), needB = needsGrad(b);
  return record('matmul', y, [a, b], [a, b], (g, [sa, sb]) => {
    const ga = needA ? gemm(g, sb, [...a.shape], false, true) : null;
    let gb: Tensor | null = null;
    if (needB) {
      if (batchB.length === 0 && batchA.length > 0) {
        // b was shared by the batch: flatten a and g to 2-D so Aᵀ dC sums over it
        const a2 = sa.share([sa.size / K, K]), g2 = g.share([g.size / N, N]);
        gb = gemm(a2, g2, [K, N], true, false);
        a2.dispose();
        g2.dispose();
      } else {
        gb = gemm(sa, g, [...b.shape], true, false);
      }
    }
    return [ga, gb];
  });
}

/** x [N, in] · w [out, in]ᵀ + b [out] */
export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor {
  checkTensor('linear', 'x', x);
  checkTensor('linear', 'w', w);
  if (x.shape.length !== 2) throw new Error(`linear: x must be 2-D [batch, in], got ${fmt(x.shape)}`);
  if (w.shape.length !== 2) throw new Error(`linear: w must be 2-D [out, in], got ${fmt(w.shape)}`);
  if (x.shape[1] !== w.shape[1]) {
    throw new Error(`linear: x ${fmt(x.shape)} has ${x.shape[1]} inputs but w ${fmt(w.shape)} expects ${w.shape[1]}`);
  }
  const bias = b ?? null;
  if (bias) {
    checkTensor('linear', 'b', bias);
    if (bias.shape.length !== 1 || bias.shape[0] !== w.shape[0]) {
      throw new Error(`linear: b must have shape [${w.shape[0]}], got ${fmt(bias.shape)}`);
    }
  }
  const y = gemm(x, w, [x.shape[0], w.shape[0]], false, true, bias);
  const needX = needsGrad(x), needW = needsGrad(w), needB = bias !== null && needsGrad(bias);
  const inputs = bias ? [x, w, bias] : [x, w];
  return record('linear', y, inputs, [x, w], (g, [sx, sw]) => [
    needX ? gemm(g, sw, [...x.shape], false, false) : null,
    needW ? gemm(g, sx, [...w.shape], true, false) : null,
    needB ? sum(g, 0) : null,
  ]);
}
