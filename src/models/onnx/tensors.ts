// ONNX TensorProto decoding for the importer: raw_data (little-endian), the typed repeated fields (float_data,
// int32_data, int64_data, double_data, uint64_data), float16 / bfloat16 bit patterns, and external data files.
// Values are held as a Const: float types as Float32Array, integer and bool types as Float64Array (int64 beyond
// 2^53 loses precision, which only matters for the "to the end" sentinels of Slice, where it does not matter).

import { open, realpath } from 'node:fs/promises';
import { endianness } from 'node:os';
import * as path from 'node:path';

/** A constant (initializer, Constant node, or a folded value). */
export interface Const {
  readonly shape: number[];
  readonly data: Float32Array | Float64Array;
  /** float element type (Float32Array data) or an integer/bool type (Float64Array data) */
  readonly isFloat: boolean;
  /**
   * Elements that stand for the model's batch size (from Shape of a batch-carrying value; their value in `data`
   * is the static batch of 1). Carried through element moves (Gather, Concat, Slice, ...), dropped by arithmetic.
   */
  readonly batch?: readonly boolean[];
}

/** The ONNX TensorProto.DataType numbers used here. */
export const DT = {
  FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9,
  FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15, BFLOAT16: 16,
} as const;

const DT_NAMES: Record<number, string> = Object.fromEntries(Object.entries(DT).map(([k, v]) => [v, k.toLowerCase()]));

export const dtypeName = (t: number): string => DT_NAMES[t] ?? `data type ${t}`;

const BYTES: Record<number, number> = {
  [DT.FLOAT]: 4, [DT.UINT8]: 1, [DT.INT8]: 1, [DT.UINT16]: 2, [DT.INT16]: 2, [DT.INT32]: 4, [DT.INT64]: 8,
  [DT.BOOL]: 1, [DT.FLOAT16]: 2, [DT.DOUBLE]: 8, [DT.UINT32]: 4, [DT.UINT64]: 8, [DT.BFLOAT16]: 2,
};

export const isFloatType = (t: number): boolean =>
  t === DT.FLOAT || t === DT.FLOAT16 || t === DT.DOUBLE || t === DT.BFLOAT16;

/** The largest constant the importer builds (elements); guards against absurd dims in a damaged file. */
export const MAX_ELEMENTS = 2 ** 31 - 1;

export const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

type LongLike = number | { toNumber(): number } | { low: number; high: number; unsigned?: boolean } | null | undefined;

/** protobufjs gives int64 fields as Long objects (when the long package is present) or as numbers. */
export function toNum(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && v.trim() !== '') return Number(v);
  if (v && typeof v === 'object') {
    const l = v as Exclude<LongLike, number | null | undefined>;
    if ('toNumber' in l && typeof l.toNumber === 'function') return l.toNumber();
    if ('low' in l && typeof l.low === 'number' && typeof l.high === 'number') {
      return l.unsigned ? (l.high >>> 0) * 4294967296 + (l.low >>> 0) : l.high * 4294967296 + (l.low >>> 0);
    }
  }
  return NaN;
}

