// localise() and evaluateLocalisation(): the ILSVRC criterion on hand-made cases, GrabCut's contrast weights
// against a direct computation, segmentation of synthetic two-colour scenes from partial, noisy saliency
// (IoU > 0.95, better than thresholding the map), degenerate inputs, top-K on a model, and bad input.

import test from 'tape';
import { evaluateLocalisation, localise, nn, tensor } from '../../src/index.js';
import type { Model, SaliencyMap } from '../../src/index.js';
import { iou, pairwiseWeights } from '../../src/localise/localise.js';
import { largestComponent } from '../../src/localise/components.js';
import { rng } from '../../src/tensor/create.js';
import { availableBackends, onEachBackend } from '../helpers/backends.js';

await availableBackends();

const box = (x: number, y: number, width: number, height: number) => ({ x, y, width, height });

test('iou: disjoint, nested, half overlap, identical', (t) => {
  t.equal(iou(box(0, 0, 10, 10), box(20, 20, 5, 5)), 0);
  t.equal(iou(box(0, 0, 10, 10), box(0, 0, 10, 10)), 1);
  t.equal(iou(box(0, 0, 10, 10), box(0, 0, 5, 10)), 0.5, 'half the box: 50 / 100');
  t.ok(Math.abs(iou(box(0, 0, 10, 10), box(5, 0, 10, 10)) - 50 / 150) < 1e-12, 'shifted by half: 50 / 150');
  t.end();
});

test('evaluateLocalisation: the ILSVRC criterion, top-1 and top-5', (t) => {
  const truth = [
    { label: 3, boxes: [box(0, 0, 10, 10)] },
    { label: 1, boxes: [box(50, 50, 20, 20), box(0, 0, 10, 10)] },
    { label: 2, boxes: [box(0, 0, 10, 10)] },
    { label: 0, boxes: [box(0, 0, 10, 10)] },
  ];
  const preds = [
    [{ target: 3, box: box(0, 0, 5, 10) }],                                  // IoU exactly 0.5: correct
    [{ target: 7, box: box(0, 0, 10, 10) }, { target: 1, box: box(1, 1, 10, 10) }], // right box, wrong class first; second prediction correct (second box)
    [{ target: 2, box: box(6, 0, 10, 10) }],                                 // right class, IoU 4/16: wrong
    [1, 2, 4, 5, 6, 0].map((c) => ({ target: c, box: box(0, 0, 10, 10) })),  // correct only at rank 6: counts for neither
  ];
  const r = evaluateLocalisation(preds, truth);
  t.equal(r.top1Error, 1 - 1 / 4, 'top-1: image 0 only');
  t.equal(r.top5Error, 1 - 2 / 4, 'top-5: images 0 and 1');
  t.throws(() => evaluateLocalisation(preds.slice(1), truth), /evaluateLocalisation: 3 prediction lists for 4 images/);
  t.throws(() => evaluateLocalisation([], []), /evaluateLocalisation: no images to evaluate/);
  t.throws(() => evaluateLocalisation([[{ target: 1, box: box(0, 0, -1, 2) }]], [truth[0]]), /predictions\[0\]\[0\]\.box must be a box/);
  t.throws(() => evaluateLocalisation([[]], [{ label: 1, boxes: [] }]), /truth\[0\] must be \{ label, boxes \} with at least one box/);
  t.end();
});

test('pairwiseWeights: gamma exp(-beta d^2) / dist with beta = 1 / (2 <d^2>) over all neighbour pairs', (t) => {
  const W = 3, H = 2;
  const rgb = Float32Array.from({ length: W * H * 3 }, (_, i) => (i * 37) % 11);
  const w = pairwiseWeights(rgb, W, H, 8, 50);
  const dirs = [[1, 0], [0, 1], [1, 1], [-1, 1]];
  const pairs: [number, number, number][] = [];
  dirs.forEach(([dx, dy], k) => {
    for (let y = 0; y + dy < H; y++) for (let x = 0; x < W; x++) {
      if (x + dx < 0 || x + dx >= W) continue;
      const p = y * W + x, q = (y + dy) * W + x + dx;
      let d2 = 0;
      for (let c = 0; c < 3; c++) d2 += (rgb[3 * p + c] - rgb[3 * q + c]) ** 2;
      pairs.push([k, p, d2]);
    }
  });
  const beta = 1 / (2 * (pairs.reduce((s, [, , d]) => s + d, 0) / pairs.length));
  for (const [k, p, d2] of pairs) {
    const want = (50 / Math.hypot(dirs[k][0], dirs[k][1])) * Math.exp(-beta * d2);
    t.ok(Math.abs(w[k * W * H + p] - want) < 1e-9 * want, `direction ${k}, pixel ${p}`);
  }
  const flat = pairwiseWeights(new Float32Array(W * H * 3).fill(7), W, H, 4, 50);
  t.ok(flat.every((v, i) => (i % (W * H)) >= 0 && (v === 50 || v === 0)), 'one colour: beta = 0, every pair weighs gamma');
  t.end();
});

