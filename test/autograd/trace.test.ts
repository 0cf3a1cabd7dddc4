// traceScope: Model.run names each layer around its ops, the tape's nodes keep the layer that recorded them, and
// backward names the node's layer with the backward flag while it runs the node's backward function; the scope is
// restored afterwards, also when backward throws. On WebGPU, every dispatch of a saliency call is seen with the layer
// and pass it belongs to: forward dispatches in layer order, backward ones in reverse order.

import { nn, ops, saliency, type Tensor, tensor, tidy } from '../../src/index.js';
import { GraphNode, record } from '../../src/autograd/graph.js';
import { traceScope } from '../../src/autograd/trace.js';
import { onEachBackend } from '../helpers/backends.js';
import { convContext } from '../helpers/webgpu.js';

function small() {
  return nn.sequential(
    nn.conv2d(3, 6, 3, { padding: 1, name: 'c1' }), nn.relu({ name: 'r1' }), nn.maxPool2d({ kernel: 2, name: 'p1' }),
    nn.conv2d(6, 4, 3, { padding: 1, name: 'c2' }), nn.relu({ name: 'r2' }), nn.flatten(1, { name: 'flat' }),
    nn.linear(4 * 4 * 4, 5, { name: 'fc' }),
    { inputShape: [3, 8, 8], seed: 3, name: 'small' },
  );
}

const image = () => tensor(Float32Array.from({ length: 3 * 8 * 8 }, (_, i) => ((i * 37) % 255) / 255), [1, 3, 8, 8]);

/** Every node reachable from `node` with the layer it was recorded under. */
function nodeLayers(node: GraphNode | null): { op: string; layer: string | null }[] {
  const out: { op: string; layer: string | null }[] = [];
  const seen = new Set<GraphNode>();
  const stack = node ? [node] : [];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    out.push({ op: n.op, layer: n.layer });
    for (const e of n.edges) if (e instanceof GraphNode) stack.push(e);
  }
  return out;
}

await onEachBackend('trace', [
  ['Model.run records each node under its layer, and restores the scope', async (t) => {
    const m = small();
    const x = image();
    x.requiresGrad = true;
    t.equal(traceScope.layer, null, 'no layer before');
    const y = m.forward(x);
    t.equal(traceScope.layer, null, 'no layer after');
    const layers = new Set(nodeLayers(y.node).map((n) => n.layer));
    // r1 and r2 are fused into c1 and c2; flatten is a view with a node of its own
    for (const name of ['c1', 'p1', 'c2', 'fc']) t.ok(layers.has(name), `a node recorded under ${name}`);
    t.notOk(layers.has('r1'), 'the fused ReLU records no node of its own');
    t.notOk(layers.has(null), 'every node of the model belongs to a layer');
    const unfused = m.run(x, { fuse: false }).output;
    t.ok(new Set(nodeLayers(unfused.node).map((n) => n.layer)).has('r1'), 'unfused, the ReLU records its own node');
    // a layer that throws part way: the scope goes back to what it was before the call
    const failing = small();
    const weights = failing.weights.bind(failing);
    (failing as unknown as { weights: typeof weights }).weights = (l) => {
      if (l.name === 'c2') throw new Error('no weights for c2');
      return weights(l);
    };
    traceScope.layer = 'outer';
    t.throws(() => failing.forward(x), /no weights for c2/, 'the layer throws');
    t.equal(traceScope.layer, 'outer', 'the outer layer is back after a layer threw');
    traceScope.layer = null;
    y.dispose();
    unfused.dispose();
    x.dispose();
  }],
  ['backward names the node\'s layer and the backward pass, and restores the scope', async (t) => {
    const x = tensor([1, 2, 3], [3], { requiresGrad: true });
    const seen: { layer: string | null; backward: boolean }[] = [];
    const probe = (v: Tensor) => record('probe', v.share(), [v], [], (g) => {
      seen.push({ layer: traceScope.layer, backward: traceScope.backward });
      return [g.share()];
    });
    tidy(() => {
      traceScope.layer = 'inner';
      let v: Tensor;
      try {
        v = probe(ops.mul(x, x));
      } finally {
        traceScope.layer = null;
      }
      ops.sum(probe(v)).backward();
    });
    t.deepEqual(seen, [{ layer: null, backward: true }, { layer: 'inner', backward: true }], 'the outer probe first, then the one recorded under "inner"');
    t.deepEqual({ ...traceScope }, { layer: null, backward: false }, 'restored after backward');
    const y = tidy(() => ops.sum(ops.mul(x, x)));
    y.backward();
    traceScope.layer = 'outer';
    t.throws(() => y.backward(), /already used by a backward pass and freed/, 'a second backward through a freed graph throws');
    t.deepEqual({ ...traceScope }, { layer: 'outer', backward: false }, 'restored after a backward that threw');
    traceScope.layer = null;
    y.dispose();
    x.grad?.dispose();
    x.dispose();
  }],
  ['on WebGPU each dispatch of a saliency call is seen with its layer and pass', async (t, backend) => {
    const ctx = convContext();
    if (backend !== 'webgpu' || !ctx) {
      t.pass('dispatches are a WebGPU notion; the cpu backend has none to charge');
      return;
    }
    const m = small();
    const x = image();
    const seen: { label: string; layer: string | null; backward: boolean }[] = [];
    ctx.timestampWrites = (label) => { seen.push({ label, layer: traceScope.layer, backward: traceScope.backward }); return undefined; };
    try {
      await saliency(m, x, { target: 2 });
    } finally {
      ctx.timestampWrites = null;
    }
    const index = new Map(m.layers.map((l, i) => [l.name, i]));
    const inLayers = seen.filter((s) => s.layer !== null);
    t.ok(inLayers.every((s) => index.has(s.layer!)), 'every charged layer is one of the model\'s');
    const fwd = inLayers.filter((s) => !s.backward).map((s) => index.get(s.layer!)!);
    const bwd = inLayers.filter((s) => s.backward).map((s) => index.get(s.layer!)!);
    t.ok(fwd.every((v, i) => i === 0 || v >= fwd[i - 1]), `forward dispatches in layer order: ${fwd.join(',')}`);
    t.ok(bwd.every((v, i) => i === 0 || v <= bwd[i - 1]), `backward dispatches in reverse layer order: ${bwd.join(',')}`);
    const firstBackward = seen.findIndex((s) => s.backward);
    t.ok(firstBackward > 0 && seen.slice(firstBackward).every((s) => s.backward || s.layer === null), 'no forward dispatch of a layer after the backward pass began');
    for (const name of ['c1', 'c2', 'fc']) {
      t.ok(seen.some((s) => s.layer === name && !s.backward), `${name}: forward dispatches`);
      t.ok(seen.some((s) => s.layer === name && s.backward), `${name}: backward dispatches`);
    }
    t.notOk(seen.some((s) => s.layer === 'r1' || s.layer === 'r2'), 'the fused ReLUs have no dispatches of their own');
    t.deepEqual({ ...traceScope }, { layer: null, backward: false }, 'restored after the call');
    x.dispose();
  }],
]);
