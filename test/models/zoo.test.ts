// models.*: torchvision's VGG16 and AlexNet and the paper's network, built with nn.* and seeded weights. Checked:
// layer names (torchvision's state_dict prefixes), kinds, order, attributes and weight shapes; parameter counts
// (torchvision's published figures); the classes option; seeds; forward to [1, 1000] on every backend, the
// backends agreeing; and VGG16 whole, whose first FC weight (25088 x 4096 floats, 411 MB) is over lavapipe's
// 128 MiB storage binding limit, so that the WebGPU linear runs split.
//
// Building a model draws its weights on the host (VGG16 about 10 s on this 2-core machine, AlexNet and the
// paper's net 3-6 s each), so each model is built once and the seed checks use AlexNet alone. VGG16's forward on
// lavapipe (15.5 G multiply-adds, CONVIS_GEMM_TILE=small as in the suite) took 15-30 s, the whole file 50-65 s.

import test from 'tape';
import { close, init, type Model, randn, tidy } from '../../src/index.js';
import type { Layer, LayerAttrs } from '../../src/models/layers.js';
import * as models from '../../src/models/zoo.js';
import { availableBackends, type BackendName } from '../helpers/backends.js';
import { relErr } from '../helpers/numeric.js';

const backends = await availableBackends();

const cache = new Map<string, Model>();
/** Each model once per process: drawing VGG16's 138 M weights takes seconds. */
function built(name: 'vgg16' | 'alexnet' | 'simonyan2013'): Model {
  let m = cache.get(name);
  if (!m) {
    const t0 = performance.now();
    m = models[name]();
    console.log(`# built ${name} (seed 0) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    cache.set(name, m);
  }
  return m;
}

const kinds = (m: Model) => m.layers.map((l) => `${l.name}:${l.kind}`);
const shapeOf = (m: Model, layer: string, p = 'w') => [...m.layer(layer).params[p].shape];
const convAttrs = (l: Layer) => l.attrs as LayerAttrs['conv'];
const poolAttrs = (l: Layer) => l.attrs as LayerAttrs['maxpool'];
const sameBytes = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

// ------------------------------------------------------------------ structure

test('models.vgg16: torchvision layout, names, shapes, 138,357,544 parameters', (t) => {
  const m = built('vgg16');
  const cfg: (number | 'M')[] = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'];
  const features: string[] = [];
  for (const v of cfg) {
    if (v === 'M') features.push(`features.${features.length}:maxpool`);
    else features.push(`features.${features.length}:conv`, `features.${features.length + 1}:relu`);
  }
  t.equal(features.length, 31, 'features.0 ... features.30');
  t.deepEqual(kinds(m), [
    ...features, 'flatten:flatten',
    'classifier.0:linear', 'classifier.1:relu', 'classifier.2:dropout', 'classifier.3:linear', 'classifier.4:relu',
    'classifier.5:dropout', 'classifier.6:linear',
  ]);
  const convs = m.layers.filter((l) => l.kind === 'conv');
  t.equal(convs.length, 13, '13 convs');
  let cin = 3;
  const widths = cfg.filter((v): v is number => v !== 'M');
  convs.forEach((l, i) => {
    t.deepEqual([...l.params.w.shape], [widths[i], cin, 3, 3], `${l.name} w`);
    t.deepEqual([...l.params.b.shape], [widths[i]], `${l.name} b`);
    const a = convAttrs(l);
    t.deepEqual([a.stride, a.padding, a.dilation, a.groups], [[1, 1], [1, 1, 1, 1], [1, 1], 1], `${l.name} 3x3 stride 1 pad 1`);
    cin = widths[i];
  });
  const pools = m.layers.filter((l) => l.kind === 'maxpool');
  t.deepEqual(pools.map((l) => l.name), ['features.4', 'features.9', 'features.16', 'features.23', 'features.30']);
  t.ok(pools.every((l) => {
    const a = poolAttrs(l);
    return a.kernel.join() === '2,2' && a.stride.join() === '2,2' && a.padding.join() === '0,0,0,0' && !a.ceilMode;
  }), 'every pool 2x2 stride 2');
  t.deepEqual(shapeOf(m, 'classifier.0'), [4096, 25088]);
  t.deepEqual(shapeOf(m, 'classifier.3'), [4096, 4096]);
  t.deepEqual(shapeOf(m, 'classifier.6'), [1000, 4096]);
  t.deepEqual(shapeOf(m, 'classifier.6', 'b'), [1000]);
  t.equal(m.layer('classifier.0').params.w.data.byteLength, 411_041_792, 'the first FC weight is 411 MB');
  t.equal(models.parameterCount(m), 138_357_544, 'torchvision vgg16: 138,357,544 parameters');
  t.deepEqual(m.inputShape, [3, 224, 224]);
  t.deepEqual(m.outputShape, [1, 1000]);
  t.deepEqual(m.preprocess, { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'RGB', scale: 1 });
  t.equal(m.name, 'vgg16');
  t.end();
});

test('models.alexnet: torchvision layout, names, shapes, 61,100,840 parameters', (t) => {
  const m = built('alexnet');
  t.deepEqual(kinds(m), [
    'features.0:conv', 'features.1:relu', 'features.2:maxpool', 'features.3:conv', 'features.4:relu', 'features.5:maxpool',
    'features.6:conv', 'features.7:relu', 'features.8:conv', 'features.9:relu', 'features.10:conv', 'features.11:relu',
    'features.12:maxpool', 'flatten:flatten',
    'classifier.0:dropout', 'classifier.1:linear', 'classifier.2:relu', 'classifier.3:dropout', 'classifier.4:linear',
    'classifier.5:relu', 'classifier.6:linear',
  ]);
  const conv = (name: string, w: number[], stride: number, pad: number) => {
    const l = m.layer(name), a = convAttrs(l);
    t.deepEqual([[...l.params.w.shape], a.stride, a.padding, a.groups], [w, [stride, stride], [pad, pad, pad, pad], 1],
      `${name}: w [${w.join(', ')}], stride ${stride}, pad ${pad}`);
  };
  conv('features.0', [64, 3, 11, 11], 4, 2);
  conv('features.3', [192, 64, 5, 5], 1, 2);
  conv('features.6', [384, 192, 3, 3], 1, 1);
  conv('features.8', [256, 384, 3, 3], 1, 1);
  conv('features.10', [256, 256, 3, 3], 1, 1);
  for (const name of ['features.2', 'features.5', 'features.12']) {
    const a = poolAttrs(m.layer(name));
    t.deepEqual([a.kernel, a.stride, a.padding, a.ceilMode], [[3, 3], [2, 2], [0, 0, 0, 0], false], `${name}: max pool 3 stride 2`);
  }
  t.deepEqual(shapeOf(m, 'classifier.1'), [4096, 9216]);
  t.deepEqual(shapeOf(m, 'classifier.4'), [4096, 4096]);
  t.deepEqual(shapeOf(m, 'classifier.6'), [1000, 4096]);
  t.equal(models.parameterCount(m), 61_100_840, 'torchvision alexnet: 61,100,840 parameters');
  t.deepEqual(m.outputShape, [1, 1000]);
  t.deepEqual(m.preprocess, { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'RGB', scale: 1 });
  t.end();
});

test('models.simonyan2013: conv64-conv256-conv256-conv256-conv256-full4096-full4096-full1000 on Krizhevsky geometry', (t) => {
  const m = built('simonyan2013');
  t.deepEqual(kinds(m), [
    'conv1:conv', 'relu1:relu', 'norm1:lrn', 'pool1:maxpool', 'conv2:conv', 'relu2:relu', 'norm2:lrn', 'pool2:maxpool',
    'conv3:conv', 'relu3:relu', 'conv4:conv', 'relu4:relu', 'conv5:conv', 'relu5:relu', 'pool5:maxpool', 'flatten:flatten',
    'fc6:linear', 'relu6:relu', 'drop6:dropout', 'fc7:linear', 'relu7:relu', 'drop7:dropout', 'fc8:linear',
  ]);
  const weights = m.layers.filter((l) => l.kind === 'conv' || l.kind === 'linear').map((l) => l.params.w.shape[0]);
  t.deepEqual(weights, [64, 256, 256, 256, 256, 4096, 4096, 1000], 'the paper\'s filter and unit counts');
  t.deepEqual(shapeOf(m, 'conv1'), [64, 3, 11, 11]);
  t.deepEqual([convAttrs(m.layer('conv1')).stride, convAttrs(m.layer('conv1')).padding], [[4, 4], [2, 2, 2, 2]], 'conv1 stride 4 pad 2');
  t.deepEqual(shapeOf(m, 'conv2'), [256, 64, 5, 5]);
  for (const c of ['conv3', 'conv4', 'conv5']) t.deepEqual(shapeOf(m, c), [256, 256, 3, 3], `${c} 3x3`);
  t.ok(m.layers.filter((l) => l.kind === 'conv').every((l) => convAttrs(l).groups === 1), 'no grouping');
  for (const name of ['norm1', 'norm2']) {
    t.deepEqual(m.layer(name).attrs, { size: 5, alpha: 5e-4, beta: 0.75, k: 2 }, `${name}: Krizhevsky's LRN (alpha 1e-4 per channel)`);
  }
  for (const name of ['pool1', 'pool2', 'pool5']) {
    const a = poolAttrs(m.layer(name));
    t.deepEqual([a.kernel, a.stride], [[3, 3], [2, 2]], `${name}: overlapping pool 3 stride 2`);
  }
  t.deepEqual(shapeOf(m, 'fc6'), [4096, 9216], 'pool5 is 256 x 6 x 6');
  t.equal(models.parameterCount(m), 60_834_536);
  t.deepEqual(m.inputShape, [3, 224, 224]);
  t.deepEqual(m.outputShape, [1, 1000]);
  t.deepEqual(m.preprocess, { mean: [123.68, 116.779, 103.939], std: [1, 1, 1], channelOrder: 'RGB', scale: 255 });
  t.end();
});

