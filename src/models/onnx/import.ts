// loadOnnx: an ONNX model (opsets 7 to 21; older opsets where an op's attributes say so) to a convis Model.
//
// The graph is walked in topological order. Every value is either a constant (initializers, Constant nodes and
// anything computed only from them: Shape of a value whose shape is known statically, Gather, Unsqueeze, Concat,
// Cast, ... are folded here) or a tensor produced by a convis layer, whose shape for a batch of one is computed
// with layerOutputShape as we go. Constant operands become layer weights (Conv W/B, Gemm/MatMul B, the `b` of
// add/sub/mul/div). BatchNormalization after a Conv whose output feeds only it is folded into the Conv.
// A final Softmax is cut off (convis models output unnormalised scores).
//
// The batch axis: the model input's axis 0 is the batch, whatever the file declares. Shape of a batch-carrying
// value marks that element as "the batch size"; a Reshape target element so marked at the batch axis becomes 0
// (copy), so PyTorch's x.view(x.size(0), -1) export (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) runs for
// any batch. Every failure is an Error that starts with `loadOnnx:`.

import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import onnxProto from 'onnx-proto';
import { BINARY_KINDS, type HostTensor, type Layer, type LayerKind, layerOutputShape, type Pads, type Pair } from '../layers.js';
import { Model, type Preprocess } from '../model.js';
import {
  binaryConst, castConst, concatConst, constantOfShape, gatherConst, ints, makeConst, normAxis, reshapeConst, scalar,
  sliceConst, squeezeConst, transpose2d, transposeConst, unsqueezeConst,
} from './fold.js';
import { type Const, DT, decodeTensor, dtypeName, elementCount, fmt, isExternal, readExternal, type TensorProtoLike, toNum } from './tensors.js';

const { onnx } = onnxProto;

export interface LoadOnnxOptions {
  /** no notices on stderr (the removed final Softmax, a newer opset) */
  quiet?: boolean;
  /**
   * the model's preprocessing (ONNX has no field for it), e.g. models.IMAGENET_TORCHVISION for a torchvision
   * export; it replaces what the file's convis.preprocess metadata says
   */
  preprocess?: Preprocess;
  /**
   * fold a BatchNormalization that follows a Conv into the Conv (default true: one layer fewer, the same
   * inference); false keeps it as a batch-norm layer, e.g. to go on training a checkpoint in training mode
   */
  foldBatchNorm?: boolean;
}

/** The ONNX operators the importer understands (in the default ai.onnx domain). */
export const SUPPORTED_OPS = [
  'Add', 'AveragePool', 'BatchNormalization', 'Cast', 'Clip', 'Concat', 'Constant', 'ConstantOfShape', 'Conv', 'Div',
  'Dropout', 'Flatten', 'Gather', 'Gemm', 'GlobalAveragePool', 'Identity', 'LRN', 'LeakyRelu', 'MatMul', 'MaxPool',
  'Mul', 'Pad', 'Relu', 'Reshape', 'Shape', 'Sigmoid', 'Slice', 'Softmax', 'Squeeze', 'Sub', 'Transpose', 'Unsqueeze',
] as const;

/** The newest opset whose semantics the importer was written against. */
export const MAX_TESTED_OPSET = 21;

const FLT_MAX = 3.4028234663852886e38;

// ------------------------------------------------------------------ decoded protobuf shapes (what we read)

interface AttrProto {
  name?: string; type?: number; f?: number; i?: unknown; s?: Uint8Array; t?: TensorProtoLike | null;
  floats?: number[]; ints?: unknown[]; strings?: Uint8Array[];
}
interface NodeProto { name?: string; opType?: string; domain?: string; input?: string[]; output?: string[]; attribute?: AttrProto[] }
interface DimProto { dimValue?: unknown; dimParam?: string }
interface ValueInfoProto { name?: string; type?: { tensorType?: { elemType?: number; shape?: { dim?: DimProto[] } | null } | null } | null }
interface GraphProto { name?: string; node?: NodeProto[]; initializer?: TensorProtoLike[]; input?: ValueInfoProto[]; output?: ValueInfoProto[] }

type TVal = { kind: 'tensor'; name: string; shape: number[]; batch: number | null };
type CVal = { kind: 'const'; c: Const };
type Val = TVal | CVal;

interface MLayer {
  kind: LayerKind;
  name: string;
  inputs: string[];
  output: string;
  attrs: Record<string, unknown>;
  params: Record<string, HostTensor>;
}

/** An op type or domain for a message: as is when it looks like one, else quoted (damaged files). */
const show = (s: string) => (/^[A-Za-z0-9_.]+$/.test(s) ? s : JSON.stringify(s));

const utf8 = new TextDecoder('utf-8', { fatal: false });
const prod = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);

// ------------------------------------------------------------------ attributes

const AT = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

class AttrReader {
  private readonly map = new Map<string, AttrProto>();

  constructor(node: NodeProto, private readonly where: string) {
    for (const a of node.attribute ?? []) if (a && typeof a.name === 'string') this.map.set(a.name, a);
  }

  has(name: string): boolean {
    return this.map.has(name);
  }

  private get(name: string, types: number[]): AttrProto | undefined {
    const a = this.map.get(name);
    if (a && a.type && !types.includes(a.type)) throw new Error(`${this.where}: attribute ${name} has the wrong type (${a.type})`);
    return a;
  }

  int(name: string, def?: number): number {
    const a = this.get(name, [AT.INT, AT.FLOAT]);
    if (!a) {
      if (def === undefined) throw new Error(`${this.where}: attribute ${name} is required`);
      return def;
    }
    const v = a.type === AT.FLOAT ? (a.f ?? NaN) : toNum(a.i);
    if (!Number.isInteger(v)) throw new Error(`${this.where}: attribute ${name} must be an integer, got ${v}`);
    return v;
  }

  float(name: string, def?: number): number {
    const a = this.get(name, [AT.FLOAT, AT.INT]);
    if (!a) {
      if (def === undefined) throw new Error(`${this.where}: attribute ${name} is required`);
      return def;
    }
    const v = a.type === AT.INT ? toNum(a.i) : Number(a.f);
    if (Number.isNaN(v)) throw new Error(`${this.where}: attribute ${name} is not a number`);
    return v;
  }

  ints(name: string, def?: number[] | null): number[] | null {
    const a = this.get(name, [AT.INTS]);
    if (!a) {
      if (def === undefined) throw new Error(`${this.where}: attribute ${name} is required`);
      return def;
    }
    const v = (a.ints ?? []).map(toNum);
    if (v.some((x) => !Number.isInteger(x))) throw new Error(`${this.where}: attribute ${name} must hold integers`);
    return v;
  }

  floats(name: string): number[] | null {
    const a = this.get(name, [AT.FLOATS]);
    return a ? (a.floats ?? []).map(Number) : null;
  }

  string(name: string, def: string): string {
    const a = this.get(name, [AT.STRING]);
    return a && a.s ? utf8.decode(a.s) : def;
  }

  tensor(name: string): TensorProtoLike | null {
    const a = this.get(name, [AT.TENSOR]);
    return a?.t ?? null;
  }
}

// ------------------------------------------------------------------ the importer

