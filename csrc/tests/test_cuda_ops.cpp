// Native test of the CUDA ops: every op through CudaBackend (and each GEMM path through the C
// launchers) against the scalar oracles of cpu/ref/ref.h, on seeded random inputs and awkward
// shapes. Outputs are poisoned with NaN before each run; NaN never passes.
// fp32: tight relative error. bf16/f16 GEMM: at most 2x the error of a naive same-precision
// version (operands rounded to the weight dtype, fp32 accumulation) against the fp32 oracle.
//   test_cuda_ops [--quick] [--seed N] [--only GROUP]   (--quick: small sizes, for compute-sanitizer;
//   GROUP: gemm, gemm_few (a few shapes over every GEMM kernel, for racecheck; by name only), linear, layernorm, embed, gather, pool, attention, graph, layernorm_gemv, gemv_stream, candidates,
//   draw, decode_layer, decode_layer_streams (two at once on two streams; by name only), host,
//   attention_tc_emulation (host only) — one group,
//   e.g. for racecheck)
// Prints "SKIP: <reason>" and exits 0 when no usable GPU is present; last line "N passed, N failed".
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "cpu/candidate_sampler.h"
#include "cpu/candidates.h"
#include "cpu/device_draw.h"
#include "cpu/nucleus_bound.h"
#include "cpu/ref/ref.h"
#include "cpu/row_sampler.h"
#include "cpu/sampling.h"
#include "cuda/api.h"
#include "model/cuda_backend.h"
#include "tests/attention_tc_emulation.h"
#include "tests/report.h"
#include "tests/switch_restore.h"
#include "tests/tma_kernel_list.h"

using namespace gptneo;
using gptneo::testing::fmt;
using gptneo::testing::g_failed;
using gptneo::testing::g_passed;
using gptneo::testing::report;
namespace tc_emu = gptneo::testing::tc_emu;

namespace {

bool check_status(const Status& st, const std::string& what) {
  if (st.ok()) return true;
  report(false, what, std::string(error_code_name(st.code())) + ": " + st.message());
  return false;
}

// ||a - b|| / ||b|| in double; +inf when a holds a NaN/inf or sizes differ.
double rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    const double d = (double)a[i] - b[i];
    num += d * d;
    den += (double)b[i] * b[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

// Device buffer owned through the backend.
class DevBuf {
 public:
  DevBuf(Backend& be, size_t bytes) : be_(be) { st_ = be.alloc(bytes, &p_); }
  ~DevBuf() { be_.release(p_); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  bool ok() const { return st_.ok(); }
  template <typename T>
  T* as() const { return static_cast<T*>(p_); }

 private:
  Backend& be_;
  void* p_ = nullptr;
  Status st_;
};

struct Ctx {
  Backend& be;
  std::mt19937 rng;
  bool quick;
};

std::vector<float> randn(Ctx& c, size_t n, float scale = 1.f) {
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(c.rng);
  return v;
}

std::vector<float> rand_ints(Ctx& c, size_t n, int lo, int hi) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = (float)d(c.rng);
  return v;
}

// Values stored as `t`, and their float32 decodings.
std::vector<uint16_t> encode16(const std::vector<float>& v, DType t) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = t == DType::kBF16 ? f32_to_bf16(v[i]) : f32_to_f16(v[i]);
  return out;
}
float round_to(float v, DType t) {
  if (t == DType::kBF16) return bf16_to_f32(f32_to_bf16(v));
  if (t == DType::kF16) return f16_to_f32(f32_to_f16(v));
  return v;
}
const void* host_bytes(DType t, const std::vector<float>& f32, const std::vector<uint16_t>& h16) {
  return t == DType::kF32 ? (const void*)f32.data() : (const void*)h16.data();
}

bool upload(Ctx& c, void* d, const void* h, size_t bytes, const std::string& what) {
  return check_status(c.be.upload(d, h, bytes), what + " upload");
}
bool download(Ctx& c, void* h, const void* d, size_t bytes, const std::string& what) {
  return check_status(c.be.download(h, d, bytes), what + " download");
}
// The backend queues on its own non-blocking stream: work the test issues on the legacy
// default stream (poison, forced GEMM kernels) is completed before the backend touches it.
// A compute capability 9.0 device (Hopper): the builds carry sm_90a code for it, so the wgmma kernels
// must serve there.
bool hopper_device() {
  CudaDeviceInfo info;
  return cuda_device_info(0, &info).ok() && info.major == 9 && info.minor == 0;
}

// Thread-block clusters launch here (compute capability 9.0+).
bool cluster_device() {
  CudaDeviceInfo info;
  return cuda_device_info(0, &info).ok() && info.major >= 9;
}

// Whether the TMA-fed wgmma kernel `kernel` runs here (GN_TEST_WGMMA_TMA; unset: all of them).
bool tma_kernel_tested(int kernel) { return gptneo::testing::tma_kernel_listed("GN_TEST_WGMMA_TMA", kernel, true); }
// The clustered decode GEMM (GN_GEMM_DECODE_TC_CLUSTER) is experimental too: GN_TEST_DECODE_TC_CLUSTER=0
// leaves it out (gpu-check's main stages; a stage of its own runs it), anything else includes it.
bool decode_tc_cluster_tested() {
  const char* v = std::getenv("GN_TEST_DECODE_TC_CLUSTER");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

// The host mock (cuda_api_mock.cpp) rather than a GPU.
bool host_mock() {
  CudaDeviceInfo info;
  return cuda_device_info(0, &info).ok() && info.name.rfind("mock", 0) == 0;
}

bool poison(float* d, size_t n, const std::string& what) {
  int st = gn_cuda_fill_nan_f32(d, n, nullptr);
  if (st == 0) st = gn_cuda_stream_synchronize(nullptr);
  if (st != 0) report(false, what, std::string("poison: ") + gn_cuda_status_string(st));
  return st == 0;
}

// ---------------------------------------------------------------------------------------------
// GEMM
// ---------------------------------------------------------------------------------------------
struct GemmCase {
  int m, n, k;
  int ldx_pad = -1;  // ldx = k + ldx_pad; -1: 4 when k % 4 == 0 (16-byte rows), else 1
  bool wgmma_only = false;  // run only the wgmma kernels (shapes sized for their tile loops)
};

// Forced GN_GEMM_WGMMA_SS (and _TMA) run only on a compute capability 9.0 device with the
// sm_90a image; elsewhere they are refused (EUNSUPPORTED, like any path that cannot serve a shape).
// Counted over the cases the 128x128 tensor-core kernel serves (the same shape requirements) to check that.
int g_wgmma_runs = 0, g_wgmma_refusals = 0;
// Likewise GN_GEMM_DECODE_TC_CLUSTER (compute capability 9.0+), over the cases GN_GEMM_DECODE_TC serves.
int g_dtc_cluster_runs = 0, g_dtc_cluster_refusals = 0;

void test_gemm_case(Ctx& c, const GemmCase& gc, DType wt, int epilogue, bool integers) {
  const int m = gc.m, n = gc.n, k = gc.k;
  const int ldx = k + (gc.ldx_pad >= 0 ? gc.ldx_pad : k % 4 == 0 ? 4 : 1), ldy = n + 3;
  std::vector<float> x = integers ? rand_ints(c, (size_t)m * ldx, -3, 3) : randn(c, (size_t)m * ldx);
  std::vector<float> w = integers ? rand_ints(c, (size_t)n * k, -3, 3) : randn(c, (size_t)n * k, 0.05f);
  std::vector<float> bias = integers ? rand_ints(c, n, -4, 4) : randn(c, n);
  std::vector<float> y0 = integers ? rand_ints(c, (size_t)m * ldy, -5, 5) : randn(c, (size_t)m * ldy);
  for (auto& v : w) v = round_to(v, wt);  // the oracle sees the weight exactly as stored
  std::vector<uint16_t> w16 = wt == DType::kF32 ? std::vector<uint16_t>() : encode16(w, wt);

  // fp32 oracle and the naive same-precision version (x rounded to the weight dtype).
  const auto ep = static_cast<cpu::Epilogue>(epilogue);
  std::vector<float> ref = y0, naive = y0;
  cpu::ref::gemm(x.data(), m, ldx, w.data(), n, k, bias.data(), ref.data(), ldy, ep);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      float s = 0.f;
      for (int kk = 0; kk < k; ++kk) s += round_to(x[(size_t)i * ldx + kk], wt) * w[(size_t)j * k + kk];
      float v = s + bias[j];
      if (epilogue == GN_EPILOGUE_GELU_NEW) v = cpu::ref::gelu_new(v);
      if (epilogue == GN_EPILOGUE_ACCUMULATE) v += y0[(size_t)i * ldy + j];
      naive[(size_t)i * ldy + j] = v;
    }
  const double naive_err = rel_error(naive, ref);

  DevBuf dx(c.be, x.size() * 4), dw(c.be, (size_t)n * k * dtype_size(wt)), db(c.be, n * 4), dy(c.be, y0.size() * 4);
  if (!dx.ok() || !dw.ok() || !db.ok() || !dy.ok()) return report(false, "gemm alloc", "");
  if (!upload(c, dx.as<void>(), x.data(), x.size() * 4, "gemm x") ||
      !upload(c, dw.as<void>(), host_bytes(wt, w, w16), (size_t)n * k * dtype_size(wt), "gemm w") ||
      !upload(c, db.as<void>(), bias.data(), n * 4, "gemm bias"))
    return;

  bool tc_served = false, dtc_served = false;
  // The TMA-fed wgmma kernels (a block per tile, persistent, clusters) are experimental: GN_TEST_WGMMA_TMA
  // picks them (tma_kernel_tested; gpu-check's main stages run with 0, so that a pipeline bug cannot take
  // the rest of their results with it: they have a stage of their own there).
  for (int kernel : {GN_GEMM_GEMV, GN_GEMM_TENSOR_CORE, GN_GEMM_TENSOR_CORE_64, GN_GEMM_SIMT, GN_GEMM_DECODE_TC,
                     GN_GEMM_GEMV_STREAM, GN_GEMM_WGMMA_SS, GN_GEMM_WGMMA_TMA, GN_GEMM_WGMMA_TMA_PERSISTENT,
                     GN_GEMM_WGMMA_TMA_CLUSTER, GN_GEMM_DECODE_TC_CLUSTER}) {
    if (gn_cuda_gemm_is_wgmma(kernel) && kernel != GN_GEMM_WGMMA_SS && !tma_kernel_tested(kernel)) continue;
    if (kernel == GN_GEMM_DECODE_TC_CLUSTER && !decode_tc_cluster_tested()) continue;
    if (gc.wgmma_only && !gn_cuda_gemm_is_wgmma(kernel)) continue;
    const std::string what = fmt("gemm %-11s %-8s m=%d n=%d k=%d ep=%d%s", gn_cuda_gemm_kernel_name(kernel),
                                 dtype_name(wt), m, n, k, epilogue, integers ? " exact" : "");
    // Prefill y (accumulate) or poison it, then run the forced kernel.
    if (epilogue == GN_EPILOGUE_ACCUMULATE) {
      if (!upload(c, dy.as<void>(), y0.data(), y0.size() * 4, what)) return;
    } else if (!poison(dy.as<float>(), y0.size(), what)) {
      return;
    }
    int st = gn_cuda_gemm_with(kernel, dx.as<float>(), m, ldx, dw.as<void>(), (int)wt, n, k, db.as<float>(),
                               dy.as<float>(), ldy, epilogue, nullptr);
    if (kernel == GN_GEMM_TENSOR_CORE) tc_served = st != GN_CUDA_EUNSUPPORTED;
    if (kernel == GN_GEMM_WGMMA_SS && tc_served)
      (st == GN_CUDA_EUNSUPPORTED ? g_wgmma_refusals : g_wgmma_runs)++;
    if (kernel == GN_GEMM_DECODE_TC) dtc_served = st != GN_CUDA_EUNSUPPORTED;
    if (kernel == GN_GEMM_DECODE_TC_CLUSTER && dtc_served)
      (st == GN_CUDA_EUNSUPPORTED ? g_dtc_cluster_refusals : g_dtc_cluster_runs)++;
    if (st == GN_CUDA_EUNSUPPORTED) continue;  // this path does not serve the shape/dtype
    if (st == 0) st = gn_cuda_stream_synchronize(nullptr);
    if (st != 0) return report(false, what, gn_cuda_status_string(st));
    std::vector<float> out(y0.size());
    if (!download(c, out.data(), dy.as<void>(), out.size() * 4, what)) return;
    // Padding columns of y are not outputs: compare only [m, n].
    std::vector<float> o2, r2;
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        o2.push_back(out[(size_t)i * ldy + j]);
        r2.push_back(ref[(size_t)i * ldy + j]);
      }
    // …but they must be untouched: ldy padding of a store epilogue stays NaN.
    bool pad_ok = true;
    if (epilogue != GN_EPILOGUE_ACCUMULATE)
      for (int i = 0; i < m && pad_ok; ++i)
        for (int j = n; j < ldy; ++j) pad_ok = pad_ok && std::isnan(out[(size_t)i * ldy + j]);
    const double err = rel_error(o2, r2);
    double tol;
    if (integers) tol = 0.0;  // small integers are exact in every dtype and accumulation order
    else if (wt == DType::kF32 || kernel == GN_GEMM_GEMV || kernel == GN_GEMM_SIMT || kernel == GN_GEMM_GEMV_STREAM)
      tol = 2e-5;  // fp32 x
    else tol = 2.0 * naive_err;
    report(err <= tol && pad_ok, what, fmt("rel_err=%.3g tol=%.3g (naive %.3g)%s", err, tol, naive_err,
                                           pad_ok ? "" : " wrote past n"));
  }
}

// A few shapes that still take every GEMM kernel through its whole pipeline (several k-tiles, so that
// the stage rings wrap; m and n tails; GEMV chunks and segments; a clustered decode plan), for
// compute-sanitizer's racecheck, under which the gemm group's ~800 launches did not finish in 90 s
// (runs 2-4).
void test_gemm_few(Ctx& c) {
  const GemmCase cases[] = {{1, 300, 264},  {6, 300, 2832},  {2, 4500, 2056}, {33, 70, 520},
                            {130, 200, 520}, {200, 300, 200}, {4, 3200, 2048}};
  int ep = 0;
  for (DType wt : {DType::kF32, DType::kBF16, DType::kF16})
    for (const auto& gc : cases) test_gemm_case(c, gc, wt, (ep++) % 3, false);
}

