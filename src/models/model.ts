// Model: a directed acyclic graph of layers in execution order, from one input value to one output value,
// with weights on the host. forward() uploads the weights to the current backend on first use (again after a
// new init()) and runs the layers in order.

import { backend } from '../runtime.js';
import type { Backend } from '../backend/interface.js';
import { tensor } from '../tensor/create.js';
import { keep, type Tensor, tidy } from '../tensor/tensor.js';
import { traceScope } from '../autograd/trace.js';
import { applyLayer, type Layer, layerOutputShape } from './layers.js';

export interface Preprocess {
  mean: number[];
  std: number[];
  channelOrder: 'RGB' | 'BGR';
  scale: 1 | 255;
}

export interface ModelOptions {
  name?: string;
  /** the value names of the graph's input and output (defaults: 'input' and the last layer's output) */
  input?: string;
  output?: string;
  preprocess?: Preprocess;
  /** the source model ended in a Softmax that was cut off (the methods need the unnormalised scores) */
  removedSoftmax?: boolean;
  /** a name per output class, in class-index order (saved as ONNX metadata convis.classNames) */
  classNames?: readonly string[];
}

export interface RunOptions {
  /** also return the values of these layers' outputs (by layer name or index) */
  capture?: readonly (string | number)[];
  /** stop after this layer (by name or index) and return its output as `output` */
  until?: string | number;
  /** training mode: dropout layers drop (default false: they pass their input through) */
  training?: boolean;
  /** training mode's dropout seed (each dropout layer draws from seed + its index); default 0 */
  seed?: number;
  /**
   * run a conv layer and the ReLU layer that alone reads its output as one fused op (default true): the same
   * values and gradients under every ReLU rule, one pass over the activation fewer each way. A captured conv
   * output is never fused away.
   */
  fuse?: boolean;
}

/** A trainable weight: its layer, its name there ('w', 'b', 'gamma', ...) and its device tensor. */
export interface Parameter { layer: string; name: string; tensor: Tensor }

/** Batch-norm running statistics: weights, but not trained by gradient. */
const NOT_TRAINED = new Set(['mean', 'var']);

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

export class Model {
  readonly name: string;
  readonly inputShape: [number, number, number];
  readonly layers: readonly Layer[];
  readonly input: string;
  readonly output: string;
  readonly preprocess?: Preprocess;
  readonly removedSoftmax: boolean;
  /** a name per class when the model has them (as many as the output's classes) */
  readonly classNames?: readonly string[];
  /** output shape for a batch of one */
  readonly outputShape: readonly number[];
  private device: { backend: Backend; params: Map<string, Record<string, Tensor>> } | null = null;
  /** whether the device weights record gradients (see trainable()) */
  private training = false;

