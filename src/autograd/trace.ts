// Which model layer, and which pass, the ops being run now belong to. Model.run names the layer around each
// layer's ops; the tape's backward names the layer that recorded the node it is differentiating (GraphNode.layer)
// and marks the pass as backward. Nothing in the library reads it: a profiler reads it as each dispatch is recorded
// (CallRecorder in bench/timing.ts, for the saliency benchmark's GPU time per layer), so a dispatch can be charged
// to a layer without the kernels knowing of layers. Ops run after the tape's backward returns (the saliency map's
// |gradient| and channel max) are outside both.

export interface TraceScope {
  /** the layer whose ops are being recorded or differentiated; null outside Model.run and for ops no layer made */
  layer: string | null;
  /** true while the tape runs backward functions */
  backward: boolean;
}

/** The current scope; read it, do not keep it (it is one object, changed in place). */
export const traceScope: TraceScope = { layer: null, backward: false };
