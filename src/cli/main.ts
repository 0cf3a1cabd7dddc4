#!/usr/bin/env node
// The `convis` command: commander wiring around src/cli/commands.ts and src/cli/demo.ts. Every failure ends with
// one line `convis <command>: <reason>` on stderr and a non-zero exit code; set CONVIS_DEBUG=1 to also get the stack trace of an unexpected error. The process exits by itself once
// the command has closed its backend.

import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  BACKENDS, type BackendName, classModelCommand, CliError, COLORMAPS, type CommonOptions, deconvCheckCommand,
  localiseCommand, METHODS, PRESETS, saliencyCommand, trainCommand,
} from './commands.js';
import { benchCommand, demoCommand, evalCommand } from './demo.js';

const version = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

// ----------------------------------------------------------------------------- option values

function intValue(min: number) {
  return (v: string): number => {
    if (!/^\s*[-+]?\d+\s*$/.test(v) || Number(v) < min) throw new InvalidArgumentError(`It must be an integer >= ${min}.`);
    return Number(v);
  };
}

function numberValue(min: number, exclusive: boolean) {
  return (v: string): number => {
    const n = v.trim() === '' ? NaN : Number(v);
    if (!Number.isFinite(n) || n < min || (exclusive && n === min)) throw new InvalidArgumentError(`It must be a number ${exclusive ? '>' : '>='} ${min}.`);
    return n;
  };
}

function targetValue(v: string): number | 'top1' {
  if (v === 'top1') return 'top1';
  if (!/^\s*\d+\s*$/.test(v)) throw new InvalidArgumentError("It must be a class index (an integer >= 0) or 'top1'.");
  return Number(v);
}

function cropsValue(v: string): 1 | 10 {
  if (v.trim() === '1') return 1;
  if (v.trim() === '10') return 10;
  throw new InvalidArgumentError('It must be 1 or 10.');
}

// ----------------------------------------------------------------------------- the program

const oneLine = (s: string) => s.replace(/^error: /, '').split('\n').map((l) => l.trim()).filter(Boolean).join(' ');

const EXAMPLES: Record<string, string> = {
  saliency: 'convis saliency vgg16.onnx cat.jpg dog.jpg --overlay --colormap inferno --out maps',
  classmodel: 'convis classmodel vgg16.onnx --class 281 --steps 200 --out classes',
  localise: 'convis localise vgg16.onnx cat.jpg --top-k 5 --out boxes',
  'deconv-check': 'convis deconv-check vgg16.onnx cat.jpg',
  train: 'convis train --epochs 12 --seed 0 --out model',
  eval: 'convis eval --count 500 --out docs',
  bench: 'convis bench saliency --size 64',
  demo: 'convis demo --out out',
};

/** The command currently running, for the `convis <command>:` prefix of its failure line. */
let running = '';

