// conv2d as explicit im2col + GEMM, per image and group, over chunks of output pixels so the column buffer
// stays a few MB whatever the layer (VGG16's 64->64 @224 would need 115 MB in one piece). A 1x1, stride-1,
// unpadded convolution needs no columns: x itself is the GEMM operand.
//
//   forward          out_g (OG x P)   = W_g (OG x CGK) * col (CGK x P)
//   backward input   dcol (CGK x P)   = W_g^T (CGK x OG) * dY_g (OG x P), then col2im adds dcol into dX
//   backward weight  dW_g (OG x CGK) += dY_g (OG x P) * col^T (P x CGK)
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels.h"

namespace convis {
namespace {

struct Layout {
  const ConvGeometry& g;
  index_t CG, OG, CGK, KHW, HW, OHW;
  explicit Layout(const ConvGeometry& geo)
      : g(geo), CG(geo.C / geo.groups), OG(geo.O / geo.groups), CGK(CG * geo.KH * geo.KW),
        KHW(geo.KH * geo.KW), HW(geo.H * geo.W), OHW(geo.OH * geo.OW) {}

  bool direct() const {
    return g.KH == 1 && g.KW == 1 && g.strideH == 1 && g.strideW == 1 && g.padTop == 0 && g.padLeft == 0 &&
           g.OH == g.H && g.OW == g.W;
  }

  /** output pixels per chunk: the column buffer holds at most ~2M floats, and at least 64 pixels */
  index_t chunk() const { return std::min(OHW, std::max<index_t>(64, (index_t(1) << 21) / std::max<index_t>(1, CGK))); }
};

/**
 * Walks the pixels [q0, q0 + P) of column row r (= ci, kh, kw) one output row at a time, calling
 * visit(p, count, src, step) for each run of `count` consecutive pixels p.. that read input pixels src, src + step,
 * ..., and zero(p, count) for runs in the padding. No division per element: the valid output columns of a row
 * follow from the tap's offset once.
 */
template <typename Visit, typename Zero>
void walkRow(const Layout& L, index_t r, index_t q0, index_t P, Visit visit, Zero zero) {
  const ConvGeometry& g = L.g;
  const index_t kw = r % g.KW, kh = (r / g.KW) % g.KH;
  const index_t dw = kw * g.dilationW - g.padLeft;
  // output columns whose input column ow * strideW + dw lies in [0, W)
  const index_t lo = dw >= 0 ? 0 : (-dw + g.strideW - 1) / g.strideW;
  const index_t hi = g.W - 1 - dw < 0 ? 0 : std::min(g.OW, (g.W - 1 - dw) / g.strideW + 1);
  index_t p = 0;
  while (p < P) {
    const index_t q = q0 + p, oh = q / g.OW, ow0 = q % g.OW;
    const index_t n = std::min(P - p, g.OW - ow0);
    const index_t ih = oh * g.strideH - g.padTop + kh * g.dilationH;
    if (ih < 0 || ih >= g.H || lo >= hi) {
      zero(p, n);
    } else {
      const index_t a = std::clamp(lo, ow0, ow0 + n), b = std::clamp(hi, ow0, ow0 + n);
      if (a > ow0) zero(p, a - ow0);
      if (b > a) visit(p + (a - ow0), b - a, ih * g.W + a * g.strideW + dw, g.strideW);
      if (ow0 + n > b) zero(p + (b - ow0), ow0 + n - b);
    }
    p += n;
  }
}

/** col[r][p] = x_g[ci(r)] at the pixel row r reads for output pixel q0 + p (0 in the padding). */
void im2col(const Layout& L, const float* xg, index_t q0, index_t P, float* col) {
  parallel_for(L.CGK, 4, [&](index_t lo, index_t hi) {
    for (index_t r = lo; r < hi; r++) {
      const float* plane = xg + (r / L.KHW) * L.HW;
      float* dst = col + r * P;
      walkRow(L, r, q0, P,
        [&](index_t p, index_t n, index_t src, index_t step) {
          if (step == 1) {
            std::memcpy(dst + p, plane + src, sizeof(float) * static_cast<size_t>(n));
          } else {
            for (index_t i = 0; i < n; i++) dst[p + i] = plane[src + i * step];
          }
        },
        [&](index_t p, index_t n) { std::memset(dst + p, 0, sizeof(float) * static_cast<size_t>(n)); });
    }
  });
}

/** dx_g[ci] += dcol scattered back; each channel's rows only touch that channel, so channels run in parallel. */
void col2im(const Layout& L, const float* dcol, index_t q0, index_t P, float* dxg) {
  parallel_for(L.CG, 1, [&](index_t lo, index_t hi) {
    for (index_t ci = lo; ci < hi; ci++) {
      float* plane = dxg + ci * L.HW;
      for (index_t r = ci * L.KHW; r < (ci + 1) * L.KHW; r++) {
        const float* src = dcol + r * P;
        walkRow(L, r, q0, P,
          [&](index_t p, index_t n, index_t at, index_t step) {
            for (index_t i = 0; i < n; i++) plane[at + i * step] += src[p + i];
          },
          [](index_t, index_t) {});
      }
    }
  });
}

}  // namespace

void conv2d(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* out, bool relu) {
  const Layout L(g);
  std::vector<float> col(L.direct() ? 0 : static_cast<size_t>(L.CGK * L.chunk()));
  for (index_t n = 0; n < g.batch; n++) {
    for (index_t grp = 0; grp < g.groups; grp++) {
      const float* xg = x + (n * g.C + grp * L.CG) * L.HW;
      const float* wg = w + grp * L.OG * L.CGK;
      float* og = out + (n * g.O + grp * L.OG) * L.OHW;
      const float* bg = bias ? bias + grp * L.OG : nullptr;
      for (index_t q0 = 0; q0 < L.OHW; q0 += L.chunk()) {
        const index_t P = std::min(L.chunk(), L.OHW - q0);
        const float* B = xg + q0;
        index_t ldb = L.HW;
        if (!L.direct()) {
          im2col(L, xg, q0, P, col.data());
          B = col.data();
          ldb = P;
        }
        // the bias is per output channel, i.e. per GEMM row: add it here rather than in the GEMM's column epilogue
        gemm(1, L.OG, P, L.CGK, MatrixView{wg, 0, L.CGK, 1}, MatrixView{B, 0, ldb, 1}, og + q0, L.OHW, 0,
             false, nullptr, false);
        if (bg || relu) {
          parallel_for(L.OG, 1, [&](index_t lo, index_t hi) {
            for (index_t o = lo; o < hi; o++) {
              float* row = og + o * L.OHW + q0;
              const float b = bg ? bg[o] : 0.0f;
              for (index_t p = 0; p < P; p++) {
                float v = row[p] + b;
                if (relu) v = v > 0.0f ? v : (v == v ? 0.0f : v);
                row[p] = v;
              }
            }
          });
        }
      }
    }
  }
}

void conv2dBackwardInput(const ConvGeometry& g, const float* gy, const float* w, float* dx) {
  const Layout L(g);
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(g.batch * g.C * L.HW));
  std::vector<float> dcol(L.direct() ? 0 : static_cast<size_t>(L.CGK * L.chunk()));
  for (index_t n = 0; n < g.batch; n++) {
    for (index_t grp = 0; grp < g.groups; grp++) {
      const float* gyg = gy + (n * g.O + grp * L.OG) * L.OHW;
      const float* wg = w + grp * L.OG * L.CGK;
      float* dxg = dx + (n * g.C + grp * L.CG) * L.HW;
      for (index_t q0 = 0; q0 < L.OHW; q0 += L.chunk()) {
        const index_t P = std::min(L.chunk(), L.OHW - q0);
        // W_g^T: element (r, o) of the CGK x OG operand is wg[o * CGK + r]
        const MatrixView wt{wg, 0, 1, L.CGK};
        const MatrixView dy{gyg + q0, 0, L.OHW, 1};
        if (L.direct()) {
          gemm(1, L.CGK, P, L.OG, wt, dy, dxg + q0, L.HW, 0, true, nullptr, false);
        } else {
          gemm(1, L.CGK, P, L.OG, wt, dy, dcol.data(), P, 0, false, nullptr, false);
          col2im(L, dcol.data(), q0, P, dxg);
        }
      }
    }
  }
}

