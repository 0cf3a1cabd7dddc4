// The localisation evaluation on the shapes dataset (src/eval/shapes.ts): the box of the thresholded map on
// constructed maps; rows (c) and (d) and the classification error recomputed here from the samples, a forward
// pass and an IoU written out again; the ILSVRC class criterion on a model whose top-1 class is fixed; bad input.

import test from 'tape';
import { init, close, models, noGrad, tensor } from '../../src/index.js';
import { renderSample, SPLITS } from '../../src/data/shapes.js';
import { evaluateShapes, thresholdBox } from '../../src/eval/shapes.js';
import type { Model } from '../../src/models/model.js';
import { toModelInput } from '../../src/vis/common.js';

/** IoU of boxes { x, y, width, height } by counting covered pixels (an independent formulation). */
function pixelIoU(a: { x: number; y: number; width: number; height: number }, b: typeof a, S: number): number {
  let inter = 0, union = 0;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const ia = x >= a.x && x < a.x + a.width && y >= a.y && y < a.y + a.height;
      const ib = x >= b.x && x < b.x + b.width && y >= b.y && y < b.y + b.height;
      if (ia && ib) inter++;
      if (ia || ib) union++;
    }
  }
  return union ? inter / union : 0;
}

test('thresholdBox: the box of the largest component above the quantile', (t) => {
  const W = 20, H = 16;
  const data = new Float32Array(W * H).map((_, i) => 0.001 * (i % 7));
  // a 10 x 7 block of 1 (70 px) and a 3 x 3 block of 0.9 (9 px) over 241 background values below 0.01: the 0.76
  // quantile (sorted position 242.4 of 0..319) falls on 0.9, so both blocks pass the threshold
  for (let y = 3; y < 10; y++) for (let x = 5; x < 15; x++) data[y * W + x] = 1;
  for (let y = 12; y < 15; y++) for (let x = 16; x < 19; x++) data[y * W + x] = 0.9;
  const map = { width: W, height: H, data, target: 0, score: 0 };
  t.deepEqual(thresholdBox(map, 0.76), { x: 5, y: 3, width: 10, height: 7 }, 'the larger block, not the smaller');
  // at the 0.99 quantile only the top 1% (3 px, all in the big block) remain: a box inside it
  const b = thresholdBox(map, 0.99);
  t.ok(b.x >= 5 && b.x + b.width <= 15 && b.y >= 3 && b.y + b.height <= 10, `inside the block: ${JSON.stringify(b)}`);
  t.end();
});

async function argmaxPredictions(model: Model, count: number, S: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const s = renderSample(SPLITS.test, i, S);
    const y = noGrad(() => model.forward(toModelInput(model, tensor(s.image, [1, 3, S, S]))));
    const v = await y.data();
    y.dispose();
    let best = 0;
    for (let c = 1; c < v.length; c++) if (v[c] > v[best]) best = c;
    out.push(best);
  }
  return out;
}

