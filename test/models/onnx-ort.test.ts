// ONNX export checked against onnxruntime-node: small VGG-, AlexNet-, ResNet-, SqueezeNet- and MobileNet-style
// models (and one that uses every other layer kind) are encoded with encodeOnnx, run in ORT on a random batch of
// two, and compared with Model.forward on every available convis backend. Also: the file's structure, saveOnnx
// writing a file ORT loads by path, deterministic bytes, and the errors of bad arguments.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import test from 'tape';
import { close, init, Model, nn, tensor } from '../../src/index.js';
import type { LayerSpec } from '../../src/models/nn.js';
import { encodeOnnx, saveOnnx } from '../../src/models/onnx/export.js';
import { availableBackends } from '../helpers/backends.js';
import { relErr, normals } from '../helpers/numeric.js';

const { onnx } = onnxProto;
const backends = await availableBackends();

const TOL = 1e-4;



// ---- the models -------------------------------------------------------------------------------------------

function vgg(): Model {
  return nn.sequential(
    nn.conv2d(3, 8, 3, { padding: 1 }), nn.relu(), nn.conv2d(8, 8, 3, { padding: 1 }), nn.relu(), nn.maxPool2d({ kernel: 2 }),
    nn.conv2d(8, 16, 3, { padding: 1 }), nn.relu(), nn.maxPool2d({ kernel: 2 }),
    nn.flatten(), nn.linear(16 * 8 * 8, 32), nn.relu(), nn.dropout(0.5), nn.linear(32, 10),
    { inputShape: [3, 32, 32], seed: 11, name: 'vgg_small' },
  );
}

function alexnet(): Model {
  // 11x11 stride-4 conv with padding, LRN (a larger alpha than AlexNet's, so that it changes the values), grouped
  // convs, overlapping 3/2 max pools
  const lrn = () => nn.localResponseNorm({ size: 5, alpha: 0.05, beta: 0.75, k: 2 });
  return nn.sequential(
    nn.conv2d(3, 8, 11, { stride: 4, padding: 2 }), nn.relu(), lrn(), nn.maxPool2d({ kernel: 3, stride: 2 }),   // 15 -> 7
    nn.conv2d(8, 16, 5, { padding: 2, groups: 2 }), nn.relu(), lrn(), nn.maxPool2d({ kernel: 3, stride: 2 }),    // 7 -> 3
    nn.conv2d(16, 16, 3, { padding: 1 }), nn.relu(),
    nn.conv2d(16, 16, 3, { padding: 1, groups: 2 }), nn.relu(), nn.maxPool2d({ kernel: 3, stride: 2 }),          // 3 -> 1
    nn.flatten(), nn.dropout(), nn.linear(16, 24), nn.relu(), nn.dropout(), nn.linear(24, 10),
    { inputShape: [3, 64, 64], seed: 12, name: 'alexnet_small' },
  );
}

function resnet(): Model {
  const g = nn.graph([3, 32, 32], { seed: 13, name: 'resnet_small' });
  const cbr = (cin: number, cout: number, stride: number, from: string, relu = true) => {
    let h = g.add(nn.conv2d(cin, cout, 3, { stride, padding: 1, bias: false }), from);
    h = g.add(nn.batchNorm(cout), h);
    return relu ? g.add(nn.relu(), h) : h;
  };
  const stem = cbr(3, 8, 1, g.input);
  // identity block
  let h = cbr(8, 8, 1, stem);
  h = cbr(8, 8, 1, h, false);
  const b1 = g.add(nn.relu(), g.add(nn.add(), h, stem));
  // downsampling block with a projection shortcut
  h = cbr(8, 16, 2, b1);
  h = cbr(16, 16, 1, h, false);
  const sc = g.add(nn.batchNorm(16), g.add(nn.conv2d(8, 16, 1, { stride: 2, bias: false }), b1));
  const b2 = g.add(nn.relu(), g.add(nn.add(), h, sc));
  g.add(nn.linear(16, 10), g.add(nn.flatten(), g.add(nn.globalAvgPool2d(), b2)));
  return g.build();
}

