// Connected components of a binary mask and their bounding boxes, for the last step of weakly supervised
// localisation (Simonyan et al. 2013, Sect. 3.2): the object box is the bounding box of the largest connected
// component of the GraphCut segmentation. The labelling runs in the native addon (native/src/segment.cc):
// two-pass union-find, linear time, synchronously on the calling thread.

import { loadNative } from '../backend/cpu/native.js';

/** An axis-aligned box in pixels: columns [x, x + width), rows [y, y + height). */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** 4: pixels touching by an edge are connected; 8: also by a corner. */
export type Connectivity = 4 | 8;

export interface Components {
  /** [height*width], row-major: 0 for background, else the component's label 1..count. */
  labels: Int32Array;
  /** Number of components; labels are numbered in the raster order of each component's first pixel. */
  count: number;
  /** [count+1]: pixels per label; sizes[0] counts the background. */
  sizes: Int32Array;
  /** [(count+1)*4]: x, y, width, height per label; entry 0 bounds the background (all zero when there is none). */
  boxes: Int32Array;
}

interface ComponentsAddon {
  labelComponents(mask: Uint8Array, width: number, height: number, connectivity: number): Components;
  largestComponent(mask: Uint8Array, width: number, height: number, connectivity: number): { mask: Uint8Array; box: Int32Array | null };
}

function addon(): ComponentsAddon {
  return loadNative() as unknown as ComponentsAddon;
}

/**
 * Labels the connected components of `mask` ([height*width], row-major; any non-zero value is foreground;
 * a Uint8ClampedArray is accepted too). Throws an Error naming the argument when width*height differs from the
 * mask's length, a size is negative or fractional, or connectivity is not 4 or 8.
 */
export function labelComponents(mask: Uint8Array | Uint8ClampedArray, width: number, height: number,
                                connectivity: Connectivity): Components {
  return addon().labelComponents(mask as Uint8Array, width, height, connectivity);
}

/** The box of label `label` (1..count) of a labelling. */
export function componentBox(components: Components, label: number): Box {
  if (!Number.isInteger(label) || label < 1 || label > components.count) {
    throw new Error(`componentBox: label must be an integer in 1..${components.count}, got ${label}`);
  }
  const b = components.boxes;
  return { x: b[4 * label], y: b[4 * label + 1], width: b[4 * label + 2], height: b[4 * label + 3] };
}

/**
 * The largest connected component of `mask` as a 0/1 mask, and its bounding box. Ties go to the component
 * with the smallest label (the first met in raster order); an empty mask gives an all-zero mask and box null.
 */
export function largestComponent(mask: Uint8Array | Uint8ClampedArray, width: number, height: number,
                                 connectivity: Connectivity): { mask: Uint8Array; box: Box | null } {
  const r = addon().largestComponent(mask as Uint8Array, width, height, connectivity);
  const b = r.box;
  return { mask: r.mask, box: b ? { x: b[0], y: b[1], width: b[2], height: b[3] } : null };
}
