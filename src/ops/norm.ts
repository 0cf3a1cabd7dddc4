// Normalisation and regularisation ops, forward and backward side by side.
//   localResponseNorm  forward: backend lrn (webgpu: kernels/lrn.wgsl forward)
//                      backward: backend lrnBackward (kernels/lrn.wgsl backward), from x, y and the gradient
//   batchNorm          composed of elementwise ops with broadcasting: its backward comes from the tape
//   dropout            forward: op-table 'dropout' (kernels/elementwise.wgsl main); backward: the same kernel on
//                      the gradient with the same seed, since the mask is a fixed function of (seed, element index)

import type { LrnParams } from '../backend/interface.js';
import { record } from '../autograd/graph.js';
import { backend } from '../runtime.js';
import { type Tensor, tidy } from '../tensor/tensor.js';
import { add, affine, div, kernel, mul, sqrt, sub } from './elementwise.js';
import { reshape } from './shape.js';
import { checkInt, checkNumber, checkTensor, fmt, op, out } from './util.js';

export interface LrnOptions {
  /** channels in the window, centred on each channel (the extra one of an even size goes after it) */
  size?: number;
  alpha?: number;
  beta?: number;
  k?: number;
}

function checkOptions(name: string, opts: unknown): void {
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    throw new Error(`${name}: opts must be an object, got ${opts === null ? 'null' : Array.isArray(opts) ? 'an array' : typeof opts}`);
  }
}

function checkFinite(name: string, arg: string, v: unknown): number {
  checkNumber(name, arg, v);
  if (!Number.isFinite(v)) throw new Error(`${name}: ${arg} must be finite, got ${String(v)}`);
  return v as number;
}

/**
 * Across-channel local response normalisation (Krizhevsky et al. 2012; PyTorch's nn.LocalResponseNorm, ONNX LRN):
 * y_c = x_c / (k + alpha / size * sum of x_j^2 over the `size` channels j around c, clipped at the edges)^beta.
 * x is [N, C, ...spatial].
 */
export function localResponseNorm(x: Tensor, opts: LrnOptions = {}): Tensor {
  checkTensor('localResponseNorm', 'x', x);
  checkOptions('localResponseNorm', opts);
  if (x.shape.length < 3) throw new Error(`localResponseNorm: x must be [N, C, H, W] (at least 3-D), got ${fmt(x.shape)}`);
  const p: LrnParams = {
    size: checkInt('localResponseNorm', 'size', opts.size ?? 5, 1),
    alpha: checkFinite('localResponseNorm', 'alpha', opts.alpha ?? 1e-4),
    beta: checkFinite('localResponseNorm', 'beta', opts.beta ?? 0.75),
    k: checkFinite('localResponseNorm', 'k', opts.k ?? 2),
  };
  const y = out(x.shape);
  try {
    backend().lrn(op(x), p, op(y));
  } catch (e) {
    // a backend limit (a sample larger than one binding): leave nothing allocated behind
    y.dispose();
    throw e;
  }
  return record('localResponseNorm', y, [x], [x, y], (g, [sx, sy]) => {
    const gx = out(x.shape);
    backend().lrnBackward(op(sx), op(sy), op(g), p, op(gx));
    return [gx];
  });
}

/**
 * Batch normalisation in inference form over channel axis 1 of x [N, C, ...]: per-channel [C] statistics and
 * affine parameters, y = (x - mean) / sqrt(var + eps) * gamma + beta. Folded into one per-channel scale and
 * shift so that only two passes touch x; gradients reach all five inputs through the tape.
 */
export function batchNorm(x: Tensor, mean: Tensor, variance: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  checkTensor('batchNorm', 'x', x);
  if (x.shape.length < 2) throw new Error(`batchNorm: x must be [N, C, ...] (at least 2-D), got ${fmt(x.shape)}`);
  const C = x.shape[1];
  const perChannel: [string, Tensor][] = [['mean', mean], ['var', variance], ['gamma', gamma], ['beta', beta]];
  for (const [arg, t] of perChannel) {
    checkTensor('batchNorm', arg, t);
    if (t.shape.length !== 1 || t.shape[0] !== C) {
      throw new Error(`batchNorm: ${arg} must have shape [${C}] (the channels of x ${fmt(x.shape)}), got ${fmt(t.shape)}`);
    }
  }
  checkFinite('batchNorm', 'eps', eps);
  if (eps < 0) throw new Error(`batchNorm: eps must be >= 0, got ${eps}`);
  const broadcastShape = [1, C, ...x.shape.slice(2).map(() => 1)];
  return tidy(() => {
    const scale = div(gamma, sqrt(affine(variance, 1, eps)));
    const shift = sub(beta, mul(mean, scale));
    return add(mul(x, reshape(scale, broadcastShape)), reshape(shift, broadcastShape));
  });
}

export interface DropoutOptions {
  /** false: the identity (inference) */
  training?: boolean;
  /** the mask is a fixed function of (seed, element index): equal seeds drop the same elements */
  seed?: number;
}

/** Zeroes each element with probability p and scales the survivors by 1 / (1 - p) (inverted dropout). */
export function dropout(x: Tensor, p: number, opts: DropoutOptions = {}): Tensor {
  checkTensor('dropout', 'x', x);
  checkNumber('dropout', 'p', p);
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  checkOptions('dropout', opts);
  const training = opts.training ?? true;
  if (typeof training !== 'boolean') throw new Error(`dropout: training must be a boolean, got ${String(training)}`);
  const seed = checkInt('dropout', 'seed', opts.seed ?? 0, 0);
  if (seed > 0xffffffff) throw new Error(`dropout: seed must fit in 32 bits (0 to ${0xffffffff}), got ${seed}`);
  if (!training || p === 0) {
    // the identity: a view of x, like reshape's (VGG16's two dropouts were two copy dispatches a forward pass)
    return record('dropout', x.share(), [x], [], (g) => [g.share()]);
  }
  const y = kernel('dropout', [x], x.shape, [seed, p]);
  return record('dropout', y, [x], [], (g) => [kernel('dropout', [g], g.shape, [seed, p])]);
}
