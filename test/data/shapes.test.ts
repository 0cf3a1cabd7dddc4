// The procedural shapes dataset: determinism in (seed, index, size), balanced labels, distinct splits, masks and
// boxes that agree, object scale and placement, value range, colour contrast, distinct class silhouettes, other
// sizes, batching and the errors. Host-only: no backend, no init(). Speed is printed, not asserted.

import test from 'tape';
import {
  canonicalMask, CLASS_NAMES, generateSplit, NUM_CLASSES, renderSample, type Sample, SPLITS, toBatch,
} from '../../src/data/index.js';

const same = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

/** The tight box of a mask, or null when it is empty. */
function tightBox(mask: Uint8Array, S: number) {
  let x0 = S, y0 = S, x1 = -1, y1 = -1;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      if (!mask[y * S + x]) continue;
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
  }
  return x1 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

/** Mean RGB distance between the object's pixels and the non-object pixels of a band around its box. */
function contrast(s: Sample): number {
  const S = s.size, n = S * S, { x, y, width, height } = s.box;
  const pad = Math.max(2, Math.round(0.15 * Math.max(width, height)));
  const inn = [0, 0, 0], out = [0, 0, 0];
  let ni = 0, no = 0;
  for (let yy = Math.max(0, y - pad); yy < Math.min(S, y + height + pad); yy++) {
    for (let xx = Math.max(0, x - pad); xx < Math.min(S, x + width + pad); xx++) {
      const p = yy * S + xx, acc = s.mask[p] ? inn : out;
      for (let c = 0; c < 3; c++) acc[c] += s.image[c * n + p];
      if (s.mask[p]) ni++; else no++;
    }
  }
  return Math.hypot(inn[0] / ni - out[0] / no, inn[1] / ni - out[1] / no, inn[2] / ni - out[2] / no);
}

const iou = (a: Uint8Array, b: Uint8Array) => {
  let i = 0, u = 0;
  for (let p = 0; p < a.length; p++) { i += a[p] & b[p]; u += a[p] | b[p]; }
  return u === 0 ? 0 : i / u;
};

// ------------------------------------------------------------------ determinism, labels, splits

test('renderSample: deterministic in (seed, index, size); other indices and seeds give other images', (t) => {
  const a = renderSample(11, 3), b = renderSample(11, 3);
  t.ok(same(a.image, b.image), 'same seed and index: identical image');
  t.ok(same(a.mask, b.mask), 'identical mask');
  t.deepEqual(a.box, b.box, 'identical box');
  t.equal(a.label, b.label, 'identical label');
  t.notOk(same(a.image, renderSample(11, 4).image), 'another index: another image');
  t.notOk(same(a.image, renderSample(11, 13).image), 'another index of the same class: another image');
  t.notOk(same(a.image, renderSample(12, 3).image), 'another seed: another image');
  t.ok(same(renderSample(-5, 2 ** 40, 64).image, renderSample(-5, 2 ** 40, 64).image), 'negative seed, large index: deterministic');
  t.equal(a.size, 96, 'default size 96');
  t.equal(a.image.length, 3 * 96 * 96, 'image is [3, 96, 96]');
  t.equal(a.mask.length, 96 * 96, 'mask is [96, 96]');
  t.end();
});

test('labels are index % 10 and balanced; generateSplit renders indices 0..count-1 of its split seed', (t) => {
  const s = generateSplit('train', 40);
  t.equal(s.length, 40);
  t.deepEqual(s.map((x) => x.label), Array.from({ length: 40 }, (_, i) => i % 10), 'label = index % 10');
  const counts = new Array(NUM_CLASSES).fill(0);
  for (const x of s) counts[x.label]++;
  t.deepEqual(counts, new Array(NUM_CLASSES).fill(4), 'every class 4 times in 40');
  t.ok(same(s[17].image, renderSample(SPLITS.train, 17).image), 'sample 17 is renderSample(SPLITS.train, 17)');
  t.equal(renderSample(3, 123457).label, 7, 'index 123457 -> label 7');
  t.deepEqual(generateSplit('val', 0), [], 'count 0 -> []');
  t.equal(CLASS_NAMES.length, 10, '10 class names');
  t.equal(new Set(CLASS_NAMES).size, 10, 'distinct names');
  t.end();
});

