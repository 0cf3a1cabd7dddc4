// loadOnnx against onnxruntime-node (the independent reference): ONNX models built here by hand with small
// random weights and odd shapes, run by convis on every available backend and by ORT on the same bytes, relative
// error below 1e-4. Covers Conv auto_pad / groups / dilation, Gemm and MatMul, BatchNormalization folded and
// standalone, Clip before and after opset 11, Reshape with 0 / -1 and PyTorch's Shape -> Gather -> Unsqueeze ->
// Concat -> Reshape flatten, Transpose of constants, Pad before and after opset 11, float16 / double weights,
// external data, the final Softmax cut, Softmax axis before and after opset 13, pooling modes; then bad input:
// unsupported ops, a non-4-D input, missing initializers, and random and truncated bytes.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import test from 'tape';
import { tensor } from '../../src/index.js';
import type { Model } from '../../src/models/model.js';
import { loadOnnx } from '../../src/models/onnx/import.js';
import { availableBackends, onEachBackend } from '../helpers/backends.js';
import { relErr } from '../helpers/numeric.js';

const { onnx } = onnxProto;
type ITensor = onnxProto.onnx.ITensorProto;
type IAttr = onnxProto.onnx.IAttributeProto;
type INode = onnxProto.onnx.INodeProto;

await availableBackends();

// ------------------------------------------------------------------ building ONNX models by hand

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let seedCounter = 1;
/** n uniform values in [-scale, scale) */
function rand(n: number, scale = 1, seed = seedCounter++): Float32Array {
  const next = rng(seed * 7919);
  return Float32Array.from({ length: n }, () => (2 * next() - 1) * scale);
}

const size = (dims: number[]) => dims.reduce((p, d) => p * d, 1);

/** A float32 initializer, stored in raw_data (default) or float_data. */
function f32(name: string, dims: number[], data?: ArrayLike<number>, mode: 'raw' | 'field' = 'raw'): ITensor {
  const values = Float32Array.from(data ?? rand(size(dims), 0.5));
  if (values.length !== size(dims)) throw new Error(`test: ${name} has ${values.length} values for ${dims}`);
  return mode === 'raw'
    ? { name, dims, dataType: 1, rawData: new Uint8Array(values.buffer) }
    : { name, dims, dataType: 1, floatData: Array.from(values) };
}

function i64(name: string, values: number[], dims = [values.length]): ITensor {
  return { name, dims, dataType: 7, int64Data: values };
}

const A = {
  i: (name: string, i: number): IAttr => ({ name, type: 2, i }),
  f: (name: string, f: number): IAttr => ({ name, type: 1, f }),
  is: (name: string, ints: number[]): IAttr => ({ name, type: 7, ints }),
  s: (name: string, s: string): IAttr => ({ name, type: 3, s: new TextEncoder().encode(s) }),
  t: (name: string, t: ITensor): IAttr => ({ name, type: 4, t }),
};

function node(opType: string, input: string[], output: string[], attribute: IAttr[] = [], name?: string): INode {
  return { opType, input, output, attribute, name: name ?? `${opType.toLowerCase()}_${output[0]}` };
}

interface Spec {
  nodes: INode[];
  inits?: ITensor[];
  input?: [string, (number | string)[]];
  output?: string;
  opset?: number;
  name?: string;
  metadata?: Record<string, string>;
}

function encode(s: Spec): Uint8Array {
  const [inName, inDims] = s.input ?? ['x', ['N', 3, 8, 8]];
  const m = onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'convis-test',
    opsetImport: [{ domain: '', version: s.opset ?? 13 }],
    metadataProps: Object.entries(s.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: s.name ?? 'g',
      node: s.nodes,
      initializer: s.inits ?? [],
      input: [{ name: inName, type: { tensorType: { elemType: 1, shape: { dim: inDims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } } }],
      output: [{ name: s.output ?? s.nodes[s.nodes.length - 1].output![0], type: { tensorType: { elemType: 1 } } }],
    },
  });
  return Uint8Array.from(onnx.ModelProto.encode(m).finish());   // a plain Uint8Array (finish() gives a pooled Buffer)
}

// ------------------------------------------------------------------ running both sides


async function ortRun(model: Uint8Array | string, inputName: string, x: Float32Array, dims: number[]): Promise<{ data: Float32Array; dims: number[] }> {
  const opts = { logSeverityLevel: 3 as const };   // no warnings about the old opsets tested on purpose
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model, opts) : await ort.InferenceSession.create(model, opts);
  const out = await session.run({ [inputName]: new ort.Tensor('float32', x, dims) });
  const y = out[session.outputNames[0]];
  await session.release();
  return { data: Float32Array.from(y.data as Float32Array), dims: [...y.dims] };
}

async function convisRun(m: Model, x: Float32Array, dims: number[]): Promise<{ data: Float32Array; dims: number[] }> {
  const xt = tensor(x, dims);
  const y = m.forward(xt);
  const data = await y.data();
  const shape = [...y.shape];
  y.dispose();
  xt.dispose();
  m.releaseWeights();
  return { data, dims: shape };
}

interface Case {
  name: string;
  /** the model (bytes, or a file path for external data) */
  model: () => Promise<Uint8Array | string> | Uint8Array | string;
  dims: number[];
  /** the ORT reference model when it differs from `model` (a cut final Softmax) */
  reference?: () => Promise<Uint8Array | string> | Uint8Array | string;
  /** structural checks on the imported model */
  check?: (t: test.Test, m: Model) => void;
  input?: string;
}

const refCache = new Map<string, Promise<{ data: Float32Array; dims: number[] }>>();
const inputCache = new Map<string, Float32Array>();