void test_gemm(Ctx& c) {
  std::vector<GemmCase> cases = {{1, 67, 40}, {2, 300, 264}, {7, 130, 129}, {17, 129, 72}, {128, 96, 64},
                                 {129, 200, 136}, {8, 768, 768}, {3, 50, 1000},
                                 // GEMV row groups split over 1, 2 and 4 warps (n vs the SM count),
                                 // several x chunks at m = 1 (k > 8192) and m = 6 (1280 per chunk).
                                 {1, 4500, 64}, {2, 2600, 136}, {4, 9000, 16}, {6, 300, 2832}, {1, 40, 8200},
                                 // streaming GEMV: several row groups per warp with several k segments
                                 // each (the last one partial), one, two and four rows per group, odd n.
                                 {2, 4500, 2056}, {3, 5000, 1032}, {3, 201, 136}, {7, 9000, 520}, {8, 301, 2048},
                                 // decode tensor-core kernel: 2/4/8 x-row tiles (m padded), several
                                 // k chunks with a partial last k-block, 1..8 warps per 16-row tile.
                                 {64, 200, 1032}, {33, 70, 520}, {24, 2600, 72}, {9, 17000, 16}, {16, 33, 2504},
                                 // its clustered form (plans on a 132-SM GPU): 1, 2 and 4 warps per tile
                                 // with 8 splits (4x3200x2048, 8x2048x2048, 5x768x3072), x chunks within a
                                 // split and a partial last split (3x520x4104, 40x1100x1544), one split
                                 // (the cases above); narrow-layer shapes (decode_tc_split_plan.h; tests/cpu
                                 // replays the plan and reduction).
                                 {4, 3200, 2048}, {8, 2048, 2048}, {5, 768, 3072}, {3, 520, 4104}, {40, 1100, 1544},
                                 // x rows that cannot be read as float4 (odd ldx): scalar x staging.
                                 {1, 300, 264, 1}, {5, 200, 1040, 3}, {24, 100, 264, 1}};
  if (!c.quick) {
    cases.push_back({128, 768, 768});
    cases.push_back({300, 2304, 768});
    cases.push_back({1, 3072, 768});
    cases.push_back({5, 768, 3072});
    cases.push_back({65, 1000, 2056});
  }
  int ep = 0;
  for (DType wt : {DType::kF32, DType::kBF16, DType::kF16})
    for (const auto& gc : cases) test_gemm_case(c, gc, wt, (ep++) % 3, false);
  for (DType wt : {DType::kF32, DType::kBF16, DType::kF16})
    for (const GemmCase& gc : {GemmCase{1, 33, 48}, GemmCase{17, 70, 264}, GemmCase{130, 129, 40}})
      test_gemm_case(c, gc, wt, GN_EPILOGUE_STORE, true);
  // Every epilogue on a wgmma tail shape, both 16-bit dtypes (the loop above cycles epilogues).
  for (DType wt : {DType::kBF16, DType::kF16})
    for (int e : {GN_EPILOGUE_STORE, GN_EPILOGUE_GELU_NEW, GN_EPILOGUE_ACCUMULATE}) test_gemm_case(c, {200, 300, 200}, wt, e, false);
  if (!c.quick) {
    // wgmma tiles (128 x 256, or 128 x 128 for small grids; k-tiles of 64): m and n tails, the
    // lm_head width, the model k (768, 2048, 8192) and k % 64 != 0. 16-bit weights only (the
    // kernels that take these shapes; the CPU oracle dominates the run time).
    const GemmCase big[] = {{65, 50257, 64}, {257, 520, 768}, {130, 700, 2048}, {129, 260, 8192}, {300, 2304, 776}};
    for (DType wt : {DType::kBF16, DType::kF16})
      for (const auto& gc : big) test_gemm_case(c, gc, wt, (ep++) % 3, false);
  }
  if (!c.quick && !host_mock()) {
    // More output tiles than SMs (132 on an H100 SXM/H200), so that the persistent TMA kernels' blocks
    // take several each and their k-tile counter runs on across them: 306 tiles of 128 x 128 with 5
    // k-tiles (6 stages: the stage ring wraps inside a tile) and 204 of 128 x 256 with 3 (4 stages),
    // both with an odd number of m tiles (a cluster's second block past the last row); accumulate, so
    // that a tile done twice or skipped shows. (The host mock has no tiles; there these would only repeat the
    // small cases at ten seconds of CI time.)
    test_gemm_case(c, {1100, 4300, 264, -1, true}, DType::kBF16, GN_EPILOGUE_ACCUMULATE, false);
    test_gemm_case(c, {2100, 3072, 136, -1, true}, DType::kF16, GN_EPILOGUE_ACCUMULATE, false);
  }
  {
    // The wgmma path must serve a compute capability 9.0 device (the builds carry sm_90a code) and
    // be refused everywhere else.
    CudaDeviceInfo info;
    (void)cuda_device_info(0, &info);
    const bool hopper = hopper_device();
    const bool ok = hopper ? g_wgmma_refusals == 0 && g_wgmma_runs > 0 : g_wgmma_runs == 0;
    report(ok, fmt("gemm wgmma %s on cc %d.%d", hopper ? "runs" : "is refused", info.major, info.minor),
           fmt("ran %d, refused %d", g_wgmma_runs, g_wgmma_refusals));
    if (!hopper) std::printf("note: gemm wgmma skipped (needs compute capability 9.0 and the sm_90a image)\n");
  }
  if (decode_tc_cluster_tested()) {
    const bool clusters = cluster_device();
    report(clusters ? g_dtc_cluster_refusals == 0 && g_dtc_cluster_runs > 0 : g_dtc_cluster_runs == 0,
           std::string("gemm decode-tc-cluster ") + (clusters ? "runs" : "is refused") + " where decode-tc runs",
           fmt("ran %d, refused %d", g_dtc_cluster_runs, g_dtc_cluster_refusals));
    if (!clusters) std::printf("note: gemm decode-tc-cluster skipped (needs compute capability 9.0+)\n");
  }

  // The dispatcher's choice for the typical shapes.
  // (m <= 64 with a tile grid smaller than the GPU goes to sliced GEMV; 64 SMs is a lower bound
  // on every supported datacenter part, and the n below make the grids clearly larger.)
  struct Expect {
    int m, n, k;
    DType t;
    int kernel;
  } ex[] = {{1, 768, 768, DType::kBF16, GN_GEMM_GEMV},           {8, 768, 768, DType::kF32, GN_GEMM_GEMV},
            {2, 6144, 2048, DType::kBF16, GN_GEMM_GEMV},        {3, 6144, 2048, DType::kBF16, GN_GEMM_DECODE_TC},
            {8, 2048, 2048, DType::kBF16, GN_GEMM_GEMV},        {8, 8192, 2048, DType::kF16, GN_GEMM_DECODE_TC},
            {8, 2048, 8192, DType::kBF16, GN_GEMM_GEMV},        {8, 50257, 768, DType::kBF16, GN_GEMM_TENSOR_CORE},
            {32, 768, 768, DType::kBF16, GN_GEMM_DECODE_TC},          {300, 768, 768, DType::kBF16, GN_GEMM_TENSOR_CORE_64},
            {64, 50257, 768, DType::kBF16, GN_GEMM_TENSOR_CORE}, {300, 768, 768, DType::kF32, GN_GEMM_SIMT},
            {64, 100, 129, DType::kBF16, GN_GEMM_SIMT},          {100, 768, 768, DType::kBF16, GN_GEMM_TENSOR_CORE_64},
            {4096, 3072, 768, DType::kF16, GN_GEMM_TENSOR_CORE}, {32, 768, 768, DType::kF32, GN_GEMM_GEMV}};
  alignas(16) static float dummy[4];
  // On a device that runs wgmma its kernel takes over the 128x128 tensor-core shapes by default
  // (GPTNEO_CUDA_WGMMA=0: it does not); the 64x64 cases below have grids far under half the SMs,
  // which stay on mma.sync.
  const char* wgmma_env = std::getenv("GPTNEO_CUDA_WGMMA");
  const int wgmma_expected = g_wgmma_runs == 0                                 ? 0
                             : wgmma_env && !std::strcmp(wgmma_env, "0")   ? 0
                             : wgmma_env && !std::strcmp(wgmma_env, "tma") ? 2
                             : wgmma_env && !std::strcmp(wgmma_env, "persistent") ? 3
                             : wgmma_env && !std::strcmp(wgmma_env, "cluster") ? 4
                                                                           : 1;
  report(gn_cuda_gemm_wgmma_enabled() == wgmma_expected, "gemm wgmma policy (on by default where it runs)",
         fmt("enabled %d, expected %d", gn_cuda_gemm_wgmma_enabled(), wgmma_expected));
  for (auto& e : ex)
    if (wgmma_expected != 0 && e.kernel == GN_GEMM_TENSOR_CORE)
      e.kernel = wgmma_expected == 4   ? GN_GEMM_WGMMA_TMA_CLUSTER
                 : wgmma_expected == 3 ? GN_GEMM_WGMMA_TMA_PERSISTENT
                 : wgmma_expected == 2 ? GN_GEMM_WGMMA_TMA
                                       : GN_GEMM_WGMMA_SS;
  // GPTNEO_CUDA_DECODE_TC=cluster (where the device launches clusters): the clustered decode GEMM takes
  // the decode tensor-core kernel's shapes, and narrow 16-bit layers' from 3 rows up to the GEMV's 8.
  const bool dtc_cluster = gn_cuda_gemm_decode_tc_cluster_enabled() != 0;
  const char* dtc_env = std::getenv("GPTNEO_CUDA_DECODE_TC");
  report(dtc_cluster == (dtc_env && !std::strcmp(dtc_env, "cluster") && cluster_device()),
         "gemm decode-tc-cluster policy (GPTNEO_CUDA_DECODE_TC=cluster on compute capability 9.0+)",
         fmt("enabled %d", (int)dtc_cluster));
  if (dtc_cluster)
    for (auto& e : ex)
      if (e.kernel == GN_GEMM_DECODE_TC ||
          (e.kernel == GN_GEMM_GEMV && e.t != DType::kF32 && e.m >= 3 && (long long)e.n < 2LL * e.k))
        e.kernel = GN_GEMM_DECODE_TC_CLUSTER;
  for (const auto& e : ex) {
    int got = gn_cuda_gemm_select(e.m, e.n, e.k, (int)e.t, dummy, e.k, dummy);
    report(got == e.kernel, fmt("gemm select m=%d n=%d k=%d %s", e.m, e.n, e.k, dtype_name(e.t)),
           fmt("got %s", gn_cuda_gemm_kernel_name(got)));
  }
  // A forced path that cannot serve the request reports it instead of running.
  int st = gn_cuda_gemm_with(GN_GEMM_TENSOR_CORE, dummy, 1, 4, dummy, GN_DTYPE_F32, 1, 4, nullptr, dummy, 1, 0, nullptr);
  report(st == GN_CUDA_EUNSUPPORTED, "gemm forced tensor-core on fp32 weights is refused", gn_cuda_status_name(st));
  st = gn_cuda_gemm_with(5, dummy, 1, 4, dummy, GN_DTYPE_BF16, 1, 4, nullptr, dummy, 1, 0, nullptr);
  report(st == GN_CUDA_EUNSUPPORTED, "gemm forced kernel 5 (retired) is refused", gn_cuda_status_name(st));
  st = gn_cuda_gemm_with(GN_GEMM_WGMMA_SS, dummy, 1, 4, dummy, GN_DTYPE_F32, 1, 4, nullptr, dummy, 1, 0, nullptr);
  report(st == GN_CUDA_EUNSUPPORTED, "gemm forced wgmma-ss on fp32 weights is refused", gn_cuda_status_name(st));
  st = gn_cuda_gemm_with(GN_GEMM_DECODE_TC_CLUSTER, dummy, 1, 8, dummy, GN_DTYPE_F32, 1, 8, nullptr, dummy, 1, 0, nullptr);
  report(st == GN_CUDA_EUNSUPPORTED, "gemm forced decode-tc-cluster on fp32 weights is refused", gn_cuda_status_name(st));
  st = gn_cuda_gemm_with(GN_GEMM_DECODE_TC_CLUSTER, dummy, 65, 8, dummy, GN_DTYPE_BF16, 1, 8, nullptr, dummy, 1, 0, nullptr);
  report(st == GN_CUDA_EUNSUPPORTED, "gemm forced decode-tc-cluster on 65 rows is refused", gn_cuda_status_name(st));
}

// ---------------------------------------------------------------------------------------------
// 16-bit activations between wgmma GEMMs (gn_cuda_layernorm_x16, gn_cuda_gemm_x16, GPTNEO_CUDA_X16)
// ---------------------------------------------------------------------------------------------
bool same_bytes(Ctx& c, const void* d_a, const void* d_b, size_t bytes, const std::string& what) {
  std::vector<unsigned char> a(bytes), b(bytes);
  if (!download(c, a.data(), d_a, bytes, what) || !download(c, b.data(), d_b, bytes, what)) return false;
  return std::memcmp(a.data(), b.data(), bytes) == 0;
}

// The model's MLP at op level: layer norm, c_fc (gelu_new), c_proj (accumulate), once on fp32
// activations (each wgmma kernel rounds x itself) and once on 16-bit ones handed from op to op. The
// 16-bit path must give the same y bit for bit, and its intermediates must be the fp32 ones rounded
// (gn_cuda_convert: round to nearest even, as the GEMMs' rounding pass).
void test_x16_chain(Ctx& c, int m, int h, int inter, DType wt) {
  const int dt = (int)wt, ldx = h + 4;
  std::vector<float> x = randn(c, (size_t)m * ldx), gamma = randn(c, h, 0.5f), beta = randn(c, h, 0.1f);
  std::vector<float> w1 = randn(c, (size_t)inter * h, 0.05f), b1 = randn(c, inter), w2 = randn(c, (size_t)h * inter, 0.05f);
  std::vector<float> b2 = randn(c, h), y0 = randn(c, (size_t)m * h);
  for (auto& v : gamma) v += 1.f;
  const std::vector<uint16_t> w1_16 = encode16(w1, wt), w2_16 = encode16(w2, wt);
  DevBuf dx(c.be, x.size() * 4), dg(c.be, h * 4), db(c.be, h * 4), dw1(c.be, w1.size() * 2), db1(c.be, inter * 4),
      dw2(c.be, w2.size() * 2), db2(c.be, h * 4);
  DevBuf norm(c.be, (size_t)m * h * 4), mid(c.be, (size_t)m * inter * 4), y(c.be, y0.size() * 4);
  DevBuf n16(c.be, (size_t)m * h * 2), m16(c.be, (size_t)m * inter * 2), y16path(c.be, y0.size() * 4);
  DevBuf n16_ref(c.be, (size_t)m * h * 2), m16_ref(c.be, (size_t)m * inter * 2);
  const std::string base = fmt("x16 chain %s m=%d h=%d inter=%d", dtype_name(wt), m, h, inter);
  if (!upload(c, dx.as<void>(), x.data(), x.size() * 4, base) || !upload(c, dg.as<void>(), gamma.data(), h * 4, base) ||
      !upload(c, db.as<void>(), beta.data(), h * 4, base) ||
      !upload(c, dw1.as<void>(), w1_16.data(), w1_16.size() * 2, base) ||
      !upload(c, db1.as<void>(), b1.data(), inter * 4, base) ||
      !upload(c, dw2.as<void>(), w2_16.data(), w2_16.size() * 2, base) || !upload(c, db2.as<void>(), b2.data(), h * 4, base))
    return;
  for (int kernel : {GN_GEMM_WGMMA_SS, GN_GEMM_WGMMA_TMA, GN_GEMM_WGMMA_TMA_PERSISTENT, GN_GEMM_WGMMA_TMA_CLUSTER}) {
    if (kernel != GN_GEMM_WGMMA_SS && !tma_kernel_tested(kernel)) continue;
    const std::string what = base + " " + gn_cuda_gemm_kernel_name(kernel);
    // (both residual streams start as y0)
    if (!upload(c, y.as<void>(), y0.data(), y0.size() * 4, what) || !upload(c, y16path.as<void>(), y0.data(), y0.size() * 4, what))
      return;
    // fp32 activations
    int st = gn_cuda_layernorm(dx.as<float>(), m, h, ldx, dg.as<float>(), db.as<float>(), 1e-5f, norm.as<float>(), h, nullptr);
    if (st == 0)
      st = gn_cuda_gemm_with(kernel, norm.as<float>(), m, h, dw1.as<void>(), dt, inter, h, db1.as<float>(), mid.as<float>(),
                             inter, GN_EPILOGUE_GELU_NEW, nullptr);
    if (st == GN_CUDA_EUNSUPPORTED) continue;  // not a Hopper device with the sm_90a image (gemm group says so)
    if (st == 0)
      st = gn_cuda_gemm_with(kernel, mid.as<float>(), m, inter, dw2.as<void>(), dt, h, inter, db2.as<float>(), y.as<float>(),
                             h, GN_EPILOGUE_ACCUMULATE, nullptr);
    // 16-bit activations
    if (st == 0)
      st = gn_cuda_layernorm_x16(dx.as<float>(), m, h, ldx, dg.as<float>(), db.as<float>(), 1e-5f, n16.as<void>(), dt, h,
                                 nullptr);
    if (st == 0)
      st = gn_cuda_gemm_x16(kernel, n16.as<void>(), dt, m, h, dw1.as<void>(), dt, inter, h, db1.as<float>(), m16.as<void>(),
                            dt, inter, GN_EPILOGUE_GELU_NEW, nullptr);
    if (st == 0)
      st = gn_cuda_gemm_x16(kernel, m16.as<void>(), dt, m, inter, dw2.as<void>(), dt, h, inter, db2.as<float>(),
                            y16path.as<void>(), GN_DTYPE_F32, h, GN_EPILOGUE_ACCUMULATE, nullptr);
    // the fp32 intermediates rounded as the rounding pass rounds
    if (st == 0) st = gn_cuda_convert(norm.as<void>(), GN_DTYPE_F32, n16_ref.as<void>(), dt, (size_t)m * h, nullptr);
    if (st == 0) st = gn_cuda_convert(mid.as<void>(), GN_DTYPE_F32, m16_ref.as<void>(), dt, (size_t)m * inter, nullptr);
    if (st == 0) st = gn_cuda_stream_synchronize(nullptr);
    if (st != 0) {
      report(false, what, gn_cuda_status_string(st));
      continue;
    }
    const bool norm_ok = same_bytes(c, n16.as<void>(), n16_ref.as<void>(), (size_t)m * h * 2, what);
    const bool mid_ok = same_bytes(c, m16.as<void>(), m16_ref.as<void>(), (size_t)m * inter * 2, what);
    const bool y_ok = same_bytes(c, y.as<void>(), y16path.as<void>(), y0.size() * 4, what);
    report(norm_ok && mid_ok && y_ok, what + " equals the fp32 path bit for bit",
           fmt("layer norm %s, c_fc output %s, y %s", norm_ok ? "same" : "DIFFERS", mid_ok ? "same" : "DIFFERS",
               y_ok ? "same" : "DIFFERS"));
  }
}

// The backend's MLP and layer-normed linear with GPTNEO_CUDA_X16=1 against the default backend, bit
// for bit, at shapes where both projections run on wgmma GEMMs (c_proj's grid: 1 x 67 blocks of 128 x
// 128, at least half of 132 SMs) and where only c_fc does (33 x 2 blocks; the MLP then falls back to
// its parts). Narrow layers keep the host mock's loops short.
void test_x16_backend(Ctx& c) {
  // Both backends made here (the variable is read at creation), whatever the caller's environment.
  const char* saved = std::getenv("GPTNEO_CUDA_X16");
  const std::string saved_value = saved ? saved : "";
  std::unique_ptr<Backend> plain, x16;
  unsetenv("GPTNEO_CUDA_X16");
  const Status plain_created = create_cuda_backend(0, &plain);
  setenv("GPTNEO_CUDA_X16", "1", 1);
  const Status x16_created = create_cuda_backend(0, &x16);
  if (saved) setenv("GPTNEO_CUDA_X16", saved_value.c_str(), 1);
  else unsetenv("GPTNEO_CUDA_X16");
  if (!check_status(plain_created, "default backend") || !check_status(x16_created, "x16 backend")) return;
  struct Case {
    int m, h, inter;
    DType wt;
  } cases[] = {{8453, 64, 128, DType::kBF16}, {140, 64, 4224, DType::kF16}};
  for (const auto& cs : cases) {
      const DType wt = cs.wt;
      const std::string what = fmt("backend mlp GPTNEO_CUDA_X16=1 %s m=%d h=%d inter=%d", dtype_name(wt), cs.m, cs.h, cs.inter);
      const int m = cs.m, h = cs.h, inter = cs.inter;
      std::vector<float> x = randn(c, (size_t)m * h), gamma = randn(c, h, 0.5f), beta = randn(c, h, 0.1f);
      std::vector<float> w1 = randn(c, (size_t)inter * h, 0.05f), b1 = randn(c, inter), w2 = randn(c, (size_t)h * inter, 0.05f);
      std::vector<float> b2 = randn(c, h);
      Backend* backends[2] = {plain.get(), x16.get()};
      std::unique_ptr<PreparedLinear> fc[2], proj[2];
      float *d_b1[2] = {nullptr, nullptr}, *d_b2[2] = {nullptr, nullptr}, *d_g[2] = {nullptr, nullptr},
            *d_beta[2] = {nullptr, nullptr};
      DevBuf dx(c.be, x.size() * 4), norm(c.be, x.size() * 4), mid(c.be, (size_t)m * inter * 4);
      DevBuf y_default(c.be, x.size() * 4), y_x16(c.be, x.size() * 4), q_default(c.be, (size_t)m * inter * 4),
          q_x16(c.be, (size_t)m * inter * 4);
      DevBuf* ys[2] = {&y_default, &y_x16};
      DevBuf* qs[2] = {&q_default, &q_x16};
      bool ok = upload(c, dx.as<void>(), x.data(), x.size() * 4, what);
      for (int b = 0; b < 2 && ok; ++b) {
        Backend& be = *backends[b];
        ok = check_status(be.prepare_linear(w1.data(), DType::kF32, inter, h, wt, &fc[b]), what) &&
             check_status(be.prepare_linear(w2.data(), DType::kF32, h, inter, wt, &proj[b]), what) &&
             check_status(be.prepare_vector(b1.data(), DType::kF32, inter, &d_b1[b]), what) &&
             check_status(be.prepare_vector(b2.data(), DType::kF32, h, &d_b2[b]), what) &&
             check_status(be.prepare_vector(gamma.data(), DType::kF32, h, &d_g[b]), what) &&
             check_status(be.prepare_vector(beta.data(), DType::kF32, h, &d_beta[b]), what) &&
             upload(c, ys[b]->as<void>(), x.data(), x.size() * 4, what) &&  // the residual stream: y += mlp(y)
             check_status(be.mlp(ys[b]->as<float>(), m, h, d_g[b], d_beta[b], 1e-5f, *fc[b], d_b1[b], *proj[b], d_b2[b],
                                 ys[b]->as<float>(), h, norm.as<float>(), mid.as<float>()),
                          what) &&
             check_status(be.layernorm_linear(dx.as<float>(), m, h, d_g[b], d_beta[b], 1e-5f, *fc[b], d_b1[b],
                                              qs[b]->as<float>(), inter, LinearEpilogue::kStore, norm.as<float>()),
                          what) &&
             check_status(be.synchronize(), what);
      }
      if (!ok) continue;
      const bool mlp_same = same_bytes(c, y_default.as<void>(), y_x16.as<void>(), x.size() * 4, what);
      const bool ln_same = same_bytes(c, q_default.as<void>(), q_x16.as<void>(), (size_t)m * inter * 4, what);
      const int fc_kernel = gn_cuda_gemm_select(m, inter, h, (int)wt, dx.as<float>(), h, nullptr);
      const int proj_kernel = gn_cuda_gemm_select(m, h, inter, (int)wt, dx.as<float>(), inter, nullptr);
      report(mlp_same && ln_same, what + " equals the default backend bit for bit",
             fmt("mlp %s, layernorm_linear %s; c_fc on %s, c_proj on %s", mlp_same ? "same" : "DIFFERS",
                 ln_same ? "same" : "DIFFERS", gn_cuda_gemm_kernel_name(fc_kernel), gn_cuda_gemm_kernel_name(proj_kernel)));
    }
  const std::vector<std::string> switches = x16->experimental_switches();
  const bool listed = std::find(switches.begin(), switches.end(), "x16Activations") != switches.end();
  report(listed == (gn_cuda_gemm_wgmma_enabled() != 0), "x16 backend lists x16Activations where wgmma GEMMs run",
         listed ? "listed" : "not listed");
}

void test_x16_activations(Ctx& c) {
  test_x16_chain(c, 200, 128, 384, DType::kBF16);
  test_x16_chain(c, 130, 128, 520, DType::kF16);  // (m and n tails; 520 = 8 k-tiles plus 8)
  // (a model's shape: on a GPU only, the host mock's loops would take half a minute of CI time)
  if (!c.quick && !host_mock()) test_x16_chain(c, 300, 768, 3072, DType::kBF16);
  // Refusals: what the 16-bit forms cannot serve.
  alignas(16) static float dummy[64];
  int st = gn_cuda_gemm_x16(GN_GEMM_WGMMA_SS, dummy, GN_DTYPE_F32, 8, 8, dummy, GN_DTYPE_BF16, 8, 8, nullptr, dummy,
                            GN_DTYPE_BF16, 8, GN_EPILOGUE_ACCUMULATE, nullptr);
  report(st == GN_CUDA_EINVAL, "gemm_x16: a 16-bit y with the accumulate epilogue is refused", gn_cuda_status_name(st));
  st = gn_cuda_gemm_x16(GN_GEMM_WGMMA_SS, dummy, GN_DTYPE_BF16, 8, 16, dummy, GN_DTYPE_BF16, 8, 8, nullptr, dummy,
                        GN_DTYPE_F32, 8, GN_EPILOGUE_STORE, nullptr);
  report(st == GN_CUDA_EINVAL, "gemm_x16: a 16-bit x that is not dense (ldx != k) is refused", gn_cuda_status_name(st));
  st = gn_cuda_gemm_x16(GN_GEMM_WGMMA_SS, dummy, GN_DTYPE_F16, 8, 8, dummy, GN_DTYPE_BF16, 8, 8, nullptr, dummy,
                        GN_DTYPE_F32, 8, GN_EPILOGUE_STORE, nullptr);
  report(st == GN_CUDA_EINVAL, "gemm_x16: x in another 16-bit type than W is refused", gn_cuda_status_name(st));
  st = gn_cuda_gemm_x16(GN_GEMM_TENSOR_CORE, dummy, GN_DTYPE_BF16, 8, 8, dummy, GN_DTYPE_BF16, 8, 8, nullptr, dummy,
                        GN_DTYPE_F32, 8, GN_EPILOGUE_STORE, nullptr);
  report(st == GN_CUDA_EUNSUPPORTED, "gemm_x16: a kernel other than wgmma is refused", gn_cuda_status_name(st));
  st = gn_cuda_layernorm_x16(dummy, 1, 8, 8, dummy, dummy, 1e-5f, dummy, GN_DTYPE_F32, 8, nullptr);
  report(st == GN_CUDA_EINVAL, "layernorm_x16: an fp32 output type is refused", gn_cuda_status_name(st));
  test_x16_backend(c);
}

