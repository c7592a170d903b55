// GEMM entry points: argument checks and select_kernel(), used both for dispatch and by
// callers that want to know (tests, the backend's load-time report) which path a shape takes.
#include <climits>
#include <cstdlib>
#include <cstring>

#include "cuda/gemm_traits.cuh"

using namespace gncuda;

namespace {

// The Hopper kernel select_kernel() may pick for prompt-sized GEMMs: by default the shared-operand
// wgmma kernel (verified and measured on an H200: 1.07-1.97x the mma.sync kernel, bench/RESULTS.md
// run 4); GPTNEO_CUDA_WGMMA=tma the copy-engine-fed one, =persistent the same with a block per SM,
// =cluster persistent pairs of blocks sharing W tiles (all three experimental until a GPU run has
// verified them), =0 none (mma.sync tiles). gn_cuda_gemm_with forces any of them anyway. Read once;
// -1 for none.
int wgmma_choice() {
  static const int kernel = [] {
    const char* v = std::getenv("GPTNEO_CUDA_WGMMA");
    if (v != nullptr && std::strcmp(v, "0") == 0) return -1;
    if (v != nullptr && std::strcmp(v, "tma") == 0) return static_cast<int>(GN_GEMM_WGMMA_TMA);
    if (v != nullptr && std::strcmp(v, "persistent") == 0) return static_cast<int>(GN_GEMM_WGMMA_TMA_PERSISTENT);
    if (v != nullptr && std::strcmp(v, "cluster") == 0) return static_cast<int>(GN_GEMM_WGMMA_TMA_CLUSTER);
    return static_cast<int>(GN_GEMM_WGMMA_SS);
  }();
  return kernel;
}
// The kernel the device can run of that choice (the TMA ones fall back to the shared-operand one
// where the driver has no tensor-map encoder), or -1.
int wgmma_kernel() {
  if (wgmma_choice() < 0 || !wgmma_image_loaded()) return -1;
  return wgmma_choice() != GN_GEMM_WGMMA_SS && !wgmma_tma_available() ? GN_GEMM_WGMMA_SS : wgmma_choice();
}

// GPTNEO_CUDA_DECODE_TC=cluster: decode-sized GEMMs of bf16/f16 weights that would take the decode
// tensor-core kernel, and those of narrow layers from DecodeTcTraits::kFromM rows that would take the
// GEMV, take the clustered decode kernel instead (GN_GEMM_DECODE_TC_CLUSTER; opt-in until a GPU run has
// verified and timed it), where the device launches clusters. Read once.
bool decode_tc_cluster_chosen() {
  static const bool chosen = [] {
    const char* v = std::getenv("GPTNEO_CUDA_DECODE_TC");
    return v != nullptr && std::strcmp(v, "cluster") == 0;
  }();
  return chosen && decode_tc_cluster_available();
}

// Decode-sized m streams W with the GEMV kernel (bf16/f16 weights of wide layers, n >= 2k: only
// m < DecodeTcTraits::kFromM). For more rows (m <= kMaxSlicedM) the tile kernels' grid (n/BN x m/BM blocks) can be smaller
// than the GPU: then bf16/f16 weights are streamed once by the decode tensor-core kernel, fp32
// weights by GEMV slices of 8 rows (each re-reading W), either beating a handful of busy SMs.
int select_kernel(int m, int n, int k, int w_dtype, const float* x, int ldx, const void* w) {
  const bool gemv_ok = k % 8 == 0 && aligned16(w);
  const bool half_w = w_dtype != GN_DTYPE_F32;
  const bool tc_ok = half_w && k % 8 == 0 && ldx % 4 == 0 && aligned16(x) && aligned16(w);
  const bool wide = (long long)n >= 2LL * k;
  const bool cluster = half_w && decode_tc_cluster_chosen();
  if (m <= GemvTraits::kMaxM && gemv_ok && (!half_w || !wide || m < DecodeTcTraits::kFromM))
    return cluster && m >= DecodeTcTraits::kFromM ? GN_GEMM_DECODE_TC_CLUSTER : GN_GEMM_GEMV;
  const long long tile_blocks = tc_ok ? (long long)ceil_div(n, TcTraits::kBN) * ceil_div(m, TcTraits::kBM)
                                      : (long long)ceil_div(n, SimtTraits::kBN) * ceil_div(m, SimtTraits::kBM);
  const int sms = multiprocessors();
  if (m <= GemvTraits::kMaxSlicedM && gemv_ok && tile_blocks < sms)
    return !half_w || m > DecodeTcTraits::kMaxM ? GN_GEMM_GEMV : cluster ? GN_GEMM_DECODE_TC_CLUSTER : GN_GEMM_DECODE_TC;
  if (!tc_ok) return m <= GemvTraits::kMaxM && gemv_ok ? GN_GEMM_GEMV : GN_GEMM_SIMT;  // (x unaligned)
  // wgmma blocks are 128 x 128 or 128 x 256: below half an SM's worth of 128 x 128 blocks the 64 x 64
  // mma.sync tiles keep more SMs busy.
  if (2 * tile_blocks >= sms && wgmma_kernel() >= 0) return wgmma_kernel();
  return tile_blocks < sms ? GN_GEMM_TENSOR_CORE_64 : GN_GEMM_TENSOR_CORE;
}

bool can_run(int kernel, const GemmArgs& a) {
  switch (kernel) {
    case GN_GEMM_GEMV: return a.m <= GemvTraits::kMaxSlicedM && a.k % 8 == 0 && aligned16(a.w);
    case GN_GEMM_TENSOR_CORE:
    case GN_GEMM_TENSOR_CORE_64:
      return a.w_dtype != GN_DTYPE_F32 && a.k % 8 == 0 && a.ldx % 4 == 0 && aligned16(a.x) && aligned16(a.w);
    case GN_GEMM_SIMT: return true;
    case GN_GEMM_DECODE_TC:
      return a.w_dtype != GN_DTYPE_F32 && a.m <= DecodeTcTraits::kMaxM && a.k % 8 == 0 && aligned16(a.w);
    case GN_GEMM_DECODE_TC_CLUSTER:  // the unsplit kernel's shapes (column blocks are gridDim.x), in clusters
      return can_run(GN_GEMM_DECODE_TC, a) && decode_tc_cluster_available();
    case GN_GEMM_WGMMA_SS:
      return a.w_dtype != GN_DTYPE_F32 && a.k % 8 == 0 && a.ldx % 4 == 0 && aligned16(a.x) && aligned16(a.w) &&
             ceil_div(a.n, 128) <= 65535 && wgmma_image_loaded();  // n tiles are gridDim.y
    case GN_GEMM_WGMMA_TMA:
    case GN_GEMM_WGMMA_TMA_PERSISTENT:
    case GN_GEMM_WGMMA_TMA_CLUSTER:  // (output tiles numbered in an int, gridDim.x)
      return a.w_dtype != GN_DTYPE_F32 && a.k % 8 == 0 && a.ldx % 4 == 0 && aligned16(a.x) && aligned16(a.w) &&
             (long long)ceil_div(a.m, 128) * ceil_div(a.n, 128) <= INT_MAX && wgmma_tma_available();
    case GN_GEMM_GEMV_STREAM: return gemv_stream_serves(a.m, a.k, a.w_dtype) && aligned16(a.w);
  }
  return false;
}

// Launches `kernel` (can_run checked by the caller).
int run_kernel(int kernel, const GemmArgs& a, cudaStream_t s) {
  switch (kernel) {
    case GN_GEMM_GEMV: return launch_gemm_gemv(a, s);
    case GN_GEMM_TENSOR_CORE: return launch_gemm_tc(a, false, s);
    case GN_GEMM_TENSOR_CORE_64: return launch_gemm_tc(a, true, s);
    case GN_GEMM_DECODE_TC: return launch_gemm_decode_tc(a, s);
    case GN_GEMM_DECODE_TC_CLUSTER: return launch_gemm_decode_tc_cluster(a, s);
    case GN_GEMM_WGMMA_SS: return launch_gemm_wgmma_ss(a, s);
    case GN_GEMM_WGMMA_TMA:
    case GN_GEMM_WGMMA_TMA_PERSISTENT:
    case GN_GEMM_WGMMA_TMA_CLUSTER: return launch_gemm_wgmma_tma(a, kernel, s);
    case GN_GEMM_GEMV_STREAM: return launch_gemm_gemv_stream(a, s);
    default: return launch_gemm_simt(a, s);
  }
}

}  // namespace