  constructor(inputShape: readonly number[], layers: readonly Layer[], opts: ModelOptions = {}) {
    if (!Array.isArray(inputShape) || inputShape.length !== 3 || inputShape.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new Error(`Model: inputShape must be [C, H, W] of positive integers, got ${JSON.stringify(inputShape)}`);
    }
    if (!Array.isArray(layers) || layers.length === 0) throw new Error('Model: layers must be a non-empty array');
    this.name = opts.name ?? 'model';
    this.inputShape = [inputShape[0], inputShape[1], inputShape[2]];
    this.layers = Object.freeze([...layers]);
    this.input = opts.input ?? 'input';
    this.output = opts.output ?? layers[layers.length - 1].output;
    this.preprocess = opts.preprocess;
    this.removedSoftmax = opts.removedSoftmax ?? false;
    this.outputShape = this.checkGraph();
    if (opts.classNames !== undefined) {
      const names = opts.classNames;
      const k = this.outputShape[1];
      if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) throw new Error(`Model ${this.name}: classNames must be an array of strings`);
      if (this.outputShape.length < 2 || names.length !== k) {
        throw new Error(`Model ${this.name}: classNames has ${names.length} names, the output ${fmt(this.outputShape)} has ${k ?? 0} classes`);
      }
      this.classNames = Object.freeze([...names]);
    }
  }

  /** Every layer reads values defined before it; names are unique; shapes agree (batch 1). */
  private checkGraph(): number[] {
    const shapes = new Map<string, number[]>([[this.input, [1, ...this.inputShape]]]);
    const names = new Set<string>();
    for (const layer of this.layers) {
      if (names.has(layer.name)) throw new Error(`Model ${this.name}: two layers are named ${JSON.stringify(layer.name)}`);
      names.add(layer.name);
      const ins = layer.inputs.map((v) => {
        const s = shapes.get(v);
        if (!s) throw new Error(`Model ${this.name}: layer ${layer.name} (${layer.kind}) reads ${JSON.stringify(v)}, which no earlier layer produces`);
        return s;
      });
      if (shapes.has(layer.output)) throw new Error(`Model ${this.name}: value ${JSON.stringify(layer.output)} is produced twice`);
      shapes.set(layer.output, layerOutputShape(layer, ins));
    }
    const out = shapes.get(this.output);
    if (!out) throw new Error(`Model ${this.name}: no layer produces the output ${JSON.stringify(this.output)}`);
    return out;
  }

  /**
   * @internal Every value's shape at batch `n` (the input's and each layer's output's), by value name; throws where a
   * layer's shape does not follow at that batch (a reshape to a fixed batch).
   */
  valueShapes(n: number): Map<string, number[]> {
    const shapes = new Map<string, number[]>([[this.input, [n, ...this.inputShape]]]);
    for (const l of this.layers) shapes.set(l.output, layerOutputShape(l, l.inputs.map((v) => shapes.get(v)!)));
    return shapes;
  }

  /** The layer with this name or index, or an Error listing what exists. */
  layer(which: string | number): Layer {
    const l = typeof which === 'number' ? this.layers[which] : this.layers.find((x) => x.name === which);
    if (!l) {
      throw new Error(`Model ${this.name}: no layer ${JSON.stringify(which)}; layers are 0..${this.layers.length - 1}: ` +
        this.layers.map((x) => x.name).slice(0, 40).join(', '));
    }
    return l;
  }

  /**
   * @internal The layer's weights as device tensors on the current backend, uploaded on first use after each
   * init(); they belong to the model (do not dispose them).
   */
  weights(layer: Layer): Record<string, Tensor> {
    const b = backend();
    if (!this.device || this.device.backend !== b) this.device = { backend: b, params: new Map() };
    let p = this.device.params.get(layer.name);
    if (!p) {
      p = {};
      for (const [k, h] of Object.entries(layer.params)) {
        p[k] = keep(tensor(h.data, [...h.shape]));
        if (this.training && !NOT_TRAINED.has(k)) p[k].requiresGrad = true;
      }
      this.device.params.set(layer.name, p);
    }
    return p;
  }

  /**
   * Turns gradient recording of the weights on (training) or off (the default: the visualisation methods need
   * only the input's gradient, and no weight gradient is computed then).
   */
  trainable(on = true): this {
    if (typeof on !== 'boolean') throw new Error(`${this.name}.trainable: on must be a boolean, got ${String(on)}`);
    this.training = on;
    if (this.device) {
      for (const p of this.device.params.values()) {
        for (const [k, t] of Object.entries(p)) {
          if (NOT_TRAINED.has(k)) continue;
          t.requiresGrad = on;
          if (!on && t.grad) {
            t.grad.dispose();
            t.grad = null;
          }
        }
      }
    }
    return this;
  }

  /**
   * The trainable weights as device tensors on the current backend, in layer order (uploaded if needed); an
   * optimiser updates them in place. Requires trainable().
   */
  parameters(): Parameter[] {
    if (!this.training) throw new Error(`${this.name}.parameters: call trainable() first (weights record no gradients otherwise)`);
    const out: Parameter[] = [];
    for (const layer of this.layers) {
      const p = this.weights(layer);
      for (const [name, t] of Object.entries(p)) if (!NOT_TRAINED.has(name)) out.push({ layer: layer.name, name, tensor: t });
    }
    return out;
  }

  /** Copies the device weights back into the layers' host arrays (after training, before saveOnnx). */
  async syncWeights(): Promise<void> {
    if (!this.device || this.device.backend !== backend()) return;
    for (const layer of this.layers) {
      const p = this.device.params.get(layer.name);
      if (!p) continue;
      for (const [k, t] of Object.entries(p)) layer.params[k].data.set(await t.data());
    }
  }

  /** Releases the device copies of the weights (they are uploaded again by the next forward). */
  releaseWeights(): void {
    if (this.device) {
      for (const p of this.device.params.values()) for (const t of Object.values(p)) if (!t.disposed) t.dispose();
    }
    this.device = null;
  }

  private checkInput(x: Tensor): void {
    if (!x || typeof x !== 'object' || !Array.isArray(x.shape)) throw new Error(`${this.name}.forward: x must be a Tensor`);
    const [C, H, W] = this.inputShape;
    if (x.shape.length !== 4 || x.shape[1] !== C || x.shape[2] !== H || x.shape[3] !== W) {
      throw new Error(`${this.name}.forward: x must be [N, ${C}, ${H}, ${W}], got ${fmt(x.shape)}`);
    }
  }

  private fusable: Set<number> | null = null;

  /** The conv layers whose output only the next layer, a ReLU, reads (and that is not the model's output). */
  private reluFusable(): Set<number> {
    if (this.fusable) return this.fusable;
    const readers = new Map<string, number>();
    for (const l of this.layers) for (const v of l.inputs) readers.set(v, (readers.get(v) ?? 0) + 1);
    const found = new Set<number>();
    this.layers.forEach((l, i) => {
      const next = this.layers[i + 1];
      if (l.kind === 'conv' && next?.kind === 'relu' && next.inputs.length === 1 && next.inputs[0] === l.output &&
          readers.get(l.output) === 1 && l.output !== this.output) found.add(i);
    });
    this.fusable = found;
    return found;
  }

  /** Unnormalised class scores S_c for a batch [N, C, H, W]. */
  forward(x: Tensor): Tensor {
    return this.run(x).output;
  }

  /** forward, optionally stopping early and returning intermediate values (for the visualisation methods). */
  run(x: Tensor, opts: RunOptions = {}): { output: Tensor; captured: Record<string, Tensor> } {
    this.checkInput(x);
    const wanted = new Set((opts.capture ?? []).map((c) => this.layer(c).name));
    const last = opts.until === undefined ? this.layers.length - 1 : this.layers.indexOf(this.layer(opts.until));
    const training = opts.training ?? false;
    if (typeof training !== 'boolean') throw new Error(`${this.name}.run: training must be a boolean, got ${String(training)}`);
    const fuse = opts.fuse ?? true;
    if (typeof fuse !== 'boolean') throw new Error(`${this.name}.run: fuse must be a boolean, got ${String(fuse)}`);
    const seed = opts.seed ?? 0;
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff - this.layers.length) {
      throw new Error(`${this.name}.run: seed must be an integer from 0 to ${0xffffffff - this.layers.length}, got ${String(seed)}`);
    }
    return tidy(() => {
      const values = new Map<string, Tensor>([[this.input, x]]);
      const captured: Record<string, Tensor> = {};
      const fusable = fuse ? this.reluFusable() : new Set<number>();
      const outer = traceScope.layer;
      try {
        for (let i = 0; i <= last; i++) {
          const layer = this.layers[i];
          const mode = training ? { training: true, seed: seed + i } : undefined;
          // a profiler charges the dispatches to this layer (a fused ReLU's to its conv)
          traceScope.layer = layer.name;
          if (fusable.has(i) && i + 1 <= last && !wanted.has(layer.name)) {
            const relu = this.layers[i + 1];
            const y = applyLayer(layer, layer.inputs.map((v) => values.get(v)!), this.weights(layer), mode, true);
            values.set(relu.output, y);
            if (wanted.has(relu.name)) captured[relu.name] = y;
            i++;
            continue;
          }
          const y = applyLayer(layer, layer.inputs.map((v) => values.get(v)!), this.weights(layer), mode);
          values.set(layer.output, y);
          if (wanted.has(layer.name)) captured[layer.name] = y;
        }
      } finally {
        traceScope.layer = outer;
      }
      const output = values.get(opts.until === undefined ? this.output : this.layers[last].output)!;
      return { output, captured };
    });
  }
}
