// Reductions, softmax and its backward over the middle axis of [outer, n, inner], mirroring kernels/reduce.wgsl
// and kernels/softmax.wgsl. Sums accumulate in double (the WGSL sums in f32 over a 64-way tree), so the
// results stay within float rounding of a float64 reference for rows of millions of elements.
//
// Rows are strided by `inner`, so each piece of work is a tile of up to kTile neighbouring columns of one
// outer index: the loops over a tile read contiguous memory and vectorise, and for moderate n the tile is
// still in the cache when softmax makes its next pass over it. Rows with inner == 1 take contiguous paths.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels.h"

namespace convis {

namespace {

constexpr index_t kTile = 1024;  // wide enough for the prefetcher to stream each row segment
// elements per parallel chunk below which another thread costs more than it saves
constexpr index_t kGrain = index_t(1) << 15;
// exp dominates softmax, so its chunks need fewer elements to pay for a thread
constexpr index_t kGrainExp = index_t(1) << 12;
// the WGSL kernels start a max at this, not at -Inf; kept so an all -Inf (or empty) row gives the same value
constexpr float kMaxInit = -3.402823e38f;

/** columns (rows of the reduction) per parallel chunk, so that a chunk holds about `elements` elements */
index_t rowGrain(index_t n, index_t elements) { return std::max<index_t>(1, elements / std::max<index_t>(n, 1)); }

// WGSL's max of a NaN is implementation-defined; here a NaN wins and stays (as in PyTorch's amax and
// the pooling kernels), written as a select so that it vectorises.
inline float maxNaN(float m, float v) { return (v > m || v != v) ? v : m; }

/** Calls f(o, i0, w) for the tiles of flat columns [begin, end) of [outer, inner]: columns i0..i0+w of o. */
template <class F>
void forTiles(index_t begin, index_t end, index_t inner, F&& f) {
  for (index_t c = begin; c < end;) {
    const index_t o = c / inner, i0 = c % inner;
    const index_t w = std::min({inner - i0, end - c, kTile});
    f(o, i0, w);
    c += w;
  }
}

// A contiguous row (inner == 1): eight independent lanes break the add's dependency chain and vectorise
// without reassociating anything the compiler would need -ffast-math for.
double sumContiguous(const float* x, index_t n) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  index_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; j++) lane[j] += double(x[k + j]);
  double tail = 0;
  for (; k < n; k++) tail += double(x[k]);
  return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7])) + tail;
}

// The NaN test is kept apart from the comparison as an integer flag, which GCC -O3 vectorises far better
// than the combined select of maxNaN (twice as fast on a long row).
float maxContiguous(const float* x, index_t n) {
  float lane[8];
  int nan[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int j = 0; j < 8; j++) lane[j] = kMaxInit;
  index_t k = 0;
  for (; k + 8 <= n; k += 8) {
    for (int j = 0; j < 8; j++) {
      const float v = x[k + j];
      lane[j] = v > lane[j] ? v : lane[j];
      nan[j] |= v != v;
    }
  }
  float m = kMaxInit;
  int anyNaN = 0;
  for (; k < n; k++) {
    m = x[k] > m ? x[k] : m;
    anyNaN |= x[k] != x[k];
  }
  for (int j = 0; j < 8; j++) {
    m = lane[j] > m ? lane[j] : m;
    anyNaN |= nan[j];
  }
  return anyNaN ? std::numeric_limits<float>::quiet_NaN() : m;
}

double dotContiguous(const float* x, const float* y, index_t n) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  index_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; j++) lane[j] += double(x[k + j]) * double(y[k + j]);
  double tail = 0;
  for (; k < n; k++) tail += double(x[k]) * double(y[k]);
  return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7])) + tail;
}

void sumTile(const float* x, index_t n, index_t inner, index_t w, float* out) {
  double acc[kTile];
  for (index_t i = 0; i < w; i++) acc[i] = 0;
  for (index_t k = 0; k < n; k++) {
    const float* row = x + k * inner;
    for (index_t i = 0; i < w; i++) acc[i] += double(row[i]);
  }
  for (index_t i = 0; i < w; i++) out[i] = float(acc[i]);
}

void maxTile(const float* x, index_t n, index_t inner, index_t w, float* out) {
  for (index_t i = 0; i < w; i++) out[i] = kMaxInit;
  for (index_t k = 0; k < n; k++) {
    const float* row = x + k * inner;
    for (index_t i = 0; i < w; i++) out[i] = maxNaN(out[i], row[i]);
  }
}

// The tile code with inner == 1 would carry each row's running sums through memory; a contiguous row keeps
// them in registers. Same passes and formulas as the tiles in softmax() below.
void softmaxRow(const float* x, index_t n, bool log, float* y) {
  const double m = double(maxContiguous(x, n));
  double s = 0;
  if (log) {
    for (index_t k = 0; k < n; k++) s += std::exp(double(x[k]) - m);
    const double ls = std::log(s);
    for (index_t k = 0; k < n; k++) y[k] = float(double(x[k]) - m - ls);
    return;
  }
  for (index_t k = 0; k < n; k++) {
    const double e = std::exp(double(x[k]) - m);
    s += e;
    y[k] = float(e);
  }
  const double inv = 1.0 / s;
  for (index_t k = 0; k < n; k++) y[k] = float(double(y[k]) * inv);
}