test('models: seeds and the classes option', (t) => {
  const a = built('alexnet');
  const same = models.alexnet({ seed: 0 });
  t.ok(a.layers.every((l, i) => Object.entries(l.params).every(([k, p]) => sameBytes(p.data, same.layers[i].params[k].data))),
    'same seed: every weight of every layer the same');
  const other = models.alexnet({ seed: 1, classes: 10 });
  for (const name of ['features.0', 'features.10', 'classifier.1', 'classifier.4']) {
    t.notOk(sameBytes(a.layer(name).params.w.data, other.layer(name).params.w.data), `another seed: ${name} differs`);
  }
  t.deepEqual(other.outputShape, [1, 10], 'classes: 10');
  t.deepEqual(shapeOf(other, 'classifier.6'), [10, 4096]);
  t.deepEqual(shapeOf(other, 'classifier.6', 'b'), [10]);
  t.equal(models.parameterCount(other), 61_100_840 - 990 * 4097);
  for (const fn of ['vgg16', 'alexnet', 'simonyan2013'] as const) {
    t.throws(() => models[fn]({ classes: 0 }), new RegExp(`models.${fn}: classes must be an integer >= 1, got 0`));
    t.throws(() => models[fn]({ seed: Number.NaN }), new RegExp(`models.${fn}: seed must be a finite number, got NaN`));
  }
  t.end();
});

