// ONNX round trip: export → loadOnnx → export again. For models where no BatchNormalization directly follows a
// Conv, the second file equals the first byte for byte, and the loaded model's layers and weights equal the
// original's (a Dropout comes back as an Identity: the file holds the inference graph). The importer folds a
// BatchNormalization into the Conv that feeds only it, so for the ResNet- and MobileNet-style models (conv → BN
// throughout) the test compares outputs instead, checks that the BN layers are gone, and that the folded model
// is itself a fixed point of the round trip (bytes again).

import test from 'tape';
import { close, init, type Layer, type Model, nn, tensor } from '../../src/index.js';
import type { LayerSpec } from '../../src/models/nn.js';
import { encodeOnnx } from '../../src/models/onnx/export.js';
import { loadOnnx } from '../../src/models/onnx/import.js';
import { availableBackends } from '../helpers/backends.js';
import { relErr, normals } from '../helpers/numeric.js';

const backends = await availableBackends();



// ---- models without a BatchNormalization directly after a Conv: compared byte for byte ----------------------

function vgg(): Model {
  return nn.sequential(
    nn.conv2d(3, 8, 3, { padding: 1 }), nn.relu(), nn.maxPool2d({ kernel: 2 }),
    nn.conv2d(8, 16, 3, { padding: 1 }), nn.relu(), nn.maxPool2d({ kernel: 2 }),
    nn.flatten(), nn.linear(16 * 8 * 8, 32), nn.relu(), nn.dropout(0.5), nn.linear(32, 10),
    { inputShape: [3, 32, 32], seed: 21, name: 'vgg_small', preprocess: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'RGB', scale: 1 } },
  );
}

function alexnet(): Model {
  const lrn = () => nn.localResponseNorm({ size: 5, alpha: 0.05, beta: 0.75, k: 2 });
  return nn.sequential(
    nn.conv2d(3, 8, 11, { stride: 4, padding: 2 }), nn.relu(), lrn(), nn.maxPool2d({ kernel: 3, stride: 2 }),
    nn.conv2d(8, 16, 5, { padding: 2, groups: 2 }), nn.relu(), lrn(), nn.maxPool2d({ kernel: 3, stride: 2 }),
    nn.conv2d(16, 16, 3, { padding: 1, groups: 2 }), nn.relu(), nn.maxPool2d({ kernel: 3, stride: 2 }),
    nn.flatten(), nn.linear(16, 10),
    { inputShape: [3, 64, 64], seed: 22, name: 'alexnet_small', removedSoftmax: true },
  );
}

function squeezenet(): Model {
  const g = nn.graph([3, 48, 48], { seed: 23, name: 'squeezenet_small' });
  const fire = (from: string, cin: number, squeeze: number, expand: number) => {
    const s = g.add(nn.relu(), g.add(nn.conv2d(cin, squeeze, 1), from));
    const e1 = g.add(nn.relu(), g.add(nn.conv2d(squeeze, expand, 1), s));
    const e3 = g.add(nn.relu(), g.add(nn.conv2d(squeeze, expand, 3, { padding: 1 }), s));
    return g.add(nn.concat(1), e1, e3);
  };
  let h = g.add(nn.relu(), g.add(nn.conv2d(3, 16, 3, { stride: 2 }), g.input));
  h = g.add(nn.maxPool2d({ kernel: 3, stride: 2, ceilMode: true }), h);
  h = fire(h, 16, 4, 8);
  h = g.add(nn.maxPool2d({ kernel: 3, stride: 2, ceilMode: true }), h);
  h = fire(h, 16, 8, 16);
  h = g.add(nn.relu(), g.add(nn.conv2d(32, 10, 1), h));
  h = g.add(nn.avgPool2d({ kernel: 3, stride: 1, padding: 1, countIncludePad: false }), h);
  g.add(nn.flatten(), g.add(nn.globalAvgPool2d(), h));
  return g.build();
}

