// The tape: graph nodes recorded by ops, reverse-mode backward, grad() and noGrad().
// Nodes hold the graph, not tensors: a node keeps its saved tensors and its input nodes alive, so disposing
// an intermediate tensor (or leaving a tidy scope) never breaks backward through a tensor that survives.

import { type BackwardOptions, fmt, installBackward, keep, Tensor, tidy } from '../tensor/tensor.js';
import { traceScope } from './trace.js';

export type ReluRule = NonNullable<BackwardOptions['reluRule']>;

export interface BackwardContext { reluRule: ReluRule }

/** Given the gradient of the node's output, the gradients of its inputs (null where none is needed). */
export type BackwardFn = (g: Tensor, ctx: BackwardContext) => (Tensor | null)[];

type Edge = GraphNode | Tensor | null;   // a node, a leaf that wants a gradient, or nothing

let gradEnabled = true;

export class GraphNode {
  refs = 1;
  freed = false;
  /** the model layer whose ops recorded the node (traceScope), for profilers */
  readonly layer: string | null = traceScope.layer;
  constructor(readonly op: string, readonly edges: Edge[], readonly backward: BackwardFn, public saved: Tensor[]) {}

  release(): void {
    if (--this.refs > 0) return;
    this.free();
    for (const e of this.edges) if (e instanceof GraphNode) e.release();
  }

  /** Drops what backward needed; the node stays in the graph but cannot be differentiated through again. */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    for (const t of this.saved) t.dispose();
    this.saved = [];
  }
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

export function noGrad<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new Error(`noGrad: fn must be a function, got ${typeof fn}`);
  const before = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = before;
  }
}

/** True when `t` should take part in differentiation. */
export function needsGrad(t: Tensor): boolean {
  return gradEnabled && (t.node !== null || t.requiresGrad);
}

/**
 * Records `out = op(inputs)`. `save` lists tensors the backward function reads; they are kept alive
 * (sharing memory) until the graph is freed. `backward` receives them in the same order.
 */
export function record(op: string, out: Tensor, inputs: readonly Tensor[], save: readonly Tensor[],
                       backward: (g: Tensor, saved: Tensor[], ctx: BackwardContext) => (Tensor | null)[]): Tensor {
  if (!gradEnabled || !inputs.some((t) => t.node !== null || t.requiresGrad)) return out;
  const edges: Edge[] = inputs.map((t) => {
    if (t.node) {
      t.node.refs++;
      return t.node;
    }
    return t.requiresGrad ? t : null;
  });
  const saved = save.map((t) => t.share(t.shape, false));
  const node = new GraphNode(op, edges, (g, ctx) => backward(g, node.saved, ctx), saved);
  out.node = node;
  out.requiresGrad = true;
  return out;
}

// --------------------------------------------------------------- backward

let addGrads: (a: Tensor, b: Tensor) => Tensor = () => { throw new Error('autograd: ops not loaded'); };
let onesLike: (t: Tensor) => Tensor = () => { throw new Error('autograd: ops not loaded'); };
let zerosLike: (t: Tensor) => Tensor = () => { throw new Error('autograd: ops not loaded'); };

/** Called once by ops/: the few ops the tape itself needs. */
export function installOps(ops: { add: typeof addGrads; onesLike: typeof onesLike; zerosLike: typeof zerosLike }): void {
  addGrads = ops.add;
  onesLike = ops.onesLike;
  zerosLike = ops.zerosLike;
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (leaf.disposed) {
    g.dispose();
    return;
  }
  if (leaf.grad && !leaf.grad.disposed) {
    const sum = addGrads(leaf.grad, g);
    leaf.grad.dispose();
    g.dispose();
    leaf.grad = keep(sum);
  } else {
    leaf.grad = keep(g);
  }
}

