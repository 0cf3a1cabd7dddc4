// Elementwise operators with numpy broadcasting, mirroring kernels/elementwise.wgsl and the op table in
// src/backend/webgpu/elementwise.ts. Each operator is a type, so the switch on the op runs once per call and
// every inner loop is a plain function of its operands that the compiler can vectorise.
//
// NaN: WGSL leaves max/min of a NaN implementation-defined; here relu, maximum and clip propagate NaN
// (as Math.max in the float64 references and PyTorch do), and every other operator follows IEEE float32.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels.h"

namespace convis {

namespace {

// Below this many elements a chunk costs more to hand to another thread than to compute.
constexpr index_t kGrain = index_t(1) << 15;

struct Scalars {
  float s0, s1;
  uint32_t seed;
};

// The WGSL hash and uniform01, bit for bit: uint32_t arithmetic wraps modulo 2^32 as WGSL's u32 does.
inline uint32_t hash(uint32_t x) {
  uint32_t h = x * 747796405u + 2891336453u;
  h = ((h >> ((h >> 28u) + 4u)) ^ h) * 277803737u;
  return (h >> 22u) ^ h;
}

// The value is below 2^24, so the signed conversion is exact; it vectorises where an unsigned one does not.
inline float uniform01(uint32_t seed, uint32_t gi) {
  return float(int32_t(hash(hash(gi) ^ (seed * 2654435761u)) >> 8u)) * (1.0f / 16777216.0f);
}

// select(0.0, v, keep) on the bits: a float division inside a conditional arm cannot be speculated under
// the default -ftrapping-math, which stops GCC vectorising the loop; masking the bits keeps it branch-free.
inline float keepOrZero(bool keep, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  bits &= 0u - uint32_t(keep);
  float r;
  std::memcpy(&r, &bits, sizeof r);
  return r;
}

// NaN-propagating max / min written as selects, which vectorise (std::fmax would drop the NaN).
inline float maxNaN(float x, float y) { return (x > y || x != x) ? x : y; }
inline float minNaN(float x, float y) { return (x < y || x != x) ? x : y; }

// One struct per operator: arity and the expression of the WGSL table over a, b, c, s0, s1 and gi.
#define CONVIS_EW_OP(Name, Arity, Expr)                                                                   \
  struct Name {                                                                                           \
    static constexpr int arity = Arity;                                                                   \
    static inline float apply([[maybe_unused]] const Scalars& p, [[maybe_unused]] float a,                \
                              [[maybe_unused]] float b, [[maybe_unused]] float c,                         \
                              [[maybe_unused]] uint32_t gi) {                                             \
      return Expr;                                                                                        \
    }                                                                                                     \
  };

CONVIS_EW_OP(OpFill, 0, p.s0)
CONVIS_EW_OP(OpCopy, 1, a)
CONVIS_EW_OP(OpNeg, 1, -a)
// !(a <= 0) keeps NaN and turns -0 into +0, like max(a, 0.0) with NaN propagated
CONVIS_EW_OP(OpRelu, 1, !(a <= 0.0f) ? a : 0.0f)
CONVIS_EW_OP(OpExp, 1, std::exp(a))
CONVIS_EW_OP(OpLog, 1, std::log(a))
CONVIS_EW_OP(OpSqrt, 1, std::sqrt(a))
CONVIS_EW_OP(OpRsqrt, 1, 1.0f / std::sqrt(a))
CONVIS_EW_OP(OpSquare, 1, a * a)
CONVIS_EW_OP(OpAbs, 1, std::fabs(a))
CONVIS_EW_OP(OpSigmoid, 1, 1.0f / (1.0f + std::exp(-a)))
CONVIS_EW_OP(OpAffine, 1, a * p.s0 + p.s1)
CONVIS_EW_OP(OpClip, 1, minNaN(maxNaN(a, p.s0), p.s1))
CONVIS_EW_OP(OpAdd, 2, a + b)
CONVIS_EW_OP(OpSub, 2, a - b)
CONVIS_EW_OP(OpMul, 2, a * b)
CONVIS_EW_OP(OpDiv, 2, a / b)
CONVIS_EW_OP(OpMaximum, 2, maxNaN(a, b))
CONVIS_EW_OP(OpReluGradient, 2, a > 0.0f ? b : 0.0f)
CONVIS_EW_OP(OpReluDeconvnet, 2, b > 0.0f ? b : 0.0f)
CONVIS_EW_OP(OpReluGuided, 2, (a > 0.0f && b > 0.0f) ? b : 0.0f)
CONVIS_EW_OP(OpClipGrad, 2, (a >= p.s0 && a <= p.s1) ? b : 0.0f)
CONVIS_EW_OP(OpSigmoidGrad, 2, b * a * (1.0f - a))
CONVIS_EW_OP(OpAbsGrad, 2, a > 0.0f ? b : (a < 0.0f ? -b : 0.0f))
CONVIS_EW_OP(OpDivGradB, 3, -c * a / (b * b))
// a select, as in WGSL: a dropped NaN or Inf still gives +0
CONVIS_EW_OP(OpDropout, 1, keepOrZero(uniform01(p.seed, gi) >= p.s1, a / (1.0f - p.s1)))

#undef CONVIS_EW_OP

/** A stretch of consecutive output elements along which each input moves by a fixed stride. */
struct Run {
  const float* in[3];
  index_t stride[3];
  float* out;
  index_t len;
  uint32_t gi;  // the flat output index of out[0], wrapped to 32 bits as WGSL's u32 gi is
};

// The hot loop: each input is either contiguous or one value held in a register, known at compile time.
template <class Op, bool SA, bool SB, bool SC>
void runContiguous(const Scalars& p, const Run& r) {
  const float* a = r.in[0];
  const float* b = r.in[1];
  const float* c = r.in[2];
  float av = 0.0f, bv = 0.0f, cv = 0.0f;
  if constexpr (Op::arity > 0 && SA) av = *a;
  if constexpr (Op::arity > 1 && SB) bv = *b;
  if constexpr (Op::arity > 2 && SC) cv = *c;
  float* out = r.out;
  const index_t len = r.len;
  const uint32_t gi = r.gi;
  for (index_t k = 0; k < len; k++) {
    float x = 0.0f, y = 0.0f, z = 0.0f;
    if constexpr (Op::arity > 0) x = SA ? av : a[k];
    if constexpr (Op::arity > 1) y = SB ? bv : b[k];
    if constexpr (Op::arity > 2) z = SC ? cv : c[k];
    out[k] = Op::apply(p, x, y, z, gi + uint32_t(k));
  }
}

// Inputs that are neither contiguous nor broadcast along the run (transposed views).
template <class Op>
void runStrided(const Scalars& p, const Run& r) {
  const index_t sa = r.stride[0], sb = r.stride[1], sc = r.stride[2];
  for (index_t k = 0; k < r.len; k++) {
    float x = 0.0f, y = 0.0f, z = 0.0f;
    if constexpr (Op::arity > 0) x = r.in[0][k * sa];
    if constexpr (Op::arity > 1) y = r.in[1][k * sb];
    if constexpr (Op::arity > 2) z = r.in[2][k * sc];
    r.out[k] = Op::apply(p, x, y, z, r.gi + uint32_t(k));
  }
}

// Picks the runContiguous instance for the inputs' strides, one input at a time.
template <class Op, int I, bool SA, bool SB, bool SC>
void runDispatch(const Scalars& p, const Run& r) {
  if constexpr (I == Op::arity) {
    runContiguous<Op, SA, SB, SC>(p, r);
  } else if (r.stride[I] == 0) {
    runDispatch<Op, I + 1, SA || I == 0, SB || I == 1, SC || I == 2>(p, r);
  } else {
    runDispatch<Op, I + 1, SA, SB, SC>(p, r);
  }
}

template <class Op>
void runAny(const Scalars& p, const Run& r) {
  for (int j = 0; j < Op::arity; j++) {
    if (r.stride[j] != 0 && r.stride[j] != 1) {
      runStrided<Op>(p, r);
      return;
    }
  }
  runDispatch<Op, 0, false, false, false>(p, r);
}

/** The output's dims with size-1 dims dropped and mergeable neighbours fused, with each input's strides. */
struct Layout {
  int rank;
  index_t shape[kMaxRank];
  index_t stride[3][kMaxRank];
};

// Fusing makes the runs as long as the data allow: [2,3,4] + [4] becomes [6,4] + [0,1], and inputs that
// match the output collapse to one dim, so the common cases are a single flat run per chunk.
Layout coalesce(const EwInput* inputs, int arity, const index_t* shape, int rank) {
  Layout L{};
  L.rank = 0;
  for (int d = 0; d < rank; d++) {
    if (shape[d] == 1) continue;
    if (L.rank > 0) {
      const int q = L.rank - 1;
      bool fuse = true;
      for (int j = 0; j < arity; j++) fuse = fuse && L.stride[j][q] == inputs[j].strides[d] * shape[d];
      if (fuse) {
        L.shape[q] *= shape[d];
        for (int j = 0; j < arity; j++) L.stride[j][q] = inputs[j].strides[d];
        continue;
      }
    }
    L.shape[L.rank] = shape[d];
    for (int j = 0; j < arity; j++) L.stride[j][L.rank] = inputs[j].strides[d];
    L.rank++;
  }
  if (L.rank == 0) {  // a single element: one run of length 1
    L.rank = 1;
    L.shape[0] = 1;
  }
  return L;
}

template <class Op>
void elementwiseOp(const Scalars& p, const EwInput* inputs, float* out, const index_t* shape, int rank) {
  constexpr int A = Op::arity;
  const Layout L = coalesce(inputs, A, shape, rank);
  index_t n = 1;
  for (int d = 0; d < L.rank; d++) n *= L.shape[d];
  if (n == 0) return;
  const int last = L.rank - 1;

  parallel_for(n, kGrain, [&](index_t begin, index_t end) {
    // the chunk's first coordinates, then walk the runs of the innermost dim carrying like an odometer
    index_t idx[kMaxRank];
    index_t off[3] = {0, 0, 0};
    index_t rem = begin;
    for (int d = last; d >= 0; d--) {
      idx[d] = rem % L.shape[d];
      rem /= L.shape[d];
      for (int j = 0; j < A; j++) off[j] += idx[d] * L.stride[j][d];
    }
    Run r{};
    for (int j = 0; j < A; j++) r.stride[j] = L.stride[j][last];
    for (index_t i = begin; i < end;) {
      const index_t len = std::min(L.shape[last] - idx[last], end - i);
      for (int j = 0; j < A; j++) r.in[j] = inputs[j].data + off[j];
      r.out = out + i;
      r.len = len;
      r.gi = uint32_t(i);
      runAny<Op>(p, r);
      i += len;
      idx[last] += len;
      for (int j = 0; j < A; j++) off[j] += len * r.stride[j];
      for (int d = last; d > 0 && idx[d] == L.shape[d]; d--) {
        idx[d] = 0;
        idx[d - 1]++;
        for (int j = 0; j < A; j++) off[j] += L.stride[j][d - 1] - L.shape[d] * L.stride[j][d];
      }
    }
  });
}

}  // namespace

int ewArity(EwOp op) {
  switch (op) {
    case EwOp::fill: return OpFill::arity;
    case EwOp::copy: case EwOp::neg: case EwOp::relu: case EwOp::exp: case EwOp::log: case EwOp::sqrt:
    case EwOp::rsqrt: case EwOp::square: case EwOp::abs: case EwOp::sigmoid: case EwOp::affine:
    case EwOp::clip: case EwOp::dropout:
      return 1;
    case EwOp::add: case EwOp::sub: case EwOp::mul: case EwOp::div: case EwOp::maximum:
    case EwOp::reluGradient: case EwOp::reluDeconvnet: case EwOp::reluGuided: case EwOp::clipGrad:
    case EwOp::sigmoidGrad: case EwOp::absGrad:
      return 2;
    case EwOp::divGradB: return OpDivGradB::arity;
    case EwOp::count: break;
  }
  return -1;
}

void elementwise(EwOp op, const EwInput* inputs, float* out, const index_t* shape, int rank, const float* scalars,
                 uint32_t seed) {
  Scalars p;
  p.s0 = scalars ? scalars[0] : 0.0f;
  p.s1 = scalars ? scalars[1] : 0.0f;
  p.seed = seed;
  switch (op) {
    case EwOp::fill: return elementwiseOp<OpFill>(p, inputs, out, shape, rank);
    case EwOp::copy: return elementwiseOp<OpCopy>(p, inputs, out, shape, rank);
    case EwOp::neg: return elementwiseOp<OpNeg>(p, inputs, out, shape, rank);
    case EwOp::relu: return elementwiseOp<OpRelu>(p, inputs, out, shape, rank);
    case EwOp::exp: return elementwiseOp<OpExp>(p, inputs, out, shape, rank);
    case EwOp::log: return elementwiseOp<OpLog>(p, inputs, out, shape, rank);
    case EwOp::sqrt: return elementwiseOp<OpSqrt>(p, inputs, out, shape, rank);
    case EwOp::rsqrt: return elementwiseOp<OpRsqrt>(p, inputs, out, shape, rank);
    case EwOp::square: return elementwiseOp<OpSquare>(p, inputs, out, shape, rank);
    case EwOp::abs: return elementwiseOp<OpAbs>(p, inputs, out, shape, rank);
    case EwOp::sigmoid: return elementwiseOp<OpSigmoid>(p, inputs, out, shape, rank);
    case EwOp::affine: return elementwiseOp<OpAffine>(p, inputs, out, shape, rank);
    case EwOp::clip: return elementwiseOp<OpClip>(p, inputs, out, shape, rank);
    case EwOp::add: return elementwiseOp<OpAdd>(p, inputs, out, shape, rank);
    case EwOp::sub: return elementwiseOp<OpSub>(p, inputs, out, shape, rank);
    case EwOp::mul: return elementwiseOp<OpMul>(p, inputs, out, shape, rank);
    case EwOp::div: return elementwiseOp<OpDiv>(p, inputs, out, shape, rank);
    case EwOp::maximum: return elementwiseOp<OpMaximum>(p, inputs, out, shape, rank);
    case EwOp::reluGradient: return elementwiseOp<OpReluGradient>(p, inputs, out, shape, rank);
    case EwOp::reluDeconvnet: return elementwiseOp<OpReluDeconvnet>(p, inputs, out, shape, rank);
    case EwOp::reluGuided: return elementwiseOp<OpReluGuided>(p, inputs, out, shape, rank);
    case EwOp::clipGrad: return elementwiseOp<OpClipGrad>(p, inputs, out, shape, rank);
    case EwOp::sigmoidGrad: return elementwiseOp<OpSigmoidGrad>(p, inputs, out, shape, rank);
    case EwOp::absGrad: return elementwiseOp<OpAbsGrad>(p, inputs, out, shape, rank);
    case EwOp::divGradB: return elementwiseOp<OpDivGradB>(p, inputs, out, shape, rank);
    case EwOp::dropout: return elementwiseOp<OpDropout>(p, inputs, out, shape, rank);
    case EwOp::count: return;
  }
}

}  // namespace convis