/**
 * A synthetic scene: background colour A, an ellipse of colour B, both with Gaussian noise; distractor blobs of
 * a third colour; a saliency map covering only part of the object (a blob on its left half), plus noise.
 */
function scene(seed: number, size = 64) {
  const next = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const n = size * size;
  const image = new Float32Array(3 * n);
  const object = new Uint8Array(n);
  const cx = size * (0.4 + 0.2 * next()), cy = size * (0.4 + 0.2 * next());
  const rx = size * (0.2 + 0.1 * next()), ry = size * (0.15 + 0.1 * next());
  const A = [40 + 60 * next(), 120 + 60 * next(), 40 + 60 * next()];
  const B = [200 + 40 * next(), 40 + 60 * next(), 40 + 40 * next()];
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    const p = y * size + x;
    const inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;
    object[p] = inside ? 1 : 0;
    const c = inside ? B : A;
    for (let k = 0; k < 3; k++) image[k * n + p] = Math.min(255, Math.max(0, c[k] + 20 * gauss()));
  }
  // saliency: a bump on the object's left part only, plus noise everywhere
  const map = new Float32Array(n);
  const sx = cx - rx * 0.5, sy = cy;
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    const p = y * size + x;
    map[p] = Math.exp(-(((x - sx) ** 2) / (2 * (rx * 0.3) ** 2) + ((y - sy) ** 2) / (2 * (ry * 0.4) ** 2))) + 0.05 * Math.abs(gauss());
  }
  return { image, object, map, size };
}

function maskIou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0, union = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && b[i]) inter++;
    if (a[i] || b[i]) union++;
  }
  return union ? inter / union : 1;
}

const noModel = null as unknown as Model;

