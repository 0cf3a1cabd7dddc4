// The kernel bindings. Each one reads and checks its arguments on the JS thread (sizes, ranges, and that every
// operand's storage holds the elements the kernel will touch), then queues the kernel on the executor and
// returns at once: results are observed through sync() and download(), as on the WebGPU backend.
// Operands arrive as [storageId, offset]; geometry as arrays of integers.
#include <cmath>
#include <string>

#include "runtime.h"

namespace convis {
namespace {

using Info = Napi::CallbackInfo;

[[noreturn]] void fail(const Info& info, const char* fn, const std::string& what) {
  throw Napi::Error::New(info.Env(), std::string(fn) + ": " + what);
}

index_t product(const Info& info, const std::vector<index_t>& v, const char* fn) {
  index_t p = 1;
  for (index_t x : v) p = checkedMul(info.Env(), p, x, fn);
  return p;
}

void queue(const Info& info, const char* fn, Executor::Job job) { instance(info, fn).executor->push(std::move(job)); }

// elementwise(op, inputs: operand[], strides: number[][], out, shape, scalars: [s0, s1])
Napi::Value Elementwise(const Info& info) {
  const char* fn = "elementwise";
  const index_t op = intArg(info, 0, fn, "op", 0);
  if (op >= static_cast<index_t>(EwOp::count)) fail(info, fn, "op " + std::to_string(op) + " is not an operator");
  const EwOp ew = static_cast<EwOp>(op);
  const std::vector<index_t> shape = intsArg(info, 4, fn, "shape", -1);
  const int rank = static_cast<int>(shape.size());
  if (rank > kMaxRank) fail(info, fn, "rank " + std::to_string(rank) + " exceeds " + std::to_string(kMaxRank));
  const index_t size = product(info, shape, fn);
  if (!info[1].IsArray() || !info[2].IsArray()) fail(info, fn, "inputs and strides must be arrays");
  Napi::Array inputs = info[1].As<Napi::Array>(), strides = info[2].As<Napi::Array>();
  const int arity = ewArity(ew);
  if (static_cast<int>(inputs.Length()) != arity || static_cast<int>(strides.Length()) != arity) {
    fail(info, fn, "op " + std::to_string(op) + " takes " + std::to_string(arity) + " inputs, got " +
                       std::to_string(inputs.Length()) + " inputs and " + std::to_string(strides.Length()) + " stride lists");
  }
  std::vector<EwInput> in(static_cast<size_t>(arity));
  for (int k = 0; k < arity; k++) {
    const std::string name = "input " + std::to_string(k);
    Napi::Value sv = strides.Get(static_cast<uint32_t>(k));
    if (!sv.IsArray() || sv.As<Napi::Array>().Length() != static_cast<uint32_t>(rank)) {
      fail(info, fn, name + " strides must be an array of " + std::to_string(rank) + " integers");
    }
    index_t extent = 1;
    for (int d = 0; d < rank; d++) {
      Napi::Value x = sv.As<Napi::Array>().Get(static_cast<uint32_t>(d));
      const double s = x.IsNumber() ? x.As<Napi::Number>().DoubleValue() : -1;
      if (!(s >= 0 && s <= double(index_t(1) << 50) && s == static_cast<double>(static_cast<index_t>(s)))) {
        fail(info, fn, name + " stride " + std::to_string(d) + " must be an integer >= 0");
      }
      in[k].strides[d] = static_cast<index_t>(s);
      extent += checkedMul(info.Env(), shape[d] - (shape[d] > 0 ? 1 : 0), in[k].strides[d], fn);
    }
    in[k].data = operandFrom(info, inputs.Get(static_cast<uint32_t>(k)), fn, name, size == 0 ? 0 : extent);
  }
  float* out = operandArg(info, 3, fn, "out", size);
  float scalars[2] = {0, 0};
  if (!info[5].IsArray()) fail(info, fn, "scalars must be an array");
  Napi::Array sa = info[5].As<Napi::Array>();
  for (uint32_t k = 0; k < std::min<uint32_t>(2, sa.Length()); k++) {
    Napi::Value x = sa.Get(k);
    if (!x.IsNumber()) fail(info, fn, "scalars[" + std::to_string(k) + "] must be a number");
    scalars[k] = static_cast<float>(x.As<Napi::Number>().DoubleValue());
  }
  // dropout's seed: the first scalar as JS `s0 >>> 0` gives it, exact in the double (a float would round it)
  double s0 = sa.Length() > 0 ? sa.Get(0u).As<Napi::Number>().DoubleValue() : 0;
  s0 = std::isfinite(s0) ? std::fmod(std::trunc(s0), 4294967296.0) : 0;
  const uint32_t seed = static_cast<uint32_t>(s0 < 0 ? s0 + 4294967296.0 : s0);
  if (size == 0) return info.Env().Undefined();
  queue(info, fn, [ew, in, out, shape, rank, scalars, seed]() {
    elementwise(ew, in.data(), out, shape.data(), rank, scalars, seed);
  });
  return info.Env().Undefined();
}

// reduce(max, x, out, outer, n, inner)
Napi::Value Reduce(const Info& info) {
  const char* fn = "reduce";
  const bool max = boolArg(info, 0, fn, "max");
  const index_t outer = intArg(info, 3, fn, "outer"), n = intArg(info, 4, fn, "n"), inner = intArg(info, 5, fn, "inner");
  if (max && n == 0 && outer * inner > 0) fail(info, fn, "max over an empty axis");
  const float* x = operandArg(info, 1, fn, "x", checkedMul(info.Env(), checkedMul(info.Env(), outer, n, fn), inner, fn));
  float* out = operandArg(info, 2, fn, "out", checkedMul(info.Env(), outer, inner, fn));
  queue(info, fn, [=] { reduce(max, x, outer, n, inner, out); });
  return info.Env().Undefined();
}

// softmax(x, out, outer, n, inner, log) / softmaxBackward(y, g, out, outer, n, inner, log)
Napi::Value Softmax(const Info& info) {
  const char* fn = "softmax";
  const index_t outer = intArg(info, 2, fn, "outer"), n = intArg(info, 3, fn, "n"), inner = intArg(info, 4, fn, "inner");
  const bool log = boolArg(info, 5, fn, "log");
  const index_t size = checkedMul(info.Env(), checkedMul(info.Env(), outer, n, fn), inner, fn);
  const float* x = operandArg(info, 0, fn, "x", size);
  float* out = operandArg(info, 1, fn, "out", size);
  queue(info, fn, [=] { softmax(x, outer, n, inner, log, out); });
  return info.Env().Undefined();
}

Napi::Value SoftmaxBackward(const Info& info) {
  const char* fn = "softmaxBackward";
  const index_t outer = intArg(info, 3, fn, "outer"), n = intArg(info, 4, fn, "n"), inner = intArg(info, 5, fn, "inner");
  const bool log = boolArg(info, 6, fn, "log");
  const index_t size = checkedMul(info.Env(), checkedMul(info.Env(), outer, n, fn), inner, fn);
  const float* y = operandArg(info, 0, fn, "y", size);
  const float* g = operandArg(info, 1, fn, "g", size);
  float* out = operandArg(info, 2, fn, "out", size);
  queue(info, fn, [=] { softmaxBackward(y, g, outer, n, inner, log, out); });
  return info.Env().Undefined();
}

/** Elements a strided view touches: 1 + the largest offset (0 for an empty one). */
index_t viewExtent(const Info& info, const char* fn, index_t batch, index_t rows, index_t cols, const std::vector<index_t>& s) {
  if (batch == 0 || rows == 0 || cols == 0) return 0;
  return 1 + checkedMul(info.Env(), batch - 1, s[0], fn) + checkedMul(info.Env(), rows - 1, s[1], fn) +
         checkedMul(info.Env(), cols - 1, s[2], fn);
}

// gemm(batch, M, N, K, a, aStrides[batch,row,col], b, bStrides, out, [ldc, cBatch], accumulate, bias|null, relu)
Napi::Value Gemm(const Info& info) {
  const char* fn = "matmul";
  const index_t batch = intArg(info, 0, fn, "batch"), M = intArg(info, 1, fn, "M"), N = intArg(info, 2, fn, "N"),
                K = intArg(info, 3, fn, "K");
  const std::vector<index_t> sa = intsArg(info, 5, fn, "a strides", 3), sb = intsArg(info, 7, fn, "b strides", 3);
  const std::vector<index_t> sc = intsArg(info, 9, fn, "out strides", 2);
  const bool accumulate = boolArg(info, 10, fn, "accumulate"), relu = boolArg(info, 12, fn, "relu");
  if (batch > 0 && M > 0 && N > 0 && (sc[0] < N || (batch > 1 && sc[1] < M * sc[0]))) {
    fail(info, fn, "out strides [" + std::to_string(sc[0]) + ", " + std::to_string(sc[1]) + "] overlap rows or batches");
  }
  const float* a = operandArg(info, 4, fn, "a", viewExtent(info, fn, batch, M, K, sa));
  const float* b = operandArg(info, 6, fn, "b", viewExtent(info, fn, batch, K, N, sb));
  float* out = operandArg(info, 8, fn, "out", batch == 0 || M == 0 || N == 0 ? 0
      : 1 + checkedMul(info.Env(), batch - 1, sc[1], fn) + checkedMul(info.Env(), M - 1, sc[0], fn) + N - 1);
  const float* bias = optionalOperandArg(info, 11, fn, "bias", N);
  const float* aEnd = a + viewExtent(info, fn, batch, M, K, sa), *bEnd = b + viewExtent(info, fn, batch, K, N, sb);
  const float* outEnd = out + (batch == 0 ? 0 : 1 + (batch - 1) * sc[1] + (M - 1) * sc[0] + N - 1);
  if ((out < aEnd && a < outEnd) || (out < bEnd && b < outEnd)) fail(info, fn, "out overlaps an input");
  const MatrixView A{a, sa[0], sa[1], sa[2]}, B{b, sb[0], sb[1], sb[2]};
  queue(info, fn, [=] { gemm(batch, M, N, K, A, B, out, sc[0], sc[1], accumulate, bias, relu); });
  return info.Env().Undefined();
}

/** geometry [batch, C, H, W, O, OH, OW, KH, KW, strideH, strideW, padTop, padLeft, dilationH, dilationW, groups] */
ConvGeometry convGeometry(const Info& info, size_t i, const char* fn) {
  const std::vector<index_t> v = intsArg(info, i, fn, "geometry", 16);
  ConvGeometry g{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]};
  if (g.C < 1 || g.O < 1 || g.KH < 1 || g.KW < 1 || g.strideH < 1 || g.strideW < 1 || g.dilationH < 1 ||
      g.dilationW < 1 || g.groups < 1) {
    fail(info, fn, "channels, kernel, stride, dilation and groups must be >= 1");
  }
  if (g.C % g.groups || g.O % g.groups) fail(info, fn, "groups " + std::to_string(g.groups) + " must divide C and O");
  for (index_t d : v) checkedMul(info.Env(), d, d, fn);  // keeps index arithmetic far from overflow
  return g;
}

index_t convSizes(const Info& info, const ConvGeometry& g, const char* fn, index_t* xs, index_t* ws, index_t* ys) {
  const Napi::Env env = info.Env();
  *xs = checkedMul(env, checkedMul(env, g.batch, g.C, fn), checkedMul(env, g.H, g.W, fn), fn);
  *ws = checkedMul(env, g.O, checkedMul(env, g.C / g.groups, checkedMul(env, g.KH, g.KW, fn), fn), fn);
  *ys = checkedMul(env, checkedMul(env, g.batch, g.O, fn), checkedMul(env, g.OH, g.OW, fn), fn);
  return *xs;
}

// conv2d(x, w, bias|null, out, geometry, relu)
Napi::Value Conv2d(const Info& info) {
  const char* fn = "conv2d";
  const ConvGeometry g = convGeometry(info, 4, fn);
  index_t xs, ws, ys;
  convSizes(info, g, fn, &xs, &ws, &ys);
  const float* x = operandArg(info, 0, fn, "x", xs);
  const float* w = operandArg(info, 1, fn, "w", ws);
  const float* bias = optionalOperandArg(info, 2, fn, "bias", g.O);
  float* out = operandArg(info, 3, fn, "out", ys);
  const bool relu = boolArg(info, 5, fn, "relu");
  if (ys > 0) queue(info, fn, [=] { conv2d(g, x, w, bias, out, relu); });
  return info.Env().Undefined();
}

// conv2dBackwardInput(gy, w, dx, geometry)
Napi::Value Conv2dBackwardInput(const Info& info) {
  const char* fn = "conv2dBackwardInput";
  const ConvGeometry g = convGeometry(info, 3, fn);
  index_t xs, ws, ys;
  convSizes(info, g, fn, &xs, &ws, &ys);
  const float* gy = operandArg(info, 0, fn, "gy", ys);
  const float* w = operandArg(info, 1, fn, "w", ws);
  float* dx = operandArg(info, 2, fn, "dx", xs);
  if (xs > 0) queue(info, fn, [=] { conv2dBackwardInput(g, gy, w, dx); });
  return info.Env().Undefined();
}

// conv2dBackwardWeight(x, gy, dw, geometry)
Napi::Value Conv2dBackwardWeight(const Info& info) {
  const char* fn = "conv2dBackwardWeight";
  const ConvGeometry g = convGeometry(info, 3, fn);
  index_t xs, ws, ys;
  convSizes(info, g, fn, &xs, &ws, &ys);
  const float* x = operandArg(info, 0, fn, "x", xs);
  const float* gy = operandArg(info, 1, fn, "gy", ys);
  float* dw = operandArg(info, 2, fn, "dw", ws);
  if (ws > 0) queue(info, fn, [=] { conv2dBackwardWeight(g, x, gy, dw); });
  return info.Env().Undefined();
}

/** geometry [planes, H, W, OH, OW, kernelH, kernelW, strideH, strideW, padTop, padLeft, padBottom, padRight] */
PoolGeometry poolGeometry(const Info& info, size_t i, size_t includePad, const char* fn) {
  const std::vector<index_t> v = intsArg(info, i, fn, "geometry", 13);
  PoolGeometry g{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], false};
  if (includePad) g.countIncludePad = boolArg(info, includePad, fn, "countIncludePad");
  if (g.kernelH < 1 || g.kernelW < 1 || g.strideH < 1 || g.strideW < 1) fail(info, fn, "kernel and stride must be >= 1");
  for (index_t d : v) checkedMul(info.Env(), d, d, fn);
  // every window must overlap the input, so each output has a first pixel to start its maximum from
  if (g.planes > 0 && g.OH > 0 && g.OW > 0 &&
      (g.H < 1 || g.W < 1 || g.padTop >= g.kernelH || g.padLeft >= g.kernelW ||
       (g.OH - 1) * g.strideH - g.padTop >= g.H || (g.OW - 1) * g.strideW - g.padLeft >= g.W)) {
    fail(info, fn, "a window of the " + std::to_string(g.OH) + "x" + std::to_string(g.OW) + " output lies outside the " +
                       std::to_string(g.H) + "x" + std::to_string(g.W) + " input");
  }
  return g;
}