// The Backend path: prepare_linear (host weights of any dtype converted on the device to the
// stored dtype) + linear (dispatching by shape), and prepare_vector.
void test_backend_linear(Ctx& c) {
  struct Case {
    DType src, store;
    int m, n, k;
  } cases[] = {{DType::kF32, DType::kBF16, 1, 300, 264},  {DType::kF32, DType::kBF16, 200, 300, 264},
               {DType::kBF16, DType::kBF16, 33, 96, 128}, {DType::kF16, DType::kF32, 5, 70, 40},
               {DType::kF32, DType::kF16, 130, 64, 72},   {DType::kBF16, DType::kF32, 130, 65, 33}};
  for (const auto& cs : cases) {
    const std::string what = fmt("backend linear %s->%s m=%d n=%d k=%d", dtype_name(cs.src), dtype_name(cs.store),
                                 cs.m, cs.n, cs.k);
    std::vector<float> x = randn(c, (size_t)cs.m * cs.k), w = randn(c, (size_t)cs.n * cs.k, 0.05f);
    std::vector<float> bias = randn(c, cs.n);
    for (auto& v : w) v = round_to(v, cs.src);  // exactly representable in the source dtype
    std::vector<uint16_t> w16 = cs.src == DType::kF32 ? std::vector<uint16_t>() : encode16(w, cs.src);
    std::vector<float> bias16_dec(bias.size());
    std::vector<uint16_t> bias16 = encode16(bias, DType::kF16);  // bias arrives as f16
    for (size_t i = 0; i < bias.size(); ++i) bias16_dec[i] = f16_to_f32(bias16[i]);
    std::vector<float> w_stored(w.size());
    for (size_t i = 0; i < w.size(); ++i) w_stored[i] = round_to(w[i], cs.store);

    std::unique_ptr<PreparedLinear> lin;
    float* d_bias = nullptr;
    if (!check_status(c.be.prepare_linear(host_bytes(cs.src, w, w16), cs.src, cs.n, cs.k, cs.store, &lin), what) ||
        !check_status(c.be.prepare_vector(bias16.data(), DType::kF16, cs.n, &d_bias), what))
      continue;
    const bool meta_ok = lin->n == cs.n && lin->k == cs.k && lin->dtype == cs.store &&
                         lin->bytes == (size_t)cs.n * cs.k * dtype_size(cs.store);
    DevBuf dx(c.be, x.size() * 4), dy(c.be, (size_t)cs.m * cs.n * 4);
    if (!upload(c, dx.as<void>(), x.data(), x.size() * 4, what) || !poison(dy.as<float>(), (size_t)cs.m * cs.n, what))
      continue;
    if (!check_status(c.be.linear(dx.as<float>(), cs.m, cs.k, *lin, d_bias, dy.as<float>(), cs.n,
                                  LinearEpilogue::kGeluNew),
                      what))
      continue;
    std::vector<float> out((size_t)cs.m * cs.n), ref(out.size()), naive(out.size());
    if (!download(c, out.data(), dy.as<void>(), out.size() * 4, what)) continue;
    cpu::ref::gemm(x.data(), cs.m, cs.k, w_stored.data(), cs.n, cs.k, bias16_dec.data(), ref.data(), cs.n,
                   cpu::Epilogue::kGeluNew);
    for (int i = 0; i < cs.m; ++i)
      for (int j = 0; j < cs.n; ++j) {
        float acc = 0.f;
        for (int kk = 0; kk < cs.k; ++kk) acc += round_to(x[(size_t)i * cs.k + kk], cs.store) * w_stored[(size_t)j * cs.k + kk];
        naive[(size_t)i * cs.n + j] = cpu::ref::gelu_new(acc + bias16_dec[j]);
      }
    const double err = rel_error(out, ref), naive_err = rel_error(naive, ref);
    // Whichever kernel ran, its error is at most that of x rounded to the stored dtype (2x margin),
    // and fp32-tight when nothing is rounded.
    const double tol = std::max(2.0 * naive_err, 2e-5);
    const int kernel = gn_cuda_gemm_select(cs.m, cs.n, cs.k, (int)cs.store, dx.as<float>(), cs.k, nullptr);
    report(err <= tol && meta_ok, what, fmt("rel_err=%.3g tol=%.3g kernel~%s%s", err, tol, gn_cuda_gemm_kernel_name(kernel),
                                            meta_ok ? "" : " (bad PreparedLinear fields)"));
  }
}

// ---------------------------------------------------------------------------------------------
// layer norm, embed, gather_rows, argmax_rows, advance_decode
// ---------------------------------------------------------------------------------------------
void test_layernorm(Ctx& c) {
  // dim <= 2048: the register-cached kernel; 2049: the two-pass one. The last case runs in place.
  for (auto [rows, dim] : std::vector<std::pair<int, int>>{{1, 16}, {7, 100}, {129, 768}, {3, 2048}, {2, 2049}, {4, 1000}}) {
    const bool in_place = dim == 1000;
    const int ldx = dim + 5;
    std::vector<float> x = randn(c, (size_t)rows * ldx, 3.f), g = randn(c, dim), b = randn(c, dim);
    for (auto& v : x) v += 2.f;  // a mean far from zero
    std::vector<float> ref((size_t)rows * dim);
    cpu::ref::layernorm(x.data(), rows, dim, ldx, g.data(), b.data(), 1e-5f, ref.data(), dim);
    DevBuf dx(c.be, x.size() * 4), dg(c.be, dim * 4), dbb(c.be, dim * 4), dy(c.be, ref.size() * 4);
    const std::string what = fmt("layernorm rows=%d dim=%d%s", rows, dim, in_place ? " (in place)" : "");
    if (!upload(c, dx.as<void>(), x.data(), x.size() * 4, what) || !upload(c, dg.as<void>(), g.data(), dim * 4, what) ||
        !upload(c, dbb.as<void>(), b.data(), dim * 4, what) || !poison(dy.as<float>(), ref.size(), what))
      continue;
    float* dout = in_place ? dx.as<float>() : dy.as<float>();
    const int ldy = in_place ? ldx : dim;
    if (!check_status(c.be.layernorm(dx.as<float>(), rows, dim, ldx, dg.as<float>(), dbb.as<float>(), 1e-5f, dout, ldy),
                      what))
      continue;
    std::vector<float> full((size_t)rows * ldy), out(ref.size());
    if (!download(c, full.data(), dout, full.size() * 4, what)) continue;
    for (int r = 0; r < rows; ++r)
      std::copy(full.begin() + (size_t)r * ldy, full.begin() + (size_t)r * ldy + dim, out.begin() + (size_t)r * dim);
    const double err = rel_error(out, ref);
    report(err < 1e-5, what, fmt("rel_err=%.3g", err));
  }
}

// The decode GEMV with the layer norm folded in (gn_cuda_layernorm_gemv) against the scalar layer
// norm followed by the scalar GEMM; x stays fp32 on this path (tolerance as the fp32-x GEMMs).
// Shapes at the edge of what it serves (k = the whole x chunk of m rows) and just past it.
void test_layernorm_gemv(Ctx& c) {
  struct Case { int m, n, k; };
  // (n from 1 to 4500 puts 4, 2 and 1 warps on a row group; the host mock runs these too, so the
  // large-k cases keep n small.)
  const Case cases[] = {{1, 40, 64}, {2, 4500, 264}, {3, 2304, 768}, {4, 1, 2048}, {8, 130, 1024}, {5, 700, 1536},
                        {1, 300, 8192}, {7, 768, 1024}};
  int ep = 0;
  for (DType wt : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (const Case& cs : cases) {
      const int m = cs.m, n = cs.n, k = cs.k, ldx = k + 4, ldy = n + 3, epilogue = (ep++) % 3;
      // Every third case reads gamma and beta one float past a 16-byte boundary (the kernels' scalar path).
      const int gb_off = ep % 3 == 0 ? 1 : 0;
      const std::string what = fmt("layernorm_gemv %-8s m=%d n=%d k=%d ep=%d%s", dtype_name(wt), m, n, k, epilogue,
                                   gb_off ? " gamma+1" : "");
      std::vector<float> x = randn(c, (size_t)m * ldx, 2.f), g = randn(c, k), b = randn(c, k);
      for (auto& v : x) v += 1.5f;  // a mean far from zero
      std::vector<float> w = randn(c, (size_t)n * k, 0.05f), bias = randn(c, n), y0 = randn(c, (size_t)m * ldy);
      for (auto& v : w) v = round_to(v, wt);
      std::vector<uint16_t> w16 = wt == DType::kF32 ? std::vector<uint16_t>() : encode16(w, wt);
      std::vector<float> xn((size_t)m * k), ref = y0;
      cpu::ref::layernorm(x.data(), m, k, ldx, g.data(), b.data(), 1e-5f, xn.data(), k);
      cpu::ref::gemm(xn.data(), m, k, w.data(), n, k, bias.data(), ref.data(), ldy, static_cast<cpu::Epilogue>(epilogue));
      DevBuf dx(c.be, x.size() * 4), dg(c.be, (k + 1) * 4), dbt(c.be, (k + 1) * 4),
          dw(c.be, (size_t)n * k * dtype_size(wt)), dbias(c.be, n * 4), dy(c.be, y0.size() * 4);
      if (!dx.ok() || !dw.ok() || !dy.ok()) return report(false, what, "alloc");
      float* gamma = dg.as<float>() + gb_off;
      float* beta = dbt.as<float>() + gb_off;
      if (!upload(c, dx.as<void>(), x.data(), x.size() * 4, what) || !upload(c, gamma, g.data(), k * 4, what) ||
          !upload(c, beta, b.data(), k * 4, what) ||
          !upload(c, dw.as<void>(), host_bytes(wt, w, w16), (size_t)n * k * dtype_size(wt), what) ||
          !upload(c, dbias.as<void>(), bias.data(), n * 4, what) || !upload(c, dy.as<void>(), y0.data(), y0.size() * 4, what))
        return;
      if (!gn_cuda_layernorm_gemv_supported(m, n, k, (int)wt, dw.as<void>())) {
        report(false, what, "expected to be supported");
        continue;
      }
      // The GEMV with the layer norm folded in, then the streaming GEMV (m <= 8) doing the same.
      const bool stream_serves = wt != DType::kF32 && m <= 8 && (long long)m * k * 4 <= 98304;
      if (stream_serves != (gn_cuda_gemv_stream_supported(m, n, k, (int)wt, dw.as<void>()) != 0))
        report(false, what + " [gemv-stream]", "unexpected gn_cuda_gemv_stream_supported");
      for (int path = 0; path < (stream_serves ? 2 : 1); ++path) {
        const std::string what_path = path == 0 ? what : what + " [gemv-stream]";
        if (!upload(c, dy.as<void>(), y0.data(), y0.size() * 4, what_path)) return;
        int st = path == 0 ? gn_cuda_layernorm_gemv(dx.as<float>(), m, ldx, gamma, beta, 1e-5f,
                                                    dw.as<void>(), (int)wt, n, k, dbias.as<float>(), dy.as<float>(), ldy,
                                                    epilogue, nullptr)
                           : gn_cuda_gemv_stream(dx.as<float>(), m, ldx, gamma, beta, 1e-5f,
                                                 dw.as<void>(), (int)wt, n, k, dbias.as<float>(), dy.as<float>(), ldy,
                                                 epilogue, nullptr);
        if (st == 0) st = gn_cuda_stream_synchronize(nullptr);
        if (st != 0) {
          report(false, what_path, gn_cuda_status_string(st));
          continue;
        }
        std::vector<float> out(y0.size());
        if (!download(c, out.data(), dy.as<void>(), out.size() * 4, what_path)) return;
        std::vector<float> o2, r2;
        bool pad_ok = true;
        for (int i = 0; i < m; ++i) {
          for (int j = 0; j < n; ++j) {
            o2.push_back(out[(size_t)i * ldy + j]);
            r2.push_back(ref[(size_t)i * ldy + j]);
          }
          for (int j = n; j < ldy; ++j)
            pad_ok = pad_ok && std::memcmp(&out[(size_t)i * ldy + j], &y0[(size_t)i * ldy + j], 4) == 0;
        }
        const double err = rel_error(o2, r2);
        report(err <= 2e-5 && pad_ok, what_path, fmt("rel_err=%.3g%s", err, pad_ok ? "" : " wrote past n"));
      }
    }
  }
  // Outside what it serves: refused with GN_CUDA_EUNSUPPORTED, nothing launched.
  DevBuf dw(c.be, 9000 * 8 * 4), dx(c.be, 16 * 9000 * 4), dy(c.be, 16 * 9000 * 4), dg(c.be, 9000 * 4);
  const struct { int m, k; const char* why; } refused[] = {{9, 64, "m > 8"}, {8, 1032, "k past the x chunk of 8 rows"},
                                                          {1, 8200, "k past the x chunk of 1 row"}, {2, 100, "k % 8 != 0"}};
  for (const auto& r : refused) {
    const int st = gn_cuda_layernorm_gemv(dx.as<float>(), r.m, r.k, dg.as<float>(), dg.as<float>(), 1e-5f, dw.as<void>(),
                                          GN_DTYPE_F32, 8, r.k, nullptr, dy.as<float>(), 8, 0, nullptr);
    report(st == GN_CUDA_EUNSUPPORTED && !gn_cuda_layernorm_gemv_supported(r.m, 8, r.k, GN_DTYPE_F32, dw.as<void>()),
           std::string("layernorm_gemv refuses ") + r.why, fmt("status %d", st));
  }
  const struct { int m, k; const char* why; } stream_refused[] = {
      {9, 64, "m > 8"}, {3, 8200, "x rows past 96 KiB of shared memory"}, {1, 100, "k % 8 != 0"}, {1, 64, "fp32 weights"}};
  for (const auto& r : stream_refused) {
    const int wdt = r.k == 64 && r.m == 1 ? GN_DTYPE_F32 : GN_DTYPE_BF16;
    const int st = gn_cuda_gemv_stream(dx.as<float>(), r.m, r.k, dg.as<float>(), dg.as<float>(), 1e-5f, dw.as<void>(), wdt, 8,
                                       r.k, nullptr, dy.as<float>(), 8, 0, nullptr);
    report(st == GN_CUDA_EUNSUPPORTED && !gn_cuda_gemv_stream_supported(r.m, 8, r.k, wdt, dw.as<void>()),
           std::string("gemv_stream refuses ") + r.why, fmt("status %d", st));
  }
  report(gn_cuda_gemv_stream_supported(1, 8, 64, GN_DTYPE_BF16, dw.as<void>()) != 0, "gemv_stream serves bf16 m=1 k=64");
  const int st = gn_cuda_gemv_stream(dx.as<float>(), 1, 64, dg.as<float>(), nullptr, 1e-5f, dw.as<void>(), GN_DTYPE_F32, 8,
                                     64, nullptr, dy.as<float>(), 8, 0, nullptr);
  report(st == GN_CUDA_EINVAL, "gemv_stream refuses gamma without beta", fmt("status %d", st));
}

// The per-stream marks (programmatic launch, the streaming GEMV's L2 weight prefetch) are independent:
// one can be set and cleared without the other, a destroyed stream keeps none (its handle may come back
// from the next create), and both read as on only where the GPU has them (compute capability 9.0+).
void test_stream_marks() {
  CudaDeviceInfo info;
  const bool sm90 = cuda_device_info(0, &info).ok() && info.major >= 9;
  void* s = nullptr;
  if (gn_cuda_stream_create(&s) != 0) return report(false, "stream marks", "stream_create");
  bool ok = gn_cuda_stream_programmatic_launch(s) == 0 && gn_cuda_stream_l2_prefetch(s) == 0;
  ok = ok && gn_cuda_stream_set_programmatic_launch(s, 1) == 0 && gn_cuda_stream_set_l2_prefetch(s, 1) == 0;
  ok = ok && gn_cuda_stream_programmatic_launch(s) == (sm90 ? 1 : 0) && gn_cuda_stream_l2_prefetch(s) == (sm90 ? 1 : 0);
  ok = ok && gn_cuda_stream_set_programmatic_launch(s, 0) == 0;
  ok = ok && gn_cuda_stream_programmatic_launch(s) == 0 && gn_cuda_stream_l2_prefetch(s) == (sm90 ? 1 : 0);
  ok = ok && gn_cuda_stream_set_programmatic_launch(s, 1) == 0 && gn_cuda_stream_set_l2_prefetch(s, 0) == 0;
  ok = ok && gn_cuda_stream_programmatic_launch(s) == (sm90 ? 1 : 0) && gn_cuda_stream_l2_prefetch(s) == 0;
  ok = ok && gn_cuda_stream_set_l2_prefetch(s, 1) == 0 && gn_cuda_stream_destroy(s) == 0;
  void* again = nullptr;
  ok = ok && gn_cuda_stream_create(&again) == 0 && gn_cuda_stream_programmatic_launch(again) == 0 &&
       gn_cuda_stream_l2_prefetch(again) == 0;
  ok = ok && gn_cuda_stream_set_l2_prefetch(nullptr, 1) == GN_CUDA_EINVAL;
  if (again) gn_cuda_stream_destroy(again);
  report(ok, "stream marks: programmatic launch and L2 prefetch set and cleared independently; none after destroy", "");
}