function squeezenet(): Model {
  const g = nn.graph([3, 48, 48], { seed: 14, name: 'squeezenet_small' });
  const fire = (from: string, cin: number, squeeze: number, expand: number) => {
    const s = g.add(nn.relu(), g.add(nn.conv2d(cin, squeeze, 1), from));
    const e1 = g.add(nn.relu(), g.add(nn.conv2d(squeeze, expand, 1), s));
    const e3 = g.add(nn.relu(), g.add(nn.conv2d(squeeze, expand, 3, { padding: 1 }), s));
    return g.add(nn.concat(1), e1, e3);
  };
  let h = g.add(nn.relu(), g.add(nn.conv2d(3, 16, 3, { stride: 2 }), g.input));      // 23x23
  h = g.add(nn.maxPool2d({ kernel: 3, stride: 2, ceilMode: true }), h);               // 11x11
  h = fire(h, 16, 4, 8);
  h = fire(h, 16, 4, 16);
  h = g.add(nn.maxPool2d({ kernel: 3, stride: 2, ceilMode: true }), h);               // 5x5
  h = fire(h, 32, 8, 16);
  h = g.add(nn.dropout(0.5), h);
  h = g.add(nn.relu(), g.add(nn.conv2d(32, 10, 1), h));
  h = g.add(nn.avgPool2d({ kernel: 3, stride: 1, padding: 1, countIncludePad: false }), h);
  h = g.add(nn.avgPool2d({ kernel: 2, stride: 2, ceilMode: true }), h);               // 5 -> 3, a partial last window
  g.add(nn.flatten(), g.add(nn.globalAvgPool2d(), h));
  return g.build();
}

function mobilenet(): Model {
  const blocks: LayerSpec[] = [];
  const cbr = (cin: number, cout: number, k: number, stride: number, groups: number) =>
    blocks.push(nn.conv2d(cin, cout, k, { stride, padding: (k - 1) / 2, groups, bias: false }), nn.batchNorm(cout), nn.relu6());
  cbr(3, 8, 3, 2, 1);     // 16x16
  cbr(8, 8, 3, 1, 8);     // depthwise
  cbr(8, 16, 1, 1, 1);    // pointwise
  cbr(16, 16, 3, 2, 16);  // depthwise, 8x8
  cbr(16, 32, 1, 1, 1);
  return nn.sequential(
    ...blocks, nn.globalAvgPool2d(), nn.flatten(), nn.dropout(0.2), nn.linear(32, 10),
    { inputShape: [3, 32, 32], seed: 15, name: 'mobilenet_small' },
  );
}

/** The remaining kinds: leakyRelu, sigmoid, pad, reshape, softmax, sub/mul/div (with a constant and two values), identity. */
function misc(): Model {
  const g = nn.graph([4, 12, 12], { seed: 16, name: 'misc_kinds' });
  const c = (v: number[]) => ({ shape: [1, 4, 1, 1], data: new Float32Array(v) });
  const op = (kind: 'sub' | 'mul' | 'div', b?: number[]): LayerSpec =>
    ({ kind, attrs: {}, params: b ? { b: c(b) } : undefined }) as LayerSpec;
  let h = g.add(nn.pad([1, 2, 0, 1], 0.25), g.input);                                  // 13x15
  h = g.add(nn.conv2d(4, 4, 3, { dilation: 2, padding: [2, 1, 0, 1] }), h);             // 11x13
  const a = g.add(nn.leakyRelu(0.1), h);
  const s = g.add(nn.sigmoid(), h);
  h = g.add(op('mul'), a, s);
  h = g.add(op('sub', [0.5, -0.25, 1, 0]), h);
  h = g.add(op('div', [2, 0.5, 1.5, -3]), h);
  h = g.add(op('div'), h, g.add(op('mul', [1, 2, 3, 4]), s));
  h = g.add(nn.softmax(1), h);
  h = g.add(nn.identity(), h);
  h = g.add(nn.maxPool2d({ kernel: 2, stride: 2, padding: 1, ceilMode: true }), h);     // 6x7 (ceil, less the window in the padding)
  h = g.add(nn.reshape([0, -1, 7]), h);                                                 // [N, 24, 7]
  h = g.add(nn.reshape([0, 4 * 6 * 7]), h);
  h = g.add(nn.linear(168, 6, { bias: false }), h);
  g.add({ kind: 'mul', attrs: {}, params: { b: { shape: [6], data: new Float32Array([1, -1, 2, -2, 3, -3]) } } } as LayerSpec, h);
  return g.build();
}