interface NodeCtx {
  node: NodeProto;
  op: string;
  index: number;
  where: string;
  inputs: string[];
  outputs: string[];
  a: AttrReader;
}

class Importer {
  readonly values = new Map<string, Val>();
  readonly layers: MLayer[] = [];
  /** convis value name -> the layer producing it */
  private readonly producer = new Map<string, MLayer>();
  /** ONNX value name -> how many node inputs and graph outputs read it */
  private readonly consumers = new Map<string, number>();
  private readonly layerNames = new Set<string>();
  private readonly valueNames = new Set<string>();
  readonly graphOutputs: Set<string>;
  cutSoftmax: NodeProto | null = null;
  /** graph inputs other than the model input (an Error when a node reads one) */
  readonly extraInputs = new Set<string>();

  constructor(
    readonly opset: number,
    graph: GraphProto,
    private readonly external: Map<object, Uint8Array>,
    private readonly foldBatchNorm = true,
  ) {
    this.graphOutputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
    for (const n of graph.node ?? []) {
      for (const i of n.input ?? []) if (i) this.consumers.set(i, (this.consumers.get(i) ?? 0) + 1);
      for (const o of n.output ?? []) if (o) this.valueNames.add(o);
    }
    for (const o of this.graphOutputs) this.consumers.set(o, (this.consumers.get(o) ?? 0) + 1);
    for (const t of graph.initializer ?? []) if (t.name) this.valueNames.add(t.name);
    for (const i of graph.input ?? []) if (i.name) this.valueNames.add(i.name);
  }

  used(onnxName: string | undefined): boolean {
    return !!onnxName && (this.consumers.get(onnxName) ?? 0) > 0;
  }

  // ---------------------------------------------------------------- inputs and outputs of a node

  val(nc: NodeCtx, i: number): Val | undefined {
    const name = nc.inputs[i];
    if (!name) return undefined;
    const v = this.values.get(name);
    if (!v) {
      throw new Error(`${nc.where} reads ${JSON.stringify(name)}, which is not an initializer, the graph input, ` +
        'a Constant or the output of an earlier node (a missing initializer?)');
    }
    return v;
  }

  tensorIn(nc: NodeCtx, i: number, rank?: number): TVal {
    const v = this.val(nc, i);
    if (!v) throw new Error(`${nc.where}: input ${i} is missing`);
    if (v.kind !== 'tensor') {
      throw new Error(`${nc.where}: input ${i} (${JSON.stringify(nc.inputs[i])}) is a constant; convis folds constants only through ` +
        'Shape, Gather, Unsqueeze, Squeeze, Concat, Cast, Slice, Reshape, Flatten, Transpose, Identity and Add/Sub/Mul/Div');
    }
    if (rank !== undefined && v.shape.length !== rank) {
      throw new Error(`${nc.where}: input ${JSON.stringify(nc.inputs[i])} must be ${rank}-D, got ${fmt(v.shape)}`);
    }
    return v;
  }

  constIn(nc: NodeCtx, i: number, what: string): Const {
    const v = this.optConst(nc, i, what);
    if (!v) throw new Error(`${nc.where}: input ${i} (${what}) is missing`);
    return v;
  }

  optConst(nc: NodeCtx, i: number, what: string): Const | undefined {
    const v = this.val(nc, i);
    if (!v) return undefined;
    if (v.kind !== 'const') {
      throw new Error(`${nc.where}: input ${i} (${what}, ${JSON.stringify(nc.inputs[i])}) must be a constant (an initializer ` +
        'or something folded from them), but it is computed from the model input');
    }
    return v.c;
  }

  setOut(nc: NodeCtx, i: number, v: Val): void {
    const name = nc.outputs[i];
    if (!name) return;
    if (this.values.has(name)) throw new Error(`${nc.where}: value ${JSON.stringify(name)} is defined twice`);
    this.values.set(name, v);
  }

  /** A fresh value name derived from `base` (for the inner values of one node expanded into several layers). */
  private freshValue(base: string): string {
    let name = base;
    for (let k = 1; this.valueNames.has(name); k++) name = `${base}_${k}`;
    this.valueNames.add(name);
    return name;
  }

  private layerName(nc: NodeCtx, suffix?: string): string {
    const base0 = nc.node.name || `${nc.op}_${nc.index}`;
    const base = suffix ? `${base0}_${suffix}` : base0;
    let name = base;
    for (let k = 1; this.layerNames.has(name); k++) name = `${base}_${k}`;
    this.layerNames.add(name);
    return name;
  }

  /**
   * Adds a layer and returns its output value. Without `out` the layer writes the node's first output; with
   * `out: null` a fresh inner value. The output shape is checked here, so a mismatch names node and layer.
   */
  layer(nc: NodeCtx, kind: LayerKind, attrs: object, params: Record<string, HostTensor>, inputs: TVal[],
        opts: { suffix?: string; out?: string | null; batch?: number | null } = {}): TVal {
    const out = opts.out === undefined ? nc.outputs[0] : opts.out;
    if (out !== null && !out) throw new Error(`${nc.where}: the node has no output`);
    const output = out ?? this.freshValue(`${nc.outputs[0]}/${opts.suffix ?? kind}`);
    if (out !== null) {
      if (this.values.has(out)) throw new Error(`${nc.where}: value ${JSON.stringify(out)} is defined twice`);
    }
    const l: MLayer = { kind, name: this.layerName(nc, opts.suffix), inputs: inputs.map((v) => v.name), output, attrs: attrs as Record<string, unknown>, params };
    let shape: number[];
    try {
      shape = layerOutputShape(l as unknown as Layer, inputs.map((v) => v.shape));
    } catch (e) {
      throw new Error(`${nc.where}: ${(e as Error).message}`);
    }
    const x = inputs[0];
    let batch: number | null;
    if (opts.batch !== undefined) batch = opts.batch;
    else if (x.batch === null) batch = null;
    else if (shape.length === x.shape.length) batch = x.batch;
    else if ((BINARY_KINDS as readonly string[]).includes(kind) && shape.length > x.shape.length) batch = x.batch + shape.length - x.shape.length;
    else batch = null;
    this.layers.push(l);
    this.producer.set(output, l);
    const v: TVal = { kind: 'tensor', name: output, shape, batch };
    if (out !== null) this.values.set(out, v);
    return v;
  }

  // ---------------------------------------------------------------- helpers for weights and geometry

  host(c: Const, shape?: number[]): HostTensor {
    const s = shape ?? (c.shape.length === 0 ? [1] : c.shape);
    return { shape: s, data: c.data instanceof Float32Array ? c.data : Float32Array.from(c.data) };
  }

  pair(nc: NodeCtx, name: string, v: number[] | null, def: number, min: number): Pair {
    const p = v ?? [def, def];
    if (p.length !== 2 || p.some((x) => !Number.isInteger(x) || x < min)) {
      throw new Error(`${nc.where}: ${name} ${fmt(p)} must be two integers >= ${min} (only 2-D spatial ops are supported)`);
    }
    return [p[0], p[1]];
  }