index_t planeSize(const Info& info, const PoolGeometry& g, bool input, const char* fn) {
  return checkedMul(info.Env(), g.planes, checkedMul(info.Env(), input ? g.H : g.OH, input ? g.W : g.OW, fn), fn);
}

// maxPool2d(x, out, switches|null, geometry)
Napi::Value MaxPool2d(const Info& info) {
  const char* fn = "maxPool2d";
  const PoolGeometry g = poolGeometry(info, 3, 0, fn);
  const float* x = operandArg(info, 0, fn, "x", planeSize(info, g, true, fn));
  float* out = operandArg(info, 1, fn, "out", planeSize(info, g, false, fn));
  float* switches = optionalOperandArg(info, 2, fn, "switches", planeSize(info, g, false, fn));
  queue(info, fn, [=] { maxPool2d(g, x, out, switches); });
  return info.Env().Undefined();
}

// maxUnpool2d(g, switches, dx, geometry)
Napi::Value MaxUnpool2d(const Info& info) {
  const char* fn = "maxUnpool2d";
  const PoolGeometry g = poolGeometry(info, 3, 0, fn);
  const float* gy = operandArg(info, 0, fn, "g", planeSize(info, g, false, fn));
  const float* switches = operandArg(info, 1, fn, "switches", planeSize(info, g, false, fn));
  float* dx = operandArg(info, 2, fn, "out", planeSize(info, g, true, fn));
  queue(info, fn, [=] { maxUnpool2d(g, gy, switches, dx); });
  return info.Env().Undefined();
}

