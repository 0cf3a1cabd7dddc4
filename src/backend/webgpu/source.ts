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

/**
 * WGSL for "x is NaN" as a bit test: `x != x` may be folded away by compilers that assume floats are never NaN,
 * and WGSL leaves max() / min() with a NaN operand to the implementation (lavapipe returns the number).
 */
export function wgslIsNan(x: string, width: 1 | 4 = 1): string {
  const u = width === 1 ? 'u32' : 'vec4<u32>';
  return `((bitcast<${u}>(${x}) & ${u}(0x7fffffffu)) > ${u}(0x7f800000u))`;
}

/** max(x, 0) that keeps a NaN, as PyTorch's relu and the native backend do; x an f32, or a vec4<f32> with width 4. */
export function wgslRelu(x: string, width: 1 | 4 = 1): string {
  return `select(max(${x}, ${width === 1 ? '0.0' : 'vec4<f32>(0.0)'}), ${x}, ${wgslIsNan(x, width)})`;
}
