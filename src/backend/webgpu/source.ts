// WGSL sources from kernels/, with {{NAME}} placeholders filled by the kernel generators.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const kernelDir = fileURLToPath(new URL('../../../kernels/', import.meta.url));
const sourceCache = new Map<string, string>();

/** Reads kernels/<file> and substitutes {{NAME}} placeholders. */
export function kernelSource(file: string, values: Record<string, string | number> = {}): string {
  let text = sourceCache.get(file);
  if (text === undefined) {
    text = readFileSync(kernelDir + file, 'utf8');
    sourceCache.set(file, text);
  }
  return text.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    if (!(name in values)) throw new Error(`kernelSource(${file}): no value for {{${name}}}`);
    return String(values[name]);
  });
}
