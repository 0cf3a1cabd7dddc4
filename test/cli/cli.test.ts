// The `convis` command line: each command run as a child process (through tsx, --backend cpu, under a deadline)
// on a tiny VGG-style model saved as ONNX and a small PNG: what it writes, what it prints, and its exit code;
// --help; user errors as one line `convis <command>: <reason>` with a non-zero exit code and no stack trace; the
// demo, eval and bench. Then the command functions in-process (ten crops, --all, top-k, the checks that
// fail before a backend opens) and the progress bar.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import test from 'tape';
import { models, nn, planar, saveImage, saveOnnx, shapes as shapesData } from '../../src/index.js';
import {
  classModelCommand, CliError, deconvCheckCommand, deconvTable, type Io, localiseCommand, saliencyCommand,
} from '../../src/cli/commands.js';
import { Progress } from '../../src/cli/progress.js';
import { availableBackends } from '../helpers/backends.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const COMMANDS = ['saliency', 'classmodel', 'localise', 'deconv-check', 'train', 'eval', 'bench', 'demo'];

interface Run { code: number | null; signal: string | null; stdout: string; stderr: string; timedOut: boolean }

function cli(args: string[], deadlineMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`${root}node_modules/tsx/dist/cli.mjs`, `${root}src/cli/main.ts`, ...args],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CONVIS_DEBUG: '' } });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, deadlineMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

const lines = (s: string) => s.split('\n').filter((l) => l.trim() !== '');

/** A failure: a non-zero exit code and exactly one stderr line `convis <command>: <reason>`, no stack trace. */
function failsWithOneLine(t: test.Test, r: Run, command: string, reason: RegExp, code?: number): void {
  t.notOk(r.timedOut, 'exited before the deadline');
  if (code === undefined) t.ok(r.code !== 0 && r.code !== null, `non-zero exit code (${r.code})`);
  else t.equal(r.code, code, `exit code ${code}`);
  const err = lines(r.stderr);
  t.equal(err.length, 1, `one stderr line: ${JSON.stringify(err)}`);
  t.match(err[0] ?? '', new RegExp(`^convis ${command}: `), 'it starts with the command');
  t.match(err[0] ?? '', reason, 'it gives the reason');
  t.notOk(/^\s+at /m.test(r.stderr) || /Error:/.test(r.stderr), 'no stack trace');
}

// ----------------------------------------------------------------------------- fixtures

const dir = mkdtempSync(join(tmpdir(), 'convis-cli-'));

/** conv, relu, pool twice, then linear, relu, linear: 3 classes on 16 x 16 RGB. */
function vggTiny() {
  return nn.sequential(
    nn.conv2d(3, 4, 3, { padding: 1 }), nn.relu(), nn.maxPool2d({ kernel: 2 }),
    nn.conv2d(4, 6, 3, { padding: 1 }), nn.relu(), nn.maxPool2d({ kernel: 2 }),
    nn.flatten(1), nn.linear(6 * 4 * 4, 8), nn.relu(), nn.linear(8, 3),
    { inputShape: [3, 16, 16], seed: 3, name: 'vggTiny' },
  );
}

const model = join(dir, 'tiny.onnx');
await saveOnnx(vggTiny(), model);
// not class scores: [1, 2, 4, 4] per image
const dense = join(dir, 'dense.onnx');
await saveOnnx(nn.sequential(nn.conv2d(3, 2, 3, { padding: 1 }), nn.relu(), nn.maxPool2d({ kernel: 2 }), { inputShape: [3, 8, 8], seed: 1 }), dense);
// not RGB
const grey = join(dir, 'grey.onnx');
await saveOnnx(nn.sequential(nn.conv2d(1, 2, 3), nn.flatten(1), nn.linear(2 * 6 * 6, 3), { inputShape: [1, 8, 8], seed: 1 }), grey);

