// `convis demo`, `convis eval` and `convis bench`: the commands built around the model convis ships
// (models/shapesnet.onnx, trained by `convis train` on the procedural shapes dataset; models/train.json records
// how) and its sample images (examples/, with their classes and boxes in examples/labels.json).
//
// demo: the paper's figures for the shipped model, in OUT (default out/): Fig. 1 class models of every class,
// Fig. 2 saliency maps of the sample images (gradient, and the DeconvNet and guided rules beside it), Fig. 3
// localisation figures, the DeconvNet equivalence report, and OUT/index.html showing them all.
// eval: evaluateShapes (src/eval/shapes.ts) on the test split, written as OUT/results.md and OUT/results.json
// (`npm run eval` writes docs/).
// bench: the benchmark runner of a convis checkout (bench/index.ts), which needs the development dependencies.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import {
  classModel, compareDeconvToGradient, type DeconvReport, localise, type Model, saliency, saveHeatmap, saveImage,
  saveLocalisationFigure,
} from '../index.js';
import { displayRange } from '../image/heatmap.js';
import { evaluateShapes, type EvalReport } from '../eval/shapes.js';
import type { Box } from '../localise/components.js';
import { iou } from '../localise/localise.js';
import type { SaliencyMethod } from '../vis/saliency.js';
import {
  CliError, common, type CommonOptions, deconvTable, firstLine, fmtNum, loadAt, makeOut, openModel, withBackend,
} from './commands.js';
import { Progress } from './progress.js';

/** The package's root folder (this file is src/cli/demo.ts or dist/cli/demo.js). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SHIPPED_MODEL = join(PACKAGE_ROOT, 'models', 'shapesnet.onnx');
export const EXAMPLES_DIR = join(PACKAGE_ROOT, 'examples');

interface ExampleLabel { file: string; label: number; className: string; box: Box }

const classLabel = (model: Model, c: number) => (model.classNames ? `${c} ${model.classNames[c]}` : String(c));

async function readExamples(dir: string): Promise<ExampleLabel[]> {
  const file = join(dir, 'labels.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${firstLine(e)}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${file} is not JSON: ${firstLine(e)}`);
  }
  const list = (v as { images?: unknown }).images;
  if (!Array.isArray(list) || list.length === 0) throw new CliError(`${file} must hold { images: [{ file, label, className, box }, ...] }`);
  return list as ExampleLabel[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

// ----------------------------------------------------------------------------- demo

export interface DemoOptions extends CommonOptions {
  /** default: the shipped model */
  model?: string;
  /** a folder with PNG / JPEG images and, optionally, labels.json (default: the shipped examples/) */
  images?: string;
  /** class model ascent steps (default 200) */
  steps?: number;
}

export interface DemoOutcome { index: string; seconds: number; device: string; failing: string[] }

/**
 * The paper's figures for a model and a folder of images, and OUT/index.html (see the file header). Exit code 1
 * (a CliError) when the DeconvNet report finds a conv, max-pool or linear layer that differs.
 */