/** label, builder, and the input's standard deviation (MobileNet's 4 sends 4-11% of each ReLU6's inputs above 6) */
const MODELS: [string, () => Model, number][] = [
  ['VGG-style', vgg, 1], ['AlexNet-style', alexnet, 1], ['ResNet-style', resnet, 1],
  ['SqueezeNet-style', squeezenet, 1], ['MobileNet-style', mobilenet, 4], ['other layer kinds', misc, 1],
];

// ---- ORT, once (it does not depend on the convis backend) --------------------------------------------------

interface Case { name: string; model: Model; x: Float32Array; xShape: number[]; expected: Float32Array; expectedShape: number[] }
const cases: Case[] = [];

async function runOrt(source: Uint8Array | string, inputName: string, x: Float32Array, shape: number[]): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(source as Uint8Array, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const out = await session.run({ [inputName]: new ort.Tensor('float32', x, shape) });
    return out[session.outputNames[0]];
  } finally {
    await session.release();
  }
}

MODELS.forEach(([label, build, std], i) => {
  test(`onnx export: ${label} runs in onnxruntime`, async (t) => {
    const model = build();
    const bytes = encodeOnnx(model);
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    t.deepEqual(session.inputNames, [model.input], `input ${model.input}`);
    t.deepEqual(session.outputNames, [model.output], `output ${model.output}`);
    const xShape = [2, ...model.inputShape];
    const x = normals(xShape.reduce((p, d) => p * d, 1), 100 + i).map((v) => v * std);
    const out = (await session.run({ [model.input]: new ort.Tensor('float32', x, xShape) }))[model.output];
    await session.release();
    const expectedShape = [2, ...model.outputShape.slice(1)];
    t.deepEqual([...out.dims], expectedShape, `ORT output shape [${out.dims.join(', ')}]`);
    const expected = out.data as Float32Array;
    t.ok(expected.every(Number.isFinite), 'finite');
    cases.push({ name: label, model, x, xShape, expected, expectedShape });
    console.log(`# ${label}: ${model.layers.length} layers, ${(bytes.length / 1024).toFixed(1)} KiB of ONNX`);
  });
});

for (const backend of backends) {
  test(`${backend} onnx export: init`, async (t) => {
    const info = await init({ backend });
    t.equal(info.name, backend, `opened ${info.device}`);
  });
  for (const [label] of MODELS) {
    test(`${backend} onnx export: ${label} forward equals onnxruntime`, async (t) => {
      const c = cases.find((k) => k.name === label);
      if (!c) {
        t.fail('no ORT result (its test failed)');
        return;
      }
      const x = tensor(c.x, c.xShape);
      const y = c.model.forward(x);
      t.deepEqual(y.shape, c.expectedShape, 'shape');
      const e = relErr(await y.data(), c.expected);
      t.ok(e < TOL, `${backend} ${label}: relative error ${e.toExponential(2)} (< ${TOL})`);
      console.log(`# relerr ${backend} ${label}: ${e.toExponential(3)}`);
      x.dispose();
      y.dispose();
      c.model.releaseWeights();
    });
  }
  test(`${backend} onnx export: close`, async (t) => {
    await close();
    t.pass('closed');
  });
}

