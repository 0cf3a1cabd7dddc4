// ONNX export: a Model written as a standard ONNX file (IR version 7, default-domain opset 13) that onnxruntime
// and other ONNX tools load. One node per layer (node name = layer name, output value = layer output), weights
// as float32 initializers named `<layer>.<param>` in raw little-endian bytes, and the constants that opset 13
// passes as inputs (Clip bounds, Reshape shape, Pad pads and value) as initializers named the same way.
// The batch axis is symbolic ('N'). The output is deterministic: the same model gives the same bytes.

import { writeFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import { type HostTensor, type Layer, type LayerAttrs } from '../layers.js';
import type { Model, Preprocess } from '../model.js';

const { onnx } = onnxProto;

type INode = onnxProto.onnx.INodeProto;
type IAttr = onnxProto.onnx.IAttributeProto;
type ITensor = onnxProto.onnx.ITensorProto;
type IValueInfo = onnxProto.onnx.IValueInfoProto;

export const ONNX_IR_VERSION = 7;
export const ONNX_OPSET = 13;

// TensorProto.DataType and AttributeProto.AttributeType, as numbers (the file format's values)
const FLOAT = 1, INT64 = 7;
const ATTR_FLOAT = 1, ATTR_INT = 2, ATTR_STRING = 3, ATTR_INTS = 7;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

// ---- attributes and tensors -------------------------------------------------------------------------------

const attrInt = (name: string, i: number): IAttr => ({ name, type: ATTR_INT, i });
const attrFloat = (name: string, f: number): IAttr => ({ name, type: ATTR_FLOAT, f });
const attrInts = (name: string, ints: readonly number[]): IAttr => ({ name, type: ATTR_INTS, ints: [...ints] });
const attrString = (name: string, s: string): IAttr => ({ name, type: ATTR_STRING, s: new TextEncoder().encode(s) });

function floatBytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return out;
}

function int64Bytes(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setBigInt64(i * 8, BigInt(values[i]), true);
  return out;
}

const floatTensor = (name: string, shape: readonly number[], data: Float32Array): ITensor =>
  ({ name, dims: [...shape], dataType: FLOAT, rawData: floatBytes(data) });
const int64Tensor = (name: string, values: readonly number[]): ITensor =>
  ({ name, dims: [values.length], dataType: INT64, rawData: int64Bytes(values) });
const scalarFloat = (name: string, v: number): ITensor =>
  ({ name, dims: [], dataType: FLOAT, rawData: floatBytes(new Float32Array([v])) });

// ---- layers to nodes --------------------------------------------------------------------------------------

/** Accumulates nodes and initializers, checking that no name is used twice. */
class GraphWriter {
  readonly nodes: INode[] = [];
  readonly initializers: ITensor[] = [];
  private readonly names = new Set<string>();

  constructor(private readonly model: Model) {
    this.claim(model.input, 'the model input');
  }

  private claim(name: string, what: string): void {
    if (this.names.has(name)) {
      throw new Error(`encodeOnnx: model ${this.model.name}: the name ${JSON.stringify(name)} (${what}) is used twice in the graph`);
    }
    this.names.add(name);
  }

  /** A float weight of the layer as an initializer named `<layer>.<param>`; returns its name. */
  weight(layer: Layer, param: string): string {
    const h: HostTensor | undefined = layer.params[param];
    const where = `encodeOnnx: layer ${layer.name} (${layer.kind})`;
    if (!h || !Array.isArray(h.shape) || !(h.data instanceof Float32Array)) {
      throw new Error(`${where}: weight ${JSON.stringify(param)} is missing or not { shape, data: Float32Array }`);
    }
    const size = h.shape.reduce((p, d) => p * d, 1);
    if (size !== h.data.length) throw new Error(`${where}: weight ${param} has shape ${fmt(h.shape)} but ${h.data.length} values`);
    return this.constant(floatTensor(`${layer.name}.${param}`, h.shape, h.data), layer);
  }

  constant(t: ITensor, layer: Layer): string {
    this.claim(t.name!, `a constant of layer ${layer.name}`);
    this.initializers.push(t);
    return t.name!;
  }

  node(layer: Layer, opType: string, inputs: string[], attribute: IAttr[] = []): void {
    this.claim(layer.output, `the output of layer ${layer.name}`);
    const node: INode = { name: layer.name, opType, input: inputs, output: [layer.output] };
    if (attribute.length) node.attribute = attribute;
    this.nodes.push(node);
  }
}

/** ONNX pads for 2-D windows, [x1_begin, x2_begin, x1_end, x2_end], are convis's [top, left, bottom, right]. */
const onnxPads = (p: readonly number[]) => [p[0], p[1], p[2], p[3]];

