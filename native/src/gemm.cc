// Single-precision GEMM in the Goto / BLIS arrangement: for each (NC columns, KC depth) block, B is packed
// into NR-wide panels and A into MR-tall panels, laid out in the order the micro-kernel reads them, and the
// micro-kernel keeps an MR x NR block of C in registers across the whole depth. The micro-kernel is written
// with GCC/Clang vector types, so the compiler emits AVX2/FMA (or SSE, or NEON) for the machine it builds on;
// there is no BLAS and no intrinsics. Strided views make transposed operands free: packing reads any layout.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels.h"

namespace convis {
namespace {

constexpr index_t MR = 6;    // rows of the register block
constexpr index_t NR = 16;   // columns: two 8-float vectors (12 accumulators + 2 B vectors + 1 A broadcast)
constexpr index_t KC = 256;  // depth of a packed block: an A panel (6 KB) and a B panel (16 KB) stay in L1/L2
constexpr index_t MC = 96;   // rows per task: 16 A panels (96 KB) stay in L2 while B panels stream
constexpr index_t NC = 256;  // columns per task

typedef float v8 __attribute__((vector_size(32), aligned(32)));

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float, AlignedFree>;

Buffer alignedBuffer(index_t floats) {
  size_t bytes = static_cast<size_t>(std::max<index_t>(floats, 16)) * sizeof(float);
  bytes = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return Buffer(static_cast<float*>(p));
}

/** Packs rows [i0, i0 + MR) x depth [p0, p0 + kc) of A as pa[k * MR + r], zero past M. */
void packA(const MatrixView& A, const float* a, index_t M, index_t i0, index_t p0, index_t kc, float* pa) {
  const index_t rows = std::min(MR, M - i0);
  for (index_t k = 0; k < kc; k++) {
    const float* src = a + (i0 * A.row) + (p0 + k) * A.col;
    index_t r = 0;
    for (; r < rows; r++) pa[k * MR + r] = src[r * A.row];
    for (; r < MR; r++) pa[k * MR + r] = 0.0f;
  }
}

/** Packs depth [p0, p0 + kc) x columns [j0, j0 + NR) of B as pb[k * NR + c], zero past N. */
void packB(const MatrixView& B, const float* b, index_t N, index_t j0, index_t p0, index_t kc, float* pb) {
  const index_t cols = std::min(NR, N - j0);
  for (index_t k = 0; k < kc; k++) {
    const float* src = b + (p0 + k) * B.row + j0 * B.col;
    float* dst = pb + k * NR;
    if (B.col == 1 && cols == NR) {
      std::memcpy(dst, src, NR * sizeof(float));
      continue;
    }
    index_t c = 0;
    for (; c < cols; c++) dst[c] = src[c * B.col];
    for (; c < NR; c++) dst[c] = 0.0f;
  }
}

struct Epilogue {
  bool overwrite;     // first depth block without accumulate: C = AB instead of C += AB
  const float* bias;  // last depth block only
  bool relu;          // last depth block only
};

/** C[0..rows, 0..cols] (+)= pa * pb over kc, then the epilogue. */
void microKernel(index_t kc, const float* pa, const float* pb, float* c, index_t ldc, index_t rows, index_t cols,
                 index_t j0, const Epilogue& e) {
  v8 acc[MR][2];
  for (index_t r = 0; r < MR; r++) acc[r][0] = acc[r][1] = v8{};
  for (index_t k = 0; k < kc; k++) {
    v8 b0, b1;
    std::memcpy(&b0, pb + k * NR, sizeof(v8));
    std::memcpy(&b1, pb + k * NR + 8, sizeof(v8));
    for (index_t r = 0; r < MR; r++) {
      const float a = pa[k * MR + r];
      acc[r][0] += a * b0;
      acc[r][1] += a * b1;
    }
  }
  alignas(32) float tile[MR][NR];
  for (index_t r = 0; r < MR; r++) {
    std::memcpy(&tile[r][0], &acc[r][0], sizeof(v8));
    std::memcpy(&tile[r][8], &acc[r][1], sizeof(v8));
  }
  for (index_t r = 0; r < rows; r++) {
    float* row = c + r * ldc;
    for (index_t j = 0; j < cols; j++) {
      float v = e.overwrite ? tile[r][j] : row[j] + tile[r][j];
      if (e.bias) v += e.bias[j0 + j];
      if (e.relu) v = v > 0.0f ? v : (v == v ? 0.0f : v);  // NaN stays NaN, as in the WGSL max()
      row[j] = v;
    }
  }
}

constexpr index_t kFewRows = 8;  // below this, packing B costs more than the arithmetic it feeds

/**
 * A few rows of A against a B whose columns are contiguous (a linear layer's weight [out, in] read transposed):
 * each output is a dot product of two contiguous vectors, so B is streamed once, unpacked, split over columns.
 * This is the batch-1 fully connected layer, where packing VGG16's 411 MB weight would dominate.
 */
void gemmFewRows(index_t M, index_t N, index_t K, const MatrixView& A, const float* a, const float* b, index_t ldb,
                 float* C, index_t ldc, bool accumulate, const float* bias, bool relu) {
  parallel_for(N, 16, [&](index_t lo, index_t hi) {
    for (index_t j = lo; j < hi; j++) {
      const float* col = b + j * ldb;
      for (index_t i = 0; i < M; i++) {
        const float* row = a + i * A.row;
        v8 acc0{}, acc1{};
        index_t k = 0;
        for (; k + 16 <= K; k += 16) {
          v8 x0, x1, y0, y1;
          std::memcpy(&x0, row + k, sizeof(v8));
          std::memcpy(&x1, row + k + 8, sizeof(v8));
          std::memcpy(&y0, col + k, sizeof(v8));
          std::memcpy(&y1, col + k + 8, sizeof(v8));
          acc0 += x0 * y0;
          acc1 += x1 * y1;
        }
        v8 acc = acc0 + acc1;
        float sum = 0.0f;
        for (int l = 0; l < 8; l++) sum += acc[l];
        for (; k < K; k++) sum += row[k] * col[k];
        float v = (accumulate ? C[i * ldc + j] : 0.0f) + sum;
        if (bias) v += bias[j];
        if (relu) v = v > 0.0f ? v : (v == v ? 0.0f : v);
        C[i * ldc + j] = v;
      }
    }
  });
}

/**
 * A few rows of A against a row-major B (the input gradient of a linear layer at batch 1: g [1, out] * w):
 * each row of C is a sum of rows of B scaled by A's entries, accumulated in a block of columns that stays in L1.
 */
void gemmFewRowsRowMajor(index_t M, index_t N, index_t K, const MatrixView& A, const float* a, const float* b,
                         index_t ldb, float* C, index_t ldc, bool accumulate, const float* bias, bool relu) {
  constexpr index_t kBlock = 512;
  parallel_for((N + kBlock - 1) / kBlock, 1, [&](index_t lo, index_t hi) {
    alignas(32) float acc[kBlock];
    for (index_t blk = lo; blk < hi; blk++) {
      const index_t j0 = blk * kBlock, n = std::min(kBlock, N - j0);
      for (index_t i = 0; i < M; i++) {
        std::fill(acc, acc + n, 0.0f);
        for (index_t k = 0; k < K; k++) {
          const float s = a[i * A.row + k * A.col];
          const float* row = b + k * ldb + j0;
          for (index_t j = 0; j < n; j++) acc[j] += s * row[j];
        }
        float* out = C + i * ldc + j0;
        for (index_t j = 0; j < n; j++) {
          float v = (accumulate ? out[j] : 0.0f) + acc[j];
          if (bias) v += bias[j0 + j];
          if (relu) v = v > 0.0f ? v : (v == v ? 0.0f : v);
          out[j] = v;
        }
      }
    }
  });
}

void gemmOne(index_t M, index_t N, index_t K, const MatrixView& A, const float* a, const MatrixView& B,
             const float* b, float* C, index_t ldc, bool accumulate, const float* bias, bool relu) {
  if (M == 0 || N == 0) return;
  if (M < kFewRows && K > 0 && A.col == 1 && B.row == 1) {
    gemmFewRows(M, N, K, A, a, b, B.col, C, ldc, accumulate, bias, relu);
    return;
  }
  if (M < kFewRows && K > 0 && B.col == 1) {
    gemmFewRowsRowMajor(M, N, K, A, a, b, B.row, C, ldc, accumulate, bias, relu);
    return;
  }
  if (K == 0) {  // an empty sum: C = (accumulate ? C : 0) + bias, then relu
    for (index_t i = 0; i < M; i++) {
      for (index_t j = 0; j < N; j++) {
        float v = (accumulate ? C[i * ldc + j] : 0.0f) + (bias ? bias[j] : 0.0f);
        C[i * ldc + j] = relu ? (v > 0.0f ? v : (v == v ? 0.0f : v)) : v;
      }
    }
    return;
  }
  const index_t mPanels = (M + MR - 1) / MR, nPanels = (N + NR - 1) / NR;
  const index_t kcMax = std::min(K, KC);
  Buffer pa = alignedBuffer(mPanels * MR * kcMax), pb = alignedBuffer(nPanels * NR * kcMax);
  const index_t panelsPerTaskM = MC / MR, panelsPerTaskN = NC / NR;
  const index_t tasksM = (mPanels + panelsPerTaskM - 1) / panelsPerTaskM;
  const index_t tasksN = (nPanels + panelsPerTaskN - 1) / panelsPerTaskN;
  for (index_t p0 = 0; p0 < K; p0 += KC) {
    const index_t kc = std::min(KC, K - p0);
    parallel_for(mPanels, 8, [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; i++) packA(A, a, M, i * MR, p0, kc, pa.get() + i * MR * kc);
    });
    parallel_for(nPanels, 8, [&](index_t lo, index_t hi) {
      for (index_t j = lo; j < hi; j++) packB(B, b, N, j * NR, p0, kc, pb.get() + j * NR * kc);
    });
    const bool last = p0 + kc >= K;
    const Epilogue e{p0 == 0 && !accumulate, last ? bias : nullptr, last && relu};
    parallel_for(tasksM * tasksN, 1, [&](index_t lo, index_t hi) {
      for (index_t t = lo; t < hi; t++) {
        const index_t tm = t % tasksM, tn = t / tasksM;
        const index_t jp1 = std::min(nPanels, (tn + 1) * panelsPerTaskN);
        const index_t ip1 = std::min(mPanels, (tm + 1) * panelsPerTaskM);
        for (index_t jp = tn * panelsPerTaskN; jp < jp1; jp++) {
          const index_t j0 = jp * NR, cols = std::min(NR, N - j0);
          for (index_t ip = tm * panelsPerTaskM; ip < ip1; ip++) {
            const index_t i0 = ip * MR, rows = std::min(MR, M - i0);
            microKernel(kc, pa.get() + ip * MR * kc, pb.get() + jp * NR * kc, C + i0 * ldc + j0, ldc, rows, cols, j0, e);
          }
        }
      }
    });
  }
}

}  // namespace

void gemm(index_t batch, index_t M, index_t N, index_t K, MatrixView A, MatrixView B,
          float* C, index_t ldc, index_t cBatch, bool accumulate, const float* bias, bool relu) {
  for (index_t i = 0; i < batch; i++) {
    gemmOne(M, N, K, A, A.data + i * A.batch, B, B.data + i * B.batch, C + i * cBatch, ldc, accumulate, bias, relu);
  }
}

}  // namespace convis