  /** pads / auto_pad of Conv and the pools, as convis [top, left, bottom, right]. */
  spatialPads(nc: NodeCtx, x: TVal, kernel: Pair, stride: Pair, dilation: Pair): Pads {
    const autoPad = nc.a.string('auto_pad', 'NOTSET');
    if (autoPad === 'NOTSET' || autoPad === '') {
      const p = nc.a.ints('pads', [0, 0, 0, 0])!;
      if (p.length !== 4 || p.some((v) => v < 0)) throw new Error(`${nc.where}: pads ${fmt(p)} must be four integers >= 0 (2-D)`);
      return [p[0], p[1], p[2], p[3]];
    }
    if (autoPad === 'VALID') return [0, 0, 0, 0];
    if (autoPad !== 'SAME_UPPER' && autoPad !== 'SAME_LOWER') throw new Error(`${nc.where}: auto_pad ${JSON.stringify(autoPad)} is not known`);
    const begin: number[] = [], end: number[] = [];
    for (let i = 0; i < 2; i++) {
      const size = x.shape[2 + i];
      const outSize = Math.ceil(size / stride[i]);
      const total = Math.max(0, (outSize - 1) * stride[i] + (kernel[i] - 1) * dilation[i] + 1 - size);
      const small = Math.floor(total / 2);
      begin.push(autoPad === 'SAME_UPPER' ? small : total - small);
      end.push(total - begin[i]);
    }
    return [begin[0], begin[1], end[0], end[1]];
  }

  // ---------------------------------------------------------------- the operators

  convert(nc: NodeCtx): void {
    const { op, a, where } = nc;
    if (nc.node === this.cutSoftmax) {
      const x = this.tensorIn(nc, 0);
      this.setOut(nc, 0, x);
      return;
    }
    switch (op) {
      case 'Constant': return this.constant(nc);
      case 'Identity': {
        const v = this.val(nc, 0);
        if (!v) throw new Error(`${where}: input 0 is missing`);
        if (v.kind === 'const') return this.setOut(nc, 0, v);
        this.layer(nc, 'identity', {}, {}, [v]);
        return;
      }
      case 'Conv': return this.conv(nc);
      case 'Gemm': return this.gemm(nc);
      case 'MatMul': {
        const A = this.val(nc, 0), B = this.val(nc, 1);
        if (!A || !B) throw new Error(`${where}: needs two inputs`);
        if (A.kind !== 'tensor' || B.kind !== 'const') {
          throw new Error(`${where}: only MatMul(x, constant B) is supported (it becomes a linear layer)`);
        }
        if (B.c.shape.length !== 2) throw new Error(`${where}: B must be a 2-D constant [K, out], got ${fmt(B.c.shape)}`);
        if (A.shape.length !== 2) throw new Error(`${where}: the input must be 2-D [N, K] (a linear layer), got ${fmt(A.shape)}`);
        const [K, O] = B.c.shape;
        this.layer(nc, 'linear', {}, { w: { shape: [O, K], data: transpose2d(B.c.data, K, O) } }, [A], { batch: A.batch === 0 ? 0 : null });
        return;
      }
      case 'Add': case 'Sub': case 'Mul': case 'Div': return this.binary(nc, op);
      case 'Relu': this.layer(nc, 'relu', {}, {}, [this.tensorIn(nc, 0)]); return;
      case 'Sigmoid': this.layer(nc, 'sigmoid', {}, {}, [this.tensorIn(nc, 0)]); return;
      case 'LeakyRelu': this.layer(nc, 'leakyRelu', { alpha: a.float('alpha', 0.01) }, {}, [this.tensorIn(nc, 0)]); return;
      case 'Clip': {
        const x = this.tensorIn(nc, 0);
        let min: number, max: number;
        if (this.opset < 11) {
          min = a.float('min', -FLT_MAX);
          max = a.float('max', FLT_MAX);
        } else {
          const lo = this.optConst(nc, 1, 'min'), hi = this.optConst(nc, 2, 'max');
          min = lo ? scalar(lo, `${where}: min`) : -FLT_MAX;
          max = hi ? scalar(hi, `${where}: max`) : FLT_MAX;
        }
        min = Math.max(min, -FLT_MAX);
        max = Math.min(max, FLT_MAX);
        if (Number.isNaN(min) || Number.isNaN(max) || min > max) throw new Error(`${where}: min ${min} must not be above max ${max}`);
        this.layer(nc, 'clip', { min, max }, {}, [x]);
        return;
      }
      case 'MaxPool': case 'AveragePool': return this.pool(nc);
      case 'GlobalAveragePool': this.layer(nc, 'globalavgpool', {}, {}, [this.tensorIn(nc, 0, 4)]); return;
      case 'BatchNormalization': return this.batchNorm(nc);
      case 'LRN': {
        const size = a.int('size');
        if (size < 1) throw new Error(`${where}: size must be >= 1, got ${size}`);
        const attrs = { size, alpha: a.float('alpha', 1e-4), beta: a.float('beta', 0.75), k: a.float('bias', 1) };
        this.layer(nc, 'lrn', attrs, {}, [this.tensorIn(nc, 0, 4)]);
        return;
      }
      case 'Flatten': {
        const v = this.val(nc, 0);
        if (!v) throw new Error(`${where}: input 0 is missing`);
        const axis = a.int('axis', 1);
        const shape = v.kind === 'const' ? v.c.shape : v.shape;
        const ax = axis === shape.length ? axis : normAxis(axis, shape.length, where);
        if (v.kind === 'const') {
          return this.setOut(nc, 0, { kind: 'const', c: reshapeConst(v.c, [prod(shape.slice(0, ax)), prod(shape.slice(ax))], where) });
        }
        this.layer(nc, 'flatten', { axis: ax }, {}, [v], { batch: v.batch === 0 && ax >= 1 ? 0 : null });
        return;
      }
      case 'Reshape': return this.reshape(nc);
      case 'Transpose': {
        const v = this.val(nc, 0);
        if (!v) throw new Error(`${where}: input 0 is missing`);
        const perm = a.ints('perm', null);
        if (v.kind === 'const') return this.setOut(nc, 0, { kind: 'const', c: transposeConst(v.c, perm, where) });
        if (perm && perm.length === v.shape.length && perm.every((p, i) => p === i || p === i - perm.length)) {
          this.layer(nc, 'identity', {}, {}, [v]);
          return;
        }
        throw new Error(`${where}: Transpose of a computed value is not supported (only constant inputs are folded)`);
      }
      case 'Dropout': return this.dropout(nc);
      case 'Softmax': return this.softmax(nc);
      case 'Concat': {
        const vs = nc.inputs.map((_, i) => this.val(nc, i)).filter((v): v is Val => v !== undefined);
        if (vs.length === 0) throw new Error(`${where}: no inputs`);
        const axis = a.int('axis', this.opset < 4 ? 1 : undefined);
        if (vs.every((v) => v.kind === 'const')) {
          return this.setOut(nc, 0, { kind: 'const', c: concatConst(vs.map((v) => (v as CVal).c), axis, where) });
        }
        if (!vs.every((v) => v.kind === 'tensor')) {
          throw new Error(`${where}: concatenating computed values with constants is not supported`);
        }
        const ts = vs as TVal[];
        const ax = normAxis(axis, ts[0].shape.length, where);
        this.layer(nc, 'concat', { axis: ax }, {}, ts, { batch: ts[0].batch === ax ? null : ts[0].batch });
        return;
      }
      case 'Pad': return this.pad(nc);
      case 'Shape': {
        const v = this.val(nc, 0);
        if (!v) throw new Error(`${where}: input 0 is missing`);
        const shape = v.kind === 'const' ? v.c.shape : v.shape;
        const r = shape.length;
        const clampAxis = (x: number) => Math.min(Math.max(x < 0 ? x + r : x, 0), r);
        const start = this.opset >= 15 ? clampAxis(a.int('start', 0)) : 0;
        const end = this.opset >= 15 ? clampAxis(a.int('end', r)) : r;
        const dims = shape.slice(start, Math.max(start, end));
        const batch = dims.map((_, i) => v.kind === 'tensor' && v.batch === start + i);
        return this.setOut(nc, 0, { kind: 'const', c: makeConst([dims.length], Float64Array.from(dims), false, batch) });
      }
      case 'Gather': {
        const data = this.val(nc, 0);
        if (data?.kind === 'tensor') throw new Error(`${where}: Gather from a computed value is not supported (only constants are folded)`);
        const c = gatherConst(this.constIn(nc, 0, 'data'), this.constIn(nc, 1, 'indices'), a.int('axis', 0), where);
        return this.setOut(nc, 0, { kind: 'const', c });
      }
      case 'Unsqueeze': case 'Squeeze': return this.squeeze(nc, op);
      case 'Cast': {
        const to = a.int('to');
        const v = this.val(nc, 0);
        if (!v) throw new Error(`${where}: input 0 is missing`);
        if (v.kind === 'const') return this.setOut(nc, 0, { kind: 'const', c: castConst(v.c, to, where) });
        if (to !== DT.FLOAT) throw new Error(`${where}: casting a computed value to ${dtypeName(to)} is not supported (convis computes in float32)`);
        this.layer(nc, 'identity', {}, {}, [v]);
        return;
      }
      case 'Slice': {
        const data = this.val(nc, 0);
        if (data?.kind === 'tensor') throw new Error(`${where}: Slice of a computed value is not supported (only constants are folded)`);
        const c = this.constIn(nc, 0, 'data');
        let out: Const;
        if (this.opset < 10) {
          out = sliceConst(c, a.ints('starts')!, a.ints('ends')!, a.ints('axes', null), null, where);
        } else {
          const opt = (i: number, what: string) => {
            const x = this.optConst(nc, i, what);
            return x ? ints(x, `${where}: ${what}`) : null;
          };
          out = sliceConst(c, ints(this.constIn(nc, 1, 'starts'), where), ints(this.constIn(nc, 2, 'ends'), where), opt(3, 'axes'), opt(4, 'steps'), where);
        }
        return this.setOut(nc, 0, { kind: 'const', c: out });
      }
      case 'ConstantOfShape': {
        const t = a.tensor('value');
        const value = t ? decodeTensor(t, `${where}: value`, this.external.get(t)) : null;
        return this.setOut(nc, 0, { kind: 'const', c: constantOfShape(this.constIn(nc, 0, 'shape'), value, where) });
      }
      default:
        throw new Error(`unsupported operator ${show(op)} in ${where}; supported: ${SUPPORTED_OPS.join(', ')}`);
    }
  }