test('SPLITS: distinct seeds, and no image is shared across splits at the same index', (t) => {
  const seeds = [SPLITS.train, SPLITS.val, SPLITS.test];
  t.equal(new Set(seeds).size, 3, `distinct seeds ${seeds.join(', ')}`);
  const splits = (['train', 'val', 'test'] as const).map((k) => generateSplit(k, 20));
  let shared = 0;
  for (let i = 0; i < 20; i++) {
    for (let a = 0; a < 3; a++) for (let b = a + 1; b < 3; b++) if (same(splits[a][i].image, splits[b][i].image)) shared++;
  }
  t.equal(shared, 0, 'no identical images among 3 x 20');
  // nor across indices within reach: no image of val equals any of train
  let cross = 0;
  for (const v of splits[1]) for (const tr of splits[0]) if (same(v.image, tr.image)) cross++;
  t.equal(cross, 0, 'no val image equals a train image');
  t.end();
});

// ------------------------------------------------------------------ masks, boxes, scale, placement, values, contrast

test('200 samples: box = tight box of mask, scale 20-60 %, fully inside, values 0..255, contrasting colour', (t) => {
  const S = 96, N = 200;
  const bad = { box: [] as number[], scale: [] as number[], area: [] as number[], inside: [] as number[], values: [] as number[], contrast: [] as number[] };
  let minSide = 1, maxSide = 0, minC = Infinity, sumC = 0;
  for (let i = 0; i < N; i++) {
    const s = renderSample(77, i, S);
    const tb = tightBox(s.mask, S);
    if (!tb || tb.x !== s.box.x || tb.y !== s.box.y || tb.width !== s.box.width || tb.height !== s.box.height) bad.box.push(i);
    const side = Math.max(s.box.width, s.box.height) / S;
    minSide = Math.min(minSide, side); maxSide = Math.max(maxSide, side);
    // the larger side of the rotated object's box is drawn uniformly in [0.2, 0.6] S (within ~2 px of rasterisation)
    if (side * S < 0.2 * S - 2 || side * S > 0.6 * S + 1 || side < 0.15 || side > 0.65) bad.scale.push(i);
    let area = 0;
    for (const m of s.mask) area += m;
    if (area < 0.005 * S * S || area > 0.37 * S * S) bad.area.push(i);
    let border = 0;
    for (let k = 0; k < S; k++) border += s.mask[k] + s.mask[(S - 1) * S + k] + s.mask[k * S] + s.mask[k * S + S - 1];
    if (border > 0 || s.box.x < 1 || s.box.y < 1 || s.box.x + s.box.width > S - 1 || s.box.y + s.box.height > S - 1) bad.inside.push(i);
    if (!s.image.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) bad.values.push(i);
    const c = contrast(s);
    minC = Math.min(minC, c); sumC += c;
    if (c < 40) bad.contrast.push(i);
  }
  t.deepEqual(bad.box, [], 'box is exactly the tight box of a non-empty mask');
  t.deepEqual(bad.scale, [], `larger box side in [0.2 S - 2, 0.6 S + 1] (observed ${minSide.toFixed(3)}..${maxSide.toFixed(3)} of S)`);
  t.ok(minSide < 0.25 && maxSide > 0.55, 'the scales span the range');
  t.deepEqual(bad.area, [], 'mask area between 0.5 % and 37 % of the image');
  t.deepEqual(bad.inside, [], 'object fully inside: no mask pixel on the border');
  t.deepEqual(bad.values, [], 'pixel values are integers in 0..255');
  t.deepEqual(bad.contrast, [], `object vs surrounding background mean colour distance >= 40 (min ${minC.toFixed(1)}, mean ${(sumC / N).toFixed(1)})`);
  t.end();
});