function backward(root: Tensor, seed: Tensor | undefined, opts: BackwardOptions): void {
  const reluRule = opts.reluRule ?? 'gradient';
  if (!['gradient', 'deconvnet', 'guided'].includes(reluRule)) {
    throw new Error(`backward: reluRule must be 'gradient', 'deconvnet' or 'guided', got ${JSON.stringify(reluRule)}`);
  }
  if (seed !== undefined) {
    if (!(seed instanceof Tensor)) throw new Error('backward: seed must be a Tensor');
    if (seed.shape.length !== root.shape.length || seed.shape.some((d, i) => d !== root.shape[i])) {
      throw new Error(`backward: seed shape ${fmt(seed.shape)} differs from the output's ${fmt(root.shape)}`);
    }
  } else if (root.size !== 1) {
    throw new Error(`backward: the output has shape ${fmt(root.shape)}; a non-scalar output needs a seed gradient`);
  }
  if (!root.node) {
    if (!root.requiresGrad) throw new Error(`backward: the tensor of shape ${fmt(root.shape)} does not require grad`);
    const g = noGrad(() => seed ? seed.share() : onesLike(root));
    accumulateLeaf(root, g);
    return;
  }
  // topological order by iterative depth-first search
  const order: GraphNode[] = [];
  const seen = new Set<GraphNode>();
  const stack: [GraphNode, number][] = [[root.node, 0]];
  seen.add(root.node);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [node, i] = top;
    if (i < node.edges.length) {
      top[1]++;
      const e = node.edges[i];
      if (e instanceof GraphNode && !seen.has(e)) {
        seen.add(e);
        stack.push([e, 0]);
      }
    } else {
      stack.pop();
      order.push(node);
    }
  }
  const ctx: BackwardContext = { reluRule };
  const grads = new Map<GraphNode, Tensor>();
  const outer = { layer: traceScope.layer, backward: traceScope.backward };
  traceScope.backward = true;
  try {
    noGrad(() => {
      grads.set(root.node!, seed ? seed.share() : onesLike(root));
      for (let i = order.length - 1; i >= 0; i--) {
        const node = order[i];
        const g = grads.get(node);
        if (!g) continue;
        grads.delete(node);
        traceScope.layer = node.layer;
        if (node.freed) {
          g.dispose();
          throw new Error(`backward: the graph through '${node.op}' was already used by a backward pass and freed`);
        }
        const inGrads = node.backward(g, ctx);
        g.dispose();
        node.edges.forEach((e, k) => {
          const ig = inGrads[k];
          if (!ig) return;
          if (e === null) {
            ig.dispose();
          } else if (e instanceof GraphNode) {
            const prev = grads.get(e);
            if (prev) {
              grads.set(e, addGrads(prev, ig));
              prev.dispose();
              ig.dispose();
            } else {
              grads.set(e, ig);
            }
          } else {
            accumulateLeaf(e, ig);
          }
        });
      }
    });
  } finally {
    traceScope.layer = outer.layer;
    traceScope.backward = outer.backward;
  }
  for (const n of order) n.free();
}

/** d f(x) / d x for a scalar-valued f, as a function of x. */
export function grad(f: (x: Tensor) => Tensor, opts: BackwardOptions = {}): (x: Tensor) => Tensor {
  if (typeof f !== 'function') throw new Error(`grad: f must be a function, got ${typeof f}`);
  return (x: Tensor) => {
    if (!(x instanceof Tensor)) throw new Error('grad: x must be a Tensor');
    const leaf = x.share();
    leaf.requiresGrad = true;
    const y = tidy(() => f(leaf));
    if (!(y instanceof Tensor)) throw new Error('grad: f must return a Tensor');
    if (y.size !== 1) {
      y.dispose();
      leaf.dispose();
      throw new Error(`grad: f must return a scalar, got shape ${fmt(y.shape)}`);
    }
    if (y.node || y.requiresGrad) y.backward(undefined, opts);
    // f may not depend on x at all: its gradient is then zero
    const g = leaf.grad ?? noGrad(() => zerosLike(leaf));
    leaf.grad = null;
    y.dispose();
    leaf.dispose();
    return g;
  };
}

installBackward(backward);