function caseInput(c: Case): Float32Array {
  let x = inputCache.get(c.name);
  if (!x) {
    x = rand(size(c.dims), 1, 1000 + inputCache.size);
    inputCache.set(c.name, x);
  }
  return x;
}

async function compare(t: test.Test, c: Case): Promise<void> {
  const x = caseInput(c);
  let ref = refCache.get(c.name);
  if (!ref) {
    ref = (async () => ortRun(await (c.reference ?? c.model)(), c.input ?? 'x', x, c.dims))();
    refCache.set(c.name, ref);
  }
  const m = await loadOnnx(await c.model(), { quiet: true });
  c.check?.(t, m);
  const got = await convisRun(m, x, c.dims);
  const want = await ref;
  t.deepEqual(got.dims, want.dims, `output shape ${JSON.stringify(want.dims)}`);
  const e = relErr(got.data, want.data);
  t.ok(e < 1e-4 && Number.isFinite(e), `relative error against onnxruntime ${e.toExponential(2)}`);
}

const kinds = (m: Model) => m.layers.map((l) => l.kind);

// ------------------------------------------------------------------ the models

const cases: Case[] = [];

/** Each model is built once (its random weights drawn once), so convis and ORT read the same bytes. */
function memo<T>(f: () => T): () => T {
  let done = false, v: T | undefined;
  return () => {
    if (!done) {
      v = f();
      done = true;
    }
    return v as T;
  };
}
const origPush = cases.push.bind(cases);
cases.push = (...cs: Case[]) => origPush(...cs.map((c) => ({ ...c, model: memo(c.model), reference: c.reference && memo(c.reference) })));

cases.push({
  name: 'Conv auto_pad SAME_UPPER / SAME_LOWER / VALID, groups and dilation, asymmetric pads',
  dims: [2, 3, 11, 13],
  model: () => encode({
    input: ['x', ['N', 3, 11, 13]],
    inits: [f32('w1', [4, 3, 3, 3]), f32('b1', [4]), f32('w2', [6, 4, 4, 2]), f32('w3', [6, 3, 3, 3]), f32('b3', [6], undefined, 'field'), f32('w4', [6, 1, 1, 2])],
    nodes: [
      node('Conv', ['x', 'w1', 'b1'], ['c1'], [A.s('auto_pad', 'SAME_UPPER'), A.is('strides', [2, 2]), A.is('kernel_shape', [3, 3])], 'conv1'),
      node('Relu', ['c1'], ['r1']),
      node('Conv', ['r1', 'w2'], ['c2'], [A.s('auto_pad', 'SAME_LOWER')], 'conv2'),
      node('Conv', ['c2', 'w3', 'b3'], ['c3'], [A.i('group', 2), A.is('dilations', [2, 1]), A.is('pads', [1, 2, 0, 1]), A.is('strides', [1, 2])], 'conv3'),
      node('Conv', ['c3', 'w4'], ['c4'], [A.i('group', 6), A.s('auto_pad', 'VALID')], 'depthwise'),
    ],
  }),
  check: (t, m) => {
    t.deepEqual(kinds(m), ['conv', 'relu', 'conv', 'conv', 'conv']);
    t.deepEqual(m.inputShape, [3, 11, 13], 'inputShape [C, H, W]');
    t.deepEqual(m.layers.map((l) => l.name), ['conv1', 'relu_r1', 'conv2', 'conv3', 'depthwise'], 'layer names from node names');
    t.deepEqual((m.layers[2].attrs as { padding: number[] }).padding, [2, 1, 1, 0], 'SAME_LOWER puts the odd pixel first');
  },
});

cases.push({
  name: 'Gemm transB 0 / 1 with alpha and beta, MatMul, constant Add',
  dims: [2, 2, 3, 5],
  model: () => encode({
    input: ['x', ['batch', 2, 3, 5]],
    inits: [f32('B1', [30, 7]), f32('C1', [7]), f32('B2', [5, 7]), f32('C2', [1, 5]), f32('M', [5, 4]), f32('bias', [4])],
    nodes: [
      node('Flatten', ['x'], ['f']),
      node('Gemm', ['f', 'B1', 'C1'], ['g1'], [A.f('alpha', 0.5), A.f('beta', 2)], 'fc1'),
      node('Relu', ['g1'], ['r']),
      node('Gemm', ['r', 'B2', 'C2'], ['g2'], [A.i('transB', 1), A.f('alpha', 1.5), A.f('beta', 0.25)], 'fc2'),
      node('MatMul', ['g2', 'M'], ['mm'], [], 'matmul'),
      node('Add', ['mm', 'bias'], ['y'], [], 'bias'),
    ],
  }),
  check: (t, m) => {
    t.deepEqual(kinds(m), ['flatten', 'linear', 'relu', 'linear', 'linear', 'add']);
    t.deepEqual(m.layers[1].params.w.shape, [7, 30], 'transB = 0: w is B transposed, [out, in]');
    t.deepEqual(m.layers[4].params.b, undefined, 'MatMul: no bias');
  },
});

function bnInits(prefix: string, c: number): ITensor[] {
  const g = rand(c, 0.5).map((v) => v + 1), varr = rand(c, 0.4).map((v) => v + 0.6);
  return [f32(`${prefix}.g`, [c], g), f32(`${prefix}.b`, [c]), f32(`${prefix}.m`, [c]), f32(`${prefix}.v`, [c], varr)];
}
const bnIn = (x: string, p: string) => [x, `${p}.g`, `${p}.b`, `${p}.m`, `${p}.v`];