test('samples vary: positions, rotations, colours and backgrounds differ within a class', (t) => {
  const xs = new Set<number>(), aspects = new Set<string>(), corner = new Set<number>();
  let minFill = 1, maxFill = 0;
  for (let i = 0; i < 10; i++) {
    const sq = renderSample(5, 10 * i + 1); // squares: the mask fills its box fully at 0 deg, half at 45 deg
    let area = 0;
    for (const m of sq.mask) area += m;
    const fill = area / (sq.box.width * sq.box.height);
    minFill = Math.min(minFill, fill); maxFill = Math.max(maxFill, fill);
    xs.add(sq.box.x);
    corner.add(sq.image[0]);
    const ar = renderSample(5, 10 * i + 8); // arrows: the box aspect follows the rotation
    aspects.add((ar.box.width / ar.box.height).toFixed(2));
  }
  t.ok(xs.size >= 6, `box x positions vary (${xs.size} distinct of 10)`);
  t.ok(maxFill - minFill > 0.2, `squares are rotated: mask fills ${minFill.toFixed(2)}..${maxFill.toFixed(2)} of the box`);
  t.ok(aspects.size >= 6, `arrows are rotated: box aspect varies (${aspects.size} distinct of 10)`);
  t.ok(corner.size >= 6, `background varies (${corner.size} distinct corner values of 10)`);
  t.end();
});

// ------------------------------------------------------------------ class silhouettes

test('class silhouettes: canonical masks are distinct (IoU < 0.8 for every pair, at every relative rotation)', (t) => {
  const S = 96;
  const masks = CLASS_NAMES.map((_, k) => canonicalMask(k, S));
  for (let k = 0; k < NUM_CLASSES; k++) {
    let area = 0;
    for (const m of masks[k]) area += m;
    if (area < 0.1 * S * S) t.fail(`${CLASS_NAMES[k]}: canonical mask too small (${area} px)`);
  }
  let worst = 0, worstPair = '', worstRot = 0, worstRotPair = '';
  for (let a = 0; a < NUM_CLASSES; a++) {
    for (let b = a + 1; b < NUM_CLASSES; b++) {
      const v = iou(masks[a], masks[b]);
      if (v > worst) { worst = v; worstPair = `${CLASS_NAMES[a]}/${CLASS_NAMES[b]}`; }
      for (let k = 0; k < 24; k++) {
        const w = iou(masks[a], canonicalMask(b, S, (k * Math.PI) / 12));
        if (w > worstRot) { worstRot = w; worstRotPair = `${CLASS_NAMES[a]}/${CLASS_NAMES[b]} at ${k * 15} deg`; }
      }
    }
  }
  t.ok(worst < 0.8, `max IoU between unrotated canonical masks ${worst.toFixed(3)} (${worstPair})`);
  t.ok(worstRot < 0.8, `max IoU over relative rotations (15 deg steps) ${worstRot.toFixed(3)} (${worstRotPair})`);
  // the rendered object has its class's silhouette: on a clean canonical render the mask area ratio to the
  // disc is the class's own (circle ~ 1, ring ~ 0.64, square ~ 0.64, cross ~ 0.6)
  const disc = iou(masks[0], canonicalMask(0, S, 1.234));
  t.ok(disc > 0.97, `a rotated circle is the circle (IoU ${disc.toFixed(3)})`);
  t.end();
});

// ------------------------------------------------------------------ sizes, batching

