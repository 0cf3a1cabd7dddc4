// DeconvNet (paper Sect. 4): compareDeconvToGradient layer by layer on a VGG-style net, on strided / padded /
// grouped / dilated convolutions and on the paper's own net (cpu); a constructed ReLU whose two rules differ at
// known units; deconvnet() against a float64 DeconvNet written here (convolutions transposed in scatter form,
// unpooling through first-maximum switches, ReLU of the signal); and bad input.

import test from 'tape';
import { compareDeconvToGradient, deconvnet, Model, models, nn, tensor } from '../../src/index.js';
import type { HostTensor, Layer } from '../../src/index.js';
import { availableBackends, onEachBackend } from '../helpers/backends.js';
import { relErr, uniform } from '../helpers/numeric.js';
import { rejects } from '../helpers/assert.js';

await availableBackends();

const host = (shape: number[], data: Float32Array): HostTensor => ({ shape, data });


/** conv3x3 pad 1, relu, maxpool 2, conv3x3 pad 1, relu, maxpool 2, flatten, linear, relu, linear on 16x16. */
function vggStyle(): Model {
  return nn.sequential(
    nn.conv2d(3, 6, 3, { padding: 1 }), nn.relu(), nn.maxPool2d({ kernel: 2 }),
    nn.conv2d(6, 8, 3, { padding: 1 }), nn.relu(), nn.maxPool2d({ kernel: 2 }),
    nn.flatten(1), nn.linear(8 * 4 * 4, 12), nn.relu(), nn.linear(12, 5),
    { inputShape: [3, 16, 16], seed: 3, name: 'vggStyle' },
  );
}

/**
 * 11x11 stride 4 pad 2 (31 or 32 -> 7x7; at 32 one row and column get no window), a grouped conv with asymmetric
 * padding (7x7 -> 8x6), a dilated strided conv (8x6 -> 4x3, again one row and column left over), pool, linear.
 */
function stridedNet(size: number): Model {
  return nn.sequential(
    nn.conv2d(3, 8, 11, { stride: 4, padding: 2, name: 'big' }), nn.relu({ name: 'r1' }),
    nn.conv2d(8, 8, 3, { padding: [1, 0, 2, 1], groups: 2, name: 'grouped' }), nn.relu({ name: 'r2' }),
    nn.conv2d(8, 6, 3, { padding: 2, dilation: 2, stride: 2, name: 'dilated' }), nn.relu({ name: 'r3' }),
    nn.maxPool2d({ kernel: 2, name: 'pool' }), nn.flatten(1), nn.linear(6 * 2 * 1, 4, { name: 'fc' }),
    { inputShape: [3, size, size], seed: 9, name: `strided${size}` },
  );
}

function argmax(v: ArrayLike<number>, from: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (v[from + j] > v[from + best]) best = j;
  return best;
}

// ----------------------------------------------------------------------------- float64 host DeconvNet

type F64 = Float64Array;

/** stride-1 convolution, square padding p: x [N, C, H, W], w [O, C, K, K] -> [N, O, H', W'] */
function conv(x: F64, [N, C, H, W]: number[], w: F64, b: F64, O: number, K: number, p: number): { y: F64; shape: number[] } {
  const OH = H + 2 * p - K + 1, OW = W + 2 * p - K + 1;
  const y = new Float64Array(N * O * OH * OW);
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
    let s = b[o];
    for (let c = 0; c < C; c++) for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) {
      const yy = oy - p + i, xx = ox - p + j;
      if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
      s += x[((n * C + c) * H + yy) * W + xx] * w[((o * C + c) * K + i) * K + j];
    }
    y[((n * O + o) * OH + oy) * OW + ox] = s;
  }
  return { y, shape: [N, O, OH, OW] };
}

/** The transposed convolution in scatter form: every output unit sends r * w back to the inputs it read. */
function convT(r: F64, [N, O, OH, OW]: number[], w: F64, C: number, K: number, p: number, H: number, W: number): F64 {
  const x = new Float64Array(N * C * H * W);
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
    const v = r[((n * O + o) * OH + oy) * OW + ox];
    if (v === 0) continue;
    for (let c = 0; c < C; c++) for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) {
      const yy = oy - p + i, xx = ox - p + j;
      if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
      x[((n * C + c) * H + yy) * W + xx] += v * w[((o * C + c) * K + i) * K + j];
    }
  }
  return x;
}