// ---- the file itself ----------------------------------------------------------------------------------------

test('onnx export: a standard ONNX file (IR 7, opset 13, symbolic batch, raw float32 initializers, metadata)', (t) => {
  const m = nn.sequential(
    nn.conv2d(3, 4, 3, { stride: [1, 2], padding: [1, 2, 3, 0], name: 'c1' }), nn.relu6({ name: 'r' }),
    nn.flatten(1, { name: 'f' }), nn.linear(4 * 8 * 3, 5, { name: 'fc' }),
    { inputShape: [3, 6, 6], seed: 3, name: 'tiny', preprocess: { mean: [1, 2, 3], std: [4, 5, 6], channelOrder: 'BGR', scale: 255 } },
  );
  const p = onnx.ModelProto.decode(encodeOnnx(m));
  t.equal(Number(p.irVersion), 7, 'ir_version 7');
  t.deepEqual(p.opsetImport.map((o) => [o.domain, Number(o.version)]), [['', 13]], 'opset 13, default domain');
  t.equal(p.producerName, 'convis');
  const g = p.graph!;
  t.equal(g.name, 'tiny', 'graph name = model name');
  const dims = (v: onnxProto.onnx.IValueInfoProto) => v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
  t.deepEqual(g.input.map((v) => v.name), ['input']);
  t.deepEqual(dims(g.input[0]), ['N', 3, 6, 6], 'input [N, C, H, W]');
  t.equal(g.input[0].type!.tensorType!.elemType, 1, 'float input');
  t.deepEqual(g.output.map((v) => v.name), ['fc']);
  t.deepEqual(dims(g.output[0]), ['N', 5], 'output [N, 5]');
  t.deepEqual(g.node.map((n) => [n.name, n.opType, n.input, n.output]), [
    ['c1', 'Conv', ['input', 'c1.w', 'c1.b'], ['c1']],
    ['r', 'Clip', ['c1', 'r.min', 'r.max'], ['r']],
    ['f', 'Flatten', ['r'], ['f']],
    ['fc', 'Gemm', ['f', 'fc.w', 'fc.b'], ['fc']],
  ], 'nodes named after the layers, values after their outputs');
  const attrs = (n: onnxProto.onnx.INodeProto) =>
    Object.fromEntries(n.attribute!.map((a) => [a.name, a.ints?.length ? a.ints.map(Number) : a.type === 1 ? a.f : Number(a.i)]));
  t.deepEqual(attrs(g.node[0]), { dilations: [1, 1], group: 1, kernel_shape: [3, 3], pads: [1, 2, 3, 0], strides: [1, 2] }, 'Conv attributes');
  t.equal(attrs(g.node[3]).transB, 1, 'Gemm transB = 1');
  t.deepEqual(g.initializer.map((i) => [i.name, i.dims!.map(Number), i.dataType]), [
    ['c1.w', [4, 3, 3, 3], 1], ['c1.b', [4], 1], ['r.min', [], 1], ['r.max', [], 1], ['fc.w', [5, 96], 1], ['fc.b', [5], 1],
  ], 'initializers <layer>.<param>');
  const w = g.initializer[0];
  t.equal(w.rawData!.length, 4 * 108, 'raw_data, 4 bytes a value');
  const view = new DataView(w.rawData!.buffer, w.rawData!.byteOffset, w.rawData!.byteLength);
  const first = [0, 1, 107].map((i) => view.getFloat32(i * 4, true));
  const src = m.layers[0].params.w.data;
  t.deepEqual(first, [src[0], src[1], src[107]], 'little-endian float32');
  t.deepEqual(Object.fromEntries(p.metadataProps.map((e) => [e.key, e.value])),
    { 'convis.preprocess': JSON.stringify({ mean: [1, 2, 3], std: [4, 5, 6], channelOrder: 'BGR', scale: 255 }) }, 'preprocess metadata');

  const s = new Model([2, 3, 3], [
    { kind: 'flatten', name: 'f', inputs: ['x'], output: 'f', attrs: { axis: 1 }, params: {} },
    { kind: 'reshape', name: 'r', inputs: ['f'], output: 'r', attrs: { shape: [0, -1] }, params: {} },
  ], { name: 'cut', input: 'x', removedSoftmax: true });
  const q = onnx.ModelProto.decode(encodeOnnx(s));
  t.deepEqual(q.metadataProps.map((e) => [e.key, e.value]), [['convis.removedSoftmax', 'true']], 'removedSoftmax metadata');
  t.equal(q.graph!.input[0].name, 'x', 'the model input name');
  const shape = q.graph!.initializer[0];
  t.equal(shape.name, 'r.shape');
  t.equal(shape.dataType, 7, 'Reshape shape is int64');
  const sv = new DataView(shape.rawData!.buffer, shape.rawData!.byteOffset, shape.rawData!.byteLength);
  t.deepEqual([sv.getBigInt64(0, true), sv.getBigInt64(8, true)], [0n, -1n], 'int64 [0, -1]');
  t.end();
});