// a 20 x 24 image with a bright square on a dark, slightly textured background
const W = 24, H = 20;
const pixels = new Float32Array(3 * H * W);
for (let c = 0; c < 3; c++) {
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const inside = x >= 8 && x < 16 && y >= 6 && y < 14;
      pixels[c * H * W + y * W + x] = inside ? 200 + 20 * c : 30 + ((x * 7 + y * 13 + c * 5) % 17);
    }
  }
}
const image = join(dir, 'square.png');
await saveImage(planar(3, H, W, pixels), image);
await saveImage(planar(3, H, W, pixels), join(dir, 'square.jpg'));
const text = join(dir, 'notes.png');
writeFileSync(text, 'this is not an image\n');

const backends = await availableBackends();

async function pngSize(path: string): Promise<{ width?: number; height?: number; format?: string }> {
  const m = await sharp(readFileSync(path)).metadata();
  return { width: m.width, height: m.height, format: m.format };
}

// ----------------------------------------------------------------------------- the commands, spawned

if (backends.includes('cpu')) {
  test('saliency writes a heatmap PNG and prints the target and score', async (t) => {
    const out = join(dir, 'sal');
    const r = await cli(['saliency', model, image, '--backend', 'cpu', '--out', out, '--overlay', '--colormap', 'jet']);
    t.equal(r.code, 0, `exit code 0 (stderr: ${r.stderr.trim()})`);
    const file = join(out, 'square-saliency.png');
    t.ok(existsSync(file), 'wrote OUT/<name>-saliency.png');
    if (existsSync(file)) t.deepEqual(await pngSize(file), { width: 16, height: 16, format: 'png' }, 'a 16 x 16 PNG: the model input size');
    t.match(r.stdout, /square\.png: target [0-2], score -?[\d.e+-]+ -> .*square-saliency\.png/, `prints the target and score: ${r.stdout.trim()}`);
  });

  test('classmodel --class 1 --steps 3 writes the image and reports progress', async (t) => {
    const out = join(dir, 'cm');
    const r = await cli(['classmodel', model, '--class', '1', '--steps', '3', '--backend', 'cpu', '--out', out]);
    t.equal(r.code, 0, `exit code 0 (stderr: ${r.stderr.trim()})`);
    const file = join(out, 'class-1.png');
    t.ok(existsSync(file), 'wrote OUT/class-1.png');
    if (existsSync(file)) t.deepEqual(await pngSize(file), { width: 16, height: 16, format: 'png' }, 'a 16 x 16 PNG');
    t.match(r.stdout, /class 1: score -?[\d.e+-]+ -> .*class-1\.png/, r.stdout.trim());
    // stderr is a pipe here: one plain line per tenth of the work, the last one at 100 %
    t.match(r.stderr, /classmodel class 1: 3\/3 steps \(100%\)/, 'progress lines on stderr when it is not a terminal');
    t.notOk(r.stderr.includes('\r'), 'no terminal redraws in a pipe');
  });

  test('classmodel saves the image stretched from its 0.5th to 99.5th percentile; --clip keeps 0..255 values', async (t) => {
    // vggTiny's architecture with a preprocess: its class models are 0..255 RGB images
    const pre = join(dir, 'tiny-pre.onnx');
    await saveOnnx(nn.sequential(
      nn.conv2d(3, 4, 3, { padding: 1 }), nn.relu(), nn.maxPool2d({ kernel: 2 }),
      nn.conv2d(4, 6, 3, { padding: 1 }), nn.relu(), nn.maxPool2d({ kernel: 2 }),
      nn.flatten(1), nn.linear(6 * 4 * 4, 8), nn.relu(), nn.linear(8, 3),
      { inputShape: [3, 16, 16], seed: 3, name: 'tinyPre', preprocess: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], channelOrder: 'RGB', scale: 1 } },
    ), pre);
    const pixelsOf = async (file: string) => new Uint8Array(await sharp(readFileSync(file)).raw().toBuffer());
    const stretched = join(dir, 'cm-stretch'), clipped = join(dir, 'cm-clip');
    const a = await cli(['classmodel', pre, '--class', '0', '--steps', '5', '--backend', 'cpu', '--out', stretched]);
    t.equal(a.code, 0, `stretched: exit code 0 (stderr: ${a.stderr.trim()})`);
    const pa = await pixelsOf(join(stretched, 'class-0.png'));
    t.ok(Math.min(...pa) <= 3 && Math.max(...pa) >= 252, `stretched: the pixels span the range (${Math.min(...pa)}..${Math.max(...pa)})`);
    const b = await cli(['classmodel', pre, '--class', '0', '--steps', '5', '--backend', 'cpu', '--out', clipped, '--clip']);
    t.equal(b.code, 0, `--clip: exit code 0 (stderr: ${b.stderr.trim()})`);
    const pb = await pixelsOf(join(clipped, 'class-0.png'));
    t.notDeepEqual(Array.from(pb), Array.from(pa), '--clip saves other values than the stretch');
    failsWithOneLine(t, await cli(['classmodel', model, '--class', '0', '--steps', '2', '--backend', 'cpu', '--out', clipped, '--clip']), 'classmodel',
      /--clip: .*tiny\.onnx has no preprocessing/);
  });

  test('localise prints a JSON line with a box and writes the figure', async (t) => {
    const out = join(dir, 'loc');
    const r = await cli(['localise', model, image, '--backend', 'cpu', '--out', out]);
    t.equal(r.code, 0, `exit code 0 (stderr: ${r.stderr.trim()})`);
    const json = lines(r.stdout).filter((l) => l.startsWith('{'));
    t.equal(json.length, 1, 'one JSON line for --top-k 1');
    const rec = JSON.parse(json[0] ?? '{}');
    t.equal(rec.image, image, 'names the image');
    t.ok(Number.isInteger(rec.target) && rec.target >= 0 && rec.target < 3, `target ${rec.target}`);
    const b = rec.box ?? {};
    t.ok(['x', 'y', 'width', 'height'].every((k) => Number.isInteger(b[k])) && b.x >= 0 && b.y >= 0 && b.x + b.width <= 16 && b.y + b.height <= 16,
      `a box inside the 16 x 16 image: ${JSON.stringify(b)}`);
    t.deepEqual(rec.imageSize, { width: 16, height: 16 }, 'says which frame the box is in');
    t.ok(existsSync(rec.figure ?? ''), `wrote the figure ${rec.figure}`);
  });

  test('deconv-check on a VGG-style net prints the per-layer table and exits 0', async (t) => {
    const r = await cli(['deconv-check', model, '--backend', 'cpu']);
    t.equal(r.code, 0, `exit code 0 (stderr: ${r.stderr.trim()})`);
    t.match(r.stdout, /^layer\s+kind\s+max \|diff\|\s+rel diff\s+verdict$/m, 'a table header');
    for (const kind of ['conv', 'maxpool', 'linear']) t.match(r.stdout, new RegExp(`^\\S+\\s+${kind}\\s.*\\sequal$`, 'm'), `${kind} layers equal`);
    t.match(r.stdout, /^\S+\s+relu\s.*1\(X>0\) and 1\(R>0\) disagree/m, 'relu rows say where the rules disagree');
    t.match(r.stdout, /seed 0/, 'a seeded random image when none is given');
  });
}

