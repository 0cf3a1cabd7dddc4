// Tensor: a float32 NCHW array on the current backend, a shape and a place in the autodiff graph.
// Storages are reference counted so that views (reshape) and tensors saved for backward share memory.

import type { Backend, Operand, Storage } from '../backend/interface.js';
import type { GraphNode } from '../autograd/graph.js';

export class SharedStorage {
  refs = 1;
  constructor(readonly backend: Backend, readonly storage: Storage) {}
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0) this.backend.release(this.storage);
  }
}

// ------------------------------------------------------------------ tidy scopes

type Scope = Set<Tensor>;
const scopes: Scope[] = [];

function track(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Removes `t` from every tidy scope: it survives until disposed by hand. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

function collect(value: unknown, into: Set<Tensor>, depth = 0): void {
  if (depth > 4 || value === null || typeof value !== 'object') return;
  if (value instanceof Tensor) {
    into.add(value);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, into, depth + 1);
  else for (const v of Object.values(value as Record<string, unknown>)) collect(v, into, depth + 1);
}

/**
 * Runs fn and disposes every tensor created inside that fn does not return (tensors in a returned array or
 * object survive too). Nested scopes hand their survivors to the enclosing scope.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new Error(`tidy: fn must be a function, got ${typeof fn}`);
  const scope: Scope = new Set();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  if (result instanceof Promise) {
    for (const t of scope) track(t);
    throw new Error('tidy: fn must be synchronous (it returned a Promise); await outside tidy');
  }
  const survivors = new Set<Tensor>();
  collect(result, survivors);
  for (const t of scope) {
    if (survivors.has(t)) track(t);
    else t.dispose();
  }
  return result;
}

// ------------------------------------------------------------------ shapes

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkShape(fn: string, arg: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw new Error(`${fn}: ${arg} must be an array of sizes, got ${typeof shape}`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new Error(`${fn}: ${arg} must hold non-negative integers, got [${shape.join(', ')}]`);
    }
  }
  return [...shape] as number[];
}

export function fmt(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

// ------------------------------------------------------------------ the tensor

let backwardHook: ((root: Tensor, seed: Tensor | undefined, opts: BackwardOptions) => void) | null = null;
let reshapeHook: ((t: Tensor, shape: number[]) => Tensor) | null = null;

/** Called once by autograd/ and ops/, which tensor/ may not import. */
export function installBackward(fn: NonNullable<typeof backwardHook>): void {
  backwardHook = fn;
}
export function installReshape(fn: NonNullable<typeof reshapeHook>): void {
  reshapeHook = fn;
}

export interface BackwardOptions {
  /** ReLU's backward rule: 1(X > 0) ('gradient', default), 1(R > 0) ('deconvnet'), or both ('guided') */
  reluRule?: 'gradient' | 'deconvnet' | 'guided';
}

export class Tensor {
  readonly shape: readonly number[];
  readonly size: number;
  requiresGrad: boolean;
  grad: Tensor | null = null;
  /** @internal the graph node that produced this tensor (null for leaves and under noGrad) */
  node: GraphNode | null = null;
  private buf: SharedStorage | null;
  private readonly offset: number;

  /** @internal use tensor(), zeros() or an op */
  constructor(buf: SharedStorage, offset: number, shape: readonly number[], requiresGrad = false, tracked = true) {
    this.buf = buf;
    this.offset = offset;
    this.shape = Object.freeze([...shape]);
    this.size = shapeSize(shape);
    this.requiresGrad = requiresGrad;
    if (tracked) track(this);
  }

  get disposed(): boolean {
    return this.buf === null;
  }

  /** @internal */
  get backend(): Backend {
    return this.live('use').backend;
  }

  /** @internal the kernel-level view */
  get operand(): Operand {
    const buf = this.live('use');
    return { storage: buf.storage, offset: this.offset, shape: this.shape, size: this.size };
  }

  /** @internal a new tensor object on the same memory (views, saved tensors) */
  share(shape: readonly number[] = this.shape, tracked = true): Tensor {
    return new Tensor(this.live('share').retain(), this.offset, shape, false, tracked);
  }

  private live(what: string): SharedStorage {
    if (!this.buf) throw new Error(`Tensor.${what}: the tensor of shape ${fmt(this.shape)} was disposed`);
    return this.buf;
  }

  async data(): Promise<Float32Array> {
    const buf = this.live('data');
    return buf.backend.download({ storage: buf.storage, offset: this.offset, shape: this.shape, size: this.size });
  }

  /** Reads a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`Tensor.item: the tensor has ${this.size} elements (shape ${fmt(this.shape)}), not 1`);
    return (await this.data())[0];
  }

  dispose(): void {
    if (!this.buf) return;
    this.buf.release();
    this.buf = null;
    this.node?.release();
    this.node = null;
    for (const s of scopes) s.delete(this);
  }

  backward(seed?: Tensor, opts: BackwardOptions = {}): void {
    this.live('backward');
    if (!backwardHook) throw new Error('Tensor.backward: autograd not loaded');
    backwardHook(this, seed, opts);
  }

  reshape(shape: number[]): Tensor {
    if (!reshapeHook) throw new Error('Tensor.reshape: ops not loaded');
    return reshapeHook(this, shape);
  }

  toString(): string {
    return `Tensor(${fmt(this.shape)}${this.requiresGrad ? ', requiresGrad' : ''}${this.buf ? '' : ', disposed'})`;
  }
}

/** @internal a fresh, uninitialised tensor on `backend` */
export function empty(backend: Backend, shape: readonly number[]): Tensor {
  const n = shapeSize(shape);
  return new Tensor(new SharedStorage(backend, backend.alloc(Math.max(n, 1))), 0, shape);
}