test('onnx export: an output that is not batch-major declares no batch axis', async (t) => {
  const m = nn.sequential(nn.conv2d(2, 3, 3), nn.flatten(0), { inputShape: [2, 5, 5], seed: 4 });
  const bytes = encodeOnnx(m);
  const dims = onnx.ModelProto.decode(bytes).graph!.output[0].type!.tensorType!.shape!.dim!;
  t.deepEqual(dims.map((d) => [d.dimParam ?? '', Number(d.dimValue ?? 0)]), [['', 1], ['', 0]], 'Flatten(axis 0): [1, unnamed]');
  const y = await runOrt(bytes, 'input', normals(100, 3), [2, 2, 5, 5]);
  t.deepEqual([...y.dims], [1, 54], 'ORT runs it on a batch of 2');
});

test('onnx export: a model ending in Softmax runs in onnxruntime', async (t) => {
  const m = nn.sequential(nn.conv2d(2, 3, 3), nn.flatten(), nn.linear(3 * 4 * 4, 4), nn.softmax(1), { inputShape: [2, 6, 6], seed: 9 });
  const y = await runOrt(encodeOnnx(m), 'input', normals(144, 5), [2, 2, 6, 6]);
  const d = y.data as Float32Array;
  t.ok(Math.abs(d[0] + d[1] + d[2] + d[3] - 1) < 1e-5 && Math.abs(d[4] + d[5] + d[6] + d[7] - 1) < 1e-5, 'rows sum to 1');
});

test('onnx export: the same model gives the same bytes', (t) => {
  for (const [label, build] of MODELS) {
    const a = encodeOnnx(build()), b = encodeOnnx(build());
    t.ok(Buffer.from(a).equals(Buffer.from(b)), `${label}: two builds with one seed, identical bytes (${a.length})`);
  }
  const m = vgg();
  t.ok(Buffer.from(encodeOnnx(m)).equals(Buffer.from(encodeOnnx(m))), 'one model encoded twice');
  const other = nn.sequential(nn.conv2d(3, 8, 3, { padding: 1 }), nn.relu(), { inputShape: [3, 8, 8], seed: 2 });
  const other2 = nn.sequential(nn.conv2d(3, 8, 3, { padding: 1 }), nn.relu(), { inputShape: [3, 8, 8], seed: 3 });
  t.notOk(Buffer.from(encodeOnnx(other)).equals(Buffer.from(encodeOnnx(other2))), 'another seed, other bytes');
  t.end();
});