/** BatchNorm after a ReLU (not folded), a residual Add, and the remaining kinds. */
function misc(): Model {
  const g = nn.graph([4, 12, 12], { seed: 24, name: 'misc_kinds' });
  const c = (v: number[]) => ({ shape: [1, 4, 1, 1], data: new Float32Array(v) });
  const op = (kind: 'sub' | 'mul' | 'div', b?: number[]): LayerSpec =>
    ({ kind, attrs: {}, params: b ? { b: c(b) } : undefined }) as LayerSpec;
  let h = g.add(nn.pad([1, 2, 0, 1], 0.25), g.input);
  h = g.add(nn.conv2d(4, 4, 3, { dilation: 2, padding: [2, 1, 0, 1] }), h);
  const r = g.add(nn.relu(), h);
  const bn = g.add(nn.batchNorm(4, { eps: 1e-3 }), r);
  h = g.add(nn.add(), bn, r);
  const a = g.add(nn.leakyRelu(0.1), h);
  const s = g.add(nn.sigmoid(), h);
  h = g.add(op('mul'), a, s);
  h = g.add(op('sub', [0.5, -0.25, 1, 0]), h);
  h = g.add(op('div', [2, 0.5, 1.5, -3]), h);
  h = g.add(op('div'), h, g.add(op('mul', [1, 2, 3, 4]), s));
  h = g.add(nn.softmax(1), h);
  h = g.add(nn.clip(-0.5, 0.75), h);
  h = g.add(nn.identity(), h);
  h = g.add(nn.maxPool2d({ kernel: 2, stride: 2, padding: 1, ceilMode: true }), h);
  h = g.add(nn.reshape([0, -1, 7]), h);
  h = g.add(nn.reshape([0, 4 * 6 * 7]), h);
  g.add(nn.linear(168, 6, { bias: false }), h);
  return g.build();
}

// ---- models with conv → BN: compared by outputs ---------------------------------------------------------------

function resnet(): Model {
  const g = nn.graph([3, 32, 32], { seed: 25, name: 'resnet_small' });
  const cbr = (cin: number, cout: number, stride: number, from: string, relu = true) => {
    let h = g.add(nn.conv2d(cin, cout, 3, { stride, padding: 1, bias: false }), from);
    h = g.add(nn.batchNorm(cout), h);
    return relu ? g.add(nn.relu(), h) : h;
  };
  const stem = cbr(3, 8, 1, g.input);
  let h = cbr(8, 8, 1, stem);
  h = cbr(8, 8, 1, h, false);
  const b1 = g.add(nn.relu(), g.add(nn.add(), h, stem));
  h = cbr(8, 16, 2, b1);
  h = cbr(16, 16, 1, h, false);
  const sc = g.add(nn.batchNorm(16), g.add(nn.conv2d(8, 16, 1, { stride: 2, bias: false }), b1));
  const b2 = g.add(nn.relu(), g.add(nn.add(), h, sc));
  g.add(nn.linear(16, 10), g.add(nn.flatten(), g.add(nn.globalAvgPool2d(), b2)));
  return g.build();
}

function mobilenet(): Model {
  const blocks: LayerSpec[] = [];
  const cbr = (cin: number, cout: number, k: number, stride: number, groups: number) =>
    blocks.push(nn.conv2d(cin, cout, k, { stride, padding: (k - 1) / 2, groups, bias: false }), nn.batchNorm(cout), nn.relu6());
  cbr(3, 8, 3, 2, 1);
  cbr(8, 8, 3, 1, 8);
  cbr(8, 16, 1, 1, 1);
  cbr(16, 16, 3, 2, 16);
  cbr(16, 32, 1, 1, 1);
  return nn.sequential(...blocks, nn.globalAvgPool2d(), nn.flatten(), nn.linear(32, 10), { inputShape: [3, 32, 32], seed: 26, name: 'mobilenet_small' });
}

const BYTES: [string, () => Model][] = [['VGG-style', vgg], ['AlexNet-style', alexnet], ['SqueezeNet-style', squeezenet], ['other kinds, BN after ReLU', misc]];
const FOLDED: [string, () => Model][] = [['ResNet-style', resnet], ['MobileNet-style', mobilenet]];

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/** Where two layer lists first differ, or null. A dropout may come back as an identity. */
function layerDiff(a: readonly Layer[], b: readonly Layer[]): string | null {
  if (a.length !== b.length) return `${a.length} layers vs ${b.length}: ${a.map((l) => l.name).join(',')} / ${b.map((l) => l.name).join(',')}`;
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    const where = `layer ${i} (${x.name}, ${x.kind})`;
    if (x.name !== y.name) return `${where}: name ${y.name}`;
    if (x.kind !== y.kind && !(x.kind === 'dropout' && y.kind === 'identity')) return `${where}: kind ${y.kind}`;
    if (JSON.stringify(x.inputs) !== JSON.stringify(y.inputs)) return `${where}: inputs ${JSON.stringify(x.inputs)} vs ${JSON.stringify(y.inputs)}`;
    if (x.output !== y.output) return `${where}: output ${x.output} vs ${y.output}`;
    // ONNX float attributes (LRN alpha, BN epsilon, ...) are float32: 0.05 comes back as Math.fround(0.05), which
    // writes the same bits again. Key order is not part of a layer.
    const norm = (o: object) => JSON.stringify(Object.entries(o).sort(([p], [q]) => (p < q ? -1 : 1)),
      (_, v) => (typeof v === 'number' ? Math.fround(v) : v));
    if (x.kind !== 'dropout' && norm(x.attrs) !== norm(y.attrs)) return `${where}: attrs ${JSON.stringify(x.attrs)} vs ${JSON.stringify(y.attrs)}`;
    const kx = Object.keys(x.params).sort(), ky = Object.keys(y.params).sort();
    if (kx.join() !== ky.join()) return `${where}: params ${kx.join(',')} vs ${ky.join(',')}`;
    for (const k of kx) {
      const p = x.params[k], q = y.params[k];
      if (p.shape.join() !== q.shape.join()) return `${where}: ${k} shape [${p.shape}] vs [${q.shape}]`;
      if (!same(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength), new Uint8Array(q.data.buffer, q.data.byteOffset, q.data.byteLength))) {
        return `${where}: ${k} values differ`;
      }
    }
  }
  return null;
}