void conv2dBackwardWeight(const ConvGeometry& g, const float* x, const float* gy, float* dw) {
  const Layout L(g);
  std::memset(dw, 0, sizeof(float) * static_cast<size_t>(g.O * L.CGK));
  std::vector<float> col(L.direct() ? 0 : static_cast<size_t>(L.CGK * L.chunk()));
  for (index_t n = 0; n < g.batch; n++) {
    for (index_t grp = 0; grp < g.groups; grp++) {
      const float* xg = x + (n * g.C + grp * L.CG) * L.HW;
      const float* gyg = gy + (n * g.O + grp * L.OG) * L.OHW;
      float* dwg = dw + grp * L.OG * L.CGK;
      for (index_t q0 = 0; q0 < L.OHW; q0 += L.chunk()) {
        const index_t P = std::min(L.chunk(), L.OHW - q0);
        const float* cols = xg + q0;
        index_t ld = L.HW;
        if (!L.direct()) {
          im2col(L, xg, q0, P, col.data());
          cols = col.data();
          ld = P;
        }
        // col^T: element (p, r) of the P x CGK operand is cols[r * ld + p]
        gemm(1, L.OG, L.CGK, P, MatrixView{gyg + q0, 0, L.OHW, 1}, MatrixView{cols, 0, 1, ld}, dwg, L.CGK, 0,
             true, nullptr, false);
      }
    }
  }
}

}  // namespace convis