if (backends.includes('webgpu')) {
  test('saliency on the webgpu backend, and the process exits after close()', async (t) => {
    const out = join(dir, 'gpu');
    const r = await cli(['saliency', model, image, '--backend', 'webgpu', '--out', out]);
    t.notOk(r.timedOut, 'exited before the deadline');
    t.equal(r.code, 0, `exit code 0 (stderr: ${r.stderr.trim()})`);
    t.ok(existsSync(join(out, 'square-saliency.png')), 'wrote the heatmap');
  });
}

test('--help lists every command, with an example for each', async (t) => {
  const r = await cli(['--help']);
  t.equal(r.code, 0, 'exit code 0');
  for (const c of COMMANDS) {
    t.match(r.stdout, new RegExp(`^  ${c} `, 'm'), `lists ${c}`);
    t.match(r.stdout, new RegExp(`^  \\$ convis ${c}\\b`, 'm'), `an example of ${c}`);
  }
  t.match(r.stdout, /--backend <name>.*auto.*webgpu.*cpu/, 'the --backend option');
  t.match(r.stdout, /--out <dir>/, 'the --out option');
  for (const c of COMMANDS) {
    const h = await cli([c, '--help']);
    t.equal(h.code, 0, `${c} --help: exit code 0`);
    t.match(h.stdout, new RegExp(`Example:\\n  \\$ convis ${c}\\b`), `${c} --help shows an example`);
    t.match(h.stdout, /--backend <name>/, `${c} --help shows the global options`);
  }
});