// Dependent launches on one stream, as a decoder's MLP runs them: each kernel reads what the one
// before it wrote. On a stream marked for programmatic launch (sm_90+) a kernel starts before its
// predecessor ends, and only its griddepcontrol.wait keeps it from reading x (or the residual it
// accumulates into) too early: the intermediate buffers are poisoned with NaN first, so an early read
// shows. Per layer: a = layernorm(h) (the layer norm kernel), f = gelu(a·W1ᵀ + b1) and h += f·W2ᵀ + b2
// on the streaming GEMV; odd layers fold the layer norm into the first GEMV. Run as queued launches
// and as a captured graph, with the stream marked and not, against the same chain on the CPU (fp32
// throughout: tolerance 1e-4 over 12 dependent ops, where a stale read gives NaN or an O(1) error).
void test_gemv_stream_chain(Ctx& c) {
  test_stream_marks();
  const int m = 2, d = 1024, f = 2048, layers = 4;
  std::vector<float> h0 = randn(c, (size_t)m * d), g = randn(c, d), beta = randn(c, d);
  std::vector<std::vector<float>> w1(layers), w2(layers), b1(layers), b2(layers);
  for (int l = 0; l < layers; ++l) {
    w1[l] = randn(c, (size_t)f * d, 0.03f);
    w2[l] = randn(c, (size_t)d * f, 0.02f);
    for (auto& v : w1[l]) v = round_to(v, DType::kBF16);
    for (auto& v : w2[l]) v = round_to(v, DType::kBF16);
    b1[l] = randn(c, f, 0.1f);
    b2[l] = randn(c, d, 0.1f);
  }
  // CPU chain.
  std::vector<float> ref = h0, a((size_t)m * d), fr((size_t)m * f);
  for (int l = 0; l < layers; ++l) {
    cpu::ref::layernorm(ref.data(), m, d, d, g.data(), beta.data(), 1e-5f, a.data(), d);
    cpu::ref::gemm(a.data(), m, d, w1[l].data(), f, d, b1[l].data(), fr.data(), f, cpu::Epilogue::kGeluNew);
    cpu::ref::gemm(fr.data(), m, f, w2[l].data(), d, f, b2[l].data(), ref.data(), d, cpu::Epilogue::kAccumulate);
  }
  // Device buffers: weights in bf16 (layer l at offset l * f * d), activations fp32.
  DevBuf dw1(c.be, (size_t)layers * f * d * 2), dw2(c.be, (size_t)layers * d * f * 2), db1(c.be, (size_t)layers * f * 4),
      db2(c.be, (size_t)layers * d * 4);
  const auto w1_of = [&](int l) { return dw1.as<uint16_t>() + (size_t)l * f * d; };
  const auto w2_of = [&](int l) { return dw2.as<uint16_t>() + (size_t)l * d * f; };
  const auto b1_of = [&](int l) { return db1.as<float>() + (size_t)l * f; };
  const auto b2_of = [&](int l) { return db2.as<float>() + (size_t)l * d; };
  for (int l = 0; l < layers; ++l) {
    const std::vector<uint16_t> e1 = encode16(w1[l], DType::kBF16), e2 = encode16(w2[l], DType::kBF16);
    if (!upload(c, w1_of(l), e1.data(), e1.size() * 2, "gemv_stream chain w1") ||
        !upload(c, w2_of(l), e2.data(), e2.size() * 2, "gemv_stream chain w2") ||
        !upload(c, b1_of(l), b1[l].data(), f * 4, "gemv_stream chain b1") ||
        !upload(c, b2_of(l), b2[l].data(), d * 4, "gemv_stream chain b2"))
      return;
  }
  DevBuf dh(c.be, (size_t)m * d * 4), da(c.be, (size_t)m * d * 4), df(c.be, (size_t)m * f * 4), dg(c.be, d * 4),
      dbeta(c.be, d * 4);
  if (!upload(c, dg.as<void>(), g.data(), d * 4, "gemv_stream chain gamma") ||
      !upload(c, dbeta.as<void>(), beta.data(), d * 4, "gemv_stream chain beta"))
    return;
  void* stream = nullptr;
  if (gn_cuda_stream_create(&stream) != 0) return report(false, "gemv_stream chain", "stream_create");
  auto chain = [&]() -> int {
    int st = 0;
    for (int l = 0; l < layers && st == 0; ++l) {
      if (l % 2 == 0) {
        st = gn_cuda_layernorm(dh.as<float>(), m, d, d, dg.as<float>(), dbeta.as<float>(), 1e-5f, da.as<float>(), d,
                               stream);
        if (st == 0)
          st = gn_cuda_gemv_stream(da.as<float>(), m, d, nullptr, nullptr, 0.f, w1_of(l), GN_DTYPE_BF16, f, d,
                                   b1_of(l), df.as<float>(), f, GN_EPILOGUE_GELU_NEW, stream);
      } else {
        st = gn_cuda_gemv_stream(dh.as<float>(), m, d, dg.as<float>(), dbeta.as<float>(), 1e-5f, w1_of(l),
                                 GN_DTYPE_BF16, f, d, b1_of(l), df.as<float>(), f, GN_EPILOGUE_GELU_NEW, stream);
      }
      if (st == 0)
        st = gn_cuda_gemv_stream(df.as<float>(), m, f, nullptr, nullptr, 0.f, w2_of(l), GN_DTYPE_BF16, d, f,
                                 b2_of(l), dh.as<float>(), d, GN_EPILOGUE_ACCUMULATE, stream);
    }
    return st;
  };
  auto reset = [&](const std::string& what) {
    return upload(c, dh.as<void>(), h0.data(), h0.size() * 4, what) && poison(da.as<float>(), (size_t)m * d, what) &&
           poison(df.as<float>(), (size_t)m * f, what);
  };
  // Every run must match the CPU chain, and all of them (queued or replayed, programmatic launch on or
  // off, the L2 weight prefetch on or off) must be bit-identical to the first: the same kernels run in
  // the same order either way.
  std::vector<float> first;
  auto check = [&](const std::string& what) {
    std::vector<float> out((size_t)m * d);
    if (!download(c, out.data(), dh.as<void>(), out.size() * 4, what)) return;
    const double err = rel_error(out, ref);
    if (first.empty()) first = out;
    const bool same = std::memcmp(first.data(), out.data(), out.size() * 4) == 0;
    report(err <= 1e-4 && same, what, fmt("rel_err=%.3g%s", err, same ? "" : ", differs from the first run"));
  };
  for (int variant = 0; variant < 4; ++variant) {
    const int programmatic = variant & 1, l2_prefetch = variant >> 1;
    const std::string mode_s = std::string(programmatic ? "programmatic launch" : "ordinary launch") +
                               (l2_prefetch ? " + L2 weight prefetch" : "");
    const char* mode = mode_s.c_str();
    int st = gn_cuda_stream_set_programmatic_launch(stream, programmatic);
    if (st == 0) st = gn_cuda_stream_set_l2_prefetch(stream, l2_prefetch);
    if (st != 0) {
      report(false, fmt("gemv_stream chain: mark the stream (%s)", mode), gn_cuda_status_string(st));
      continue;
    }
    for (int round = 0; round < 3; ++round) {
      const std::string what = fmt("gemv_stream chain of %d layers, %s, queued, round %d", layers, mode, round);
      if (!reset(what)) break;
      st = chain();
      if (st == 0) st = gn_cuda_stream_synchronize(stream);
      if (st != 0) {
        report(false, what, gn_cuda_status_string(st));
        break;
      }
      check(what);
    }
    void* graph = nullptr;
    st = gn_cuda_capture_begin(stream);
    if (st == 0) {
      const int chain_st = chain();
      st = gn_cuda_capture_end(stream, &graph);
      if (st == 0) st = chain_st;
    }
    if (st != 0) {
      report(false, fmt("gemv_stream chain captured as a graph (%s)", mode), gn_cuda_status_string(st));
    } else {
      for (int round = 0; round < 3; ++round) {
        const std::string what = fmt("gemv_stream chain of %d layers, %s, graph replay %d", layers, mode, round);
        if (!reset(what)) break;
        st = gn_cuda_graph_launch(graph, stream);
        if (st == 0) st = gn_cuda_stream_synchronize(stream);
        if (st != 0) {
          report(false, what, gn_cuda_status_string(st));
          break;
        }
        check(what);
      }
    }
    if (graph) gn_cuda_graph_destroy(graph);
  }
  gn_cuda_stream_destroy(stream);
}

// ---------------------------------------------------------------------------------------------
// The persistent decode layer (gn_cuda_decode_layer) against the chain of calls it replaces
// ---------------------------------------------------------------------------------------------
struct LayerCase {
  int hidden, heads, inner, context, window;
  DType wt, cache;
};

// A decode layer's state after a run: the residual row and the caches' bytes.
struct LayerState {
  std::vector<float> h;
  std::vector<uint8_t> k, v;
};

using gptneo::testing::DecodeKeys16Restore;
using gptneo::testing::DecodeSplitWavesRestore;
using gptneo::testing::RowStageRestore;

// Two layers with their own state (residual row, caches, scratch, barrier workspace; the weights and the
// batch shared), as two models would have, each launched `launches` times on its own stream marked for
// programmatic launch, the launches interleaved: both grids fill the GPU, and each may start partly while
// the other still holds SMs. Both must end as the chain run `launches` times did (want_*), and not hang.
void decode_layers_on_two_streams(Ctx& c, const gn_cuda_decode_layer_args& a, const std::string& name, int launches,
                                  const LayerState& start, const LayerState& want) {
  const int H = a.hidden;
  const std::vector<float>& h0 = start.h;
  const std::vector<uint8_t>&k0 = start.k, &v0 = start.v;
  const std::string what = name + fmt(", two layers on two programmatic streams, %d launches each", launches);
  struct Layer {
    DevBuf h, k, v, qkv, attn, mid, ws;
    gn_cuda_decode_layer_args args;
    void* stream = nullptr;
  };
  std::vector<std::unique_ptr<Layer>> layers;
  bool ok = true;
  for (int i = 0; i < 2 && ok; ++i) {
    auto l = std::unique_ptr<Layer>(new Layer{DevBuf(c.be, H * 4), DevBuf(c.be, k0.size()), DevBuf(c.be, v0.size()),
                                              DevBuf(c.be, (size_t)3 * H * 4), DevBuf(c.be, H * 4),
                                              DevBuf(c.be, (size_t)a.inner * 4), DevBuf(c.be, a.workspace_bytes), a,
                                              nullptr});
    ok = l->h.ok() && l->k.ok() && l->v.ok() && l->qkv.ok() && l->attn.ok() && l->mid.ok() && l->ws.ok() &&
         check_status(c.be.fill_zero(l->ws.as<void>(), a.workspace_bytes), what) &&
         upload(c, l->h.as<void>(), h0.data(), H * 4, what) && upload(c, l->k.as<void>(), k0.data(), k0.size(), what) &&
         upload(c, l->v.as<void>(), v0.data(), v0.size(), what) && gn_cuda_stream_create(&l->stream) == 0 &&
         gn_cuda_stream_set_programmatic_launch(l->stream, 1) == 0;
    l->args.d_h = l->h.as<float>();
    l->args.d_k_cache = l->k.as<void>();
    l->args.d_v_cache = l->v.as<void>();
    l->args.d_qkv = l->qkv.as<float>();
    l->args.d_attn = l->attn.as<float>();
    l->args.d_mid = l->mid.as<float>();
    l->args.d_workspace = l->ws.as<void>();
    layers.push_back(std::move(l));
  }
  int st = ok ? 0 : -1;
  for (int j = 0; j < launches && st == 0; ++j)
    for (auto& l : layers)
      if (st == 0) st = gn_cuda_decode_layer(&l->args, l->stream);
  for (auto& l : layers) {
    if (l->stream == nullptr) continue;
    const int sync = gn_cuda_stream_synchronize(l->stream);
    if (st == 0) st = sync;
  }
  if (st != 0) {
    report(false, what, st == -1 ? "set-up failed" : gn_cuda_status_string(st));
  } else {
    for (size_t i = 0; i < layers.size(); ++i) {
      std::vector<float> h(H);
      std::vector<uint8_t> k(k0.size()), v(v0.size());
      if (!download(c, h.data(), layers[i]->h.as<void>(), H * 4, what) ||
          !download(c, k.data(), layers[i]->k.as<void>(), k.size(), what) ||
          !download(c, v.data(), layers[i]->v.as<void>(), v.size(), what))
        continue;
      int h_diff = 0;
      for (int e = 0; e < H; ++e) h_diff += std::memcmp(&h[e], &want.h[e], 4) != 0;
      report(h_diff == 0 && k == want.k && v == want.v, what + fmt(", layer %zu", i),
             fmt("%d of %d h values differ%s%s", h_diff, H, k == want.k ? "" : ", K cache differs",
                 v == want.v ? "" : ", V cache differs"));
    }
  }
  for (auto& l : layers)
    if (l->stream) gn_cuda_stream_destroy(l->stream);
}

// One layer's decode step, run as the chain (the streaming GEMV with and without its layer norm, the
// appending attention) and as gn_cuda_decode_layer from the same state: the residual row and the whole
// cache must be equal bit for bit, on repeated launches (the grid barrier and the split counters are
// reused), with the stream marked for programmatic launch or not, and replayed from a CUDA graph.
void test_decode_layer_case(Ctx& c, const LayerCase& lc, bool two_streams = false) {
  const int H = lc.hidden, I = lc.inner, hd = H / lc.heads, bs = 16, pos = lc.context - 1;
  const std::string name = fmt("decode_layer hidden %d heads %d inner %d ctx %d window %d %s weights, %s cache", H,
                               lc.heads, I, lc.context, lc.window, dtype_name(lc.wt), dtype_name(lc.cache));
  const int blocks = (lc.context + bs - 1) / bs, num_blocks = blocks + 2;
  std::vector<int32_t> table(blocks);
  std::vector<int32_t> perm(num_blocks);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), c.rng);
  std::copy(perm.begin(), perm.begin() + blocks, table.begin());
  const size_t cache_elems = (size_t)num_blocks * bs * H, esz = lc.cache == DType::kF32 ? 4 : 2;
  auto cache_bytes_of = [&](const std::vector<float>& v) {
    std::vector<uint8_t> out(v.size() * esz);
    if (lc.cache == DType::kF32) std::memcpy(out.data(), v.data(), out.size());
    else {
      const std::vector<uint16_t> e = encode16(v, lc.cache);
      std::memcpy(out.data(), e.data(), out.size());
    }
    return out;
  };
  const std::vector<uint8_t> k0 = cache_bytes_of(randn(c, cache_elems)), v0 = cache_bytes_of(randn(c, cache_elems));
  const std::vector<float> h0 = randn(c, H), g1 = randn(c, H, 0.2f), be1 = randn(c, H, 0.2f), g2 = randn(c, H, 0.2f),
                           be2 = randn(c, H, 0.2f), b_out = randn(c, H, 0.1f), b_fc = randn(c, I, 0.1f),
                           b_proj = randn(c, H, 0.1f);
  std::vector<float> w_qkv = randn(c, (size_t)3 * H * H, 0.05f), w_out = randn(c, (size_t)H * H, 0.03f),
                     w_fc = randn(c, (size_t)I * H, 0.03f), w_proj = randn(c, (size_t)H * I, 0.02f);
  const size_t wbytes = ((size_t)3 * H * H + (size_t)H * H + 2 * (size_t)I * H) * 2;
  DevBuf dw(c.be, wbytes), dk(c.be, cache_elems * esz), dv(c.be, cache_elems * esz), dh(c.be, H * 4),
      dvec(c.be, (size_t)(7 * H + I) * 4), dqkv(c.be, (size_t)3 * H * 4), dattn(c.be, H * 4), dmid(c.be, I * 4),
      dmeta(c.be, (size_t)(4 + blocks) * 4);
  uint16_t* wq = dw.as<uint16_t>();
  uint16_t* wo = wq + (size_t)3 * H * H;
  uint16_t* wf = wo + (size_t)H * H;
  uint16_t* wp = wf + (size_t)I * H;
  float* vecs = dvec.as<float>();  // g1 be1 g2 be2 b_out b_proj (H each), b_fc (I)
  bool ok = upload(c, wq, encode16(w_qkv, lc.wt).data(), w_qkv.size() * 2, name) &&
            upload(c, wo, encode16(w_out, lc.wt).data(), w_out.size() * 2, name) &&
            upload(c, wf, encode16(w_fc, lc.wt).data(), w_fc.size() * 2, name) &&
            upload(c, wp, encode16(w_proj, lc.wt).data(), w_proj.size() * 2, name);
  const std::vector<float>* vs[] = {&g1, &be1, &g2, &be2, &b_out, &b_proj, &b_fc};
  for (int i = 0; i < 7 && ok; ++i) ok = upload(c, vecs + (size_t)i * H, vs[i]->data(), vs[i]->size() * 4, name);
  std::vector<int32_t> meta = {pos, 0, 1, 0};  // positions [1], seq_starts [2], (pad), block table
  meta.insert(meta.end(), table.begin(), table.end());
  ok = ok && upload(c, dmeta.as<void>(), meta.data(), meta.size() * 4, name);
  if (!ok) return;
  gn_cuda_batch b{};
  b.tokens = 1;
  b.num_seqs = 1;
  b.d_positions = dmeta.as<int32_t>();
  b.d_seq_starts = dmeta.as<int32_t>() + 1;
  b.d_block_tables = dmeta.as<int32_t>() + 4;
  b.max_blocks = blocks;
  b.block_size = bs;
  b.max_context = lc.context;
  const size_t ws_bytes = gn_cuda_decode_layer_workspace_bytes(&b, lc.heads, hd);
  DevBuf dws(c.be, ws_bytes);
  if (!check_status(c.be.fill_zero(dws.as<void>(), ws_bytes), name + " workspace")) return;
  const int wdt = (int)lc.wt, cdt = (int)lc.cache;
  gn_cuda_decode_layer_args a{};
  a.d_h = dh.as<float>();
  a.hidden = H;
  a.inner = I;
  a.d_ln1_gamma = vecs;
  a.d_ln1_beta = vecs + H;
  a.d_ln2_gamma = vecs + 2 * H;
  a.d_ln2_beta = vecs + 3 * H;
  a.eps = 1e-5f;
  a.w_dtype = wdt;
  a.d_w_qkv = wq;
  a.d_w_out = wo;
  a.d_b_out = vecs + 4 * H;
  a.d_w_fc = wf;
  a.d_b_fc = vecs + 6 * H;
  a.d_w_proj = wp;
  a.d_b_proj = vecs + 5 * H;
  a.d_k_cache = dk.as<void>();
  a.d_v_cache = dv.as<void>();
  a.cache_dtype = cdt;
  a.batch = b;
  a.heads = lc.heads;
  a.head_dim = hd;
  a.window = lc.window;
  a.scale = 1.f;
  a.d_qkv = dqkv.as<float>();
  a.d_attn = dattn.as<float>();
  a.d_mid = dmid.as<float>();
  a.d_workspace = dws.as<void>();
  a.workspace_bytes = ws_bytes;
  void* stream = nullptr;
  if (gn_cuda_stream_create(&stream) != 0) return report(false, name, "stream_create");
  char* att_ws = dws.as<char>() + GN_CUDA_DECODE_LAYER_BARRIER_BYTES;
  const size_t att_ws_bytes = ws_bytes - GN_CUDA_DECODE_LAYER_BARRIER_BYTES;
  auto chain = [&]() -> int {
    int st = gn_cuda_gemv_stream(a.d_h, 1, H, a.d_ln1_gamma, a.d_ln1_beta, a.eps, wq, wdt, 3 * H, H, nullptr,
                                 a.d_qkv, 3 * H, GN_EPILOGUE_STORE, stream);
    if (st == 0)
      st = gn_cuda_attention_append(a.d_qkv, 3 * H, a.d_qkv + H, a.d_qkv + 2 * H, 3 * H, a.d_k_cache, a.d_v_cache, cdt,
                                    &b, lc.heads, hd, lc.window, 1.f, a.d_attn, H, att_ws, att_ws_bytes, stream);
    if (st == 0)
      st = gn_cuda_gemv_stream(a.d_attn, 1, H, nullptr, nullptr, 0.f, wo, wdt, H, H, a.d_b_out, a.d_h, H,
                               GN_EPILOGUE_ACCUMULATE, stream);
    if (st == 0)
      st = gn_cuda_gemv_stream(a.d_h, 1, H, a.d_ln2_gamma, a.d_ln2_beta, a.eps, wf, wdt, I, H, a.d_b_fc, a.d_mid, I,
                               GN_EPILOGUE_GELU_NEW, stream);
    if (st == 0)
      st = gn_cuda_gemv_stream(a.d_mid, 1, I, nullptr, nullptr, 0.f, wp, wdt, H, I, a.d_b_proj, a.d_h, H,
                               GN_EPILOGUE_ACCUMULATE, stream);
    return st;
  };
  auto reset = [&](const std::string& what) {
    return upload(c, dh.as<void>(), h0.data(), H * 4, what) && upload(c, dk.as<void>(), k0.data(), k0.size(), what) &&
           upload(c, dv.as<void>(), v0.data(), v0.size(), what) && poison(a.d_qkv, 3 * H, what) &&
           poison(a.d_attn, H, what) && poison(a.d_mid, I, what);
  };
  auto state = [&](const std::string& what, LayerState* out) {
    out->h.resize(H);
    out->k.resize(k0.size());
    out->v.resize(v0.size());
    return download(c, out->h.data(), dh.as<void>(), H * 4, what) &&
           download(c, out->k.data(), dk.as<void>(), k0.size(), what) &&
           download(c, out->v.data(), dv.as<void>(), v0.size(), what);
  };
  auto finish = [&](int st, const std::string& what) {
    if (st == 0) st = gn_cuda_stream_synchronize(stream);
    if (st != 0) report(false, what, gn_cuda_status_string(st));
    return st == 0;
  };
  LayerState want;
  if (!reset(name + " chain") || !finish(chain(), name + " chain") || !state(name + " chain", &want)) {
    gn_cuda_stream_destroy(stream);
    return;
  }
  // The chain must have changed the row and written the new key (a test that compares two no-ops fails).
  report(std::memcmp(want.h.data(), h0.data(), H * 4) != 0 && want.k != k0 && want.v != v0,
         name + ": the chain updates h and writes the cache");
  // The same layer kBackToBack times over, queued with no synchronisation between (each run reads the h
  // the previous one left and rewrites the same cache slot): consecutive launches share the barrier state
  // and, on a programmatic stream, may overlap at their edges.
  constexpr int kBackToBack = 4;
  LayerState want_repeated;
  {
    const std::string what = name + fmt(" chain x%d", kBackToBack);
    int st = reset(what) ? 0 : -1;
    for (int i = 0; i < kBackToBack && st == 0; ++i) st = chain();
    if (st == -1 || !finish(st, what) || !state(what, &want_repeated)) {
      gn_cuda_stream_destroy(stream);
      return;
    }
  }
  const int supported = gn_cuda_decode_layer_supported(&a);
  report(supported == 0, name + ": supported", gn_cuda_status_string(supported));
  if (two_streams) {
    decode_layers_on_two_streams(c, a, name, kBackToBack, LayerState{h0, k0, v0}, want_repeated);
    gn_cuda_stream_destroy(stream);
    return;
  }
  auto compare_with = [&](const LayerState& ref, const std::string& what) {
    LayerState got;
    if (!state(what, &got)) return;
    int h_diff = 0;
    for (int i = 0; i < H; ++i) h_diff += std::memcmp(&got.h[i], &ref.h[i], 4) != 0;
    report(h_diff == 0 && got.k == ref.k && got.v == ref.v, what,
           fmt("%d of %d h values differ%s%s", h_diff, H, got.k == ref.k ? "" : ", K cache differs",
               got.v == ref.v ? "" : ", V cache differs"));
  };
  auto compare = [&](const std::string& what) { compare_with(want, what); };
  for (int programmatic = 0; programmatic < 2; ++programmatic) {
    const char* mode = programmatic ? "programmatic launch" : "ordinary launch";
    if (gn_cuda_stream_set_programmatic_launch(stream, programmatic) != 0) {
      report(false, name + ": mark the stream", mode);
      continue;
    }
    for (int round = 0; round < 3; ++round) {
      const std::string what = name + fmt(", %s, launch %d", mode, round);
      if (!reset(what) || !finish(gn_cuda_decode_layer(&a, stream), what)) break;
      compare(what);
    }
    {
      const std::string what = name + fmt(", %s, %d launches back to back", mode, kBackToBack);
      if (reset(what)) {
        int st = 0;
        for (int i = 0; i < kBackToBack && st == 0; ++i) st = gn_cuda_decode_layer(&a, stream);
        if (finish(st, what)) compare_with(want_repeated, what);
      }
    }
    // Captured once as one launch, and once as kBackToBack launches in one graph.
    for (const int launches : {1, kBackToBack}) {
      const std::string captured = name + fmt(", %s, %d launch%s captured as a graph", mode, launches, launches > 1 ? "es" : "");
      void* graph = nullptr;
      int st = gn_cuda_capture_begin(stream);
      if (st == 0) {
        int layer_st = 0;
        for (int i = 0; i < launches && layer_st == 0; ++i) layer_st = gn_cuda_decode_layer(&a, stream);
        st = gn_cuda_capture_end(stream, &graph);
        if (st == 0) st = layer_st;
      }
      if (st != 0) {
        report(false, captured, gn_cuda_status_string(st));
      } else {
        for (int round = 0; round < 2; ++round) {
          const std::string what = captured + fmt(", replay %d", round);
          if (!reset(what) || !finish(gn_cuda_graph_launch(graph, stream), what)) break;
          compare_with(launches == 1 ? want : want_repeated, what);
        }
      }
      if (graph) gn_cuda_graph_destroy(graph);
    }
  }
  (void)gn_cuda_stream_set_programmatic_launch(stream, 0);

  // Refusals: nothing queued, nothing written.
  if (reset(name + " refusals")) {
    struct Refusal {
      const char* what;
      int want;
      std::function<void(gn_cuda_decode_layer_args&)> edit;
    };
    const Refusal refusals[] = {
        {"two rows", GN_CUDA_EUNSUPPORTED, [](gn_cuda_decode_layer_args& x) { x.batch.tokens = x.batch.num_seqs = 2; }},
        {"float32 weights", GN_CUDA_EUNSUPPORTED, [](gn_cuda_decode_layer_args& x) { x.w_dtype = GN_DTYPE_F32; }},
        {"heads x head_dim != hidden", GN_CUDA_EINVAL, [](gn_cuda_decode_layer_args& x) { x.head_dim += 4; }},
        {"workspace too small", GN_CUDA_EINVAL,
         [](gn_cuda_decode_layer_args& x) { x.workspace_bytes = GN_CUDA_DECODE_LAYER_BARRIER_BYTES - 16; }},
        {"no residual row", GN_CUDA_EINVAL, [](gn_cuda_decode_layer_args& x) { x.d_h = nullptr; }},
        {"unknown cache dtype", GN_CUDA_EINVAL, [](gn_cuda_decode_layer_args& x) { x.cache_dtype = 7; }},
        {"misaligned weights", GN_CUDA_EUNSUPPORTED,
         [](gn_cuda_decode_layer_args& x) { x.d_w_out = static_cast<const uint16_t*>(x.d_w_out) + 1; }},
    };
    for (const auto& r : refusals) {
      gn_cuda_decode_layer_args x = a;
      r.edit(x);
      const int got = gn_cuda_decode_layer(&x, stream), got_s = gn_cuda_decode_layer_supported(&x);
      report(got == r.want && got_s == r.want, name + ": refuses " + r.what,
             fmt("%s / %s", gn_cuda_status_name(got), gn_cuda_status_name(got_s)));
    }
    if (a.cache_dtype != GN_DTYPE_F32) {  // the chain's plan with 8 keys in flight is not its own
      const DecodeKeys16Restore keys16_restore;
      gn_cuda_set_decode_keys16(8);
      const int got = gn_cuda_decode_layer(&a, stream), got_s = gn_cuda_decode_layer_supported(&a);
      report(got == GN_CUDA_EUNSUPPORTED && got_s == GN_CUDA_EUNSUPPORTED,
             name + ": refuses a 16-bit cache with 8 decode keys in flight (GPTNEO_CUDA_DECODE_KEYS16=8)",
             fmt("%s / %s", gn_cuda_status_name(got), gn_cuda_status_name(got_s)));
    }
    if (finish(0, name + " refusals")) {
      std::vector<float> h(H);
      if (download(c, h.data(), dh.as<void>(), H * 4, name))
        report(std::memcmp(h.data(), h0.data(), H * 4) == 0, name + ": refused calls leave h alone");
    }
  }
  gn_cuda_stream_destroy(stream);
}