/** 2x2 stride-2 max pooling; switches: flat index in the plane of the first maximum in row-major window order. */
function pool2(x: F64, [N, C, H, W]: number[]): { y: F64; sw: Int32Array; shape: number[] } {
  const OH = H >> 1, OW = W >> 1;
  const y = new Float64Array(N * C * OH * OW), sw = new Int32Array(y.length);
  for (let p = 0; p < N * C; p++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
    let best = -Infinity, at = -1;
    for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) {
      const q = (2 * oy + i) * W + 2 * ox + j;
      if (x[p * H * W + q] > best) { best = x[p * H * W + q]; at = q; }
    }
    y[p * OH * OW + oy * OW + ox] = best;
    sw[p * OH * OW + oy * OW + ox] = at;
  }
  return { y, sw, shape: [N, C, OH, OW] };
}

function unpool(r: F64, sw: Int32Array, planes: number, outPlane: number, inPlane: number): F64 {
  const x = new Float64Array(planes * inPlane);
  for (let p = 0; p < planes; p++) for (let k = 0; k < outPlane; k++) x[p * inPlane + sw[p * outPlane + k]] += r[p * outPlane + k];
  return x;
}

const reluF = (v: F64): F64 => v.map((a) => (a > 0 ? a : 0));

// ----------------------------------------------------------------------------- cases

