// Layout kernels: the CPU twin of kernels/layout.wgsl. Both ops are pure copies (plus a constant fill), so
// they are written as memcpy over contiguous runs; the results are bit-identical to the WGSL's.

#include <algorithm>
#include <cstring>

#include "kernels.h"

namespace convis {

namespace {

// Elements one chunk of a copy should move: enough to amortise handing the chunk to a thread, small enough
// that a single long run still spreads over the pool.
constexpr index_t kCopyChunk = index_t{1} << 16;

}  // namespace

void copyAxis(const float* x, float* out, index_t outer, index_t n, index_t m, index_t inner, index_t at, bool slice) {
  const index_t run = n * inner;  // each outer row is one contiguous run of the small tensor
  if (outer <= 0 || run <= 0) return;
  const index_t bigRow = m * inner, bigFirst = at * inner;
  // a run longer than a chunk is cut into pieces, so that concat along axis 0 (outer = 1) is still parallel
  const index_t pieces = (run + kCopyChunk - 1) / kCopyChunk;
  const index_t pieceLen = (run + pieces - 1) / pieces;
  const index_t grain = std::max<index_t>(1, kCopyChunk / std::min(run, kCopyChunk));
  parallel_for(outer * pieces, grain, [&](index_t begin, index_t end) {
    for (index_t item = begin; item < end; ++item) {
      const index_t row = item / pieces;
      const index_t k0 = (item % pieces) * pieceLen;
      const index_t len = std::min(pieceLen, run - k0);
      const index_t small = row * run + k0, big = row * bigRow + bigFirst + k0;
      if (slice) {
        std::memcpy(out + small, x + big, static_cast<size_t>(len) * sizeof(float));
      } else {
        std::memcpy(out + big, x + small, static_cast<size_t>(len) * sizeof(float));
      }
    }
  });
}

void pad2d(const float* x, index_t planes, index_t H, index_t W, const index_t pads[4], float value, float* out, bool crop) {
  const index_t top = pads[0], left = pads[1], bottom = pads[2], right = pads[3];
  const index_t PH = H + top + bottom, PW = W + left + right;
  const size_t rowBytes = static_cast<size_t>(W) * sizeof(float);
  if (crop) {
    // out row h of each plane is the middle W elements of padded row h + top
    if (planes <= 0 || H <= 0 || W <= 0) return;
    parallel_for(planes * H, std::max<index_t>(1, kCopyChunk / W), [&](index_t begin, index_t end) {
      for (index_t r = begin; r < end; ++r) {
        const index_t plane = r / H, h = r % H;
        std::memcpy(out + r * W, x + (plane * PH + h + top) * PW + left, rowBytes);
      }
    });
    return;
  }
  // one padded output row at a time: all `value`, or value | a row of x | value
  if (planes <= 0 || PH <= 0 || PW <= 0) return;
  parallel_for(planes * PH, std::max<index_t>(1, kCopyChunk / PW), [&](index_t begin, index_t end) {
    for (index_t r = begin; r < end; ++r) {
      const index_t plane = r / PH, oh = r % PH;
      float* o = out + r * PW;
      const index_t ih = oh - top;
      if (ih < 0 || ih >= H || W == 0) {
        std::fill(o, o + PW, value);
        continue;
      }
      std::fill(o, o + left, value);
      std::memcpy(o + left, x + (plane * H + ih) * W, rowBytes);
      std::fill(o + left + W, o + PW, value);
    }
  });
}

}  // namespace convis