cases.push({
  name: 'BatchNormalization folded into the Conv before it, standalone after a Relu and after a shared Conv',
  dims: [2, 3, 6, 7],
  model: () => encode({
    input: ['x', ['N', 3, 6, 7]],
    inits: [f32('w1', [4, 3, 3, 3]), ...bnInits('bn1', 4), ...bnInits('bn2', 4), f32('w2', [5, 4, 1, 1]), f32('b2', [5]), ...bnInits('bn3', 5)],
    nodes: [
      node('Conv', ['x', 'w1'], ['c1'], [A.is('pads', [1, 1, 1, 1])], 'conv1'),
      node('BatchNormalization', bnIn('c1', 'bn1'), ['n1'], [A.f('epsilon', 1e-3)], 'bn1'),
      node('Relu', ['n1'], ['r1'], [], 'relu1'),
      node('BatchNormalization', bnIn('r1', 'bn2'), ['n2'], [], 'bn2'),
      node('Conv', ['n2', 'w2', 'b2'], ['c2'], [], 'conv2'),
      node('BatchNormalization', bnIn('c2', 'bn3'), ['n3'], [A.f('epsilon', 0.01)], 'bn3'),
      node('Add', ['n3', 'c2'], ['y'], [], 'residual'),
    ],
  }),
  check: (t, m) => {
    t.deepEqual(kinds(m), ['conv', 'relu', 'batchnorm', 'conv', 'batchnorm', 'add'], 'bn1 folded; bn2 (after relu) and bn3 (conv output shared) kept');
    t.equal(m.layers[0].output, 'n1', 'the folded conv writes the BatchNormalization output');
    t.ok(m.layers[0].params.b, 'the folded conv gained a bias');
  },
});

for (const opset of [6, 13]) {
  cases.push({
    name: `Clip at opset ${opset} (${opset < 11 ? 'min / max attributes' : 'min / max inputs'}), ReLU6`,
    dims: [2, 2, 5, 6],
    model: () => encode({
      opset,
      input: ['x', ['N', 2, 5, 6]],
      inits: [f32('w', [3, 2, 3, 3], rand(54, 1)), f32('wbig', [3, 2, 3, 3], rand(54, 4)),
        ...(opset >= 11 ? [f32('lo', [], [-0.2]), f32('hi', [], [0.3]), f32('six', [], [6]), f32('zero', [], [0])] : [])],
      nodes: [
        node('Conv', ['x', 'w'], ['c'], [A.is('pads', [1, 1, 1, 1])]),
        node('Conv', ['x', 'wbig'], ['cbig'], [A.is('pads', [1, 1, 1, 1])]),
        ...(opset < 11
          ? [
            node('Clip', ['c'], ['k1'], [A.f('min', -0.2), A.f('max', 0.3)], 'clip'),
            node('Clip', ['c'], ['k2'], [A.f('max', 0.1)], 'clip_max_only'),
            node('Clip', ['cbig'], ['k3'], [A.f('min', 0), A.f('max', 6)], 'relu6'),
          ]
          : [
            node('Clip', ['c', 'lo', 'hi'], ['k1'], [], 'clip'),
            node('Clip', ['c', '', 'hi'], ['k2'], [], 'clip_max_only'),
            node('Clip', ['cbig', 'zero', 'six'], ['k3'], [], 'relu6'),
          ]),
        node('Concat', ['k1', 'k2', 'k3'], ['y'], [A.i('axis', 1)]),
      ],
    }),
    check: (t, m) => {
      const clips = m.layers.filter((l) => l.kind === 'clip').map((l) => l.attrs as { min: number; max: number });
      t.ok(m.layers.some((l) => l.kind === 'conv' && Math.max(...l.params.w.data) > 2), 'the large conv feeds the ReLU6');
      t.deepEqual([clips[0].min, clips[0].max].map((v) => Math.fround(v)), [Math.fround(-0.2), Math.fround(0.3)]);
      t.ok(clips[1].min < -1e38, 'an absent min is -FLT_MAX');
      t.deepEqual(clips[2], { min: 0, max: 6 }, 'ReLU6');
    },
  });
}

for (const opset of [11, 13]) {
  cases.push({
    name: `Reshape with 0 / -1 and the Shape -> Gather -> Unsqueeze -> Concat -> Reshape flatten (opset ${opset})`,
    dims: [3, 4, 5, 6],
    model: () => encode({
      opset,
      input: ['x', ['N', 4, 5, 6]],
      inits: [i64('s1', [0, 0, -1]), i64('s2', [0, 4, 5, 6]), f32('w', [3, 4, 3, 3]), i64('idx0', [0], []), i64('minus1', [-1]), f32('B', [5, 36]),
        ...(opset >= 13 ? [i64('ax0', [0])] : [])],
      nodes: [
        node('Reshape', ['x', 's1'], ['r1'], [], 'r1'),
        node('Reshape', ['r1', 's2'], ['r2'], [], 'r2'),
        node('Conv', ['r2', 'w'], ['c'], [A.is('strides', [1, 1])], 'conv'),
        node('Shape', ['c'], ['shape'], [], 'shape'),
        node('Gather', ['shape', 'idx0'], ['n'], [A.i('axis', 0)], 'gather'),
        opset >= 13 ? node('Unsqueeze', ['n', 'ax0'], ['n1'], [], 'unsq') : node('Unsqueeze', ['n'], ['n1'], [A.is('axes', [0])], 'unsq'),
        node('Concat', ['n1', 'minus1'], ['target'], [A.i('axis', 0)], 'cat'),
        node('Reshape', ['c', 'target'], ['flat'], [], 'flatten'),
        node('Gemm', ['flat', 'B'], ['y'], [A.i('transB', 1)], 'fc'),
      ],
    }),
    check: (t, m) => {
      t.deepEqual(kinds(m), ['reshape', 'reshape', 'conv', 'reshape', 'linear'], 'the shape chain folds away');
      t.deepEqual((m.layers[3].attrs as { shape: number[] }).shape, [0, -1], 'the batch size becomes 0 (copy), so any batch runs');
    },
  });
}

