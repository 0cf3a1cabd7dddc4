// Constant folding for the importer: the ONNX ops that only move or convert constant elements (Gather, Slice,
// Transpose, Reshape, Squeeze, Unsqueeze, Concat, Cast, ConstantOfShape) and elementwise arithmetic with
// broadcasting. Element moves carry the batch tags of a Const (see tensors.ts); arithmetic drops them.

import { reshapeTarget } from '../layers.js';
import { type Const, DT, elementCount, fmt, isFloatType } from './tensors.js';

export function makeConst(shape: number[], data: Float32Array | Float64Array, isFloat: boolean, batch?: boolean[]): Const {
  return batch && batch.some(Boolean) ? { shape, data, isFloat, batch } : { shape, data, isFloat };
}

const size = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);

function strides(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

/** A new Const of `shape` whose element i is c's element src[i] (tags follow their elements). */
function pick(c: Const, shape: number[], src: ArrayLike<number>): Const {
  const data = c.isFloat ? new Float32Array(src.length) : new Float64Array(src.length);
  for (let i = 0; i < src.length; i++) data[i] = c.data[src[i]];
  const batch = c.batch ? Array.from(src, (j) => c.batch![j]) : undefined;
  return makeConst(shape, data, c.isFloat, batch);
}

export function normAxis(axis: number, rank: number, where: string): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) throw new Error(`${where}: axis ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

/** The values of an integer Const as numbers (an Error for non-integers). */
export function ints(c: Const, where: string): number[] {
  const out = Array.from(c.data);
  if (out.some((v) => !Number.isFinite(v) || !Number.isInteger(v))) throw new Error(`${where}: expected integers, got ${fmt(out)}`);
  return out;
}

/** The single value of a one-element Const. */
export function scalar(c: Const, where: string): number {
  if (c.data.length !== 1) throw new Error(`${where}: expected a single value, got shape ${fmt(c.shape)}`);
  return c.data[0];
}

export function reshapeConst(c: Const, target: readonly number[], where: string, allowZero = false): Const {
  const shape = allowZero ? [...target] : reshapeTarget(c.shape, target, where);
  if (allowZero && size(shape) !== c.data.length) throw new Error(`${where}: cannot reshape ${fmt(c.shape)} to ${fmt(target)}`);
  return { ...c, shape };
}

export function transposeConst(c: Const, perm: readonly number[] | null, where: string): Const {
  const r = c.shape.length;
  const p = perm ?? c.shape.map((_, i) => r - 1 - i);
  if (p.length !== r || [...p].sort((a, b) => a - b).some((v, i) => v !== i)) {
    throw new Error(`${where}: perm ${fmt(p)} is not a permutation of the ${r} axes of ${fmt(c.shape)}`);
  }
  const outShape = p.map((a) => c.shape[a]);
  const inSt = strides(c.shape);
  const n = c.data.length;
  const src = new Float64Array(n);
  const idx = new Array<number>(r).fill(0);
  for (let i = 0; i < n; i++) {
    let off = 0;
    for (let k = 0; k < r; k++) off += idx[k] * inSt[p[k]];
    src[i] = off;
    for (let k = r - 1; k >= 0; k--) {
      if (++idx[k] < outShape[k]) break;
      idx[k] = 0;
    }
  }
  return pick(c, outShape, src);
}

export function gatherConst(data: Const, indices: Const, axis: number, where: string): Const {
  const r = data.shape.length;
  if (r === 0) throw new Error(`${where}: cannot gather from a scalar`);
  const a = normAxis(axis, r, where);
  const dim = data.shape[a];
  const idx = ints(indices, where).map((i) => {
    if (i < -dim || i >= dim) throw new Error(`${where}: index ${i} is out of range for axis ${a} of size ${dim}`);
    return i < 0 ? i + dim : i;
  });
  const outer = size(data.shape.slice(0, a));
  const inner = size(data.shape.slice(a + 1));
  const shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
  const src: number[] = [];
  for (let o = 0; o < outer; o++) for (const i of idx) for (let k = 0; k < inner; k++) src.push((o * dim + i) * inner + k);
  return pick(data, shape, src);
}

export function unsqueezeConst(c: Const, axes: readonly number[], where: string): Const {
  const r = c.shape.length + axes.length;
  const norm = axes.map((a) => normAxis(a, r, where));
  if (new Set(norm).size !== norm.length) throw new Error(`${where}: axes ${fmt(axes)} repeat`);
  const shape: number[] = [];
  let k = 0;
  for (let i = 0; i < r; i++) shape.push(norm.includes(i) ? 1 : c.shape[k++]);
  return { ...c, shape };
}

export function squeezeConst(c: Const, axes: readonly number[] | null, where: string): Const {
  const r = c.shape.length;
  const norm = axes ? axes.map((a) => normAxis(a, r, where)) : c.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0);
  for (const a of norm) if (c.shape[a] !== 1) throw new Error(`${where}: cannot squeeze axis ${a} of size ${c.shape[a]}`);
  return { ...c, shape: c.shape.filter((_, i) => !norm.includes(i)) };
}

export function concatConst(cs: readonly Const[], axis: number, where: string): Const {
  if (cs.length === 0) throw new Error(`${where}: nothing to concatenate`);
  const r = cs[0].shape.length;
  const a = normAxis(axis, r, where);
  for (const c of cs) {
    if (c.shape.length !== r || c.shape.some((d, i) => i !== a && d !== cs[0].shape[i])) {
      throw new Error(`${where}: shapes ${cs.map((x) => fmt(x.shape)).join(', ')} differ outside axis ${a}`);
    }
  }
  const isFloat = cs.some((c) => c.isFloat);
  const shape = [...cs[0].shape];
  shape[a] = cs.reduce((p, c) => p + c.shape[a], 0);
  const outer = size(shape.slice(0, a));
  const n = size(shape);
  const data = isFloat ? new Float32Array(n) : new Float64Array(n);
  const batch: boolean[] = [];
  let j = 0;
  for (let o = 0; o < outer; o++) {
    for (const c of cs) {
      const chunk = c.shape[a] * size(c.shape.slice(a + 1));
      for (let k = 0; k < chunk; k++, j++) {
        data[j] = c.data[o * chunk + k];
        batch[j] = c.batch?.[o * chunk + k] ?? false;
      }
    }
  }
  return makeConst(shape, data, isFloat, batch);
}

/** ONNX Slice (opset 10+ form; the caller converts the attribute form). */
export function sliceConst(c: Const, starts: number[], ends: number[], axes: number[] | null, steps: number[] | null, where: string): Const {
  const r = c.shape.length;
  const ax = (axes ?? starts.map((_, i) => i)).map((a) => normAxis(a, r, where));
  if (ends.length !== starts.length || ax.length !== starts.length || (steps && steps.length !== starts.length)) {
    throw new Error(`${where}: starts, ends, axes and steps differ in length`);
  }
  const begin = c.shape.map(() => 0), step = c.shape.map(() => 1), count = [...c.shape];
  ax.forEach((a, i) => {
    const dim = c.shape[a];
    const s = steps ? steps[i] : 1;
    if (s === 0) throw new Error(`${where}: step 0`);
    let st = starts[i], en = ends[i];
    if (st < 0) st += dim;
    if (en < 0) en += dim;
    if (s > 0) {
      st = Math.min(Math.max(st, 0), dim);
      en = Math.min(Math.max(en, 0), dim);
      count[a] = Math.max(0, Math.ceil((en - st) / s));
    } else {
      st = Math.min(Math.max(st, 0), dim - 1);
      en = Math.min(Math.max(en, -1), dim - 1);
      count[a] = Math.max(0, Math.ceil((en - st) / s));
    }
    begin[a] = st;
    step[a] = s;
  });
  const inSt = strides(c.shape);
  const n = size(count);
  const src = new Float64Array(n);
  const idx = new Array<number>(r).fill(0);
  for (let i = 0; i < n; i++) {
    let off = 0;
    for (let k = 0; k < r; k++) off += (begin[k] + idx[k] * step[k]) * inSt[k];
    src[i] = off;
    for (let k = r - 1; k >= 0; k--) {
      if (++idx[k] < count[k]) break;
      idx[k] = 0;
    }
  }
  return pick(c, count, src);
}

/** Cast to an ONNX element type: float types round to float32, integers truncate toward zero, bool is 0/1. */
export function castConst(c: Const, to: number, where: string): Const {
  const n = c.data.length;
  if (isFloatType(to)) return { shape: c.shape, data: Float32Array.from(c.data), isFloat: true, batch: c.batch };
  const ok: number[] = [DT.UINT8, DT.INT8, DT.UINT16, DT.INT16, DT.INT32, DT.INT64, DT.BOOL, DT.UINT32, DT.UINT64];
  if (!ok.includes(to)) throw new Error(`${where}: cannot cast to data type ${to}`);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = to === DT.BOOL ? (c.data[i] ? 1 : 0) : Math.trunc(c.data[i]);
  return makeConst(c.shape, data, false, to === DT.BOOL ? undefined : (c.batch as boolean[] | undefined));
}

export function constantOfShape(shapeC: Const, value: Const | null, where: string): Const {
  const shape = ints(shapeC, where);
  const n = elementCount(shape, where);
  const v = value ? scalar(value, where) : 0;
  const isFloat = value ? value.isFloat : true;
  const data = isFloat ? new Float32Array(n) : new Float64Array(n);
  data.fill(v);
  return { shape, data, isFloat };
}

export function broadcastShape(a: readonly number[], b: readonly number[], where: string): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`${where}: shapes ${fmt(a)} and ${fmt(b)} do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Elementwise arithmetic with NumPy broadcasting; integer division truncates like ONNX's integer Div. */
export function binaryConst(op: 'Add' | 'Sub' | 'Mul' | 'Div', a: Const, b: Const, where: string): Const {
  const shape = broadcastShape(a.shape, b.shape, where);
  const n = elementCount(shape, where);
  const isFloat = a.isFloat || b.isFloat;
  const data = isFloat ? new Float32Array(n) : new Float64Array(n);
  const r = shape.length;
  const stA = strides(a.shape), stB = strides(b.shape);
  const offA = r - a.shape.length, offB = r - b.shape.length;
  const idx = new Array<number>(r).fill(0);
  for (let i = 0; i < n; i++) {
    let ia = 0, ib = 0;
    for (let k = 0; k < r; k++) {
      if (k >= offA && a.shape[k - offA] !== 1) ia += idx[k] * stA[k - offA];
      if (k >= offB && b.shape[k - offB] !== 1) ib += idx[k] * stB[k - offB];
    }
    const x = a.data[ia], y = b.data[ib];
    let v: number;
    switch (op) {
      case 'Add': v = x + y; break;
      case 'Sub': v = x - y; break;
      case 'Mul': v = x * y; break;
      default: v = isFloat ? x / y : Math.trunc(x / y);
    }
    data[i] = v;
    for (let k = r - 1; k >= 0; k--) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
  return { shape, data, isFloat };
}

/** 2-D transpose of float data [rows, cols] -> [cols, rows], optionally scaled. */
export function transpose2d(data: ArrayLike<number>, rows: number, cols: number, scale = 1): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = data[i * cols + j] * scale;
  return out;
}