// ----------------------------------------------------------------------------- user errors, spawned

if (backends.includes('cpu')) {
  test('a missing file: one line, non-zero exit', async (t) => {
    failsWithOneLine(t, await cli(['saliency', join(dir, 'nope.onnx'), image, '--backend', 'cpu', '--out', dir]), 'saliency', /no such file: .*nope\.onnx/);
    failsWithOneLine(t, await cli(['localise', model, join(dir, 'nope.png'), '--backend', 'cpu', '--out', dir]), 'localise', /no such file: .*nope\.png/);
  });

  test('a text file as image: one line, non-zero exit', async (t) => {
    failsWithOneLine(t, await cli(['saliency', model, text, '--backend', 'cpu', '--out', join(dir, 'text')]), 'saliency', /not an image: .*notes\.png/);
  });

  test('--class out of range: one line, non-zero exit', async (t) => {
    failsWithOneLine(t, await cli(['classmodel', model, '--class', '3', '--backend', 'cpu', '--out', dir]), 'classmodel',
      /--class 3 is out of range: the model has 3 classes \(0\.\.2\)/);
  });

  test('an unsupported model: one line, non-zero exit', async (t) => {
    failsWithOneLine(t, await cli(['saliency', dense, image, '--backend', 'cpu', '--out', dir]), 'saliency',
      /unsupported model: .*dense\.onnx outputs \[1, 2, 4, 4\] per image, not class scores/);
    failsWithOneLine(t, await cli(['deconv-check', dense, '--backend', 'cpu']), 'deconv-check', /unsupported model/);
  });
}

test('a bad option value: one line, non-zero exit', async (t) => {
  failsWithOneLine(t, await cli(['saliency', model, image, '--crops', '3', '--backend', 'cpu']), 'saliency', /--crops.*'3' is invalid\. It must be 1 or 10/);
  failsWithOneLine(t, await cli(['classmodel', model, '--class', '1', '--steps', 'many', '--backend', 'cpu']), 'classmodel', /--steps.*'many' is invalid/);
  failsWithOneLine(t, await cli(['localise', model, image, '--backend', 'gpu']), 'localise', /--backend.*'gpu' is invalid/);
});

// a 10-class model of the shapes dataset at 32 x 32 (untrained: batch norm folded on load, class names kept)
const shapes10 = join(dir, 'shapes10.onnx');
await saveOnnx(models.shapesNet({ width: 2, inputSize: 32, batchNorm: true, dropout: 0, seed: 5, classNames: shapesData.CLASS_NAMES }), shapes10);
// two sample images with a labels.json, as in examples/
const samplesDir = join(dir, 'samples');
mkdirSync(samplesDir);
const sampleLabels = [];
for (const i of [3, 7]) {
  const s = shapesData.renderSample(shapesData.SPLITS.test, i, 32);
  await saveImage({ channels: 3, height: 32, width: 32, data: s.image }, join(samplesDir, `s${i}.png`));
  sampleLabels.push({ file: `s${i}.png`, label: s.label, className: shapesData.CLASS_NAMES[s.label], box: s.box });
}
writeFileSync(join(samplesDir, 'labels.json'), JSON.stringify({ images: sampleLabels }));

