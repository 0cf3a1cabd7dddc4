// Optimisers for training with the tape: SGD with momentum (and Nesterov) and weight decay, and Adam, with
// PyTorch's update rules. Parameters are leaf tensors with requiresGrad; step() reads each one's .grad and
// writes the new value into the parameter's own storage (views and saved copies see it), so a model's device
// weights can be trained in place.
//   SGD:  g = grad + wd p;  b = momentum b + g (b = g on the first step);  p -= lr (nesterov ? g + momentum b : b)
//   Adam: g = grad + wd p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//         p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

import { noGrad } from '../autograd/graph.js';
import * as ops from '../ops/index.js';
import { backend } from '../runtime.js';
import { keep, Tensor, tidy } from '../tensor/tensor.js';

function checkParams(fn: string, params: unknown): Tensor[] {
  if (!Array.isArray(params) || params.length === 0) throw new Error(`${fn}: params must be a non-empty array of tensors`);
  params.forEach((p, i) => {
    if (!(p instanceof Tensor)) throw new Error(`${fn}: params[${i}] is not a Tensor`);
    if (p.disposed) throw new Error(`${fn}: params[${i}] (shape [${p.shape.join(', ')}]) was disposed`);
    if (!p.requiresGrad || p.node) throw new Error(`${fn}: params[${i}] must be a leaf tensor with requiresGrad (shape [${p.shape.join(', ')}])`);
  });
  return [...params] as Tensor[];
}

function num(fn: string, arg: string, v: unknown, fallback: number, ok: (x: number) => boolean, what: string): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new Error(`${fn}: ${arg} must be ${what}, got ${String(v)}`);
  return v;
}

/** Writes `value` into `target`'s storage (same shape). */
function assign(target: Tensor, value: Tensor): void {
  backend().elementwise('copy', [value.operand], target.operand);
}

abstract class Optimizer {
  protected readonly state = new Map<Tensor, Tensor[]>();
  constructor(readonly params: Tensor[]) {}

  /** Clears every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** One update of every parameter that has a gradient. */
  step(): void {
    noGrad(() => {
      for (const p of this.params) {
        if (!p.grad) continue;
        if (p.disposed) throw new Error(`${this.name}.step: a parameter (shape [${p.shape.join(', ')}]) was disposed`);
        const next = tidy(() => this.update(p, p.grad!));
        assign(p, next);
        next.dispose();
      }
    });
  }

  /** Releases the optimiser's state (momentum buffers, moments). */
  dispose(): void {
    for (const ts of this.state.values()) for (const t of ts) t.dispose();
    this.state.clear();
  }

  protected abstract readonly name: string;
  protected abstract update(p: Tensor, grad: Tensor): Tensor;
}

export interface SgdOptions { lr: number; momentum?: number; weightDecay?: number; nesterov?: boolean }

export class SGD extends Optimizer {
  protected readonly name = 'SGD';
  /** the learning rate; a schedule may change it between steps */
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;

  constructor(params: Tensor[], opts: SgdOptions) {
    super(checkParams('SGD', params));
    if (!opts || typeof opts !== 'object') throw new Error('SGD: opts { lr } is required');
    this.lr = num('SGD', 'lr', opts.lr, NaN, (x) => x > 0, 'a number > 0');
    this.momentum = num('SGD', 'momentum', opts.momentum, 0, (x) => x >= 0 && x < 1, 'in [0, 1)');
    this.weightDecay = num('SGD', 'weightDecay', opts.weightDecay, 0, (x) => x >= 0, 'a number >= 0');
    if (opts.nesterov !== undefined && typeof opts.nesterov !== 'boolean') throw new Error(`SGD: nesterov must be true or false, got ${String(opts.nesterov)}`);
    this.nesterov = opts.nesterov ?? false;
    if (this.nesterov && this.momentum === 0) throw new Error('SGD: nesterov needs a momentum > 0');
  }

  protected update(p: Tensor, grad: Tensor): Tensor {
    let g = this.weightDecay ? ops.add(grad, ops.scale(p, this.weightDecay)) : grad;
    if (this.momentum) {
      const prev = this.state.get(p)?.[0];
      const buf = prev ? ops.add(ops.scale(prev, this.momentum), g) : ops.scale(g, 1);
      if (prev) prev.dispose();
      this.state.set(p, [keep(buf)]);
      g = this.nesterov ? ops.add(g, ops.scale(buf, this.momentum)) : buf;
    }
    return ops.sub(p, ops.scale(g, this.lr));
  }
}

export interface AdamOptions { lr?: number; betas?: [number, number]; eps?: number; weightDecay?: number }

export class Adam extends Optimizer {
  protected readonly name = 'Adam';
  /** the learning rate; a schedule may change it between steps */
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  private t = new Map<Tensor, number>();

  constructor(params: Tensor[], opts: AdamOptions = {}) {
    super(checkParams('Adam', params));
    if (opts === null || typeof opts !== 'object') throw new Error('Adam: opts must be an object');
    this.lr = num('Adam', 'lr', opts.lr, 1e-3, (x) => x > 0, 'a number > 0');
    const betas = opts.betas ?? [0.9, 0.999];
    if (!Array.isArray(betas) || betas.length !== 2 || betas.some((b) => typeof b !== 'number' || !(b >= 0 && b < 1))) {
      throw new Error(`Adam: betas must be two numbers in [0, 1), got ${JSON.stringify(opts.betas)}`);
    }
    this.betas = [betas[0], betas[1]];
    this.eps = num('Adam', 'eps', opts.eps, 1e-8, (x) => x > 0, 'a number > 0');
    this.weightDecay = num('Adam', 'weightDecay', opts.weightDecay, 0, (x) => x >= 0, 'a number >= 0');
  }

  protected update(p: Tensor, grad: Tensor): Tensor {
    const [b1, b2] = this.betas;
    const g = this.weightDecay ? ops.add(grad, ops.scale(p, this.weightDecay)) : grad;
    const t = (this.t.get(p) ?? 0) + 1;
    this.t.set(p, t);
    const [m0, v0] = this.state.get(p) ?? [null, null];
    const m = m0 ? ops.add(ops.scale(m0, b1), ops.scale(g, 1 - b1)) : ops.scale(g, 1 - b1);
    const v = v0 ? ops.add(ops.scale(v0, b2), ops.scale(ops.square(g), 1 - b2)) : ops.scale(ops.square(g), 1 - b2);
    m0?.dispose();
    v0?.dispose();
    this.state.set(p, [keep(m), keep(v)]);
    const mHat = ops.scale(m, 1 / (1 - b1 ** t));
    const denom = ops.affine(ops.sqrt(ops.scale(v, 1 / (1 - b2 ** t))), 1, this.eps);
    return ops.sub(p, ops.scale(ops.div(mHat, denom), this.lr));
  }
}
