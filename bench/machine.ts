// What a result needs to be read later: the CPU model and how busy the rest of the machine was meanwhile
// (on lavapipe the "GPU" is these CPU cores, so another process's load shows up directly in the numbers).

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';

/** Linux's USER_HZ: /proc/stat and /proc/<pid>/stat count CPU time in 1/100 s. */
const TICKS_PER_SECOND = 100;

export function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    if (line) return line.split(':').slice(1).join(':').trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? 'unknown CPU';
}

export function logicalCores(): number {
  return cpus().length;
}

interface CpuSample { at: number; machineBusy: number; ours: number }

function sample(): CpuSample | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy is everything but idle and iowait
    const machineBusy = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + (cpu[7] ?? 0);
    const self = readFileSync('/proc/self/stat', 'utf8');
    const f = self.slice(self.lastIndexOf(')') + 2).split(' ').map(Number);
    // after the command name: state is field 3, utime 14, stime 15, cutime 16, cstime 17 (1-based)
    const ours = f[14 - 3] + f[15 - 3] + f[16 - 3] + f[17 - 3];
    return { at: performance.now(), machineBusy, ours };
  } catch {
    return null;
  }
}

/**
 * Measures the CPU time used by processes other than this one and its waited-for children (the TF.js peer)
 * between start() and stop(), in cores on average.
 */
export class LoadProbe {
  private first: CpuSample | null = null;

  start(): void {
    this.first = sample();
  }

  /** average number of cores the rest of the machine kept busy, or null where /proc is not readable */
  stop(): number | null {
    const last = sample();
    if (!this.first || !last) return null;
    const seconds = (last.at - this.first.at) / 1000;
    if (seconds <= 0) return null;
    const others = (last.machineBusy - this.first.machineBusy) - (last.ours - this.first.ours);
    return Math.max(0, others / TICKS_PER_SECOND / seconds);
  }
}

export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}

/**
 * The commit the measured code comes from, and whether `paths` (default src/ and kernels/) differ from it
 * (CONVIS_BENCH_SOURCE overrides). Read-only git calls: --no-optional-locks keeps `git status` from refreshing
 * the index.
 */
export function sourceRevision(paths: readonly string[] = ['src', 'kernels']): string {
  // a copy without .git (a bundle on another machine) can name its source through the environment
  const given = process.env.CONVIS_BENCH_SOURCE;
  if (given) return given;
  const cwd = fileURLToPath(new URL('..', import.meta.url));
  try {
    const git = (...args: string[]) =>
      execFileSync('git', ['--no-optional-locks', ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const head = git('rev-parse', '--short', 'HEAD').trim();
    // porcelain lines are "XY path": the path starts at column 3
    const dirty = git('status', '--porcelain', '--', ...paths).split('\n').filter((l) => l.length > 3);
    if (dirty.length === 0) return head;
    return `${head} with uncommitted changes in ${[...new Set(dirty.map((l) => l.slice(3).split('/')[0]))].join(', ')}`;
  } catch {
    return 'unknown (no git checkout here)';
  }
}

/**
 * What LoadProbe.stop() measured, as the line a benchmark prints (`note`) and the one its RESULTS.md section
 * records (`line`: on a busy machine also the load average and the command to re-measure with).
 */
export function describeLoad(otherCores: number | null, command: string): { note: string; busy: boolean; line: string } {
  const busy = otherCores !== null && otherCores > 0.25;
  const note = otherCores === null ? 'load of other processes not measurable here (no /proc)'
    : `other processes kept ${otherCores.toFixed(2)} of ${logicalCores()} cores busy on average during the run` +
      (busy ? ' — the numbers are noisy' : '');
  const line = `${note}${busy ? `; load average at the end ${loadAverage()}. Re-measure on an idle machine with \`${command}\`` : ''}`;
  return { note, busy, line };
}