extern "C" int gn_cuda_gemm_wgmma_enabled(void) {
  const int kernel = wgmma_kernel();
  return kernel == GN_GEMM_WGMMA_SS                ? 1
         : kernel == GN_GEMM_WGMMA_TMA            ? 2
         : kernel == GN_GEMM_WGMMA_TMA_PERSISTENT ? 3
         : kernel == GN_GEMM_WGMMA_TMA_CLUSTER    ? 4
                                                  : 0;
}

extern "C" int gn_cuda_gemm_decode_tc_cluster_enabled(void) { return decode_tc_cluster_chosen() ? 1 : 0; }

extern "C" int gn_cuda_gemm_select(int m, int n, int k, int w_dtype, const float* d_x, int ldx, const void* d_w) {
  return select_kernel(m, n, k, w_dtype, d_x, ldx, d_w);
}

extern "C" const char* gn_cuda_gemm_kernel_name(int kernel) {
  switch (kernel) {
    case GN_GEMM_GEMV: return "gemv";
    case GN_GEMM_TENSOR_CORE: return "tensor-core";
    case GN_GEMM_SIMT: return "simt";
    case GN_GEMM_TENSOR_CORE_64: return "tensor-core-64";
    case GN_GEMM_DECODE_TC: return "decode-tc";
    case GN_GEMM_GEMV_STREAM: return "gemv-stream";
    case GN_GEMM_WGMMA_SS: return "wgmma-ss";
    case GN_GEMM_WGMMA_TMA: return "wgmma-tma";
    case GN_GEMM_WGMMA_TMA_PERSISTENT: return "wgmma-tma-persistent";
    case GN_GEMM_WGMMA_TMA_CLUSTER: return "wgmma-tma-cluster";
    case GN_GEMM_DECODE_TC_CLUSTER: return "decode-tc-cluster";
  }
  return "unknown";
}

