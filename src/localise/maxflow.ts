// Max-flow / min-cut for the GraphCut step of the localisation (Simonyan et al. 2013, Sect. 3.2): typed
// wrappers over the native Boykov–Kolmogorov solver (native/src/maxflow.cc). Both run synchronously on the
// calling thread and need no init().
//
// Conventions (shared by both forms):
// - Capacities are finite and >= 0 (NaN, negatives and Infinity are rejected with an Error). Express a hard
//   constraint as a large finite capacity K, larger than any cut that avoids it (e.g. 1e12 for image
//   energies, or 1 + the sum of every other capacity).
// - source[i] is the capacity s -> i (what cutting i off the source costs, i.e. labelling it background);
//   sink[i] is the capacity i -> t (the cost of labelling it foreground).
// - side[i] = 1: i is on the source side of the minimum cut (foreground); 0: the sink side. The source side
//   is the set of nodes reachable from s in the final residual graph, the smallest among the minimum cuts:
//   nodes that neither search tree reached (isolated ones, ties such as source = sink with no edges) get 0.

import { loadNative } from '../backend/cpu/native.js';

/** Capacities as the wrappers accept them; anything but a Float64Array is copied into one. */
export type Capacities = Float64Array | Float32Array | ArrayLike<number>;

export interface MaxflowResult {
  /** The maximum flow, equal to the capacity of the minimum cut. */
  flow: number;
  /** Per node (per pixel, row-major): 1 on the source side of the minimum cut, 0 on the sink side. */
  side: Uint8Array;
}

/** The grid's pairwise directions, in the order of the pairwise array's planes: [dx, dy] per direction. */
export const GRID_DIRECTIONS = {
  4: [[1, 0], [0, 1]],
  8: [[1, 0], [0, 1], [1, 1], [-1, 1]],
} as const satisfies Record<4 | 8, readonly (readonly [number, number])[]>;

/** The addon's max-flow exports (native/src/maxflow.cc); each checks every argument in C++ as well. */
export interface MaxflowAddon {
  maxflowGraph(nodes: number, edges: Int32Array, capForward: Float64Array, capBackward: Float64Array,
               source: Float64Array, sink: Float64Array): MaxflowResult;
  maxflowGrid(width: number, height: number, connectivity: number, source: Float64Array, sink: Float64Array,
              pairwise: Float64Array): MaxflowResult;
}

function addon(): MaxflowAddon {
  return loadNative() as unknown as MaxflowAddon;
}

function checkCount(fn: string, name: string, value: number, min: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new Error(`${fn}: ${name} must be an integer >= ${min}, got ${String(value)}`);
  }
}

function float64(fn: string, name: string, values: Capacities, length: number): Float64Array {
  if (values == null || typeof (values as ArrayLike<number>).length !== 'number') {
    throw new Error(`${fn}: ${name} must be a Float64Array, Float32Array or number[], got ${String(values)}`);
  }
  if (values.length !== length) throw new Error(`${fn}: ${name} must have ${length} entries, got ${values.length}`);
  return values instanceof Float64Array ? values : Float64Array.from(values as ArrayLike<number>);
}

/**
 * Minimum s-t cut of a general graph of `nodes` nodes. Edge k joins edges[2k] and edges[2k+1] (distinct
 * nodes in [0, nodes)) with capacity capForward[k] from the first to the second and capBackward[k] back;
 * source[i] is the capacity s -> i and sink[i] the capacity i -> t.
 */
export function maxflowGraph(nodes: number, edges: Int32Array | ArrayLike<number>, capForward: Capacities,
                             capBackward: Capacities, source: Capacities, sink: Capacities): MaxflowResult {
  const fn = 'maxflowGraph';
  checkCount(fn, 'nodes', nodes, 0);
  if (edges == null || typeof edges.length !== 'number') {
    throw new Error(`${fn}: edges must be an Int32Array or number[] of node index pairs, got ${String(edges)}`);
  }
  if (edges.length % 2) throw new Error(`${fn}: edges must hold pairs of node indices (an even length), got ${edges.length} entries`);
  let pairs: Int32Array;
  if (edges instanceof Int32Array) {
    pairs = edges;
  } else {
    pairs = new Int32Array(edges.length);
    for (let k = 0; k < edges.length; k++) {
      const v = edges[k];
      if (!Number.isInteger(v) || v < 0 || v >= nodes) {
        throw new Error(`${fn}: edges[${k}] = ${String(v)} is not a node index in [0, ${nodes})`);
      }
      pairs[k] = v;
    }
  }
  const E = pairs.length / 2;
  return addon().maxflowGraph(nodes, pairs, float64(fn, 'capForward', capForward, E), float64(fn, 'capBackward', capBackward, E),
    float64(fn, 'source', source, nodes), float64(fn, 'sink', sink, nodes));
}

/**
 * Minimum s-t cut of a width x height pixel grid (pixel p = y * width + x) with 4 or 8 connectivity.
 * pairwise holds one plane of height * width capacities per forward direction (GRID_DIRECTIONS): right
 * (x+1), down (y+1), and for 8-connectivity down-right (x+1, y+1) and down-left (x-1, y+1); the capacity
 * pairwise[d * H * W + p] joins p and its neighbour in direction d both ways. Entries whose neighbour lies
 * outside the image are ignored (but must still be finite and >= 0).
 */
export function maxflowGrid(width: number, height: number, connectivity: 4 | 8, source: Capacities, sink: Capacities,
                            pairwise: Capacities): MaxflowResult {
  const fn = 'maxflowGrid';
  checkCount(fn, 'width', width, 1);
  checkCount(fn, 'height', height, 1);
  if (connectivity !== 4 && connectivity !== 8) throw new Error(`${fn}: connectivity must be 4 or 8, got ${String(connectivity)}`);
  const n = width * height;
  if ((width + 2) * (height + 2) * connectivity > 2 ** 31 - 2) {  // the solver frames the image with one node
    throw new Error(`${fn}: a ${width}x${height} grid of connectivity ${connectivity} overflows the solver's 32-bit arc indices`);
  }
  const planes = connectivity / 2;
  return addon().maxflowGrid(width, height, connectivity, float64(fn, 'source', source, n), float64(fn, 'sink', sink, n),
    float64(fn, 'pairwise', pairwise, planes * n));
}