// gatherSwitches(x, switches, out, geometry)
Napi::Value GatherSwitches(const Info& info) {
  const char* fn = "gatherSwitches";
  const std::vector<index_t> v = intsArg(info, 3, fn, "geometry", 13);
  PoolGeometry g{v[0], v[1], v[2], v[3], v[4], 1, 1, 1, 1, 0, 0, 0, 0, false};
  for (index_t d : v) checkedMul(info.Env(), d, d, fn);
  const float* x = operandArg(info, 0, fn, "x", planeSize(info, g, true, fn));
  const float* switches = operandArg(info, 1, fn, "switches", planeSize(info, g, false, fn));
  float* out = operandArg(info, 2, fn, "out", planeSize(info, g, false, fn));
  queue(info, fn, [=] { gatherSwitches(g, x, switches, out); });
  return info.Env().Undefined();
}

// avgPool2d(x, out, geometry, countIncludePad) / avgPool2dBackward(g, dx, geometry, countIncludePad)
Napi::Value AvgPool2d(const Info& info) {
  const char* fn = "avgPool2d";
  const PoolGeometry g = poolGeometry(info, 2, 3, fn);
  const float* x = operandArg(info, 0, fn, "x", planeSize(info, g, true, fn));
  float* out = operandArg(info, 1, fn, "out", planeSize(info, g, false, fn));
  queue(info, fn, [=] { avgPool2d(g, x, out); });
  return info.Env().Undefined();
}