function writeLayer(g: GraphWriter, layer: Layer): void {
  const x = [...layer.inputs];
  const where = `encodeOnnx: layer ${layer.name} (${layer.kind})`;
  const arity = (n: number) => {
    if (x.length !== n) throw new Error(`${where}: expects ${n} input(s), has ${x.length}`);
  };
  switch (layer.kind) {
    case 'conv': {
      arity(1);
      const a = layer.attrs as LayerAttrs['conv'];
      const w = g.weight(layer, 'w');
      const shape = layer.params.w.shape;
      const inputs = [x[0], w];
      if (layer.params.b) inputs.push(g.weight(layer, 'b'));
      g.node(layer, 'Conv', inputs, [
        attrInts('dilations', a.dilation), attrInt('group', a.groups), attrInts('kernel_shape', [shape[2], shape[3]]),
        attrInts('pads', onnxPads(a.padding)), attrInts('strides', a.stride),
      ]);
      return;
    }
    case 'linear': {
      arity(1);
      const inputs = [x[0], g.weight(layer, 'w')];
      if (layer.params.b) inputs.push(g.weight(layer, 'b'));
      g.node(layer, 'Gemm', inputs, [attrFloat('alpha', 1), attrFloat('beta', 1), attrInt('transB', 1)]);
      return;
    }
    case 'relu': arity(1); g.node(layer, 'Relu', x); return;
    case 'sigmoid': arity(1); g.node(layer, 'Sigmoid', x); return;
    case 'leakyRelu':
      arity(1);
      g.node(layer, 'LeakyRelu', x, [attrFloat('alpha', (layer.attrs as LayerAttrs['leakyRelu']).alpha)]);
      return;
    case 'clip': {
      arity(1);
      const a = layer.attrs as LayerAttrs['clip'];
      const lo = g.constant(scalarFloat(`${layer.name}.min`, a.min), layer);
      const hi = g.constant(scalarFloat(`${layer.name}.max`, a.max), layer);
      g.node(layer, 'Clip', [x[0], lo, hi]);
      return;
    }
    case 'maxpool': {
      arity(1);
      const a = layer.attrs as LayerAttrs['maxpool'];
      g.node(layer, 'MaxPool', x, [
        attrInt('ceil_mode', a.ceilMode ? 1 : 0), attrInts('kernel_shape', a.kernel),
        attrInts('pads', onnxPads(a.padding)), attrInts('strides', a.stride),
      ]);
      return;
    }
    case 'avgpool': {
      arity(1);
      const a = layer.attrs as LayerAttrs['avgpool'];
      g.node(layer, 'AveragePool', x, [
        attrInt('ceil_mode', a.ceilMode ? 1 : 0), attrInt('count_include_pad', a.countIncludePad ? 1 : 0),
        attrInts('kernel_shape', a.kernel), attrInts('pads', onnxPads(a.padding)), attrInts('strides', a.stride),
      ]);
      return;
    }
    case 'globalavgpool': arity(1); g.node(layer, 'GlobalAveragePool', x); return;
    case 'batchnorm': {
      arity(1);
      // ONNX input order: X, scale, B, input_mean, input_var
      const inputs = [x[0], g.weight(layer, 'gamma'), g.weight(layer, 'beta'), g.weight(layer, 'mean'), g.weight(layer, 'var')];
      g.node(layer, 'BatchNormalization', inputs, [attrFloat('epsilon', (layer.attrs as LayerAttrs['batchnorm']).eps)]);
      return;
    }
    case 'lrn': {
      arity(1);
      // ONNX: y = x / (bias + alpha / size * sum of squares over the window)^beta, as ops.localResponseNorm
      const a = layer.attrs as LayerAttrs['lrn'];
      g.node(layer, 'LRN', x, [attrFloat('alpha', a.alpha), attrFloat('beta', a.beta), attrFloat('bias', a.k), attrInt('size', a.size)]);
      return;
    }
    case 'flatten': arity(1); g.node(layer, 'Flatten', x, [attrInt('axis', (layer.attrs as LayerAttrs['flatten']).axis)]); return;
    case 'reshape': {
      arity(1);
      const shape = g.constant(int64Tensor(`${layer.name}.shape`, (layer.attrs as LayerAttrs['reshape']).shape), layer);
      g.node(layer, 'Reshape', [x[0], shape]);
      return;
    }
    // inference: dropout passes its input through unchanged
    case 'dropout': arity(1); g.node(layer, 'Identity', x); return;
    case 'identity': arity(1); g.node(layer, 'Identity', x); return;
    case 'softmax': arity(1); g.node(layer, 'Softmax', x, [attrInt('axis', (layer.attrs as LayerAttrs['softmax']).axis)]); return;
    case 'concat':
      if (x.length < 1) throw new Error(`${where}: expects at least one input`);
      g.node(layer, 'Concat', x, [attrInt('axis', (layer.attrs as LayerAttrs['concat']).axis)]);
      return;
    case 'pad': {
      arity(1);
      const a = layer.attrs as LayerAttrs['pad'];
      const p = a.pads;
      const pads = g.constant(int64Tensor(`${layer.name}.pads`, [0, 0, p[0], p[1], 0, 0, p[2], p[3]]), layer);
      const value = g.constant(scalarFloat(`${layer.name}.value`, a.value), layer);
      g.node(layer, 'Pad', [x[0], pads, value], [attrString('mode', 'constant')]);
      return;
    }
    case 'add': case 'sub': case 'mul': case 'div': {
      const op = { add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div' }[layer.kind];
      if (x.length === 2) g.node(layer, op, x);
      else if (x.length === 1) g.node(layer, op, [x[0], g.weight(layer, 'b')]);
      else throw new Error(`${where}: expects 2 inputs, or 1 input and a weight b; has ${x.length} inputs`);
      return;
    }
    default:
      throw new Error(`encodeOnnx: layer ${(layer as Layer).name} has kind ${JSON.stringify((layer as Layer).kind)}, which has no ONNX mapping`);
  }
}

// ---- the model --------------------------------------------------------------------------------------------

function valueInfo(name: string, dims: readonly (number | 'N' | null)[]): IValueInfo {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (d === 'N' ? { dimParam: 'N' } : d === null ? {} : { dimValue: d })) },
      },
    },
  };
}