  private constant(nc: NodeCtx): void {
    const { a, where } = nc;
    let c: Const;
    const t = a.tensor('value');
    if (t) c = decodeTensor(t, `${where}: value`, this.external.get(t));
    else if (a.has('value_float')) c = { shape: [], data: Float32Array.of(a.float('value_float')), isFloat: true };
    else if (a.has('value_floats')) {
      const f = a.floats('value_floats')!;
      c = { shape: [f.length], data: Float32Array.from(f), isFloat: true };
    } else if (a.has('value_int')) c = { shape: [], data: Float64Array.of(a.int('value_int')), isFloat: false };
    else if (a.has('value_ints')) {
      const v = a.ints('value_ints')!;
      c = { shape: [v.length], data: Float64Array.from(v), isFloat: false };
    } else {
      throw new Error(`${where}: only value, value_float(s) and value_int(s) constants are supported`);
    }
    this.setOut(nc, 0, { kind: 'const', c });
  }

  private conv(nc: NodeCtx): void {
    const { a, where } = nc;
    const x = this.tensorIn(nc, 0, 4);
    const w = this.constIn(nc, 1, 'W');
    if (w.shape.length !== 4) throw new Error(`${where}: only 2-D convolution is supported; W has shape ${fmt(w.shape)}`);
    const b = this.optConst(nc, 2, 'B');
    const [O, , KH, KW] = w.shape;
    const groups = a.int('group', 1);
    if (groups < 1 || O % groups !== 0) throw new Error(`${where}: group ${groups} must be >= 1 and divide the ${O} output channels`);
    const ks = a.ints('kernel_shape', null);
    if (ks && (ks.length !== 2 || ks[0] !== KH || ks[1] !== KW)) throw new Error(`${where}: kernel_shape ${fmt(ks)} disagrees with W ${fmt(w.shape)}`);
    const stride = this.pair(nc, 'strides', a.ints('strides', null), 1, 1);
    const dilation = this.pair(nc, 'dilations', a.ints('dilations', null), 1, 1);
    const padding = this.spatialPads(nc, x, [KH, KW], stride, dilation);
    const params: Record<string, HostTensor> = { w: this.host(w) };
    if (b) {
      if (b.data.length !== O) throw new Error(`${where}: B ${fmt(b.shape)} must hold ${O} values`);
      params.b = this.host(b, [O]);
    }
    this.layer(nc, 'conv', { stride, padding, dilation, groups }, params, [x]);
  }

  private gemm(nc: NodeCtx): void {
    const { a, where } = nc;
    const A = this.val(nc, 0), B = this.val(nc, 1);
    if (!A || !B) throw new Error(`${where}: needs inputs A and B`);
    if (A.kind !== 'tensor') throw new Error(`${where}: A must be computed from the model input (a constant A is not supported)`);
    if (B.kind !== 'const') throw new Error(`${where}: only a constant B is supported (it becomes a linear layer's weights)`);
    if (a.int('transA', 0) !== 0) throw new Error(`${where}: transA = 1 on a computed input is not supported`);
    if (A.shape.length !== 2) throw new Error(`${where}: A must be 2-D [N, K], got ${fmt(A.shape)}`);
    if (B.c.shape.length !== 2) throw new Error(`${where}: B must be 2-D, got ${fmt(B.c.shape)}`);
    const transB = a.int('transB', 0) !== 0;
    const alpha = a.float('alpha', 1), beta = a.float('beta', 1);
    const [r, c] = B.c.shape;
    const [O, K] = transB ? [r, c] : [c, r];
    const wdata = transB ? Float32Array.from(B.c.data, (v) => v * alpha) : transpose2d(B.c.data, r, c, alpha);
    const params: Record<string, HostTensor> = { w: { shape: [O, K], data: wdata } };
    const C = this.val(nc, 2);
    if (C?.kind === 'const') {
      const s = C.c.shape;
      const ok = s.length <= 2 && (s.length < 1 || s[s.length - 1] === 1 || s[s.length - 1] === O) && (s.length < 2 || s[0] === 1);
      if (!ok) throw new Error(`${where}: C ${fmt(s)} must broadcast to [1, ${O}] (a bias shared by every row)`);
      const bias = new Float32Array(O);
      for (let i = 0; i < O; i++) bias[i] = beta * C.c.data[C.c.data.length === 1 ? 0 : i];
      params.b = { shape: [O], data: bias };
    }
    const batch = A.batch === 0 ? 0 : null;
    if (C?.kind !== 'tensor') {
      this.layer(nc, 'linear', {}, params, [A], { batch });
      return;
    }
    const y = this.layer(nc, 'linear', {}, params, [A], { out: null, suffix: 'linear', batch });
    const cTerm = beta === 1 ? C : this.layer(nc, 'mul', {}, { b: { shape: [1], data: Float32Array.of(beta) } }, [C], { out: null, suffix: 'beta' });
    this.layer(nc, 'add', {}, {}, [y, cTerm], { batch });
  }