Napi::Value AvgPool2dBackward(const Info& info) {
  const char* fn = "avgPool2dBackward";
  const PoolGeometry g = poolGeometry(info, 2, 3, fn);
  const float* gy = operandArg(info, 0, fn, "g", planeSize(info, g, false, fn));
  float* dx = operandArg(info, 1, fn, "out", planeSize(info, g, true, fn));
  queue(info, fn, [=] { avgPool2dBackward(g, gy, dx); });
  return info.Env().Undefined();
}

// copyAxis(x, out, outer, n, m, inner, at, slice)
Napi::Value CopyAxis(const Info& info) {
  const char* fn = "copyAxis";
  const index_t outer = intArg(info, 2, fn, "outer"), n = intArg(info, 3, fn, "n"), m = intArg(info, 4, fn, "m"),
                inner = intArg(info, 5, fn, "inner"), at = intArg(info, 6, fn, "at");
  const bool slice = boolArg(info, 7, fn, "slice");
  if (at > m || n > m - at) fail(info, fn, "rows [" + std::to_string(at) + ", " + std::to_string(at + n) + ") exceed " + std::to_string(m));
  const Napi::Env env = info.Env();
  const index_t small = checkedMul(env, checkedMul(env, outer, n, fn), inner, fn);
  const index_t large = checkedMul(env, checkedMul(env, outer, m, fn), inner, fn);
  const float* x = operandArg(info, 0, fn, "x", slice ? large : small);
  float* out = operandArg(info, 1, fn, "out", slice ? small : large);
  queue(info, fn, [=] { copyAxis(x, out, outer, n, m, inner, at, slice); });
  return info.Env().Undefined();
}