cases.push({
  name: 'Transpose of constant weights (a Gemm B and a Conv W)',
  dims: [2, 3, 4, 4],
  model: () => encode({
    input: ['x', ['N', 3, 4, 4]],
    inits: [f32('wT', [3, 2, 3, 3]), f32('Bt', [8, 6])],
    nodes: [
      node('Transpose', ['wT'], ['w'], [A.is('perm', [1, 0, 2, 3])]),
      node('Conv', ['x', 'w'], ['c'], [], 'conv'),
      node('Flatten', ['c'], ['f']),
      node('Transpose', ['Bt'], ['B']),
      node('Gemm', ['f', 'B'], ['y'], [A.i('transB', 1)], 'fc'),
    ],
  }),
  check: (t, m) => t.deepEqual(kinds(m), ['conv', 'flatten', 'linear']),
});

for (const opset of [2, 13, 18]) {
  const pads = [0, 0, 1, 2, 0, 0, 2, 1];
  cases.push({
    name: `Pad at opset ${opset} (${opset < 11 ? 'attributes' : opset < 18 ? 'inputs' : 'inputs with axes'})`,
    dims: [2, 2, 5, 4],
    model: () => encode({
      opset,
      input: ['x', ['N', 2, 5, 4]],
      inits: [f32('w', [3, 2, 2, 2]), ...(opset >= 11 ? [i64('pads', opset >= 18 ? [1, 2, 2, 1] : pads), f32('value', [], [0.5])] : []),
        ...(opset >= 18 ? [i64('axes', [2, 3])] : [])],
      nodes: [
        opset < 11
          ? node('Pad', ['x'], ['p'], [A.is('pads', pads), A.f('value', 0.5), A.s('mode', 'constant')], 'pad')
          : node('Pad', ['x', 'pads', 'value', ...(opset >= 18 ? ['axes'] : [])], ['p'], [], 'pad'),
        node('Conv', ['p', 'w'], ['y'], [], 'conv'),
      ],
    }),
    check: (t, m) => t.deepEqual(m.layers[0].attrs, { pads: [1, 2, 2, 1], value: 0.5 }),
  });
}