test('demo: every figure the page shows exists, the DeconvNet report passes, exit code 0', async (t) => {
  const out = join(dir, 'demo');
  const r = await cli(['demo', '--model', shapes10, '--images', samplesDir, '--steps', '3', '--backend', 'cpu', '--out', out], 120_000);
  t.equal(r.code, 0, `exit code 0 (${lines(r.stderr).slice(-1)[0] ?? ''})`);
  t.match(r.stdout, /wrote .*index\.html/, 'it names the page');
  const html = readFileSync(join(out, 'index.html'), 'utf8');
  const srcs = [...html.matchAll(/<img src="([^"]+)"/g)].map((m) => m[1]);
  // 10 class models; per image: the image, three maps and the localisation figure
  t.equal(srcs.length, 10 + 2 * 5, `${srcs.length} images on the page`);
  t.ok(srcs.every((f) => existsSync(join(out, f))), 'each one written');
  for (const name of ['circle', 'heart']) t.ok(html.includes(name), `class names on the page (${name})`);
  for (const h of ['Fig. 1', 'Fig. 2', 'Fig. 3', 'Sect. 4']) t.ok(html.includes(h), `a section ${h}`);
  t.match(readFileSync(join(out, 'deconv.txt'), 'utf8'), /conv\s+\S+\s+\S+\s+equal/, 'the DeconvNet report');
  t.match(html, /true: \d \w+; (right|wrong) class; IoU \d\.\d\d/, 'each image against its labels.json entry');
  failsWithOneLine(t, await cli(['demo', '--model', join(dir, 'nothing.onnx'), '--backend', 'cpu', '--out', out]), 'demo', /no such file/);
  failsWithOneLine(t, await cli(['demo', '--model', shapes10, '--images', join(dir, 'nowhere'), '--backend', 'cpu', '--out', out]), 'demo', /cannot read the image folder/);
});

