// gemm(): blocking, threading and dispatch over the per-ISA microkernels (kernels.h).
//
// Work is cut into tasks of (up to MC rows) x (a run of panel groups); a group is the np
// panels one microkernel call covers. Small M (decode) uses one row block and splits the
// panels across threads with no K blocking, so each thread streams whole panels. Larger M
// blocks K by kKc so a group's K block stays in L1 while the row tiles of the row block
// (kept in L2) pass over it; partial sums go through y (kTileLoadY) between K blocks, and the
// epilogue (bias, gelu) is applied by the last K block only.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/amx_support.h"
#include "cpu/gemm_amx.h"
#include "cpu/gemm_layout.h"
#include "cpu/kernels.h"
#include "cpu/ops.h"

namespace gptneo::cpu {

namespace {

constexpr int kKc = 192;        // K block for M > mr (even: bf16 pairs)
constexpr int kMcTarget = 128;  // rows per task for M > mr
constexpr int kMaxGroupsPerTask = 8;
// bf16 and int8 weights go to the AMX tiles (gemm_amx.cpp) from this many rows: below it the
// weights' bandwidth, not arithmetic, bounds the GEMM and the widening kernels keep x in f32.
constexpr int kAmxMinRows = 16;

GemmKernelSet kernels_for(SimdLevel level) {
  switch (level) {
    // AVX512_BF16's vdpbf16ps measured at about half the throughput of widening bf16 to f32
    // and using FMAs on the target CPU (and it would round x to bf16), so both AVX-512 levels
    // use the widening kernels.
    case SimdLevel::kAmx:
    case SimdLevel::kAvx512Bf16:
    case SimdLevel::kAvx512: return avx512::gemm_kernels();
    case SimdLevel::kAvx2: return avx2::gemm_kernels();
    case SimdLevel::kPortable: break;
  }
  return portable::gemm_kernels();
}


// Blocking of one gemm() call (see the file comment).
struct GemmPlan {
  int panels = 0;        // 16-column panels of W
  int groups = 0;        // microkernel column groups (np panels each)
  bool small_m = false;  // decode-like: one row block, no K blocking
  int kc = 0;            // K block
  int mc = 0;            // rows per task
  int m_blocks = 0;
  int groups_per_task = 0;
  int n_chunks = 0;      // column-group runs per row block
  bool stage = false;    // copy/widen each (K block, group) into per-worker f32 scratch
  size_t scratch_stride = 0;