void test_decode_layer(Ctx& c) {
  // Unverified on a GPU so far: gpu-check runs it in a stage of its own (a barrier bug ends in a trap).
  const char* gate = std::getenv("GN_TEST_DECODE_LAYER");
  if (gate != nullptr && std::strcmp(gate, "0") == 0 && !host_mock()) {
    std::printf("skip decode_layer: GN_TEST_DECODE_LAYER=0 (its own gpu-check stage runs it)\n");
    return;
  }
  std::vector<LayerCase> cases = {
      {256, 4, 1024, 1, 0, DType::kBF16, DType::kBF16},     // the first token: one key, its own
      {768, 12, 3072, 300, 0, DType::kBF16, DType::kBF16},  // 125M-shaped, splits
      {768, 12, 3072, 700, 256, DType::kF16, DType::kF32},  // a local layer's window
      {1024, 8, 4096, 129, 0, DType::kBF16, DType::kF16},   // head_dim 128
  };
  if (!c.quick && !host_mock()) {
    cases.push_back({2048, 16, 8192, 2048, 0, DType::kBF16, DType::kBF16});  // 1.3B-shaped, a long context
    cases.push_back({2560, 20, 10240, 900, 256, DType::kF16, DType::kF16});  // 2.7B-shaped (the MLP row: 40 KB)
  }
  for (const auto& lc : cases) test_decode_layer_case(c, lc);
}

// Two models' persistent layers at once on two streams (decode_layers_on_two_streams); asked for by name
// only: gpu-check runs it in a stage of its own after decode_layer passed (if the two grids deadlock, the
// barrier's trap ends the process).
void test_decode_layer_streams(Ctx& c) {
  const char* gate = std::getenv("GN_TEST_DECODE_LAYER");
  if (gate != nullptr && std::strcmp(gate, "0") == 0 && !host_mock()) {
    std::printf("skip decode_layer_streams: GN_TEST_DECODE_LAYER=0 (its own gpu-check stage runs it)\n");
    return;
  }
  test_decode_layer_case(c, {768, 12, 3072, 300, 0, DType::kBF16, DType::kBF16}, true);
  if (!host_mock()) test_decode_layer_case(c, {2048, 16, 8192, 2048, 0, DType::kBF16, DType::kBF16}, true);
}

void test_embed(Ctx& c) {
  const int vocab = 97, max_pos = 40, dim = 72, tokens = 23;
  for (DType wt : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (DType pt : {DType::kF32, DType::kBF16}) {
      std::vector<float> wte = randn(c, (size_t)vocab * dim), wpe = randn(c, (size_t)max_pos * dim);
      std::vector<uint16_t> wte16 = wt == DType::kF32 ? std::vector<uint16_t>() : encode16(wte, wt);
      std::vector<uint16_t> wpe16 = pt == DType::kF32 ? std::vector<uint16_t>() : encode16(wpe, pt);
      std::vector<int32_t> ids(tokens), pos(tokens);
      for (int t = 0; t < tokens; ++t) {
        ids[t] = (int)(c.rng() % vocab);
        pos[t] = (int)(c.rng() % max_pos);
      }
      ids[0] = vocab - 1;
      pos[1] = max_pos - 1;
      std::vector<float> ref((size_t)tokens * dim);
      cpu::ref::embed(ids.data(), pos.data(), tokens, host_bytes(wt, wte, wte16), wt, host_bytes(pt, wpe, wpe16), pt,
                      dim, ref.data());
      const std::string what = fmt("embed wte=%s wpe=%s", dtype_name(wt), dtype_name(pt));
      const void *d_wte = nullptr, *d_wpe = nullptr;
      DType kw, kp;
      if (!check_status(c.be.prepare_table(host_bytes(wt, wte, wte16), wt, vocab, dim, wt, &d_wte, &kw), what) ||
          !check_status(c.be.prepare_table(host_bytes(pt, wpe, wpe16), pt, max_pos, dim, pt, &d_wpe, &kp), what))
        continue;
      DevBuf dids(c.be, tokens * 4), dpos(c.be, tokens * 4), dout(c.be, ref.size() * 4);
      if (!upload(c, dids.as<void>(), ids.data(), tokens * 4, what) ||
          !upload(c, dpos.as<void>(), pos.data(), tokens * 4, what) || !poison(dout.as<float>(), ref.size(), what))
        continue;
      DeviceBatch b;
      b.tokens = tokens;
      b.d_token_ids = dids.as<int32_t>();
      b.d_positions = dpos.as<int32_t>();
      if (!check_status(c.be.embed(b, d_wte, kw, d_wpe, kp, dim, dout.as<float>()), what)) continue;
      std::vector<float> out(ref.size());
      if (!download(c, out.data(), dout.as<void>(), out.size() * 4, what)) continue;
      const double err = rel_error(out, ref);
      report(err < 1e-6, what, fmt("rel_err=%.3g", err));
    }
  }
  // A converted table (f32 checkpoint stored as bf16 on the GPU) decodes as the rounded values.
  std::vector<float> wte = randn(c, 8 * 16);
  const void* d_wte = nullptr;
  DType kept;
  if (check_status(c.be.prepare_table(wte.data(), DType::kF32, 8, 16, DType::kBF16, &d_wte, &kept), "embed convert")) {
    std::vector<uint16_t> back(8 * 16);
    if (download(c, back.data(), d_wte, back.size() * 2, "embed convert")) {
      bool same = kept == DType::kBF16;
      for (size_t i = 0; i < back.size(); ++i) same = same && back[i] == f32_to_bf16(wte[i]);
      report(same, "prepare_table f32 -> bf16 rounds to nearest even", "");
    }
  }
}

// The sampling prefilter (Backend::select_candidates) against the sort oracle, bit for bit: rows of
// the vocabulary's width with ties, NaN, ±Infinity, ±0, needs from 1 to past the width, need 0,
// a row whose count overflows its capacity (its slots must stay untouched), and extra ids gathered.
void test_select_candidates_of(Ctx& c, int cols, int stage) {
  const int rows = c.quick ? 7 : 40;
  std::vector<float> x = randn(c, (size_t)rows * cols, 3.f);
  std::uniform_int_distribution<int> col(0, cols - 1);
  for (int r = 0; r < rows; ++r) {
    float* row = x.data() + (size_t)r * cols;
    if (r % 3 == 1)  // a coarse grid: many exact ties
      for (int i = 0; i < cols; ++i) row[i] = std::round(row[i] * 4.f) * 0.25f;
    if (r % 4 == 2) {
      for (int i = 0; i < cols / 40; ++i) row[col(c.rng)] = NAN;
      row[col(c.rng)] = -INFINITY;
      row[col(c.rng)] = INFINITY;
      row[col(c.rng)] = -0.0f;
    }
    if (r == 5) std::fill(row, row + cols, 0.5f);  // every column ties
  }
  const int needs[] = {1, 50, 250, 0, 7, 1000, 2, 40000, 60000};
  std::vector<int32_t> need(rows), out_start(rows + 1, 0), extra_start(rows + 1, 0), extra_ids;
  for (int r = 0; r < rows; ++r) {
    need[r] = c.quick ? std::min(needs[r % 9], 900) : needs[r % 9];
    // Capacity: twice the need plus slack, except row 5 (all ties: count = cols) which overflows.
    const int capacity = r == 5 ? 64 : std::min(2 * std::max(need[r], 0) + 64, cols);
    out_start[r + 1] = out_start[r] + capacity;
    for (int e = 0; e < r % 5; ++e) extra_ids.push_back(col(c.rng));
    extra_start[r + 1] = (int32_t)extra_ids.size();
  }
  const int slots = out_start[rows], extras = std::max<int>(1, (int)extra_ids.size());
  DevBuf dx(c.be, x.size() * 4), dneed(c.be, rows * 4), dstart(c.be, (rows + 1) * 4), destart(c.be, (rows + 1) * 4),
      deids(c.be, extras * 4), dcounts(c.be, rows * 4), dids(c.be, (size_t)slots * 4), dvals(c.be, (size_t)slots * 4),
      devals(c.be, extras * 4);
  const std::vector<int32_t> sentinel(slots, -7);
  if (!upload(c, dx.as<void>(), x.data(), x.size() * 4, "candidates") ||
      !upload(c, dneed.as<void>(), need.data(), rows * 4, "candidates") ||
      !upload(c, dstart.as<void>(), out_start.data(), (rows + 1) * 4, "candidates") ||
      !upload(c, destart.as<void>(), extra_start.data(), (rows + 1) * 4, "candidates") ||
      (!extra_ids.empty() && !upload(c, deids.as<void>(), extra_ids.data(), extra_ids.size() * 4, "candidates")) ||
      !upload(c, dids.as<void>(), sentinel.data(), (size_t)slots * 4, "candidates") ||
      !poison(dvals.as<float>(), slots, "candidates") || !poison(devals.as<float>(), extras, "candidates"))
    return;
  CandidateArgs a;
  a.rows = rows;
  a.cols = cols;
  a.need = dneed.as<int32_t>();
  a.out_start = dstart.as<int32_t>();
  a.extra_start = destart.as<int32_t>();
  a.extra_ids = deids.as<int32_t>();
  a.counts = dcounts.as<int32_t>();
  a.ids = dids.as<int32_t>();
  a.vals = dvals.as<float>();
  a.extra_vals = devals.as<float>();
  std::vector<int32_t> counts(rows), ids(slots);
  std::vector<float> vals(slots), evals(extras);
  if (!check_status(c.be.select_candidates(dx.as<float>(), a), "select_candidates") ||
      !download(c, counts.data(), dcounts.as<void>(), rows * 4, "candidates") ||
      !download(c, ids.data(), dids.as<void>(), (size_t)slots * 4, "candidates") ||
      !download(c, vals.data(), dvals.as<void>(), (size_t)slots * 4, "candidates") ||
      !download(c, evals.data(), devals.as<void>(), (size_t)extras * 4, "candidates"))
    return;
  int same = 0, overflowed = 0;
  for (int r = 0; r < rows; ++r) {
    const float* row = x.data() + (size_t)r * cols;
    const int capacity = out_start[r + 1] - out_start[r];
    std::vector<int32_t> want_ids(capacity, -7);
    std::vector<float> want_vals(capacity);
    const int want = cpu::ref::select_candidates_row(row, cols, need[r], capacity, want_ids.data(), want_vals.data());
    bool ok = counts[r] == want;
    if (want > capacity) {
      ++overflowed;
      for (int i = 0; i < capacity; ++i) ok = ok && ids[out_start[r] + i] == -7;
    } else {
      for (int i = 0; i < want; ++i)
        ok = ok && ids[out_start[r] + i] == want_ids[i] && std::memcmp(&vals[out_start[r] + i], &want_vals[i], 4) == 0;
      for (int i = want; i < capacity; ++i) ok = ok && ids[out_start[r] + i] == -7;  // nothing past the count
    }
    for (int e = extra_start[r]; e < extra_start[r + 1]; ++e)
      ok = ok && std::memcmp(&evals[e], &row[extra_ids[e]], 4) == 0;
    if (!ok && same == r)
      report(false, fmt("select_candidates row %d (%d cols, row stage %d)", r, cols, stage),
             fmt("need %d: count %d, want %d", need[r], counts[r], want));
    same += ok;
  }
  report(same == rows && overflowed >= 1,
         fmt("select_candidates %d rows x %d cols, row stage %d (ties, NaN, inf, overflow, extras)", rows, cols, stage),
         fmt("%d of %d rows equal the oracle; %d over capacity", same, rows, overflowed));
}

// Column counts for the sampling kernels' tests, each run with row staging off and on
// (gn_cuda_set_row_stage; the process's setting restored after): 1000 floats fit the default 48 KB of
// shared memory, 13000 (52 KB) once the kernel's limit is raised, GPT-2's 50257 (201 KB) on Hopper only,
// 60000 (240 KB) on no GPU, so the staged kernel's launcher falls back to reading global memory.
template <typename Test>
void for_each_row_stage(Ctx& c, Test test) {
  const RowStageRestore restore;
  for (int cols : c.quick ? std::vector<int>{1000, 13000, 60000} : std::vector<int>{1000, 50257, 60000})
    for (int stage : {0, 1}) {
      gn_cuda_set_row_stage(stage);
      test(cols, stage);
    }
}

void test_select_candidates(Ctx& c) {
  for_each_row_stage(c, [&](int cols, int stage) { test_select_candidates_of(c, cols, stage); });
}