function f16bits(v: number): number {
  // float32 -> float16 bits, round to nearest even (the test's values are in the normal range)
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  const mant = u & 0x7fffff;
  if (exp <= 0) return sign;
  let h = sign | (exp << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
  return h;
}

cases.push({
  name: 'float16 weights (raw_data and int32_data) and double weights through Cast',
  dims: [2, 3, 5, 5],
  model: () => {
    const w = rand(4 * 3 * 3 * 3, 0.5), b = rand(4, 0.5), w2 = rand(2 * 4, 0.5);
    const wBits = Uint16Array.from(w, f16bits);
    return encode({
      input: ['x', ['N', 3, 5, 5]],
      inits: [
        { name: 'w16', dims: [4, 3, 3, 3], dataType: 10, rawData: new Uint8Array(wBits.buffer) },
        { name: 'b16', dims: [4], dataType: 10, int32Data: Array.from(b, f16bits) },
        { name: 'w64', dims: [2, 4, 1, 1], dataType: 11, doubleData: Array.from(w2) },
      ],
      nodes: [
        node('Cast', ['w16'], ['w'], [A.i('to', 1)]),
        node('Cast', ['b16'], ['b'], [A.i('to', 1)]),
        node('Cast', ['w64'], ['w2'], [A.i('to', 1)]),
        node('Conv', ['x', 'w', 'b'], ['c'], [A.is('pads', [1, 1, 1, 1])], 'conv'),
        node('Conv', ['c', 'w2'], ['y'], [], 'conv2'),
      ],
    });
  },
  check: (t, m) => t.deepEqual(kinds(m), ['conv', 'conv']),
});

let tmp = '';
async function tempDir(): Promise<string> {
  if (!tmp) tmp = await mkdtemp(path.join(tmpdir(), 'convis-onnx-'));
  return tmp;
}

async function externalModel(): Promise<string> {
  const dir = await tempDir();
  const file = path.join(dir, 'ext.onnx');
  const w = rand(5 * 2 * 3 * 3, 0.5), b = rand(5, 0.5), B = rand(3 * 30, 0.3);
  const header = new Uint8Array(13);   // an odd offset: the importer must not assume alignment
  const blob = new Uint8Array([...header, ...new Uint8Array(w.buffer), ...new Uint8Array(b.buffer)]);
  await writeFile(path.join(dir, 'weights.bin'), blob);
  await writeFile(path.join(dir, 'fc.bin'), new Uint8Array(B.buffer));
  const ext = (name: string, dims: number[], entries: Record<string, string>): ITensor => ({
    name, dims, dataType: 1, dataLocation: 1, externalData: Object.entries(entries).map(([key, value]) => ({ key, value })),
  });
  await writeFile(file, encode({
    input: ['x', ['N', 2, 6, 7]],
    inits: [
      ext('w', [5, 2, 3, 3], { location: 'weights.bin', offset: '13', length: String(w.byteLength) }),
      ext('b', [5], { location: 'weights.bin', offset: String(13 + w.byteLength), length: '20' }),
      ext('B', [3, 30], { location: 'fc.bin' }),
    ],
    nodes: [
      node('Conv', ['x', 'w', 'b'], ['c'], [A.is('strides', [2, 2])], 'conv'),
      node('Flatten', ['c'], ['f']),
      node('Gemm', ['f', 'B'], ['y'], [A.i('transB', 1)], 'fc'),
    ],
  }));
  return file;
}

cases.push({ name: 'external data files (offset, length, no length)', dims: [2, 2, 6, 7], model: externalModel });

function softmaxNet(withSoftmax: boolean, seed: number): Uint8Array {
  seedCounter = seed;
  return encode({
    input: ['x', ['N', 3, 6, 6]],
    inits: [f32('w', [4, 3, 3, 3], rand(108, 1)), f32('B', [4, 10], rand(40, 2)), f32('C', [10])],
    nodes: [
      node('Conv', ['x', 'w'], ['c'], [], 'conv'),
      node('GlobalAveragePool', ['c'], ['g'], [], 'gap'),
      node('Flatten', ['g'], ['f'], [], 'flatten'),
      node('Gemm', ['f', 'B', 'C'], ['logits'], [], 'fc'),
      ...(withSoftmax ? [node('Softmax', ['logits'], ['prob'], [A.i('axis', 1)], 'prob')] : []),
    ],
  });
}

cases.push({
  name: 'a final Softmax is cut: the output is the logits',
  dims: [3, 3, 6, 6],
  model: () => softmaxNet(true, 500),
  reference: () => softmaxNet(false, 500),
  check: (t, m) => {
    t.equal(m.removedSoftmax, true, 'removedSoftmax');
    t.equal(m.output, 'logits', 'the output is the Softmax input');
    t.notOk(m.layers.some((l) => l.kind === 'softmax'), 'no softmax layer');
  },
});

for (const [opset, axis] of [[11, 1], [13, 1], [11, 3], [11, 2]] as const) {
  cases.push({
    name: `Softmax at opset ${opset}, axis ${axis}, on a 4-D value (not final)`,
    dims: [2, 3, 4, 5],
    model: () => encode({
      opset,
      input: ['x', ['N', 3, 4, 5]],
      inits: [f32('two', [1], [2])],
      nodes: [
        node('Softmax', ['x'], ['s'], [A.i('axis', axis)], 'softmax'),
        node('Mul', ['s', 'two'], ['y'], [], 'scale'),
      ],
    }),
    check: (t, m) => {
      const coerced = opset < 13 && axis < 3;
      t.deepEqual(kinds(m), coerced ? ['reshape', 'softmax', 'reshape', 'mul'] : ['softmax', 'mul'],
        coerced ? 'coerced to 2-D rows: reshape, softmax, reshape back' : 'one softmax layer');
      t.equal(m.removedSoftmax, false);
    },
  });
}

cases.push({
  name: 'MaxPool ceil_mode, pads and SAME_UPPER',
  dims: [2, 3, 8, 11],
  model: () => encode({
    input: ['x', ['N', 3, 8, 11]],
    nodes: [
      node('MaxPool', ['x'], ['p1'], [A.is('kernel_shape', [3, 3]), A.is('strides', [2, 2]), A.i('ceil_mode', 1)], 'pool1'),
      node('MaxPool', ['x'], ['p2'], [A.is('kernel_shape', [3, 2]), A.is('strides', [2, 3]), A.is('pads', [1, 0, 1, 1]), A.i('ceil_mode', 1)], 'pool2'),
      node('MaxPool', ['p2'], ['p3'], [A.is('kernel_shape', [2, 2]), A.s('auto_pad', 'SAME_UPPER'), A.is('strides', [2, 2])], 'pool3'),
      node('Flatten', ['p1'], ['f1']),
      node('Flatten', ['p3'], ['f3']),
      node('Concat', ['f1', 'f3'], ['y'], [A.i('axis', 1)]),
    ],
  }),
  check: (t, m) => t.deepEqual((m.layers[0].attrs as { ceilMode: boolean }).ceilMode, true),
});

for (const cip of [0, 1]) {
  cases.push({
    name: `AveragePool count_include_pad ${cip}, pads 1, ceil_mode 0 and 1`,
    dims: [2, 3, 7, 8],
    model: () => encode({
      input: ['x', ['N', 3, 7, 8]],
      nodes: [
        node('AveragePool', ['x'], ['a'], [A.is('kernel_shape', [3, 3]), A.is('strides', [2, 2]), A.is('pads', [1, 1, 1, 1]), A.i('count_include_pad', cip)], 'avg'),
        node('AveragePool', ['x'], ['b'], [A.is('kernel_shape', [2, 3]), A.is('strides', [2, 2]), A.is('pads', [1, 1, 0, 1]), A.i('count_include_pad', cip), A.i('ceil_mode', 1)], 'avg_ceil'),
        node('Flatten', ['a'], ['fa']),
        node('Flatten', ['b'], ['fb']),
        node('Concat', ['fa', 'fb'], ['y'], [A.i('axis', 1)]),
      ],
    }),
    check: (t, m) => t.equal((m.layers[0].attrs as { countIncludePad: boolean }).countIncludePad, cip === 1),
  });
}

cases.push({
  name: 'LRN, LeakyRelu, Sigmoid, Mul, Sub(c, x), Div(x, c), Dropout, Identity, Concat, GlobalAveragePool',
  dims: [2, 4, 6, 5],
  model: () => encode({
    opset: 13,
    input: ['x', ['N', 4, 6, 5]],
    inits: [f32('c', [1, 4, 1, 1]), f32('d', [4, 1, 1], [1.5, -2, 3, 0.75]), f32('ratio', [], [0.3])],
    nodes: [
      node('LRN', ['x'], ['l'], [A.i('size', 3), A.f('alpha', 0.01), A.f('beta', 0.75), A.f('bias', 2)], 'lrn'),
      node('LeakyRelu', ['l'], ['a'], [A.f('alpha', 0.2)], 'leaky'),
      node('Sigmoid', ['x'], ['b'], [], 'sigmoid'),
      node('Mul', ['a', 'b'], ['m'], [], 'gate'),
      node('Sub', ['c', 'm'], ['s'], [], 'c_minus'),
      node('Div', ['s', 'd'], ['q'], [], 'div'),
      node('Dropout', ['q', 'ratio'], ['dr', 'mask'], [], 'drop'),
      node('Identity', ['dr'], ['id'], [], ''),
      node('Concat', ['id', 'x'], ['cat'], [A.i('axis', 1)], 'cat'),
      node('GlobalAveragePool', ['cat'], ['g'], [], 'gap'),
      node('Flatten', ['g'], ['y'], [], 'flatten'),
    ],
  }),
  check: (t, m) => {
    t.deepEqual(kinds(m), ['lrn', 'leakyRelu', 'sigmoid', 'mul', 'mul', 'add', 'div', 'dropout', 'identity', 'concat', 'globalavgpool', 'flatten']);
    t.ok(m.layers.some((l) => l.name === 'Identity_7'), 'an unnamed node is named op_index');
    t.equal((m.layers[7].attrs as { p: number }).p, Math.fround(0.3), 'dropout ratio from the input');
  },
});

cases.push({
  name: 'Squeeze / Unsqueeze on computed values; Slice, ConstantOfShape and Constant folded',
  dims: [2, 3, 4, 5],
  model: () => encode({
    input: ['x', ['N', 3, 4, 5]],
    inits: [f32('Ball', [10, 3]), i64('ax3', [3]), i64('ax2', [2]), i64('ax23', [2, 3]), i64('st', [2]), i64('en', [7]), i64('ax0', [0])],
    nodes: [
      node('GlobalAveragePool', ['x'], ['g'], [], 'gap'),
      node('Squeeze', ['g', 'ax3'], ['s1'], [], 'squeeze3'),
      node('Squeeze', ['s1', 'ax2'], ['s2'], [], 'squeeze2'),
      node('Slice', ['Ball', 'st', 'en', 'ax0'], ['B'], [], 'slice'),
      node('Gemm', ['s2', 'B'], ['fc'], [A.i('transB', 1)], 'fc'),
      node('Unsqueeze', ['fc', 'ax23'], ['u'], [], 'unsqueeze'),
      node('Constant', [], ['shape'], [A.t('value', i64('', [1, 5, 1, 1]))], 'shape_const'),
      node('ConstantOfShape', ['shape'], ['half'], [A.t('value', f32('', [1], [0.5]))], 'fill'),
      node('Add', ['u', 'half'], ['y'], [], 'add'),
    ],
  }),
  check: (t, m) => {
    t.deepEqual(kinds(m), ['globalavgpool', 'reshape', 'reshape', 'linear', 'reshape', 'add']);
    t.deepEqual(m.layers[3].params.w.shape, [5, 3], 'the sliced weight');
    t.deepEqual((m.layers[4].attrs as { shape: number[] }).shape, [0, 5, 1, 1], 'the batch axis is copied');
  },
});

await onEachBackend('loadOnnx against onnxruntime', cases.map((c) => [c.name, (t) => compare(t, c)]));

// ------------------------------------------------------------------ what needs no backend

test('loadOnnx: a final Softmax prints one notice; softmax(convis) matches ORT with the Softmax', async (t) => {
  const bytes = softmaxNet(true, 500);
  const lines: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((s: string | Uint8Array) => { lines.push(String(s)); return true; }) as typeof process.stderr.write;
  let m: Model;
  try {
    m = await loadOnnx(bytes);
  } finally {
    process.stderr.write = write;
  }
  t.equal(lines.length, 1, 'one line on stderr');
  t.match(lines[0] ?? '', /^loadOnnx: removed the final Softmax \(node "prob"\)/, lines[0]);
  const quiet: string[] = [];
  process.stderr.write = ((s: string | Uint8Array) => { quiet.push(String(s)); return true; }) as typeof process.stderr.write;
  try {
    await loadOnnx(bytes, { quiet: true });
  } finally {
    process.stderr.write = write;
  }
  t.equal(quiet.length, 0, 'quiet: nothing on stderr');
  // softmax of the convis logits against ORT on the full graph, on the first backend
  const [backend] = await availableBackends();
  if (!backend) return;
  const { init, close } = await import('../../src/index.js');
  await init({ backend });
  const x = rand(2 * 3 * 6 * 6, 1, 77);
  const got = await convisRun(m!, x, [2, 3, 6, 6]);
  await close();
  const want = await ortRun(bytes, 'x', x, [2, 3, 6, 6]);
  const soft = new Float32Array(got.data.length);
  for (let r = 0; r < 2; r++) {
    const row = got.data.subarray(r * 10, r * 10 + 10);
    const mx = Math.max(...row);
    const e = Array.from(row, (v) => Math.exp(v - mx));
    const s = e.reduce((p, v) => p + v, 0);
    e.forEach((v, i) => { soft[r * 10 + i] = v / s; });
  }
  const err = relErr(soft, want.data);
  t.ok(err < 1e-4, `softmax(convis) against ORT with the Softmax: ${err.toExponential(2)}`);
});

test('loadOnnx: metadata, names, file paths', async (t) => {
  const pre = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'RGB', scale: 255 };
  const bytes = encode({
    name: 'tiny net',
    metadata: { 'convis.preprocess': JSON.stringify(pre), 'convis.removedSoftmax': 'true' },
    nodes: [node('Relu', ['x'], ['r'], [], 'act'), node('Relu', ['r'], ['y'], [], 'act')],
  });
  const m = await loadOnnx(bytes);
  t.deepEqual(m.preprocess, pre, 'convis.preprocess');
  t.equal(m.removedSoftmax, true, 'convis.removedSoftmax');
  t.equal(m.name, 'tiny net', 'the graph name');
  t.deepEqual(m.layers.map((l) => l.name), ['act', 'act_1'], 'duplicate node names are made unique');
  t.equal(m.input, 'x');
  t.equal(m.output, 'y');
  const file = path.join(await tempDir(), 'tiny.onnx');
  await writeFile(file, bytes);
  const m2 = await loadOnnx(file);
  t.equal(m2.layers.length, 2, 'loads from a file path');
  const fixed = await loadOnnx(encode({ input: ['x', [1, 3, 5, 4]], nodes: [node('Relu', ['x'], ['y'])] }));
  t.deepEqual(fixed.inputShape, [3, 5, 4], 'a fixed batch of 1 is fine too');
  const bad = encode({ metadata: { 'convis.preprocess': '{"mean": [1]}' }, nodes: [node('Relu', ['x'], ['y'])] });
  await rejects(t, loadOnnx(bad), /^loadOnnx: metadata convis.preprocess/, 'malformed preprocess metadata');
});

