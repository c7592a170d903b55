// Hopper's asynchronous copy machinery as inline PTX (sm_90a passes only): shared-memory mbarriers
// (init, arrive, arrive with an expected transaction count, wait on a phase parity), the bulk tensor
// copy (TMA) of a 2-D box into shared memory completing on an mbarrier, the same copy multicast to
// the blocks of a cluster and arrivals on another block's mbarrier, and setmaxnreg.
// References: PTX ISA "mbarrier" (9.7.13.15), "cp.async.bulk.tensor" (9.7.9.25.5), "setmaxnreg".
// Used by gemm_wgmma_tma.cu.
#pragma once
#include <stdint.h>

namespace gncuda {
namespace tma {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// A wait longer than kMaxWaitNs by the GPU's clock (or than kMaxPolls polls, should that clock stand
// still) ends the kernel with a trap (a launch error the host sees) instead of hanging the process: a
// pipeline bug must not turn into a stuck GPU, nor spend minutes of a short GPU session. A real wait is
// microseconds (milliseconds under compute-sanitizer); try_wait may itself sleep a while before it
// answers false, so the poll count alone could stretch to a minute.
constexpr uint32_t kMaxPolls = 1u << 26;
constexpr unsigned long long kMaxWaitNs = 4000000000ull;  // 4 s
__device__ __forceinline__ unsigned long long global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// bar: shared-memory address (8-byte aligned) of a 64-bit mbarrier.
__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(arrivals) : "memory");
}
// Makes initialized barriers visible to the async proxy (the copy engine) before any use.
__device__ __forceinline__ void fence_barrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// One arrival that also tells the barrier to expect `bytes` more bytes from copies completing on it.
__device__ __forceinline__ void mbar_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
// Returns once the barrier's phase of parity `parity` has completed (a fresh barrier is in phase 0:
// waiting for parity 1 returns at once). kCluster: acquire at cluster scope (the phase was completed
// by arrivals from other blocks of the cluster, whose earlier reads must be ordered before what
// follows, such as a copy into their shared memory).
template <bool kCluster = false>
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  unsigned long long since = 0;  // the clock at the first check (every 1024 polls)
  for (uint32_t polls = 1;; ++polls) {
    uint32_t done;
    if (kCluster)
      asm volatile(
          "{\n"
          ".reg .pred p;\n"
          "mbarrier.try_wait.parity.acquire.cluster.shared::cta.b64 p, [%1], %2;\n"
          "selp.u32 %0, 1, 0, p;\n"
          "}\n"
          : "=r"(done)
          : "r"(bar), "r"(parity)
          : "memory");
    else
      asm volatile(
          "{\n"
          ".reg .pred p;\n"
          "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
          "selp.u32 %0, 1, 0, p;\n"
          "}\n"
          : "=r"(done)
          : "r"(bar), "r"(parity)
          : "memory");
    if (done) return;
    if ((polls & 1023u) == 0) {
      const unsigned long long now = global_ns();
      if (since == 0) since = now;
      else if (now - since > kMaxWaitNs || polls >= kMaxPolls) __trap();
    }
  }
}
// The box at coordinates (c0 innermost, c1) of the tensor map `map` (a __grid_constant__ kernel
// parameter) into shared memory at `dst`, completing `bytes of the box` on barrier `bar`. Elements
// outside the tensor are written as zeros (and still counted).
__device__ __forceinline__ void load_2d(uint32_t dst, const void* map, int c0, int c1, uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(bar)
      : "memory");
}
// --- thread block clusters (cluster.cuh: rank, sync) ----------------------------------------------
// One arrival on the mbarrier at the same shared offset `bar` in block `rank` of the cluster (the
// calling block's own included), releasing this thread's earlier accesses at cluster scope.
__device__ __forceinline__ void mbar_arrive_cluster(uint32_t bar, uint32_t rank) {
  asm volatile(
      "{\n"
      ".reg .b32 remote;\n"
      "mapa.shared::cluster.u32 remote, %0, %1;\n"
      "mbarrier.arrive.release.cluster.shared::cluster.b64 _, [remote];\n"
      "}\n" ::"r"(bar),
      "r"(rank)
      : "memory");
}
// load_2d into the same shared offset `dst` of every block of the cluster named in `mask` (bit r:
// rank r), each completing its bytes on its own mbarrier at offset `bar`.
__device__ __forceinline__ void load_2d_multicast(uint32_t dst, const void* map, int c0, int c1, uint32_t bar,
                                                  uint16_t mask) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster [%0], [%1, {%2, %3}], [%4], %5;\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(bar), "h"(mask)
      : "memory");
}

// Per-warpgroup register budget (all 128 threads of the warpgroup execute it; the kernel needs a
// register cap at entry: __launch_bounds__(threads, 1)).
template <int kRegs>
__device__ __forceinline__ void setmaxnreg_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegs));
}
template <int kRegs>
__device__ __forceinline__ void setmaxnreg_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegs));
}
#endif

}  // namespace tma
}  // namespace gncuda
