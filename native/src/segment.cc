// Gaussian mixtures, connected components and boxes for localisation (Simonyan et al. 2013, Sect. 3.2): the
// colour models of the foreground and background seeds, the per-pixel data term of the GraphCut, and the
// largest connected component of the segmentation with its bounding box. Host arrays in, results out; every
// binding checks its arguments on entry, runs synchronously on the calling thread (one core) and returns new
// typed arrays. The JS side is src/localise/gmm.ts and src/localise/components.ts.
//
// gmmFit(points: Float32Array [n*3], components, iterations, seed, regularisation, tolerance)
//   -> { weights: Float64Array [K], means [K*3], covariances [K*9], logLikelihood, iterations, history }
// gmmLogLikelihood(weights: Float64Array [K], means [K*3], covariances [K*9], points: Float32Array [n*3])
//   -> Float64Array [n]: log sum_k w_k N(x | mu_k, Sigma_k)
// labelComponents(mask: Uint8Array [H*W], width, height, connectivity 4|8)
//   -> { labels: Int32Array [H*W], count, sizes: Int32Array [count+1], boxes: Int32Array [(count+1)*4] }
// largestComponent(mask, width, height, connectivity) -> { mask: Uint8Array [H*W], box: Int32Array [4] | null }
//
// The mixture fit. Initialisation: k-means++ seeding (splitmix64 from the seed, so deterministic), then Lloyd
// iterations (at most 5, until no assignment changes; ties go to the lower centre; a cluster left empty is
// re-seeded at the point farthest from its centre), then the weights, means and maximum-likelihood covariances
// (divided by the count, not count-1) of the hard clusters, plus the regularisation on the diagonal. EM with full
// covariances: each pass over the points evaluates the log densities through the inverse Cholesky factor of every
// covariance, forms the responsibilities with log-sum-exp, and accumulates the sufficient statistics around the
// current means (so a covariance is a sum of small numbers, not a difference of large ones); the M-step divides
// by the responsibilities' sum and adds the regularisation to the diagonal (every M-step, as sklearn's reg_covar).
// Stopping: after `iterations` M-steps, or earlier once an iteration raised the mean log-likelihood per point by
// less than `tolerance` (> 0). history[t] is the total log-likelihood of the points under the model after t EM
// iterations (one more pass evaluates the model returned); its last entry is logLikelihood.
// A component whose responsibilities sum to less than 1e-8 points, or one that never got a distinct seed point
// (K above the number of distinct points, n < K), is dropped rather than re-seeded (re-seeding would break EM's
// monotone log-likelihood): its weight is 0 from then on, its mean and covariance are placeholders (the data's
// mean and covariance plus the regularisation: finite, positive definite) and gmmLogLikelihood skips it. So K is
// an upper bound on the components in use, and the weights always sum to 1.
//
// The passes run four points at a time in GCC / Clang vector types, over the points as structure of arrays in
// blocks of 256, with a polynomial exp and log accurate to a few ulp (no libm call per point). Log densities are
// clamped below at -1e300, so a point that overflows the quadratic form gives a finite, hugely negative value.
//
// Components: two-pass union-find labelling, linear in the pixels; labels are numbered in the raster order of
// each component's first pixel, so "the smallest label" is "the first met in raster order". Any non-zero mask
// value is foreground.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime.h"

namespace convis {
namespace {

using Info = Napi::CallbackInfo;

constexpr index_t kMaxComponents = 4096;
constexpr int kLloydIterations = 5;
constexpr double kMinMass = 1e-8;  // responsibilities (in points) below which a component is dropped
constexpr double kLog2Pi = 1.8378770664093454836;

[[noreturn]] void fail(Napi::Env env, const char* fn, const std::string& what) {
  throw Napi::Error::New(env, std::string(fn) + ": " + what);
}

std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_int8_array: return "an Int8Array";
      case napi_uint8_array: return "a Uint8Array";
      case napi_uint8_clamped_array: return "a Uint8ClampedArray";
      case napi_int16_array: return "an Int16Array";
      case napi_uint16_array: return "a Uint16Array";
      case napi_int32_array: return "an Int32Array";
      case napi_uint32_array: return "a Uint32Array";
      case napi_float32_array: return "a Float32Array";
      case napi_float64_array: return "a Float64Array";
      default: return "a typed array";
    }
  }
  if (v.IsArray()) return "an Array";
  std::string text = v.ToString().Utf8Value();
  return text.size() > 60 ? text.substr(0, 60) + "..." : text;
}