async function rejects(t: test.Test, p: Promise<unknown>, re: RegExp, what: string): Promise<void> {
  try {
    await p;
    t.fail(`${what}: resolved`);
  } catch (e) {
    t.ok(e instanceof Error && re.test(e.message), `${what}: ${(e as Error).message}`);
  }
}

test('loadOnnx: bad input gives an Error that starts with loadOnnx:', async (t) => {
  await rejects(t, loadOnnx(encode({
    inits: [f32('w', [2, 3, 3, 3])],
    nodes: [node('Conv', ['x', 'w'], ['c']), node('Tanh', ['c'], ['y'], [], 'act1')],
  })), /^loadOnnx: unsupported operator Tanh in node "act1" \(Tanh\); supported: Add, .*Conv.*Unsqueeze/, 'an unsupported op');
  await rejects(t, loadOnnx(encode({ input: ['x', ['N', 10]], nodes: [node('Relu', ['x'], ['y'])] })),
    /^loadOnnx: the input "x" must be 4-D \[N, C, H, W\], got 2-D \[N, 10\]/, 'a 2-D input');
  await rejects(t, loadOnnx(encode({ input: ['x', ['N', 3, 'H', 8]], nodes: [node('Relu', ['x'], ['y'])] })),
    /^loadOnnx: the input "x" \[N, 3, H, 8\] must have fixed C, H and W/, 'a symbolic H');
  await rejects(t, loadOnnx(encode({ nodes: [node('Conv', ['x', 'W'], ['y'], [], 'conv')] })),
    /^loadOnnx: node "conv" \(Conv\) reads "W", which is not an initializer.*missing initializer/, 'a missing initializer');
  await rejects(t, loadOnnx(encode({ inits: [f32('c', [1], [2])], nodes: [node('Div', ['c', 'x'], ['y'], [], 'recip')] })),
    /^loadOnnx: node "recip" \(Div\): Div with a constant numerator/, 'Div(c, x)');
  await rejects(t, loadOnnx(encode({
    input: ['x', ['N', 3, 2, 5]], inits: [f32('B', [31, 7])],
    nodes: [node('Flatten', ['x'], ['f']), node('Gemm', ['f', 'B'], ['y'], [], 'fc')],
  })), /^loadOnnx: node "fc" \(Gemm\): layer fc \(linear\): weight \[7, 31\] expects input \[N, 31\], got \[1, 30\]/, 'inconsistent shapes name the layer');
  await rejects(t, loadOnnx(encode({
    input: ['x', ['N', 3, 2, 5]], inits: [f32('B', [7, 30])],
    nodes: [node('Flatten', ['x'], ['f']), node('Gemm', ['f', 'B'], ['y'], [A.i('transA', 1)], 'fc')],
  })), /^loadOnnx: node "fc" \(Gemm\): transA = 1/, 'Gemm transA');
  await rejects(t, loadOnnx(encode({
    nodes: [node('MaxPool', ['x'], ['y', 'idx'], [A.is('kernel_shape', [2, 2])], 'pool')],
  })), /^loadOnnx: node "pool" \(MaxPool\): the Indices output/, 'MaxPool Indices');
  await rejects(t, loadOnnx(encode({
    inits: bnInits('bn', 3),
    nodes: [node('BatchNormalization', bnIn('x', 'bn'), ['y', 'rm', 'rv'], [A.i('training_mode', 1)], 'bn')],
  })), /^loadOnnx: node "bn" \(BatchNormalization\): training-mode outputs/, 'BN training outputs');
  await rejects(t, loadOnnx(encode({ inits: [f32('w', [2, 2])], nodes: [node('Transpose', ['x'], ['y'], [A.is('perm', [0, 2, 1, 3])], 'tr')] })),
    /^loadOnnx: node "tr" \(Transpose\): Transpose of a computed value/, 'Transpose of the input');
  await rejects(t, loadOnnx(42 as unknown as string), /^loadOnnx: source must be a file path/, 'a number');
  await rejects(t, loadOnnx(null as unknown as string), /^loadOnnx: source must be a file path .* got null/, 'null');
  await rejects(t, loadOnnx(path.join(tmpdir(), 'no-such-model-convis.onnx')), /^loadOnnx: cannot read/, 'a missing file');
  await rejects(t, loadOnnx(new Uint8Array(0)), /^loadOnnx: not an ONNX model: it is empty \(0 bytes\)/, 'no bytes');
  const good = encode({ nodes: [node('Relu', ['x'], ['y'])] });
  await rejects(t, loadOnnx(good.subarray(0, good.length - 3)), /^loadOnnx: /, 'a truncated file');
});

