// Across-channel local response normalisation: the CPU twin of kernels/lrn.wgsl, whose header derives the
// backward. x is [N, C, S] (S the spatial size):
//   d_c = k + alpha / size * sum_{j in [c - lo, c + hi] clipped} x_j^2,   y_c = x_c * d_c^(-beta)
//   dx_j = g_j d_j^(-beta) - 2 beta alpha / size * x_j * sum_{c in [j - hi, j + lo] clipped} g_c y_c / d_c
// Work goes in tiles of consecutive spatial positions so that the channel loops run over contiguous rows
// the compiler vectorises. Each d_c is still summed directly over its window in ascending channel order (no
// running sum), which is the WGSL's summation order, so the two backends agree to rounding.

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"

namespace convis {

namespace {

constexpr index_t kMaxTile = 64;
constexpr index_t kMinTile = 8;

struct Window { index_t lo, hi; float alphaOverSize; };

// lo = floor((size - 1) / 2), hi = the rest (ONNX and Caffe; see lrnWindow in src/backend/webgpu/lrn.ts).
// alpha / size is formed in double and rounded once, as the WebGPU backend does in JS before its f32 uniform.
Window windowOf(const LrnParams& p) {
  const index_t lo = (p.size - 1) / 2;
  return {lo, p.size - 1 - lo, static_cast<float>(static_cast<double>(p.alpha) / static_cast<double>(p.size))};
}

// Spatial positions per tile: as wide as kMaxTile, but narrower when that would leave threads idle (a
// batch of one with a small feature map).
index_t tileFor(index_t N, index_t S) {
  const index_t want = 4 * static_cast<index_t>(std::max(parallel_threads(), 1));
  index_t tile = kMaxTile;
  while (tile > kMinTile && N * ((S + tile - 1) / tile) < want) tile /= 2;
  return std::max<index_t>(1, std::min(tile, S));
}

// d over spatial positions [s0, s0 + len) of channel c, the sample's channel 0 at xs: the window summed in
// ascending channel order, starting from 0 as the WGSL does.
inline void denominators(const float* xs, index_t C, index_t S, index_t c, index_t s0, index_t len,
                         const Window& win, float k, float* d) {
  const index_t c0 = c >= win.lo ? c - win.lo : 0;
  const index_t c1 = std::min(c + win.hi, C - 1);
  for (index_t s = 0; s < len; ++s) d[s] = 0.0f;
  for (index_t j = c0; j <= c1; ++j) {
    const float* xr = xs + j * S + s0;
    for (index_t s = 0; s < len; ++s) d[s] += xr[s] * xr[s];
  }
  for (index_t s = 0; s < len; ++s) d[s] = k + win.alphaOverSize * d[s];
}

}  // namespace

void lrn(const float* x, index_t N, index_t C, index_t HW, const LrnParams& p, float* out) {
  if (N <= 0 || C <= 0 || HW <= 0) return;
  const Window win = windowOf(p);
  const index_t tile = tileFor(N, HW);
  const index_t tiles = (HW + tile - 1) / tile;
  const index_t span = std::max<index_t>(1, std::min(p.size, C));
  // items are (sample, channel, tile): each computes its own d, so channels split freely across threads
  parallel_for(N * C * tiles, std::max<index_t>(1, 16384 / (span * tile)), [&](index_t begin, index_t end) {
    float d[kMaxTile];
    for (index_t item = begin; item < end; ++item) {
      const index_t t = item % tiles, nc = item / tiles;
      const index_t n = nc / C, c = nc % C;
      const index_t s0 = t * tile, len = std::min(tile, HW - s0);
      const float* xs = x + n * C * HW;
      denominators(xs, C, HW, c, s0, len, win, p.k, d);
      const float* xr = xs + c * HW + s0;
      float* yr = out + nc * HW + s0;
      for (index_t s = 0; s < len; ++s) yr[s] = xr[s] * std::pow(d[s], -p.beta);
    }
  });
}

void lrnBackward(const float* x, const float* y, const float* g, index_t N, index_t C, index_t HW,
                 const LrnParams& p, float* out) {
  if (N <= 0 || C <= 0 || HW <= 0) return;
  const Window win = windowOf(p);
  const index_t tile = tileFor(N, HW);
  const index_t tiles = (HW + tile - 1) / tile;
  const index_t span = std::max<index_t>(1, std::min(p.size, C));
  // 2 beta alpha / size, multiplied in the WGSL's left-to-right order
  const float coef = 2.0f * p.beta * win.alphaOverSize;
  // items are (sample, tile): every channel's d and g y / d is computed once per tile and read by the
  // `size` channels whose windows hold it, instead of recomputing d per reader as the WGSL does
  parallel_for(N * tiles, std::max<index_t>(1, 16384 / (C * span * tile)), [&](index_t begin, index_t end) {
    std::vector<float> dBuf(static_cast<size_t>(C * tile)), ratioBuf(static_cast<size_t>(C * tile));
    float cross[kMaxTile];
    for (index_t item = begin; item < end; ++item) {
      const index_t n = item / tiles, t = item % tiles;
      const index_t s0 = t * tile, len = std::min(tile, HW - s0);
      const index_t base = n * C * HW + s0;
      const float* xs = x + n * C * HW;
      for (index_t c = 0; c < C; ++c) {
        float* d = dBuf.data() + c * tile;
        float* ratio = ratioBuf.data() + c * tile;
        denominators(xs, C, HW, c, s0, len, win, p.k, d);
        const float* gr = g + base + c * HW;
        const float* yr = y + base + c * HW;
        for (index_t s = 0; s < len; ++s) ratio[s] = gr[s] * yr[s] / d[s];
      }
      for (index_t j = 0; j < C; ++j) {
        // the channels whose windows hold j: [j - hi, j + lo], the window mirrored
        const index_t c0 = j >= win.hi ? j - win.hi : 0;
        const index_t c1 = std::min(j + win.lo, C - 1);
        const float* d = dBuf.data() + j * tile;
        const float* xr = x + base + j * HW;
        const float* gr = g + base + j * HW;
        float* o = out + base + j * HW;
        for (index_t s = 0; s < len; ++s) cross[s] = 0.0f;
        for (index_t c = c0; c <= c1; ++c) {
          const float* ratio = ratioBuf.data() + c * tile;
          for (index_t s = 0; s < len; ++s) cross[s] += ratio[s];
        }
        for (index_t s = 0; s < len; ++s) {
          const float own = gr[s] * std::pow(d[s], -p.beta);
          o[s] = own - coef * xr[s] * cross[s];
        }
      }
    }
  });
}

}  // namespace convis