/** The first differing byte of two files, for a failure message. */
function byteDiff(a: Uint8Array, b: Uint8Array): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `lengths ${a.length} and ${b.length}, first difference at byte ${i}`;
}

for (const [label, build] of BYTES) {
  test(`onnx round trip: ${label}, byte for byte`, async (t) => {
    const m = build();
    const first = encodeOnnx(m);
    const loaded = await loadOnnx(first);
    const diff = layerDiff(m.layers, loaded.layers);
    t.equal(diff, null, `layers and weights equal${diff ? `: ${diff}` : ''}`);
    t.equal(loaded.name, m.name, 'name');
    t.deepEqual(loaded.inputShape, m.inputShape, 'input shape');
    t.equal(loaded.input, m.input, 'input value');
    t.equal(loaded.output, m.output, 'output value');
    t.deepEqual(loaded.outputShape, m.outputShape, 'output shape');
    t.deepEqual(loaded.preprocess, m.preprocess, 'preprocess');
    t.equal(loaded.removedSoftmax, m.removedSoftmax, 'removedSoftmax');
    const second = encodeOnnx(loaded);
    t.ok(same(first, second), `encodeOnnx(loadOnnx(encodeOnnx(m))) equals encodeOnnx(m) (${same(first, second) ? `${first.length} bytes` : byteDiff(first, second)})`);
  });
}

for (const [label, build] of FOLDED) {
  test(`onnx round trip: ${label} (conv → BN folded on import), a fixed point after one trip`, async (t) => {
    const m = build();
    const loaded = await loadOnnx(encodeOnnx(m));
    const bn = m.layers.filter((l) => l.kind === 'batchnorm').length;
    t.equal(loaded.layers.filter((l) => l.kind === 'batchnorm').length, 0, `the ${bn} BatchNormalization layers are folded into their convs`);
    t.equal(loaded.layers.length, m.layers.length - bn, `${loaded.layers.length} layers`);
    t.deepEqual(loaded.outputShape, m.outputShape, 'output shape');
    const once = encodeOnnx(loaded);
    const twice = encodeOnnx(await loadOnnx(once));
    t.ok(same(once, twice), `a second trip gives the same bytes (${same(once, twice) ? `${once.length} bytes` : byteDiff(once, twice)})`);
  });
}

for (const backend of backends) {
  test(`${backend} onnx round trip: the loaded models compute what the originals do`, async (t) => {
    await init({ backend });
    for (const [label, build] of [...FOLDED, ...BYTES]) {
      const m = build();
      const loaded = await loadOnnx(encodeOnnx(m));
      const shape = [2, ...m.inputShape];
      const x = tensor(normals(shape.reduce((p, d) => p * d, 1), 7), shape);
      const a = m.forward(x), b = loaded.forward(x);
      const e = relErr(await b.data(), await a.data());
      t.ok(e < 1e-5, `${backend} ${label}: relative error ${e.toExponential(2)}`);
      console.log(`# relerr ${backend} round trip ${label}: ${e.toExponential(3)}`);
      for (const y of [x, a, b]) y.dispose();
      m.releaseWeights();
      loaded.releaseWeights();
    }
    await close();
  });
}

