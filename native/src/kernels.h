// The CPU kernels: plain functions over raw float32 arrays, with no knowledge of Node. The addon
// (addon.cc) checks every length and shape before calling them, so a kernel may assume its arguments are
// consistent. Each kernel mirrors the WGSL kernel of the same name in kernels/ (semantics, tie rules, NaN
// handling), so that the two backends agree to rounding.
#pragma once

#include <cstdint>

#include "parallel.h"

namespace convis {

// ---- elementwise (kernels/elementwise.wgsl, src/backend/webgpu/elementwise.ts) ----

/** The operators, in the order of ElementwiseOp in src/backend/interface.ts. */
enum class EwOp : int {
  fill, copy, neg, relu, exp, log, sqrt, rsqrt, square, abs, sigmoid, affine, clip,
  add, sub, mul, div, maximum,
  reluGradient, reluDeconvnet, reluGuided, clipGrad, sigmoidGrad, absGrad, divGradB, dropout,
  count
};
int ewArity(EwOp op);

constexpr int kMaxRank = 8;

/** One input of an elementwise op: element (i0..ir) of the output reads data[sum_d i_d * strides[d]]. */
struct EwInput {
  const float* data;
  index_t strides[kMaxRank];  // over the output's dims; 0 where the input is broadcast
};

/**
 * out[i] = op(inputs at i) for every element of the contiguous output of `shape` (rank <= kMaxRank, rank 0
 * is one element). scalars[0..1] are the op's parameters; dropout draws element i's random number as the
 * WGSL uniform01(seed, i), with `seed` the first scalar as an unsigned 32-bit integer (JS `s0 >>> 0`).
 */
void elementwise(EwOp op, const EwInput* inputs, float* out, const index_t* shape, int rank, const float* scalars,
                 uint32_t seed);

// ---- reductions and softmax (kernels/reduce.wgsl, kernels/softmax.wgsl) ----

/** x viewed as [outer, n, inner]; out [outer, inner] = sum (or max) over n. */
void reduce(bool max, const float* x, index_t outer, index_t n, index_t inner, float* out);
/** softmax or log-softmax over the middle axis of [outer, n, inner], max-subtracted. */
void softmax(const float* x, index_t outer, index_t n, index_t inner, bool log, float* out);
/** the input gradient of softmax / log-softmax from its output y and the upstream g. */
void softmaxBackward(const float* y, const float* g, index_t outer, index_t n, index_t inner, bool log, float* out);

// ---- dense algebra (gemm.cc) ----

/** A strided matrix: element (r, c) of batch b is data[b * batch + r * row + c * col]. */
struct MatrixView {
  const float* data;
  index_t batch, row, col;
};

/**
 * C[b] = A[b] (M x K) * B[b] (K x N) (+ C[b] when accumulate) (+ bias[n]) (then max(., 0) when relu), for
 * b < batch; C is row-major with row stride ldc and batch stride cBatch. Blocked and packed for the cache,
 * with a register micro-kernel the compiler vectorises, split over the pool.
 */
void gemm(index_t batch, index_t M, index_t N, index_t K, MatrixView A, MatrixView B,
          float* C, index_t ldc, index_t cBatch, bool accumulate, const float* bias, bool relu);

// ---- convolution (conv.cc), NCHW x, OIHW w ----

struct ConvGeometry {
  index_t batch, C, H, W, O, OH, OW, KH, KW;
  index_t strideH, strideW, padTop, padLeft, dilationH, dilationW, groups;
};

void conv2d(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* out, bool relu);
void conv2dBackwardInput(const ConvGeometry& g, const float* gy, const float* w, float* dx);
/** dw = sum over the batch (overwrites dw). */
void conv2dBackwardWeight(const ConvGeometry& g, const float* x, const float* gy, float* dw);

// ---- pooling (kernels/pool.wgsl); switches are flat indices h * W + w inside a plane, stored as float ----

struct PoolGeometry {
  index_t planes, H, W, OH, OW;  // planes = N * C; H, W the input, OH, OW the output
  index_t kernelH, kernelW, strideH, strideW, padTop, padLeft, padBottom, padRight;
  bool countIncludePad;
};

/** max over each window; ties go to the first maximum in row-major window order; NaN wins. switches may be null. */
void maxPool2d(const PoolGeometry& g, const float* x, float* out, float* switches);
/** dx (planes x H x W) = sum of g (planes x OH x OW) over the outputs whose switch names the pixel. */
void maxUnpool2d(const PoolGeometry& g, const float* gOut, const float* switches, float* dx);
/** out (planes x OH x OW) = x at the switches; a switch that names no pixel gives 0. */
void gatherSwitches(const PoolGeometry& g, const float* x, const float* switches, float* out);
void avgPool2d(const PoolGeometry& g, const float* x, float* out);
void avgPool2dBackward(const PoolGeometry& g, const float* gOut, float* dx);

// ---- layout (kernels/layout.wgsl) ----

/**
 * x viewed as [outer, n, inner] copied into out viewed as [outer, m, inner] at middle offset `at`; with
 * `slice`, the reverse: out [outer, n, inner] = x [outer, m, inner] from middle offset `at`.
 */
void copyAxis(const float* x, float* out, index_t outer, index_t n, index_t m, index_t inner, index_t at, bool slice);
/**
 * pad: out (planes x (H + top + bottom) x (W + left + right)) = x (planes x H x W) framed by `value`;
 * crop (its adjoint): out (planes x H x W) = the interior of x (planes x (H + ...) x (W + ...)).
 * H and W are always the unpadded sizes.
 */
void pad2d(const float* x, index_t planes, index_t H, index_t W, const index_t pads[4], float value, float* out, bool crop);

// ---- local response normalisation across channels (kernels/lrn.wgsl) ----

struct LrnParams { index_t size; float alpha, beta, k; };

/** x, out: N x C x HW. */
void lrn(const float* x, index_t N, index_t C, index_t HW, const LrnParams& p, float* out);
void lrnBackward(const float* x, const float* y, const float* g, index_t N, index_t C, index_t HW,
                 const LrnParams& p, float* out);

}  // namespace convis
