// The kernel benchmark's cases: fp32 matmul at square sizes and VGG16's 3x3 convolutions (batch 1, pad 1,
// stride 1), forward and backward-input. Shared by the convis side and the TF.js peer process.

export type CaseKind = 'matmul' | 'conv2d' | 'conv2dBackwardInput';

export interface MatmulDims { M: number; N: number; K: number }
/** NCHW x [N, C, H, W], OIHW w [O, C, 3, 3]; output [N, O, H, W] (same padding) */
export interface ConvDims { N: number; C: number; O: number; H: number; W: number; KH: number; KW: number; pad: number }

export interface BenchCase {
  id: string;
  kind: CaseKind;
  label: string;
  flops: number;
  matmul?: MatmulDims;
  conv?: ConvDims;
}

/** VGG16's distinct conv shapes: input channels -> output channels @ spatial size. */
export const vggShapes: readonly { C: number; O: number; S: number }[] = [
  { C: 3, O: 64, S: 224 },
  { C: 64, O: 64, S: 224 },
  { C: 128, O: 128, S: 112 },
  { C: 256, O: 256, S: 56 },
  { C: 512, O: 512, S: 28 },
  { C: 512, O: 512, S: 14 },
];

export function matmulCase(n: number): BenchCase {
  return { id: `matmul:${n}`, kind: 'matmul', label: `matmul ${n}x${n}x${n}`, flops: 2 * n * n * n, matmul: { M: n, N: n, K: n } };
}

export function convCase(kind: 'conv2d' | 'conv2dBackwardInput', C: number, O: number, S: number): BenchCase {
  const conv: ConvDims = { N: 1, C, O, H: S, W: S, KH: 3, KW: 3, pad: 1 };
  // the same multiply-adds either way: dX is the forward conv's adjoint
  const flops = 2 * conv.N * O * S * S * C * conv.KH * conv.KW;
  const tag = kind === 'conv2d' ? 'conv2d' : 'conv2d dX';
  return { id: `${kind}:${C}-${O}@${S}`, kind, label: `${tag} ${C}->${O} @${S}`, flops, conv };
}

/**
 * `--shapes` tokens: `128` keeps shapes with 128 input channels, `@56` those at 56x56, `64->64@224` (or
 * `64-64@224`) exactly one; `none` keeps nothing.
 */
export function shapeMatches(tokens: readonly string[] | null, s: { C: number; O: number; S: number }): boolean {
  if (tokens === null) return true;
  return tokens.some((raw) => {
    const t = raw.trim().replace('->', '-');
    if (/^\d+$/.test(t)) return Number(t) === s.C;
    if (/^@\d+$/.test(t)) return Number(t.slice(1)) === s.S;
    const m = /^(\d+)-(\d+)@(\d+)$/.exec(t);
    return m !== null && Number(m[1]) === s.C && Number(m[2]) === s.O && Number(m[3]) === s.S;
  });
}

export function checkShapeTokens(tokens: readonly string[]): void {
  for (const raw of tokens) {
    const t = raw.trim().replace('->', '-');
    if (t === 'none') continue;
    if (!/^(\d+|@\d+|\d+-\d+@\d+)$/.test(t)) {
      throw new Error(`--shapes: cannot read ${JSON.stringify(raw)}; use input channels (128), a size (@56) or C->O@S (64->64@224)`);
    }
  }
}

/** Uniform values in [-0.5, 0.5) from a seeded xorshift32 stream, so every run times the same inputs. */
export function randomData(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = s / 4294967296 - 0.5;
  }
  return out;
}