test('onnx export: saveOnnx writes a file that onnxruntime loads by path', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'convis-onnx-'));
  try {
    const m = resnet();
    const path = join(dir, 'resnet.onnx');
    await saveOnnx(m, path);
    const bytes = await readFile(path);
    t.ok(bytes.equals(Buffer.from(encodeOnnx(m))), `the file holds encodeOnnx's bytes (${bytes.length})`);
    const x = normals(2 * 3 * 32 * 32, 7);
    const fromPath = await runOrt(path, 'input', x, [2, 3, 32, 32]);
    const fromBytes = await runOrt(encodeOnnx(m), 'input', x, [2, 3, 32, 32]);
    t.deepEqual([...fromPath.dims], [2, 10], 'ORT loads it from its path');
    t.deepEqual(Array.from(fromPath.data as Float32Array), Array.from(fromBytes.data as Float32Array), 'same results as from bytes');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('onnx export: bad arguments throw named errors', async (t) => {
  const m = nn.sequential(nn.conv2d(3, 2, 3), nn.relu(), { inputShape: [3, 5, 5] });
  const rejects = async (p: Promise<unknown>, re: RegExp, what: string) => {
    try {
      await p;
      t.fail(`${what}: did not throw`);
    } catch (e) {
      t.ok(e instanceof Error && re.test(e.message), `${what}: ${(e as Error).message}`);
    }
  };
  await rejects(saveOnnx(null as unknown as Model, '/tmp/x.onnx'), /^saveOnnx: model must be a Model/, 'null model');
  await rejects(saveOnnx({ layers: 3 } as unknown as Model, '/tmp/x.onnx'), /^saveOnnx: model must be a Model .*an object with keys layers/, 'not a model');
  await rejects(saveOnnx(m, ''), /^saveOnnx: path must be a non-empty string/, 'empty path');
  await rejects(saveOnnx(m, 42 as unknown as string), /^saveOnnx: path must be a non-empty string, got number 42/, 'numeric path');
  await rejects(saveOnnx(m, undefined as unknown as string), /^saveOnnx: path must be a non-empty string/, 'no path');
  await rejects(saveOnnx(m, join(tmpdir(), 'convis-no-such-dir', 'deeper', 'm.onnx')), /^saveOnnx: cannot write .*m\.onnx: ENOENT/, 'missing directory');
  const bogus = new Model([3, 4, 4], [{ kind: 'bogus' as 'relu', name: 'b0', inputs: ['input'], output: 'b0', attrs: {}, params: {} }]);
  await rejects(saveOnnx(bogus, join(tmpdir(), 'bogus.onnx')), /^saveOnnx: layer b0 has kind "bogus", which has no ONNX mapping/, 'unknown kind');
  t.throws(() => encodeOnnx(bogus), /^Error: encodeOnnx: layer b0 has kind "bogus"/, 'encodeOnnx names itself');
  t.throws(() => encodeOnnx(undefined as unknown as Model), /^Error: encodeOnnx: model must be a Model/, 'encodeOnnx without a model');
  const conv = nn.sequential(nn.conv2d(3, 2, 1, { name: 'c' }), { inputShape: [3, 2, 2] }).layers[0];
  const named = new Model([3, 2, 2], [
    { kind: 'relu', name: 'a', inputs: ['input'], output: 'c.w', attrs: {}, params: {} },
    { ...conv, inputs: ['c.w'] },
  ]);
  t.throws(() => encodeOnnx(named), /^Error: encodeOnnx: model model: the name "c\.w" \(a constant of layer c\) is used twice/, 'a weight named like a value');
  const broken = new Model([3, 2, 2], [{ ...conv, params: { ...conv.params } }]);
  (broken.layers[0].params as Record<string, unknown>).b = { shape: [5], data: new Float32Array(2) };
  t.throws(() => encodeOnnx(broken), /^Error: encodeOnnx: layer c \(conv\): weight b has shape \[5\] but 2 values/, 'weight size mismatch');
});