test('loadOnnx: opset 6 broadcast with axis; Softmax over the batch axis is refused', async (t) => {
  const m = await loadOnnx(encode({
    opset: 6,
    inits: [f32('b', [3], [1, 2, 3])],
    nodes: [node('Add', ['x', 'b'], ['y'], [A.i('broadcast', 1), A.i('axis', 1)], 'add')],
  }));
  t.deepEqual(m.layers[0].params.b.shape, [3, 1, 1], 'B [3] aligned at axis 1 of [N, 3, 8, 8]');
  await rejects(t, loadOnnx(encode({
    opset: 11, inits: [f32('two', [1], [2])],
    nodes: [node('Softmax', ['x'], ['s'], [A.i('axis', 0)], 'sm'), node('Mul', ['s', 'two'], ['y'])],
  })), /^loadOnnx: node "sm" \(Softmax\): softmax axis 0 \(opset 11\) normalises across the batch axis/, 'opset 11 Softmax axis 0');
  const own = await loadOnnx(encode({ nodes: [node('Shape', ['x'], ['sh']), node('Reshape', ['x', 'sh'], ['y'], [], 'rs')] }));
  t.deepEqual((own.layers[0].attrs as { shape: number[] }).shape, [0, 3, 8, 8], 'Reshape to its own Shape: the batch entry becomes 0');
});