  GemmPlan(int m, const PackedWeight& w, const GemmKernelSet& ks, int threads) {
    panels = panel_count(w.n);
    groups = (panels + ks.np - 1) / ks.np;
    small_m = m <= ks.mr;
    kc = small_m ? w.k : kKc;
    mc = small_m ? m : std::max(ks.mr, kMcTarget / ks.mr * ks.mr);
    m_blocks = (m + mc - 1) / mc;
    const int chunks_wanted = std::max(1, (4 * threads + m_blocks - 1) / m_blocks);
    groups_per_task = std::max(1, (groups + chunks_wanted - 1) / chunks_wanted);
    if (!small_m) groups_per_task = std::min(groups_per_task, kMaxGroupsPerTask);
    n_chunks = (groups + groups_per_task - 1) / groups_per_task;
    // Large M: bf16 blocks are widened once instead of once per row tile; f32 blocks are
    // copied, which streams them in with sequential reads where the microkernel's first row
    // tile would stall on them. int8 blocks are widened and scaled. The f32 microkernel then
    // runs on the scratch block.
    stage = !small_m && ((w.dtype == DType::kBF16 && ks.widen_bf16 != nullptr) ||
                         w.dtype == DType::kF32 || w.dtype == DType::kI8);
    scratch_stride = static_cast<size_t>(padded_k(std::min(kc, w.k))) * kPanelCols;
  }
};

// Writes `pc` panels of a K block (`kl` rows starting at src) as f32 k-major panels at dst.
// scale: the int8 column scales of the first panel's column 0 (int8 only).
void stage_block(const GemmKernelSet& ks, DType dtype, const void* src, size_t src_stride, int pc, int kl,
                 const float* scale, float* dst, size_t dst_stride) {
  if (dtype == DType::kI8) {
    ks.widen_i8(static_cast<const int8_t*>(src), src_stride, pc, kl, scale, dst, dst_stride);
    return;
  }
  if (dtype == DType::kBF16) {
    ks.widen_bf16(static_cast<const uint16_t*>(src), src_stride, pc, kl, dst, dst_stride);
    return;
  }
  for (int p = 0; p < pc; ++p)
    std::memcpy(dst + p * dst_stride, static_cast<const float*>(src) + p * src_stride,
                static_cast<size_t>(kl) * kPanelCols * sizeof(float));
}

}  // namespace

bool gemm_rounds_x_to_bf16(int m, const PackedWeight& w, SimdLevel level) {
  return level == SimdLevel::kAmx && (w.dtype == DType::kBF16 || w.dtype == DType::kI8) && m >= kAmxMinRows &&
         w.k % amx::kAmxK == 0 && amx_bf16_usable();
}

void gemm(const float* x, int m, int ldx, const PackedWeight& w, const float* bias, float* y, int ldy,
          Epilogue epilogue, ThreadPool& pool, SimdLevel level) {
  if (m <= 0 || w.n <= 0 || w.k <= 0) return;
  if (gemm_rounds_x_to_bf16(m, w, level)) {
    int flags = epilogue == Epilogue::kAccumulate ? kTileLoadY : 0;
    if (bias != nullptr) flags |= kTileBias;
    if (epilogue == Epilogue::kGeluNew) flags |= kTileGelu;
    amx::gemm(x, m, ldx, w, bias, y, ldy, flags, pool);
    return;
  }
  const GemmKernelSet ks = kernels_for(level);
  GemmTileFn fn = ks.f32;
  if (w.dtype == DType::kF16) fn = ks.f16;
  if (w.dtype == DType::kBF16) fn = ks.bf16;
  if (w.dtype == DType::kI8) fn = ks.i8;
  const GemmPlan plan(m, w, ks, pool.size());
  const int n = w.n, k = w.k;
  const size_t stride = panel_stride(k);
  const size_t esize = dtype_size(w.dtype);
  const char* wbase = static_cast<const char*>(w.data.get());
  const int base_flags = epilogue == Epilogue::kAccumulate ? kTileLoadY : 0;
  std::vector<float> scratch;
  if (plan.stage) scratch.resize(static_cast<size_t>(pool.size()) * ks.np * plan.scratch_stride);

  pool.run(plan.m_blocks * plan.n_chunks, [&](int task, int worker) {
    const int mb = task / plan.n_chunks, nc = task % plan.n_chunks;
    const int m0 = mb * plan.mc, m1 = std::min(m, m0 + plan.mc);
    const int g0 = nc * plan.groups_per_task, g1 = std::min(plan.groups, g0 + plan.groups_per_task);
    const int tiles = (m1 - m0 + ks.mr - 1) / ks.mr;
    for (int k0 = 0; k0 < k; k0 += plan.kc) {
      const int kl = std::min(plan.kc, k - k0);
      const bool last = k0 + kl >= k;
      int flags = k0 == 0 ? base_flags : kTileLoadY;
      if (last && bias != nullptr) flags |= kTileBias;
      if (last && epilogue == Epilogue::kGeluNew) flags |= kTileGelu;
      for (int g = g0; g < g1; ++g) {
        const int p0 = g * ks.np;
        const int pc = std::min(ks.np, plan.panels - p0);
        const int n0 = p0 * kPanelCols;
        const char* block = wbase + (p0 * stride + static_cast<size_t>(k0) * kPanelCols) * esize;
        GemmTileArgs a;
        a.ldx = static_cast<size_t>(ldx);
        a.w = block;
        a.panel_stride = stride;
        a.panels = pc;
        a.k = kl;
        a.ldy = static_cast<size_t>(ldy);
        a.cols = std::min(pc * kPanelCols, n - n0);
        a.bias = bias != nullptr ? bias + n0 : nullptr;
        a.scale = w.scales != nullptr ? w.scales.get() + n0 : nullptr;
        a.flags = flags;
        GemmTileFn tile_fn = fn;
        if (plan.stage) {
          float* staged = scratch.data() + static_cast<size_t>(worker) * ks.np * plan.scratch_stride;
          stage_block(ks, w.dtype, block, stride, pc, kl, a.scale, staged, plan.scratch_stride);
          a.w = staged;
          a.panel_stride = plan.scratch_stride;
          tile_fn = ks.f32;
        }
        // While the row tiles reuse this block from L1, prefetch the next group's block into
        // L2, a slice per tile, so the next group's first tile does not stall on it.
        const bool prefetch = !plan.small_m && g + 1 < g1;
        const char* next = block + ks.np * stride * esize;
        const size_t block_bytes = static_cast<size_t>(kl) * kPanelCols * esize;
        const size_t slice = (block_bytes / tiles + 63) & ~static_cast<size_t>(63);
        size_t done = 0;
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