test('eval: results.md with rows (a)-(d) and the DeconvNet and guided variants', async (t) => {
  const out = join(dir, 'eval');
  const r = await cli(['eval', shapes10, '--count', '12', '--val', '6', '--backend', 'cpu', '--out', out], 120_000);
  t.equal(r.code, 0, `exit code 0 (${lines(r.stderr).slice(-1)[0] ?? ''})`);
  const md = readFileSync(join(out, 'results.md'), 'utf8');
  for (const id of ['(a)', '(b)', '(c)', '(d)', '(a) (deconvnet)', '(a) (guided)', '(b) (deconvnet)', '(b) (guided)']) {
    t.ok(md.split('\n').some((l) => l.startsWith(`| ${id} `)), `a row ${id}`);
  }
  t.match(md, /command: `convis eval /, 'the command');
  const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  t.equal(json.count, 12, 'results.json: 12 test images');
  failsWithOneLine(t, await cli(['eval', model, '--count', '4', '--backend', 'cpu', '--out', out]), 'eval', /10 class scores/);
});

test('bench: runs the checkout\'s benchmark runner', async (t) => {
  const r = await cli(['bench', '--', '--help']);
  t.equal(r.code, 0, 'exit code 0');
  t.match(r.stdout, /benchmarks:[\s\S]*saliency/, 'its list of benchmarks');
  const bad = await cli(['bench', 'no-such-bench']);
  t.notEqual(bad.code, 0, 'an unknown benchmark: non-zero exit');
  t.match(lines(bad.stderr).slice(-1)[0] ?? '', /^convis bench: the benchmark exited with code 1$/, 'the last line says so');
});

test('train: a small run writes the ONNX checkpoint (preprocessing in its metadata) and train.json', async (t) => {
  const out = join(dir, 'trained');
  const args = ['train', '--epochs', '2', '--train', '40', '--val', '10', '--test', '10', '--width', '4', '--size', '32', '--batch', '16', '--seed', '3', '--backend', 'cpu', '--out', out];
  const r = await cli(args, 120_000);
  t.equal(r.code, 0, `exit code 0 (${lines(r.stderr).slice(-1)[0] ?? ''})`);
  t.match(r.stdout, /^epoch 1: loss [\d.]+, train accuracy [\d.]+%, validation accuracy [\d.]+%/m, 'a line per epoch');
  t.match(r.stdout, /test accuracy [\d.]+% on 10 images/, 'the test accuracy');
  t.match(r.stderr, /epoch 2\/2: \d+\/3 steps/, 'a progress bar on stderr (3 steps of 16 per epoch)');
  const log = JSON.parse(readFileSync(join(out, 'train.json'), 'utf8'));
  t.equal(log.command, `convis ${args.join(' ')}`, 'train.json records the command');
  t.equal(log.epochs.length, 2, 'and each epoch');
  t.ok(log.testAccuracy >= 0 && log.testAccuracy <= 1, 'and the test accuracy');
  const { loadOnnx } = await import('../../src/index.js');
  const m = await loadOnnx(join(out, 'shapesnet.onnx'));
  t.deepEqual(m.inputShape, [3, 32, 32], 'the model loads, at the trained size');
  t.deepEqual(m.preprocess, log.preprocess, 'with the training set\'s mean and std as its preprocessing');
  t.ok(log.preprocess.mean.every((v: number) => v > 0.2 && v < 0.8), 'plausible channel means');
  // --init goes on from the checkpoint: batch norm kept as layers (not folded), the preprocessing kept
  const more = join(dir, 'trained-more');
  const r2 = await cli(['train', '--init', join(out, 'shapesnet.onnx'), '--epochs', '1', '--train', '20', '--val', '10', '--test', '10', '--batch', '10', '--backend', 'cpu', '--out', more], 120_000);
  t.equal(r2.code, 0, `--init: exit code 0 (${lines(r2.stderr).slice(-1)[0] ?? ''})`);
  const log2 = JSON.parse(readFileSync(join(more, 'train.json'), 'utf8'));
  t.deepEqual(log2.preprocess, log.preprocess, '--init keeps the checkpoint\'s preprocessing');
  t.equal(log2.options.size, 32, 'and its input size');
  const m2 = await loadOnnx(join(more, 'shapesnet.onnx'), { foldBatchNorm: false });
  t.equal(m2.layers.filter((l) => l.kind === 'batchnorm').length, 7, 'and its seven batch-norm layers');
  failsWithOneLine(t, await cli(['train', '--init', model, '--backend', 'cpu', '--out', more]), 'train', /is not a checkpoint of convis train/);
  failsWithOneLine(t, await cli(['train', '--size', '40', '--backend', 'cpu', '--out', out]), 'train', /--size must be a multiple of 16, got 40/);
  failsWithOneLine(t, await cli(['train', '--optimizer', 'rmsprop']), 'train', /--optimizer.*'rmsprop' is invalid/);
});

// ----------------------------------------------------------------------------- in-process

const quiet = (): Io & { lines: string[]; progress: string[] } => {
  const lines: string[] = [], progress: string[] = [];
  return { lines, progress, out: (l) => void lines.push(l), err: { write: (s: string) => progress.push(s), isTTY: false } };
};

async function rejectsWith(t: test.Test, p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
    t.fail(`expected a CliError matching ${re}`);
  } catch (e) {
    t.ok(e instanceof CliError, 'a CliError');
    t.match((e as Error).message, re, (e as Error).message);
  }
}

test('checks that fail before a backend opens', async (t) => {
  await rejectsWith(t, saliencyCommand(grey, [image], { io: quiet() }), /unsupported model: .*grey\.onnx takes 1-channel input/);
  await rejectsWith(t, saliencyCommand(model, [image, join(dir, 'square.jpg')], { io: quiet(), out: dir }), /would both be written to/);
  await rejectsWith(t, saliencyCommand(model, [], { io: quiet() }), /no image given/);
  await rejectsWith(t, localiseCommand(model, [image], { topK: 4, io: quiet() }), /--top-k 4 is out of range/);
  await rejectsWith(t, classModelCommand(model, { class: 1, all: true, io: quiet() }), /not both/);
  await rejectsWith(t, classModelCommand(model, { class: 1, lr: 0, io: quiet() }), /--lr must be a number > 0/);
  await rejectsWith(t, deconvCheckCommand(model, undefined, { target: 5, io: quiet() }), /--target 5 is out of range/);
  await rejectsWith(t, saliencyCommand(model, [dir], { io: quiet() }), /is a directory, not an image file/);
});

if (backends.includes('cpu')) {
  test('in-process: ten crops, --all, --top-k and the deconv table', async (t) => {
    const io = quiet();
    const out = join(dir, 'inproc');
    const [s] = await saliencyCommand(model, [image], { backend: 'cpu', out, crops: 10, overlay: true, target: 2, io });
    t.equal(s.target, 2, 'the given target');
    t.deepEqual([s.width, s.height], [18, 18], 'ten crops: the map is round(16 * 256 / 224) = 18 pixels square');
    t.deepEqual(await pngSize(s.file), { width: 18, height: 18, format: 'png' }, 'and so is the heatmap (overlaid on the resized image)');

    const all = await classModelCommand(model, { backend: 'cpu', out, all: true, steps: 2, io });
    t.deepEqual(all.map((r) => r.class), [0, 1, 2], '--all: every class');
    t.ok(all.every((r) => existsSync(r.file)), 'one image each');
    t.deepEqual(io.progress.filter((l) => l.includes('steps')).at(-1), 'classmodel: 6/6 steps (100%) (class 2)\n', 'one progress bar over all of them');

    const boxes = await localiseCommand(model, [image], { backend: 'cpu', out, topK: 2, io });
    t.deepEqual(boxes.map((b) => b.rank), [1, 2], '--top-k 2: two boxes');
    t.notEqual(boxes[0].target, boxes[1].target, 'for two classes');
    t.notEqual(boxes[0].figure, boxes[1].figure, 'each with its own figure');

    const { report, failing } = await deconvCheckCommand(model, image, { backend: 'cpu', io });
    t.deepEqual(failing, [], 'no conv, max-pool or linear layer differs');
    t.equal(deconvTable(report).length, report.layers.length + 1, 'a header and one row per layer');
  });
}

test('progress: plain lines per tenth in a pipe, one redrawn line on a terminal', (t) => {
  const pipe: string[] = [];
  const p = new Progress('work', 25, 'steps', { write: (s: string) => pipe.push(s), isTTY: false });
  for (let i = 0; i < 25; i++) p.tick();
  p.end();
  t.equal(pipe.length, 10, `ten lines for 25 steps: ${JSON.stringify(pipe.map((l) => l.trim()))}`);
  t.equal(pipe.at(-1), 'work: 25/25 steps (100%)\n');

  const tty: string[] = [];
  const q = new Progress('work', 3, 'steps', { write: (s: string) => tty.push(s), isTTY: true, columns: 80 });
  q.tick();
  q.tick();
  q.tick();
  const text = tty.join('');
  t.ok(text.startsWith('\rwork ['), 'redraws in place');
  t.match(text, /\[#+\] 100% 3\/3 steps/, 'a full bar at the end');
  t.ok(text.endsWith('\n') && text.split('\n').length === 2, 'and a single line break');
  t.end();
});

test('clean up', (t) => {
  rmSync(dir, { recursive: true, force: true });
  t.notOk(existsSync(dir), 'the temporary folder is gone');
  t.end();
});