// The device draw (Backend::draw_rows): every token it reports is cpu::sample_row's on the whole row,
// for temperature rows with min-p, bias and penalties (lists sharing ids); rows with NaN, +Infinity
// or no finite logit are declined, a row without a query too; uniforms placed on boundaries between
// tokens come back uncertain or exact; the same launch twice gives the same answers. Sum queries (top-p
// rows, r % 8 == 6) answer kDrawSummed with S' within the bound of the host emulation's, and that S'
// with the row's candidates gives sample_row's token (cpu::sample_nucleus_candidates). Nucleus draws
// (top-p rows, r % 8 == 4, with min-p 0, 0.002, 0.2 or 0.02 after the nucleus; r % 16 == 4 with logits on a
// grid of quarters, so that the nucleus ends inside a group of tied weights) give sample_row's token or,
// rarely, uncertain.
void test_draw_rows_of(Ctx& c, int cols, int stage) {
  const int rows = c.quick ? 12 : 48;
  std::vector<float> x = randn(c, (size_t)rows * cols, 3.f);
  std::uniform_int_distribution<int> col(0, cols - 1);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  struct RowSpec {
    cpu::RowSampleSpec spec;
    std::vector<int32_t> bias_ids, seen_ids, count_ids, counts;
    std::vector<double> bias_values;
    int expect = 0;  // 0: a token, 1: declined, 2: a boundary uniform (uncertain or the token), 3: a sum query,
                     // 4: a nucleus draw (the token, or rarely uncertain)
  };
  std::vector<RowSpec> specs(rows);
  cpu::DrawQueries q;
  q.clear();
  std::vector<cpu::DrawChange> query_scratch;
  for (int r = 0; r < rows; ++r) {
    float* row = x.data() + (size_t)r * cols;
    RowSpec& s = specs[r];
    cpu::SamplingParams& p = s.spec.params;
    const double temps[] = {1, 0.7, 1.3, 0.2};
    p.temperature = temps[r % 4];
    p.min_p = r % 3 == 1 ? 0.05 : 0;
    p.repetition_penalty = r % 2 ? 1.2 : 1;
    p.presence_penalty = r % 5 == 1 ? 0.4 : 0;
    p.frequency_penalty = r % 5 == 1 ? 0.3 : 0;
    s.spec.u = unit(c.rng);
    const int top = (int)(std::max_element(row, row + cols) - row);
    for (int i = 0; i < (r % 4) * 8; ++i) s.seen_ids.push_back(i == 0 ? top : col(c.rng));
    std::sort(s.seen_ids.begin(), s.seen_ids.end());
    s.seen_ids.erase(std::unique(s.seen_ids.begin(), s.seen_ids.end()), s.seen_ids.end());
    s.count_ids = s.seen_ids;  // the lists share ids (one change with both flags)
    for (size_t i = 0; i < s.count_ids.size(); ++i) s.counts.push_back((int32_t)(i % 3));
    if (r % 3 == 2) {
      s.bias_ids = {col(c.rng)};
      s.bias_values = {5.0};
    }
    if (r == 3) row[col(c.rng)] = NAN, s.expect = 1;
    if (r == 7) row[col(c.rng)] = INFINITY, s.expect = 1;
    if (r == 11) std::fill(row, row + cols, -INFINITY), s.expect = 1;
    if (r == 9 || r == 10) s.expect = 2;
    if (r % 8 == 6) {  // top-p, peaked enough (temperature 0.25 over sd 3) for a nucleus of a few tokens
      p.top_p = 0.9;
      p.temperature = 0.25;
      s.expect = 3;
    }
    if (r % 8 == 4) {  // top-p for the nucleus draw: nuclei of tens to thousands of tokens; min-p after it
      const double top_ps[] = {0.9, 0.5, 0.95}, min_ps[] = {0, 0.002, 0.2, 0.02};  // (keeping it whole, or cutting)
      p.top_p = top_ps[(r / 8) % 3];
      p.min_p = min_ps[(r / 8) % 4];
      s.expect = 4;
      if (r % 16 == 4)
        for (int i = 0; i < cols; ++i) row[i] = std::round(row[i] * 4) / 4;
    }
    s.spec.bias_ids = s.bias_ids.data();
    s.spec.bias_values = s.bias_values.data();
    s.spec.bias_count = (int)s.bias_ids.size();
    s.spec.seen_ids = s.seen_ids.data();
    s.spec.seen_count = (int)s.seen_ids.size();
    s.spec.count_ids = s.count_ids.data();
    s.spec.counts = s.counts.data();
    s.spec.counts_count = (int)s.count_ids.size();
    if (s.expect == 2) {  // u·S on the boundary after a random token, in long double over sample_row's weights
      s.seen_ids.clear(), s.count_ids.clear(), s.counts.clear(), s.bias_ids.clear(), s.bias_values.clear();
      s.spec.seen_count = s.spec.counts_count = s.spec.bias_count = 0;
      p.min_p = 0;
      const double m = *std::max_element(row, row + cols);
      long double total = 0, at = 0;
      const int boundary = col(c.rng);
      for (int i = 0; i < cols; ++i) {
        total += cpu::exp_nonpositive(((double)row[i] - m) / p.temperature);
        if (i == boundary) at = total;
      }
      s.spec.u = (double)(at / total) + (r == 9 ? 0x1p-53 : -0x1p-53);
    }
    if (r == 5) {
      q.add_row_without_query();  // temperature 0 in the params
      s.expect = 1;
    } else if (s.expect == 3 ? !cpu::sum_query(s.spec, cols, &q, &query_scratch)
                             : !cpu::draw_query(s.spec, cols, &q, &query_scratch)) {
      report(false, fmt("draw row %d (%d cols, row stage %d)", r, cols, stage), "the query was refused");
    }
  }
  const std::vector<double>& params = q.params;
  const std::vector<int32_t>& change_start = q.change_start, &change_meta = q.change_meta;
  const std::vector<double>& change_vals = q.change_vals;
  const size_t changes = std::max<size_t>(1, change_meta.size() / 2);
  DevBuf dx(c.be, x.size() * 4), dparams(c.be, params.size() * 8), dstart(c.be, (rows + 1) * 4),
      dmeta(c.be, changes * 8), dvals(c.be, changes * 16), dtokens(c.be, rows * 4), dsums(c.be, rows * 8);
  const std::vector<int32_t> sentinel(rows, -77);
  if (!upload(c, dx.as<void>(), x.data(), x.size() * 4, "draw") ||
      !upload(c, dparams.as<void>(), params.data(), params.size() * 8, "draw") ||
      !upload(c, dstart.as<void>(), change_start.data(), (rows + 1) * 4, "draw") ||
      (!change_meta.empty() && !upload(c, dmeta.as<void>(), change_meta.data(), change_meta.size() * 4, "draw")) ||
      (!change_vals.empty() && !upload(c, dvals.as<void>(), change_vals.data(), change_vals.size() * 8, "draw")))
    return;
  DrawArgs a;
  a.rows = rows;
  a.cols = cols;
  a.params = dparams.as<double>();
  a.change_start = dstart.as<int32_t>();
  a.change_meta = dmeta.as<int32_t>();
  a.change_vals = dvals.as<double>();
  a.tokens = dtokens.as<int32_t>();
  a.sums = dsums.as<double>();
  std::vector<int32_t> first(rows), second(rows);
  std::vector<double> sums(rows);
  for (std::vector<int32_t>* out : {&first, &second})
    if (!upload(c, dtokens.as<void>(), sentinel.data(), rows * 4, "draw") ||
        !check_status(c.be.draw_rows(dx.as<float>(), a), "draw_rows") ||
        !download(c, out->data(), dtokens.as<void>(), rows * 4, "draw") ||
        !download(c, sums.data(), dsums.as<void>(), rows * 8, "draw"))
      return;
  cpu::RowSamplerScratch scratch;
  cpu::CandidateScratch candidate_scratch;
  int ok = 0, drawn = 0, uncertain = 0, nucleus = 0, nucleus_drawn = 0, nucleus_draws = 0;
  for (int r = 0; r < rows; ++r) {
    const int got = first[r];
    const float* row = x.data() + (size_t)r * cols;
    const int want = specs[r].expect == 1 ? -1 : cpu::sample_row(row, cols, specs[r].spec, &scratch);
    // The host emulation's S' (itself within the bound of sample_row's sum): the kernel's within twice it.
    const int first_change = q.change_start[r];
    double emulated = 0;
    cpu::draw_row(row, cols, q.params.data() + (size_t)r * kDrawParams, q.change_meta.data() + 2 * first_change,
                  q.change_vals.data() + 2 * first_change, q.change_start[r + 1] - first_change, &emulated);
    const bool sum_ok = std::isnan(emulated) ? std::isnan(sums[r])
                                             : std::fabs(sums[r] - emulated) <= (4.0 * cols + 4490) * 0x1p-53 * emulated;
    bool good;
    if (specs[r].expect == 1) {
      good = got == kDrawDeclined;
    } else if (specs[r].expect == 2) {
      good = got == kDrawUncertain || got == want;
    } else if (specs[r].expect == 3) {
      // The top-p row from its candidates (host selection: select_candidates is tested on its own) and S'.
      const int need = cpu::nucleus_need(specs[r].spec, cols, 256);
      const int slots = std::min(cols, 2 * need + 64);
      std::vector<int32_t> ids(slots);
      std::vector<float> vals(slots);
      std::vector<uint32_t> keys;
      const int n = cpu::select_candidates_row(row, cols, need, slots, ids.data(), vals.data(), &keys);
      std::vector<int32_t> changed;
      cpu::changed_ids(specs[r].spec, &changed);
      std::vector<float> changed_vals;
      for (int32_t id : changed) changed_vals.push_back(row[id]);
      const int picked = n > slots ? cpu::kNeedFullRow
                                   : cpu::sample_nucleus_candidates(ids.data(), vals.data(), n, changed.data(),
                                                                    changed_vals.data(), (int)changed.size(), cols,
                                                                    specs[r].spec, sums[r], &candidate_scratch);
      nucleus += picked >= 0;
      good = got == kDrawSummed && (picked == cpu::kNeedFullRow || picked == cpu::kNucleusPastCandidates || picked == want);
    } else if (specs[r].expect == 4) {
      ++nucleus_draws;
      nucleus_drawn += got >= 0;
      good = got == want || got == kDrawUncertain;
    } else {
      good = got == want;
    }
    if (!sum_ok && ok == r) report(false, fmt("draw row %d sum (%d cols, row stage %d)", r, cols, stage), fmt("%.17g vs emulated %.17g", sums[r], emulated));
    good = good && sum_ok;
    drawn += got >= 0;
    uncertain += got == kDrawUncertain;
    if (!good && ok == r)
      report(false, fmt("draw row %d (%d cols, row stage %d)", r, cols, stage), fmt("got %d, want %d (expect %d)", got, want, specs[r].expect));
    ok += good;
  }
  const int sum_rows = (rows + 1) / 8;
  report(ok == rows && drawn >= rows - sum_rows - 7 && nucleus >= sum_rows - 1 && nucleus_drawn >= nucleus_draws - 1,
         fmt("draw_rows %d rows x %d cols, row stage %d (min-p, bias, penalties, refusals, boundaries, sum queries, "
             "nucleus draws)", rows, cols, stage),
         fmt("%d of %d rows as sample_row; %d drawn, %d uncertain, %d top-p rows from candidates, %d of %d nucleus draws",
             ok, rows, drawn, uncertain, nucleus, nucleus_drawn, nucleus_draws));
  report(first == second, fmt("draw_rows (%d cols, row stage %d): the same launch twice gives the same answers", cols, stage), "");
}

void test_draw_rows(Ctx& c) {
  for_each_row_stage(c, [&](int cols, int stage) { test_draw_rows_of(c, cols, stage); });
}

void test_gather_argmax(Ctx& c) {
  const int rows = 5, cols = c.quick ? 1000 : 50257;
  std::vector<float> x = randn(c, (size_t)rows * cols);
  x[(size_t)1 * cols + 10] = 50.f;  // a tie: the lowest index wins
  x[(size_t)1 * cols + 900] = 50.f;
  x[(size_t)2 * cols + cols - 1] = 60.f;
  x[(size_t)3 * cols + 0] = 70.f;
  x[(size_t)4 * cols + 5] = NAN;  // ignored
  std::vector<int32_t> expect(rows);
  for (int r = 0; r < rows; ++r) {
    int best = 0;
    for (int j = 0; j < cols; ++j)
      if (x[(size_t)r * cols + j] > x[(size_t)r * cols + best] || std::isnan(x[(size_t)r * cols + best])) best = j;
    expect[r] = best;
  }
  DevBuf dx(c.be, x.size() * 4), dout(c.be, rows * 4), drows(c.be, 3 * 4), dg(c.be, (size_t)3 * cols * 4);
  if (!upload(c, dx.as<void>(), x.data(), x.size() * 4, "argmax")) return;
  std::vector<int32_t> out(rows, -1);
  if (check_status(c.be.argmax_rows(dx.as<float>(), rows, cols, dout.as<int32_t>()), "argmax_rows") &&
      download(c, out.data(), dout.as<void>(), rows * 4, "argmax"))
    report(out == expect, fmt("argmax_rows rows=%d cols=%d", rows, cols),
           fmt("got %d %d %d %d %d", out[0], out[1], out[2], out[3], out[4]));

  const int32_t pick[3] = {4, 0, 2};
  const int dim = 100;
  if (!upload(c, drows.as<void>(), pick, sizeof pick, "gather") || !poison(dg.as<float>(), (size_t)3 * dim, "gather")) return;
  std::vector<float> got((size_t)3 * dim);
  if (check_status(c.be.gather_rows(dx.as<float>(), cols, drows.as<int32_t>(), 3, dim, dg.as<float>()), "gather_rows") &&
      download(c, got.data(), dg.as<void>(), got.size() * 4, "gather")) {
    bool same = true;
    for (int i = 0; i < 3; ++i)
      for (int d = 0; d < dim; ++d)
        same = same && (std::memcmp(&got[(size_t)i * dim + d], &x[(size_t)pick[i] * cols + d], 4) == 0);
    report(same, "gather_rows", "");
  }

  // advance_decode (run-ahead): history = ids = argmax, positions + 1, over more than one block of
  // threads; entries past `seqs` untouched.
  const int seqs = 200, total = 210;
  std::vector<int32_t> argmax_in(total), ids(total), positions(total);
  for (int i = 0; i < total; ++i) {
    argmax_in[i] = (int32_t)(c.rng() % 50257);
    ids[i] = -7;
    positions[i] = (int32_t)(c.rng() % 2047);
  }
  DevBuf da(c.be, total * 4), di(c.be, total * 4), dp(c.be, total * 4), dh(c.be, total * 4);
  const std::vector<int32_t> minus(total, -9);
  if (!upload(c, da.as<void>(), argmax_in.data(), total * 4, "advance") ||
      !upload(c, di.as<void>(), ids.data(), total * 4, "advance") ||
      !upload(c, dp.as<void>(), positions.data(), total * 4, "advance") ||
      !upload(c, dh.as<void>(), minus.data(), total * 4, "advance"))
    return;
  std::vector<int32_t> got_ids(total), got_pos(total), got_hist(total);
  if (check_status(c.be.advance_decode(da.as<int32_t>(), seqs, di.as<int32_t>(), dp.as<int32_t>(), dh.as<int32_t>()),
                   "advance_decode") &&
      download(c, got_ids.data(), di.as<void>(), total * 4, "advance") &&
      download(c, got_pos.data(), dp.as<void>(), total * 4, "advance") &&
      download(c, got_hist.data(), dh.as<void>(), total * 4, "advance")) {
    int wrong = 0;
    for (int i = 0; i < total; ++i) {
      const bool in = i < seqs;
      wrong += got_ids[i] != (in ? argmax_in[i] : -7);
      wrong += got_pos[i] != positions[i] + (in ? 1 : 0);
      wrong += got_hist[i] != (in ? argmax_in[i] : -9);
    }
    report(wrong == 0, fmt("advance_decode seqs=%d", seqs), fmt("%d wrong entries", wrong));
  }
}

// segment_mean (embeddings pooling): mean of each packed sequence's rows, 0 for an empty one.
void test_segment_mean(Ctx& c) {
  const int dim = 300, ldx = 310;
  const std::vector<int32_t> starts = {0, 1, 18, 18, 60};  // lengths 1, 17, 0, 42
  const int rows = starts.back(), seqs = (int)starts.size() - 1;
  std::vector<float> x = randn(c, (size_t)rows * ldx), ref((size_t)seqs * dim, 0.f);
  for (int s = 0; s < seqs; ++s)
    for (int col = 0; col < dim; ++col) {
      double sum = 0;
      for (int r = starts[s]; r < starts[s + 1]; ++r) sum += x[(size_t)r * ldx + col];
      ref[(size_t)s * dim + col] = starts[s + 1] > starts[s] ? (float)(sum / (starts[s + 1] - starts[s])) : 0.f;
    }
  const std::string what = "segment_mean lengths 1/17/0/42";
  DevBuf dx(c.be, x.size() * 4), dst(c.be, starts.size() * 4), dout(c.be, ref.size() * 4);
  if (!upload(c, dx.as<void>(), x.data(), x.size() * 4, what) ||
      !upload(c, dst.as<void>(), starts.data(), starts.size() * 4, what) || !poison(dout.as<float>(), ref.size(), what))
    return;
  DeviceBatch b;
  b.tokens = rows;
  b.num_seqs = seqs;
  b.d_seq_starts = dst.as<int32_t>();
  if (!check_status(c.be.segment_mean(dx.as<float>(), ldx, b, dim, dout.as<float>()), what)) return;
  std::vector<float> out(ref.size());
  if (!download(c, out.data(), dout.as<void>(), out.size() * 4, what)) return;
  const double err = rel_error(out, ref);
  report(err < 1e-5, what, fmt("rel_err=%.3g", err));
}

// ---------------------------------------------------------------------------------------------
// kv_write + attention over a paged cache with shuffled block tables
// ---------------------------------------------------------------------------------------------
// The naive half-precision attention the tensor-core kernel is held to: q, k and v rounded to dt,
// scores and softmax in double, each probability rounded to dt, products summed in double. Arguments
// as cpu::ref::attention (k, v: [keys, ldkv] dense, key j at position j).
void naive_half_attention(const float* q, int ldq, const int32_t* pos, int tokens, const float* k, const float* v,
                          int ldkv, int heads, int hd, int window, float scale, DType dt, float* out) {
  for (int t = 0; t < tokens; ++t)
    for (int h = 0; h < heads; ++h) {
      const int p = pos[t], lo = window > 0 ? std::max(0, p - window + 1) : 0;
      std::vector<double> sc(p + 1 - lo);
      double mx = -INFINITY, sum = 0;
      for (int j = lo; j <= p; ++j) {
        double d = 0;
        for (int e = 0; e < hd; ++e)
          d += (double)round_to(q[(size_t)t * ldq + h * hd + e], dt) * round_to(k[(size_t)j * ldkv + h * hd + e], dt);
        sc[j - lo] = d * scale;
        mx = std::max(mx, sc[j - lo]);
      }
      for (auto& x : sc) sum += (x = std::exp(x - mx));
      for (int e = 0; e < hd; ++e) {
        double o = 0;
        for (int j = lo; j <= p; ++j)
          o += (double)round_to((float)(sc[j - lo] / sum), dt) * round_to(v[(size_t)j * ldkv + h * hd + e], dt);
        out[(size_t)t * heads * hd + h * hd + e] = (float)o;
      }
    }
}

// A forced kernel's launch status: waits for it on the legacy stream; a failure is reported as one.
bool forced_run_ok(int st, const std::string& what) {
  if (st == 0) st = gn_cuda_stream_synchronize(nullptr);
  if (st != 0) report(false, what, gn_cuda_status_string(st));
  return st == 0;
}

// GN_TEST_WGMMA_ATTENTION=0 leaves the forced runs of the wgmma attention kernel out: gpu-check's main
// stages, so that a fault in the kernel, unverified on a GPU so far, cannot take the rest of their results
// with it; gpu-check gives it a stage of its own.
bool wgmma_attention_tests_off() {
  const char* v = std::getenv("GN_TEST_WGMMA_ATTENTION");
  return v != nullptr && std::strcmp(v, "0") == 0;
}

struct SeqSpec {
  int context;  // keys after this step (last position + 1)
  int fresh;    // new tokens this step: positions context-fresh .. context-1
};

