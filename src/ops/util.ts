// Shared helpers of the op files: argument checks that name the op, output allocation, broadcasting.

import type { Operand } from '../backend/interface.js';
import { backend } from '../runtime.js';
import { empty, fmt, Tensor } from '../tensor/tensor.js';

export { fmt };

export function out(shape: readonly number[]): Tensor {
  return empty(backend(), shape);
}

export function checkTensor(op: string, arg: string, x: unknown): Tensor {
  if (!(x instanceof Tensor)) throw new Error(`${op}: ${arg} must be a Tensor, got ${x === null ? 'null' : typeof x}`);
  if (x.disposed) throw new Error(`${op}: ${arg} (shape ${fmt(x.shape)}) was disposed`);
  if (x.backend !== backend()) throw new Error(`${op}: ${arg} lives on a backend that was closed; create it again after init()`);
  return x;
}

export function checkRank(op: string, arg: string, x: Tensor, rank: number): void {
  if (x.shape.length !== rank) {
    throw new Error(`${op}: ${arg} must be ${rank}-D, got shape ${fmt(x.shape)}`);
  }
}

export function checkInt(op: string, arg: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new Error(`${op}: ${arg} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

export function checkNumber(op: string, arg: string, v: unknown): number {
  if (typeof v !== 'number' || Number.isNaN(v)) throw new Error(`${op}: ${arg} must be a number, got ${String(v)}`);
  return v;
}

/** A pair option: n or [h, w]. */
export function pair(op: string, arg: string, v: unknown, min: number): [number, number] {
  if (typeof v === 'number') return [checkInt(op, arg, v, min), v];
  if (Array.isArray(v) && v.length === 2) return [checkInt(op, arg, v[0], min), checkInt(op, arg, v[1], min)];
  throw new Error(`${op}: ${arg} must be an integer or [h, w], got ${JSON.stringify(v)}`);
}

/** Padding: n, [h, w] or [top, left, bottom, right]. */
export function padding4(op: string, v: unknown): [number, number, number, number] {
  if (typeof v === 'number') {
    checkInt(op, 'padding', v, 0);
    return [v, v, v, v];
  }
  if (Array.isArray(v) && v.length === 2) {
    const [h, w] = pair(op, 'padding', v, 0);
    return [h, w, h, w];
  }
  if (Array.isArray(v) && v.length === 4) {
    v.forEach((p, i) => checkInt(op, `padding[${i}]`, p, 0));
    return [v[0], v[1], v[2], v[3]];
  }
  throw new Error(`${op}: padding must be n, [h, w] or [top, left, bottom, right], got ${JSON.stringify(v)}`);
}

export function normAxis(op: string, axis: unknown, rank: number): number {
  if (typeof axis !== 'number' || !Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new Error(`${op}: axis ${String(axis)} is out of range for a ${rank}-D tensor`);
  }
  return axis < 0 ? axis + rank : axis;
}

export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const outShape: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1, db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${fmt(a)} and ${fmt(b)} do not broadcast (axis ${i}: ${da} vs ${db})`);
    }
    outShape.push(da === 1 ? db : da);
  }
  return outShape;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export const op = (t: Tensor): Operand => t.operand;

/**
 * Sums x over `axes` (sorted) with the reduced axes kept as size 1: one backend reduce per axis that is not
 * already 1. Returns a new tensor (a view of x when nothing needs reducing); records no graph.
 */
export function sumOverAxes(x: Tensor, axes: readonly number[]): Tensor {
  let cur = x;
  let curShape = [...x.shape];
  for (const d of axes) {
    if (curShape[d] === 1) continue;
    const outer = curShape.slice(0, d).reduce((a, b) => a * b, 1);
    const inner = curShape.slice(d + 1).reduce((a, b) => a * b, 1);
    const nextShape = [...curShape];
    nextShape[d] = 1;
    const next = out(nextShape);
    backend().reduce('sum', op(cur), outer, curShape[d], inner, op(next));
    if (cur !== x) cur.dispose();
    cur = next;
    curShape = nextShape;
  }
  return cur === x ? x.share() : cur;
}