  private binary(nc: NodeCtx, op: 'Add' | 'Sub' | 'Mul' | 'Div'): void {
    const { a, where } = nc;
    const A = this.val(nc, 0);
    let B = this.val(nc, 1);
    if (!A || !B) throw new Error(`${where}: needs two inputs`);
    // before opset 7: broadcast = 1 with axis aligns B's dims starting at axis of A
    if (this.opset < 7 && a.int('broadcast', 0) === 1 && a.has('axis') && B.kind === 'const') {
      const rankA = A.kind === 'const' ? A.c.shape.length : A.shape.length;
      const axis = normAxis(a.int('axis'), rankA, where);
      const trail = rankA - axis - B.c.shape.length;
      if (trail < 0) throw new Error(`${where}: B ${fmt(B.c.shape)} does not fit A at axis ${axis}`);
      B = { kind: 'const', c: { ...B.c, shape: [...B.c.shape, ...new Array<number>(trail).fill(1)] } };
    }
    if (A.kind === 'const' && B.kind === 'const') return this.setOut(nc, 0, { kind: 'const', c: binaryConst(op, A.c, B.c, where) });
    const kind = op.toLowerCase() as 'add' | 'sub' | 'mul' | 'div';
    if (A.kind === 'tensor' && B.kind === 'const') {
      this.layer(nc, kind, {}, { b: this.host(B.c) }, [A]);
      return;
    }
    if (A.kind === 'const' && B.kind === 'tensor') {
      if (op === 'Add' || op === 'Mul') {
        this.layer(nc, kind, {}, { b: this.host(A.c) }, [B]);
        return;
      }
      if (op === 'Sub') {
        // c - x = (x * -1) + c
        const neg = this.layer(nc, 'mul', {}, { b: { shape: [1], data: Float32Array.of(-1) } }, [B], { out: null, suffix: 'neg' });
        this.layer(nc, 'add', {}, { b: this.host(A.c) }, [neg]);
        return;
      }
      throw new Error(`${where}: Div with a constant numerator (c / x) is not supported; convis has no reciprocal layer`);
    }
    this.layer(nc, kind, {}, {}, [A as TVal, B as TVal]);
  }

  private pool(nc: NodeCtx): void {
    const { a, where, op } = nc;
    const x = this.tensorIn(nc, 0, 4);
    if (op === 'MaxPool' && nc.outputs.length > 1 && nc.outputs[1]) {
      throw new Error(`${where}: the Indices output of MaxPool is not supported`);
    }
    const kernel = this.pair(nc, 'kernel_shape', a.ints('kernel_shape'), 1, 1);
    const stride = this.pair(nc, 'strides', a.ints('strides', null), 1, 1);
    const dilation = this.pair(nc, 'dilations', a.ints('dilations', null), 1, 1);
    if (dilation[0] !== 1 || dilation[1] !== 1) throw new Error(`${where}: dilated pooling (dilations ${fmt(dilation)}) is not supported`);
    const padding = this.spatialPads(nc, x, kernel, stride, dilation);
    if (2 * Math.max(padding[0], padding[2]) > kernel[0] || 2 * Math.max(padding[1], padding[3]) > kernel[1]) {
      throw new Error(`${where}: pads ${fmt(padding)} must be at most half the ${kernel[0]}x${kernel[1]} kernel on each side`);
    }
    const ceilMode = a.int('ceil_mode', 0) !== 0;
    if (op === 'MaxPool') {
      this.layer(nc, 'maxpool', { kernel, stride, padding, ceilMode }, {}, [x]);
    } else {
      this.layer(nc, 'avgpool', { kernel, stride, padding, ceilMode, countIncludePad: a.int('count_include_pad', 0) !== 0 }, {}, [x]);
    }
  }

  private batchNorm(nc: NodeCtx): void {
    const { a, where } = nc;
    const x = this.tensorIn(nc, 0);
    if (nc.outputs.slice(1).some((o) => o)) {
      throw new Error(`${where}: training-mode outputs (running or saved mean and variance) are not supported`);
    }
    if (a.int('training_mode', 0) !== 0) throw new Error(`${where}: training_mode = 1 is not supported`);
    if (this.opset < 9 && a.int('spatial', 1) === 0) throw new Error(`${where}: spatial = 0 (per-activation statistics) is not supported`);
    const eps = a.float('epsilon', 1e-5);
    if (x.shape.length < 2) throw new Error(`${where}: the input must be [N, C, ...], got ${fmt(x.shape)}`);
    const C = x.shape[1];
    const [gamma, beta, mean, variance] = ['scale', 'B', 'mean', 'var'].map((what, i) => {
      const c = this.constIn(nc, i + 1, what);
      if (c.data.length !== C) throw new Error(`${where}: ${what} ${fmt(c.shape)} must hold ${C} values (the channels of ${fmt(x.shape)})`);
      return c.data;
    });
    const conv = this.producer.get(x.name);
    const idx = conv ? this.layers.indexOf(conv) : -1;
    const src = nc.inputs[0];
    if (this.foldBatchNorm && conv && conv.kind === 'conv' && idx >= 0 && src === x.name && this.consumers.get(src) === 1 && !this.graphOutputs.has(src)) {
      // fold: w' = w * s, b' = (b - mean) * s + beta with s = gamma / sqrt(var + eps), per output channel
      const w = conv.params.w, b = conv.params.b;
      const per = w.data.length / C;
      const wd = new Float32Array(w.data.length), bd = new Float32Array(C);
      for (let o = 0; o < C; o++) {
        const s = gamma[o] / Math.sqrt(variance[o] + eps);
        for (let k = 0; k < per; k++) wd[o * per + k] = w.data[o * per + k] * s;
        bd[o] = ((b ? b.data[o] : 0) - mean[o]) * s + beta[o];
      }
      const out = nc.outputs[0];
      if (!out) throw new Error(`${where}: the node has no output`);
      if (this.values.has(out)) throw new Error(`${where}: value ${JSON.stringify(out)} is defined twice`);
      const folded: MLayer = { ...conv, output: out, params: { w: { shape: w.shape, data: wd }, b: { shape: [C], data: bd } } };
      this.layers[idx] = folded;
      this.producer.delete(x.name);
      this.producer.set(out, folded);
      this.values.set(out, { ...x, name: out });
      return;
    }
    const f32 = (d: Float32Array | Float64Array) => (d instanceof Float32Array ? d : Float32Array.from(d));
    const params = {
      mean: { shape: [C], data: f32(mean) }, var: { shape: [C], data: f32(variance) },
      gamma: { shape: [C], data: f32(gamma) }, beta: { shape: [C], data: f32(beta) },
    };
    this.layer(nc, 'batchnorm', { eps }, params, [x]);
  }