// cache_dt: the KV cache's element dtype; for bf16/f16 every cached value (and every k/v row written)
// is representable in it, so the oracles see the cache exactly as stored.
void test_attention_case(Ctx& c, const std::vector<SeqSpec>& seqs, int heads, int hd, int window, float scale,
                         bool q_in_qkv, DType cache_dt = DType::kF32) {
  const int bs = 16, width = heads * hd;
  const int ldq = q_in_qkv ? 3 * width : width, ldkv = q_in_qkv ? 3 * width : width;
  int tokens = 0, max_blocks = 0, max_context = 0, total_blocks = 0;
  for (const auto& s : seqs) {
    tokens += s.fresh;
    max_blocks = std::max(max_blocks, (s.context + bs - 1) / bs);
    max_context = std::max(max_context, s.context);
    total_blocks += (s.context + bs - 1) / bs;
  }
  const int num_blocks = total_blocks + 3;  // a few blocks nobody owns
  std::vector<int32_t> perm(num_blocks);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), c.rng);
  std::vector<int32_t> tables((size_t)seqs.size() * max_blocks, -1), starts(seqs.size() + 1), positions(tokens);
  const size_t cache_elems = (size_t)num_blocks * bs * width;
  std::vector<float> k_cache = randn(c, cache_elems), v_cache = randn(c, cache_elems);  // garbage in free slots
  auto as_stored = [cache_dt](std::vector<float> v) {
    for (auto& x : v) x = round_to(x, cache_dt);
    return v;
  };
  k_cache = as_stored(std::move(k_cache));
  v_cache = as_stored(std::move(v_cache));
  std::vector<float> q((size_t)tokens * ldq), knew((size_t)tokens * ldkv), vnew((size_t)tokens * ldkv);
  std::vector<std::vector<float>> kd(seqs.size()), vd(seqs.size());  // dense per-sequence keys/values
  int next_block = 0, row = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const int ctx = seqs[s].context, nb = (ctx + bs - 1) / bs;
    for (int b = 0; b < nb; ++b) tables[s * max_blocks + b] = perm[next_block++];
    kd[s] = as_stored(randn(c, (size_t)ctx * width));
    vd[s] = as_stored(randn(c, (size_t)ctx * width));
    starts[s] = row;
    for (int p = 0; p < ctx; ++p) {
      const size_t slot = (size_t)tables[s * max_blocks + p / bs] * bs + p % bs;
      const bool fresh = p >= ctx - seqs[s].fresh;
      for (int e = 0; e < width; ++e) {
        if (fresh) {  // arrives through kv_write
          knew[(size_t)row * ldkv + e] = kd[s][(size_t)p * width + e];
          vnew[(size_t)row * ldkv + e] = vd[s][(size_t)p * width + e];
        } else {      // already cached by an earlier step
          k_cache[slot * width + e] = kd[s][(size_t)p * width + e];
          v_cache[slot * width + e] = vd[s][(size_t)p * width + e];
        }
      }
      if (fresh) {
        positions[row] = p;
        std::vector<float> qr = randn(c, width);
        std::copy(qr.begin(), qr.end(), q.begin() + (size_t)row * ldq);
        ++row;
      }
    }
  }
  starts[seqs.size()] = row;

  // Expected cache after kv_write, and the dense reference attention.
  std::vector<float> k_expect = k_cache, v_expect = v_cache;
  cpu::PagedBatch pb;
  pb.num_seqs = (int)seqs.size();
  pb.seq_starts = starts.data();
  pb.positions = positions.data();
  pb.block_tables = tables.data();
  pb.max_blocks = max_blocks;
  pb.block_size = bs;
  cpu::ref::kv_write(knew.data(), vnew.data(), ldkv, pb, heads, hd, k_expect.data(), v_expect.data());
  std::vector<float> ref((size_t)tokens * width);
  for (size_t s = 0; s < seqs.size(); ++s) {
    const int n = starts[s + 1] - starts[s];
    cpu::ref::attention(q.data() + (size_t)starts[s] * ldq, ldq, positions.data() + starts[s], n, kd[s].data(),
                        vd[s].data(), width, heads, hd, window, scale, ref.data() + (size_t)starts[s] * width, width);
  }

  std::string shape;
  for (const auto& s : seqs) shape += fmt("%d/%d ", s.fresh, s.context);
  const std::string what = fmt("attention H=%d D=%d window=%d seqs(new/ctx)=%s%s%s", heads, hd, window, shape.c_str(),
                               q_in_qkv ? "(strided)" : "",
                               cache_dt == DType::kF32 ? "" : (std::string(" cache ") + dtype_name(cache_dt)).c_str());
  const size_t cache_bytes = cache_elems * dtype_size(cache_dt);
  // The cache as stored on the device (16-bit encodings for a half-precision cache).
  auto stored_bytes = [cache_dt](const std::vector<float>& v, std::vector<uint16_t>* h16) -> const void* {
    if (cache_dt == DType::kF32) return v.data();
    *h16 = encode16(v, cache_dt);
    return h16->data();
  };
  std::vector<uint16_t> k16, v16;
  DevBuf dk(c.be, cache_bytes), dv(c.be, cache_bytes), dq(c.be, q.size() * 4), dkn(c.be, knew.size() * 4),
      dvn(c.be, vnew.size() * 4), dout(c.be, ref.size() * 4), dpos(c.be, tokens * 4), dst(c.be, starts.size() * 4),
      dtab(c.be, tables.size() * 4);
  if (!upload(c, dk.as<void>(), stored_bytes(k_cache, &k16), cache_bytes, what) ||
      !upload(c, dv.as<void>(), stored_bytes(v_cache, &v16), cache_bytes, what) ||
      !upload(c, dq.as<void>(), q.data(), q.size() * 4, what) ||
      !upload(c, dkn.as<void>(), knew.data(), knew.size() * 4, what) ||
      !upload(c, dvn.as<void>(), vnew.data(), vnew.size() * 4, what) ||
      !upload(c, dpos.as<void>(), positions.data(), tokens * 4, what) ||
      !upload(c, dst.as<void>(), starts.data(), starts.size() * 4, what) ||
      !upload(c, dtab.as<void>(), tables.data(), tables.size() * 4, what) || !poison(dout.as<float>(), ref.size(), what))
    return;
  DeviceBatch b;
  b.tokens = tokens;
  b.num_seqs = (int)seqs.size();
  b.d_positions = dpos.as<int32_t>();
  b.d_seq_starts = dst.as<int32_t>();
  b.d_block_tables = dtab.as<int32_t>();
  b.max_blocks = max_blocks;
  b.block_size = bs;
  b.max_context = max_context;
  const KvCache cache{dk.as<void>(), dv.as<void>(), cache_dt};
  if (!check_status(c.be.kv_write(dkn.as<float>(), dvn.as<float>(), ldkv, b, heads, hd, cache), what + " kv_write"))
    return;
  std::vector<uint8_t> kc(cache_bytes), vc(cache_bytes);
  std::vector<uint16_t> ke16, ve16;
  if (download(c, kc.data(), dk.as<void>(), cache_bytes, what) &&
      download(c, vc.data(), dv.as<void>(), cache_bytes, what))
    report(std::memcmp(kc.data(), stored_bytes(k_expect, &ke16), cache_bytes) == 0 &&
               std::memcmp(vc.data(), stored_bytes(v_expect, &ve16), cache_bytes) == 0,
           "kv_write " + what.substr(10), "");
  if (!check_status(c.be.attention(dq.as<float>(), ldq, cache, b, heads, hd, window, scale, DType::kF32,
                                   dout.as<float>(), width),
                    what))
    return;
  std::vector<float> out(ref.size());
  if (!download(c, out.data(), dout.as<void>(), out.size() * 4, what)) return;
  const double err = rel_error(out, ref);
  // fp32 scores of unscaled GPT-Neo-like logits (|s| ~ 10-50) carry ~1e-5 relative error.
  report(err < 1e-4, what, fmt("rel_err=%.3g", err));

  // The kernel the dispatcher did not pick, forced through the C launcher (legacy default
  // stream), same cache and tolerance.
  gn_cuda_batch cb;
  cb.tokens = b.tokens;
  cb.num_seqs = b.num_seqs;
  cb.d_positions = b.d_positions;
  cb.d_seq_starts = b.d_seq_starts;
  cb.d_block_tables = b.d_block_tables;
  cb.max_blocks = b.max_blocks;
  cb.block_size = b.block_size;
  cb.max_context = b.max_context;
  const size_t ws_bytes = gn_cuda_attention_workspace_bytes(&cb, heads, hd);
  DevBuf dws(c.be, std::max<size_t>(ws_bytes, 16));
  // (gn_cuda_attention_append's split counters start at zero)
  if (!check_status(c.be.fill_zero(dws.as<void>(), std::max<size_t>(ws_bytes, 16)), what + " workspace")) return;
  const int cdt = (int)cache_dt;
  const int selected = gn_cuda_attention_select(&cb, hd, dk.as<void>(), dv.as<void>(), cdt, GN_DTYPE_F32);
  const bool decode_like = tokens < 4 * (int)seqs.size();
  report(selected == (decode_like && hd % 4 == 0 ? GN_ATTENTION_DECODE : GN_ATTENTION_TILED),
         what + " selects " + gn_cuda_attention_kernel_name(selected), "");
  for (int kernel : {GN_ATTENTION_TILED, GN_ATTENTION_DECODE, GN_ATTENTION_TENSOR_CORE, GN_ATTENTION_WGMMA,
                     GN_ATTENTION_WGMMA_PIPELINED}) {
    if (kernel == selected) continue;  // the backend run above used it
    const bool wgmma = kernel == GN_ATTENTION_WGMMA || kernel == GN_ATTENTION_WGMMA_PIPELINED;
    if (wgmma && wgmma_attention_tests_off()) continue;
    const std::string kwhat = what + " forced " + gn_cuda_attention_kernel_name(kernel);
    if (!poison(dout.as<float>(), ref.size(), kwhat)) return;
    int st = gn_cuda_attention_with(kernel, dq.as<float>(), ldq, dk.as<void>(), dv.as<void>(), cdt, &cb, heads, hd,
                                    window, scale, GN_DTYPE_F32, dout.as<float>(), width, dws.as<void>(), ws_bytes,
                                    nullptr);
    if (kernel == GN_ATTENTION_TENSOR_CORE || wgmma) {
      // fp32 operands never go to tensor cores (the half-precision block below covers bf16/f16).
      report(st == GN_CUDA_EUNSUPPORTED, kwhat + " with fp32 operands is refused", gn_cuda_status_name(st));
      continue;
    }
    if (kernel == GN_ATTENTION_DECODE && selected != GN_ATTENTION_DECODE) {
      // Outside the decode kernel's reach (prefill-like step or head_dim % 4 != 0): refused, not run.
      report(st == GN_CUDA_EUNSUPPORTED, kwhat + " is refused", gn_cuda_status_name(st));
      continue;
    }
    if (!forced_run_ok(st, kwhat)) continue;
    std::vector<float> kout(ref.size());
    if (!download(c, kout.data(), dout.as<void>(), kout.size() * 4, kwhat)) return;
    const double kerr = rel_error(kout, ref);
    report(kerr < 1e-4, kwhat, fmt("rel_err=%.3g", kerr));
  }

  // The decode kernel forced once more under an opt-in switch the caller has set, to the same tolerance.
  const auto decode_again = [&](const std::string& wwhat) {
    if (!poison(dout.as<float>(), ref.size(), wwhat)) return;
    const int st = gn_cuda_attention_with(GN_ATTENTION_DECODE, dq.as<float>(), ldq, dk.as<void>(), dv.as<void>(), cdt, &cb,
                                          heads, hd, window, scale, GN_DTYPE_F32, dout.as<float>(), width, dws.as<void>(),
                                          ws_bytes, nullptr);
    std::vector<float> wout(ref.size());
    if (forced_run_ok(st, wwhat) && download(c, wout.data(), dout.as<void>(), wout.size() * 4, wwhat)) {
      const double werr = rel_error(wout, ref);
      report(werr < 1e-4, wwhat, fmt("rel_err=%.3g", werr));
    }
  };
  // A 16-bit cache with 8 keys per lane group in flight (gn_cuda_set_decode_keys16; opt-in): the decode
  // kernel at that unroll and its plan (fewer, longer splits); and append mode with it, below.
  const DecodeKeys16Restore keys16_restore;  // (every return below puts the process's setting back)
  if (selected == GN_ATTENTION_DECODE && cache_dt != DType::kF32) {
    gn_cuda_set_decode_keys16(8);
    decode_again(what + " decode, 8 keys in flight");
    gn_cuda_set_decode_keys16(keys16_restore.was);
  }
  // The wave-aware split plan (gn_cuda_set_decode_split_waves; opt-in): other split counts where the
  // kernel's occupancy makes the fill plan a partial wave off; and append mode with it, below.
  const DecodeSplitWavesRestore waves_restore;
  if (selected == GN_ATTENTION_DECODE) {
    gn_cuda_set_decode_split_waves(1);
    decode_again(what + " decode, wave-aware split plan");
    gn_cuda_set_decode_split_waves(waves_restore.was);
  }

  // kv_write and attention in one launch (gn_cuda_attention_append), from the cache as it was before
  // the write: the same cache bytes as kv_write wrote, the same output within the same tolerance;
  // refused (and nothing written) where a sequence has more than one row or the decode kernel does
  // not serve the step. Twice, from the same start: the second launch finds the split counters the
  // first one left (they must be back at zero for its merge to happen once, after every split).
  // (rep 2: once more from the same start with the wave-aware split plan, GPTNEO_CUDA_DECODE_SPLIT=waves;
  // rep 3: with 8 keys in flight for a 16-bit cache, GPTNEO_CUDA_DECODE_KEYS16=8)
  for (int rep = 0; rep < (cache_dt != DType::kF32 ? 4 : 3); ++rep) {
    gn_cuda_set_decode_keys16(rep == 3 ? 8 : keys16_restore.was);
    gn_cuda_set_decode_split_waves(rep == 2 ? 1 : waves_restore.was);
    const std::string awhat = what + (rep == 3   ? " append, 8 keys in flight"
                                      : rep == 2 ? " append, wave-aware split plan"
                                      : rep      ? " append again"
                                                 : " append");
    if (!upload(c, dk.as<void>(), stored_bytes(k_cache, &k16), cache_bytes, awhat) ||
        !upload(c, dv.as<void>(), stored_bytes(v_cache, &v16), cache_bytes, awhat) ||
        !poison(dout.as<float>(), ref.size(), awhat))
      return;
    const int st = gn_cuda_attention_append(dq.as<float>(), ldq, dkn.as<float>(), dvn.as<float>(), ldkv, dk.as<void>(),
                                            dv.as<void>(), cdt, &cb, heads, hd, window, scale, dout.as<float>(), width,
                                            dws.as<void>(), ws_bytes, nullptr);
    const bool serves = tokens == (int)seqs.size() && selected == GN_ATTENTION_DECODE;
    std::vector<uint8_t> ka(cache_bytes), va(cache_bytes);
    std::vector<uint16_t> kx16, vx16;
    if (!serves) {
      report(st == GN_CUDA_EUNSUPPORTED, awhat + " is refused", gn_cuda_status_name(st));
      if (download(c, ka.data(), dk.as<void>(), cache_bytes, awhat) &&
          download(c, va.data(), dv.as<void>(), cache_bytes, awhat))
        report(std::memcmp(ka.data(), stored_bytes(k_cache, &kx16), cache_bytes) == 0 &&
                   std::memcmp(va.data(), stored_bytes(v_cache, &vx16), cache_bytes) == 0,
               awhat + " refused leaves the cache alone", "");
      // (the checks below read the cache as kv_write left it)
      if (!upload(c, dk.as<void>(), stored_bytes(k_expect, &kx16), cache_bytes, awhat) ||
          !upload(c, dv.as<void>(), stored_bytes(v_expect, &vx16), cache_bytes, awhat))
        return;
    } else if (forced_run_ok(st, awhat)) {
      std::vector<float> aout(ref.size());
      if (!download(c, aout.data(), dout.as<void>(), aout.size() * 4, awhat) ||
          !download(c, ka.data(), dk.as<void>(), cache_bytes, awhat) ||
          !download(c, va.data(), dv.as<void>(), cache_bytes, awhat))
        return;
      report(std::memcmp(ka.data(), stored_bytes(k_expect, &kx16), cache_bytes) == 0 &&
                 std::memcmp(va.data(), stored_bytes(v_expect, &vx16), cache_bytes) == 0,
             awhat + " writes the cache as kv_write", "");
      const double aerr = rel_error(aout, ref);
      report(aerr < 1e-4, awhat, fmt("rel_err=%.3g", aerr));
    }
  }
  gn_cuda_set_decode_keys16(keys16_restore.was);
  gn_cuda_set_decode_split_waves(waves_restore.was);

  // Half-precision operands (a bf16/f16 model): the backend's choice and the tensor-core and wgmma
  // kernels forced, each held to twice the error of the naive same-precision attention against fp32.
  // The wgmma kernel serves head dims 64 and 128 with a cache of the operand dtype on a compute
  // capability 9.0 device (the builds carry its sm_90a code); it is refused everywhere else.
  for (DType od : {DType::kBF16, DType::kF16}) {
    if (cache_dt != DType::kF32 && od != cache_dt) continue;  // a half cache serves its own operand dtype
    std::vector<float> naive((size_t)tokens * width);
    for (size_t s = 0; s < seqs.size(); ++s) {
      const int n = starts[s + 1] - starts[s];
      naive_half_attention(q.data() + (size_t)starts[s] * ldq, ldq, positions.data() + starts[s], n, kd[s].data(),
                           vd[s].data(), width, heads, hd, window, scale, od, naive.data() + (size_t)starts[s] * width);
    }
    const double naive_err = rel_error(naive, ref);
    const int odt = (int)od;
    const int sel = gn_cuda_attention_select(&cb, hd, dk.as<void>(), dv.as<void>(), cdt, odt);
    const char* tc_env = std::getenv("GPTNEO_CUDA_TC_ATTENTION");  // "0": out of automatic selection
    const bool tc_auto = tc_env == nullptr || std::strcmp(tc_env, "0") != 0;
    // GPTNEO_CUDA_WGMMA_ATTENTION "1" / "pipelined": that wgmma kernel in automatic selection
    const char* wgmma_env = std::getenv("GPTNEO_CUDA_WGMMA_ATTENTION");
    const int wgmma_auto = !wgmma_env                                ? 0
                         : std::strcmp(wgmma_env, "1") == 0         ? (int)GN_ATTENTION_WGMMA
                         : std::strcmp(wgmma_env, "pipelined") == 0 ? (int)GN_ATTENTION_WGMMA_PIPELINED
                                                                    : 0;
    const bool tc_serves = !decode_like && hd % 4 == 0;
    const bool wgmma_serves = tc_serves && hopper_device() && (hd == 64 || hd == 128) && cache_dt == od;
    const int expect = decode_like && hd % 4 == 0          ? GN_ATTENTION_DECODE
                     : wgmma_serves && tc_auto && wgmma_auto ? wgmma_auto
                     : tc_serves && tc_auto                  ? GN_ATTENTION_TENSOR_CORE
                                                             : GN_ATTENTION_TILED;
    const std::string hwhat = what + " " + dtype_name(od);
    report(sel == expect, hwhat + " selects " + gn_cuda_attention_kernel_name(sel), "");
    for (int forced : {GN_ATTENTION_AUTO, GN_ATTENTION_TENSOR_CORE, GN_ATTENTION_WGMMA, GN_ATTENTION_WGMMA_PIPELINED}) {
      const bool wgmma = forced == GN_ATTENTION_WGMMA || forced == GN_ATTENTION_WGMMA_PIPELINED;
      if (wgmma && wgmma_attention_tests_off()) continue;
      const std::string kwhat =
          hwhat + (forced == GN_ATTENTION_AUTO ? std::string(" backend")
                                               : std::string(" forced ") + gn_cuda_attention_kernel_name(forced));
      if (!poison(dout.as<float>(), ref.size(), kwhat)) return;
      int st = 0;
      if (forced != GN_ATTENTION_AUTO) {
        st = gn_cuda_attention_with(forced, dq.as<float>(), ldq, dk.as<void>(), dv.as<void>(), cdt, &cb, heads, hd,
                                    window, scale, odt, dout.as<float>(), width, dws.as<void>(), ws_bytes, nullptr);
        // Forced, each serves every step within its reach (above) and refuses the others.
        if (!(forced == GN_ATTENTION_TENSOR_CORE ? tc_serves : wgmma_serves)) {
          report(st == GN_CUDA_EUNSUPPORTED, kwhat + " is refused", gn_cuda_status_name(st));
          continue;
        }
        if (!forced_run_ok(st, kwhat)) continue;
      } else if (!check_status(c.be.attention(dq.as<float>(), ldq, cache, b, heads, hd, window, scale, od,
                                              dout.as<float>(), width),
                               kwhat)) {
        continue;
      }
      std::vector<float> hout(ref.size());
      if (!download(c, hout.data(), dout.as<void>(), hout.size() * 4, kwhat)) return;
      const double herr = rel_error(hout, ref);
      const bool half_products = forced != GN_ATTENTION_AUTO || sel == GN_ATTENTION_TENSOR_CORE ||
                                 sel == GN_ATTENTION_WGMMA || sel == GN_ATTENTION_WGMMA_PIPELINED;
      const double tol = half_products ? 2.0 * naive_err : 1e-4;
      report(herr <= tol, kwhat, fmt("rel_err=%.3g tol=%.3g (naive %.3g)", herr, tol, naive_err));
    }
  }
}

