// Connected components and bounding boxes of the localisation (native/src/segment.cc through
// src/localise/components.ts): hand-made masks with known answers for 4- and 8-connectivity, the edge cases
// (1x1, empty, full, zero-sized), random masks against a breadth-first flood fill written here, the largest
// component with its tie rule, and the argument checks.

import test from 'tape';
import { loadNative } from '../../src/backend/cpu/native.js';
import { componentBox, labelComponents, largestComponent, type Box, type Connectivity } from '../../src/localise/components.js';

let loaded = true;
try {
  loadNative();
} catch (e) {
  loaded = false;
  test('native addon: built', (t) => {
    t.fail(`the native addon does not load: ${(e as Error).message}`);
    t.end();
  });
}

/** A mask from rows of '#' (foreground) and '.' (background). */
function parse(rows: string[]): { mask: Uint8Array; width: number; height: number } {
  const width = rows[0].length, height = rows.length;
  const mask = new Uint8Array(width * height);
  rows.forEach((r, y) => [...r].forEach((ch, x) => { mask[y * width + x] = ch === '#' ? 1 : 0; }));
  return { mask, width, height };
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

/** The reference: a breadth-first flood fill from each unlabelled foreground pixel in raster order. */
function floodFill(mask: Uint8Array, width: number, height: number, connectivity: Connectivity) {
  const labels = new Int32Array(width * height);
  const sizes = [0], boxes: number[][] = [[0, 0, -1, -1]];  // minX, minY, maxX, maxY
  const steps = connectivity === 4 ? [[1, 0], [-1, 0], [0, 1], [0, -1]]
    : [[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [1, -1], [-1, 1], [-1, -1]];
  let count = 0;
  for (let start = 0; start < width * height; start++) {
    if (!mask[start] || labels[start]) continue;
    const l = ++count, queue = [start];
    labels[start] = l;
    sizes.push(0);
    boxes.push([width, height, -1, -1]);
    for (let q = 0; q < queue.length; q++) {
      const p = queue[q], x = p % width, y = (p - x) / width, b = boxes[l];
      sizes[l]++;
      b[0] = Math.min(b[0], x); b[1] = Math.min(b[1], y); b[2] = Math.max(b[2], x); b[3] = Math.max(b[3], y);
      for (const [dx, dy] of steps) {
        const nx = x + dx, ny = y + dy, np = ny * width + nx;
        if (nx < 0 || ny < 0 || nx >= width || ny >= height || !mask[np] || labels[np]) continue;
        labels[np] = l;
        queue.push(np);
      }
    }
  }
  let bgMinX = width, bgMinY = height, bgMaxX = -1, bgMaxY = -1;
  for (let p = 0; p < width * height; p++) {
    if (labels[p]) continue;
    sizes[0]++;
    const x = p % width, y = (p - x) / width;
    bgMinX = Math.min(bgMinX, x); bgMinY = Math.min(bgMinY, y); bgMaxX = Math.max(bgMaxX, x); bgMaxY = Math.max(bgMaxY, y);
  }
  boxes[0] = [bgMinX, bgMinY, bgMaxX, bgMaxY];
  const flat = boxes.flatMap(([x0, y0, x1, y1]) => (x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1 - x0 + 1, y1 - y0 + 1]));
  return { labels, count, sizes: new Int32Array(sizes), boxes: new Int32Array(flat) };
}

const boxOf = (b: Int32Array, l: number): number[] => Array.from(b.subarray(4 * l, 4 * l + 4));

if (loaded) {
  test('labelComponents: blobs touching at a corner are 2 components with 4-connectivity, 1 with 8', (t) => {
    const { mask, width, height } = parse([
      '##....',
      '##....',
      '..###.',
      '..###.',
      '......',
    ]);
    const four = labelComponents(mask, width, height, 4);
    t.equal(four.count, 2, '4-connectivity: 2 components');
    t.deepEqual(Array.from(four.sizes), [20, 4, 6], '4: sizes (background first)');
    t.deepEqual(boxOf(four.boxes, 1), [0, 0, 2, 2], '4: box of the upper-left blob');
    t.deepEqual(boxOf(four.boxes, 2), [2, 2, 3, 2], '4: box of the lower-right blob');
    t.deepEqual(boxOf(four.boxes, 0), [0, 0, 6, 5], '4: the background\'s box');
    t.deepEqual(Array.from(four.labels.subarray(0, 6)), [1, 1, 0, 0, 0, 0], '4: first row labels');
    t.deepEqual(Array.from(four.labels.subarray(12, 18)), [0, 0, 2, 2, 2, 0], '4: third row labels');
    const eight = labelComponents(mask, width, height, 8);
    t.equal(eight.count, 1, '8-connectivity: 1 component');
    t.deepEqual(Array.from(eight.sizes), [20, 10], '8: sizes');
    t.deepEqual(boxOf(eight.boxes, 1), [0, 0, 5, 4], '8: one box around both');
    t.deepEqual(componentBox(eight, 1), { x: 0, y: 0, width: 5, height: 4 }, 'componentBox reads a label\'s box');

    // the other diagonal (a pixel's up-right neighbour) and a U whose arms merge only at the bottom row
    const anti = parse(['..#', '.#.', '#..']);
    t.equal(labelComponents(anti.mask, 3, 3, 4).count, 3, 'anti-diagonal: 3 components with 4');
    const antiEight = labelComponents(anti.mask, 3, 3, 8);
    t.equal(antiEight.count, 1, 'anti-diagonal: 1 component with 8');
    t.deepEqual(boxOf(antiEight.boxes, 1), [0, 0, 3, 3], 'anti-diagonal: box');
    const u = parse(['#.#.#', '#.#.#', '#####', '.....', '#...#']);
    for (const c of [4, 8] as const) {
      const r = labelComponents(u.mask, 5, 5, c);
      t.equal(r.count, 3, `U shape (${c}): the arms merge into one, plus 2 lone pixels`);
      t.deepEqual(Array.from(r.labels.subarray(0, 15)), [1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1], `U shape (${c}): one label across the arms`);
      t.deepEqual([boxOf(r.boxes, 1), boxOf(r.boxes, 2), boxOf(r.boxes, 3)], [[0, 0, 5, 3], [0, 4, 1, 1], [4, 4, 1, 1]], `U shape (${c}): boxes`);
    }
    // a spiral: a single long component whose provisional labels need many merges
    const spiral = parse([
      '#########',
      '........#',
      '######..#',
      '#....#..#',
      '#.##.#..#',
      '#..#.#..#',
      '###..####',
    ]);
    const sp = labelComponents(spiral.mask, spiral.width, spiral.height, 4);
    t.equal(sp.count, 2, 'spiral: the outer path and the inner hook');
    t.deepEqual(sp, floodFill(spiral.mask, spiral.width, spiral.height, 4), 'spiral: as the flood fill');
    t.equal(labelComponents(spiral.mask, spiral.width, spiral.height, 8).count, 1, 'spiral: the hook touches the path at a corner (8)');
    t.end();
  });

  test('labelComponents / largestComponent: 1x1, empty, full and zero-sized masks; non-zero is foreground', (t) => {
    for (const c of [4, 8] as const) {
      const on = labelComponents(new Uint8Array([1]), 1, 1, c);
      t.deepEqual([Array.from(on.labels), on.count, Array.from(on.sizes), Array.from(on.boxes)], [[1], 1, [0, 1], [0, 0, 0, 0, 0, 0, 1, 1]],
        `1x1 foreground (${c})`);
      const off = labelComponents(new Uint8Array([0]), 1, 1, c);
      t.deepEqual([Array.from(off.labels), off.count, Array.from(off.sizes), Array.from(off.boxes)], [[0], 0, [1], [0, 0, 1, 1]],
        `1x1 background (${c})`);
      t.deepEqual(largestComponent(new Uint8Array([1]), 1, 1, c), { mask: new Uint8Array([1]), box: { x: 0, y: 0, width: 1, height: 1 } },
        `1x1 largest (${c})`);
    }
    const empty = labelComponents(new Uint8Array(12), 4, 3, 8);
    t.equal(empty.count, 0, 'empty mask: no components');
    t.ok(empty.labels.length === 12 && empty.labels.every((v) => v === 0), 'empty mask: all labels 0');
    t.deepEqual([Array.from(empty.sizes), Array.from(empty.boxes)], [[12], [0, 0, 4, 3]], 'empty mask: background size and box');
    const none = largestComponent(new Uint8Array(12), 4, 3, 4);
    t.deepEqual(none, { mask: new Uint8Array(12), box: null }, 'empty mask: largest is an all-zero mask and box null');
    const full = labelComponents(new Uint8Array(12).fill(1), 4, 3, 4);
    t.deepEqual([full.count, Array.from(full.sizes), Array.from(full.boxes)], [1, [0, 12], [0, 0, 0, 0, 0, 0, 4, 3]], 'full mask: one component, no background');
    const zero = labelComponents(new Uint8Array(0), 0, 5, 4);
    t.deepEqual([zero.labels.length, zero.count, Array.from(zero.sizes)], [0, 0, [0]], 'zero-width mask');
    t.deepEqual(largestComponent(new Uint8Array(0), 3, 0, 8), { mask: new Uint8Array(0), box: null }, 'zero-height mask: no box');
    const values = new Uint8Array([0, 255, 7, 0, 0, 0, 1, 0, 128]);
    const v = labelComponents(values, 3, 3, 4);
    t.deepEqual(Array.from(v.labels), [0, 1, 1, 0, 0, 0, 2, 0, 3], 'any non-zero value is foreground');
    const clamped = labelComponents(new Uint8ClampedArray(values), 3, 3, 4);
    t.deepEqual(clamped.labels, v.labels, 'a Uint8ClampedArray is accepted');
    const view = new Uint8Array([9, 9, 1, 1, 0, 1]).subarray(2);
    t.deepEqual(Array.from(labelComponents(view, 2, 2, 4).labels), [1, 1, 0, 1], 'a subarray view is read from its offset');
    t.end();
  });

  test('largestComponent: the largest by pixels, ties to the smaller label, with its box', (t) => {
    const { mask, width, height } = parse([
      '##...#',
      '##...#',
      '.....#',
      '###..#',
      '#....#',
    ]);
    const r = largestComponent(mask, width, height, 4);
    t.deepEqual(r.box, { x: 5, y: 0, width: 1, height: 5 } satisfies Box, 'the 5-pixel column wins over the 4-pixel blobs');
    t.deepEqual(Array.from(r.mask), Array.from(mask).map((_, i) => (i % 6 === 5 ? 1 : 0)), 'mask of the column only');
    const tie = parse(['##.##', '.....', '##...']);
    const first = largestComponent(tie.mask, 5, 3, 8);
    t.deepEqual(first.box, { x: 0, y: 0, width: 2, height: 1 }, 'three 2-pixel components: the first in raster order (label 1)');
    t.deepEqual(Array.from(first.mask), [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 'its mask');
    const tie2 = parse(['...##', '.....', '##...']);
    t.deepEqual(largestComponent(tie2.mask, 5, 3, 4).box, { x: 3, y: 0, width: 2, height: 1 }, 'ties go to the component met first in raster order');
    const merged = largestComponent(parse(['#.#', '.#.', '#..']).mask, 3, 3, 8);
    t.deepEqual(merged.box, { x: 0, y: 0, width: 3, height: 3 }, '8-connectivity joins the diagonals into the largest');
    t.equal(merged.mask.reduce((s, v) => s + v, 0), 4, 'with all 4 pixels');
    t.end();
  });

  test('labelComponents: random masks agree with a flood fill', (t) => {
    const u = rng(2024);
    let cases = 0, failures = 0, maxCount = 0;
    for (const [width, height] of [[1, 1], [1, 17], [23, 1], [7, 5], [16, 16], [31, 19], [64, 48], [224, 224]]) {
      for (const density of [0.05, 0.3, 0.5, 0.6, 0.9]) {
        const mask = new Uint8Array(width * height);
        for (let i = 0; i < mask.length; i++) mask[i] = u() < density ? 1 + Math.floor(u() * 255) : 0;
        for (const c of [4, 8] as const) {
          const got = labelComponents(mask, width, height, c);
          const want = floodFill(mask, width, height, c);
          cases++;
          maxCount = Math.max(maxCount, got.count);
          const same = got.count === want.count && got.labels.every((v, i) => v === want.labels[i]) &&
            got.sizes.length === want.sizes.length && got.sizes.every((v, i) => v === want.sizes[i]) &&
            got.boxes.length === want.boxes.length && got.boxes.every((v, i) => v === want.boxes[i]);
          if (!same) {
            failures++;
            if (failures <= 3) t.fail(`${width}x${height}, density ${density}, ${c}-connectivity: differs from the flood fill (${got.count} vs ${want.count} components)`);
            continue;
          }
          // largestComponent: the first label of the largest size
          let best = 0;
          for (let l = 1; l <= want.count; l++) if (want.sizes[l] > (best ? want.sizes[best] : 0)) best = l;
          const lc = largestComponent(mask, width, height, c);
          const wantMask = Array.from(want.labels, (v) => (best && v === best ? 1 : 0));
          const wantBox = best ? { x: want.boxes[4 * best], y: want.boxes[4 * best + 1], width: want.boxes[4 * best + 2], height: want.boxes[4 * best + 3] } : null;
          if (!lc.mask.every((v, i) => v === wantMask[i]) || JSON.stringify(lc.box) !== JSON.stringify(wantBox)) {
            failures++;
            if (failures <= 3) t.fail(`${width}x${height}, density ${density}, ${c}-connectivity: largestComponent differs`);
          }
        }
      }
    }
    t.equal(failures, 0, `${cases} random masks (labels, sizes, boxes, largest component) agree with the flood fill; up to ${maxCount} components`);
    t.end();
  });

  test('labelComponents / largestComponent: bad arguments throw Errors naming the function and the argument', (t) => {
    const m = new Uint8Array(6);
    for (const [name, f] of [['labelComponents', labelComponents], ['largestComponent', largestComponent]] as const) {
      const call = (...a: unknown[]) => () => (f as (...x: unknown[]) => unknown)(...a);
      t.throws(call(new Float32Array(6), 3, 2, 4), new RegExp(`${name}: mask must be a Uint8Array, got a Float32Array`), `${name}: mask of the wrong type`);
      t.throws(call([1, 0, 1, 0, 1, 0], 3, 2, 4), new RegExp(`${name}: mask must be a Uint8Array, got an Array`), `${name}: mask as a plain array`);
      t.throws(call(null, 3, 2, 4), new RegExp(`${name}: mask must be a Uint8Array, got null`), `${name}: null mask`);
      t.throws(call(m, 2, 2, 4), new RegExp(`${name}: mask must hold width\\*height = 2\\*2 = 4 values, got 6`), `${name}: width*height differs from the length`);
      t.throws(call(m, 6, 2, 4), new RegExp(`${name}: mask must hold width\\*height = 6\\*2 = 12 values, got 6`), `${name}: too few values`);
      t.throws(call(m, -3, -2, 4), new RegExp(`${name}: width must be an integer >= 0, got -3`), `${name}: negative width`);
      t.throws(call(m, 3, 2.5, 4), new RegExp(`${name}: height must be an integer >= 0, got 2.5`), `${name}: fractional height`);
      t.throws(call(m, 3, NaN, 4), new RegExp(`${name}: height must be an integer >= 0, got NaN`), `${name}: NaN height`);
      t.throws(call(m, '3', 2, 4), new RegExp(`${name}: width must be a number, got 3`), `${name}: width as a string`);
      t.throws(call(m, 3, 2, 6), new RegExp(`${name}: connectivity must be 4 or 8, got 6`), `${name}: connectivity 6`);
      t.throws(call(m, 3, 2, 0), new RegExp(`${name}: connectivity must be 4 or 8, got 0`), `${name}: connectivity 0`);
      t.throws(call(m, 3, 2, undefined), new RegExp(`${name}: connectivity must be a number, got undefined`), `${name}: missing connectivity`);
      t.throws(call(m, 3, 2, 4.5), new RegExp(`${name}: connectivity must be an integer >= 0, got 4.5`), `${name}: fractional connectivity`);
      t.throws(call(m, 2 ** 20, 2 ** 12, 4), new RegExp(`${name}: width\\*height = 4294967296 exceeds 2\\^31-1 pixels`), `${name}: too many pixels`);
      const detached = new Uint8Array(6);
      structuredClone(detached.buffer, { transfer: [detached.buffer] });
      t.throws(call(detached, 3, 2, 4), new RegExp(`${name}: mask's ArrayBuffer is detached`), `${name}: detached mask`);
    }
    const r = labelComponents(parse(['#.', '.#']).mask, 2, 2, 4);
    t.throws(() => componentBox(r, 3), /componentBox: label must be an integer in 1..2, got 3/, 'componentBox: label out of range');
    t.throws(() => componentBox(r, 0), /componentBox: label must be an integer in 1..2, got 0/, 'componentBox: the background is not a component');
    t.end();
  });
}