void softmaxBackwardRow(const float* y, const float* g, index_t n, bool log, float* out) {
  if (log) {
    const double total = sumContiguous(g, n);
    for (index_t k = 0; k < n; k++) out[k] = float(double(g[k]) - std::exp(double(y[k])) * total);
  } else {
    const double total = dotContiguous(g, y, n);
    for (index_t k = 0; k < n; k++) out[k] = float(double(y[k]) * (double(g[k]) - total));
  }
}

}  // namespace

void reduce(bool max, const float* x, index_t outer, index_t n, index_t inner, float* out) {
  const index_t columns = outer * inner;
  if (columns == 0) return;
  parallel_for(columns, rowGrain(n, kGrain), [&](index_t begin, index_t end) {
    if (inner == 1) {
      for (index_t o = begin; o < end; o++)
        out[o] = max ? maxContiguous(x + o * n, n) : float(sumContiguous(x + o * n, n));
      return;
    }
    forTiles(begin, end, inner, [&](index_t o, index_t i0, index_t w) {
      const float* src = x + o * n * inner + i0;
      float* dst = out + o * inner + i0;
      if (max) maxTile(src, n, inner, w, dst);
      else sumTile(src, n, inner, w, dst);
    });
  });
}

void softmax(const float* x, index_t outer, index_t n, index_t inner, bool log, float* out) {
  const index_t columns = outer * inner;
  if (columns == 0 || n == 0) return;
  parallel_for(columns, rowGrain(n, kGrainExp), [&](index_t begin, index_t end) {
    if (inner == 1) {
      for (index_t o = begin; o < end; o++) softmaxRow(x + o * n, n, log, out + o * n);
      return;
    }
    forTiles(begin, end, inner, [&](index_t o, index_t i0, index_t w) {
      const index_t at = o * n * inner + i0;
      const float* src = x + at;
      float* dst = out + at;
      float m[kTile];
      double s[kTile];
      for (index_t i = 0; i < w; i++) {
        m[i] = kMaxInit;
        s[i] = 0;
      }
      for (index_t k = 0; k < n; k++) {
        const float* row = src + k * inner;
        for (index_t i = 0; i < w; i++) m[i] = maxNaN(m[i], row[i]);
      }
      // z = x - max in double is exact (or rounded where exp(z) underflows anyway), so exp(z) carries only
      // its own rounding
      if (log) {
        for (index_t k = 0; k < n; k++) {
          const float* row = src + k * inner;
          for (index_t i = 0; i < w; i++) s[i] += std::exp(double(row[i]) - double(m[i]));
        }
        for (index_t i = 0; i < w; i++) s[i] = std::log(s[i]);
        for (index_t k = 0; k < n; k++) {
          const float* row = src + k * inner;
          float* y = dst + k * inner;
          for (index_t i = 0; i < w; i++) y[i] = float(double(row[i]) - double(m[i]) - s[i]);
        }
        return;
      }
      // the exponentials wait in `out` for the total, which saves computing each twice; every element is
      // read before it is written, so out may be x
      for (index_t k = 0; k < n; k++) {
        const float* row = src + k * inner;
        float* y = dst + k * inner;
        for (index_t i = 0; i < w; i++) {
          const double e = std::exp(double(row[i]) - double(m[i]));
          s[i] += e;
          y[i] = float(e);
        }
      }
      for (index_t i = 0; i < w; i++) s[i] = 1.0 / s[i];
      for (index_t k = 0; k < n; k++) {
        float* y = dst + k * inner;
        for (index_t i = 0; i < w; i++) y[i] = float(double(y[i]) * s[i]);
      }
    });
  });
}

// softmax:     dx = y * (g - sum(g * y))
// log-softmax: dx = g - exp(y) * sum(g)
void softmaxBackward(const float* y, const float* g, index_t outer, index_t n, index_t inner, bool log, float* out) {
  const index_t columns = outer * inner;
  if (columns == 0 || n == 0) return;
  parallel_for(columns, rowGrain(n, log ? kGrainExp : kGrain), [&](index_t begin, index_t end) {
    if (inner == 1) {
      for (index_t o = begin; o < end; o++) softmaxBackwardRow(y + o * n, g + o * n, n, log, out + o * n);
      return;
    }
    forTiles(begin, end, inner, [&](index_t o, index_t i0, index_t w) {
      const index_t at = o * n * inner + i0;
      const float* ys = y + at;
      const float* gs = g + at;
      float* dst = out + at;
      double total[kTile];
      for (index_t i = 0; i < w; i++) total[i] = 0;
      for (index_t k = 0; k < n; k++) {
        const float* yr = ys + k * inner;
        const float* gr = gs + k * inner;
        if (log) {
          for (index_t i = 0; i < w; i++) total[i] += double(gr[i]);
        } else {
          for (index_t i = 0; i < w; i++) total[i] += double(gr[i]) * double(yr[i]);
        }
      }
      for (index_t k = 0; k < n; k++) {
        const float* yr = ys + k * inner;
        const float* gr = gs + k * inner;
        float* dr = dst + k * inner;
        if (log) {
          for (index_t i = 0; i < w; i++) dr[i] = float(double(gr[i]) - std::exp(double(yr[i])) * total[i]);
        } else {
          for (index_t i = 0; i < w; i++) dr[i] = float(double(yr[i]) * (double(gr[i]) - total[i]));
        }
      }
    });
  });
}

}  // namespace convis
