// A host-memory stand-in for the CUDA C API (cuda/api.h), for machines without a GPU: linked
// with test_cuda_ops.cpp and model/cuda_backend.cpp instead of the .cu files, it lets the test
// harness and the CudaBackend glue run end to end (scripts/cuda-compile-check.sh does this).
// It checks the harness and the glue, never the kernels: each op here is a plain loop that
// mimics the precision of the kernel path (x rounded to the weight dtype on the tensor-core path).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "core/dtype.h"
#include "cpu/device_draw.h"
#include "cpu/ref/ref.h"
#include "cuda/api.h"
#include "cuda/env_switch.h"
#include "cuda/pooling_api.h"

using namespace gptneo;

namespace {

float load(const void* p, int dt, size_t i) { return load_as_f32(p, static_cast<DType>(dt), i); }
void store(void* p, int dt, size_t i, float v) {
  if (dt == GN_DTYPE_F32) static_cast<float*>(p)[i] = v;
  else if (dt == GN_DTYPE_BF16) static_cast<uint16_t*>(p)[i] = f32_to_bf16(v);
  else static_cast<uint16_t*>(p)[i] = f32_to_f16(v);
}
// gelu_new as common.cuh evaluates it: x · 1 / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x³).
float gelu(float x) { return x * (1.f / (1.f + std::exp(-2.f * 0.7978845608028654f * (x + 0.044715f * x * x * x)))); }
bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }
int ceil_div(int a, int b) { return (a + b - 1) / b; }
constexpr int kSms = 132;

// One row of layer norm (two fp32 passes, as the kernels): out[i] = (x[i] - mean) * rstd * g[i] + b[i].
void layernorm_row(const float* x, int dim, const float* g, const float* b, float eps, float* out) {
  float mean = 0.f, var = 0.f;
  for (int i = 0; i < dim; ++i) mean += x[i];
  mean /= dim;
  for (int i = 0; i < dim; ++i) var += (x[i] - mean) * (x[i] - mean);
  const float rstd = 1.f / std::sqrt(var / dim + eps);
  for (int i = 0; i < dim; ++i) out[i] = (x[i] - mean) * rstd * g[i] + b[i];
}

// One output row of a GEMM: y[j] = epilogue(x · W[j]ᵀ + bias[j]) for j < n; round_x rounds x to the
// weight dtype first (the tensor-core paths).
void gemm_row(const float* x, const void* w, int wdt, int n, int k, const float* bias, float* y, int ep, bool round_x) {
  for (int j = 0; j < n; ++j) {
    float acc = 0.f;
    for (int kk = 0; kk < k; ++kk) {
      float xv = x[kk];
      if (round_x) xv = wdt == GN_DTYPE_BF16 ? bf16_to_f32(f32_to_bf16(xv)) : f16_to_f32(f32_to_f16(xv));
      acc += xv * load(w, wdt, (size_t)j * k + kk);
    }
    const float v = acc + (bias ? bias[j] : 0.f);
    y[j] = ep == GN_EPILOGUE_GELU_NEW ? gelu(v) : ep == GN_EPILOGUE_ACCUMULATE ? y[j] + v : v;
  }
}

// CUDA graph stand-in: while a capture is open, every op that enqueues device work (kernels,
// memset, device-to-device copies) queues it here instead of running it, as stream capture
// does; a "graph" replays the queue. Scalars and the batch struct are copied when recorded;
// device buffers are read when the op runs (at replay), as on a GPU.
using MockOps = std::vector<std::function<void()>>;
MockOps* g_recording = nullptr;
int run_or_record(std::function<void()> op) {
  if (g_recording) g_recording->push_back(std::move(op));
  else op();
  return 0;
}

// Asynchronous copies queued per stream until it is synchronised (gn_cuda_upload_async below).
struct AsyncCopy {
  void* host;
  std::vector<uint8_t> bytes;  // an upload: what was copied; a download: what lands at the sync
  bool upload;
};
std::map<void*, std::vector<AsyncCopy>> g_async;
std::mutex g_async_mutex;  // (streams may be driven from several threads)
constexpr int kAsyncSourceChanged = 901;
int finish_async_copies(void* stream) {
  std::lock_guard<std::mutex> lock(g_async_mutex);
  auto it = g_async.find(stream);
  if (it == g_async.end()) return 0;
  int status = 0;
  for (const AsyncCopy& c : it->second) {
    if (!c.upload) std::memcpy(c.host, c.bytes.data(), c.bytes.size());
    else if (std::memcmp(c.host, c.bytes.data(), c.bytes.size()) != 0) status = kAsyncSourceChanged;
  }
  g_async.erase(it);
  return status;
}

}  // namespace

