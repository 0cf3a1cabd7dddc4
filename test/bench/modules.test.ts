// Every benchmark module (`npm run bench -- <name>`) loads and answers its command line without measuring:
// `--help` prints its usage and exits 0, an option it does not know exits 1 and names the option. The suite runs
// no benchmark, so this is what stops a module that no longer compiles from passing CI.

import test from 'tape';

const NAMES = ['kernels', 'cpu', 'models', 'saliency', 'localise', 'profile'];

/** Runs `fn` with console.log / console.error captured. */
async function captured(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const log = console.log, error = console.error;
  console.log = (...a: unknown[]) => { out.push(a.join(' ')); };
  console.error = (...a: unknown[]) => { err.push(a.join(' ')); };
  try {
    return { code: await fn(), out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

for (const name of NAMES) {
  test(`bench ${name}: loads; --help and a bad option`, async (t) => {
    const mod = await import(`../../bench/${name}.ts`) as { main?: (argv: readonly string[]) => Promise<number> };
    t.equal(typeof mod.main, 'function', 'exports main(argv)');
    const help = await captured(() => mod.main!(['--help']));
    t.equal(help.code, 0, '--help: exit code 0');
    t.match(help.out, new RegExp(`npm run bench -- ${name}`), '--help: the usage names the command');
    const bad = await captured(() => mod.main!(['--no-such-option']));
    t.equal(bad.code, 1, 'a bad option: exit code 1');
    t.match(bad.err, /--no-such-option/, 'the message names the option');
  });
}