  private reshape(nc: NodeCtx): void {
    const { a, where } = nc;
    const v = this.val(nc, 0);
    if (!v) throw new Error(`${where}: input 0 is missing`);
    let target: number[];
    let tags: readonly boolean[] = [];
    if (this.opset < 5) {
      target = a.ints('shape')!;
    } else {
      const s = this.constIn(nc, 1, 'shape');
      if (s.shape.length !== 1) throw new Error(`${where}: shape must be 1-D, got ${fmt(s.shape)}`);
      target = ints(s, `${where}: shape`);
      tags = s.batch ?? [];
    }
    const allowZero = this.opset >= 14 && a.int('allowzero', 0) !== 0;
    if (allowZero && target.includes(0)) throw new Error(`${where}: allowzero = 1 with a 0 in the shape (an empty tensor) is not supported`);
    if (v.kind === 'const') return this.setOut(nc, 0, { kind: 'const', c: reshapeConst(v.c, target, where) });
    const t = target.map((d, i) => {
      if (!tags[i]) return d;
      if (v.batch !== i) throw new Error(`${where}: the target shape puts the batch size at axis ${i}, which convis cannot express`);
      return 0;
    });
    const batch = v.batch !== null && t[v.batch] === 0 ? v.batch : null;
    this.layer(nc, 'reshape', { shape: t }, {}, [v], { batch });
  }

  private squeeze(nc: NodeCtx, op: 'Squeeze' | 'Unsqueeze'): void {
    const { a, where } = nc;
    const v = this.val(nc, 0);
    if (!v) throw new Error(`${where}: input 0 is missing`);
    let axes: number[] | null;
    if (this.opset < 13) axes = a.ints('axes', op === 'Squeeze' ? null : undefined);
    else {
      const c = this.optConst(nc, 1, 'axes');
      axes = c ? ints(c, `${where}: axes`) : null;
      if (!axes && op === 'Unsqueeze') throw new Error(`${where}: axes are required`);
    }
    if (v.kind === 'const') {
      const c = op === 'Squeeze' ? squeezeConst(v.c, axes, where) : unsqueezeConst(v.c, axes!, where);
      return this.setOut(nc, 0, { kind: 'const', c });
    }
    // on a computed value: a reshape to the static shape, keeping the batch axis where it is (only the shape is used)
    const probe: Const = { shape: v.shape, data: new Float64Array(0), isFloat: false };
    const r = v.shape.length;
    let shape: number[];
    let batchAt: number | null = null;
    if (op === 'Squeeze') {
      const norm = axes ? axes.map((x) => normAxis(x, r, where)) : v.shape.map((d, i) => (d === 1 && i !== v.batch ? i : -1)).filter((i) => i >= 0);
      shape = squeezeConst(probe, norm, where).shape;
      if (v.batch !== null && !norm.includes(v.batch)) batchAt = v.batch - norm.filter((i) => i < v.batch!).length;
    } else {
      const rOut = r + axes!.length;
      const norm = axes!.map((x) => normAxis(x, rOut, where));
      shape = unsqueezeConst(probe, norm, where).shape;
      if (v.batch !== null) {
        let k = -1;
        for (let i = 0, j = 0; i < rOut; i++) if (!norm.includes(i) && j++ === v.batch) k = i;
        batchAt = k;
      }
    }
    if (v.batch !== null && batchAt !== v.batch) {
      throw new Error(`${where}: ${op} on a computed value moves or removes the batch axis, which convis cannot express`);
    }
    const target = shape.map((d, i) => (i === batchAt ? 0 : d));
    this.layer(nc, 'reshape', { shape: target }, {}, [v], { batch: batchAt });
  }

  private dropout(nc: NodeCtx): void {
    const { a, where } = nc;
    const v = this.val(nc, 0);
    if (!v) throw new Error(`${where}: input 0 is missing`);
    if (this.used(nc.outputs[1])) throw new Error(`${where}: the mask output of Dropout is not supported`);
    if (v.kind === 'const') return this.setOut(nc, 0, v);
    let p = 0.5;
    if (this.opset < 12) p = a.float('ratio', 0.5);
    else {
      const r = this.optConst(nc, 1, 'ratio');
      if (r) p = scalar(r, `${where}: ratio`);
      const training = this.optConst(nc, 2, 'training_mode');
      if (training && scalar(training, `${where}: training_mode`) !== 0) throw new Error(`${where}: training_mode = true is not supported`);
    }
    if (!(p >= 0 && p < 1)) throw new Error(`${where}: ratio ${p} must be in [0, 1)`);
    this.layer(nc, 'dropout', { p }, {}, [v]);
  }

  private softmax(nc: NodeCtx): void {
    const { a, where } = nc;
    const x = this.tensorIn(nc, 0);
    const r = x.shape.length;
    if (this.opset >= 13) {
      this.layer(nc, 'softmax', { axis: normAxis(a.int('axis', -1), r, where) }, {}, [x]);
      return;
    }
    // before opset 13: the input is coerced to 2-D [prod(shape[:axis]), prod(shape[axis:])] and each row normalised
    const axis = normAxis(a.int('axis', 1), r, where);
    if (prod(x.shape.slice(axis + 1)) === 1) {
      this.layer(nc, 'softmax', { axis }, {}, [x]);
      return;
    }
    if (x.batch !== null && x.batch >= axis) {
      throw new Error(`${where}: softmax axis ${axis} (opset ${this.opset}) normalises across the batch axis, which convis cannot express`);
    }
    const keep = new Array<number>(axis).fill(0);
    const flat = this.layer(nc, 'reshape', { shape: [...keep, -1] }, {}, [x], { out: null, suffix: 'coerce' });
    const y = this.layer(nc, 'softmax', { axis }, {}, [flat], { out: null });
    this.layer(nc, 'reshape', { shape: [...keep, ...x.shape.slice(axis)] }, {}, [y], { suffix: 'restore', batch: x.batch });
  }