test('loadOnnx: external data must stay inside the model directory and needs a path', async (t) => {
  const dir = await tempDir();
  const sub = path.join(dir, 'sub');
  await (await import('node:fs/promises')).mkdir(sub, { recursive: true });
  await writeFile(path.join(dir, 'outside.bin'), new Uint8Array(4 * 3 * 3 * 3 * 2));
  const ext = (location: string): Uint8Array => encode({
    inits: [{ name: 'w', dims: [2, 3, 3, 3], dataType: 1, dataLocation: 1, externalData: [{ key: 'location', value: location }] }],
    nodes: [node('Conv', ['x', 'w'], ['y'])],
  });
  for (const loc of ['../outside.bin', path.join(dir, 'outside.bin')]) {
    const file = path.join(sub, 'm.onnx');
    await writeFile(file, ext(loc));
    await rejects(t, loadOnnx(file), /^loadOnnx: initializer "w": external data location .* is not a file inside the model's directory/, `location ${loc}`);
  }
  await rejects(t, loadOnnx(ext('weights.bin')), /^loadOnnx: initializer "w": its data is in the external file "weights.bin", which needs the model to be loaded from a file path/, 'bytes with external data');
  await writeFile(path.join(sub, 'short.bin'), new Uint8Array(10));
  await writeFile(path.join(sub, 'm2.onnx'), ext('short.bin'));
  await rejects(t, loadOnnx(path.join(sub, 'm2.onnx')), /^loadOnnx: initializer "w": external data holds 10 bytes, but float \[2, 3, 3, 3\] needs 216/, 'too few bytes');
  await writeFile(path.join(sub, 'm3.onnx'), ext('missing.bin'));
  await rejects(t, loadOnnx(path.join(sub, 'm3.onnx')), /^loadOnnx: initializer "w": cannot read external data file "missing.bin"/, 'a missing data file');
});

test('loadOnnx: 1,000 random, truncated and corrupted byte strings resolve to a Model or reject with loadOnnx:', async (t) => {
  const next = rng(4242);
  const valid = cases.map((c) => c.model()).filter((m): m is Uint8Array => m instanceof Uint8Array);
  const outcome = { random: [0, 0, 0], truncated: [0, 0, 0], corrupted: [0, 0, 0] }; // models, loadOnnx errors, other
  const others: string[] = [];
  const start = Date.now();
  const tryOne = async (bytes: Uint8Array, kind: keyof typeof outcome) => {
    try {
      await loadOnnx(bytes, { quiet: true });
      outcome[kind][0]++;
    } catch (e) {
      if (e instanceof Error && e.message.startsWith('loadOnnx:')) outcome[kind][1]++;
      else {
        outcome[kind][2]++;
        if (others.length < 5) others.push(String(e instanceof Error ? e.stack : e));
      }
    }
  };
  for (let i = 0; i < 400; i++) {
    const n = Math.floor(next() * 300);
    await tryOne(Uint8Array.from({ length: n }, () => Math.floor(next() * 256)), 'random');
  }
  for (let i = 0; i < 400; i++) {
    const src = valid[i % valid.length];
    await tryOne(src.slice(0, Math.floor(next() * src.length)), 'truncated');
  }
  for (let i = 0; i < 200; i++) {
    const src = Uint8Array.from(valid[i % valid.length]);   // a copy (Buffer.slice would be a view)
    for (let k = 0; k < 1 + Math.floor(next() * 4); k++) src[Math.floor(next() * src.length)] = Math.floor(next() * 256);
    await tryOne(src, 'corrupted');
  }
  const ms = Date.now() - start;
  t.equal(outcome.random[2], 0, `400 random: ${outcome.random[0]} models, ${outcome.random[1]} loadOnnx errors, no other outcome`);
  t.equal(outcome.truncated[2], 0, `400 truncated: ${outcome.truncated[0]} models, ${outcome.truncated[1]} loadOnnx errors, no other outcome`);
  t.equal(outcome.corrupted[2], 0, `200 corrupted: ${outcome.corrupted[0]} models, ${outcome.corrupted[1]} loadOnnx errors, no other outcome`);
  if (others.length) t.comment(others.join('\n'));
  t.ok(ms < 30000, `all 1,000 in ${ms} ms (limit 30 s)`);
});

test('loadOnnx: clean up', async (t) => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
  t.pass('temporary files removed');
});
