// Layout kernels on WebGPU (placeholder until kernels/layout.wgsl lands).
import type { Operand } from '../interface.js';
import type { GpuContext } from './context.js';

const todo = (fn: string): never => { throw new Error(`${fn}: not implemented on webgpu yet`); };
export function copyAxis(_c: GpuContext, _x: Operand, _o: Operand, _outer: number, _n: number, _m: number, _inner: number, _at: number, _slice: boolean): void { todo('copyAxis'); }
export function pad2d(_c: GpuContext, _x: Operand, _p: readonly [number, number, number, number], _v: number, _o: Operand, _crop: boolean): void { todo('pad2d'); }
