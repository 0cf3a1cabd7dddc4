// The Boykov–Kolmogorov max-flow (native/src/maxflow.cc) through its wrappers (src/localise/maxflow.ts):
// a hand-solved graph, random graphs and grids against a plain Edmonds–Karp written here, degenerate cases,
// the argument checks (C++ and TypeScript), and a timing line for a 224x224 GrabCut-like grid (not asserted).

import test from 'tape';
import { loadNative } from '../../src/backend/cpu/native.js';
import { GRID_DIRECTIONS, maxflowGraph, maxflowGrid, type MaxflowAddon } from '../../src/localise/maxflow.js';

let native: MaxflowAddon | null = null;
try {
  native = loadNative() as unknown as MaxflowAddon;
} catch (e) {
  test('maxflow: native addon built', (t) => {
    t.fail(`the native addon does not load: ${(e as Error).message}`);
    t.end();
  });
}

// ---- references ----

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Graph {
  n: number;
  edges: number[];  // pairs
  fwd: number[];
  bwd: number[];
  source: number[];
  sink: number[];
}

/**
 * Edmonds–Karp on an adjacency matrix with a super source s = n and sink t = n + 1: the maximum flow and the
 * nodes reachable from s in the final residual graph (residuals above eps count as open).
 */
function edmondsKarp(g: Graph, eps = 0): { flow: number; reach: Uint8Array } {
  const N = g.n + 2, s = g.n, t = g.n + 1;
  const r = new Float64Array(N * N);
  for (let k = 0; k < g.fwd.length; k++) {
    const u = g.edges[2 * k], v = g.edges[2 * k + 1];
    r[u * N + v] += g.fwd[k];
    r[v * N + u] += g.bwd[k];
  }
  for (let i = 0; i < g.n; i++) {
    r[s * N + i] += g.source[i];
    r[i * N + t] += g.sink[i];
  }
  const prev = new Int32Array(N);
  const bfs = (): boolean => {
    prev.fill(-1);
    prev[s] = s;
    const queue = [s];
    for (let h = 0; h < queue.length; h++) {
      const u = queue[h];
      for (let v = 0; v < N; v++) {
        if (prev[v] < 0 && r[u * N + v] > eps) {
          prev[v] = u;
          queue.push(v);
        }
      }
    }
    return prev[t] >= 0;
  };
  let flow = 0;
  while (bfs()) {
    let b = Infinity;
    for (let v = t; v !== s; v = prev[v]) b = Math.min(b, r[prev[v] * N + v]);
    for (let v = t; v !== s; v = prev[v]) {
      r[prev[v] * N + v] -= b;
      r[v * N + prev[v]] += b;
    }
    flow += b;
  }
  const reach = new Uint8Array(g.n);
  for (let i = 0; i < g.n; i++) reach[i] = prev[i] >= 0 ? 1 : 0;
  return { flow, reach };
}

/** The capacity of the s-t cut that `side` defines: every arc from side 1 (with s) to side 0 (with t). */
function cutCapacity(g: Graph, side: Uint8Array): number {
  let c = 0;
  for (let i = 0; i < g.n; i++) c += side[i] ? g.sink[i] : g.source[i];
  for (let k = 0; k < g.fwd.length; k++) {
    const u = g.edges[2 * k], v = g.edges[2 * k + 1];
    if (side[u] && !side[v]) c += g.fwd[k];
    if (side[v] && !side[u]) c += g.bwd[k];
  }
  return c;
}

function randomGraph(rand: () => number, integer: boolean): Graph {
  const n = 2 + Math.floor(rand() * 59);
  const cap = (zeroOdds: number) => (rand() < zeroOdds ? 0 : integer ? 1 + Math.floor(rand() * 20) : rand() * 10);
  const m = Math.floor(rand() * 3 * n);
  const g: Graph = { n, edges: [], fwd: [], bwd: [], source: [], sink: [] };
  for (let k = 0; k < m; k++) {
    const u = Math.floor(rand() * n);
    let v = Math.floor(rand() * (n - 1));
    if (v >= u) v++;
    g.edges.push(u, v);
    g.fwd.push(cap(0.2));
    g.bwd.push(cap(0.4));
  }
  for (let i = 0; i < n; i++) {
    g.source.push(cap(0.6));
    g.sink.push(cap(0.6));
  }
  return g;
}

