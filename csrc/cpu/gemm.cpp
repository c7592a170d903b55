// gemm(): blocking, threading and dispatch over the per-ISA microkernels (kernels.h).
//
// Work is cut into tasks of (up to MC rows) x (a run of panel groups); a group is the np
// panels one microkernel call covers. Small M (decode) uses one row block and splits the
// panels across threads with no K blocking, so each thread streams whole panels. Larger M
// blocks K by kKc so a group's K block stays in L1 while the row tiles of the row block
// (kept in L2) pass over it; partial sums go through y (kTileLoadY) between K blocks.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/gemm_layout.h"
#include "cpu/kernels.h"
#include "cpu/ops.h"

namespace gptneo::cpu {

namespace {

constexpr int kKc = 192;        // K block for M > mr (even: bf16 pairs)
constexpr int kMcTarget = 128;  // rows per task for M > mr
constexpr int kMaxGroupsPerTask = 8;

GemmKernelSet kernels_for(SimdLevel level) {
  switch (level) {
    // AVX512_BF16's vdpbf16ps measured at about half the throughput of widening bf16 to f32
    // and using FMAs on the target CPU (and it would round x to bf16), so both AVX-512 levels
    // use the widening kernels.
    case SimdLevel::kAvx512Bf16:
    case SimdLevel::kAvx512: return avx512::gemm_kernels();
    case SimdLevel::kAvx2: return avx2::gemm_kernels();
    case SimdLevel::kPortable: break;
  }
  return portable::gemm_kernels();
}

}  // namespace

void gemm(const float* x, int m, int ldx, const PackedWeight& w, const float* bias, float* y, int ldy,
          Epilogue epilogue, ThreadPool& pool, SimdLevel level) {
  if (m <= 0 || w.n <= 0 || w.k <= 0) return;
  const GemmKernelSet ks = kernels_for(level);
  GemmTileFn fn = ks.f32;
  if (w.dtype == DType::kF16) fn = ks.f16;
  if (w.dtype == DType::kBF16) fn = ks.bf16;

  const int n = w.n, k = w.k;
  const int panels = panel_count(n);
  const int groups = (panels + ks.np - 1) / ks.np;
  const bool small_m = m <= ks.mr;
  const int kc = small_m ? k : kKc;
  const int mc = small_m ? m : std::max(ks.mr, kMcTarget / ks.mr * ks.mr);
  const int m_blocks = (m + mc - 1) / mc;
  const int want_tasks = 4 * pool.size();
  const int chunks_wanted = std::max(1, (want_tasks + m_blocks - 1) / m_blocks);
  int gpc = std::max(1, (groups + chunks_wanted - 1) / chunks_wanted);
  if (!small_m) gpc = std::min(gpc, kMaxGroupsPerTask);
  const int n_chunks = (groups + gpc - 1) / gpc;
  const size_t stride = panel_stride(k);
  const size_t esize = dtype_size(w.dtype);
  const char* wbase = static_cast<const char*>(w.data.get());
  const int base_flags = epilogue == Epilogue::kAccumulate ? kTileLoadY : 0;

  // Large-M bf16: each (K block, group) is widened once into a per-worker f32 scratch block and
  // the f32 kernel runs on it (rows in f32 k-major layout, padded k rows are zero weights).
  // f32 blocks are staged the same way (a plain copy): the copy streams the block in with
  // sequential reads, where the microkernel's first row tile would stall on it.
  const bool widen = !small_m && ((w.dtype == DType::kBF16 && ks.widen_bf16 != nullptr) ||
                                  (w.dtype == DType::kF32 && ks.np > 1));
  const size_t scratch_stride = static_cast<size_t>(padded_k(std::min(kc, k))) * kPanelCols;
  std::vector<float> scratch;
  if (widen) scratch.resize(static_cast<size_t>(pool.size()) * ks.np * scratch_stride);

  pool.run(m_blocks * n_chunks, [&](int task, int worker) {
    const int mb = task / n_chunks, nc = task % n_chunks;
    const int m0 = mb * mc, m1 = std::min(m, m0 + mc);
    const int g0 = nc * gpc, g1 = std::min(groups, g0 + gpc);
    for (int k0 = 0; k0 < k; k0 += kc) {
      const int kl = std::min(kc, k - k0);
      const bool last = k0 + kl >= k;
      int flags = k0 == 0 ? base_flags : kTileLoadY;
      if (last && bias != nullptr) flags |= kTileBias;
      if (last && epilogue == Epilogue::kGeluNew) flags |= kTileGelu;
      for (int g = g0; g < g1; ++g) {
        const int p0 = g * ks.np;
        const int pc = std::min(ks.np, panels - p0);
        const int n0 = p0 * kPanelCols;
        GemmTileArgs a;
        a.ldx = static_cast<size_t>(ldx);
        a.w = wbase + (p0 * stride + static_cast<size_t>(k0) * kPanelCols) * esize;
        a.panel_stride = stride;
        a.panels = pc;
        a.k = kl;
        a.ldy = static_cast<size_t>(ldy);
        a.cols = std::min(pc * kPanelCols, n - n0);
        a.bias = bias != nullptr ? bias + n0 : nullptr;
        a.flags = flags;
        // While the row tiles reuse this group's K block from L1, prefetch the next group's
        // block into L2 a slice per tile, so the next group's first tile does not stall on it.
        const bool prefetch = !small_m && g + 1 < g1;
        const char* next = static_cast<const char*>(a.w) + ks.np * stride * esize;
        const size_t block_bytes = static_cast<size_t>(kl) * kPanelCols * esize;
        const int tiles = (m1 - m0 + ks.mr - 1) / ks.mr;
        const size_t slice = (block_bytes / tiles + 63) & ~static_cast<size_t>(63);
        size_t done = 0;
        GemmTileFn tile_fn = fn;
        if (widen) {
          float* block = scratch.data() + static_cast<size_t>(worker) * ks.np * scratch_stride;
          if (w.dtype == DType::kBF16) {
            ks.widen_bf16(static_cast<const uint16_t*>(a.w), stride, pc, kl, block, scratch_stride);
          } else {
            for (int p = 0; p < pc; ++p)
              std::memcpy(block + p * scratch_stride, static_cast<const float*>(a.w) + p * stride,
                          static_cast<size_t>(kl) * kPanelCols * sizeof(float));
          }
          a.w = block;
          a.panel_stride = scratch_stride;
          tile_fn = ks.f32;
        }
        for (int r0 = m0; r0 < m1; r0 += ks.mr) {
          a.rows = std::min(ks.mr, m1 - r0);
          a.x = x + static_cast<size_t>(r0) * ldx + k0;
          a.y = y + static_cast<size_t>(r0) * ldy + n0;
          if (prefetch) {
            for (size_t off = done; off < std::min(block_bytes, done + slice); off += 64)
              for (int p = 0; p < ks.np; ++p) __builtin_prefetch(next + p * stride * esize + off, 0, 2);
            done += slice;
          }
          tile_fn(a);
        }
      }
    }
  });
}

}  // namespace gptneo::cpu