/**
 * The output's dims with the batch axis symbolic: 'N' where the batch-1 and batch-2 shapes say the axis is the
 * batch, the size where the two agree, and an unnamed dim (null) where an axis grows with the batch in another
 * way (a Flatten over axis 0, say). A graph that cannot take a batch of 2 falls back to ['N', ...rest].
 */
function outputDims(model: Model): (number | 'N' | null)[] {
  const one = model.outputShape;
  const fallback = ['N' as const, ...one.slice(1)];
  let two: readonly number[] | undefined;
  try {
    two = model.valueShapes(2).get(model.output);
  } catch {
    return fallback;
  }
  if (!two || two.length !== one.length) return fallback;
  return one.map((d, i) => (two[i] === d ? d : i === 0 && d === 1 && two[i] === 2 ? 'N' : null));
}

/** The preprocessing as JSON with its keys in a fixed order (equal settings, equal bytes). */
function preprocessJson(p: Preprocess): string {
  return JSON.stringify({ mean: [...p.mean], std: [...p.std], channelOrder: p.channelOrder, scale: p.scale });
}

function checkModel(fn: string, model: unknown): asserts model is Model {
  const m = model as Model | null;
  if (
    !m || typeof m !== 'object' || !Array.isArray(m.layers) || !Array.isArray(m.inputShape) || m.inputShape.length !== 3 ||
    typeof m.input !== 'string' || typeof m.output !== 'string' || !Array.isArray(m.outputShape)
  ) {
    throw new Error(`${fn}: model must be a Model (from nn.sequential, nn.graph(...).build() or loadOnnx), got ${describe(model)}`);
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return `an object with keys ${Object.keys(v as object).slice(0, 6).join(', ') || '(none)'}`;
  return `${typeof v} ${String(v).slice(0, 40)}`;
}

/** The model as the bytes of an ONNX file (IR 7, opset 13). */
export function encodeOnnx(model: Model): Uint8Array {
  checkModel('encodeOnnx', model);
  const g = new GraphWriter(model);
  for (const layer of model.layers) writeLayer(g, layer);

  const metadataProps: { key: string; value: string }[] = [];
  if (model.preprocess) metadataProps.push({ key: 'convis.preprocess', value: preprocessJson(model.preprocess) });
  if (model.removedSoftmax) metadataProps.push({ key: 'convis.removedSoftmax', value: 'true' });
  if (model.classNames) metadataProps.push({ key: 'convis.classNames', value: JSON.stringify(model.classNames) });

  const message: onnxProto.onnx.IModelProto = {
    irVersion: ONNX_IR_VERSION,
    producerName: 'convis',
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    graph: {
      name: model.name,
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(model.input, ['N', ...model.inputShape])],
      output: [valueInfo(model.output, outputDims(model))],
    },
  };
  if (metadataProps.length) message.metadataProps = metadataProps;
  return onnx.ModelProto.encode(message).finish();
}

/** Writes the model to `path` as an ONNX file. */
export async function saveOnnx(model: Model, path: string): Promise<void> {
  checkModel('saveOnnx', model);
  if (typeof path !== 'string' || path.length === 0) throw new Error(`saveOnnx: path must be a non-empty string, got ${describe(path)}`);
  let bytes: Uint8Array;
  try {
    bytes = encodeOnnx(model);
  } catch (e) {
    throw new Error(`saveOnnx: ${(e as Error).message.replace(/^encodeOnnx: /, '')}`);
  }
  try {
    await writeFile(path, bytes);
  } catch (e) {
    throw new Error(`saveOnnx: cannot write ${path}: ${(e as Error).message}`);
  }
}