void test_attention(Ctx& c) {
  if (wgmma_attention_tests_off())
    std::printf("note: forced wgmma attention runs skipped (GN_TEST_WGMMA_ATTENTION=0: they run in a stage of their own)\n");
  const int W = 32;  // a small local window keeps window-1/window/window+1 cheap
  for (int hd : {16, 64, 128, 80, 18}) {  // 18: head_dim % 4 != 0 takes the scalar load path
    const int heads = hd == 128 ? 2 : 3;
    // Prefill (whole prompts), several sequences of awkward lengths.
    test_attention_case(c, {{1, 1}, {17, 17}, {W - 1, W - 1}, {W, W}, {W + 1, W + 1}}, heads, hd, 0, 1.f, false);
    test_attention_case(c, {{17, 17}, {W - 1, W - 1}, {W, W}, {W + 1, W + 1}, {70, 70}}, heads, hd, W, 1.f, true);
    // Chunked prefill and decode mixed in one step.
    test_attention_case(c, {{300, 40}, {W + 1, 1}, {5, 2}}, heads, hd, W, 0.125f, false);
    // Decode: one new token over long contexts (exercises the split + combine path).
    test_attention_case(c, {{300, 1}, {W, 1}, {1, 1}}, heads, hd, 0, 1.f, false);
    test_attention_case(c, {{300, 1}}, heads, hd, W, 1.f, true);
    // Decode-like step with several new tokens per sequence (tokens < 4 * sequences).
    test_attention_case(c, {{300, 2}, {40, 3}, {1, 1}}, heads, hd, 0, 1.f, true);
  }
  // Half-precision caches (a bf16/f16 model on the GPU): every kernel reads them; the tensor-core
  // kernel takes the cache of its own operand dtype.
  for (DType cdt : {DType::kBF16, DType::kF16}) {
    for (int hd : {64, 128, 18}) {
      const int heads = hd == 128 ? 2 : 3;
      test_attention_case(c, {{1, 1}, {17, 17}, {W + 1, W + 1}, {70, 70}}, heads, hd, 0, 1.f, false, cdt);
      test_attention_case(c, {{300, 40}, {W + 1, 1}, {5, 2}}, heads, hd, W, 0.125f, true, cdt);
      test_attention_case(c, {{300, 1}, {W, 1}, {1, 1}}, heads, hd, 0, 1.f, false, cdt);
    }
  }
  test_attention_case(c, {{1100, 1}, {700, 1}, {3, 1}}, 3, 64, 0, 0.125f, false, DType::kBF16);
  // Decode kernel splits at both head-dim instantiations, with and without a window (the
  // windowed plan splits the window, not the context).
  test_attention_case(c, {{1100, 1}, {700, 1}, {3, 1}}, 3, 64, 0, 0.125f, false);
  test_attention_case(c, {{1100, 1}, {700, 1}}, 3, 64, 600, 0.125f, true);
  test_attention_case(c, {{700, 1}, {129, 1}}, 2, 96, 300, 0.125f, false);
  if (!c.quick) {
    test_attention_case(c, {{2048, 1}, {1000, 1}}, 16, 128, 0, 1.f, false);
    test_attention_case(c, {{2048, 1}}, 12, 64, 256, 1.f, false);
    test_attention_case(c, {{300, 300}}, 12, 64, 256, 1.f, true);
    test_attention_case(c, {{600, 256}, {300, 300}}, 4, 128, 0, 1.f, false);
    // Several 128-key tiles and 128-query blocks of the wgmma kernel (bf16 caches: within its reach).
    test_attention_case(c, {{600, 256}, {300, 300}}, 4, 128, 0, 1.f, false, DType::kBF16);
    test_attention_case(c, {{700, 400}, {129, 129}}, 4, 64, 256, 1.f, true, DType::kF16);
    // A grid large enough not to split: blocks stream more keys than one slot tile (512) holds.
    std::vector<SeqSpec> many;
    for (int i = 0; i < 48; ++i) many.push_back({i % 2 ? 1100 : 520, 1});
    test_attention_case(c, many, 12, 16, 0, 0.25f, false);
    test_attention_case(c, many, 12, 16, 700, 0.25f, true);
    // 12 sequences x 12 heads of 64 dims at 600 keys: on a 132-SM GPU the fill plan splits in two (288
    // blocks, more than the float32 kernel's 2 x 132 resident), the wave-aware plan not at all; with a
    // bf16 cache (3 per SM) both split in two. Each plan against the oracle, in both call modes.
    std::vector<SeqSpec> wave;
    for (int i = 0; i < 12; ++i) wave.push_back({600 - 7 * (i % 3), 1});
    test_attention_case(c, wave, 12, 64, 0, 0.125f, true);
    test_attention_case(c, wave, 12, 64, 0, 0.125f, true, DType::kBF16);
  }
  // head_dim beyond the kernels' reach is refused, not run.
  DeviceBatch b;
  b.tokens = 1;
  b.num_seqs = 1;
  b.block_size = 16;
  b.max_context = 1;
  DevBuf dummy(c.be, 1024);
  Status st = c.be.attention(dummy.as<float>(), 256, KvCache{dummy.as<void>(), dummy.as<void>(), DType::kF32}, b, 1, 256,
                             0, 1.f, DType::kF32, dummy.as<float>(), 256);
  report(st.code() == ErrorCode::kUnsupported, "attention head_dim=256 is Unsupported", st.message());
}

// The tensor-core attention kernel's index math, emulated on the host (tests/attention_tc_emulation.h):
// one block of 1..64 queries of one head, held to twice the naive bf16 attention's error like the kernel,
// with key tiles of 64 and of 32 (the kernel's two KEYS). Both errors are random (roundings of different
// numbers); where one problem has fewer than 256 outputs (a single query of 16 or 64 dims) the errors
// are pooled over 8 independent problems of that shape, so that the comparison measures the kernel, not
// the luck of one draw (one query of 16 dims exceeded the factor 2 on 3 of 300 seeds, by at most 15%).
void test_attention_tc_emulation(Ctx& c) {
  const auto bf16 = [](float v) { return round_to(v, DType::kBF16); };
  for (int tile : {64, 32})
    for (int D : {16, 64, 72, 128})
      for (int n : {1, 23, 64})
        for (int extra : {0, 100})
          for (int window : {0, 32}) {
            const int keys = n + extra, draws = n * D < 256 ? 8 : 1;
            std::vector<float> got_all, ref_all, naive_all;
            bool layout_ok = true;
            for (int draw = 0; draw < draws; ++draw) {
              tc_emu::Problem p;
              p.n = n;
              p.D = D;
              p.DMAX = D <= 64 ? 64 : 128;
              p.window = window;
              p.keys = tile;
              p.scale = extra ? 0.125f : 1.f;
              for (int i = 0; i < n; ++i) p.pos.push_back(extra + i);
              p.q = randn(c, (size_t)n * D, 0.5f);
              p.k = randn(c, (size_t)keys * D);
              p.v = randn(c, (size_t)keys * D);
              std::vector<float> got, ref((size_t)n * D), naive((size_t)n * D);
              layout_ok = tc_emu::run_block(p, bf16, &got) && layout_ok;
              cpu::ref::attention(p.q.data(), D, p.pos.data(), n, p.k.data(), p.v.data(), D, 1, D, window, p.scale,
                                  ref.data(), D);
              naive_half_attention(p.q.data(), D, p.pos.data(), n, p.k.data(), p.v.data(), D, 1, D, window, p.scale,
                                   DType::kBF16, naive.data());
              got_all.insert(got_all.end(), got.begin(), got.end());
              ref_all.insert(ref_all.end(), ref.begin(), ref.end());
              naive_all.insert(naive_all.end(), naive.begin(), naive.end());
            }
            const double err = rel_error(got_all, ref_all), naive_err = rel_error(naive_all, ref_all);
            report(layout_ok && err <= 2.0 * naive_err,
                   fmt("attention tensor-core emulation %d-key tiles D=%d queries=%d keys=%d window=%d", tile, D, n, keys,
                       window),
                   fmt("rel_err=%.3g tol=%.3g%s", err, 2.0 * naive_err, layout_ok ? "" : " fragment layout broken"));
          }
}

// ---------------------------------------------------------------------------------------------
// CUDA graphs: a small decode-like step (linear + gelu, layernorm, argmax) captured once, replayed
// on fresh inputs written into the same buffers; each replay must match the reference.
// ---------------------------------------------------------------------------------------------
void test_graph(Ctx& c) {
  const int n = 200, k = 264;
  std::vector<float> w = randn(c, (size_t)n * k, 0.05f), bias = randn(c, n), g = randn(c, n), beta = randn(c, n);
  std::unique_ptr<PreparedLinear> lin;
  float *d_bias = nullptr, *d_g = nullptr, *d_beta = nullptr;
  if (!check_status(c.be.prepare_linear(w.data(), DType::kF32, n, k, DType::kF32, &lin), "graph prepare_linear") ||
      !check_status(c.be.prepare_vector(bias.data(), DType::kF32, n, &d_bias), "graph prepare_vector") ||
      !check_status(c.be.prepare_vector(g.data(), DType::kF32, n, &d_g), "graph prepare_vector") ||
      !check_status(c.be.prepare_vector(beta.data(), DType::kF32, n, &d_beta), "graph prepare_vector"))
    return;
  DevBuf dx(c.be, k * 4), dy(c.be, n * 4), dz(c.be, n * 4), didx(c.be, 4);
  std::vector<float> x0 = randn(c, k);
  if (!upload(c, dx.as<void>(), x0.data(), k * 4, "graph x")) return;

  std::unique_ptr<RecordedWork> graph;
  Status st = c.be.capture_begin();
  if (!check_status(st, "graph capture_begin")) return;
  Status s1 = c.be.linear(dx.as<float>(), 1, k, *lin, d_bias, dy.as<float>(), n, LinearEpilogue::kGeluNew);
  Status s2 = c.be.layernorm(dy.as<float>(), 1, n, n, d_g, d_beta, 1e-5f, dz.as<float>(), n);
  Status s3 = c.be.argmax_rows(dz.as<float>(), 1, n, didx.as<int32_t>());
  Status refused = c.be.upload(dx.as<void>(), x0.data(), 4);  // would synchronize: refused, capture intact
  void* host_block = nullptr;
  Status host_refused = c.be.alloc_host(1024, &host_block);  // (page-locking would synchronize too)
  Status again = c.be.capture_begin();
  st = c.be.capture_end(&graph);
  report(refused.code() == ErrorCode::kInvalidArgument, "graph: upload during a capture is refused", refused.message());
  report(host_refused.code() == ErrorCode::kInvalidArgument && host_block == nullptr,
         "graph: alloc_host during a capture is refused", host_refused.message());
  report(again.code() == ErrorCode::kInvalidArgument, "graph: a second capture_begin is refused", again.message());
  if (!check_status(s1, "graph linear") || !check_status(s2, "graph layernorm") || !check_status(s3, "graph argmax") ||
      !check_status(st, "graph capture_end"))
    return;
  std::unique_ptr<RecordedWork> none;
  Status no_open = c.be.capture_end(&none);
  report(no_open.code() == ErrorCode::kInvalidArgument && !none, "graph: capture_end without a capture is refused",
         no_open.message());

  for (int round = 0; round < 3; ++round) {
    const std::string what = fmt("graph replay %d (linear+gelu, layernorm, argmax)", round);
    std::vector<float> x = randn(c, k);
    std::vector<float> y(n), ref(n);
    cpu::ref::gemm(x.data(), 1, k, w.data(), n, k, bias.data(), y.data(), n, cpu::Epilogue::kGeluNew);
    cpu::ref::layernorm(y.data(), 1, n, n, g.data(), beta.data(), 1e-5f, ref.data(), n);
    if (!upload(c, dx.as<void>(), x.data(), k * 4, what) || !poison(dz.as<float>(), n, what)) return;
    if (!check_status(c.be.replay(*graph), what) || !check_status(c.be.synchronize(), what)) return;
    std::vector<float> out(n);
    int32_t idx = -1;
    if (!download(c, out.data(), dz.as<void>(), n * 4, what) || !download(c, &idx, didx.as<void>(), 4, what)) return;
    const int want = (int)(std::max_element(out.begin(), out.end()) - out.begin());
    const double err = rel_error(out, ref);
    report(err < 1e-4 && idx == want, what, fmt("rel_err=%.3g argmax=%d (expected %d)", err, idx, want));
  }
}

// Host blocks from Backend::alloc_host (page-locked on CUDA): a download into one gives the device's
// bytes, sizes up to a few MB (a step's logit rows), and an allocation the system cannot make is an
// error with no pointer, not a crash.
// Statuses as the backend reports them (cuda_status): argument, support and memory errors typed, and the
// runtime's sticky errors (a kernel's fault or trap: every later call of the process fails) saying so and
// what to do; other runtime errors without that hint.
void test_status_messages(Ctx&) {
  const Status fault = cuda_status(700, "attention");  // cudaErrorIllegalAddress
  const Status trap = cuda_status(719, "gemm");        // cudaErrorLaunchFailure (a trapped kernel)
  const Status other = cuda_status(101, "set device");  // cudaErrorInvalidDevice: not sticky
  const auto says_restart = [](const Status& st) {
    return st.message().find("restart the process") != std::string::npos;
  };
  report(fault.code() == ErrorCode::kCuda && says_restart(fault) && fault.message().rfind("attention: ", 0) == 0 &&
             trap.code() == ErrorCode::kCuda && says_restart(trap) && other.code() == ErrorCode::kCuda &&
             !says_restart(other) && cuda_error_is_sticky(714) && !cuda_error_is_sticky(2) &&
             cuda_status(GN_CUDA_OK, "x").ok() && cuda_status(GN_CUDA_EINVAL, "x").code() == ErrorCode::kInvalidArgument &&
             cuda_status(GN_CUDA_EUNSUPPORTED, "x").code() == ErrorCode::kUnsupported &&
             cuda_status(2, "x").code() == ErrorCode::kOutOfMemory,
         "statuses: typed; a kernel's fault or trap says the context is lost and to restart the process", fault.message());
}

void test_host_memory(Ctx& c) {
  for (size_t floats : {size_t(1), size_t(50257), size_t(32) * 50257}) {
    const std::string what = fmt("host alloc_host %zu floats, download into it", floats);
    std::vector<float> src = randn(c, floats);
    DevBuf d(c.be, floats * 4);
    void* h = nullptr;
    if (!check_status(c.be.alloc_host(floats * 4, &h), what)) continue;
    const bool ok = upload(c, d.as<void>(), src.data(), floats * 4, what) &&
                    download(c, h, d.as<void>(), floats * 4, what) &&
                    std::memcmp(h, src.data(), floats * 4) == 0 && (reinterpret_cast<uintptr_t>(h) & 63u) == 0;
    report(ok, what, "");
    c.be.release_host(h);
  }
  void* p = reinterpret_cast<void*>(1);
  const int st = gn_cuda_host_alloc(&p, size_t(1) << 62);
  report(st != GN_CUDA_OK && p == nullptr, "host gn_cuda_host_alloc of 4 EiB fails cleanly", gn_cuda_status_name(st));
}

// Backend::upload_staged, the path every decode step's inputs take: uploads through the page-locked
// staging block, queued behind the stream, the block reused only after the stream has drained. Many
// small uploads from one reused host buffer (the block fills and is waited for several times), the block
// grown while copies from it are queued, odd sizes, and a zero-byte download between two staged uploads
// (it waits for nothing, so it must not free the block): the device must hold every last write.
void test_staged_uploads(Ctx& c) {
  const size_t kBytes = size_t(1) << 20;
  DevBuf d(c.be, kBytes);
  std::vector<uint8_t> h(kBytes), back(kBytes);
  uint8_t* dev = d.as<uint8_t>();
  bool ok = true;
  for (int i = 0; i < 5000 && ok; ++i) {
    std::memset(h.data(), i & 255, 100);
    ok = check_status(c.be.upload_staged(dev + (i % 100) * 100, h.data(), 100), "staged upload");
  }
  ok = ok && check_status(c.be.synchronize(), "staged uploads") && download(c, back.data(), dev, 10000, "staged");
  int slots = 0;
  for (int slot = 0; ok && slot < 100; ++slot)
    slots += back[slot * 100] == ((4900 + slot) & 255) && back[slot * 100 + 99] == ((4900 + slot) & 255);
  report(ok && slots == 100, "staging: 5000 small uploads through the block, each slot holds its last write",
         fmt("%d of 100 slots", slots));

  // Growth while copies are queued: 64 B, then larger than the block, larger again, then 10 B.
  const size_t sizes[] = {64, 100000, 300000, 10};
  ok = true;
  for (int k = 0; k < 4 && ok; ++k) {
    std::memset(h.data(), k + 1, sizes[k]);
    ok = check_status(c.be.upload_staged(dev, h.data(), sizes[k]), "staged upload (growth)");
  }
  ok = ok && check_status(c.be.synchronize(), "staged uploads (growth)") && download(c, back.data(), dev, 300000, "staged");
  report(ok && back[0] == 4 && back[9] == 4 && back[10] == 3 && back[299999] == 3,
         "staging: the block grown while copies from it are queued; the device holds the writes in order", "");

  // Odd sizes, each to its own place, checked after one wait.
  ok = true;
  size_t at = 0;
  std::vector<uint8_t> want(kBytes, 0);
  for (int i = 0; i < 300 && ok; ++i) {
    const size_t n = 1 + (static_cast<size_t>(i) * 7919) % 3000;
    if (at + n > kBytes) break;
    for (size_t j = 0; j < n; ++j) h[j] = want[at + j] = static_cast<uint8_t>(i * 31 + j);
    ok = check_status(c.be.upload_staged(dev + at, h.data(), n), "staged upload (odd sizes)");
    at += n;
  }
  ok = ok && check_status(c.be.synchronize(), "staged uploads (odd sizes)") && download(c, back.data(), dev, at, "staged");
  report(ok && std::memcmp(back.data(), want.data(), at) == 0, "staging: odd sizes, packed end to end",
         fmt("%zu bytes", at));

  // A zero-byte download waits for nothing: the next staged upload must not reuse the first one's bytes.
  std::vector<uint8_t> first(256, 0x11), second(256, 0x22), none(1);
  ok = check_status(c.be.upload_staged(dev, first.data(), 256), "staged upload") &&
       check_status(c.be.download(none.data(), dev, 0), "zero-byte download") &&
       check_status(c.be.upload_staged(dev + 256, second.data(), 256), "staged upload") &&
       check_status(c.be.synchronize(), "staged uploads") && download(c, back.data(), dev, 512, "staged");
  report(ok && back[0] == 0x11 && back[255] == 0x11 && back[256] == 0x22 && back[511] == 0x22,
         "staging: a zero-byte download between staged uploads frees nothing", "");
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  unsigned seed = 1234;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) seed = (unsigned)std::strtoul(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--quick] [--seed N] [--only GROUP]\n", argv[0]);
      return 2;
    }
  }
  std::string why;
  if (cuda_device_count(&why) == 0) {
    std::printf("SKIP: %s\n", why.c_str());
    return 0;
  }
  std::unique_ptr<Backend> be;
  Status st = create_cuda_backend(0, &be);
  if (st.code() == ErrorCode::kUnsupported) {
    std::printf("SKIP: %s\n", st.message().c_str());
    return 0;
  }
  if (!st.ok()) {
    std::printf("FAIL create_cuda_backend: %s\n0 passed, 1 failed\n", st.message().c_str());
    return 1;
  }
  std::printf("device: %s  seed=%u%s\n", be->name().c_str(), seed, quick ? "  (quick)" : "");
  {
    std::unique_ptr<Backend> bad;
    Status s2 = create_cuda_backend(cuda_device_count(nullptr), &bad);
    report(s2.code() == ErrorCode::kInvalidArgument && !bad, "create_cuda_backend(out-of-range index) is InvalidArgument",
           s2.message());
    CudaDeviceInfo info;
    Status s3 = cuda_device_info(0, &info);
    report(s3.ok() && info.usable && info.total_memory > 0 && info.major >= 8 && !info.name.empty(),
           "cuda_device_info(0)", fmt("%s cc %d.%d, %.1f GiB", info.name.c_str(), info.major, info.minor,
                                      info.total_memory / 1073741824.0));
  }
  Ctx c{*be, std::mt19937(seed), quick};
  const std::pair<const char*, void (*)(Ctx&)> groups[] = {
      {"gemm", test_gemm},       {"gemm_few", test_gemm_few}, {"linear", test_backend_linear}, {"layernorm", test_layernorm},
      {"embed", test_embed},     {"gather", test_gather_argmax},  {"pool", test_segment_mean},
      {"attention", test_attention}, {"graph", test_graph}, {"layernorm_gemv", test_layernorm_gemv},
      {"gemv_stream", test_gemv_stream_chain}, {"candidates", test_select_candidates}, {"host", test_host_memory},
      {"staging", test_staged_uploads}, {"status", test_status_messages},
      {"attention_tc_emulation", test_attention_tc_emulation}, {"x16", test_x16_activations},
      {"decode_layer", test_decode_layer},       {"decode_layer_streams", test_decode_layer_streams},
      {"draw", test_draw_rows}};  // (last: a kernel not yet run on a GPU cannot poison the groups before it)
  bool ran = false;
  for (const auto& g : groups) {
    // gemm_few repeats a few of gemm's cases, decode_layer_streams may hang a GPU until its trap: only
    // when asked for.
    const bool by_name_only = !std::strcmp(g.first, "gemm_few") || !std::strcmp(g.first, "decode_layer_streams");
    if (only.empty() ? by_name_only : only != g.first) continue;
    g.second(c);
    ran = true;
  }
  if (!ran) {
    std::fprintf(stderr, "unknown --only group '%s'\n", only.c_str());
    return 2;
  }
  st = be->synchronize();
  report(st.ok(), "final synchronize (no asynchronous kernel fault)", st.message());
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