extern "C" {

const char* gn_cuda_status_string(int s) {
  return s == 0 ? "no error"
         : s < 0 ? "mock: unsupported/invalid"
         : s == kAsyncSourceChanged ? "mock: the host changed an asynchronous upload's source before the stream was synchronised"
                                    : "mock error";
}
const char* gn_cuda_status_name(int s) {
  return s == 0 ? "cudaSuccess" : s == GN_CUDA_EINVAL ? "GN_CUDA_EINVAL" : s == GN_CUDA_EUNSUPPORTED ? "GN_CUDA_EUNSUPPORTED" : "mock";
}
int gn_cuda_device_count(int* n) { *n = 1; return 0; }
int gn_cuda_device_info_get(int device, gn_cuda_device_info* info) {
  if (device != 0) return 101;  // cudaErrorInvalidDevice
  std::memset(info, 0, sizeof *info);
  std::strcpy(info->name, "mock GPU (host memory)");
  info->total_memory = 80ull << 30;
  info->major = 9;
  info->multiprocessors = kSms;
  return 0;
}
int gn_cuda_driver_version(int* v) { *v = 13000; return 0; }
int gn_cuda_runtime_version(int* v) { *v = 13000; return 0; }
int gn_cuda_min_capability(void) { return 80; }
int gn_cuda_set_device(int) { return 0; }
// What CUDA reports when a synchronizing call is made on the capturing thread (the capture is
// invalidated there; here the mock only refuses the call).
constexpr int kCaptureViolation = 900;  // cudaErrorStreamCaptureUnsupported
int gn_cuda_malloc(void** p, size_t bytes) {
  if (g_recording) return kCaptureViolation;
  *p = std::aligned_alloc(256, ((bytes ? bytes : 1) + 255) / 256 * 256);
  return *p ? 0 : 2;
}
int gn_cuda_free(void* p) {
  if (g_recording) return kCaptureViolation;
  std::free(p);
  return 0;
}
int gn_cuda_host_alloc(void** p, size_t bytes) {
  if (g_recording) return kCaptureViolation;
  *p = bytes > (1ull << 40) ? nullptr : std::aligned_alloc(256, ((bytes ? bytes : 1) + 255) / 256 * 256);
  return *p ? 0 : 2;  // (cudaErrorMemoryAllocation)
}
int gn_cuda_host_free(void* p) {
  if (g_recording) return kCaptureViolation;
  std::free(p);
  return 0;
}
int gn_cuda_mem_info(size_t* f, size_t* t) { *f = *t = 80ull << 30; return 0; }
// Each stream is a distinct token (its programmatic-launch mark is per stream).
struct MockStream {
  bool programmatic = false;
  bool l2_prefetch = false;
};
int gn_cuda_stream_create(void** s) {
  *s = new MockStream;
  return 0;
}
int gn_cuda_stream_destroy(void* s) {
  {
    std::lock_guard<std::mutex> lock(g_async_mutex);
    g_async.erase(s);
  }
  delete static_cast<MockStream*>(s);
  return 0;
}
// The mock reports compute capability 9.0, so a marked stream is a programmatic one (ordering itself is
// a GPU matter: the host runs everything in order).
int gn_cuda_stream_set_programmatic_launch(void* s, int on) {
  if (s == nullptr) return GN_CUDA_EINVAL;
  static_cast<MockStream*>(s)->programmatic = on != 0;
  return 0;
}
int gn_cuda_stream_programmatic_launch(void* s) { return s && static_cast<MockStream*>(s)->programmatic ? 1 : 0; }
// The L2 weight prefetch is a hint the mock's results do not depend on; the mark is kept for the switches.
int gn_cuda_stream_set_l2_prefetch(void* s, int on) {
  if (s == nullptr) return GN_CUDA_EINVAL;
  static_cast<MockStream*>(s)->l2_prefetch = on != 0;
  return 0;
}
int gn_cuda_stream_l2_prefetch(void* s) { return s && static_cast<MockStream*>(s)->l2_prefetch ? 1 : 0; }
int gn_cuda_stream_synchronize(void* s) { return g_recording ? kCaptureViolation : finish_async_copies(s); }
// (As runtime.cu: zero bytes return at once, without waiting for the stream.)
int gn_cuda_upload(void* d, const void* h, size_t n, void* s) {
  if (g_recording) return kCaptureViolation;
  if (n == 0) return 0;
  if (const int st = finish_async_copies(s)) return st;
  std::memcpy(d, h, n);
  return 0;
}
int gn_cuda_download(void* h, const void* d, size_t n, void* s) {
  if (g_recording) return kCaptureViolation;
  if (n == 0) return 0;
  if (const int st = finish_async_copies(s)) return st;
  std::memcpy(h, d, n);
  return 0;
}
// Asynchronous copies as a GPU orders them against the mock's kernels, which run at once: an upload
// lands at once; a download takes the device bytes at once but writes the host memory only when the
// stream is synchronised (until then it holds 0xFF bytes: NaN floats, -1 words), so that a host which
// reads an answer early sees garbage, and a host which changes an upload's source before then makes
// the synchronisation fail with kAsyncSourceChanged.
int gn_cuda_upload_async(void* d, const void* h, size_t n, void* s) {
  if (g_recording) return kCaptureViolation;
  if (n == 0) return 0;
  if (d == nullptr || h == nullptr) return GN_CUDA_EINVAL;
  std::memcpy(d, h, n);
  const uint8_t* src = static_cast<const uint8_t*>(h);
  std::lock_guard<std::mutex> lock(g_async_mutex);
  g_async[s].push_back({const_cast<void*>(h), std::vector<uint8_t>(src, src + n), true});
  return 0;
}
int gn_cuda_download_async(void* h, const void* d, size_t n, void* s) {
  if (g_recording) return kCaptureViolation;
  if (n == 0) return 0;
  if (d == nullptr || h == nullptr) return GN_CUDA_EINVAL;
  const uint8_t* src = static_cast<const uint8_t*>(d);
  std::lock_guard<std::mutex> lock(g_async_mutex);
  g_async[s].push_back({h, std::vector<uint8_t>(src, src + n), false});
  std::memset(h, 0xFF, n);
  return 0;
}
int gn_cuda_copy_d2d(void* d, const void* s, size_t n, void*) {
  return run_or_record([=] { if (n) std::memcpy(d, s, n); });
}
int gn_cuda_memset(void* d, int v, size_t n, void*) {
  return run_or_record([=] { if (n) std::memset(d, v, n); });
}
int gn_cuda_fill_nan_f32(float* d, size_t n, void* s) { return gn_cuda_memset(d, 0xFF, n * 4, s); }

int gn_cuda_convert(const void* src, int sdt, void* dst, int ddt, size_t n, void*) {
  return run_or_record([=] {
  for (size_t i = 0; i < n; ++i) store(dst, ddt, i, load(src, sdt, i));
  });
}

// As gemm.cu: the shared-operand kernel unless GPTNEO_CUDA_WGMMA=0 (none), =tma (the TMA-fed one),
// =persistent (the same, a block per SM) or =cluster (persistent pairs; the mock is a compute
// capability 9.0 device with the sm_90a image and a tensor-map encoder).
int gn_cuda_gemm_wgmma_enabled(void) {
  const char* v = std::getenv("GPTNEO_CUDA_WGMMA");
  return v && std::strcmp(v, "0") == 0            ? 0
         : v && std::strcmp(v, "tma") == 0        ? 2
         : v && std::strcmp(v, "persistent") == 0 ? 3
         : v && std::strcmp(v, "cluster") == 0    ? 4
                                                  : 1;
}
// GPTNEO_CUDA_DECODE_TC=cluster: the clustered decode GEMM (the mock is a compute capability 9.0 device).
int gn_cuda_gemm_decode_tc_cluster_enabled(void) {
  const char* v = std::getenv("GPTNEO_CUDA_DECODE_TC");
  return v && std::strcmp(v, "cluster") == 0 ? 1 : 0;
}
int gn_cuda_gemm_select(int m, int n, int k, int wdt, const float* x, int ldx, const void* w) {
  // Same rule as gemm.cu: bf16/f16 weights of wide layers leave the GEMV from 3 rows (DecodeTcTraits::kFromM);
  // with the clustered decode GEMM on, narrow layers' too, and it takes the decode tensor-core kernel's shapes.
  const bool gemv_ok = k % 8 == 0 && aligned16(w);
  const bool half_w = wdt != GN_DTYPE_F32, wide = (long long)n >= 2LL * k;
  const bool tc_ok = half_w && k % 8 == 0 && ldx % 4 == 0 && aligned16(x) && aligned16(w);
  const bool cluster = half_w && gn_cuda_gemm_decode_tc_cluster_enabled();
  if (m <= 8 && gemv_ok && (!half_w || !wide || m < 3)) return cluster && m >= 3 ? GN_GEMM_DECODE_TC_CLUSTER : GN_GEMM_GEMV;
  const long long blocks = tc_ok ? (long long)ceil_div(n, 128) * ceil_div(m, 128) : (long long)ceil_div(n, 64) * ceil_div(m, 64);
  if (m <= 64 && gemv_ok && blocks < kSms)
    return !half_w ? GN_GEMM_GEMV : cluster ? GN_GEMM_DECODE_TC_CLUSTER : GN_GEMM_DECODE_TC;
  if (!tc_ok) return m <= 8 && gemv_ok ? GN_GEMM_GEMV : GN_GEMM_SIMT;
  const int wgmma = gn_cuda_gemm_wgmma_enabled();
  if (wgmma && 2 * blocks >= kSms)
    return wgmma == 4   ? GN_GEMM_WGMMA_TMA_CLUSTER
           : wgmma == 3 ? GN_GEMM_WGMMA_TMA_PERSISTENT
           : wgmma == 2 ? GN_GEMM_WGMMA_TMA
                        : GN_GEMM_WGMMA_SS;
  return blocks < kSms ? GN_GEMM_TENSOR_CORE_64 : GN_GEMM_TENSOR_CORE;
}
const char* gn_cuda_gemm_kernel_name(int k) {
  return k == 0 ? "gemv" : k == 1 ? "tensor-core" : k == 2 ? "simt" : k == 3 ? "tensor-core-64" : k == 4 ? "decode-tc"
         : k == 6 ? "gemv-stream" : k == 7 ? "wgmma-ss" : k == 8 ? "wgmma-tma" : k == 9 ? "wgmma-tma-persistent"
         : k == 10                                                           ? "wgmma-tma-cluster"
         : k == 11                                                           ? "decode-tc-cluster"
                                                                             : "unknown";
}

// The mock reports compute capability 9.0, so it serves GN_GEMM_WGMMA_SS/_TMA(_PERSISTENT/_CLUSTER) as a Hopper device with the
// sm_90a image would: the tensor-core requirements and numerics (x rounded to the weight dtype).
int gn_cuda_gemm_with(int kernel, const float* x, int m, int ldx, const void* w, int wdt, int n, int k, const float* bias,
                      float* y, int ldy, int ep, void*) {
  if (m == 0 || n == 0) return 0;
  bool ok = kernel == GN_GEMM_SIMT || (kernel == GN_GEMM_GEMV && m <= 64 && k % 8 == 0 && aligned16(w)) ||
            ((kernel == GN_GEMM_TENSOR_CORE || kernel == GN_GEMM_TENSOR_CORE_64 || gn_cuda_gemm_is_wgmma(kernel)) &&
             wdt != GN_DTYPE_F32 && k % 8 == 0 && ldx % 4 == 0 && aligned16(x) && aligned16(w)) ||
            ((kernel == GN_GEMM_DECODE_TC || kernel == GN_GEMM_DECODE_TC_CLUSTER) && wdt != GN_DTYPE_F32 && m <= 64 &&
             k % 8 == 0 && aligned16(w)) ||
            (kernel == GN_GEMM_GEMV_STREAM && gn_cuda_gemv_stream_supported(m, n, k, wdt, w));
  if (!ok) return GN_CUDA_EUNSUPPORTED;
  const bool round_x = kernel == GN_GEMM_TENSOR_CORE || kernel == GN_GEMM_TENSOR_CORE_64 || kernel == GN_GEMM_DECODE_TC ||
                       kernel == GN_GEMM_DECODE_TC_CLUSTER || gn_cuda_gemm_is_wgmma(kernel);
  return run_or_record([=] {
    for (int i = 0; i < m; ++i) gemm_row(x + (size_t)i * ldx, w, wdt, n, k, bias, y + (size_t)i * ldy, ep, round_x);
  });
}
// As gemm.cu: the wgmma kernels only, with the same argument checks; a 16-bit x is read as the
// rounded values it holds (rounding them again changes nothing), a 16-bit y stores rounded results.
int gn_cuda_gemm_x16(int kernel, const void* x, int xdt, int m, int ldx, const void* w, int wdt, int n, int k,
                     const float* bias, void* y, int ydt, int ldy, int ep, void*) {
  if (m < 0 || n < 0 || k < 0 || (wdt != GN_DTYPE_BF16 && wdt != GN_DTYPE_F16)) return GN_CUDA_EINVAL;
  if ((xdt != GN_DTYPE_F32 && xdt != wdt) || (ydt != GN_DTYPE_F32 && ydt != wdt)) return GN_CUDA_EINVAL;
  if (ep < GN_EPILOGUE_STORE || ep > GN_EPILOGUE_ACCUMULATE) return GN_CUDA_EINVAL;
  if (ydt != GN_DTYPE_F32 && ep == GN_EPILOGUE_ACCUMULATE) return GN_CUDA_EINVAL;
  if (!gn_cuda_gemm_is_wgmma(kernel)) return GN_CUDA_EUNSUPPORTED;
  if (m == 0 || n == 0) return 0;
  if (k <= 0 || ldx < k || ldy < n || !x || !w || !y || (xdt != GN_DTYPE_F32 && ldx != k)) return GN_CUDA_EINVAL;
  if (k % 8 != 0 || ldx % 4 != 0 || !aligned16(x) || !aligned16(w)) return GN_CUDA_EUNSUPPORTED;
  return run_or_record([=] {
    std::vector<float> xr(k), yr(n);
    for (int i = 0; i < m; ++i) {
      for (int kk = 0; kk < k; ++kk) xr[kk] = load(x, xdt, (size_t)i * ldx + kk);
      for (int j = 0; j < n; ++j) yr[j] = ydt == GN_DTYPE_F32 ? static_cast<float*>(y)[(size_t)i * ldy + j] : 0.f;
      gemm_row(xr.data(), w, wdt, n, k, bias, yr.data(), ep, true);
      for (int j = 0; j < n; ++j) store(y, ydt, (size_t)i * ldy + j, yr[j]);
    }
  });
}

int gn_cuda_gemm(const float* x, int m, int ldx, const void* w, int wdt, int n, int k, const float* b, float* y, int ldy,
                 int ep, void* s) {
  return gn_cuda_gemm_with(gn_cuda_gemm_select(m, n, k, wdt, x, ldx, w), x, m, ldx, w, wdt, n, k, b, y, ldy, ep, s);
}

// Same rule as gemm_gemv.cu: one GEMV launch of m <= 8 rows whose x chunk holds all of k.
int gn_cuda_layernorm_gemv_supported(int m, int n, int k, int wdt, const void* w) {
  return m >= 1 && m <= 8 && n >= 1 && k % 8 == 0 && aligned16(w) && k <= ((8 * 1024 / m) & ~255) &&
         (wdt == GN_DTYPE_F32 || wdt == GN_DTYPE_F16 || wdt == GN_DTYPE_BF16);
}

int gn_cuda_layernorm_gemv(const float* x, int m, int ldx, const float* g, const float* b, float eps, const void* w,
                           int wdt, int n, int k, const float* bias, float* y, int ldy, int ep, void*) {
  if (m == 0 || n == 0) return 0;
  if (!gn_cuda_layernorm_gemv_supported(m, n, k, wdt, w)) return GN_CUDA_EUNSUPPORTED;
  return run_or_record([=] {
    std::vector<float> xn(static_cast<size_t>(k));
    for (int i = 0; i < m; ++i) {
      layernorm_row(x + (size_t)i * ldx, k, g, b, eps, xn.data());
      gemm_row(xn.data(), w, wdt, n, k, bias, y + (size_t)i * ldy, ep, false);
    }
  });
}

// Same rule as gemm_gemv_stream.cu: bf16/f16 weights, m <= 8 x rows of k fp32 staged whole in 96 KiB of
// shared memory.
int gn_cuda_gemv_stream_supported(int m, int n, int k, int wdt, const void* w) {
  return m >= 1 && m <= 8 && n >= 1 && k >= 8 && k % 8 == 0 && (long long)m * k * 4 <= 98304 && aligned16(w) &&
         (wdt == GN_DTYPE_F16 || wdt == GN_DTYPE_BF16);
}

int gn_cuda_gemv_stream(const float* x, int m, int ldx, const float* g, const float* b, float eps, const void* w, int wdt,
                        int n, int k, const float* bias, float* y, int ldy, int ep, void*) {
  if ((g == nullptr) != (b == nullptr)) return GN_CUDA_EINVAL;
  if (m == 0 || n == 0) return 0;
  if (!gn_cuda_gemv_stream_supported(m, n, k, wdt, w)) return GN_CUDA_EUNSUPPORTED;
  return run_or_record([=] {
    std::vector<float> xn(static_cast<size_t>(k));
    for (int i = 0; i < m; ++i) {
      const float* xr = x + (size_t)i * ldx;
      if (g != nullptr) {
        layernorm_row(xr, k, g, b, eps, xn.data());
        xr = xn.data();
      }
      gemm_row(xr, w, wdt, n, k, bias, y + (size_t)i * ldy, ep, false);
    }
  });
}

int gn_cuda_layernorm(const float* x, int rows, int dim, int ldx, const float* g, const float* b, float eps, float* y,
                      int ldy, void*) {
  return run_or_record([=] {
    // (y may alias x: layernorm_row reads each element before writing it back)
    for (int r = 0; r < rows; ++r) layernorm_row(x + (size_t)r * ldx, dim, g, b, eps, y + (size_t)r * ldy);
  });
}

// As rowops.cu: the fp32 values rounded to nearest even (the mock's store rounds as the GPU's x pass).
int gn_cuda_layernorm_x16(const float* x, int rows, int dim, int ldx, const float* g, const float* b, float eps, void* y16,
                          int ydt, int ldy, void*) {
  if (rows < 0 || dim <= 0 || ldx < dim || ldy < dim || (ydt != GN_DTYPE_BF16 && ydt != GN_DTYPE_F16)) return GN_CUDA_EINVAL;
  if (rows == 0) return 0;
  if (!x || !g || !b || !y16) return GN_CUDA_EINVAL;
  return run_or_record([=] {
    std::vector<float> row(dim);
    for (int r = 0; r < rows; ++r) {
      layernorm_row(x + (size_t)r * ldx, dim, g, b, eps, row.data());
      for (int d = 0; d < dim; ++d) store(y16, ydt, (size_t)r * ldy + d, row[d]);
    }
  });
}

int gn_cuda_embed(const int32_t* ids, const int32_t* pos, int tokens, const void* wte, int wdt, int vocab, const void* wpe,
                  int pdt, int max_pos, int dim, float* out, void*) {
  return run_or_record([=] {
  for (int t = 0; t < tokens; ++t)
    for (int d = 0; d < dim; ++d)
      out[(size_t)t * dim + d] = (ids[t] < 0 || ids[t] >= vocab || pos[t] < 0 || pos[t] >= max_pos)
                                     ? NAN
                                     : load(wte, wdt, (size_t)ids[t] * dim + d) + load(wpe, pdt, (size_t)pos[t] * dim + d);
  });
}

int gn_cuda_gather_rows(const float* src, int ld, const int32_t* rows, int count, int dim, float* dst, void*) {
  return run_or_record([=] {
  for (int i = 0; i < count; ++i) std::memcpy(dst + (size_t)i * dim, src + (size_t)rows[i] * ld, dim * 4);
  });
}

int gn_cuda_argmax_rows(const float* x, int rows, int cols, int32_t* out, void*) {
  return run_or_record([=] {
  for (int r = 0; r < rows; ++r) {
    int best = -1;
    for (int c = 0; c < cols; ++c) {
      const float v = x[(size_t)r * cols + c];
      if (!std::isnan(v) && (best < 0 || v > x[(size_t)r * cols + best])) best = c;
    }
    out[r] = best < 0 ? 0 : best;
  }
  });
}

int gn_cuda_select_candidates(const float* x, int rows, int cols, const int32_t* need, const int32_t* out_start,
                              const int32_t* extra_start, const int32_t* extra_ids, int32_t* counts, int32_t* ids,
                              float* vals, float* extra_vals, void*) {
  if (rows < 0 || cols < 1) return GN_CUDA_EINVAL;
  return run_or_record([=] {
  for (int r = 0; r < rows; ++r) {
    const float* row = x + (size_t)r * cols;
    for (int e = extra_start[r]; e < extra_start[r + 1]; ++e) extra_vals[e] = row[extra_ids[e]];
    counts[r] = gptneo::cpu::ref::select_candidates_row(row, cols, need[r], out_start[r + 1] - out_start[r],
                                                        ids + out_start[r], vals + out_start[r]);
  }
  });
}

int gn_cuda_draw_rows(const float* x, int rows, int cols, const double* params, const int32_t* change_start,
                      const int32_t* change_meta, const double* change_vals, int32_t* tokens, double* sums, void*) {
  if (rows < 0 || cols < 1) return GN_CUDA_EINVAL;
  return run_or_record([=] {
  for (int r = 0; r < rows; ++r) {
    const int first = change_start[r];
    tokens[r] = gptneo::cpu::draw_row(x + (size_t)r * cols, cols, params + (size_t)r * gptneo::kDrawParams,
                                      change_meta + 2 * first, change_vals + 2 * first, change_start[r + 1] - first,
                                      sums + r);
  }
  });
}

int gn_cuda_decode_advance(const int32_t* argmax, int seqs, int32_t* ids, int32_t* positions, int32_t* history,
                           void*) {
  if (seqs < 0) return GN_CUDA_EINVAL;
  return run_or_record([=] {
  for (int s = 0; s < seqs; ++s) {
    history[s] = argmax[s];
    ids[s] = argmax[s];
    positions[s] += 1;
  }
  });
}

int gn_cuda_capture_begin(void* stream) {
  if (stream == nullptr) return GN_CUDA_EINVAL;
  if (g_recording) return kCaptureViolation;  // already capturing
  g_recording = new MockOps();
  return 0;
}
int gn_cuda_capture_end(void* stream, void** graph_exec) {
  if (stream == nullptr || graph_exec == nullptr) return GN_CUDA_EINVAL;
  *graph_exec = nullptr;
  if (!g_recording) return 901;  // cudaErrorStreamCaptureInvalidated-like: no capture open
  *graph_exec = g_recording;
  g_recording = nullptr;
  return 0;
}
int gn_cuda_graph_launch(void* graph_exec, void*) {
  if (graph_exec == nullptr) return GN_CUDA_EINVAL;
  for (auto& op : *static_cast<MockOps*>(graph_exec)) op();
  return 0;
}
int gn_cuda_graph_destroy(void* graph_exec) {
  delete static_cast<MockOps*>(graph_exec);
  return 0;
}

static int seq_of(const gn_cuda_batch* b, int t) {
  int s = 0;
  while (s + 1 < b->num_seqs && b->d_seq_starts[s + 1] <= t) ++s;
  return s;
}
static long long slot_of(const gn_cuda_batch* b, int s, int p) {
  return (long long)b->d_block_tables[(size_t)s * b->max_blocks + p / b->block_size] * b->block_size + p % b->block_size;
}

int gn_cuda_kv_write(const float* k, const float* v, int ldkv, const gn_cuda_batch* b, int heads, int hd, void* kc,
                     void* vc, int cache_dtype, void*) {
  if (cache_dtype < GN_DTYPE_F32 || cache_dtype > GN_DTYPE_BF16) return GN_CUDA_EINVAL;
  const gn_cuda_batch batch = *b;  // the launcher reads the struct now, the buffers at run time
  return run_or_record([=] {
  const gn_cuda_batch* b = &batch;
  const int w = heads * hd;
  for (int t = 0; t < b->tokens; ++t) {
    const long long slot = slot_of(b, seq_of(b, t), b->d_positions[t]);
    for (int e = 0; e < w; ++e) {
      store(kc, cache_dtype, (size_t)slot * w + e, k[(size_t)t * ldkv + e]);
      store(vc, cache_dtype, (size_t)slot * w + e, v[(size_t)t * ldkv + e]);
    }
  }
  });
}

int gn_cuda_segment_mean(const float* x, int ldx, const int32_t* starts, int num_seqs, int dim, float* out, void*) {
  return run_or_record([=] {
  for (int s = 0; s < num_seqs; ++s)
    for (int c = 0; c < dim; ++c) {
      float sum = 0.f;
      for (int r = starts[s]; r < starts[s + 1]; ++r) sum += x[(size_t)r * ldx + c];
      out[(size_t)s * dim + c] = starts[s + 1] > starts[s] ? sum / (starts[s + 1] - starts[s]) : 0.f;
    }
  });
}

// A stand-in for the split plan's scratch (partial outputs and softmax stats per split): it grows
// with tokens, heads and max_context like attention.cu's, so the backend's workspace handling
// (growth, refusal during a capture) runs here too. The mock itself never touches the buffer.
size_t gn_cuda_attention_workspace_bytes(const gn_cuda_batch* b, int heads, int hd) {
  if (b == nullptr || b->tokens <= 0 || b->max_context <= 128) return 0;
  return (size_t)b->tokens * heads * ceil_div(b->max_context, 128) * (hd + 2) * sizeof(float);
}

// Same rule as attention.cu. The mock computes every kernel's result with the one loop below; the
// tensor-core kernel's operands (q, k, v, probabilities) are rounded to its dtype there, as on the GPU.
}  // extern "C"
// The tensor-core kernel's reach (attention.cu tc_kernel_serves).
static bool mock_tc_attention_serves(const gn_cuda_batch* b, int hd, const void* kc, const void* vc, int cache_dtype,
                                     int operand_dtype) {
  const bool aligned = ((reinterpret_cast<uintptr_t>(kc) | reinterpret_cast<uintptr_t>(vc)) & 15u) == 0;
  return b->tokens >= 4 * b->num_seqs && hd % 4 == 0 && hd <= 128 && aligned && operand_dtype != GN_DTYPE_F32 &&
         (cache_dtype == GN_DTYPE_F32 || cache_dtype == operand_dtype);
}
// The wgmma kernel's reach (attention.cu wgmma_kernel_serves; the mock runs the sm_90a image).
static bool mock_wgmma_attention_serves(const gn_cuda_batch* b, int hd, const void* kc, const void* vc,
                                        int cache_dtype, int operand_dtype) {
  return (hd == 64 || hd == 128) && cache_dtype == operand_dtype &&
         mock_tc_attention_serves(b, hd, kc, vc, cache_dtype, operand_dtype);
}
extern "C" {

int gn_cuda_attention_select(const gn_cuda_batch* b, int hd, const void* kc, const void* vc, int cache_dtype,
                             int operand_dtype) {
  auto valid = [](int dt) { return dt >= GN_DTYPE_F32 && dt <= GN_DTYPE_BF16; };
  if (b == nullptr || !valid(operand_dtype) || !valid(cache_dtype)) return GN_CUDA_EINVAL;
  const bool aligned = ((reinterpret_cast<uintptr_t>(kc) | reinterpret_cast<uintptr_t>(vc)) & 15u) == 0;
  const bool vec = hd % 4 == 0 && hd <= 128 && aligned;
  if (b->tokens < 4 * b->num_seqs && vec) return GN_ATTENTION_DECODE;
  const char* tc_env = std::getenv("GPTNEO_CUDA_TC_ATTENTION");  // as attention.cu
  const bool tc_on = !(tc_env && std::strcmp(tc_env, "0") == 0);
  if (gn_cuda_attention_wgmma_enabled() && mock_wgmma_attention_serves(b, hd, kc, vc, cache_dtype, operand_dtype))
    return gn_cuda_attention_wgmma_enabled();
  if (mock_tc_attention_serves(b, hd, kc, vc, cache_dtype, operand_dtype) && tc_on) return GN_ATTENTION_TENSOR_CORE;
  return GN_ATTENTION_TILED;
}

// The mock runs the sm_90a image (a compute capability 9.0 device), as gn_cuda_gemm_wgmma_enabled.
int gn_cuda_attention_wgmma_available(void) { return 1; }
// The decode kernel's keys in flight change its summation order on a GPU, not the mock's reference arithmetic.
static gncuda::EnvSwitch g_mock_decode_keys16("GPTNEO_CUDA_DECODE_KEYS16",
                                               [](const char* v) { return gncuda::env_text_is(v, "8") ? 8 : 4; });
int gn_cuda_decode_keys16(void) { return g_mock_decode_keys16.get(); }
void gn_cuda_set_decode_keys16(int keys) { g_mock_decode_keys16.set(keys == 8 ? 8 : 4); }
// The split plan changes the decode kernel's grid on a GPU, not the mock's reference arithmetic.
static gncuda::EnvSwitch g_mock_decode_split_waves("GPTNEO_CUDA_DECODE_SPLIT",
                                                   [](const char* v) { return gncuda::env_text_is(v, "waves") ? 1 : 0; });
int gn_cuda_decode_split_waves(void) { return g_mock_decode_split_waves.get(); }
void gn_cuda_set_decode_split_waves(int on) { g_mock_decode_split_waves.set(on ? 1 : 0); }
// Row staging only chooses where the kernels read their row from: the mock's kernels are the same either way.
static gncuda::EnvSwitch g_mock_row_stage("GPTNEO_CUDA_ROW_STAGE",
                                          [](const char* v) { return gncuda::env_text_is(v, "1") ? 1 : 0; });
int gn_cuda_row_stage_enabled(void) { return g_mock_row_stage.get(); }
void gn_cuda_set_row_stage(int on) { g_mock_row_stage.set(on ? 1 : 0); }
int gn_cuda_attention_wgmma_enabled(void) {
  const char* tc_env = std::getenv("GPTNEO_CUDA_TC_ATTENTION");
  const char* v = std::getenv("GPTNEO_CUDA_WGMMA_ATTENTION");
  if (tc_env && std::strcmp(tc_env, "0") == 0) return 0;
  return v && std::strcmp(v, "1") == 0 ? GN_ATTENTION_WGMMA : v && std::strcmp(v, "pipelined") == 0 ? GN_ATTENTION_WGMMA_PIPELINED : 0;
}

const char* gn_cuda_attention_kernel_name(int kernel) {
  return kernel == GN_ATTENTION_TILED ? "tiled" : kernel == GN_ATTENTION_DECODE ? "decode"
       : kernel == GN_ATTENTION_TENSOR_CORE ? "tensor-core" : kernel == GN_ATTENTION_WGMMA ? "wgmma"
       : kernel == GN_ATTENTION_WGMMA_PIPELINED ? "wgmma-pipelined" : "auto";
}

namespace {
int attention_run(int kernel, const float* q, int ldq, const void* kc, const void* vc, int cdt, const gn_cuda_batch* b,
                  int heads, int hd, int window, float scale, int operand_dtype, float* out, int ldo, void* ws,
                  size_t ws_bytes) {
  if (hd > 128) return GN_CUDA_EUNSUPPORTED;
  const size_t need = gn_cuda_attention_workspace_bytes(b, heads, hd);
  if (ws_bytes < need || (need > 0 && ws == nullptr)) return GN_CUDA_EINVAL;
  const gn_cuda_batch batch = *b;  // the launcher reads the struct now, the buffers at run time
  const int rdt = kernel == GN_ATTENTION_TENSOR_CORE || kernel == GN_ATTENTION_WGMMA || kernel == GN_ATTENTION_WGMMA_PIPELINED
                      ? operand_dtype
                      : GN_DTYPE_F32;
  return run_or_record([=] {
  const gn_cuda_batch* b = &batch;
  auto rd = [rdt](float v) {
    return rdt == GN_DTYPE_BF16 ? bf16_to_f32(f32_to_bf16(v)) : rdt == GN_DTYPE_F16 ? f16_to_f32(f32_to_f16(v)) : v;
  };
  const int w = heads * hd;
  for (int t = 0; t < b->tokens; ++t) {
    const int s = seq_of(b, t), p = b->d_positions[t];
    const int lo = window > 0 ? std::max(0, p - window + 1) : 0;
    for (int h = 0; h < heads; ++h) {
      std::vector<float> sc(p + 1 - lo);
      float mx = -INFINITY;
      for (int j = lo; j <= p; ++j) {
        float d = 0.f;
        for (int e = 0; e < hd; ++e)
          d += rd(q[(size_t)t * ldq + h * hd + e]) * rd(load(kc, cdt, slot_of(b, s, j) * w + h * hd + e));
        sc[j - lo] = d * scale;
        mx = std::max(mx, sc[j - lo]);
      }
      float sum = 0.f;
      for (auto& v : sc) sum += (v = std::exp(v - mx));
      for (int e = 0; e < hd; ++e) {
        float o = 0.f;
        for (int j = lo; j <= p; ++j) o += rd(sc[j - lo]) * rd(load(vc, cdt, slot_of(b, s, j) * w + h * hd + e));
        out[(size_t)t * ldo + h * hd + e] = o / sum;
      }
    }
  }
  });
}
}  // namespace

int gn_cuda_attention(const float* q, int ldq, const void* kc, const void* vc, int cache_dtype, const gn_cuda_batch* b,
                      int heads, int hd, int window, float scale, int operand_dtype, float* out, int ldo, void* ws,
                      size_t ws_bytes, void*) {
  const int kernel = gn_cuda_attention_select(b, hd, kc, vc, cache_dtype, operand_dtype);
  if (kernel < 0) return kernel;
  return attention_run(kernel, q, ldq, kc, vc, cache_dtype, b, heads, hd, window, scale, operand_dtype, out, ldo, ws,
                       ws_bytes);
}

int gn_cuda_attention_with(int kernel, const float* q, int ldq, const void* kc, const void* vc, int cache_dtype,
                           const gn_cuda_batch* b, int heads, int hd, int window, float scale, int operand_dtype,
                           float* out, int ldo, void* ws, size_t ws_bytes, void*) {
  if (kernel < GN_ATTENTION_AUTO || kernel > GN_ATTENTION_WGMMA_PIPELINED) return GN_CUDA_EINVAL;
  const int selected = gn_cuda_attention_select(b, hd, kc, vc, cache_dtype, operand_dtype);
  if (selected < 0) return selected;
  if (hd > 128) return GN_CUDA_EUNSUPPORTED;
  if (kernel == GN_ATTENTION_DECODE && selected != kernel) return GN_CUDA_EUNSUPPORTED;
  if (kernel == GN_ATTENTION_TENSOR_CORE && !mock_tc_attention_serves(b, hd, kc, vc, cache_dtype, operand_dtype))
    return GN_CUDA_EUNSUPPORTED;
  if ((kernel == GN_ATTENTION_WGMMA || kernel == GN_ATTENTION_WGMMA_PIPELINED) &&
      !mock_wgmma_attention_serves(b, hd, kc, vc, cache_dtype, operand_dtype))
    return GN_CUDA_EUNSUPPORTED;
  return attention_run(kernel == GN_ATTENTION_AUTO ? selected : kernel, q, ldq, kc, vc, cache_dtype, b, heads, hd, window,
                       scale, operand_dtype, out, ldo, ws, ws_bytes);
}

// kv_write then the decode kernel's attention, where attention.cu's append launch serves the step.
int gn_cuda_attention_append(const float* q, int ldq, const float* k, const float* v, int ldkv, void* kc, void* vc,
                             int cache_dtype, const gn_cuda_batch* b, int heads, int hd, int window, float scale,
                             float* out, int ldo, void* ws, size_t ws_bytes, void* stream) {
  if (b == nullptr || window < 0 || heads <= 0 || hd <= 0 || cache_dtype < GN_DTYPE_F32 || cache_dtype > GN_DTYPE_BF16)
    return GN_CUDA_EINVAL;
  if (ldq < heads * hd || ldo < heads * hd || ldkv < heads * hd) return GN_CUDA_EINVAL;
  if (b->tokens == 0 || b->num_seqs == 0) return GN_CUDA_OK;
  if (b->tokens != b->num_seqs) return GN_CUDA_EUNSUPPORTED;
  if (gn_cuda_attention_select(b, hd, kc, vc, cache_dtype, GN_DTYPE_F32) != GN_ATTENTION_DECODE)
    return GN_CUDA_EUNSUPPORTED;
  const size_t need = gn_cuda_attention_workspace_bytes(b, heads, hd);
  if (ws_bytes < need || (need > 0 && ws == nullptr)) return GN_CUDA_EINVAL;
  const int st = gn_cuda_kv_write(k, v, ldkv, b, heads, hd, kc, vc, cache_dtype, stream);
  if (st != GN_CUDA_OK) return st;
  return attention_run(GN_ATTENTION_DECODE, q, ldq, kc, vc, cache_dtype, b, heads, hd, window, scale, GN_DTYPE_F32, out,
                       ldo, ws, ws_bytes);
}

// The persistent decode layer as the chain of calls whose results it equals (decode_layer.cu).
size_t gn_cuda_decode_layer_workspace_bytes(const gn_cuda_batch* b, int heads, int hd) {
  return GN_CUDA_DECODE_LAYER_BARRIER_BYTES + gn_cuda_attention_workspace_bytes(b, heads, hd);
}

int gn_cuda_decode_layer_supported(const gn_cuda_decode_layer_args* a) {
  if (a == nullptr || a->hidden <= 0 || a->inner <= 0 || a->heads <= 0 || a->head_dim <= 0 || a->window < 0 ||
      a->heads * a->head_dim != a->hidden)
    return GN_CUDA_EINVAL;
  if (!a->d_h || !a->d_ln1_gamma || !a->d_ln1_beta || !a->d_ln2_gamma || !a->d_ln2_beta || !a->d_w_qkv ||
      !a->d_w_out || !a->d_w_fc || !a->d_w_proj || !a->d_qkv || !a->d_attn || !a->d_mid || !a->d_workspace)
    return GN_CUDA_EINVAL;
  if (a->w_dtype < GN_DTYPE_F32 || a->w_dtype > GN_DTYPE_BF16 || a->cache_dtype < GN_DTYPE_F32 ||
      a->cache_dtype > GN_DTYPE_BF16 || a->workspace_bytes < GN_CUDA_DECODE_LAYER_BARRIER_BYTES || !aligned16(a->d_workspace))
    return GN_CUDA_EINVAL;
  if (a->batch.tokens != 1 || a->batch.num_seqs != 1) return GN_CUDA_EUNSUPPORTED;
  if (a->w_dtype == GN_DTYPE_F32 || a->hidden % 8 != 0 || a->inner % 8 != 0) return GN_CUDA_EUNSUPPORTED;
  if (4ll * (a->hidden > a->inner ? a->hidden : a->inner) > 98304) return GN_CUDA_EUNSUPPORTED;
  // (its attention phase keeps 4 keys in flight: with 8 for a 16-bit cache the chain serves, as decode_layer.cu)
  if (a->cache_dtype != GN_DTYPE_F32 && gn_cuda_decode_keys16() == 8) return GN_CUDA_EUNSUPPORTED;
  if (!aligned16(a->d_w_qkv) || !aligned16(a->d_w_out) || !aligned16(a->d_w_fc) || !aligned16(a->d_w_proj))
    return GN_CUDA_EUNSUPPORTED;
  if (gn_cuda_attention_select(&a->batch, a->head_dim, a->d_k_cache, a->d_v_cache, a->cache_dtype, GN_DTYPE_F32) !=
      GN_ATTENTION_DECODE)
    return GN_CUDA_EUNSUPPORTED;
  if (a->workspace_bytes < gn_cuda_decode_layer_workspace_bytes(&a->batch, a->heads, a->head_dim)) return GN_CUDA_EINVAL;
  return GN_CUDA_OK;
}

int gn_cuda_decode_layer(const gn_cuda_decode_layer_args* a, void* stream) {
  const int st = gn_cuda_decode_layer_supported(a);
  if (st != GN_CUDA_OK) return st;
  const int H = a->hidden, I = a->inner;
  void* ws = static_cast<char*>(a->d_workspace) + GN_CUDA_DECODE_LAYER_BARRIER_BYTES;
  const size_t ws_bytes = a->workspace_bytes - GN_CUDA_DECODE_LAYER_BARRIER_BYTES;
  int r = gn_cuda_gemv_stream(a->d_h, 1, H, a->d_ln1_gamma, a->d_ln1_beta, a->eps, a->d_w_qkv, a->w_dtype, 3 * H, H,
                              a->d_b_qkv, a->d_qkv, 3 * H, GN_EPILOGUE_STORE, stream);
  if (r == GN_CUDA_OK)
    r = gn_cuda_attention_append(a->d_qkv, 3 * H, a->d_qkv + H, a->d_qkv + 2 * H, 3 * H, a->d_k_cache, a->d_v_cache,
                                 a->cache_dtype, &a->batch, a->heads, a->head_dim, a->window, a->scale, a->d_attn, H, ws,
                                 ws_bytes, stream);
  if (r == GN_CUDA_OK)
    r = gn_cuda_gemv_stream(a->d_attn, 1, H, nullptr, nullptr, 0.f, a->d_w_out, a->w_dtype, H, H, a->d_b_out, a->d_h, H,
                            GN_EPILOGUE_ACCUMULATE, stream);
  if (r == GN_CUDA_OK)
    r = gn_cuda_gemv_stream(a->d_h, 1, H, a->d_ln2_gamma, a->d_ln2_beta, a->eps, a->d_w_fc, a->w_dtype, I, H, a->d_b_fc,
                            a->d_mid, I, GN_EPILOGUE_GELU_NEW, stream);
  if (r == GN_CUDA_OK)
    r = gn_cuda_gemv_stream(a->d_mid, 1, I, nullptr, nullptr, 0.f, a->d_w_proj, a->w_dtype, H, I, a->d_b_proj, a->d_h, H,
                            GN_EPILOGUE_ACCUMULATE, stream);
  return r;
}

}  // extern "C"
