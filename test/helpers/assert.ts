// Assertions shared by the test files.

import type test from 'tape';

/** Asserts that `p` rejects with an Error whose message matches `re`; the message is the assertion's name. */
export async function rejects(t: test.Test, p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
    t.fail(`expected an Error matching ${re}`);
  } catch (e) {
    t.ok(e instanceof Error, `an Error: ${String(e)}`);
    t.match((e as Error).message, re, (e as Error).message);
  }
}