extern "C" int gn_cuda_gemm_with(int kernel, const float* d_x, int m, int ldx, const void* d_w, int w_dtype,
                                 int n, int k, const float* d_bias, float* d_y, int ldy, int epilogue,
                                 void* stream) {
  GN_CUDA_REQUIRE(m >= 0 && n >= 0 && k >= 0 && valid_dtype(w_dtype), GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(epilogue >= GN_EPILOGUE_STORE && epilogue <= GN_EPILOGUE_ACCUMULATE, GN_CUDA_EINVAL);
  if (m == 0 || n == 0) return GN_CUDA_OK;
  GN_CUDA_REQUIRE(k > 0 && ldx >= k && ldy >= n && d_x && d_w && d_y, GN_CUDA_EINVAL);
  GemmArgs a{d_x, m, ldx, d_w, w_dtype, n, k, d_bias, d_y, ldy, epilogue};
  GN_CUDA_REQUIRE(can_run(kernel, a), GN_CUDA_EUNSUPPORTED);
  return run_kernel(kernel, a, as_stream(stream));
}

extern "C" int gn_cuda_gemm_x16(int kernel, const void* d_x, int x_dtype, int m, int ldx, const void* d_w, int w_dtype,
                                int n, int k, const float* d_bias, void* d_y, int y_dtype, int ldy, int epilogue,
                                void* stream) {
  GN_CUDA_REQUIRE(m >= 0 && n >= 0 && k >= 0 && (w_dtype == GN_DTYPE_BF16 || w_dtype == GN_DTYPE_F16), GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE((x_dtype == GN_DTYPE_F32 || x_dtype == w_dtype) && (y_dtype == GN_DTYPE_F32 || y_dtype == w_dtype),
                  GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(epilogue >= GN_EPILOGUE_STORE && epilogue <= GN_EPILOGUE_ACCUMULATE, GN_CUDA_EINVAL);
  // (a 16-bit y holds the epilogue's result only: nothing to accumulate into)
  GN_CUDA_REQUIRE(y_dtype == GN_DTYPE_F32 || epilogue != GN_EPILOGUE_ACCUMULATE, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(gn_cuda_gemm_is_wgmma(kernel), GN_CUDA_EUNSUPPORTED);
  if (m == 0 || n == 0) return GN_CUDA_OK;
  // (a 16-bit x is dense, as the rounding pass would have written it)
  GN_CUDA_REQUIRE(k > 0 && ldx >= k && ldy >= n && d_x && d_w && d_y && (x_dtype == GN_DTYPE_F32 || ldx == k),
                  GN_CUDA_EINVAL);
  const bool x16 = x_dtype != GN_DTYPE_F32, y16 = y_dtype != GN_DTYPE_F32;
  // can_run's requirements on x (a row stride of 4 floats, 16-byte aligned) are checked on the address
  // given: a dense 16-bit x with k % 8 == 0 and a 16-byte aligned base meets what the kernels read.
  GemmArgs a{static_cast<const float*>(d_x), m, ldx, d_w, w_dtype, n, k, d_bias,
             y16 ? nullptr : static_cast<float*>(d_y), ldy, epilogue};
  GN_CUDA_REQUIRE(can_run(kernel, a), GN_CUDA_EUNSUPPORTED);
  if (x16) a.x = nullptr, a.x16 = d_x;
  if (y16) a.y16 = d_y;
  return run_kernel(kernel, a, as_stream(stream));
}

extern "C" int gn_cuda_gemm(const float* d_x, int m, int ldx, const void* d_w, int w_dtype, int n, int k,
                            const float* d_bias, float* d_y, int ldy, int epilogue, void* stream) {
  return gn_cuda_gemm_with(select_kernel(m, n, k, w_dtype, d_x, ldx, d_w), d_x, m, ldx, d_w, w_dtype, n, k,
                           d_bias, d_y, ldy, epilogue, stream);
}

extern "C" int gn_cuda_layernorm_gemv_supported(int m, int n, int k, int w_dtype, const void* d_w) {
  return m >= 1 && n >= 1 && valid_dtype(w_dtype) && k % 8 == 0 && aligned16(d_w) && gemv_can_layernorm(m, k);
}

extern "C" int gn_cuda_layernorm_gemv(const float* d_x, int m, int ldx, const float* d_gamma, const float* d_beta,
                                      float eps, const void* d_w, int w_dtype, int n, int k, const float* d_bias,
                                      float* d_y, int ldy, int epilogue, void* stream) {
  GN_CUDA_REQUIRE(m >= 0 && n >= 0 && k > 0 && valid_dtype(w_dtype) && eps >= 0.f, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(epilogue >= GN_EPILOGUE_STORE && epilogue <= GN_EPILOGUE_ACCUMULATE, GN_CUDA_EINVAL);
  if (m == 0 || n == 0) return GN_CUDA_OK;
  GN_CUDA_REQUIRE(ldx >= k && ldy >= n && d_x && d_w && d_y && d_gamma && d_beta, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(gn_cuda_layernorm_gemv_supported(m, n, k, w_dtype, d_w), GN_CUDA_EUNSUPPORTED);
  GemmArgs a{d_x, m, ldx, d_w, w_dtype, n, k, d_bias, d_y, ldy, epilogue, d_gamma, d_beta, eps};
  return launch_gemm_gemv(a, as_stream(stream));
}

extern "C" int gn_cuda_gemv_stream_supported(int m, int n, int k, int w_dtype, const void* d_w) {
  return n >= 1 && aligned16(d_w) && gemv_stream_serves(m, k, w_dtype);
}

extern "C" int gn_cuda_gemv_stream(const float* d_x, int m, int ldx, const float* d_gamma, const float* d_beta,
                                   float eps, const void* d_w, int w_dtype, int n, int k, const float* d_bias,
                                   float* d_y, int ldy, int epilogue, void* stream) {
  GN_CUDA_REQUIRE(m >= 0 && n >= 0 && k > 0 && valid_dtype(w_dtype) && eps >= 0.f, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(epilogue >= GN_EPILOGUE_STORE && epilogue <= GN_EPILOGUE_ACCUMULATE, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE((d_gamma == nullptr) == (d_beta == nullptr), GN_CUDA_EINVAL);
  if (m == 0 || n == 0) return GN_CUDA_OK;
  GN_CUDA_REQUIRE(ldx >= k && ldy >= n && d_x && d_w && d_y, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(gn_cuda_gemv_stream_supported(m, n, k, w_dtype, d_w), GN_CUDA_EUNSUPPORTED);
  GemmArgs a{d_x, m, ldx, d_w, w_dtype, n, k, d_bias, d_y, ldy, epilogue, d_gamma, d_beta, eps};
  return launch_gemm_gemv_stream(a, as_stream(stream));
}
