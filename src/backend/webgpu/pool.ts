// Pooling on WebGPU (placeholder until kernels/pool.wgsl lands).
import type { Operand, Pool2dParams } from '../interface.js';
import type { GpuContext } from './context.js';

const todo = (fn: string): never => { throw new Error(`${fn}: not implemented on webgpu yet`); };
export function maxPool2d(_c: GpuContext, _x: Operand, _p: Pool2dParams, _o: Operand, _s: Operand | null): void { todo('maxPool2d'); }
export function maxUnpool2d(_c: GpuContext, _g: Operand, _s: Operand, _o: Operand, _p: Pool2dParams): void { todo('maxUnpool2d'); }
export function gatherSwitches(_c: GpuContext, _x: Operand, _s: Operand, _o: Operand): void { todo('gatherSwitches'); }
export function avgPool2d(_c: GpuContext, _x: Operand, _p: Pool2dParams, _o: Operand): void { todo('avgPool2d'); }
export function avgPool2dBackward(_c: GpuContext, _g: Operand, _p: Pool2dParams, _o: Operand): void { todo('avgPool2dBackward'); }
