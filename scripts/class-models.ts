// Writes docs/class-models.md and one PNG strip per setting: the class models of every class of the shipped
// model (models/shapesnet.onnx) under classModel's defaults (frequency-domain preconditioning and jitter), the
// paper's plain ascent (preset 'simonyan2013') and Yosinski et al. 2015's regularisers (preset 'yosinski2015'),
// so that the defaults' choice can be checked by eye. Each tile is stretched linearly from its 0.5th to its
// 99.5th percentile over all channels (the raw images keep the small contrast of a 200-step ascent).
//   npx tsx scripts/class-models.ts [--backend cpu|webgpu|auto] [--steps N]
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { classModel, type ClassModelOptions } from '../src/vis/classModel.js';
import { close, init } from '../src/runtime.js';
import { loadOnnx } from '../src/models/onnx/import.js';
import { saveImage } from '../src/image/io.js';
import { percentile } from '../src/image/heatmap.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const backend = arg('--backend', 'auto') as 'cpu' | 'webgpu' | 'auto';
const steps = Number(arg('--steps', '200'));
if (!Number.isInteger(steps) || steps < 1) throw new Error(`scripts/class-models.ts: --steps must be an integer >= 1, got ${arg('--steps', '')}`);

const root = fileURLToPath(new URL('../', import.meta.url));
const docs = join(root, 'docs');
await mkdir(docs, { recursive: true });
const info = await init({ backend });
const model = await loadOnnx(join(root, 'models', 'shapesnet.onnx'));
const [C, H, W] = model.inputShape;
const names = model.classNames ?? [];
const classes = names.length;
const GAP = 4;

const settings: [string, string, ClassModelOptions][] = [
  ['default', `classModel defaults: frequencyDecay 1.5, jitter ${Math.round(Math.max(H, W) / 24)} px, l2 1e-3`, {}],
  ['simonyan2013', "preset 'simonyan2013': the paper's plain ascent, l2 1e-3", { preset: 'simonyan2013' }],
  ['yosinski2015', "preset 'yosinski2015': decay 1e-4, blur sigma 1 every 4 steps, l2 0", { preset: 'yosinski2015' }],
];

const lines: string[] = [
  '# Class models of the shipped model',
  '',
  `Written by \`npx tsx scripts/class-models.ts --backend ${info.name} --steps ${steps}\` (${new Date().toISOString().slice(0, 10)}, backend ${info.name}: ${info.device}).`,
  `Each strip holds the classes 0..${classes - 1} left to right (${names.join(', ')}); ${steps} ascent steps of size 0.05`,
  'from the zero image, each tile stretched from its 0.5th to its 99.5th percentile.',
  '',
];
const started = performance.now();
for (const [key, title, opts] of settings) {
  const strip = new Float32Array(C * H * (classes * (W + GAP) - GAP)).fill(255);
  const sw = classes * (W + GAP) - GAP;
  const scores: string[] = [];
  let top1 = 0;
  for (let c = 0; c < classes; c++) {
    const r = await classModel(model, c, { ...opts, steps });
    const d = await r.image.data();
    r.image.dispose();
    r.input.dispose();
    const lo = percentile(d, 0.5), hi = percentile(d, 99.5);
    const span = hi > lo ? hi - lo : 1;
    for (let ch = 0; ch < C; ch++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          strip[ch * H * sw + y * sw + c * (W + GAP) + x] = Math.max(0, Math.min(255, (255 * (d[ch * H * W + y * W + x] - lo)) / span));
        }
      }
    }
    const s = r.classScores;
    let best = 0;
    for (let k = 1; k < s.length; k++) if (s[k] > s[best]) best = k;
    if (best === c) top1++;
    scores.push(s[c].toFixed(0));
  }
  const file = `class-models-${key}.png`;
  await saveImage({ channels: C, height: H, width: sw, data: strip }, join(docs, file));
  lines.push(`## ${title}`, '', `![${key}](${file})`, '', `Final S_c per class: ${scores.join(', ')}; the model's top class is c for ${top1} of ${classes}.`, '');
  console.log(`${key}: ${top1}/${classes} top-1, S_c ${scores.join(', ')}`);
}
lines.push(`Run time: ${((performance.now() - started) / 1000).toFixed(0)} s.`, '');
await writeFile(join(docs, 'class-models.md'), lines.join('\n'));
await close();