await onEachBackend('deconvnet', [
  ['compareDeconvToGradient on a VGG-style net: conv, max-pool and linear rules equal the gradient; ReLU differs exactly where the indicators do', async (t) => {
    const model = vggStyle();
    const img = uniform([2, 3, 16, 16], 101);
    const x = tensor(img, [2, 3, 16, 16]);
    const rep = await compareDeconvToGradient(model, x);
    t.deepEqual(rep.layers.map((l) => l.name), ['linear9', 'relu8', 'linear7', 'maxpool5', 'relu4', 'conv3', 'maxpool2', 'relu1', 'conv0'],
      'layers with a rule, top-down (flatten has none)');
    t.deepEqual(rep.layers.map((l) => l.kind), ['linear', 'relu', 'linear', 'maxpool', 'relu', 'conv', 'maxpool', 'relu', 'conv']);
    t.equal(rep.tolerance, 1e-5, 'default tolerance');
    const scores = await model.forward(x).data();
    t.deepEqual(rep.target, [argmax(scores, 0, 5), argmax(scores, 5, 5)], 'default target: each image\'s top class');
    for (const l of rep.layers) {
      if (l.kind === 'relu') {
        t.equal(l.differsExactlyWhereIndicatorsDisagree, true, `${l.name}: the rules differ exactly where 1(X > 0) != 1(R > 0)`);
        t.ok(l.indicatorDisagreements! > 0, `${l.name}: ${l.indicatorDisagreements} disagreeing units`);
        t.equal(l.equal, false, `${l.name}: not equal (relDiff ${l.relDiff.toExponential(2)})`);
        t.ok(l.maxAbsDiff > 0, `${l.name}: maxAbsDiff ${l.maxAbsDiff.toExponential(2)} > 0`);
      } else {
        t.ok(l.equal && l.relDiff < 1e-5, `${l.name} (${l.kind}): equal, relDiff ${l.relDiff.toExponential(2)}`);
        t.equal(l.indicatorDisagreements, undefined, `${l.name}: no indicator count outside ReLU`);
      }
    }
    // an explicit target per image, and starting from a ReLU's own activation: there R = X+ > 0 implies X > 0,
    // so that ReLU's two rules agree everywhere
    const explicit = await compareDeconvToGradient(model, x, { target: [4, 0] });
    t.deepEqual(explicit.target, [4, 0], 'explicit targets are kept');
    const fromLayer = await compareDeconvToGradient(model, x, { layer: 'relu4' });
    t.deepEqual(fromLayer.layers.map((l) => l.name), ['relu4', 'conv3', 'maxpool2', 'relu1', 'conv0'], 'from relu4 down');
    t.deepEqual(fromLayer.target, [], 'no class target when starting from a layer');
    const top = fromLayer.layers[0];
    t.ok(top.equal && top.indicatorDisagreements === 0 && top.maxAbsDiff === 0, `relu4 seeded by its own activation: rules agree (disagreements ${top.indicatorDisagreements}, max ${top.maxAbsDiff})`);
    t.equal(fromLayer.layers[3].differsExactlyWhereIndicatorsDisagree, true, 'relu1 below it: explained');
    t.ok(fromLayer.layers[3].indicatorDisagreements! > 0, 'relu1 below it: disagreements');
    for (const l of fromLayer.layers.filter((e) => e.kind !== 'relu')) t.ok(l.equal, `${l.name}: equal from a layer too`);
    // the tolerance given is reported and decides `equal`
    const strict = await compareDeconvToGradient(model, x, { tolerance: 0.5 });
    t.equal(strict.tolerance, 0.5);
    t.ok(strict.layers.filter((l) => l.kind === 'relu').every((l) => l.equal === (l.relDiff <= 0.5)), 'equal is relDiff <= tolerance');
    x.dispose();
  }],
  ['compareDeconvToGradient: transposed-convolution geometry (11x11 stride 4 pad 2, groups 2 with asymmetric padding, dilation 2 stride 2)', async (t) => {
    for (const size of [31, 32]) {
      const model = stridedNet(size);
      const x = tensor(uniform([2, 3, size, size], 200 + size), [2, 3, size, size]);
      const rep = await compareDeconvToGradient(model, x, { target: [1, 3] });
      t.deepEqual(rep.layers.map((l) => l.name), ['fc', 'pool', 'r3', 'dilated', 'r2', 'grouped', 'r1', 'big'], `${size}: top-down`);
      for (const l of rep.layers) {
        if (l.kind === 'relu') t.equal(l.differsExactlyWhereIndicatorsDisagree, true, `${size} ${l.name}: explained by the indicators (${l.indicatorDisagreements})`);
        else t.ok(l.equal && l.relDiff < 1e-5, `${size} ${l.name} (${l.kind}): equal, relDiff ${l.relDiff.toExponential(2)}`);
      }
      x.dispose();
    }
  }],
  ['compareDeconvToGradient: padding wider than the kernel (1x1 pad 1, 3x3 pad 3 stride 2): the transposed convolution is cropped', async (t) => {
    const model = nn.sequential(
      nn.conv2d(2, 3, 1, { padding: 1, name: 'wide1' }), nn.relu({ name: 'r' }),
      nn.conv2d(3, 2, 3, { padding: 3, stride: 2, name: 'wide3' }), nn.flatten(1), nn.linear(2 * 5 * 5, 2, { name: 'fc' }),
      { inputShape: [2, 4, 4], seed: 13 },
    );
    const x = tensor(uniform([1, 2, 4, 4], 14), [1, 2, 4, 4]);
    const rep = await compareDeconvToGradient(model, x, { target: 0 });
    t.deepEqual(rep.layers.map((l) => l.name), ['fc', 'wide3', 'r', 'wide1'], 'every layer reported');
    for (const l of rep.layers.filter((e) => e.kind === 'conv')) t.ok(l.equal && l.relDiff < 1e-5, `${l.name}: equal (${l.relDiff.toExponential(2)})`);
    x.dispose();
  }],
  ['compareDeconvToGradient starts from the model\'s declared output, not from layers after it', async (t) => {
    const g = nn.graph([1, 1, 4]);
    g.add(nn.flatten(1));
    const s = g.add({ ...nn.linear(4, 2, { name: 'scores' }), params: { w: { shape: [2, 4], data: Float32Array.from([1, -1, 0, 0, -2, 0, 1, 0]) }, b: { shape: [2], data: new Float32Array(2) } } });
    g.add(nn.relu({ name: 'after' }), s);
    const model = g.build(s);
    const x = tensor([3, 1, 0, 0], [1, 1, 1, 4]);
    const rep = await compareDeconvToGradient(model, x, { target: 1 });
    t.deepEqual(rep.layers.map((l) => l.name), ['scores'], 'the layer after the output is not part of S_c');
    t.equal(rep.layers[0].relDiff, 0, 'the signal at the scores layer is the one-hot seed (S_1 = -6 would zero it through a ReLU)');
    x.dispose();
  }],
  ['compareDeconvToGradient on models.simonyan2013 (224x224)', async (t) => {
    const model = models.simonyan2013({ classes: 10 });
    const x = tensor(uniform([1, 3, 224, 224], 301, 0, 255), [1, 3, 224, 224]);
    const rep = await compareDeconvToGradient(model, x);
    t.deepEqual(rep.layers.map((l) => l.name),
      ['fc8', 'relu7', 'fc7', 'relu6', 'fc6', 'pool5', 'relu5', 'conv5', 'relu4', 'conv4', 'relu3', 'conv3', 'pool2', 'relu2', 'conv2', 'pool1', 'relu1', 'conv1'],
      'every layer with a rule, top-down (LRN, dropout and flatten have none)');
    for (const l of rep.layers) {
      if (l.kind === 'relu') {
        t.ok(l.differsExactlyWhereIndicatorsDisagree === true && l.indicatorDisagreements! > 0,
          `${l.name}: differs exactly at its ${l.indicatorDisagreements} disagreeing units`);
      } else {
        t.ok(l.equal && l.relDiff < 1e-5, `${l.name} (${l.kind}): equal, relDiff ${l.relDiff.toExponential(2)}`);
      }
    }
    x.dispose();
    model.releaseWeights();
  }],
  ['a constructed ReLU: the rules differ at the units chosen, by max |R_j| there', async (t) => {
    // S = W relu(X) + b on five inputs; for target 1, R = W[1] reaches the ReLU's output
    const X = [1, -1, 2, -2, 3, 0.5];
    const W1 = [-3, 0.5, 0, 4, 1.5, 0];
    // unit 0: X > 0, R < 0; unit 1: X < 0, R > 0; unit 3: X < 0, R > 0  -> 3 disagreements, max |R| = 4
    // unit 2, 5: R = 0 (not counted); unit 4: both positive (agree)
    const W0 = [0.25, -0.5, 0.75, -1, 1.25, -1.5];
    const w = Float32Array.from([...W0, ...W1]);
    const model = new Model([1, 1, 6], [
      { kind: 'relu', name: 'act', inputs: ['input'], output: 'act', attrs: {}, params: {} },
      { kind: 'flatten', name: 'flat', inputs: ['act'], output: 'flat', attrs: { axis: 1 }, params: {} },
      { kind: 'linear', name: 'fc', inputs: ['flat'], output: 'fc', attrs: {}, params: { w: host([2, 6], w), b: host([2], Float32Array.from([0.1, -0.2])) } },
    ] as Layer[]);
    const x = tensor(X, [1, 1, 1, 6]);
    const rep = await compareDeconvToGradient(model, x, { target: 1 });
    t.deepEqual(rep.layers.map((l) => l.name), ['fc', 'act']);
    const r = rep.layers[1];
    t.equal(r.indicatorDisagreements, 3, 'three units where 1(X > 0) != 1(R > 0) and R != 0');
    t.equal(r.maxAbsDiff, 4, 'max |R_j| over them');
    t.equal(r.differsExactlyWhereIndicatorsDisagree, true);
    t.equal(r.equal, false);
    // gradient g = R 1(X > 0) = [-3, 0, 0, 0, 1.5, 0]; DeconvNet d = max(R, 0) = [0, 0.5, 0, 4, 1.5, 0]
    const expected = Math.sqrt((9 + 0.25 + 16) / (9 + 2.25));
    t.ok(Math.abs(r.relDiff - expected) < 1e-6 * expected, `relDiff ${r.relDiff} = ||g - d|| / ||g|| = ${expected}`);
    t.ok(rep.layers[0].equal && rep.layers[0].maxAbsDiff === 0, 'the linear layer: W^T r both ways');
    // the other target: R = W[0] = [0.25, -0.5, 0.75, -1, 1.25, -1.5] against X signs [+, -, +, -, +, +]:
    // disagreements only at unit 5 (X > 0, R < 0), |R| = 1.5
    const rep0 = await compareDeconvToGradient(model, x, { target: 0 });
    t.equal(rep0.layers[1].indicatorDisagreements, 1, 'target 0: one disagreement');
    t.equal(rep0.layers[1].maxAbsDiff, 1.5, 'target 0: |R_5| = 1.5');
    // deconvnet() of the ReLU's own activation: its rule passes relu(X+) = X+ down to the input
    const back = await (await deconvnet(model, x, { layer: 'act' })).data();
    t.deepEqual(Array.from(back), X.map((v) => Math.max(v, 0)), 'deconvnet of relu(X) is relu(X)');
    x.dispose();
  }],
  ['deconvnet() equals a float64 DeconvNet (transposed convs, switch unpooling, ReLU of the signal), all and max', async (t) => {
    const model = nn.sequential(
      nn.conv2d(3, 4, 3, { padding: 1 }), nn.relu(), nn.maxPool2d({ kernel: 2 }), nn.conv2d(4, 6, 3, { padding: 1 }), nn.relu(),
      { inputShape: [3, 12, 12], seed: 41 },
    );
    const N = 2;
    const img = uniform([N, 3, 12, 12], 42);
    const x = tensor(img, [N, 3, 12, 12]);
    const P = (i: number, k: string) => Float64Array.from(model.layers[i].params[k].data);
    const w0 = P(0, 'w'), b0 = P(0, 'b'), w3 = P(3, 'w'), b3 = P(3, 'b');
    // float64 forward, switches recorded
    const c0 = conv(Float64Array.from(img), [N, 3, 12, 12], w0, b0, 4, 3, 1);
    const a1 = reluF(c0.y);
    const p2 = pool2(a1, c0.shape);
    const c3 = conv(p2.y, p2.shape, w3, b3, 6, 3, 1);
    const a4 = reluF(c3.y);
    const plane = 36;
    const reconstruct = (seed: F64, rule: 'deconvnet' | 'gradient'): F64 => {
      const r4 = rule === 'deconvnet' ? reluF(seed) : seed.map((v, j) => (c3.y[j] > 0 ? v : 0));
      const r3 = convT(r4, c3.shape, w3, 4, 3, 1, 6, 6);
      const r2 = unpool(r3, p2.sw, N * 4, 36, 144);
      const r1 = rule === 'deconvnet' ? reluF(r2) : r2.map((v, j) => (c0.y[j] > 0 ? v : 0));
      return convT(r1, c0.shape, w0, 3, 3, 1, 12, 12);
    };
    const seedAll = new Float64Array(a4.length);
    const seedMax = new Float64Array(a4.length);
    for (let n = 0; n < N; n++) {
      let best = -1;
      for (let j = 0; j < plane; j++) {
        const at = (n * 6 + 2) * plane + j;
        seedAll[at] = a4[at];
        if (best < 0 || a4[at] > a4[best]) best = at;
      }
      seedMax[best] = a4[best];
    }
    const expectAll = reconstruct(seedAll, 'deconvnet');
    const got = await deconvnet(model, x, { layer: 'relu4', channel: 2 });
    t.deepEqual(got.shape, [N, 3, 12, 12], 'shaped like the model input');
    const all = await got.data();
    const eAll = relErr(all, expectAll);
    t.ok(eAll < 1e-4, `channel 2, all units: relative error ${eAll.toExponential(2)} < 1e-4`);
    // the reference is a DeconvNet, not the gradient: the two differ here
    const asGradient = reconstruct(seedAll, 'gradient');
    t.ok(relErr(all, asGradient) > 1e-2, `differs from the gradient-rule reconstruction (rel ${relErr(all, asGradient).toExponential(2)})`);
    // the same layer by index
    const byIndex = await (await deconvnet(model, x, { layer: 4, channel: 2 })).data();
    t.deepEqual(Array.from(byIndex), Array.from(all), 'layer by index = layer by name');
    // position 'max': one unit per image
    const expectMax = reconstruct(seedMax, 'deconvnet');
    const maxed = await (await deconvnet(model, x, { layer: 'relu4', channel: 2, position: 'max' })).data();
    const eMax = relErr(maxed, expectMax);
    t.ok(eMax < 1e-4, `channel 2, strongest unit per image: relative error ${eMax.toExponential(2)} < 1e-4`);
    for (let n = 0; n < N; n++) {
      const part = (v: ArrayLike<number>) => Array.from(v).slice(n * 432, (n + 1) * 432);
      t.ok(part(expectMax).some((v) => v !== 0), `image ${n}: the single-unit reconstruction is not zero`);
    }
    // every channel (no channel given), from a conv layer's output: that layer's signal is the pre-activation
    const seedConv = Float64Array.from(c3.y);
    const expectConv = (() => {
      const r3 = convT(seedConv, c3.shape, w3, 4, 3, 1, 6, 6);
      return convT(reluF(unpool(r3, p2.sw, N * 4, 36, 144)), c0.shape, w0, 3, 3, 1, 12, 12);
    })();
    const fromConv = await (await deconvnet(model, x, { layer: 'conv3' })).data();
    const eConv = relErr(fromConv, expectConv);
    t.ok(eConv < 1e-4, `all channels of conv3: relative error ${eConv.toExponential(2)}`);
    x.dispose();
  }],
  ['bad input: errors name the function and the problem', async (t) => {
    const model = nn.sequential(
      nn.conv2d(3, 4, 3, { padding: 1 }), nn.relu(), nn.maxPool2d({ kernel: 2 }), nn.flatten(1), nn.linear(4 * 16, 5),
      { inputShape: [3, 8, 8], seed: 5, name: 'tiny' },
    );
    const x = tensor(uniform([1, 3, 8, 8], 51), [1, 3, 8, 8]);
    await rejects(t, deconvnet(model, x, { layer: 'conv9' }), /deconvnet: Model tiny: no layer "conv9"; layers are 0\.\.4: conv0, relu1, maxpool2, flatten3, linear4/);
    await rejects(t, deconvnet(model, x, { layer: 7 }), /deconvnet: Model tiny: no layer 7; layers are 0\.\.4/);
    await rejects(t, deconvnet(model, x, { layer: null as unknown as string }), /deconvnet: layer must be a layer name or index, got null/);
    await rejects(t, deconvnet(model, x, { layer: 'relu1', channel: 4 }), /deconvnet: channel 4 is out of range: the layer has 4 channels \(shape \[1, 4, 8, 8\]\)/);
    await rejects(t, deconvnet(model, x, { layer: 'relu1', channel: -1 }), /deconvnet: channel must be an integer >= 0, got -1/);
    await rejects(t, deconvnet(model, x, { layer: 'relu1', position: 'min' as 'max' }), /deconvnet: position must be 'all' or 'max', got "min"/);
    await rejects(t, deconvnet(model, x, { layer: 'relu1', colour: 1 } as object as { layer: string }), /deconvnet: unknown option "colour"/);
    const big = tensor(new Float32Array(3 * 10 * 10), [1, 3, 10, 10]);
    await rejects(t, deconvnet(model, big, { layer: 'relu1' }), /deconvnet: image is 10x10, model tiny wants 8x8 images/);
    await rejects(t, compareDeconvToGradient(model, big), /compareDeconvToGradient: image is 10x10, model tiny wants 8x8 images/);
    await rejects(t, deconvnet(model, x, undefined as unknown as { layer: string }), /deconvnet: opts \{ layer \} is required/);
    await rejects(t, compareDeconvToGradient(model, x, { target: 5 }), /compareDeconvToGradient: target must be a class index in 0\.\.4 \(the model has 5 classes\), got 5/);
    await rejects(t, compareDeconvToGradient(model, x, { target: [1, 2] }), /compareDeconvToGradient: target lists 2 classes for 1 images/);
    await rejects(t, compareDeconvToGradient(model, x, { target: 1, layer: 'relu1' }), /compareDeconvToGradient: give target or layer, not both/);
    await rejects(t, compareDeconvToGradient(model, x, { tolerance: -1 }), /compareDeconvToGradient: tolerance must be a finite number >= 0, got -1/);
    await rejects(t, compareDeconvToGradient(model, x, { layer: 'nope' }), /compareDeconvToGradient: Model tiny: no layer "nope"/);
    await rejects(t, deconvnet({} as Model, x, { layer: 0 }), /deconvnet: model must be a Model/);
    await rejects(t, compareDeconvToGradient(null as unknown as Model, x), /compareDeconvToGradient: model must be a Model .*got null/);
    const gone = tensor(new Float32Array(3 * 64), [1, 3, 8, 8]);
    gone.dispose();
    await rejects(t, deconvnet(model, gone, { layer: 0 }), /deconvnet: image \(shape \[1, 3, 8, 8\]\) was disposed/);
    x.dispose();
    big.dispose();
  }],
]);