/** Number of elements of a shape, or an Error (negative, fractional or absurd dims). */
export function elementCount(dims: readonly number[], where: string): number {
  let n = 1;
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${where}: dims ${fmt(dims)} are not valid`);
    n *= d;
  }
  if (n > MAX_ELEMENTS) throw new Error(`${where}: dims ${fmt(dims)} hold ${n} elements, more than this importer accepts`);
  return n;
}

/** IEEE half-precision bits to a number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bfloat16ToFloat(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

const littleEndianHost = endianness() === 'LE';

/** Decodes little-endian bytes of element type `dt` into n values. */
function decodeRaw(raw: Uint8Array, dt: number, n: number): Float32Array | Float64Array {
  if (dt === DT.FLOAT && littleEndianHost) {
    const copy = new Uint8Array(n * 4);
    copy.set(raw.subarray(0, n * 4));
    return new Float32Array(copy.buffer);
  }
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = isFloatType(dt) ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) {
    switch (dt) {
      case DT.FLOAT: out[i] = v.getFloat32(i * 4, true); break;
      case DT.DOUBLE: out[i] = v.getFloat64(i * 8, true); break;
      case DT.FLOAT16: out[i] = halfToFloat(v.getUint16(i * 2, true)); break;
      case DT.BFLOAT16: out[i] = bfloat16ToFloat(v.getUint16(i * 2, true)); break;
      case DT.UINT8: out[i] = v.getUint8(i); break;
      case DT.INT8: out[i] = v.getInt8(i); break;
      case DT.BOOL: out[i] = v.getUint8(i) ? 1 : 0; break;
      case DT.UINT16: out[i] = v.getUint16(i * 2, true); break;
      case DT.INT16: out[i] = v.getInt16(i * 2, true); break;
      case DT.INT32: out[i] = v.getInt32(i * 4, true); break;
      case DT.UINT32: out[i] = v.getUint32(i * 4, true); break;
      case DT.INT64: out[i] = Number(v.getBigInt64(i * 8, true)); break;
      case DT.UINT64: out[i] = Number(v.getBigUint64(i * 8, true)); break;
      default: throw new Error(`unsupported ${dtypeName(dt)}`);
    }
  }
  return out;
}

/** The subset of onnx.ITensorProto the importer reads. */
export interface TensorProtoLike {
  name?: string | null;
  dims?: unknown[] | null;
  dataType?: number | null;
  rawData?: Uint8Array | null;
  floatData?: number[] | null;
  int32Data?: number[] | null;
  int64Data?: unknown[] | null;
  doubleData?: number[] | null;
  uint64Data?: unknown[] | null;
  dataLocation?: number | null;
  externalData?: { key?: string | null; value?: string | null }[] | null;
}

export const isExternal = (t: TensorProtoLike): boolean => t.dataLocation === 1;

/**
 * Decodes a TensorProto to a Const. `external` holds the bytes read from its external data file, if any.
 * Every failure is an Error that starts with `where`.
 */
export function decodeTensor(t: TensorProtoLike, where: string, external?: Uint8Array): Const {
  if (!t || typeof t !== 'object') throw new Error(`${where}: not a tensor`);
  const dims = (Array.isArray(t.dims) ? t.dims : []).map(toNum);
  const n = elementCount(dims, where);
  const dt = typeof t.dataType === 'number' ? t.dataType : 0;
  if (dt === DT.STRING || dt === DT.COMPLEX64 || dt === DT.COMPLEX128 || !(dt in BYTES)) {
    throw new Error(`${where}: element type ${dtypeName(dt)} is not supported (float, float16, bfloat16, double and integer types are)`);
  }
  const isFloat = isFloatType(dt);
  const shape = dims;
  const raw = external ?? (t.rawData && t.rawData.length > 0 ? t.rawData : null);
  if (raw) {
    const want = n * BYTES[dt];
    if (raw.length !== want) {
      throw new Error(`${where}: ${external ? 'external' : 'raw'} data holds ${raw.length} bytes, but ${dtypeName(dt)} ${fmt(dims)} needs ${want}`);
    }
    return { shape, data: decodeRaw(raw, dt, n), isFloat };
  }
  if (isExternal(t)) throw new Error(`${where}: its data is external but was not read`);
  let src: ArrayLike<unknown>;
  let field: string;
  switch (dt) {
    case DT.FLOAT: src = t.floatData ?? []; field = 'float_data'; break;
    case DT.DOUBLE: src = t.doubleData ?? []; field = 'double_data'; break;
    case DT.INT64: src = t.int64Data ?? []; field = 'int64_data'; break;
    case DT.UINT32: case DT.UINT64: src = t.uint64Data ?? []; field = 'uint64_data'; break;
    default: src = t.int32Data ?? []; field = 'int32_data'; break;
  }
  if (src.length !== n) {
    throw new Error(`${where}: ${dtypeName(dt)} ${fmt(dims)} needs ${n} values, but ${src.length === 0 ? 'it has no data' : `${field} holds ${src.length}`}`);
  }
  const out = isFloat ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = toNum(src[i]);
    if (dt === DT.FLOAT16) out[i] = halfToFloat(v & 0xffff);
    else if (dt === DT.BFLOAT16) out[i] = bfloat16ToFloat(v);
    else if (dt === DT.BOOL) out[i] = v ? 1 : 0;
    else out[i] = v;
  }
  return { shape, data: out, isFloat };
}

/**
 * Reads the bytes of a tensor stored outside the model (data_location EXTERNAL): external_data entries
 * location (relative to the model file's directory, which it may not leave), offset and length.
 */
export async function readExternal(t: TensorProtoLike, baseDir: string | null, where: string): Promise<Uint8Array> {
  const entries = new Map<string, string>();
  for (const e of t.externalData ?? []) if (e && typeof e.key === 'string') entries.set(e.key, String(e.value ?? ''));
  const location = entries.get('location');
  if (!location) throw new Error(`${where}: its data is external but external_data has no location`);
  if (baseDir === null) {
    throw new Error(`${where}: its data is in the external file ${JSON.stringify(location)}, which needs the model to be loaded from a file path, not from bytes`);
  }
  const escapes = (base: string, p: string) => {
    const rel = path.relative(base, p);
    return rel === '' || rel.startsWith('..') || path.isAbsolute(rel);
  };
  const full = path.resolve(baseDir, location);
  if (path.isAbsolute(location) || location.includes('\0') || escapes(path.resolve(baseDir), full)) {
    throw new Error(`${where}: external data location ${JSON.stringify(location)} is not a file inside the model's directory`);
  }
  let real: string;
  try {
    real = await realpath(full);
  } catch (e) {
    throw new Error(`${where}: cannot read external data file ${JSON.stringify(location)}: ${(e as Error).message}`);
  }
  if (escapes(await realpath(baseDir), real)) {
    throw new Error(`${where}: external data location ${JSON.stringify(location)} leads outside the model's directory`);
  }
  const int = (key: string): number | undefined => {
    const s = entries.get(key);
    if (s === undefined) return undefined;
    const v = Number(s);
    if (!/^\s*\d+\s*$/.test(s) || !Number.isSafeInteger(v)) throw new Error(`${where}: external data ${key} ${JSON.stringify(s)} is not a non-negative integer`);
    return v;
  };
  const offset = int('offset') ?? 0;
  const length = int('length');
  const fh = await open(real, 'r').catch((e: Error) => {
    throw new Error(`${where}: cannot open external data file ${JSON.stringify(location)}: ${e.message}`);
  });
  try {
    const size = (await fh.stat()).size;
    const len = length ?? Math.max(0, size - offset);
    if (offset + len > size) {
      throw new Error(`${where}: external data ${JSON.stringify(location)} offset ${offset} length ${len} runs past the end of the file (${size} bytes)`);
    }
    if (len > MAX_ELEMENTS * 8) throw new Error(`${where}: external data of ${len} bytes is too large`);
    const buf = new Uint8Array(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await fh.read(buf, got, len - got, offset + got);
      if (bytesRead === 0) throw new Error(`${where}: external data ${JSON.stringify(location)} ended early`);
      got += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}