test('size option: 128 and 32 render the same scene at another resolution', (t) => {
  const a = renderSample(SPLITS.val, 5), b = renderSample(SPLITS.val, 5, 128), c = renderSample(SPLITS.val, 5, 32);
  t.equal(b.size, 128);
  t.equal(b.image.length, 3 * 128 * 128);
  t.equal(b.mask.length, 128 * 128);
  t.equal(b.label, a.label, 'same label');
  const tb = tightBox(b.mask, 128);
  t.deepEqual(tb, b.box, 'box = tight box of the mask at 128');
  const k = 128 / 96, d = Math.max(Math.abs(b.box.x - a.box.x * k), Math.abs(b.box.y - a.box.y * k),
    Math.abs(b.box.x + b.box.width - (a.box.x + a.box.width) * k), Math.abs(b.box.y + b.box.height - (a.box.y + a.box.height) * k));
  t.ok(d <= 3, `box at 128 is the box at 96 scaled by 4/3 (max edge difference ${d.toFixed(2)} px)`);
  t.ok(c.box.width >= 3 && c.box.x >= 1 && c.box.x + c.box.width <= 31, `size 32 works (box ${JSON.stringify(c.box)})`);
  t.end();
});

test('toBatch: stacks images [N, 3, S, S] and labels; checks sizes', (t) => {
  const s = generateSplit('test', 3, 32);
  const { images, labels } = toBatch(s);
  t.ok(images instanceof Float32Array && labels instanceof Int32Array, 'Float32Array images, Int32Array labels');
  t.equal(images.length, 3 * 3 * 32 * 32);
  t.deepEqual(Array.from(labels), [0, 1, 2]);
  t.ok(same(images.subarray(2 * 3 * 32 * 32), s[2].image), 'third image in place');
  const e = toBatch([]);
  t.deepEqual([e.images.length, e.labels.length], [0, 0], 'empty -> empty');
  t.throws(() => toBatch([s[0], renderSample(1, 1, 40)]), /toBatch: samples\[1\] has size 40, but samples\[0\] has size 32/);
  t.throws(() => toBatch('x' as unknown as Sample[]), /toBatch: samples must be an array/);
  t.throws(() => toBatch([s[0], {} as Sample]), /toBatch: samples\[1\] must be a sample/);
  t.end();
});

// ------------------------------------------------------------------ errors

test('errors name the function and the argument', (t) => {
  t.throws(() => renderSample(1, -1), /renderSample: index must be a non-negative integer, got -1/);
  t.throws(() => renderSample(1, 1.5), /renderSample: index must be a non-negative integer, got 1.5/);
  t.throws(() => renderSample(1.5, 0), /renderSample: seed must be an integer, got 1.5/);
  t.throws(() => renderSample(Number.NaN, 0), /renderSample: seed must be an integer, got NaN/);
  t.throws(() => renderSample(1, 0, 31), /renderSample: size must be an integer from 32 to 2048, got 31/);
  t.throws(() => renderSample(1, 0, 96.5), /renderSample: size must be an integer from 32 to 2048, got 96.5/);
  t.throws(() => renderSample(1, 0, '96' as unknown as number), /renderSample: size must be an integer from 32 to 2048, got "96"/);
  t.throws(() => generateSplit('train', -1), /generateSplit: count must be a non-negative integer, got -1/);
  t.throws(() => generateSplit('train', 2.5), /generateSplit: count must be a non-negative integer, got 2.5/);
  t.throws(() => generateSplit('train', 1, 16), /generateSplit: size must be an integer from 32 to 2048, got 16/);
  t.throws(() => generateSplit('training' as 'train', 1), /generateSplit: split must be one of 'train', 'val', 'test', got "training"/);
  t.throws(() => canonicalMask(10), /canonicalMask: label must be an integer from 0 to 9, got 10/);
  t.end();
});

// ------------------------------------------------------------------ speed (printed)

test('speed (printed, not asserted)', (t) => {
  renderSample(9, 0);
  const n = 100, t0 = performance.now();
  for (let i = 0; i < n; i++) renderSample(9, i);
  const dt = (performance.now() - t0) / 1000;
  t.comment(`renderSample 96x96: ${(n / dt).toFixed(0)} images/s on one core (${((dt / n) * 1000).toFixed(2)} ms each)`);
  t.pass('timed');
  t.end();
});
