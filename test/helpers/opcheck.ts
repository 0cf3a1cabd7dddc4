// tinygrad's helper_test_op for convis: run an op on a backend, compare the forward with a float64
// reference, and the backward (a random projection of the output as seed) with float64 central finite
// differences of that reference and, when given, the reference's analytic vector-Jacobian product.
// Every case also checks that it leaves no device memory behind.

import type test from 'tape';
import { memory, type Tensor, tensor } from '../../src/index.js';
import { type F64, finiteDifference, relErr, size, uniform } from './numeric.js';

export interface InputSpec {
  shape: number[];
  /** explicit values (default: seeded uniform in [-1, 1)) */
  values?: Float32Array;
  /** differentiate with respect to this input (default true) */
  grad?: boolean;
}

export interface OpCase {
  name: string;
  inputs: InputSpec[];
  run: (xs: Tensor[]) => Tensor;
  /** float64 reference forward */
  ref: (xs: F64[]) => F64;
  /** expected output shape */
  shape: number[];
  /** analytic gradient of Σ ref(xs) ⊙ r with respect to each input (null where not provided) */
  vjp?: (xs: F64[], r: F64) => (F64 | null)[];
  fwdTol?: number;
  gradTol?: number;
  /** skip the backward check (ops without a gradient, e.g. switches) */
  forwardOnly?: boolean;
}

export async function checkOp(t: test.Test, c: OpCase, seed = 1): Promise<void> {
  const before = memory().liveStorages;
  const values = c.inputs.map((s, i) => s.values ?? uniform(s.shape, seed * 101 + i));
  values.forEach((v, i) => {
    if (v.length !== size(c.inputs[i].shape)) throw new Error(`${c.name}: input ${i} has ${v.length} values for ${c.inputs[i].shape}`);
  });
  const wantsGrad = c.inputs.map((s) => !c.forwardOnly && s.grad !== false);
  const xs = values.map((v, i) => tensor(v, c.inputs[i].shape, { requiresGrad: wantsGrad[i] }));
  const x64 = values.map((v) => Float64Array.from(v));
  const y = c.run(xs);
  t.deepEqual([...y.shape], c.shape, `${c.name}: output shape [${c.shape}]`);
  const expected = c.ref(x64.map((v) => v.slice()));
  const got = await y.data();
  const fe = relErr(got, expected);
  t.ok(fe < (c.fwdTol ?? 1e-5), `${c.name}: forward rel err ${fe.toExponential(2)}`);

  if (!c.forwardOnly) {
    const r = Float64Array.from(uniform(c.shape, seed * 7 + 3));
    const seedT = tensor(Float32Array.from(r), c.shape);
    y.backward(seedT);
    seedT.dispose();
    const analytic = c.vjp?.(x64.map((v) => v.slice()), r) ?? [];
    for (let i = 0; i < xs.length; i++) {
      if (!wantsGrad[i]) continue;
      const g = xs[i].grad;
      if (!g) {
        t.fail(`${c.name}: input ${i} got no gradient`);
        continue;
      }
      const gv = await g.data();
      const fd = finiteDifference(c.ref, x64.map((v) => v.slice()), r, i);
      const e = relErr(gv, fd);
      t.ok(e < (c.gradTol ?? 1e-4), `${c.name}: d/dx${i} vs finite differences, rel err ${e.toExponential(2)}`);
      const an = analytic[i];
      if (an) {
        const ea = relErr(gv, an);
        t.ok(ea < (c.gradTol ?? 1e-4), `${c.name}: d/dx${i} vs analytic reference, rel err ${ea.toExponential(2)}`);
      }
    }
  }
  y.dispose();
  for (const x of xs) {
    x.grad?.dispose();
    x.dispose();
  }
  t.equal(memory().liveStorages, before, `${c.name}: no storage left alive`);
}
