// Writes examples/: ten sample images of the procedural shapes dataset, one per class, with their classes and
// ground-truth boxes in examples/labels.json. They are samples 900000-900009 of the test split: its seed, and
// indices far beyond the images any evaluation draws (`convis eval` takes the first --count of them).
//   npx tsx scripts/examples.ts
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { saveImage } from '../src/image/io.js';
import { CLASS_NAMES, renderSample, SPLITS } from '../src/data/shapes.js';

const dir = fileURLToPath(new URL('../examples/', import.meta.url));
const FIRST = 900_000;
await mkdir(dir, { recursive: true });
const images = [];
for (let i = FIRST; i < FIRST + CLASS_NAMES.length; i++) {
  const s = renderSample(SPLITS.test, i);
  const file = `${CLASS_NAMES[s.label]}.png`;
  await saveImage({ channels: 3, height: s.size, width: s.size, data: s.image }, join(dir, file));
  images.push({ file, label: s.label, className: CLASS_NAMES[s.label], box: s.box, split: 'test', index: i });
}
await writeFile(join(dir, 'labels.json'), `${JSON.stringify({ generator: 'src/data/shapes.ts (scripts/examples.ts)', classNames: CLASS_NAMES, images }, null, 2)}\n`);
console.log(`wrote ${images.length} images and labels.json to ${dir}`);