export async function demoCommand(opts: DemoOptions = {}): Promise<DemoOutcome> {
  const { backend, io } = common(opts);
  const out = opts.out ?? 'out';
  const steps = opts.steps ?? 200;
  if (!Number.isInteger(steps) || steps < 1) throw new CliError(`--steps must be an integer >= 1, got ${String(opts.steps)}`);
  const modelPath = opts.model ?? SHIPPED_MODEL;
  const imageDir = opts.images ?? EXAMPLES_DIR;
  const { model, classes } = await openModel(modelPath);
  let labels: ExampleLabel[] | null = null;
  if (existsSync(join(imageDir, 'labels.json'))) labels = await readExamples(imageDir);
  let images: string[];
  if (labels) {
    images = labels.map((l) => join(imageDir, l.file));
  } else {
    try {
      images = (await readdir(imageDir)).filter((n) => /\.(png|jpe?g)$/i.test(n)).sort().map((n) => join(imageDir, n));
    } catch (e) {
      throw new CliError(`cannot read the image folder ${imageDir}: ${firstLine(e)}`);
    }
  }
  if (images.length === 0) throw new CliError(`no PNG or JPEG images in ${imageDir}`);
  for (const f of images) if (!existsSync(f)) throw new CliError(`no such file: ${f}`);
  await makeOut(out);
  for (const sub of ['classmodel', 'saliency', 'localise']) await makeOut(join(out, sub));
  const [, H, W] = model.inputShape;
  const started = performance.now();

  return withBackend(backend, async (info) => {
    const device = `${info.name} (${info.device})`;
    io.out(`convis demo: ${relative(process.cwd(), modelPath) || modelPath} (${classes} classes, input ${H}x${W}), ${images.length} images, backend ${device}`);
    const section: string[] = [];
    const timings: [string, number][] = [];
    const time = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
      const t0 = performance.now();
      const r = await f();
      timings.push([what, (performance.now() - t0) / 1000]);
      return r;
    };

    // Fig. 1: class models
    const cm = await time('class models (Fig. 1)', async () => {
      const bar = new Progress('class models', classes * steps, 'steps', io.err);
      const rows: { c: number; file: string; score: number }[] = [];
      try {
        for (let c = 0; c < classes; c++) {
          const r = await classModel(model, c, { steps, onStep: () => bar.tick(1, `(class ${c})`) });
          const file = join('classmodel', `class-${c}.png`);
          try {
            // shown stretched from the 0.5th to the 99.5th percentile: the ascent leaves 0..255 by far
            await saveImage(r.image, join(out, file), { range: displayRange(await r.image.data()) });
          } finally {
            r.image.dispose();
            r.input.dispose();
          }
          rows.push({ c, file, score: r.scores[r.scores.length - 1] });
        }
      } finally {
        bar.end();
      }
      return rows;
    });
    section.push('<h2>Fig. 1: class models</h2>',
      `<p>The image I maximising S<sub>c</sub>(I) &minus; &lambda;&Vert;I&Vert;&sup2; by gradient ascent from the zero image (${steps} steps, ` +
      'convis defaults: the gradient preconditioned towards low frequencies and the image jittered, see docs/class-models.md), ' +
      'the training mean added (Sect. 2, eq. 1), each shown stretched from its 0.5th to its 99.5th percentile. ' +
      'The number under each image is its final class score.</p>',
      '<div class="grid">',
      ...cm.map((r) => `<figure><img src="${esc(r.file)}" width="${2 * W}"><figcaption>${esc(classLabel(model, r.c))}<br>S = ${fmtNum(r.score)}</figcaption></figure>`),
      '</div>');

    // Fig. 2 and 3: saliency maps and localisation, per image
    const methods: SaliencyMethod[] = ['gradient', 'deconvnet', 'guided'];
    const rows = await time('saliency maps and localisation (Figs. 2, 3)', async () => {
      const bar = new Progress('saliency and localisation', images.length, 'images', io.err);
      const rs: string[] = [];
      let correct = 0, hits = 0;
      try {
        for (let i = 0; i < images.length; i++) {
          const stem = basename(images[i], extname(images[i]));
          const x = await loadAt(images[i], H, W);
          try {
            const copy = join('saliency', `${stem}.png`);
            await saveImage(x, join(out, copy));
            const cells = [`<td><img src="${esc(copy)}" width="${2 * W}"></td>`];
            let target = -1, score = 0;
            let gradientMap = null;
            for (const method of methods) {
              const [map] = await saliency(model, x, { target: 'top1', method });
              if (method === 'gradient') {
                gradientMap = map;
                target = map.target;
                score = map.score;
              }
              const f = join('saliency', `${stem}-${method}.png`);
              await saveHeatmap(map, join(out, f));
              cells.push(`<td><img src="${esc(f)}" width="${2 * W}"></td>`);
            }
            const [loc] = await localise(model, x, { saliency: gradientMap! });
            const fig = join('localise', `${stem}-localise.png`);
            await saveLocalisationFigure(join(out, fig), x, gradientMap!, loc);
            const truth = labels?.[i];
            let verdict = '';
            if (truth) {
              const ok = target === truth.label;
              const v = iou(loc.box, truth.box);
              if (ok) correct++;
              if (ok && v >= 0.5) hits++;
              verdict = `<br>true: ${esc(classLabel(model, truth.label))}; ${ok ? 'right' : 'wrong'} class; IoU ${v.toFixed(2)}`;
            }
            cells.push(`<td><img src="${esc(fig)}" width="${4 * W}"></td>`);
            rs.push(`<tr><th>${esc(stem)}<br>top-1: ${esc(classLabel(model, target))}<br>S = ${fmtNum(score)}${verdict}</th>${cells.join('')}</tr>`);
          } finally {
            x.dispose();
          }
          bar.tick();
        }
      } finally {
        bar.end();
      }
      return { rs, correct, hits };
    });
    section.push('<h2>Fig. 2: image-specific class saliency</h2>',
      '<p>For the top-1 class c of each image, M = max over colour channels of |&part;S<sub>c</sub>/&part;I| from one backward pass ' +
      '(Sect. 3.1), beside the same map under the DeconvNet ReLU rule and guided backpropagation. Each map is divided by its maximum.</p>',
      '<h2>Fig. 3: weakly supervised localisation</h2>',
      '<p>The gradient map&rsquo;s top 5% and bottom 30% of pixels seed foreground and background colour models (5-component GMMs), ' +
      'GraphCut segments the image, and the largest connected component gives the box (Sect. 3.2). Each figure: the image with the box, ' +
      'the map, the seeds (foreground red, background blue) and the segmentation.</p>',
      '<table><tr><th></th><th>image</th><th>gradient</th><th>DeconvNet</th><th>guided</th><th>localisation</th></tr>',
      ...rows.rs, '</table>');
    if (labels) section.push(`<p>${rows.correct} of ${images.length} images classified correctly; ${rows.hits} also localised with IoU &ge; 0.5.</p>`);

    // Sect. 4: the DeconvNet equivalence
    const report: DeconvReport = await time('DeconvNet equivalence (Sect. 4)', async () => {
      const x = await loadAt(images[0], H, W);
      try {
        return await compareDeconvToGradient(model, x);
      } finally {
        x.dispose();
      }
    });
    const table = deconvTable(report);
    await writeFile(join(out, 'deconv.txt'), `${table.join('\n')}\n`);
    const failing = report.layers.filter((l) => ['conv', 'maxpool', 'linear'].includes(l.kind) && !l.equal).map((l) => l.name);
    section.push('<h2>Sect. 4: DeconvNet reconstruction and the gradient</h2>',
      `<p>The same upstream signal sent down through each layer under the DeconvNet rule and the gradient rule, on ${esc(basename(images[0]))} ` +
      `(target class ${report.target.join(', ')}). Convolutional, max-pooling and fully connected layers must come out equal to float rounding ` +
      `(tolerance ${report.tolerance}); ReLU layers differ exactly where 1(X &gt; 0) and 1(R &gt; 0) disagree. ` +
      `${failing.length === 0 ? 'Verdict: equal wherever the paper says so.' : `Layers that differ: ${esc(failing.join(', '))}.`}</p>`,
      `<pre>${esc(table.join('\n'))}</pre>`);

    const seconds = (performance.now() - started) / 1000;
    const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>convis demo</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
img { image-rendering: pixelated; display: block; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; text-align: center; font-size: 13px; }
table { border-collapse: collapse; } td, th { padding: 4px; vertical-align: top; font-size: 13px; text-align: left; }
pre { font-size: 12px; background: #f5f5f5; padding: 8px; overflow-x: auto; }
</style></head><body>
<h1>convis demo</h1>
<p>Simonyan, Vedaldi &amp; Zisserman, <i>Deep Inside Convolutional Networks</i> (2013), Sects. 2&ndash;4, on
<code>${esc(basename(modelPath))}</code> (${classes} classes, input ${H}&times;${W}) and ${images.length} images from
<code>${esc(imageDir)}</code>. Backend: ${esc(device)}; ${cpus().length} CPU cores; ${seconds.toFixed(1)} s in all
(${timings.map(([w, s]) => `${esc(w)} ${s.toFixed(1)} s`).join('; ')}).</p>
${section.join('\n')}
</body></html>
`;
    const index = join(out, 'index.html');
    await writeFile(index, html);
    await writeFile(join(out, 'demo.json'), `${JSON.stringify({ model: modelPath, images, device, seconds, timings, deconvFailing: failing }, null, 2)}\n`);
    for (const [w, s] of timings) io.out(`${w}: ${s.toFixed(1)} s`);
    io.out(`wrote ${index} (${seconds.toFixed(1)} s)`);
    if (failing.length > 0) throw new CliError(`the DeconvNet differs from the gradient at conv/maxpool/linear layers: ${failing.join(', ')}`);
    return { index, seconds, device, failing };
  });
}

// ----------------------------------------------------------------------------- eval

export interface EvalCommandOptions extends CommonOptions {
  model?: string;
  count?: number;
  valCount?: number;
  /** the command line, recorded in results.md */
  command?: string;
}

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() || null;
  } catch {
    return null;
  }
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

/** docs/results.md's text for a report. */
export function resultsMarkdown(r: EvalReport, meta: { model: string; command: string; device: string; date: string; commit: string | null }): string {
  const name: Record<string, string> = {
    graphcut: 'saliency map -> colour GMMs -> GraphCut -> largest component -> box (the paper)',
    threshold: `box of the largest component of the map above its ${r.threshold.quantile} quantile (no GraphCut)`,
    centre: `centre box of the mean ground-truth size (${r.centreBox.width} x ${r.centreBox.height})`,
    whole: 'the whole image',
  };
  const lines = [
    '# Weakly supervised localisation on the shapes test split',
    '',
    `- date: ${meta.date}`,
    `- command: \`${meta.command}\``,
    `- source: ${meta.commit ?? 'unknown'}`,
    `- model: ${meta.model}`,
    `- backend: ${meta.device}; ${r.seconds.toFixed(0)} s`,
    `- data: the first ${r.count} images of the test split of src/data/shapes.ts at ${r.size}x${r.size}, one object each with its ` +
      `ground-truth box; the first ${r.valCount} validation images fix (b)'s threshold quantile (${r.threshold.quantile}, IoU >= 0.5 on ` +
      `${pct(r.threshold.valHitRate)} of them) and (c)'s box size`,
    `- criterion: ILSVRC top-1 (Sect. 3.2): an image is localised when the model's top-1 class is its class and the box has IoU >= 0.5 with ` +
      'the ground truth; top-1 localisation error = share of images that are not',
    `- classification error of the model on these images: ${pct(r.classificationError)} (a lower bound on every row)`,
    '',
    '| method | saliency | top-1 localisation error | box error when the class is right | mean IoU | seconds |',
    '| :--- | :--- | ---: | ---: | ---: | ---: |',
    ...r.rows.map((x) => `| ${x.id} ${name[x.boxes]} | ${x.saliency ?? '—'} | ${pct(x.top1Error)} | ${pct(x.boxError)} | ${x.meanIoU.toFixed(3)} | ${x.seconds.toFixed(1)} |`),
    '',
  ];
  const get = (id: string) => r.rows.find((x) => x.id === id);
  const a = get('(a)'), b = get('(b)'), c = get('(c)'), d = get('(d)');
  if (a && b && c && d) {
    const beats = [b, c, d].filter((x) => a.top1Error < x.top1Error).map((x) => x.id);
    const loses = [b, c, d].filter((x) => a.top1Error >= x.top1Error).map((x) => x.id);
    lines.push(`The paper expects (a) to beat (b), (c) and (d). Measured: (a) ${pct(a.top1Error)}` +
      `${beats.length ? `, lower than ${beats.join(', ')}` : ''}${loses.length ? `; not lower than ${loses.join(', ')}` : ''}.`, '');
  }
  return lines.join('\n');
}

/** evaluateShapes on a model (default: the shipped one); writes OUT/results.md and OUT/results.json. */
export async function evalCommand(opts: EvalCommandOptions = {}): Promise<EvalReport> {
  const { backend, out, io } = common(opts);
  const count = opts.count ?? 500;
  const valCount = opts.valCount ?? 200;
  for (const [n, v] of [['--count', count], ['--val', valCount]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 100_000) throw new CliError(`${n} must be an integer from 1 to 100000, got ${String(v)}`);
  }
  const modelPath = opts.model ?? SHIPPED_MODEL;
  const { model } = await openModel(modelPath);
  await makeOut(out);
  return withBackend(backend, async (info) => {
    const progress: { bar: Progress | null } = { bar: null };
    let report: EvalReport;
    try {
      report = await evaluateShapes(model, {
        count, valCount, onProgress: (_done, total) => {
          progress.bar ??= new Progress('eval', total, 'steps', io.err);
          progress.bar.tick(1);
        },
      });
    } catch (e) {
      throw new CliError(firstLine(e).replace(/^evaluateShapes: /, ''));
    } finally {
      progress.bar?.end();
    }
    const md = resultsMarkdown(report, {
      model: relative(PACKAGE_ROOT, modelPath).startsWith('..') ? modelPath : relative(PACKAGE_ROOT, modelPath),
      command: opts.command ?? 'convis eval', device: `${info.name} (${info.device})`, date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
      commit: gitCommit(),
    });
    await writeFile(join(out, 'results.md'), md);
    await writeFile(join(out, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
    for (const x of report.rows) io.out(`${x.id.padEnd(15)} ${x.boxes.padEnd(9)} top-1 localisation error ${pct(x.top1Error)}`);
    io.out(`classification error ${pct(report.classificationError)}; wrote ${join(out, 'results.md')}`);
    return report;
  });
}

// ----------------------------------------------------------------------------- bench

/** Runs bench/index.ts of a convis checkout with the given arguments; its exit code. */
export async function benchCommand(args: readonly string[]): Promise<number> {
  const entry = join(PACKAGE_ROOT, 'bench', 'index.ts');
  if (!existsSync(entry)) throw new CliError(`the benchmarks are part of the convis repository, not of the installed package (no ${entry})`);
  if (!existsSync(join(PACKAGE_ROOT, 'node_modules', 'tsx'))) {
    throw new CliError('the benchmarks need the development dependencies: run `npm ci` in the checkout');
  }
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], { cwd: PACKAGE_ROOT, stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.on('error', (e) => reject(new CliError(`cannot start the benchmarks: ${firstLine(e)}`)));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}