test('loadOnnx opts.preprocess: sets (or replaces) the model\'s preprocessing; a bad one is an Error', async (t) => {
  const plain = nn.sequential(nn.flatten(1), nn.linear(12, 2), { inputShape: [3, 2, 2], seed: 4 });
  const bytes = encodeOnnx(plain);
  t.equal((await loadOnnx(bytes)).preprocess, undefined, 'no metadata: no preprocessing');
  const pre = { mean: [0.5, 0.25, 0.125], std: [0.5, 0.5, 0.25], channelOrder: 'BGR' as const, scale: 1 as const };
  t.deepEqual((await loadOnnx(bytes, { preprocess: pre })).preprocess, pre, 'given: set');
  const withMeta = encodeOnnx(nn.sequential(nn.flatten(1), nn.linear(12, 2), { inputShape: [3, 2, 2], seed: 4, preprocess: { ...pre, channelOrder: 'RGB' } }));
  t.deepEqual((await loadOnnx(withMeta, { preprocess: pre })).preprocess, pre, 'given: replaces the metadata');
  await loadOnnx(bytes, { preprocess: { ...pre, scale: 3 as 1 } }).then(
    () => t.fail('scale 3 accepted'),
    (e: Error) => t.match(e.message, /^loadOnnx: opts.preprocess .* is not \{ mean: number\[\], std: number\[\] \(non-zero\)/, e.message));
});

test('class names: kept as ONNX metadata through a round trip; a wrong count or malformed metadata is an Error', async (t) => {
  const names = ['cat', 'dog', 'bird'];
  const build = (classNames?: string[]) => nn.sequential(nn.flatten(), nn.linear(12, 3), { inputShape: [3, 2, 2], seed: 2, name: 'tiny', classNames });
  const m = build(names);
  t.deepEqual(m.classNames, names, 'the model holds them');
  const back = await loadOnnx(encodeOnnx(m));
  t.deepEqual(back.classNames, names, 'and gets them back from the file');
  t.equal((await loadOnnx(encodeOnnx(build()))).classNames, undefined, 'a model without names has none');
  t.throws(() => build(['cat', 'dog']), /classNames has 2 names, the output \[1, 3\] has 3 classes/, 'two names for three classes');
  t.throws(() => build([1, 2, 3] as unknown as string[]), /classNames must be an array of strings/, 'not strings');
  // the metadata written by hand: not a JSON array of strings
  const bytes = encodeOnnx(m);
  // the same length, so that the protobuf framing still holds: an object instead of an array
  const text = Buffer.from(bytes).toString('latin1').replace('["cat","dog","bird"]', '{"cat":0,"dog":1}'.padEnd(20, ' '));
  try {
    await loadOnnx(new Uint8Array(Buffer.from(text, 'latin1')));
    t.fail('malformed metadata: resolved');
  } catch (e) {
    t.match((e as Error).message, /^loadOnnx: .*convis\.classNames must be a JSON array of strings/, (e as Error).message);
  }
});

test('loadOnnx opts.foldBatchNorm: false keeps batch norm as layers (the same outputs); a non-boolean is an Error', async (t) => {
  const m = nn.sequential(nn.conv2d(3, 4, 3, { padding: 1 }), nn.batchNorm(4), nn.relu(), nn.flatten(), nn.linear(4 * 4 * 4, 2), { inputShape: [3, 4, 4], seed: 8 });
  const bytes = encodeOnnx(m);
  const folded = await loadOnnx(bytes);
  const kept = await loadOnnx(bytes, { foldBatchNorm: false });
  t.deepEqual(folded.layers.map((l) => l.kind), ['conv', 'relu', 'flatten', 'linear'], 'folded by default');
  t.deepEqual(kept.layers.map((l) => l.kind), ['conv', 'batchnorm', 'relu', 'flatten', 'linear'], 'kept with foldBatchNorm: false');
  for (const k of ['mean', 'var', 'gamma', 'beta']) t.deepEqual(Array.from(kept.layers[1].params[k].data), Array.from(m.layers[1].params[k].data), `its ${k}`);
  if (backends.includes('cpu')) {
    await init({ backend: 'cpu' });
    try {
      const x = tensor(normals(2 * 3 * 4 * 4, 3), [2, 3, 4, 4]);
      const a = await folded.forward(x).data(), b = await kept.forward(x).data();
      t.ok(relErr(a, b) < 1e-5, `the same scores (relative difference ${relErr(a, b).toExponential(2)})`);
    } finally {
      await close();
    }
  }
  try {
    await loadOnnx(bytes, { foldBatchNorm: 'no' as unknown as boolean });
    t.fail('a string: resolved');
  } catch (e) {
    t.match((e as Error).message, /^loadOnnx: opts.foldBatchNorm must be a boolean/, (e as Error).message);
  }
});
