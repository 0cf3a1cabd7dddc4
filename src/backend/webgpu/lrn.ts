// Local response normalisation on WebGPU (placeholder until kernels/lrn.wgsl lands).
import type { LrnParams, Operand } from '../interface.js';
import type { GpuContext } from './context.js';

const todo = (fn: string): never => { throw new Error(`${fn}: not implemented on webgpu yet`); };
export function lrn(_c: GpuContext, _x: Operand, _p: LrnParams, _o: Operand): void { todo('lrn'); }
export function lrnBackward(_c: GpuContext, _x: Operand, _y: Operand, _g: Operand, _p: LrnParams, _o: Operand): void { todo('lrnBackward'); }