test('evaluateShapes: (c), (d) and the classification error recomputed from the samples', async (t) => {
  await init({ backend: 'cpu' });
  try {
    const S = 32, count = 30, valCount = 12;
    const model = models.shapesNet({ width: 2, inputSize: S, batchNorm: false, dropout: 0, seed: 4 });
    // a larger last layer so that the untrained model's top-1 classes vary over the images
    for (const p of Object.values(model.layer('classifier.3').params)) p.data.forEach((v, i, a) => { a[i] = 100 * v; });
    const r = await evaluateShapes(model, { count, valCount, methods: ['gradient'] });
    const preds = await argmaxPredictions(model, count, S);
    t.ok(new Set(preds).size > 1, `the predictions vary (${new Set(preds).size} classes)`);
    const test_ = Array.from({ length: count }, (_, i) => renderSample(SPLITS.test, i, S));
    const val = Array.from({ length: valCount }, (_, i) => renderSample(SPLITS.val, i, S));
    const wrong = test_.filter((s, i) => preds[i] !== s.label).length;
    t.equal(r.classificationError, wrong / count, `classification error ${r.classificationError}`);

    const cw = Math.round(val.reduce((a, s) => a + s.box.width, 0) / valCount);
    const ch = Math.round(val.reduce((a, s) => a + s.box.height, 0) / valCount);
    t.deepEqual(r.centreBox, { width: cw, height: ch }, 'the centre box: the validation split\'s mean size');
    const centre = { x: Math.round((S - cw) / 2), y: Math.round((S - ch) / 2), width: cw, height: ch };
    const whole = { x: 0, y: 0, width: S, height: S };
    for (const [id, box] of [['(c)', centre], ['(d)', whole]] as const) {
      const row = r.rows.find((x) => x.id === id)!;
      const ious = test_.map((s) => pixelIoU(box, s.box, S));
      const err = test_.filter((s, i) => !(preds[i] === s.label && ious[i] >= 0.5)).length / count;
      t.ok(Math.abs(row.top1Error - err) < 1e-12, `${id}: top-1 localisation error ${row.top1Error} = ${err}`);
      const mean = ious.reduce((a, v) => a + v, 0) / count;
      t.ok(Math.abs(row.meanIoU - mean) < 1e-9, `${id}: mean IoU ${row.meanIoU.toFixed(4)} = ${mean.toFixed(4)}`);
    }
    t.deepEqual(r.rows.map((x) => x.id), ['(a)', '(b)', '(c)', '(d)'], 'rows (a)-(d) for gradient maps only');
    for (const row of r.rows) t.ok(row.top1Error >= r.classificationError - 1e-12, `${row.id}: not below the classification error`);
    t.ok(r.threshold.quantile >= 0.5 && r.threshold.quantile <= 0.95, `(b)'s quantile ${r.threshold.quantile} from the grid`);
  } finally {
    await close();
  }
  t.end();
});

test('evaluateShapes: the class must be right (a model that always answers class 3)', async (t) => {
  await init({ backend: 'cpu' });
  try {
    const S = 32, count = 20;
    const model = models.shapesNet({ width: 2, inputSize: S, dropout: 0, seed: 1 });
    const last = model.layer('classifier.3').params;
    last.w.data.fill(0);
    last.b.data.fill(0);
    last.b.data[3] = 1;
    const r = await evaluateShapes(model, { count, valCount: 5, methods: ['gradient'] });
    const samples = Array.from({ length: count }, (_, i) => renderSample(SPLITS.test, i, S));
    t.equal(r.classificationError, samples.filter((s) => s.label !== 3).length / count, 'only the class-3 images are classified right');
    const d = r.rows.find((x) => x.id === '(d)')!;
    const right = samples.filter((s) => s.label === 3 && (s.box.width * s.box.height) / (S * S) >= 0.5).length;
    t.equal(d.top1Error, 1 - right / count, '(d): localised only where the class is 3 and the box covers half the image');
  } finally {
    await close();
  }
  t.end();
});

test('evaluateShapes: bad input', async (t) => {
  await init({ backend: 'cpu' });
  try {
    const m10 = models.shapesNet({ width: 2, inputSize: 32 });
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      ['3 classes', () => evaluateShapes(models.shapesNet({ width: 2, inputSize: 32, classes: 3 })), /evaluateShapes: the model must output the shapes dataset's 10 class scores/],
      ['count 0', () => evaluateShapes(m10, { count: 0 }), /evaluateShapes: count must be an integer from 1/],
      ['no gradient maps', () => evaluateShapes(m10, { methods: ['guided'] }), /evaluateShapes: methods must include 'gradient'/],
      ['unknown method', () => evaluateShapes(m10, { methods: ['occlusion' as never] }), /evaluateShapes: methods must be a non-empty list/],
      ['unknown option', () => evaluateShapes(m10, { counts: 4 } as never), /evaluateShapes: .*counts/],
      ['not a model', () => evaluateShapes({} as never), /evaluateShapes: model/],
    ];
    for (const [what, f, re] of cases) {
      try {
        await f();
        t.fail(`${what}: expected an error`);
      } catch (e) {
        t.match((e as Error).message, re, `${what}: ${(e as Error).message}`);
      }
    }
  } finally {
    await close();
  }
  t.end();
});
