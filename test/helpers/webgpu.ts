// Pinning the WebGPU backend's convolution algorithm for a test body, with every dispatch's label recorded.

import { backend } from '../../src/runtime.js';

/** An algorithm, or F(4x4) with its GEMM on a named tile (the tuner's candidates 'winograd4:<tile>'). */
export type Algorithm = 'direct' | 'winograd' | 'winograd4' | 'subgroup' | 'winograd4:large' | 'winograd4:medium';
type ConvCtx = {
  convAlgorithm: Algorithm | null; subgroupSize: number | null; narrowTiled: boolean | null;
  timestampWrites: ((label: string) => undefined) | null;
};

/** The open backend's WebGPU context, or null on the cpu backend. */
export function convContext(): ConvCtx | null {
  return (backend() as unknown as { ctx?: ConvCtx }).ctx ?? null;
}

/** The settings a test may force on the WebGPU context for its body. */
type Pinned = Partial<Pick<ConvCtx, 'convAlgorithm' | 'narrowTiled'>>;

/**
 * Runs `body` with the `pinned` context settings and the dispatch labels collected into its argument, then puts
 * the settings back to the backend's own choice (null); null, without running it, on the cpu backend.
 */
async function withPinned<T>(pinned: Pinned, body: (labels: string[]) => Promise<T>): Promise<T | null> {
  const ctx = convContext();
  if (!ctx) return null;
  const labels: string[] = [];
  Object.assign(ctx, pinned);
  ctx.timestampWrites = (label) => { labels.push(label); return undefined; };
  try {
    return await body(labels);
  } finally {
    for (const k of Object.keys(pinned) as (keyof Pinned)[]) ctx[k] = null;
    ctx.timestampWrites = null;
  }
}

/** withPinned with convolutions pinned to `alg` where it applies. */
export const withAlgorithm = <T>(alg: Algorithm, body: (labels: string[]) => Promise<T>) => withPinned({ convAlgorithm: alg }, body);

/** withPinned with the tiled narrow backward-input kernel forced on or off. */
export const withNarrowTiled = <T>(on: boolean, body: (labels: string[]) => Promise<T>) => withPinned({ narrowTiled: on }, body);