// pad2d(x, out, planes, H, W, pads[top, left, bottom, right], value, crop)
Napi::Value Pad2d(const Info& info) {
  const char* fn = "pad2d";
  const index_t planes = intArg(info, 2, fn, "planes"), H = intArg(info, 3, fn, "H"), W = intArg(info, 4, fn, "W");
  const std::vector<index_t> p = intsArg(info, 5, fn, "pads", 4);
  const float value = static_cast<float>(numberArg(info, 6, fn, "value"));
  const bool crop = boolArg(info, 7, fn, "crop");
  const Napi::Env env = info.Env();
  const index_t inner = checkedMul(env, planes, checkedMul(env, H, W, fn), fn);
  const index_t padded = checkedMul(env, planes, checkedMul(env, H + p[0] + p[2], W + p[1] + p[3], fn), fn);
  const float* x = operandArg(info, 0, fn, "x", crop ? padded : inner);
  float* out = operandArg(info, 1, fn, "out", crop ? inner : padded);
  const index_t pads[4] = {p[0], p[1], p[2], p[3]};
  queue(info, fn, [=] { pad2d(x, planes, H, W, pads, value, out, crop); });
  return info.Env().Undefined();
}

LrnParams lrnParams(const Info& info, size_t i, const char* fn) {
  LrnParams p{intArg(info, i, fn, "size", 1), static_cast<float>(numberArg(info, i + 1, fn, "alpha")),
              static_cast<float>(numberArg(info, i + 2, fn, "beta")), static_cast<float>(numberArg(info, i + 3, fn, "k"))};
  return p;
}