await onEachBackend('localise', [
  ['synthetic two-colour scenes from partial, noisy saliency: mask IoU > 0.95, above thresholding the map', async (t) => {
    let worst = 1, thresholdBest = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      const s = scene(seed);
      const img = tensor(s.image, [1, 3, s.size, s.size]);
      const map: SaliencyMap = { width: s.size, height: s.size, data: s.map, target: 0, score: 0 };
      const [loc] = await localise(noModel, img, { saliency: map });
      img.dispose();
      const q = maskIou(loc.mask, s.object);
      worst = Math.min(worst, q);
      // the alternative: the largest component of the map thresholded at its 95% quantile
      const sorted = Float32Array.from(s.map).sort();
      const thr = sorted[Math.floor(0.95 * (sorted.length - 1))];
      const th = largestComponent(Uint8Array.from(s.map, (v) => (v > thr ? 1 : 0)), s.size, s.size, 8).mask;
      thresholdBest = Math.max(thresholdBest, maskIou(th, s.object));
      t.ok(q > 0.95, `scene ${seed}: GraphCut mask IoU ${q.toFixed(3)} > 0.95 (thresholded map: ${maskIou(th, s.object).toFixed(3)})`);
      t.equal(loc.note, undefined, 'not the degenerate fallback');
      let seedsOk = true;
      for (let i = 0; i < loc.seeds.length; i++) if (loc.seeds[i] === 1 && !loc.mask[i] && s.object[i]) seedsOk = false;
      t.ok(seedsOk, 'foreground seeds on the object end in the mask');
      // hard seeds: the background seeds inside the object's unsalient half are then forced out of the mask
      const again = tensor(s.image, [1, 3, s.size, s.size]);
      const [hard] = await localise(noModel, again, { saliency: map, hardSeeds: true });
      again.dispose();
      let violated = 0;
      hard.seeds.forEach((v, i) => { if ((v === 1 && !hard.mask[i] && hard.box) || (v === 2 && hard.mask[i])) violated++; });
      t.equal(violated, 0, `hard seeds: no background seed in the mask (IoU ${maskIou(hard.mask, s.object).toFixed(3)})`);
      // the box is the mask's bounding box
      let x0 = s.size, y0 = s.size, x1 = -1, y1 = -1;
      loc.mask.forEach((v, i) => {
        if (!v) return;
        const x = i % s.size, y = Math.floor(i / s.size);
        x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
      });
      t.deepEqual(loc.box, box(x0, y0, x1 - x0 + 1, y1 - y0 + 1), 'box = the mask\'s bounding box');
    }
    t.ok(worst > thresholdBest, `GraphCut (worst ${worst.toFixed(3)}) beats thresholding the map (best ${thresholdBest.toFixed(3)})`);
  }],
  ['degenerate inputs: constant saliency, a 1x1 image, one colour, re-estimation', async (t) => {
    const s = scene(9, 16);
    const img = tensor(s.image, [1, 3, 16, 16]);
    const flat: SaliencyMap = { width: 16, height: 16, data: new Float32Array(256).fill(0.5), target: 2, score: 1 };
    const [a] = await localise(noModel, img, { saliency: flat });
    t.deepEqual(a.box, box(0, 0, 16, 16), 'constant map: the whole image');
    t.match(a.note ?? '', /no foreground seeds/, `note: ${a.note}`);
    t.equal(a.target, 2, 'the map\'s target');
    // half the map exactly 0: nothing is strictly below its 30% quantile, so the tied zeros are the background
    const halfZero = s.map.slice(0, 256).map((v, i) => (i % 16 < 8 ? 0 : v));
    const [z] = await localise(noModel, img, { saliency: { width: 16, height: 16, data: halfZero, target: 0, score: 0 } });
    t.doesNotMatch(z.note ?? '', /seeds/, `a map half zeros still has seeds of both kinds (note: ${z.note ?? 'none'})`);
    t.equal(z.seeds.filter((v, i) => v === 2 && i % 16 < 8).length, 128, 'the zeros are the background seeds');
    const one = tensor([10, 20, 30], [1, 3, 1, 1]);
    const [b] = await localise(noModel, one, { saliency: { width: 1, height: 1, data: Float32Array.of(1), target: 0, score: 0 } });
    t.deepEqual(b.box, box(0, 0, 1, 1), '1x1 image: the whole image');
    one.dispose();
    const grey = tensor(new Float32Array(3 * 256).fill(128), [1, 3, 16, 16]);
    const [c] = await localise(noModel, grey, { saliency: { width: 16, height: 16, data: s.map.slice(0, 256), target: 0, score: 0 } });
    t.ok(c.box.width >= 1 && c.box.height >= 1 && c.mask.length === 256, `one colour: a defined box ${JSON.stringify(c.box)}`);
    const [d] = await localise(noModel, img, { saliency: { width: 16, height: 16, data: s.map.slice(0, 256), target: 0, score: 0 }, iterations: 3 });
    t.ok(d.mask.some((v) => v === 1), 'three re-estimations give a mask');
    img.dispose();
    grey.dispose();
  }],
  ['top-K on a model: K boxes for the K best classes, best first', async (t) => {
    const model = nn.sequential(
      nn.conv2d(3, 4, 3, { padding: 1 }), nn.relu(), nn.maxPool2d({ kernel: 2 }), nn.flatten(1), nn.linear(4 * 8 * 8, 6),
      { inputShape: [3, 16, 16], seed: 3 },
    );
    const s = scene(11, 16);
    const img = tensor(s.image, [1, 3, 16, 16]);
    const logits = await model.forward(img).data();
    const order = [...logits.keys()].sort((x, y) => logits[y] - logits[x]);
    const locs = await localise(model, img, { topK: 3 });
    t.deepEqual(locs.map((l) => l.target), order.slice(0, 3), 'the three best classes, best first');
    t.ok(locs.every((l, i) => Math.abs(l.score - logits[order[i]]) < 1e-3 * (1 + Math.abs(logits[order[i]]))), 'their scores');
    const [only] = await localise(model, img, { target: 4 });
    t.equal(only.target, 4, 'a given target');
    img.dispose();
  }],
  ['bad input: errors name the argument and what it was', async (t) => {
    const s = scene(12, 16);
    const img = tensor(s.image, [1, 3, 16, 16]);
    const map: SaliencyMap = { width: 16, height: 16, data: s.map, target: 0, score: 0 };
    const rejects = async (p: Promise<unknown>, re: RegExp) => {
      try {
        await p;
        t.fail(`expected ${re}`);
      } catch (e) {
        t.match((e as Error).message, re, (e as Error).message);
      }
    };
    await rejects(localise(noModel, img, { saliency: { ...map, width: 8, data: s.map.slice(0, 128) } }), /localise: the saliency map is 8x16 \(128 values\) but the image is 16x16/);
    const nan = s.map.slice();
    nan[17] = Number.NaN;
    await rejects(localise(noModel, img, { saliency: { ...map, data: nan } }), /localise: the saliency map holds NaN at pixel 17 \(x 1, y 1\)/);
    const grey = tensor(new Float32Array(256), [1, 1, 16, 16]);
    await rejects(localise(noModel, grey, { saliency: map }), /localise: image must be one 3-channel image \[1, 3, H, W\]/);
    await rejects(localise(noModel, img, { saliency: map, components: 0 }), /localise: components must be an integer >= 1, got 0/);
    await rejects(localise(noModel, img, { saliency: map, fgQuantile: 1 }), /localise: fgQuantile must be a number in \(0, 1\), got 1/);
    await rejects(localise(noModel, img, { saliency: map, bgQuantile: 0 }), /localise: bgQuantile must be a number in \(0, 1\), got 0/);
    await rejects(localise(noModel, img, { saliency: map, fgQuantile: 0.3, bgQuantile: 0.5 }), /localise: fgQuantile \(0.3\) must be above bgQuantile \(0.5\)/);
    await rejects(localise(noModel, img, { saliency: map, topK: 2 }), /localise: give saliency, or topK \/ target, not both/);
    await rejects(localise(noModel, img, { saliency: map, connectivity: 6 as 4 }), /localise: connectivity must be 4 or 8, got 6/);
    await rejects(localise(noModel, img, { topK: 0 }), /localise: model must be a Model/);
    img.dispose();
    grey.dispose();
  }],
]);