test('models.vgg16 inputSize: the first classifier layer reads 512 (size / 32)^2 features', (t) => {
  const m = models.vgg16({ inputSize: 64, classes: 10 });
  t.deepEqual(m.inputShape, [3, 64, 64], 'input [3, 64, 64]');
  t.deepEqual(shapeOf(m, 'classifier.0'), [4096, 512 * 2 * 2], 'classifier.0 reads 512 x 2 x 2');
  t.deepEqual(m.outputShape, [1, 10]);
  // the conv part is size-independent: 14,714,688 parameters (torchvision's features); then the classifier
  const classifier = (512 * 4 + 1) * 4096 + (4096 + 1) * 4096 + (4096 + 1) * 10;
  t.equal(models.parameterCount(m), 14_714_688 + classifier, 'parameters: features + the smaller classifier');
  for (const bad of [0, 48, 100, 224.5, -32]) {
    t.throws(() => models.vgg16({ inputSize: bad }), new RegExp(`models.vgg16: inputSize must be a multiple of 32 \\(at least 32\\), got ${bad}`));
  }
  t.end();
});

// ------------------------------------------------------------------ forward on each backend

const logits = new Map<string, Float32Array>();   // `${backend} ${model}`
const X_SEED = 11;

for (const backend of backends) {
  test(`${backend} models: forward of alexnet and simonyan2013 gives [1, 1000]`, async (t) => {
    await init({ backend });
    const x = randn([1, 3, 224, 224], { seed: X_SEED });
    for (const name of ['alexnet', 'simonyan2013'] as const) {
      const m = built(name);
      const t0 = performance.now();
      const y = m.forward(x);
      t.deepEqual(y.shape, [1, 1000], `${name} logits [1, 1000]`);
      const v = await y.data();
      y.dispose();
      t.ok(v.every(Number.isFinite) && v.some((s) => s !== v[0]), `${name}: finite, not constant (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      logits.set(`${backend} ${name}`, v);
      m.releaseWeights();
    }
    x.dispose();
    await close();
  });

  test(`${backend} models: VGG16 with its 411 MB first FC weight runs forward, batch 1, 224x224`, async (t) => {
    const info = await init({ backend });
    const m = built('vgg16');
    const bytes = m.layer('classifier.0').params.w.data.byteLength;
    const limit = info.limits.maxStorageBufferBindingSize;
    if (backend === 'webgpu') {
      t.comment(`${info.device}: maxStorageBufferBindingSize ${limit} bytes; classifier.0 w is ${bytes} bytes` +
        (limit < bytes ? ' (over the limit: the linear runs split)' : ' (fits one binding on this adapter)'));
    }
    const x = randn([1, 3, 224, 224], { seed: X_SEED });
    const t0 = performance.now();
    const y = tidy(() => m.forward(x));
    const v = await y.data();
    const s = (performance.now() - t0) / 1000;
    t.deepEqual(y.shape, [1, 1000], 'logits [1, 1000]');
    t.ok(v.every(Number.isFinite) && v.some((z) => z !== v[0]), `finite, not constant; ${s.toFixed(1)} s with the weight upload`);
    logits.set(`${backend} vgg16`, v);
    y.dispose();
    x.dispose();
    m.releaseWeights();
    await close();
  });
}

if (backends.length > 1) {
  test(`models: ${backends.join(' and ')} agree on the logits (relative error < 1e-4)`, (t) => {
    const [a, b] = backends as [BackendName, BackendName];
    for (const name of ['alexnet', 'simonyan2013', 'vgg16']) {
      const x = logits.get(`${a} ${name}`), y = logits.get(`${b} ${name}`);
      if (!x || !y) {
        t.fail(`${name}: no logits from ${!x ? a : b} (its forward failed above)`);
        continue;
      }
      const e = relErr(x, y);
      t.ok(e < 1e-4, `${name}: ${a} vs ${b}, relative error ${e.toExponential(2)}`);
    }
    t.end();
  });
}