  private pad(nc: NodeCtx): void {
    const { a, where } = nc;
    const x = this.tensorIn(nc, 0, 4);
    const mode = a.string('mode', 'constant');
    if (mode !== 'constant') throw new Error(`${where}: mode ${JSON.stringify(mode)} is not supported (only constant)`);
    let pads: number[];
    let value = 0;
    let axes: number[] | null = null;
    if (this.opset < 11) {
      pads = a.ints(this.opset < 2 && a.has('paddings') ? 'paddings' : 'pads')!;
      value = a.float('value', 0);
    } else {
      pads = ints(this.constIn(nc, 1, 'pads'), `${where}: pads`);
      const cv = this.optConst(nc, 2, 'constant_value');
      if (cv) value = scalar(cv, `${where}: constant_value`);
      const ax = this.optConst(nc, 3, 'axes');
      if (ax) axes = ints(ax, `${where}: axes`);
    }
    const full = new Array<number>(8).fill(0);
    if (axes) {
      if (pads.length !== 2 * axes.length) throw new Error(`${where}: pads ${fmt(pads)} must hold two values per axis of ${fmt(axes)}`);
      axes.forEach((ax, i) => {
        const k = normAxis(ax, 4, where);
        full[k] = pads[i];
        full[k + 4] = pads[i + axes!.length];
      });
    } else {
      if (pads.length !== 8) throw new Error(`${where}: pads ${fmt(pads)} must hold 8 values for a 4-D input`);
      pads.forEach((p, i) => { full[i] = p; });
    }
    if (full[0] || full[1] || full[4] || full[5]) throw new Error(`${where}: padding the batch or channel axis (pads ${fmt(full)}) is not supported`);
    if (full.some((p) => p < 0)) throw new Error(`${where}: negative pads ${fmt(full)} (cropping) are not supported`);
    if (!Number.isFinite(value)) throw new Error(`${where}: the pad value ${value} must be finite`);
    this.layer(nc, 'pad', { pads: [full[2], full[3], full[6], full[7]], value }, {}, [x]);
  }
}

// ------------------------------------------------------------------ the model

function checkPreprocess(json: string, what = 'metadata convis.preprocess'): Preprocess {
  let p: unknown;
  try {
    p = JSON.parse(json);
  } catch (e) {
    throw new Error(`${what} is not JSON: ${(e as Error).message}`);
  }
  const o = p as Partial<Preprocess>;
  const nums = (v: unknown) => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!o || typeof o !== 'object' || !nums(o.mean) || !nums(o.std) || o.mean!.length !== o.std!.length ||
      o.std!.some((s) => s === 0) || (o.channelOrder !== 'RGB' && o.channelOrder !== 'BGR') || (o.scale !== 1 && o.scale !== 255)) {
    throw new Error(`${what} ${json.slice(0, 200)} is not { mean: number[], std: number[] (non-zero), channelOrder: 'RGB' | 'BGR', scale: 1 | 255 }`);
  }
  return { mean: [...o.mean!], std: [...o.std!], channelOrder: o.channelOrder, scale: o.scale };
}

function describeDim(d: DimProto | undefined): string {
  if (!d) return '?';
  if (d.dimParam) return d.dimParam;
  const v = toNum(d.dimValue);
  return Number.isFinite(v) && v > 0 ? String(v) : '?';
}

/** Kahn's order over the nodes (ONNX files should already be sorted; this also finds cycles). */
function topoOrder(nodes: NodeProto[]): number[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => (n.output ?? []).forEach((o) => { if (o && !producer.has(o)) producer.set(o, i); }));
  const deps = nodes.map((n) => new Set((n.input ?? []).map((v) => producer.get(v)).filter((p): p is number => p !== undefined)));
  const users: number[][] = nodes.map(() => []);
  deps.forEach((ds, i) => ds.forEach((d) => users[d].push(i)));
  const pending = deps.map((d) => d.size);
  const ready = pending.map((p, i) => (p === 0 ? i : -1)).filter((i) => i >= 0);
  const order: number[] = [];
  for (let k = 0; k < ready.length; k++) {
    const i = ready[k];
    order.push(i);
    for (const u of users[i]) if (--pending[u] === 0) ready.push(u);
  }
  if (order.length !== nodes.length) {
    const stuck = nodes.findIndex((_, i) => pending[i] > 0);
    throw new Error(`the graph has a cycle (through node ${JSON.stringify(nodes[stuck]?.name || `#${stuck}`)})`);
  }
  // the file's own order where it is already topological
  return isSorted(nodes, producer) ? nodes.map((_, i) => i) : order;
}

function isSorted(nodes: NodeProto[], producer: Map<string, number>): boolean {
  return nodes.every((n, i) => (n.input ?? []).every((v) => (producer.get(v) ?? -1) < i));
}

async function readSource(source: unknown): Promise<{ bytes: Uint8Array; baseDir: string | null; from: string }> {
  if (typeof source === 'string') {
    if (source === '') throw new Error('source must be a file path or a Uint8Array, got an empty string');
    try {
      return { bytes: await readFile(source), baseDir: path.dirname(path.resolve(source)), from: ` (${JSON.stringify(source)})` };
    } catch (e) {
      throw new Error(`cannot read ${JSON.stringify(source)}: ${(e as Error).message}`);
    }
  }
  if (source instanceof Uint8Array) return { bytes: source, baseDir: null, from: '' };
  const what = source === null ? 'null' : Array.isArray(source) ? 'an array' : typeof source;
  throw new Error(`source must be a file path (string) or the file's bytes (Uint8Array), got ${what}`);
}