std::string num(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

/** A typed array argument of one of the given kinds: its first element and length. */
struct View {
  const void* data;
  index_t length;
};

View typedArg(const Info& info, size_t i, const char* fn, const char* name, napi_typedarray_type type,
              const char* typeName, napi_typedarray_type alsoType) {
  const Napi::Value v = info[i];
  if (!v.IsTypedArray() || (v.As<Napi::TypedArray>().TypedArrayType() != type &&
                            v.As<Napi::TypedArray>().TypedArrayType() != alsoType)) {
    fail(info.Env(), fn, std::string(name) + " must be " + typeName + ", got " + describe(v));
  }
  Napi::TypedArray a = v.As<Napi::TypedArray>();
  Napi::ArrayBuffer buffer = a.ArrayBuffer();
  if (buffer.IsDetached()) fail(info.Env(), fn, std::string(name) + "'s ArrayBuffer is detached");
  const index_t length = static_cast<index_t>(a.ElementLength());
  const void* data = length == 0 ? nullptr : static_cast<const uint8_t*>(buffer.Data()) + a.ByteOffset();
  return View{data, length};
}

View typedArg(const Info& info, size_t i, const char* fn, const char* name, napi_typedarray_type type,
              const char* typeName) {
  return typedArg(info, i, fn, name, type, typeName, type);
}

// ---- four doubles at a time (GCC / Clang vector types; AVX2 under -march=native, SSE2 pairs otherwise) ----

typedef double v4d __attribute__((vector_size(32)));
typedef int64_t v4l __attribute__((vector_size(32)));

inline v4d load(const double* p) {
  v4d v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(double* p, v4d v) { std::memcpy(p, &v, sizeof v); }
inline v4d splat(double x) { return v4d{x, x, x, x}; }
inline double hsum(v4d v) { return (v[0] + v[1]) + (v[2] + v[3]); }
inline v4d vmax(v4d a, v4d b) { return a > b ? a : b; }

constexpr double kLn2Hi = 6.93147180369123816490e-01;  // ln 2 split so that k * kLn2Hi is exact for |k| < 2^11
constexpr double kLn2Lo = 1.90821492927058770002e-10;
constexpr double kRound = 6755399441055744.0;           // 1.5 * 2^52: adding it rounds to an integer in the low bits

/** exp(x) for x <= 0, to a few ulp; exactly 0 below -708 (where exp underflows to subnormals). */
inline v4d vexp(v4d x) {
  const auto under = x < -708.0;
  x = under ? splat(-708.0) : x;
  const v4d t = x * 1.4426950408889634 + kRound;  // k = round(x / ln 2), in t's low bits
  const v4d k = t - kRound;
  const v4d r = (x - k * kLn2Hi) - k * kLn2Lo;    // |r| <= ln(2)/2
  // Taylor series of exp(r) to r^13 / 13!: truncation error below 1e-17 relative on |r| <= 0.347
  v4d p = splat(1.0 / 6227020800.0);
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const v4l ki = (v4l)t - (v4l)splat(kRound);
  const v4d scale = (v4d)((ki + 1023) << 52);  // 2^k, k in [-1022, 0]
  return under ? splat(0.0) : p * scale;
}

/** log(s) for positive normal s. */
inline v4d vlog(v4d s) {
  const v4l bits = (v4l)s;
  v4l e = (bits >> 52) - 1023;
  v4d f = (v4d)((bits & int64_t(0x000FFFFFFFFFFFFF)) | int64_t(0x3FF0000000000000));  // s = 2^e f, f in [1, 2)
  const auto big = f > 1.4142135623730951;
  f = big ? f * 0.5 : f;  // f in [sqrt(1/2), sqrt(2)]
  e = e - big;            // big is -1 where true
  // log f = 2 atanh(z), z = (f - 1) / (f + 1), |z| <= 0.1716: the series to z^19 is exact to 1e-17
  const v4d z = (f - 1.0) / (f + 1.0), z2 = z * z;
  v4d p = splat(1.0 / 19);
  p = p * z2 + 1.0 / 17;
  p = p * z2 + 1.0 / 15;
  p = p * z2 + 1.0 / 13;
  p = p * z2 + 1.0 / 11;
  p = p * z2 + 1.0 / 9;
  p = p * z2 + 1.0 / 7;
  p = p * z2 + 1.0 / 5;
  p = p * z2 + 1.0 / 3;
  p = p * z2 + 1.0;
  const v4d ed = __builtin_convertvector(e, v4d);
  return ed * kLn2Hi + (ed * kLn2Lo + 2 * z * p);
}

/** Points as structure of arrays, each channel padded with zeros to a multiple of 4; valid is 1 for a real point. */
struct Points {
  index_t n = 0, padded = 0;
  std::vector<double> c[3];
  std::vector<double> valid;
  void get(index_t i, double* out) const {
    out[0] = c[0][i];
    out[1] = c[1][i];
    out[2] = c[2][i];
  }
};

/** Points [n*3] (RGB rows of a Float32Array), each checked finite. */
Points pointsArg(const Info& info, size_t i, const char* fn) {
  const View v = typedArg(info, i, fn, "points", napi_float32_array, "a Float32Array");
  if (v.length % 3 != 0) {
    fail(info.Env(), fn, "points must hold n*3 values (RGB rows), got length " + std::to_string(v.length));
  }
  const float* p = static_cast<const float*>(v.data);
  Points P;
  P.n = v.length / 3;
  P.padded = (P.n + 3) / 4 * 4;
  for (auto& ch : P.c) ch.assign(static_cast<size_t>(P.padded), 0.0);
  P.valid.assign(static_cast<size_t>(P.padded), 0.0);
  double *c0 = P.c[0].data(), *c1 = P.c[1].data(), *c2 = P.c[2].data();
  bool finite = true;
  for (index_t i = 0; i < P.n; i++) {
    const float r = p[3 * i], g = p[3 * i + 1], b = p[3 * i + 2];
    finite &= std::isfinite(r) & std::isfinite(g) & std::isfinite(b);
    c0[i] = r;
    c1[i] = g;
    c2[i] = b;
  }
  if (!finite) {
    for (index_t k = 0; k < v.length; k++) {
      if (!std::isfinite(p[k])) fail(info.Env(), fn, "points[" + std::to_string(k) + "] must be finite, got " + num(p[k]));
    }
  }
  std::fill(P.valid.begin(), P.valid.begin() + P.n, 1.0);
  return P;
}

// ---- the mixture ----

/** A symmetric 3x3 matrix, lower triangle: 00, 10, 11, 20, 21, 22. */
struct Sym3 {
  double c00, c10, c11, c20, c21, c22;
};

/** A component ready for evaluation: the inverse of the Cholesky factor (lower) and log w - (3 log 2pi + log det)/2. */
struct Factor {
  double a00, a10, a11, a20, a21, a22;
  double constant;
};

/** Cholesky of `s`; false when it is not (numerically) positive definite. */
bool factorise(const Sym3& s, double weight, Factor* f) {
  if (!(s.c00 > 0)) return false;
  const double l00 = std::sqrt(s.c00);
  const double l10 = s.c10 / l00, l20 = s.c20 / l00;
  const double t1 = s.c11 - l10 * l10;
  if (!(t1 > 0)) return false;
  const double l11 = std::sqrt(t1);
  const double l21 = (s.c21 - l20 * l10) / l11;
  const double t2 = s.c22 - l20 * l20 - l21 * l21;
  if (!(t2 > 0)) return false;
  const double l22 = std::sqrt(t2);
  f->a00 = 1 / l00;
  f->a11 = 1 / l11;
  f->a22 = 1 / l22;
  f->a10 = -l10 * f->a00 / l11;
  f->a21 = -l21 * f->a11 / l22;
  f->a20 = -(l20 * f->a00 + l21 * f->a10) / l22;
  const double logDet = 2 * (std::log(l00) + std::log(l11) + std::log(l22));
  f->constant = std::log(weight) - 0.5 * (3 * kLog2Pi + logDet);
  return std::isfinite(f->constant) && std::isfinite(f->a20) && std::isfinite(f->a21) && std::isfinite(f->a10);
}

/** Sufficient statistics of one component, around its current mean. */
struct Stats {
  double mass, s0, s1, s2;  // sum r, sum r d
  Sym3 scatter;             // sum r d d^T
};

constexpr index_t kBlock = 256;
constexpr double kFloor = -1e300;  // the lowest log density kept; anything below (or overflowing) is clamped to it  // points per block of the EM pass (a multiple of 4)

/**
 * One pass over the points under the A active components (factors f, means mu [A*3]). Returns the total
 * log-likelihood; writes the per-point values to `perPoint` and accumulates the statistics (around mu) into
 * `stats` when given. `scratch` holds (A + 2) * kBlock doubles. Blocks of kBlock points: log densities of every
 * component, their maximum, the exponentials and their sum (log-sum-exp), then the responsibilities' moments.
 */
double evaluate(const Points& P, int A, const Factor* f, const double* mu, double* perPoint, Stats* stats,
                double* scratch) {
  double* lp = scratch;  // [A][kBlock]: log density, then exp(log density - max)
  double* m = scratch + A * kBlock;
  double* s = m + kBlock;
  const double *X0 = P.c[0].data(), *X1 = P.c[1].data(), *X2 = P.c[2].data(), *V = P.valid.data();
  if (stats) std::memset(static_cast<void*>(stats), 0, sizeof(Stats) * static_cast<size_t>(A));
  v4d total = splat(0);
  for (index_t b = 0; b < P.padded; b += kBlock) {
    const index_t B = std::min(kBlock, P.padded - b);
    const double *x0 = X0 + b, *x1 = X1 + b, *x2 = X2 + b, *valid = V + b;
    for (index_t j = 0; j < B; j += 4) store(m + j, splat(-std::numeric_limits<double>::infinity()));
    for (int a = 0; a < A; a++) {
      const Factor g = f[a];
      const double mu0 = mu[3 * a], mu1 = mu[3 * a + 1], mu2 = mu[3 * a + 2];
      double* out = lp + a * kBlock;
      for (index_t j = 0; j < B; j += 4) {
        const v4d d0 = load(x0 + j) - mu0, d1 = load(x1 + j) - mu1, d2 = load(x2 + j) - mu2;
        const v4d y0 = g.a00 * d0, y1 = g.a10 * d0 + g.a11 * d1, y2 = g.a20 * d0 + g.a21 * d1 + g.a22 * d2;
        v4d v = g.constant - 0.5 * (y0 * y0 + y1 * y1 + y2 * y2);
        v = v > kFloor ? v : splat(kFloor);  // a point so far out that q overflows (or is NaN) stays finite
        store(out + j, v);
        store(m + j, vmax(load(m + j), v));
      }
    }
    for (index_t j = 0; j < B; j += 4) store(s + j, splat(0));
    for (int a = 0; a < A; a++) {
      double* out = lp + a * kBlock;
      for (index_t j = 0; j < B; j += 4) {
        const v4d e = vexp(load(out + j) - load(m + j));
        store(out + j, e);
        store(s + j, load(s + j) + e);
      }
    }
    for (index_t j = 0; j < B; j += 4) {
      const v4d ll = load(m + j) + vlog(load(s + j));  // s >= 1: the largest term is exp(0)
      total += ll * load(valid + j);
      if (perPoint) {
        const index_t i = b + j;
        if (i + 4 <= P.n) {
          store(perPoint + i, ll);
        } else {
          for (index_t l = 0; i + l < P.n; l++) perPoint[i + l] = ll[l];
        }
      }
    }
    if (!stats) continue;
    for (index_t j = 0; j < B; j += 4) store(s + j, load(valid + j) / load(s + j));  // 1 / sum, 0 for padding
    for (int a = 0; a < A; a++) {
      const double mu0 = mu[3 * a], mu1 = mu[3 * a + 1], mu2 = mu[3 * a + 2];
      const double* e = lp + a * kBlock;
      v4d n = splat(0), t0 = n, t1 = n, t2 = n, q00 = n, q10 = n, q11 = n, q20 = n, q21 = n, q22 = n;
      for (index_t j = 0; j < B; j += 4) {
        const v4d d0 = load(x0 + j) - mu0, d1 = load(x1 + j) - mu1, d2 = load(x2 + j) - mu2;
        const v4d r = load(e + j) * load(s + j);
        const v4d r0 = r * d0, r1 = r * d1, r2 = r * d2;
        n += r;
        t0 += r0;
        t1 += r1;
        t2 += r2;
        q00 += r0 * d0;
        q10 += r1 * d0;
        q11 += r1 * d1;
        q20 += r2 * d0;
        q21 += r2 * d1;
        q22 += r2 * d2;
      }
      Stats& st = stats[a];
      st.mass += hsum(n);
      st.s0 += hsum(t0);
      st.s1 += hsum(t1);
      st.s2 += hsum(t2);
      st.scatter.c00 += hsum(q00);
      st.scatter.c10 += hsum(q10);
      st.scatter.c11 += hsum(q11);
      st.scatter.c20 += hsum(q20);
      st.scatter.c21 += hsum(q21);
      st.scatter.c22 += hsum(q22);
    }
  }
  return hsum(total);
}

uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double uniform(uint64_t* state) { return static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53; }

/** Squared distances of every point (4 at a time) to `c`; 0 for the padding. */
void distances(const Points& P, const double* c, double* out) {
  for (index_t i = 0; i < P.padded; i += 4) {
    const v4d d0 = load(P.c[0].data() + i) - c[0], d1 = load(P.c[1].data() + i) - c[1], d2 = load(P.c[2].data() + i) - c[2];
    store(out + i, (d0 * d0 + d1 * d1 + d2 * d2) * load(P.valid.data() + i));
  }
}

/**
 * Means and maximum-likelihood covariances (two passes, 4 points at a time) of the clusters j < J of the points,
 * point i belonging to cluster index[i] (a double array over the padded points; null: all in cluster 0).
 */
void moments(const Points& P, const double* index, int J, double* mean, Sym3* cov, index_t* count) {
  std::vector<v4d> acc(static_cast<size_t>(J) * 6, splat(0));
  const double *X0 = P.c[0].data(), *X1 = P.c[1].data(), *X2 = P.c[2].data(), *V = P.valid.data();
  for (index_t i = 0; i < P.padded; i += 4) {
    const v4d x0 = load(X0 + i), x1 = load(X1 + i), x2 = load(X2 + i), w = load(V + i);
    const v4d idx = index ? load(index + i) : splat(0);
    for (int j = 0; j < J; j++) {
      const v4d sel = idx == splat(j) ? w : splat(0);
      v4d* a = &acc[4 * static_cast<size_t>(j)];
      a[0] += sel;
      a[1] += sel * x0;
      a[2] += sel * x1;
      a[3] += sel * x2;
    }
  }
  for (int j = 0; j < J; j++) {
    const v4d* a = &acc[4 * static_cast<size_t>(j)];
    count[j] = static_cast<index_t>(hsum(a[0]));
    for (int c = 0; c < 3; c++) mean[3 * j + c] = count[j] ? hsum(a[1 + c]) / double(count[j]) : 0.0;
  }
  std::fill(acc.begin(), acc.end(), splat(0));
  for (index_t i = 0; i < P.padded; i += 4) {
    const v4d x0 = load(X0 + i), x1 = load(X1 + i), x2 = load(X2 + i), w = load(V + i);
    const v4d idx = index ? load(index + i) : splat(0);
    for (int j = 0; j < J; j++) {
      const v4d sel = idx == splat(j) ? w : splat(0);
      const v4d d0 = x0 - mean[3 * j], d1 = x1 - mean[3 * j + 1], d2 = x2 - mean[3 * j + 2];
      const v4d r0 = sel * d0, r1 = sel * d1, r2 = sel * d2;
      v4d* a = &acc[6 * static_cast<size_t>(j)];
      a[0] += r0 * d0;
      a[1] += r1 * d0;
      a[2] += r1 * d1;
      a[3] += r2 * d0;
      a[4] += r2 * d1;
      a[5] += r2 * d2;
    }
  }
  for (int j = 0; j < J; j++) {
    const v4d* a = &acc[6 * static_cast<size_t>(j)];
    const double inv = count[j] ? 1 / double(count[j]) : 0.0;
    cov[j] = Sym3{hsum(a[0]) * inv, hsum(a[1]) * inv, hsum(a[2]) * inv, hsum(a[3]) * inv, hsum(a[4]) * inv, hsum(a[5]) * inv};
  }
}

struct Mixture {
  std::vector<double> weight;  // K; 0 = dropped
  std::vector<double> mean;    // K*3
  std::vector<Sym3> cov;       // K, regularisation included
};

/**
 * One Lloyd assignment: every point to its nearest centre (ties to the lower index), as doubles in `index`
 * (over the padded points), its squared distance in `d2` (0 for padding); `sums` [J*4] gets each cluster's
 * count and coordinate sums. Returns whether any assignment changed.
 */
bool assignNearest(const Points& P, const std::vector<double>& centre, int J, double* index, double* d2, double* sums) {
  std::vector<v4d> acc(static_cast<size_t>(J) * 4, splat(0));
  const double *X0 = P.c[0].data(), *X1 = P.c[1].data(), *X2 = P.c[2].data(), *V = P.valid.data();
  v4d changed = splat(0);
  for (index_t i = 0; i < P.padded; i += 4) {
    const v4d x0 = load(X0 + i), x1 = load(X1 + i), x2 = load(X2 + i), w = load(V + i);
    v4d best = splat(std::numeric_limits<double>::infinity()), idx = splat(0);
    for (int j = 0; j < J; j++) {
      const v4d d0 = x0 - centre[3 * j], d1 = x1 - centre[3 * j + 1], d2v = x2 - centre[3 * j + 2];
      const v4d d = d0 * d0 + d1 * d1 + d2v * d2v;
      const auto closer = d < best;
      best = closer ? d : best;
      idx = closer ? splat(j) : idx;
    }
    changed = idx != load(index + i) ? splat(1) : changed;
    store(index + i, idx);
    store(d2 + i, best * w);
    for (int j = 0; j < J; j++) {
      const v4d sel = idx == splat(j) ? w : splat(0);
      v4d* a = &acc[4 * static_cast<size_t>(j)];
      a[0] += sel;
      a[1] += sel * x0;
      a[2] += sel * x1;
      a[3] += sel * x2;
    }
  }
  for (size_t k = 0; k < acc.size(); k++) sums[k] = hsum(acc[k]);
  return hsum(changed) > 0;
}

/** k-means++ seeds then Lloyd; returns the hard assignment's clusters as the starting mixture. */
Mixture initialise(const Points& P, int K, uint64_t seed, double reg) {
  const index_t n = P.n;
  uint64_t rng = seed;
  std::vector<double> centre;  // J*3, J <= K
  std::vector<double> d2(static_cast<size_t>(P.padded)), fresh(static_cast<size_t>(P.padded));
  double x[3];
  index_t pick = std::min(static_cast<index_t>(uniform(&rng) * double(n)), n - 1);
  P.get(pick, x);
  centre.insert(centre.end(), x, x + 3);
  distances(P, x, d2.data());
  for (int j = 1; j < K; j++) {
    v4d sum = splat(0);
    for (index_t i = 0; i < P.padded; i += 4) sum += load(d2.data() + i);
    const double total = hsum(sum);
    if (!(total > 0)) break;  // every point sits on a centre: no more distinct points
    const double target = uniform(&rng) * total;
    double cumulative = 0;
    index_t last = -1;
    pick = -1;
    for (index_t i = 0; i < n; i++) {
      if (d2[i] <= 0) continue;
      last = i;
      cumulative += d2[i];
      if (cumulative > target) {
        pick = i;
        break;
      }
    }
    if (pick < 0) pick = last;  // rounding at the end of the scan
    P.get(pick, x);
    centre.insert(centre.end(), x, x + 3);
    distances(P, x, fresh.data());
    for (index_t i = 0; i < P.padded; i += 4) {
      const v4d a = load(d2.data() + i), b = load(fresh.data() + i);
      store(d2.data() + i, b < a ? b : a);
    }
  }
  const int J = static_cast<int>(centre.size() / 3);

  // Lloyd: assign, stop when nothing changed, else move the centres to their clusters' means; a cluster left
  // empty jumps to the point farthest from its centre
  std::vector<double> index(static_cast<size_t>(P.padded), -1.0), sums(static_cast<size_t>(J) * 4);
  for (int it = 0;; it++) {
    const bool changed = assignNearest(P, centre, J, index.data(), d2.data(), sums.data());
    if ((it > 0 && !changed) || it == kLloydIterations) break;
    for (int j = 0; j < J; j++) {
      const double count = sums[4 * j];
      if (count > 0) {
        for (int c = 0; c < 3; c++) centre[3 * j + c] = sums[4 * j + 1 + c] / count;
        continue;
      }
      index_t far = -1;
      for (index_t i = 0; i < n; i++) {
        if (d2[i] > 0 && (far < 0 || d2[i] > d2[far])) far = i;
      }
      if (far < 0) continue;  // nothing left to take: the cluster stays empty and is dropped
      P.get(far, &centre[3 * j]);
      d2[far] = 0;
    }
  }

  Mixture m;
  m.weight.assign(static_cast<size_t>(K), 0.0);
  m.mean.assign(static_cast<size_t>(K) * 3, 0.0);
  m.cov.assign(static_cast<size_t>(K), Sym3{0, 0, 0, 0, 0, 0});
  std::vector<index_t> count(static_cast<size_t>(J));
  moments(P, index.data(), J, m.mean.data(), m.cov.data(), count.data());
  for (int j = 0; j < J; j++) {
    m.weight[j] = double(count[j]) / double(n);
    m.cov[j].c00 += reg;
    m.cov[j].c11 += reg;
    m.cov[j].c22 += reg;
  }
  return m;
}

/** Factors for the active components; a covariance that rounding left indefinite gets a growing jitter. */
void factorAll(Mixture& m, const std::vector<int>& active, std::vector<Factor>& f, std::vector<double>& mu, double reg) {
  const int A = static_cast<int>(active.size());
  f.resize(static_cast<size_t>(A));
  mu.resize(static_cast<size_t>(A) * 3);
  for (int a = 0; a < A; a++) {
    const int k = active[a];
    Sym3& s = m.cov[k];
    double jitter = std::max(reg, 1e-12 * (std::fabs(s.c00) + std::fabs(s.c11) + std::fabs(s.c22)));
    for (int attempt = 0; !factorise(s, m.weight[k], &f[a]); attempt++) {
      if (attempt == 60) throw std::runtime_error("component " + std::to_string(k) + "'s covariance is not positive definite");
      s.c00 += jitter;
      s.c11 += jitter;
      s.c22 += jitter;
      jitter *= 4;
    }
    for (int c = 0; c < 3; c++) mu[3 * a + c] = m.mean[3 * k + c];
  }
}

// gmmFit(points, components, iterations, seed, regularisation, tolerance)
Napi::Value GmmFit(const Info& info) {
  const char* fn = "gmmFit";
  Napi::Env env = info.Env();
  const Points P = pointsArg(info, 0, fn);
  const index_t n = P.n;
  const index_t K = intArg(info, 1, fn, "components", 1);
  if (K > kMaxComponents) fail(env, fn, "components must be at most " + std::to_string(kMaxComponents) + ", got " + std::to_string(K));
  const index_t iterations = intArg(info, 2, fn, "iterations", 0);
  const index_t seed = intArg(info, 3, fn, "seed", 0);
  const double reg = numberArg(info, 4, fn, "regularisation");
  if (!(reg > 0) || !std::isfinite(reg)) fail(env, fn, "regularisation must be a finite number > 0, got " + num(reg));
  const double tolerance = numberArg(info, 5, fn, "tolerance");
  if (!(tolerance >= 0) || !std::isfinite(tolerance)) fail(env, fn, "tolerance must be a finite number >= 0, got " + num(tolerance));
  if (n == 0) fail(env, fn, "points must hold at least one point");

  Mixture m = initialise(P, static_cast<int>(K), static_cast<uint64_t>(seed), reg);
  std::vector<int> active, kept;
  for (int k = 0; k < K; k++) {
    if (m.weight[k] > 0) active.push_back(k);
  }
  std::vector<Factor> f;
  std::vector<double> mu, history;
  std::vector<Stats> stats(static_cast<size_t>(K));
  std::vector<double> scratch(static_cast<size_t>(K + 2) * kBlock);
  index_t done = 0;
  for (;;) {
    factorAll(m, active, f, mu, reg);
    const int A = static_cast<int>(active.size());
    const bool more = done < iterations;
    history.push_back(evaluate(P, A, f.data(), mu.data(), nullptr, more ? stats.data() : nullptr, scratch.data()));
    if (!more) break;
    if (done > 0 && tolerance > 0 && (history[done] - history[done - 1]) / double(n) < tolerance) break;
    // M-step
    double mass = 0;
    for (int a = 0; a < A; a++) mass += stats[a].mass >= kMinMass ? stats[a].mass : 0;
    kept.clear();
    for (int a = 0; a < A; a++) {
      const int k = active[a];
      const Stats& st = stats[a];
      if (st.mass < kMinMass) {
        m.weight[k] = 0;
        continue;
      }
      const double inv = 1 / st.mass;
      const double m0 = st.s0 * inv, m1 = st.s1 * inv, m2 = st.s2 * inv;
      m.mean[3 * k] = mu[3 * a] + m0;
      m.mean[3 * k + 1] = mu[3 * a + 1] + m1;
      m.mean[3 * k + 2] = mu[3 * a + 2] + m2;
      const Sym3& s = st.scatter;
      m.cov[k] = Sym3{s.c00 * inv - m0 * m0 + reg, s.c10 * inv - m1 * m0,       s.c11 * inv - m1 * m1 + reg,
                      s.c20 * inv - m2 * m0,       s.c21 * inv - m2 * m1,       s.c22 * inv - m2 * m2 + reg};
      m.weight[k] = st.mass / mass;
      kept.push_back(k);
    }
    active.swap(kept);
    done++;
  }

  // dropped components: weight 0, placeholders from the whole data
  double dataMean[3] = {0, 0, 0};
  Sym3 dataCov{0, 0, 0, 0, 0, 0};
  index_t all;
  if (static_cast<index_t>(active.size()) < K) moments(P, nullptr, 1, dataMean, &dataCov, &all);
  double weightSum = 0;
  for (int k : active) weightSum += m.weight[k];
  Napi::Float64Array weights = Napi::Float64Array::New(env, static_cast<size_t>(K));
  Napi::Float64Array means = Napi::Float64Array::New(env, static_cast<size_t>(K) * 3);
  Napi::Float64Array covs = Napi::Float64Array::New(env, static_cast<size_t>(K) * 9);
  for (int k = 0; k < K; k++) {
    const bool used = std::find(active.begin(), active.end(), k) != active.end();
    const double* mk = used ? &m.mean[3 * k] : dataMean;
    Sym3 s = used ? m.cov[k] : Sym3{dataCov.c00 + reg, dataCov.c10, dataCov.c11 + reg, dataCov.c20, dataCov.c21, dataCov.c22 + reg};
    weights[k] = used ? m.weight[k] / weightSum : 0.0;
    for (int c = 0; c < 3; c++) means[3 * k + c] = mk[c];
    const double full[9] = {s.c00, s.c10, s.c20, s.c10, s.c11, s.c21, s.c20, s.c21, s.c22};
    for (int c = 0; c < 9; c++) covs[9 * k + c] = full[c];
  }
  Napi::Float64Array hist = Napi::Float64Array::New(env, history.size());
  for (size_t t = 0; t < history.size(); t++) hist[t] = history[t];
  Napi::Object out = Napi::Object::New(env);
  out.Set("weights", weights);
  out.Set("means", means);
  out.Set("covariances", covs);
  out.Set("logLikelihood", Napi::Number::New(env, history.back()));
  out.Set("iterations", Napi::Number::New(env, static_cast<double>(done)));
  out.Set("history", hist);
  return out;
}

// gmmLogLikelihood(weights, means, covariances, points)
Napi::Value GmmLogLikelihood(const Info& info) {
  const char* fn = "gmmLogLikelihood";
  Napi::Env env = info.Env();
  const View wv = typedArg(info, 0, fn, "weights", napi_float64_array, "a Float64Array");
  const View mv = typedArg(info, 1, fn, "means", napi_float64_array, "a Float64Array");
  const View cv = typedArg(info, 2, fn, "covariances", napi_float64_array, "a Float64Array");
  const index_t K = wv.length;
  if (K < 1 || K > kMaxComponents) {
    fail(env, fn, "weights must hold between 1 and " + std::to_string(kMaxComponents) + " components, got " + std::to_string(K));
  }
  if (mv.length != 3 * K) fail(env, fn, "means must hold " + std::to_string(3 * K) + " values (K*3), got " + std::to_string(mv.length));
  if (cv.length != 9 * K) {
    fail(env, fn, "covariances must hold " + std::to_string(9 * K) + " values (K*9), got " + std::to_string(cv.length));
  }
  const double* w = static_cast<const double*>(wv.data);
  const double* mean = static_cast<const double*>(mv.data);
  const double* cov = static_cast<const double*>(cv.data);
  double total = 0;
  for (index_t k = 0; k < K; k++) {
    if (!(w[k] >= 0) || !std::isfinite(w[k])) {
      fail(env, fn, "weights[" + std::to_string(k) + "] must be a finite number >= 0, got " + num(w[k]));
    }
    total += w[k];
  }
  if (!(std::fabs(total - 1) <= 1e-6)) fail(env, fn, "weights must sum to 1, got " + num(total));
  for (index_t k = 0; k < 3 * K; k++) {
    if (!std::isfinite(mean[k])) fail(env, fn, "means[" + std::to_string(k) + "] must be finite, got " + num(mean[k]));
  }
  for (index_t k = 0; k < 9 * K; k++) {
    if (!std::isfinite(cov[k])) fail(env, fn, "covariances[" + std::to_string(k) + "] must be finite, got " + num(cov[k]));
  }
  std::vector<Factor> f;
  std::vector<double> mu;
  for (index_t k = 0; k < K; k++) {
    const double* c = cov + 9 * k;
    for (int r = 0; r < 3; r++) {
      for (int s = 0; s < r; s++) {
        const double a = c[3 * r + s], b = c[3 * s + r];
        if (!(std::fabs(a - b) <= 1e-9 * std::sqrt(std::fabs(c[4 * r] * c[4 * s])))) {
          fail(env, fn, "covariance " + std::to_string(k) + " is not symmetric: [" + std::to_string(r) + "][" +
                            std::to_string(s) + "] = " + num(a) + " but [" + std::to_string(s) + "][" +
                            std::to_string(r) + "] = " + num(b));
        }
      }
    }
    if (w[k] == 0) continue;  // dropped: ignored
    Factor g;
    if (!factorise(Sym3{c[0], c[3], c[4], c[6], c[7], c[8]}, w[k], &g)) {
      fail(env, fn, "covariance " + std::to_string(k) + " is not positive definite");
    }
    f.push_back(g);
    mu.insert(mu.end(), mean + 3 * k, mean + 3 * k + 3);
  }
  const Points P = pointsArg(info, 3, fn);
  const int A = static_cast<int>(f.size());
  Napi::Float64Array out = Napi::Float64Array::New(env, static_cast<size_t>(P.n));
  std::vector<double> scratch(static_cast<size_t>(A + 2) * kBlock);
  if (P.n > 0) evaluate(P, A, f.data(), mu.data(), out.Data(), nullptr, scratch.data());
  return out;
}

// ---- connected components ----

struct Geometry {
  const uint8_t* mask;
  index_t width, height;
  int connectivity;
};

Geometry maskArgs(const Info& info, const char* fn) {
  const View v = typedArg(info, 0, fn, "mask", napi_uint8_array, "a Uint8Array", napi_uint8_clamped_array);
  Geometry g{static_cast<const uint8_t*>(v.data), intArg(info, 1, fn, "width", 0), intArg(info, 2, fn, "height", 0), 0};
  const index_t c = intArg(info, 3, fn, "connectivity", 0);
  if (c != 4 && c != 8) fail(info.Env(), fn, "connectivity must be 4 or 8, got " + std::to_string(c));
  g.connectivity = static_cast<int>(c);
  const index_t size = checkedMul(info.Env(), g.width, g.height, fn);
  if (size > std::numeric_limits<int32_t>::max()) {
    fail(info.Env(), fn, "width*height = " + std::to_string(size) + " exceeds 2^31-1 pixels");
  }
  if (size != v.length) {
    fail(info.Env(), fn, "mask must hold width*height = " + std::to_string(g.width) + "*" + std::to_string(g.height) +
                             " = " + std::to_string(size) + " values, got " + std::to_string(v.length));
  }
  return g;
}

int32_t root(std::vector<int32_t>& parent, int32_t a) {
  while (parent[a] != a) {
    parent[a] = parent[parent[a]];
    a = parent[a];
  }
  return a;
}

void unite(std::vector<int32_t>& parent, int32_t a, int32_t b) {
  a = root(parent, a);
  b = root(parent, b);
  if (a < b) parent[b] = a;
  else if (b < a) parent[a] = b;
}

/**
 * Two-pass labelling with union-find: labels 1..count numbered in the raster order of each component's first
 * pixel; sizes [count+1] and boxes [(count+1)*4] (x, y, width, height) with entry 0 for the background
 * (a zero box when there is none). Any non-zero mask value is foreground.
 */
int32_t label(const Geometry& g, int32_t* labels, std::vector<int32_t>& sizes, std::vector<int32_t>& boxes) {
  const index_t W = g.width, H = g.height;
  std::vector<int32_t> parent{0};
  for (index_t y = 0; y < H; y++) {
    const uint8_t* row = g.mask + y * W;
    int32_t* out = labels + y * W;
    const int32_t* up = y > 0 ? out - W : nullptr;
    for (index_t x = 0; x < W; x++) {
      if (!row[x]) {
        out[x] = 0;
        continue;
      }
      int32_t l = 0;
      auto join = [&](int32_t other) {
        if (!other) return;
        if (!l) l = other;
        else if (other != l) unite(parent, l, other);
      };
      if (x > 0) join(out[x - 1]);
      if (up) {
        join(up[x]);
        if (g.connectivity == 8) {
          if (x > 0) join(up[x - 1]);
          if (x + 1 < W) join(up[x + 1]);
        }
      }
      if (!l) {
        l = static_cast<int32_t>(parent.size());
        parent.push_back(l);
      }
      out[x] = l;
    }
  }
  std::vector<int32_t> final(parent.size(), 0);
  int32_t count = 0;
  const index_t size = W * H;
  for (index_t i = 0; i < size; i++) {
    if (!labels[i]) continue;
    const int32_t r = root(parent, labels[i]);
    if (!final[r]) final[r] = ++count;
    labels[i] = final[r];
  }
  sizes.assign(static_cast<size_t>(count) + 1, 0);
  std::vector<int32_t> lo(2 * (static_cast<size_t>(count) + 1), std::numeric_limits<int32_t>::max());
  std::vector<int32_t> hi(2 * (static_cast<size_t>(count) + 1), -1);
  for (index_t y = 0; y < H; y++) {
    for (index_t x = 0; x < W; x++) {
      const int32_t l = labels[y * W + x];
      sizes[l]++;
      lo[2 * l] = std::min(lo[2 * l], static_cast<int32_t>(x));
      lo[2 * l + 1] = std::min(lo[2 * l + 1], static_cast<int32_t>(y));
      hi[2 * l] = std::max(hi[2 * l], static_cast<int32_t>(x));
      hi[2 * l + 1] = std::max(hi[2 * l + 1], static_cast<int32_t>(y));
    }
  }
  boxes.assign(4 * (static_cast<size_t>(count) + 1), 0);
  for (int32_t l = 0; l <= count; l++) {
    if (!sizes[l]) continue;
    boxes[4 * l] = lo[2 * l];
    boxes[4 * l + 1] = lo[2 * l + 1];
    boxes[4 * l + 2] = hi[2 * l] - lo[2 * l] + 1;
    boxes[4 * l + 3] = hi[2 * l + 1] - lo[2 * l + 1] + 1;
  }
  return count;
}

Napi::Int32Array int32s(Napi::Env env, const std::vector<int32_t>& v) {
  Napi::Int32Array a = Napi::Int32Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(int32_t));
  return a;
}

// labelComponents(mask, width, height, connectivity)
Napi::Value LabelComponents(const Info& info) {
  const char* fn = "labelComponents";
  const Geometry g = maskArgs(info, fn);
  Napi::Env env = info.Env();
  const size_t size = static_cast<size_t>(g.width * g.height);
  Napi::Int32Array labels = Napi::Int32Array::New(env, size);
  std::vector<int32_t> sizes, boxes;
  const int32_t count = label(g, size ? labels.Data() : nullptr, sizes, boxes);
  Napi::Object out = Napi::Object::New(env);
  out.Set("labels", labels);
  out.Set("count", Napi::Number::New(env, count));
  out.Set("sizes", int32s(env, sizes));
  out.Set("boxes", int32s(env, boxes));
  return out;
}

// largestComponent(mask, width, height, connectivity)
Napi::Value LargestComponent(const Info& info) {
  const char* fn = "largestComponent";
  const Geometry g = maskArgs(info, fn);
  Napi::Env env = info.Env();
  const size_t size = static_cast<size_t>(g.width * g.height);
  std::vector<int32_t> labels(size), sizes, boxes;
  const int32_t count = label(g, labels.data(), sizes, boxes);
  int32_t best = 0;
  for (int32_t l = 1; l <= count; l++) {
    if (sizes[l] > (best ? sizes[best] : 0)) best = l;  // strict: ties keep the smaller label
  }
  Napi::Uint8Array mask = Napi::Uint8Array::New(env, size);
  for (size_t i = 0; i < size; i++) mask[i] = best && labels[i] == best ? 1 : 0;
  Napi::Object out = Napi::Object::New(env);
  out.Set("mask", mask);
  if (best) {
    Napi::Int32Array box = Napi::Int32Array::New(env, 4);
    for (int c = 0; c < 4; c++) box[c] = boxes[4 * static_cast<size_t>(best) + c];
    out.Set("box", box);
  } else {
    out.Set("box", env.Null());
  }
  return out;
}

}  // namespace

void registerSegment(Napi::Env env, Napi::Object exports) {
  const std::pair<const char*, Napi::Value (*)(const Info&)> table[] = {
    {"gmmFit", GmmFit}, {"gmmLogLikelihood", GmmLogLikelihood},
    {"labelComponents", LabelComponents}, {"largestComponent", LargestComponent},
  };
  for (const auto& [name, f] : table) exports.Set(name, guarded(env, name, f));
}

}  // namespace convis