function build(argv: readonly string[]): Command {
  // an error in a global option names the command it was given to
  const named = argv.slice(2).find((a) => Object.hasOwn(EXAMPLES, a));
  const program = new Command('convis');
  program
    .description('Ask a trained ConvNet what it sees: the methods of Simonyan, Vedaldi & Zisserman (2013) on an ONNX model.')
    .version(version, '-V, --version')
    .addOption(new Option('--backend <name>', 'compute backend').choices(BACKENDS).default('auto'))
    .option('--out <dir>', 'folder to write the results to (created when missing)', '.')
    .configureHelp({ showGlobalOptions: true })
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`convis${named ? ` ${named}` : ''}: ${oneLine(str)}\n`) })
    .addHelpText('after', `\nExamples:\n${Object.values(EXAMPLES).map((e) => `  $ ${e}`).join('\n')}\n`)
    .hook('preAction', (_root, action) => {
      running = action.name();
    });

  const sub = (name: string, summary: string, description: string): Command => {
    const cmd = program.command(name).summary(summary).description(description);
    cmd.exitOverride()
      .configureOutput({ outputError: (str, write) => write(`convis ${name}: ${oneLine(str)}\n`) })
      .addHelpText('after', `\nExample:\n  $ ${EXAMPLES[name]}\n`);
    return cmd;
  };
  const globals = (cmd: Command): Required<Pick<CommonOptions, 'backend' | 'out'>> => {
    const g = cmd.optsWithGlobals<{ backend: BackendName; out: string }>();
    return { backend: g.backend, out: g.out };
  };

  sub('saliency', 'class saliency maps of images (Sect. 3)', 'image-specific class saliency maps (Sect. 3): one heatmap PNG per image, <out>/<name>-saliency.png; prints the target class and its score')
    .argument('<model>', 'ONNX model (.onnx) whose output is class scores')
    .argument('<image...>', 'PNG or JPEG images, loaded at the model\'s input size (shorter side scaled, centre crop)')
    .option('--target <class>', "class index to explain, or 'top1' (the highest-scoring class)", targetValue, 'top1')
    .option('--crops <n>', '1: the image as is; 10: the paper\'s ten crops of the image rescaled to 256/224 of the input size', cropsValue, 1)
    .addOption(new Option('--method <rule>', "ReLU's backward rule").choices(METHODS).default('gradient'))
    .addOption(new Option('--colormap <name>', 'heatmap colours').choices(COLORMAPS).default('gray'))
    .option('--overlay', 'blend the heatmap over the image', false)
    .action(async (model: string, images: string[], o: { target: number | 'top1'; crops: 1 | 10; method: typeof METHODS[number]; colormap: typeof COLORMAPS[number]; overlay: boolean }, cmd: Command) => {
      await saliencyCommand(model, images, { ...globals(cmd), ...o });
    });

  sub('classmodel', 'class model visualisation (Sect. 2)', 'class model visualisation (Sect. 2): the image maximising a class score, <out>/class-<N>.png')
    .argument('<model>', 'ONNX model (.onnx) whose output is class scores')
    .option('--class <n>', 'the class to visualise', intValue(0))
    .option('--all', 'visualise every class of the model')
    .option('--steps <n>', 'gradient ascent steps', intValue(1), 200)
    .option('--lr <x>', 'step size (the gradient is normalised by its RMS) (default: 0.05)', numberValue(0, true))
    .option('--l2 <x>', 'L2 penalty lambda of eq. 1 (default: 0.001, or 0 with --preset yosinski2015)', numberValue(0, false))
    .addOption(new Option('--preset <name>', 'simonyan2013: the paper\'s plain ascent; yosinski2015: L2 decay 1e-4, blur sigma 1 every 4 steps (both: no preconditioning, no jitter)').choices(PRESETS))
    .option('--frequency-decay <p>', 'precondition the gradient by 1/f^p in the frequency domain, 0: the paper\'s plain ascent (default: 1.5, or 0 with --preset)', numberValue(0, false))
    .option('--clip', 'save a preprocessed model\'s 0..255 image clipped to 0..255 instead of stretched')
    .addHelpText('after', '\nEach image is saved stretched from its 0.5th to its 99.5th percentile (the ascent leaves 0..255 far behind);\n--clip keeps a preprocessed model\'s 0..255 values as they are, clipped.\n')
    .action(async (model: string, o: { class?: number; all?: boolean; steps: number; lr?: number; l2?: number; preset?: 'simonyan2013' | 'yosinski2015'; frequencyDecay?: number; clip?: boolean }, cmd: Command) => {
      await classModelCommand(model, { ...globals(cmd), ...o });
    });

  sub('localise', 'weakly supervised localisation boxes (Sect. 3.2)', 'weakly supervised localisation (Sect. 3.2): the Fig. 3 figure per image and class, <out>/<name>-localise.png; prints each box as a JSON line')
    .argument('<model>', 'ONNX model (.onnx) whose output is class scores')
    .argument('<image...>', 'PNG or JPEG images, loaded at the model\'s input size (shorter side scaled, centre crop)')
    .option('--top-k <k>', 'a box for each of the k highest-scoring classes (figures <name>-localise-<rank>.png when k > 1)', intValue(1), 1)
    .addHelpText('after', '\nBoxes are { x, y, width, height } in the pixels of the model-sized image (imageSize in each line).\n')
    .action(async (model: string, images: string[], o: { topK: number }, cmd: Command) => {
      await localiseCommand(model, images, { ...globals(cmd), topK: o.topK });
    });

  sub('deconv-check', 'check that the DeconvNet equals the gradient (Sect. 4)', 'the DeconvNet equivalence (Sect. 4): compares the DeconvNet to the gradient layer by layer; exit code 1 if a conv, max-pool or linear layer differs')
    .argument('<model>', 'ONNX model (.onnx) whose output is class scores')
    .argument('[image]', 'PNG or JPEG image (default: a seeded random image)')
    .option('--target <class>', 'class whose score is differentiated (default: the top class)', intValue(0))
    .option('--seed <n>', 'seed of the random image', intValue(0), 0)
    .action(async (model: string, image: string | undefined, o: { target?: number; seed: number }, cmd: Command) => {
      await deconvCheckCommand(model, image, { ...globals(cmd), ...o });
    });

  sub('train', 'train the shapes network on the procedural dataset', 'trains models.shapesNet (a small VGG-style ConvNet) on the procedural shapes dataset (10 classes, 96x96): writes <out>/shapesnet.onnx after every epoch and <out>/train.json (command, options, per-epoch figures, test accuracy)')
    .option('--epochs <n>', 'passes over the training images', intValue(1), 12)
    .option('--train <n>', 'training images generated', intValue(10), 6000)
    .option('--val <n>', 'validation images (accuracy after each epoch)', intValue(10), 1000)
    .option('--test <n>', 'test images (accuracy at the end)', intValue(10), 1000)
    .option('--batch <n>', 'images per step', intValue(1), 32)
    .addOption(new Option('--optimizer <name>', 'SGD with momentum 0.9 or Adam').choices(['sgd', 'adam']).default('adam'))
    .option('--lr <x>', 'initial learning rate, cosine-annealed to 0 (default: 0.02 for sgd, 0.001 for adam)', numberValue(0, true))
    .option('--seed <n>', 'seeds the weights, the shuffling, the augmentation and dropout', intValue(0), 0)
    .option('--width <n>', 'channels of the first block (the network has w, 2w, 4w, 4w)', intValue(1), 16)
    .option('--size <n>', 'image size, a multiple of 16 (default: 96, or the checkpoint\'s with --init)', intValue(32))
    .option('--no-batch-norm', 'leave out batch normalisation after each convolution')
    .option('--dropout <p>', 'dropout before the last layer', numberValue(0, false), 0)
    .option('--no-augment', 'train on the images as generated (default: random crops from 4-pixel padding, mirrors, one zeroed rectangle)')
    .option('--erase <n>', 'rectangles zeroed out per image when augmenting (the paper\'s augmentation)', intValue(0), 1)
    .option('--init <model>', 'go on training this checkpoint of convis train (its size, width, batch norm and preprocessing are kept)')
    .action(async (o: { init?: string; epochs: number; train: number; val: number; test: number; batch: number; optimizer: 'sgd' | 'adam'; lr?: number; seed: number; width: number; size?: number; batchNorm: boolean; dropout: number; augment: boolean; erase: number }, cmd: Command) => {
      await trainCommand({
        ...globals(cmd), epochs: o.epochs, trainCount: o.train, valCount: o.val, testCount: o.test, batchSize: o.batch,
        optimizer: o.optimizer, lr: o.lr, seed: o.seed, width: o.width, size: o.size, batchNorm: o.batchNorm, dropout: o.dropout,
        augment: o.augment, erase: o.erase, init: o.init, command: `convis ${argv.slice(2).join(' ')}`,
      });
    });

  sub('eval', 'localisation error on the shapes test split (Sect. 3.2)', 'top-1 localisation error (ILSVRC criterion, IoU >= 0.5) on the shapes test split for (a) saliency + GMM + GraphCut, (b) the thresholded map without GraphCut, (c) the centre box of mean size, (d) the whole image, and (a), (b) with DeconvNet and guided maps: <out>/results.md and <out>/results.json')
    .argument('[model]', 'ONNX model of the shapes classes (default: the shipped models/shapesnet.onnx)')
    .option('--count <n>', 'test images', intValue(1), 500)
    .option('--val <n>', 'validation images (fix the threshold of (b) and the box of (c))', intValue(1), 200)
    .action(async (model: string | undefined, o: { count: number; val: number }, cmd: Command) => {
      await evalCommand({ ...globals(cmd), model, count: o.count, valCount: o.val, command: `convis ${argv.slice(2).join(' ')}` });
    });

  sub('bench', 'run a benchmark of the convis checkout', 'runs bench/index.ts of the convis repository (kernels, cpu, saliency, localise, profile, ...) with the arguments given; needs the development dependencies (npm ci in a checkout)')
    .argument('[args...]', 'the benchmark and its options, as for `npm run bench --` (`convis bench -- --help` lists the benchmarks, `convis bench -- <name> --help` gives one\'s options)')
    .allowUnknownOption()
    .action(async (args: string[]) => {
      const code = await benchCommand(args);
      if (code !== 0) throw new CliError(`the benchmark exited with code ${code}`, code);
    });

  sub('demo', 'the paper\'s figures for the shipped model: out/index.html', 'the main job: class models of every class (Fig. 1), saliency maps (Fig. 2), localisation figures (Fig. 3) and the DeconvNet equivalence report (Sect. 4) for the shipped model and sample images, and <out>/index.html showing them (out/ unless --out is given); WebGPU when an adapter exists')
    .option('--model <file>', 'ONNX model (default: the shipped models/shapesnet.onnx)')
    .option('--images <dir>', 'folder of PNG / JPEG images, with an optional labels.json (default: the shipped examples/)')
    .option('--steps <n>', 'class model ascent steps', intValue(1), 200)
    .action(async (o: { model?: string; images?: string; steps: number }, cmd: Command) => {
      const g = globals(cmd);
      // the demo writes out/ unless --out is given
      await demoCommand({ ...g, out: cmd.parent?.getOptionValueSource('out') === 'default' ? 'out' : g.out, ...o });
    });
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = build(argv);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode; // commander printed its own line (or the help)
    const where = running ? `convis ${running}` : 'convis';
    if (e instanceof CliError) {
      process.stderr.write(`${where}: ${e.message}\n`);
      return e.exitCode;
    }
    const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    process.stderr.write(`${where}: ${msg}\n`);
    if (process.env.CONVIS_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

// `convis ... | head`: a reader that went away is not an error worth a stack trace
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
});

// the process exits by itself: every command closes its backend before returning
process.exitCode = await main(process.argv);