async function load(source: unknown, opts: LoadOnnxOptions): Promise<Model> {
  if (opts === null || typeof opts !== 'object') throw new Error(`opts must be an object, got ${opts === null ? 'null' : typeof opts}`);
  const quiet = opts.quiet === true;
  if (opts.foldBatchNorm !== undefined && typeof opts.foldBatchNorm !== 'boolean') {
    throw new Error(`opts.foldBatchNorm must be a boolean, got ${String(opts.foldBatchNorm)}`);
  }
  const { bytes, baseDir, from } = await readSource(source);
  if (bytes.length === 0) throw new Error(`not an ONNX model${from}: it is empty (0 bytes)`);

  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new Error(`not a valid ONNX model${from}: protobuf decoding failed (${(e as Error).message})`);
  }
  const graph = model?.graph as unknown as GraphProto | null | undefined;
  if (!graph || typeof graph !== 'object') throw new Error(`not a valid ONNX model${from}: it has no graph`);
  for (const k of ['node', 'initializer', 'input', 'output'] as const) {
    if (!Array.isArray(graph[k])) throw new Error(`not a valid ONNX model${from}: graph.${k} is not a list`);
  }
  if (graph.node!.length === 0) throw new Error(`not a valid ONNX model${from}: the graph has no nodes`);
  graph.node!.forEach((n, i) => {
    if (!n || typeof n.opType !== 'string' || !Array.isArray(n.input) || !Array.isArray(n.output)) {
      throw new Error(`not a valid ONNX model${from}: node #${i} is malformed`);
    }
  });

  // the default-domain opset
  const imports = Array.isArray(model.opsetImport) ? model.opsetImport : [];
  const main = imports.find((o) => !o.domain || o.domain === 'ai.onnx');
  if (!main) throw new Error(`the model${from} imports no ai.onnx opset (opset_import is ${imports.length ? 'for other domains only' : 'empty'})`);
  const opset = toNum(main.version);
  if (!Number.isInteger(opset) || opset < 1) throw new Error(`the model${from} imports ai.onnx opset ${opset}, which is not valid`);
  if (opset > MAX_TESTED_OPSET && !quiet) {
    process.stderr.write(`loadOnnx: opset ${opset} is newer than ${MAX_TESTED_OPSET}, the newest this importer was checked against\n`);
  }

  // external data (initializers and Constant node values), read before the synchronous walk
  const external = new Map<object, Uint8Array>();
  const pending: [TensorProtoLike, string][] = graph.initializer!.map((t, i) => [t, `initializer ${JSON.stringify(t?.name || `#${i}`)}`]);
  graph.node!.forEach((n, i) => {
    for (const at of n.attribute ?? []) if (at?.t) pending.push([at.t, `node ${JSON.stringify(n.name || `#${i}`)} (${n.opType}) attribute ${at.name}`]);
  });
  for (const [t, where] of pending) if (t && isExternal(t)) external.set(t, await readExternal(t, baseDir, where));

  const im = new Importer(opset, graph, external, opts.foldBatchNorm ?? true);

  // initializers
  const initNames = new Set<string>();
  graph.initializer!.forEach((t, i) => {
    const name = t?.name;
    if (!name) throw new Error(`initializer #${i} has no name`);
    const where = `initializer ${JSON.stringify(name)}`;
    im.values.set(name, { kind: 'const', c: decodeTensor(t, where, external.get(t)) });
    initNames.add(name);
  });

  // the input: [N, C, H, W] with C, H and W fixed
  const inputs = graph.input!.filter((v) => v && v.name && !initNames.has(v.name));
  if (inputs.length === 0) throw new Error('the graph has no input (every graph input is an initializer)');
  const input = inputs[0];
  const inputName = input.name!;
  const tt = input.type?.tensorType;
  const dims = tt?.shape?.dim;
  if (!tt || !Array.isArray(dims)) throw new Error(`the input ${JSON.stringify(inputName)} has no tensor shape; convis needs a 4-D [N, C, H, W] input`);
  if (dims.length !== 4) {
    throw new Error(`the input ${JSON.stringify(inputName)} must be 4-D [N, C, H, W], got ${dims.length}-D [${dims.map(describeDim).join(', ')}]`);
  }
  if (tt.elemType && tt.elemType !== DT.FLOAT) {
    throw new Error(`the input ${JSON.stringify(inputName)} has element type ${dtypeName(tt.elemType)}; convis feeds float32`);
  }
  const chw = dims.slice(1).map((d) => (d.dimParam ? NaN : toNum(d.dimValue)));
  if (chw.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`the input ${JSON.stringify(inputName)} [${dims.map(describeDim).join(', ')}] must have fixed C, H and W`);
  }
  elementCount(chw, `the input ${JSON.stringify(inputName)}`);
  im.values.set(inputName, { kind: 'tensor', name: inputName, shape: [1, ...chw], batch: 0 });
  for (const extra of inputs.slice(1)) im.extraInputs.add(extra.name!);

  // the output
  const outputs = graph.output!.map((o) => o?.name ?? '');
  if (outputs.length !== 1 || !outputs[0]) {
    throw new Error(`the graph has ${outputs.length} outputs (${outputs.map((o) => JSON.stringify(o)).join(', ')}); convis models have one`);
  }
  const outName = outputs[0];
  const nodes = graph.node!;
  const finalNode = nodes.find((n) => n.output!.includes(outName));
  // cut only when nothing but the graph output reads the probabilities
  if (finalNode && finalNode.opType === 'Softmax' && (!finalNode.domain || finalNode.domain === 'ai.onnx') &&
      finalNode.output![0] === outName && !nodes.some((n) => n.input!.includes(outName))) {
    im.cutSoftmax = finalNode;
  }

  for (const i of topoOrder(nodes)) {
    const node = nodes[i];
    const op = node.opType!;
    const where = `node ${JSON.stringify(node.name || `#${i}`)} (${show(op)})`;
    if (node.domain && node.domain !== 'ai.onnx') {
      throw new Error(`unsupported operator ${show(`${node.domain}.${op}`)} in ${where}; supported (ai.onnx): ${SUPPORTED_OPS.join(', ')}`);
    }
    for (const v of node.input!) {
      if (im.extraInputs.has(v)) {
        throw new Error(`${where} reads the graph input ${JSON.stringify(v)}; convis models have one input (${JSON.stringify(inputName)})`);
      }
    }
    im.convert({ node, op, index: i, where, inputs: node.input!, outputs: node.output!, a: new AttrReader(node, where) });
  }

  const out = im.values.get(outName);
  if (!out) throw new Error(`no node produces the graph output ${JSON.stringify(outName)}`);
  if (out.kind !== 'tensor') throw new Error(`the graph output ${JSON.stringify(outName)} is a constant (it does not depend on the input)`);

  // keep only the layers the output depends on
  const needed = new Set<string>([out.name]);
  const kept: MLayer[] = [];
  for (let i = im.layers.length - 1; i >= 0; i--) {
    const l = im.layers[i];
    if (!needed.has(l.output)) continue;
    kept.unshift(l);
    for (const v of l.inputs) needed.add(v);
  }
  let output = out.name;
  if (kept.length === 0) {
    const id = `${out.name}/identity`;
    kept.push({ kind: 'identity', name: 'identity', inputs: [out.name], output: id, attrs: {}, params: {} });
    output = id;
  }

  // metadata
  let preprocess: Preprocess | undefined;
  let removedSoftmax = im.cutSoftmax !== null;
  let classNames: string[] | undefined;
  for (const p of Array.isArray(model.metadataProps) ? model.metadataProps : []) {
    if (p?.key === 'convis.classNames') {
      let v: unknown;
      try {
        v = JSON.parse(String(p.value ?? ''));
      } catch {
        v = null;
      }
      if (!Array.isArray(v) || v.some((n) => typeof n !== 'string')) throw new Error('metadata convis.classNames must be a JSON array of strings');
      classNames = v as string[];
    }
    if (p?.key === 'convis.preprocess') preprocess = checkPreprocess(String(p.value ?? ''));
    if (p?.key === 'convis.removedSoftmax' && String(p.value).trim().toLowerCase() === 'true') removedSoftmax = true;
  }
  if (opts.preprocess !== undefined) preprocess = checkPreprocess(JSON.stringify(opts.preprocess ?? null), 'opts.preprocess');

  let result: Model;
  try {
    result = new Model(chw, kept as unknown as Layer[], {
      name: graph.name || 'model', input: inputName, output, preprocess, removedSoftmax, classNames,
    });
  } catch (e) {
    throw new Error(`the converted graph does not check: ${(e as Error).message}`);
  }
  if (im.cutSoftmax && !quiet) {
    const n = im.cutSoftmax;
    process.stderr.write(`loadOnnx: removed the final Softmax (node ${JSON.stringify(n.name || n.output![0])}); ` +
      `the model outputs the unnormalised scores ${JSON.stringify(output)}\n`);
  }
  return result;
}

/**
 * Loads an ONNX model (a file path or the file's bytes) as a convis Model. A final Softmax is cut off, with a
 * notice on stderr unless opts.quiet. Every failure rejects with an Error whose message starts with `loadOnnx:`.
 */
export async function loadOnnx(source: string | Uint8Array, opts: LoadOnnxOptions = {}): Promise<Model> {
  try {
    return await load(source, opts ?? {});
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg.startsWith('loadOnnx:')) throw e;
    throw new Error(`loadOnnx: ${msg}`, { cause: e });
  }
}