// lrn(x, out, N, C, HW, size, alpha, beta, k) / lrnBackward(x, y, g, out, N, C, HW, size, alpha, beta, k)
Napi::Value Lrn(const Info& info) {
  const char* fn = "lrn";
  const index_t N = intArg(info, 2, fn, "N"), C = intArg(info, 3, fn, "C"), HW = intArg(info, 4, fn, "HW");
  const LrnParams p = lrnParams(info, 5, fn);
  const index_t size = checkedMul(info.Env(), checkedMul(info.Env(), N, C, fn), HW, fn);
  const float* x = operandArg(info, 0, fn, "x", size);
  float* out = operandArg(info, 1, fn, "out", size);
  queue(info, fn, [=] { lrn(x, N, C, HW, p, out); });
  return info.Env().Undefined();
}

Napi::Value LrnBackward(const Info& info) {
  const char* fn = "lrnBackward";
  const index_t N = intArg(info, 4, fn, "N"), C = intArg(info, 5, fn, "C"), HW = intArg(info, 6, fn, "HW");
  const LrnParams p = lrnParams(info, 7, fn);
  const index_t size = checkedMul(info.Env(), checkedMul(info.Env(), N, C, fn), HW, fn);
  const float* x = operandArg(info, 0, fn, "x", size);
  const float* y = operandArg(info, 1, fn, "y", size);
  const float* g = operandArg(info, 2, fn, "g", size);
  float* out = operandArg(info, 3, fn, "out", size);
  queue(info, fn, [=] { lrnBackward(x, y, g, N, C, HW, p, out); });
  return info.Env().Undefined();
}

}  // namespace

void registerOps(Napi::Env env, Napi::Object exports) {
  const std::pair<const char*, Napi::Value (*)(const Info&)> table[] = {
    {"elementwise", Elementwise}, {"reduce", Reduce}, {"softmax", Softmax}, {"softmaxBackward", SoftmaxBackward},
    {"gemm", Gemm}, {"conv2d", Conv2d}, {"conv2dBackwardInput", Conv2dBackwardInput},
    {"conv2dBackwardWeight", Conv2dBackwardWeight}, {"maxPool2d", MaxPool2d}, {"maxUnpool2d", MaxUnpool2d},
    {"gatherSwitches", GatherSwitches}, {"avgPool2d", AvgPool2d}, {"avgPool2dBackward", AvgPool2dBackward},
    {"copyAxis", CopyAxis}, {"pad2d", Pad2d}, {"lrn", Lrn}, {"lrnBackward", LrnBackward},
  };
  for (const auto& [name, f] : table) exports.Set(name, guarded(env, name, f));
}

}  // namespace convis
