// `npm run bench -- cpu`: fp32 matmul and VGG16's conv2d forward / backward-input through convis's native C++
// cpu backend, called directly on operands allocated once per case (no tensors, no tape), timed as wall time
// until the backend's queue has drained. Where bench/RESULTS.md holds a `kernels` section of the WebGPU
// backend on Mesa lavapipe on this same CPU, its convis times are set beside these. See bench/README.md.

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../src/backend/interface.js';
import { backend, close, init } from '../src/runtime.js';
import { type BenchCase, type CaseKind, checkShapeTokens, convCase, matmulCase, shapeMatches, vggShapes } from './cases.js';
import { cpuModel, loadAverage, LoadProbe, logicalCores, sourceRevision } from './machine.js';
import { prepareCase, type PreparedCase } from './operands.js';
import { fmtMs, fmtRate, fmtRatio, markdownTable, textTable, updateSection } from './report.js';
import { median } from './timing.js';
import { eachFlag, int, list, measuredEnv, parseArgs, rerunCommand } from './cli.js';

const ALL_KINDS: readonly CaseKind[] = ['matmul', 'conv2d', 'conv2dBackwardInput'];
const DEFAULT_SIZES = [1024, 2048];

export const USAGE = `usage: npm run bench -- cpu [options]

  --quick               3 timed runs after 1 warm-up (default: 10 after 2)
  --runs N, --warmup N  timed runs (median reported) and untimed warm-up runs
  --sizes 1024,2048     matmul sizes (default ${DEFAULT_SIZES.join(',')}); 'none' skips matmul
  --shapes 128,@56,...  VGG16 conv shapes: input channels (128), spatial size (@56) or C->O@S; 'none' skips
  --ops LIST            any of matmul, conv2d (fwd), conv2dBackwardInput (bwd); default all
  --write / --no-write  update bench/RESULTS.md (default: only for a full run with default options)
  --results-file PATH   the markdown file to update (and to read the lavapipe section from) instead of bench/RESULTS.md

The thread pool has one thread per logical core; CONVIS_THREADS=N in the environment sets another size.`;

interface Options {
  runs: number;
  warmup: number;
  sizes: number[] | null;
  shapes: string[] | null;
  ops: Set<CaseKind>;
  write: boolean | null;
  resultsFile: string;
  /** true when every option that changes what is measured has its default */
  defaults: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const o: Options = {
    runs: 10, warmup: 2, sizes: null, shapes: null, ops: new Set(ALL_KINDS), write: null,
    resultsFile: fileURLToPath(new URL('./RESULTS.md', import.meta.url)), defaults: true,
  };
  let quick = false, runsGiven = false, warmupGiven = false;
  eachFlag(argv, (flag, value, arg) => {
    switch (flag) {
      case '--quick': quick = true; o.defaults = false; break;
      case '--runs': case '--reps': o.runs = int(flag, value(), 1); runsGiven = true; break;
      case '--warmup': o.warmup = int(flag, value(), 0); warmupGiven = true; break;
      case '--sizes': {
        const v = value();
        o.sizes = v === 'none' ? [] : list(v).map((s) => int('--sizes', s, 1));
        o.defaults = false;
        break;
      }
      case '--shapes': {
        const tokens = list(value());
        checkShapeTokens(tokens);
        o.shapes = tokens;
        o.defaults = false;
        break;
      }
      case '--ops': {
        const alias: Record<string, CaseKind> = {
          matmul: 'matmul', conv2d: 'conv2d', fwd: 'conv2d', conv2dBackwardInput: 'conv2dBackwardInput', bwd: 'conv2dBackwardInput',
        };
        o.ops = new Set(list(value()).map((s) => {
          if (!Object.hasOwn(alias, s)) throw new Error(`--ops: unknown op ${JSON.stringify(s)}; use ${Object.keys(alias).join(', ')}`);
          return alias[s];
        }));
        o.defaults = false;
        break;
      }
      case '--write': o.write = true; break;
      case '--no-write': o.write = false; break;
      case '--results-file': o.resultsFile = resolve(value()); break;
      default: throw new Error(`unknown option ${JSON.stringify(arg)}`);
    }
  });
  if (quick) {
    if (!runsGiven) o.runs = 3;
    if (!warmupGiven) o.warmup = 1;
  }
  if (o.runs < 10 || o.warmup < 1) o.defaults = false;
  return o;
}

