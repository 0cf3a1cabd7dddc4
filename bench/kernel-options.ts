// The kernel benchmark's command line: `npm run bench -- kernels --help` prints USAGE.

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tileConfigs } from '../src/backend/webgpu/gemm.js';
import { eachFlag, int, list } from './cli.js';
import { type CaseKind, checkShapeTokens } from './cases.js';

/** Dawn rounds timestamps to 2^16 ns unless this toggle is off; dawn.node takes toggles as create() flags. */
export const NO_QUANTIZATION = 'disable-dawn-features=timestamp_quantization';
export const ALL_KINDS: readonly CaseKind[] = ['matmul', 'conv2d', 'conv2dBackwardInput'];

export const USAGE = `usage: npm run bench -- kernels [options]

  --quick               3 timed runs after 1 warm-up (default: 10 after 2)
  --runs N, --warmup N  timed runs (median reported) and untimed warm-up runs
  --sizes 1024,4096     matmul sizes (default 1024, plus 4096 on a non-CPU adapter); 'none' skips matmul
  --shapes 128,@56,...  VGG16 conv shapes: input channels (128), spatial size (@56) or C->O@S; 'none' skips
  --ops LIST            any of matmul, conv2d (fwd), conv2dBackwardInput (bwd); default all
  --tile NAME           force convis's GEMM tile: ${Object.keys(tileConfigs).join(' | ')};
                        'all' sweeps them (convis runs once per tile after its own choice, 'auto')
  --timing wall         wall time even where timestamp queries work (default: auto)
  --shared-device       time all cases on one device (default: a fresh device per case; see README)
  --no-tfjs             convis only
  --tfjs-flag K=V       set a TF.js env flag in the peer, e.g. WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE=false
  --dawn-flag F         extra Dawn flag for both sides (${NO_QUANTIZATION} is always passed)
  --write / --no-write  update bench/RESULTS.md (default: only for a full run with default options)
  --results-file PATH   the markdown file to update instead of bench/RESULTS.md`;

export interface Options {
  quick: boolean;
  runs: number;
  warmup: number;
  sizes: number[] | null;
  shapes: string[] | null;
  ops: Set<CaseKind>;
  tile: string | null;
  /** one device (and buffer pool) for all cases instead of one per case */
  sharedDevice: boolean;
  /** 'wall' skips timestamp queries on both sides */
  timing: 'auto' | 'wall';
  tfjs: boolean;
  tfjsFlags: Record<string, number | boolean | string>;
  dawnFlags: string[];
  write: boolean | null;
  resultsFile: string;
  /** true when every option that changes what is measured has its default */
  defaults: boolean;
}

export function parseOptions(argv: readonly string[]): Options {
  const o: Options = {
    quick: false, runs: 10, warmup: 2, sizes: null, shapes: null, ops: new Set(ALL_KINDS), tile: null,
    sharedDevice: false, timing: 'auto', tfjs: true, tfjsFlags: {}, dawnFlags: [NO_QUANTIZATION], write: null,
    resultsFile: fileURLToPath(new URL('./RESULTS.md', import.meta.url)), defaults: true,
  };
  let runsGiven = false, warmupGiven = false;
  eachFlag(argv, (flag, value, arg) => {
    switch (flag) {
      case '--quick': o.quick = true; o.defaults = false; break;
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
          if (!(s in alias)) throw new Error(`--ops: unknown op ${JSON.stringify(s)}; use ${Object.keys(alias).join(', ')}`);
          return alias[s];
        }));
        o.defaults = false;
        break;
      }
      case '--tile': {
        const v = value();
        if (v !== 'all' && !(v in tileConfigs)) {
          throw new Error(`--tile: expected ${Object.keys(tileConfigs).join(' | ')} | all, got ${JSON.stringify(v)}`);
        }
        o.tile = v;
        o.defaults = false;
        break;
      }
      case '--timing': {
        const v = value();
        if (v !== 'auto' && v !== 'wall') throw new Error(`--timing: expected auto | wall, got ${JSON.stringify(v)}`);
        o.timing = v;
        if (v !== 'auto') o.defaults = false;
        break;
      }
      case '--shared-device': o.sharedDevice = true; o.defaults = false; break;
      case '--no-tfjs': o.tfjs = false; o.defaults = false; break;
      case '--tfjs-flag': {
        const v = value();
        const eq = v.indexOf('=');
        if (eq < 1) throw new Error(`--tfjs-flag: expected NAME=VALUE, got ${JSON.stringify(v)}`);
        const raw = v.slice(eq + 1);
        o.tfjsFlags[v.slice(0, eq)] = raw === 'true' ? true : raw === 'false' ? false : Number.isFinite(Number(raw)) ? Number(raw) : raw;
        o.defaults = false;
        break;
      }
      case '--dawn-flag': o.dawnFlags.push(value()); o.defaults = false; break;
      case '--write': o.write = true; break;
      case '--no-write': o.write = false; break;
      case '--results-file': o.resultsFile = resolve(value()); break;
      default: throw new Error(`unknown option ${JSON.stringify(arg)}`);
    }
  });
  if (o.quick) {
    if (!runsGiven) o.runs = 3;
    if (!warmupGiven) o.warmup = 1;
  }
  if (o.runs < 10 || o.warmup < 1) o.defaults = false;
  return o;
}
