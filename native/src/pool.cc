// 2-D pooling over NCHW planes: the CPU twin of kernels/pool.wgsl. Window spans, tie and NaN rules, the
// switch encoding and the average divisors follow the WGSL exactly, so the two backends agree to rounding.
// The backward kernels scatter serially inside each plane, walking the outputs in row-major order: every
// input pixel then receives its terms in the same order as the WGSL's gather (which scans the covering
// outputs row-major), so the sums match it bit for bit while each output is visited once instead of once
// per covered pixel.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels.h"

namespace convis {

namespace {

// A bit test, like the WGSL's is_nan: immune to any fast-math assumption that floats are never NaN.
inline bool isNan(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return (bits & 0x7fffffffu) > 0x7f800000u;
}

struct Span { index_t first, end; };

// The input rows (or columns) output o's window covers, clipped to the input: [first, end).
inline Span windowSpan(index_t o, index_t stride, index_t pad, index_t kernel, index_t extent) {
  const index_t start = o * stride - pad;
  return {std::max<index_t>(start, 0), std::min(start + kernel, extent)};
}

// PyTorch's divisor, as avg_divisor in the WGSL: the window clipped to input + padding (a ceil-mode window
// can run past it), or without count_include_pad, clipped to the input alone.
inline float avgDivisor(const PoolGeometry& g, index_t oh, index_t ow) {
  if (g.countIncludePad) {
    const index_t h0 = oh * g.strideH - g.padTop, w0 = ow * g.strideW - g.padLeft;
    const index_t h1 = std::min(h0 + g.kernelH, g.H + g.padBottom);
    const index_t w1 = std::min(w0 + g.kernelW, g.W + g.padRight);
    return static_cast<float>((h1 - h0) * (w1 - w0));
  }
  const Span rows = windowSpan(oh, g.strideH, g.padTop, g.kernelH, g.H);
  const Span cols = windowSpan(ow, g.strideW, g.padLeft, g.kernelW, g.W);
  return static_cast<float>((rows.end - rows.first) * (cols.end - cols.first));
}

// Output rows per chunk so that a chunk does a few tens of thousands of window reads: pooling is cheap per
// element, and smaller chunks would spend more on scheduling than on work.
inline index_t rowGrain(index_t workPerRow) {
  return std::max<index_t>(1, 32768 / std::max<index_t>(workPerRow, 1));
}

// Planes per chunk for the per-plane scatters, on the same budget.
inline index_t planeGrain(index_t workPerPlane) {
  return std::max<index_t>(1, 32768 / std::max<index_t>(workPerPlane, 1));
}

// Switches are f32 and compare equal to f32(pixel) in the WGSL; below 2^24 pixels that is a one-to-one
// test, so a switch names exactly one pixel and can be scattered. Larger planes (which the ops refuse)
// fall back to the WGSL's gather so that even its rounding collisions are reproduced.
constexpr index_t kExactSwitchPlane = index_t{1} << 24;

// The pixel a switch names, or -1: what gather_switches accepts (not NaN, integral, inside the plane).
inline index_t switchPixel(float s, index_t perPlane) {
  if (isNan(s) || !(s >= 0.0f) || !(s < static_cast<float>(perPlane)) || s != std::floor(s)) return -1;
  return static_cast<index_t>(s);
}

// The outputs along one axis whose (unclipped) windows cover input position i: [first, last], maybe empty.
inline Span coveringOutputs(index_t i, index_t stride, index_t pad, index_t kernel, index_t outExtent) {
  const index_t upper = i + pad;
  const index_t lower = upper - kernel + 1;
  const index_t first = lower > 0 ? (lower + stride - 1) / stride : 0;
  return {first, std::min(upper / stride, outExtent - 1)};
}

// max_unpool exactly as the WGSL writes it: each pixel sums the covering outputs whose switch equals
// f32(pixel). Used only for planes too large for switches to be exact.
void maxUnpoolGather(const PoolGeometry& g, const float* gOut, const float* switches, float* dx, index_t plane) {
  const index_t perIn = g.H * g.W, perOut = g.OH * g.OW;
  const float* gp = gOut + plane * perOut;
  const float* sp = switches + plane * perOut;
  float* dp = dx + plane * perIn;
  for (index_t ih = 0; ih < g.H; ++ih) {
    const Span rows = coveringOutputs(ih, g.strideH, g.padTop, g.kernelH, g.OH);
    for (index_t iw = 0; iw < g.W; ++iw) {
      const Span cols = coveringOutputs(iw, g.strideW, g.padLeft, g.kernelW, g.OW);
      const float wanted = static_cast<float>(ih * g.W + iw);
      float acc = 0.0f;
      for (index_t oh = rows.first; oh <= rows.end; ++oh) {
        for (index_t ow = cols.first; ow <= cols.end; ++ow) {
          const index_t p = oh * g.OW + ow;
          if (sp[p] == wanted) acc += gp[p];
        }
      }
      dp[ih * g.W + iw] = acc;
    }
  }
}

}  // namespace

void maxPool2d(const PoolGeometry& g, const float* x, float* out, float* switches) {
  const index_t perIn = g.H * g.W;
  const index_t windowWork = std::min(g.kernelH, std::max<index_t>(g.H, 1)) * std::min(g.kernelW, std::max<index_t>(g.W, 1));
  parallel_for(g.planes * g.OH, rowGrain(g.OW * windowWork), [&](index_t begin, index_t end) {
    for (index_t r = begin; r < end; ++r) {
      const index_t plane = r / g.OH, oh = r % g.OH;
      const float* xp = x + plane * perIn;
      float* yRow = out + r * g.OW;
      float* sRow = switches ? switches + r * g.OW : nullptr;
      const Span rows = windowSpan(oh, g.strideH, g.padTop, g.kernelH, g.H);
      for (index_t ow = 0; ow < g.OW; ++ow) {
        const Span cols = windowSpan(ow, g.strideW, g.padLeft, g.kernelW, g.W);
        float best;
        index_t bestIndex;
        if (perIn == 0) {
          // No pixel at all (an input with no rows or columns): the max of an empty set. Unreachable from
          // the ops, and the WGSL would read outside its binding here.
          best = -std::numeric_limits<float>::infinity();
          bestIndex = 0;
        } else {
          // The WGSL seeds the search with the window's first pixel even when the window is empty; clamping
          // keeps that read inside the plane (it only differs where the WGSL itself reads out of bounds,
          // which validated geometry never produces: every window holds a pixel).
          bestIndex = std::min(rows.first, g.H - 1) * g.W + std::min(cols.first, g.W - 1);
          best = xp[bestIndex];
        }
        for (index_t h = rows.first; h < rows.end && !isNan(best); ++h) {
          const float* xr = xp + h * g.W;
          for (index_t w = cols.first; w < cols.end; ++w) {
            const float v = xr[w];
            // strictly greater keeps the first maximum; a NaN wins and ends the search (the first NaN stays)
            if (v > best || isNan(v)) {
              best = v;
              bestIndex = h * g.W + w;
              if (isNan(v)) break;
            }
          }
        }
        yRow[ow] = best;
        if (sRow) sRow[ow] = static_cast<float>(bestIndex);
      }
    }
  });
}

void maxUnpool2d(const PoolGeometry& g, const float* gOut, const float* switches, float* dx) {
  const index_t perIn = g.H * g.W, perOut = g.OH * g.OW;
  if (perIn > kExactSwitchPlane) {
    parallel_for(g.planes, 1, [&](index_t begin, index_t end) {
      for (index_t plane = begin; plane < end; ++plane) maxUnpoolGather(g, gOut, switches, dx, plane);
    });
    return;
  }
  parallel_for(g.planes, planeGrain(perIn + perOut), [&](index_t begin, index_t end) {
    for (index_t plane = begin; plane < end; ++plane) {
      const float* gp = gOut + plane * perOut;
      const float* sp = switches + plane * perOut;
      float* dp = dx + plane * perIn;
      std::fill(dp, dp + perIn, 0.0f);
      for (index_t oh = 0; oh < g.OH; ++oh) {
        // the WGSL only lets an output reach the pixels its own unclipped window covers
        const index_t h0 = oh * g.strideH - g.padTop, h1 = h0 + g.kernelH;
        for (index_t ow = 0; ow < g.OW; ++ow) {
          const index_t p = oh * g.OW + ow;
          const index_t pixel = switchPixel(sp[p], perIn);
          if (pixel < 0) continue;
          const index_t ih = pixel / g.W, iw = pixel % g.W;
          const index_t w0 = ow * g.strideW - g.padLeft;
          if (ih < h0 || ih >= h1 || iw < w0 || iw >= w0 + g.kernelW) continue;
          dp[pixel] += gp[p];
        }
      }
    }
  });
}

void gatherSwitches(const PoolGeometry& g, const float* x, const float* switches, float* out) {
  const index_t perIn = g.H * g.W, perOut = g.OH * g.OW;
  parallel_for(g.planes, planeGrain(perOut), [&](index_t begin, index_t end) {
    for (index_t plane = begin; plane < end; ++plane) {
      const float* xp = x + plane * perIn;
      const float* sp = switches + plane * perOut;
      float* op = out + plane * perOut;
      for (index_t p = 0; p < perOut; ++p) {
        const index_t pixel = switchPixel(sp[p], perIn);
        op[p] = pixel < 0 ? 0.0f : xp[pixel];
      }
    }
  });
}

void avgPool2d(const PoolGeometry& g, const float* x, float* out) {
  const index_t perIn = g.H * g.W;
  const index_t windowWork = std::min(g.kernelH, std::max<index_t>(g.H, 1)) * std::min(g.kernelW, std::max<index_t>(g.W, 1));
  parallel_for(g.planes * g.OH, rowGrain(g.OW * windowWork), [&](index_t begin, index_t end) {
    for (index_t r = begin; r < end; ++r) {
      const index_t plane = r / g.OH, oh = r % g.OH;
      const float* xp = x + plane * perIn;
      float* yRow = out + r * g.OW;
      const Span rows = windowSpan(oh, g.strideH, g.padTop, g.kernelH, g.H);
      for (index_t ow = 0; ow < g.OW; ++ow) {
        const Span cols = windowSpan(ow, g.strideW, g.padLeft, g.kernelW, g.W);
        float acc = 0.0f;
        for (index_t h = rows.first; h < rows.end; ++h) {
          const float* xr = xp + h * g.W;
          for (index_t w = cols.first; w < cols.end; ++w) acc += xr[w];
        }
        yRow[ow] = acc / avgDivisor(g, oh, ow);
      }
    }
  });
}

void avgPool2dBackward(const PoolGeometry& g, const float* gOut, float* dx) {
  const index_t perIn = g.H * g.W, perOut = g.OH * g.OW;
  const index_t windowWork = std::min(g.kernelH, std::max<index_t>(g.H, 1)) * std::min(g.kernelW, std::max<index_t>(g.W, 1));
  parallel_for(g.planes, planeGrain(perIn + perOut * windowWork), [&](index_t begin, index_t end) {
    for (index_t plane = begin; plane < end; ++plane) {
      const float* gp = gOut + plane * perOut;
      float* dp = dx + plane * perIn;
      std::fill(dp, dp + perIn, 0.0f);
      for (index_t oh = 0; oh < g.OH; ++oh) {
        const Span rows = windowSpan(oh, g.strideH, g.padTop, g.kernelH, g.H);
        for (index_t ow = 0; ow < g.OW; ++ow) {
          const Span cols = windowSpan(ow, g.strideW, g.padLeft, g.kernelW, g.W);
          if (rows.first >= rows.end || cols.first >= cols.end) continue;  // covers no pixel: its divisor may be 0
          // the WGSL divides each term before summing; one quotient per output is the same number
          const float v = gp[oh * g.OW + ow] / avgDivisor(g, oh, ow);
          for (index_t h = rows.first; h < rows.end; ++h) {
            float* dr = dp + h * g.W;
            for (index_t w = cols.first; w < cols.end; ++w) dr[w] += v;
          }
        }
      }
    }
  });
}

}  // namespace convis