function buildCases(o: Options): BenchCase[] {
  const cases: BenchCase[] = [];
  if (o.ops.has('matmul')) for (const n of o.sizes ?? DEFAULT_SIZES) cases.push(matmulCase(n));
  for (const s of vggShapes) {
    if (!shapeMatches(o.shapes, s)) continue;
    if (o.ops.has('conv2d')) cases.push(convCase('conv2d', s.C, s.O, s.S));
    if (o.ops.has('conv2dBackwardInput')) cases.push(convCase('conv2dBackwardInput', s.C, s.O, s.S));
  }
  return cases;
}

interface Timing { ms: number; min: number; max: number }

/**
 * Wall time of single calls: from just before `run()` (which only enqueues on the addon's executor thread) until
 * `await b.sync()` resolves, with the queue drained before each call. Median of `runs` after `warmup` untimed.
 */
async function measureWall(b: Backend, p: PreparedCase, warmup: number, runs: number): Promise<Timing> {
  await b.sync();
  for (let i = 0; i < warmup; i++) {
    p.run();
    await b.sync();
  }
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    p.run();
    await b.sync();
    samples.push(performance.now() - t0);
  }
  return { ms: median(samples), min: Math.min(...samples), max: Math.max(...samples) };
}

interface Reference {
  /** the section's title, without the leading "## " */
  title: string;
  date: string;
  /** convis ms by case label */
  ms: Map<string, number>;
}

/**
 * The `kernels` section of the results file for the WebGPU backend on Mesa lavapipe on this CPU (its heading
 * "## kernels — <adapter naming llvmpipe or lavapipe> — <this cpuModel()>", no --tile suffix), read back as
 * convis ms per case label from its markdown table. null when the file, the section, its table or its "convis ms"
 * column is missing: the comparison is optional and never fails the run.
 */
function lavapipeReference(path: string, cpu: string): Reference | null {
  try {
    if (!existsSync(path)) return null;
    const lines = readFileSync(path, 'utf8').split('\n').map((l) => l.trimEnd());
    const start = lines.findIndex((l) => l.startsWith('## kernels — ') && /llvmpipe|lavapipe/i.test(l) && l.endsWith(` — ${cpu}`));
    if (start < 0) return null;
    let end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
    if (end < 0) end = lines.length;
    const section = lines.slice(start + 1, end);
    // case labels hold no '|', so a row splits on every '|' (markdownTable escapes none of them)
    const cells = (l: string) => l.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((s) => s.trim());
    const headerAt = section.findIndex((l) => l.startsWith('|') && cells(l)[0] === 'shape');
    if (headerAt < 0) return null;
    const col = cells(section[headerAt]).indexOf('convis ms');
    if (col < 0) return null;
    const ms = new Map<string, number>();
    for (const l of section.slice(headerAt + 2)) {
      if (!l.startsWith('|')) break;
      const row = cells(l);
      const v = Number(row[col]);
      if (row[0] && Number.isFinite(v) && v > 0) ms.set(row[0], v);
    }
    if (ms.size === 0) return null;
    const date = section.find((l) => l.startsWith('- date: '))?.slice('- date: '.length) ?? 'undated';
    return { title: lines[start].slice(3), date, ms };
  } catch {
    return null;
  }
}