/** The explicit graph of a grid: one edge per in-image forward neighbour, the same capacity both ways. */
function gridGraph(W: number, H: number, conn: 4 | 8, source: Float64Array, sink: Float64Array, pairwise: Float64Array): Graph {
  const g: Graph = { n: W * H, edges: [], fwd: [], bwd: [], source: Array.from(source), sink: Array.from(sink) };
  GRID_DIRECTIONS[conn].forEach(([dx, dy], d) => {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const nx = x + dx, ny = y + dy;
        if (nx < 0 || nx >= W || ny < 0 || ny >= H) continue;
        const c = pairwise[d * W * H + y * W + x];
        g.edges.push(y * W + x, ny * W + nx);
        g.fwd.push(c);
        g.bwd.push(c);
      }
    }
  });
  return g;
}

function solveGraph(g: Graph) {
  return maxflowGraph(g.n, Int32Array.from(g.edges), g.fwd, g.bwd, g.source, g.sink);
}

const close = (a: number, b: number, rel = 1e-9) => Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b));

if (native) {
  const n = native;

  test('maxflow: the hand-solved two-node graph', (t) => {
    // s->0: 2, 0->t: 5, s->1: 9, 1->t: 4, 0->1: 1, 1->0: 2. Direct flow 2 + 4; then s->1->0->t carries 2 more
    // (1->0 saturates), leaving 1 reachable from s and 0 not: the cut {s, 1} | {0, t} = 2 + 4 + 2 = 8.
    const r = maxflowGraph(2, [0, 1], [1], [2], [2, 9], [5, 4]);
    t.equal(r.flow, 8, 'flow 8');
    t.deepEqual(Array.from(r.side), [0, 1], 'node 0 on the sink side, node 1 on the source side');
    t.ok(r.side instanceof Uint8Array, 'side is a Uint8Array');
    // the same edge given the other way round
    const b = maxflowGraph(2, new Int32Array([1, 0]), new Float64Array([2]), new Float32Array([1]), [2, 9], [5, 4]);
    t.equal(b.flow, 8, 'flow 8 with the edge reversed');
    t.deepEqual(Array.from(b.side), [0, 1], 'the same cut with the edge reversed');
    t.end();
  });

  test('maxflow: random graphs against Edmonds–Karp', (t) => {
    const rand = mulberry32(20131220);
    let flowOk = 0, cutOk = 0, sideOk = 0, runs = 0;
    for (let trial = 0; trial < 200; trial++) {
      const integer = trial % 2 === 0;
      const g = randomGraph(rand, integer);
      const r = solveGraph(g);
      const ek = edmondsKarp(g, integer ? 0 : 1e-12);
      runs++;
      if (close(r.flow, ek.flow)) flowOk++;
      else t.fail(`trial ${trial} (${g.n} nodes, ${g.fwd.length} edges): flow ${r.flow}, Edmonds–Karp ${ek.flow}`);
      if (close(cutCapacity(g, r.side), r.flow)) cutOk++;
      else t.fail(`trial ${trial}: the cut from side has capacity ${cutCapacity(g, r.side)}, the flow is ${r.flow}`);
      // with integer capacities every sum is exact: the source side must be the residual reachable set
      if (integer) {
        if (r.side.every((v, i) => v === ek.reach[i])) sideOk++;
        else t.fail(`trial ${trial}: side differs from the nodes reachable from s in Edmonds–Karp's residual graph`);
      }
    }
    t.equal(flowOk, runs, `${runs} random graphs: flow equals Edmonds–Karp's to 1e-9`);
    t.equal(cutOk, runs, `${runs} random graphs: the cut given by side has the flow's capacity`);
    t.equal(sideOk, runs / 2, `${runs / 2} integer graphs: side is exactly the set reachable from s`);
    t.end();
  });

  test('maxflow: grids (4 and 8 connected) against Edmonds–Karp on the explicit graph', (t) => {
    const rand = mulberry32(7);
    let ok = 0, runs = 0;
    const sizes: [number, number][] = [[7, 5], [5, 7], [1, 6], [6, 1], [2, 2], [8, 8], [3, 9]];
    for (const conn of [4, 8] as const) {
      for (const [W, H] of sizes) {
        for (let rep = 0; rep < 3; rep++) {
          const N = W * H, planes = conn / 2;
          const cap = (zero: number, scale: number) => (rand() < zero ? 0 : rand() * scale);
          const source = Float64Array.from({ length: N }, () => cap(0.5, 6));
          const sink = Float64Array.from({ length: N }, () => cap(0.5, 6));
          const pairwise = Float64Array.from({ length: planes * N }, () => cap(0.2, 3));
          const r = maxflowGrid(W, H, conn, source, sink, pairwise);
          const g = gridGraph(W, H, conn, source, sink, pairwise);
          const ek = edmondsKarp(g, 1e-12);
          const viaGraph = solveGraph(g);
          runs++;
          const good = close(r.flow, ek.flow) && close(cutCapacity(g, r.side), r.flow) && close(viaGraph.flow, r.flow);
          if (good) ok++;
          else {
            t.fail(`${W}x${H} connectivity ${conn}: grid flow ${r.flow}, graph flow ${viaGraph.flow}, Edmonds–Karp ${ek.flow}, ` +
              `cut ${cutCapacity(g, r.side)}`);
          }
        }
      }
    }
    t.equal(ok, runs, `${runs} grids: flow equals Edmonds–Karp's and maxflowGraph's, and side's cut has that capacity`);

    // the pairwise entries that point outside the image are ignored
    const W = 4, H = 3, N = W * H;
    const source = Float64Array.from({ length: N }, (_, i) => (i % 3) * 2);
    const sink = Float64Array.from({ length: N }, (_, i) => ((i + 1) % 4) * 1.5);
    const pairwise = Float64Array.from({ length: 4 * N }, (_, i) => 1 + (i % 5));
    const base = maxflowGrid(W, H, 8, source, sink, pairwise);
    const outside = pairwise.slice();
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        GRID_DIRECTIONS[8].forEach(([dx, dy], d) => {
          const nx = x + dx, ny = y + dy;
          if (nx < 0 || nx >= W || ny < 0 || ny >= H) outside[d * N + y * W + x] = 1e9;
        });
      }
    }
    const other = maxflowGrid(W, H, 8, source, sink, outside);
    t.equal(other.flow, base.flow, 'capacities pointing outside the image do not change the flow');
    t.deepEqual(Array.from(other.side), Array.from(base.side), '... nor the cut');
    t.end();
  });

  test('maxflow: degenerate cases', (t) => {
    let r = maxflowGrid(1, 1, 4, [3], [2], [0, 0]);
    t.equal(r.flow, 2, '1x1 grid: flow min(source, sink)');
    t.deepEqual(Array.from(r.side), [1], '1x1 grid: source > sink is the source side');
    r = maxflowGrid(1, 1, 8, [2], [3], [5, 5, 5, 5]);
    t.deepEqual([r.flow, r.side[0]], [2, 0], '1x1 grid: sink > source is the sink side');
    r = maxflowGrid(1, 1, 4, [4], [4], [0, 0]);
    t.deepEqual([r.flow, r.side[0]], [4, 0], '1x1 grid: a tie goes to the sink side');

    r = maxflowGrid(5, 4, 8, new Float64Array(20), new Float64Array(20), new Float64Array(80));
    t.equal(r.flow, 0, 'all-zero grid: flow 0');
    t.ok(r.side.every((v) => v === 0), 'all-zero grid: every pixel on the sink side');
    r = maxflowGraph(4, [0, 1, 1, 2, 2, 3], [0, 0, 0], [0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]);
    t.deepEqual([r.flow, Array.from(r.side)], [0, [0, 0, 0, 0]], 'all-zero graph: flow 0, all on the sink side');
    r = maxflowGraph(0, [], [], [], [], []);
    t.deepEqual([r.flow, r.side.length], [0, 0], 'a graph of no nodes');
    r = maxflowGraph(3, [], [], [], [1, 0, 0], [0, 1, 0]);
    t.deepEqual([r.flow, Array.from(r.side)], [0, [1, 0, 0]], 'no edges: terminal-only nodes, an isolated node on the sink side');

    // node 0 has only source capacity; it reaches 1 but nothing reaches the sink node 2
    r = maxflowGraph(3, [0, 1, 1, 2], [3, 0], [0, 2], [5, 0, 0], [0, 0, 4]);
    t.equal(r.flow, 0, 'a node with only source capacity and no path to t: flow 0');
    t.deepEqual(Array.from(r.side), [1, 1, 0], '... it and what it reaches are the source side');
    r = maxflowGraph(3, [0, 1, 1, 2], [3, 1.5], [0, 2], [5, 0, 0], [0, 0, 4]);
    t.equal(r.flow, 1.5, 'the same with a path: the bottleneck flows');
    t.deepEqual(Array.from(r.side), [1, 1, 0], '... cut at the bottleneck');

    // two components that share nothing: the flows add up and the cuts are independent
    const a = maxflowGraph(2, [0, 1], [1], [2], [2, 9], [5, 4]);
    const b = maxflowGraph(3, [0, 1, 1, 2], [3, 1.5], [0, 2], [5, 0, 0], [0, 0, 4]);
    r = maxflowGraph(5, [0, 1, 2, 3, 3, 4], [1, 3, 1.5], [2, 0, 2], [2, 9, 5, 0, 0], [5, 4, 0, 0, 4]);
    t.equal(r.flow, a.flow + b.flow, 'disconnected components: the flows add');
    t.deepEqual(Array.from(r.side), [...a.side, ...b.side], 'disconnected components: each keeps its own cut');

    // hard constraints: seeds tied to their terminal by 1e12, everything else weak
    const W = 9, H = 6, N = W * H, K = 1e12;
    const source = new Float64Array(N).fill(0.5), sink = new Float64Array(N).fill(0.6);
    source[2 * W + 2] = K;  // a foreground seed that the unaries alone would put on the sink side
    sink[0] = K;
    sink[N - 1] = K;
    const pairwise = new Float64Array(4 * N).fill(0.05);
    r = maxflowGrid(W, H, 8, source, sink, pairwise);
    t.equal(r.side[2 * W + 2], 1, '1e12 source capacity: the seed is on the source side');
    t.equal(r.side[0] + r.side[N - 1], 0, '1e12 sink capacity: the seeds are on the sink side');
    t.ok(r.flow < 1e3, `hard constraints are never cut (flow ${r.flow.toFixed(3)})`);
    const g = gridGraph(W, H, 8, source, sink, pairwise);
    t.ok(close(cutCapacity(g, r.side), r.flow), 'the cut with 1e12 capacities has the flow\'s capacity');
    t.ok(close(edmondsKarp(g, 1e-6).flow, r.flow), 'and the flow is Edmonds–Karp\'s');
    // a hard constraint on each side of one edge: the flow is the edge (and the other capacities)
    r = maxflowGraph(2, [0, 1], [7], [0], [K, 0], [0, K]);
    t.deepEqual([r.flow, Array.from(r.side)], [7, [1, 0]], 'two hard seeds joined by one edge: flow is the edge capacity');
    t.end();
  });

  test('maxflow: the C++ argument checks', (t) => {
    const f = new Float64Array(2), e = new Int32Array([0, 1]), one = new Float64Array(1);
    const graph = (...args: unknown[]) => () => (n.maxflowGraph as (...a: unknown[]) => unknown)(...args);
    const grid = (...args: unknown[]) => () => (n.maxflowGrid as (...a: unknown[]) => unknown)(...args);
    t.throws(graph(-1, e, one, one, f, f), /maxflowGraph: nodes must be an integer >= 0, got -1/, 'negative node count');
    t.throws(graph(2.5, e, one, one, f, f), /maxflowGraph: nodes must be an integer >= 0, got 2.5/, 'fractional node count');
    t.throws(graph(NaN, e, one, one, f, f), /maxflowGraph: nodes must be an integer >= 0, got NaN/, 'NaN node count');
    t.throws(graph('2', e, one, one, f, f), /maxflowGraph: nodes must be a number/, 'string node count');
    t.throws(graph(2 ** 31, e, one, one, f, f), /maxflowGraph: nodes 2147483648 overflows the solver's 32-bit indices/, 'too many nodes');
    t.throws(graph(2, [0, 1], one, one, f, f), /maxflowGraph: edges must be an Int32Array, got an array/, 'edges not an Int32Array');
    t.throws(graph(2, new Int32Array([0, 1, 1]), one, one, f, f), /maxflowGraph: edges must hold pairs of node indices \(an even length\), got 3/,
      'odd edges length');
    t.throws(graph(2, e, f, one, f, f), /maxflowGraph: capForward must have 1 entries, got 2/, 'capForward length');
    t.throws(graph(2, e, one, new Float32Array(1), f, f), /maxflowGraph: capBackward must be a Float64Array, got Float32Array/,
      'capBackward type');
    t.throws(graph(2, e, one, one, one, f), /maxflowGraph: source must have 2 entries, got 1/, 'source length');
    t.throws(graph(2, e, one, one, f, undefined), /maxflowGraph: sink must be a Float64Array, got undefined/, 'missing sink');
    t.throws(graph(2, new Int32Array([0, 2]), one, one, f, f), /maxflowGraph: edges\[1\] = 2 is not a node index in \[0, 2\)/,
      'node index past the end');
    t.throws(graph(2, new Int32Array([-1, 0]), one, one, f, f), /maxflowGraph: edges\[0\] = -1 is not a node index/, 'negative node index');
    t.throws(graph(3, new Int32Array([0, 1, 2, 2]), f, f, new Float64Array(3), new Float64Array(3)),
      /maxflowGraph: edge 1 \(edges\[2\], edges\[3\]\) is a self-loop on node 2/, 'self-loop');
    t.throws(graph(2, e, new Float64Array([NaN]), one, f, f), /maxflowGraph: capForward\[0\] must be a finite capacity >= 0, got NaN/, 'NaN capacity');
    t.throws(graph(2, e, one, new Float64Array([-1]), f, f), /maxflowGraph: capBackward\[0\] must be a finite capacity >= 0, got -1/,
      'negative capacity');
    t.throws(graph(2, e, one, one, new Float64Array([0, Infinity]), f),
      /maxflowGraph: source\[1\] must be a finite capacity >= 0, got Infinity \(give hard constraints as a large finite capacity\)/,
      'infinite capacity');
    t.throws(graph(2, e, one, one, f, new Float64Array([-Infinity, 0])), /maxflowGraph: sink\[0\] must be a finite capacity >= 0, got -Infinity/,
      'negative infinite capacity');
    const detached = new Float64Array(2);
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    t.throws(graph(2, e, one, one, detached, f), /maxflowGraph: source's ArrayBuffer is detached/, 'detached buffer');

    const z = (k: number) => new Float64Array(k);
    t.throws(grid(0, 3, 4, z(0), z(0), z(0)), /maxflowGrid: width must be an integer >= 1, got 0/, 'zero width');
    t.throws(grid(3, 1.5, 4, z(3), z(3), z(6)), /maxflowGrid: height must be an integer >= 1, got 1.5/, 'fractional height');
    t.throws(grid(3, 2, 6, z(6), z(6), z(18)), /maxflowGrid: connectivity must be 4 or 8, got 6/, 'connectivity 6');
    t.throws(grid(100000, 100000, 4, z(0), z(0), z(0)), /maxflowGrid: a 100000x100000 grid of connectivity 4 overflows the solver's 32-bit arc indices/,
      'sizes that overflow the arc indices');
    t.throws(grid(2 ** 40, 2 ** 20, 8, z(0), z(0), z(0)), /maxflowGrid: sizes multiply past 2\^50 elements/, 'sizes that overflow 2^50');
    t.throws(grid(3, 2, 4, z(5), z(6), z(12)), /maxflowGrid: source must have 6 entries, got 5/, 'source length');
    t.throws(grid(3, 2, 8, z(6), z(6), z(12)), /maxflowGrid: pairwise must have 24 entries, got 12/, 'pairwise length for 8-connectivity');
    t.throws(grid(3, 2, 4, z(6), z(6), new Float64Array(12).fill(NaN)), /maxflowGrid: pairwise\[0\] must be a finite capacity >= 0, got NaN/,
      'NaN pairwise capacity');
    t.throws(grid(3, 2, 4, z(6), new Float64Array([0, 0, 0, -0.5, 0, 0]), z(12)), /maxflowGrid: sink\[3\] must be a finite capacity >= 0, got -0.5/,
      'negative sink capacity');
    t.throws(grid(3, 2, 4, new Float64Array(6).fill(Infinity), z(6), z(12)), /maxflowGrid: source\[0\] must be a finite capacity >= 0, got Infinity/,
      'infinite source capacity');
    t.throws(grid(3, 2, 4, z(6), z(6), new Float32Array(12)), /maxflowGrid: pairwise must be a Float64Array, got Float32Array/, 'pairwise type');

    // the addon still answers after all of that
    t.equal(n.maxflowGraph(2, e, new Float64Array([1]), new Float64Array([2]), new Float64Array([2, 9]), new Float64Array([5, 4])).flow, 8,
      'a valid call after the rejected ones');
    t.end();
  });

  test('maxflow: the TypeScript wrappers\' checks', (t) => {
    const graph = (...args: unknown[]) => () => (maxflowGraph as (...a: unknown[]) => unknown)(...args);
    const grid = (...args: unknown[]) => () => (maxflowGrid as (...a: unknown[]) => unknown)(...args);
    t.throws(graph(2, [0, 1.5], [1], [1], [0, 0], [0, 0]), /maxflowGraph: edges\[1\] = 1.5 is not a node index in \[0, 2\)/, 'fractional index');
    t.throws(graph(2, [0, 1, 1], [1], [1], [0, 0], [0, 0]), /maxflowGraph: edges must hold pairs/, 'odd edges');
    t.throws(graph(2, [0, 1], [1, 2], [1], [0, 0], [0, 0]), /maxflowGraph: capForward must have 1 entries, got 2/, 'capForward length');
    t.throws(graph(2, [0, 1], [1], [1], [0, 0], null), /maxflowGraph: sink must be a Float64Array, Float32Array or number\[\], got null/, 'null sink');
    t.throws(graph(2, [1, 1], [1], [1], [0, 0], [0, 0]), /maxflowGraph: edge 0 .* is a self-loop on node 1/, 'self-loop (from C++)');
    t.throws(graph(2, [0, 1], [-2], [1], [0, 0], [0, 0]), /maxflowGraph: capForward\[0\] must be a finite capacity >= 0, got -2/,
      'negative capacity (from C++)');
    t.throws(grid(3, 2, 6, [], [], []), /maxflowGrid: connectivity must be 4 or 8, got 6/, 'connectivity');
    t.throws(grid(-3, 2, 4, [], [], []), /maxflowGrid: width must be an integer >= 1, got -3/, 'negative width');
    t.throws(grid(100000, 100000, 8, [], [], []), /maxflowGrid: a 100000x100000 grid of connectivity 8 overflows/, 'size overflow');
    t.throws(grid(3, 2, 4, new Float32Array(6), new Float32Array(6), new Float32Array(6)), /maxflowGrid: pairwise must have 12 entries, got 6/,
      'pairwise length');
    t.throws(grid(1, 1, 4, [NaN], [0], [0, 0]), /maxflowGrid: source\[0\] must be a finite capacity >= 0, got NaN/, 'NaN (from C++)');
    // Float32Array and number[] inputs are converted
    const r = maxflowGrid(2, 1, 4, new Float32Array([5, 0]), [0, 5], new Float32Array([1.5, 0, 0, 0]));
    t.deepEqual([r.flow, Array.from(r.side)], [1.5, [1, 0]], 'Float32Array and number[] capacities');
    t.end();
  });

  test('maxflow: timing of a 224x224 8-connected GrabCut-like grid (printed, not asserted)', (t) => {
    const W = 224, H = 224, N = W * H, rand = mulberry32(42), noise = 0.2;
    const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    // a two-colour image: an orange blob on a blue-grey background, with Gaussian noise (sd 0.2 per channel)
    const fg = [0.85, 0.45, 0.15], bg = [0.3, 0.4, 0.55];
    const img = new Float64Array(3 * N), truth = new Uint8Array(N);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const p = y * W + x;
        const inside = ((x - 120) / 70) ** 2 + ((y - 100) / 55) ** 2 + 0.15 * Math.sin(x / 9) < 1;
        truth[p] = inside ? 1 : 0;
        for (let c = 0; c < 3; c++) img[3 * p + c] = (inside ? fg : bg)[c] + noise * gauss();
      }
    }
    // unaries: negative log-likelihoods under one isotropic Gaussian per colour
    const sigma2 = 2 * noise ** 2;
    const source = new Float64Array(N), sink = new Float64Array(N);
    for (let p = 0; p < N; p++) {
      let dF = 0, dB = 0;
      for (let c = 0; c < 3; c++) {
        dF += (img[3 * p + c] - fg[c]) ** 2;
        dB += (img[3 * p + c] - bg[c]) ** 2;
      }
      source[p] = dB / sigma2;  // cutting s -> p labels p background
      sink[p] = dF / sigma2;    // cutting p -> t labels p foreground
    }
    // pairwise: gamma exp(-beta ||dI||^2), beta = 1 / (2 <||dI||^2>), diagonals divided by sqrt(2)
    const dirs = GRID_DIRECTIONS[8];
    const d2 = new Float64Array(4 * N);
    let sum = 0, count = 0;
    dirs.forEach(([dx, dy], d) => {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const nx = x + dx, ny = y + dy;
          if (nx < 0 || nx >= W || ny < 0 || ny >= H) continue;
          const p = y * W + x, q = ny * W + nx;
          let s = 0;
          for (let c = 0; c < 3; c++) s += (img[3 * p + c] - img[3 * q + c]) ** 2;
          d2[d * N + p] = s;
          sum += s;
          count++;
        }
      }
    });
    const beta = 1 / (2 * (sum / count)), gamma = 50;
    const pairwise = new Float64Array(4 * N);
    for (let d = 0; d < 4; d++) {
      const w = d < 2 ? gamma : gamma / Math.SQRT2;
      for (let p = 0; p < N; p++) pairwise[d * N + p] = w * Math.exp(-beta * d2[d * N + p]);
    }

    const times: number[] = [];
    let r = maxflowGrid(W, H, 8, source, sink, pairwise);  // warm-up
    for (let k = 0; k < 9; k++) {
      const t0 = process.hrtime.bigint();
      r = maxflowGrid(W, H, 8, source, sink, pairwise);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    let agree = 0;
    for (let p = 0; p < N; p++) agree += r.side[p] === truth[p] ? 1 : 0;
    t.comment(`maxflowGrid 224x224 8-connected GrabCut-like: ${times[4].toFixed(2)} ms median of 9 (min ${times[0].toFixed(2)}, ` +
      `max ${times[8].toFixed(2)}); flow ${r.flow.toFixed(1)}, ${(100 * agree / N).toFixed(2)}% of pixels match the drawn shape`);
    t.ok(agree / N > 0.97, 'the cut recovers the drawn shape');
    // the same problem as an explicit graph gives the same flow
    const g = gridGraph(W, H, 8, source, sink, pairwise);
    const viaGraph = solveGraph(g);
    t.ok(close(viaGraph.flow, r.flow), `maxflowGraph on the explicit graph agrees (${viaGraph.flow.toFixed(3)})`);
    t.ok(close(cutCapacity(g, r.side), r.flow), 'the cut has the flow\'s capacity');
    t.end();
  });
}
