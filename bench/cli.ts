// Command-line plumbing shared by the benchmarks: flag walking, list and integer values, shell quoting.

/** Comma-separated values, trimmed, empty ones dropped. */
export const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);

export function int(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}: expected an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

/**
 * Calls handle(flag, value, arg) for each argument: `--name=value` or `--name value`; value() takes the value
 * (the next argument when not inline), throwing when there is none. Only the first '=' splits, so
 * --tfjs-flag=K=V keeps K=V.
 */
export function eachFlag(argv: readonly string[], handle: (flag: string, value: () => string, arg: string) => void): void {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    handle(flag, () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    }, arg);
  }
}

export const shellQuote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The command that measures the same again: where the results were written to is left out. */
export function rerunCommand(bench: string, argv: readonly string[], env: readonly string[] = []): string {
  const plumbing = new Set(['--write', '--no-write']);
  const measuring = argv.filter((a, i) => !plumbing.has(a) && !a.startsWith('--results-file') && argv[i - 1] !== '--results-file');
  return [...env, `npm run bench -- ${bench}`, ...measuring.map(shellQuote)].join(' ');
}

/** A comma-separated list of allowed names, deduplicated; throws on an unknown or an empty one. */
export function oneOf<T extends string>(name: string, v: string, allowed: readonly T[]): T[] {
  const items = list(v);
  for (const s of items) if (!allowed.includes(s as T)) throw new Error(`${name}: unknown ${JSON.stringify(s)}; use ${allowed.join(', ')}`);
  if (items.length === 0) throw new Error(`${name}: empty list`);
  return [...new Set(items)] as T[];
}

/** A number of seconds >= 0. */
export function seconds(name: string, v: string): number {
  const s = Number(v);
  if (!(s >= 0)) throw new Error(`${name}: expected seconds >= 0, got ${JSON.stringify(v)}`);
  return s;
}

/**
 * A benchmark's command line: `--help` prints the usage (exit code 0), a bad option prints the reason and the
 * usage (exit code 1); otherwise the parsed options.
 */
export function parseArgs<T>(bench: string, argv: readonly string[], usage: string, parse: (argv: readonly string[]) => T): T | number {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage);
    return 0;
  }
  try {
    return parse(argv);
  } catch (e) {
    console.error(`bench ${bench}: ${(e as Error).message}\n\n${usage}`);
    return 1;
  }
}

/** The environment variables that change what a benchmark measures, as `NAME=value` words for its rerun command. */
export function measuredEnv(names: readonly string[] = ['CONVIS_THREADS', 'CONVIS_GEMM_TILE', 'CONVIS_CONV']): string[] {
  return names.filter((k) => process.env[k] !== undefined).map((k) => `${k}=${shellQuote(process.env[k]!)}`);
}