export async function main(argv: readonly string[]): Promise<number> {
  const o = parseArgs('cpu', argv, USAGE, parseOptions);
  if (typeof o === 'number') return o;
  const cases = buildCases(o);
  if (cases.length === 0) {
    console.error('bench cpu: no case left after --sizes / --shapes / --ops');
    return 1;
  }
  // the command that measures the same again: where the results were written to is left out
  const envThreads = process.env.CONVIS_THREADS;
  const command = rerunCommand('cpu', argv, measuredEnv(['CONVIS_THREADS']));
  const load = new LoadProbe();
  load.start();
  const started = new Date();
  const source = sourceRevision(['src', 'native', 'binding.gyp']);
  const cpu = cpuModel();

  try {
    await init({ backend: 'cpu' });
  } catch (e) {
    console.error(`bench cpu: ${(e as Error).message}`);
    return 1;
  }
  const b = backend();
  const threads = b.limits.threads;
  console.log(`backend:  ${b.name} (native C++), ${b.device}`);
  console.log(`threads:  ${threads}${envThreads ? ` (CONVIS_THREADS=${envThreads})` : ' (one per logical core; CONVIS_THREADS overrides)'}`);
  console.log(`cpu:      ${cpu} (${logicalCores()} logical cores)`);
  console.log(`source:   ${source}`);
  console.log(`runs:     median of ${o.runs} after ${o.warmup} warm-up, wall time to sync(); load average ${loadAverage()}`);
  console.log(`\nconvis (cpu, NCHW), one backend for all cases:`);

  const results = new Map<string, Timing | Error>();
  try {
    for (const c of cases) {
      let p: PreparedCase | null = null;
      try {
        p = prepareCase(b, c);
        const t = await measureWall(b, p, o.warmup, o.runs);
        results.set(c.id, t);
        console.log(`  ${c.label.padEnd(26)} ${fmtMs(t.ms).padStart(8)} ms  ${fmtRate(c.flops, t.ms).padStart(7)} GFLOP/s` +
          `  (min ${fmtMs(t.min)}, max ${fmtMs(t.max)} ms)`);
      } catch (e) {
        results.set(c.id, e as Error);
        console.log(`  ${c.label.padEnd(26)} failed: ${(e as Error).message}`);
      } finally {
        p?.release();
      }
    }
  } finally {
    await close();
  }
  const otherCores = load.stop();

  const ref = lavapipeReference(o.resultsFile, cpu);
  const header = ['shape', 'cpu ms', 'cpu GFLOP/s', 'min ms', 'max ms', ...(ref ? ['lavapipe ms', 'ratio lavapipe/cpu'] : [])];
  const rows = cases.map((c) => {
    const r = results.get(c.id);
    const t = r instanceof Error || r === undefined ? null : r;
    const theirs = ref?.ms.get(c.label);
    return [
      c.label, t ? fmtMs(t.ms) : 'failed', fmtRate(c.flops, t?.ms), fmtMs(t?.min), fmtMs(t?.max),
      ...(ref ? [fmtMs(theirs), fmtRatio(theirs, t?.ms)] : []),
    ];
  });
  console.log(`\n${textTable(header, rows)}`);
  const refNote = ref
    ? `lavapipe ms: convis ms of the RESULTS.md section "${ref.title}" (${ref.date}), the WebGPU backend on Mesa ` +
      'lavapipe on this CPU, GPU timestamps, another session; ratio = lavapipe ms / cpu ms (> 1: the cpu backend is faster).'
    : null;
  if (refNote) console.log(refNote);
  const busy = otherCores !== null && otherCores > 0.25;
  const loadNote = otherCores === null ? 'load of other processes not measurable here (no /proc)'
    : `other processes kept ${otherCores.toFixed(2)} of ${logicalCores()} cores busy on average during the run` +
      (busy ? ' — the numbers are noisy' : '');
  console.log(loadNote);

  const failures = [...results.values()].filter((r) => r instanceof Error).length;
  const write = o.write ?? (o.defaults && failures === 0);
  if (write) {
    const heading = `## cpu — native cpu backend, ${threads} threads — ${cpu}`;
    const body = [
      `- date: ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      `- command: \`${command}\``,
      `- source: ${source}`,
      `- backend: convis's native C++ cpu backend (node-addon-api; kernels queued on the addon's executor thread, ` +
        `split over a pool of ${threads} threads)`,
      `- cpu: ${cpu}, ${logicalCores()} logical cores`,
      `- runs: median of ${o.runs} after ${o.warmup} warm-up, batch 1, fp32, NCHW / OIHW; the backend's matmul, ` +
        'conv2d and conv2dBackwardInput called directly on operands allocated once per case (no autodiff), one backend for all cases',
      '- timing: wall time from before the call until `await backend.sync()` resolves, the queue drained before each call',
      `- load: ${loadNote}${busy ? `; load average at the end ${loadAverage()}. Re-measure on an idle machine with \`${command}\`` : ''}`,
      '',
      markdownTable(header, rows),
      ...(refNote ? ['', refNote] : []),
    ].join('\n');
    updateSection(o.resultsFile, heading, body);
    console.log(`\nwrote the section "${heading.slice(3)}" of ${o.resultsFile}`);
  } else {
    const why = o.write === false ? '--no-write' : failures > 0 ? 'some cases failed' : 'not a full default run';
    console.log(`\nbench/RESULTS.md not updated (${why}; --write records it anyway)`);
  }
  return failures > 0 ? 1 : 0;
}
