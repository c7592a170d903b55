// Benchmark of the CUDA kernels (through the C launchers of cuda/api.h): GEMM TFLOP/s at
// GPT-Neo prefill shapes and GB/s at decode (m = 1), attention prefill TFLOP/s and decode GB/s,
// and a device-to-device copy as the bandwidth bound. CUDA events around each repeat, warm-up
// first, median of the repeats; random (never zero) data.
//   bench_cuda_ops [--quick] [--gemm-only] [--decode-only] [--json PATH]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/api.h"
#include "cuda/draw_bound.h"
#include "tests/switch_restore.h"
#include "tests/tma_kernel_list.h"

namespace {

#define BENCH_CHECK(expr)                                                                       \
  do {                                                                                          \
    int st_ = (int)(expr);                                                                      \
    if (st_ != 0) {                                                                             \
      std::fprintf(stderr, "bench: %s failed: %s (%s:%d)\n", #expr, gn_cuda_status_string(st_), \
                   __FILE__, __LINE__);                                                         \
      std::exit(1);                                                                             \
    }                                                                                           \
  } while (0)

__global__ void fill_uniform(float* p, size_t n, unsigned seed, float scale) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    unsigned h = (unsigned)i * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    p[i] = ((h & 0xffffff) / 8388608.0f - 1.0f) * scale;
  }
}

void* dalloc(size_t bytes) {
  void* p = nullptr;
  BENCH_CHECK(gn_cuda_malloc(&p, bytes));
  return p;
}

float* random_f32(size_t n, unsigned seed, float scale) {
  float* p = static_cast<float*>(dalloc(n * 4));
  fill_uniform<<<1024, 256>>>(p, n, seed, scale);
  BENCH_CHECK(cudaGetLastError());
  return p;
}

void* random_weights(size_t n, int dtype, unsigned seed, float scale = 0.05f) {
  float* f = random_f32(n, seed, scale);
  if (dtype == GN_DTYPE_F32) return f;
  void* w = dalloc(n * 2);
  BENCH_CHECK(gn_cuda_convert(f, GN_DTYPE_F32, w, dtype, n, nullptr));
  BENCH_CHECK(cudaDeviceSynchronize());
  gn_cuda_free(f);
  return w;
}

// Median milliseconds of `reps` timed runs of fn after `warmup` untimed ones.
template <typename F>
double time_ms(F fn, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i) fn();
  BENCH_CHECK(cudaDeviceSynchronize());
  std::vector<cudaEvent_t> ev(2 * reps);
  for (auto& e : ev) BENCH_CHECK(cudaEventCreate(&e));
  for (int i = 0; i < reps; ++i) {
    BENCH_CHECK(cudaEventRecord(ev[2 * i]));
    fn();
    BENCH_CHECK(cudaEventRecord(ev[2 * i + 1]));
  }
  BENCH_CHECK(cudaEventSynchronize(ev.back()));
  std::vector<float> ms(reps);
  for (int i = 0; i < reps; ++i) BENCH_CHECK(cudaEventElapsedTime(&ms[i], ev[2 * i], ev[2 * i + 1]));
  for (auto& e : ev) cudaEventDestroy(e);
  std::sort(ms.begin(), ms.end());
  return ms[reps / 2];
}

// Median milliseconds per call of `inner` back-to-back calls between one pair of events (the host
// runs ahead, so launch latency overlaps the previous kernel: kernel time plus the inter-kernel
// gap, as a decode step that queues its kernels ahead or replays a graph sees it).
template <typename F>
double time_ms_b2b(F fn, int inner, int reps, void* stream = nullptr) {  // stream: where fn launches
  for (int i = 0; i < inner; ++i) fn();
  BENCH_CHECK(cudaDeviceSynchronize());
  cudaEvent_t a, b;
  BENCH_CHECK(cudaEventCreate(&a));
  BENCH_CHECK(cudaEventCreate(&b));
  std::vector<float> ms(reps);
  for (int r = 0; r < reps; ++r) {
    BENCH_CHECK(cudaEventRecord(a, static_cast<cudaStream_t>(stream)));
    for (int i = 0; i < inner; ++i) fn();
    BENCH_CHECK(cudaEventRecord(b, static_cast<cudaStream_t>(stream)));
    BENCH_CHECK(cudaEventSynchronize(b));
    BENCH_CHECK(cudaEventElapsedTime(&ms[r], a, b));
    ms[r] /= inner;
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[reps / 2];
}

struct Row {
  std::string name, key, shape, unit;
  double ms, value;
};
std::vector<Row> g_rows;
// The --json file, rewritten after every row (write_json) so that a bench stopped early (a stage's timeout,
// a kernel's trap) still leaves every figure it measured, marked "complete": false.
std::string g_json_path;
gn_cuda_device_info g_json_device{};
void write_json(bool complete);

// key: the same identifier scripts/gpu_peers.py gives the peer measurement of this shape.
void add(const std::string& name, const std::string& key, const std::string& shape, double ms, double value,
         const char* unit) {
  g_rows.push_back({name, key, shape, unit, ms, value});
  write_json(false);
  std::printf("%-22s %-34s %9.4f ms %9.2f %s\n", name.c_str(), shape.c_str(), ms, value, unit);
  std::fflush(stdout);
}

// The sampling kernels' benchmark cases: rows of GPT-2's vocabulary, with the row staged in shared memory
// or not (gn_cuda_set_row_stage; the process's setting put back by RowStageRestore).
struct SamplingCase {
  int rows, stage;
};
constexpr SamplingCase kSamplingCases[] = {{1, 0}, {8, 0}, {32, 0}, {64, 0}, {1, 1}, {8, 1}, {64, 1}};
using gptneo::testing::RowStageRestore;

// The sampling prefilter (candidates.cu) on rows of GPT-2's vocabulary: need 80 (top-k 50 and 30
// penalised ids), 224 slots and 30 extras per row, back to back. Logits: uniform in [-10, 10]. The
// value is the rows' logit bytes over the time (one read's worth; the kernel walks the row six times).
// `candidates_staged/N`: the same with row staging on (gn_cuda_set_row_stage: the row copied into shared
// memory once where the GPU holds 201 KB per block, Hopper), beside the default.
void bench_candidates() {
  const int V = 50257, need = 80, slots = 2 * need + 64, extras = 30;
  const RowStageRestore restore;
  for (const SamplingCase cs : kSamplingCases) {
    const int rows = cs.rows;
    gn_cuda_set_row_stage(cs.stage);
    float* x = random_f32((size_t)rows * V, 77, 10.f);
    std::vector<int32_t> query;
    for (int r = 0; r < rows; ++r) query.push_back(need);
    for (int r = 0; r <= rows; ++r) query.push_back(r * slots);
    for (int r = 0; r <= rows; ++r) query.push_back(r * extras);
    for (int i = 0; i < rows * extras; ++i) query.push_back((i * 997) % V);
    int32_t* d_query = static_cast<int32_t*>(dalloc(query.size() * 4));
    BENCH_CHECK(gn_cuda_upload(d_query, query.data(), query.size() * 4, nullptr));
    int32_t* d_counts = static_cast<int32_t*>(dalloc((size_t)rows * 4));
    int32_t* d_ids = static_cast<int32_t*>(dalloc((size_t)rows * slots * 4));
    float* d_vals = static_cast<float*>(dalloc((size_t)rows * slots * 4));
    float* d_extra = static_cast<float*>(dalloc((size_t)rows * extras * 4));
    const double ms = time_ms_b2b([&] {
      BENCH_CHECK(gn_cuda_select_candidates(x, rows, V, d_query, d_query + rows, d_query + 2 * rows + 1,
                                            d_query + 3 * rows + 2, d_counts, d_ids, d_vals, d_extra, nullptr));
    }, 20, 5);
    add("select_candidates", (cs.stage ? "candidates_staged/" : "candidates/") + std::to_string(rows),
        std::to_string(rows) + " rows x 50257, need 80" + (cs.stage ? ", row staged" : ""), ms,
        (double)rows * V * 4 / (ms * 1e-3) / 1e9, "GB/s");
    for (void* p : {(void*)x, (void*)d_query, (void*)d_counts, (void*)d_ids, (void*)d_vals, (void*)d_extra}) gn_cuda_free(p);
  }
}

// The device draw (draw.cu) on rows of GPT-2's vocabulary: temperature 0.8 with a repetition penalty on
// 30 ids, back to back. Logits: uniform in [-10, 10]. The value is the rows' logit bytes over the time
// (the kernel computes one double exp per logit). `draw_staged/N`: with row staging on (the row copied
// into shared memory once where the GPU holds 201 KB per block, Hopper), beside the default.
// `draw_nucleus/N`: the same rows with top-p 0.9 (the nucleus draw, nucleus_draw.h: four radix passes
// with a float exp per logit, a last pass with a double exp, a walk; the nucleus here is ~9% of the
// vocabulary, ~4600 tokens, the flat rows the candidates cannot serve). `draw_nucleus_minp/N`: top-p 0.9
// with min-p 0.05 after it (the last pass also weighs and sums what min-p keeps).
void bench_draw_rows(double top_p, double min_p = 0) {
  const int V = 50257, changes = 30;
  const RowStageRestore restore;
  for (const SamplingCase cs : kSamplingCases) {
    const int rows = cs.rows;
    gn_cuda_set_row_stage(cs.stage);
    float* x = random_f32((size_t)rows * V, 78, 10.f);
    std::vector<double> params((size_t)rows * gptneo::kDrawParams, 0.0), vals;
    std::vector<int32_t> start, meta;
    for (int r = 0; r <= rows; ++r) start.push_back(r * changes);
    for (int r = 0; r < rows; ++r) {
      double* p = params.data() + (size_t)r * gptneo::kDrawParams;
      p[gptneo::kDrawU] = (r * 0.37 + 0.11) - (int)(r * 0.37 + 0.11);
      p[gptneo::kDrawTemperature] = 0.8;
      p[gptneo::kDrawInvTemperature] = 1 / 0.8;
      p[gptneo::kDrawPenalty] = 1.1;
      p[gptneo::kDrawTopP] = top_p;
      if (min_p > 0) {
        p[gptneo::kDrawMinP] = min_p;
        p[gptneo::kDrawLogitFloor] = std::log(min_p) - 1e-9;  // (draw_query's)
      }
      for (int i = 0; i < changes; ++i) {
        meta.insert(meta.end(), {i * 1601 + 7, gptneo::kDrawChangeSeen});  // ids ascending, below V
        vals.insert(vals.end(), {0.0, 0.0});
      }
    }
    double* d_params = static_cast<double*>(dalloc(params.size() * 8));
    double* d_vals = static_cast<double*>(dalloc(vals.size() * 8));
    int32_t* d_start = static_cast<int32_t*>(dalloc((size_t)(rows + 1) * 4));
    int32_t* d_meta = static_cast<int32_t*>(dalloc(meta.size() * 4));
    int32_t* d_tokens = static_cast<int32_t*>(dalloc((size_t)rows * 4));
    double* d_sums = static_cast<double*>(dalloc((size_t)rows * 8));
    BENCH_CHECK(gn_cuda_upload(d_params, params.data(), params.size() * 8, nullptr));
    BENCH_CHECK(gn_cuda_upload(d_vals, vals.data(), vals.size() * 8, nullptr));
    BENCH_CHECK(gn_cuda_upload(d_start, start.data(), start.size() * 4, nullptr));
    BENCH_CHECK(gn_cuda_upload(d_meta, meta.data(), meta.size() * 4, nullptr));
    const double ms = time_ms_b2b([&] {
      BENCH_CHECK(gn_cuda_draw_rows(x, rows, V, d_params, d_start, d_meta, d_vals, d_tokens, d_sums, nullptr));
    }, 20, 5);
    const std::string kind = top_p > 0 ? (min_p > 0 ? "draw_nucleus_minp" : "draw_nucleus") : "draw";
    add("draw_rows", kind + (cs.stage ? "_staged/" : "/") + std::to_string(rows),
        std::to_string(rows) + " rows x 50257, T 0.8, 30 penalised" + (top_p > 0 ? ", top-p 0.9" : "") +
            (min_p > 0 ? ", min-p 0.05" : "") + (cs.stage ? ", row staged" : ""),
        ms, (double)rows * V * 4 / (ms * 1e-3) / 1e9, "GB/s");
    for (void* p : {(void*)x, (void*)d_params, (void*)d_vals, (void*)d_start, (void*)d_meta, (void*)d_tokens, (void*)d_sums}) gn_cuda_free(p);
  }
}

void bench_draw() {
  for (const double top_p : {0.0, 0.9}) bench_draw_rows(top_p);
  bench_draw_rows(0.9, 0.05);
}

struct ModelShape {
  const char* name;
  int hidden, qkv, mlp, vocab, heads, head_dim;
};

void bench_copy(bool quick) {
  const size_t bytes = (quick ? 256u : 1024u) << 20;
  void* a = dalloc(bytes);
  void* b = dalloc(bytes);
  BENCH_CHECK(cudaMemset(a, 1, bytes));
  double ms = time_ms([&] { BENCH_CHECK(gn_cuda_copy_d2d(b, a, bytes, nullptr)); }, 3, 10);
  add("d2d_copy", "copy", std::to_string(bytes >> 20) + " MiB (read+write)", ms, 2.0 * bytes / (ms * 1e-3) / 1e9, "GB/s");
  gn_cuda_free(a);
  gn_cuda_free(b);
}

// Whether to time the TMA-fed wgmma kernel `kernel` (GN_BENCH_WGMMA_TMA: gpu-check lists those whose
// tests passed; unset: none).
bool bench_tma_kernel(int kernel) { return gptneo::testing::tma_kernel_listed("GN_BENCH_WGMMA_TMA", kernel, false); }
// Whether to time the clustered decode GEMM (GN_BENCH_DECODE_TC_CLUSTER=1: gpu-check sets it once its tests
// passed; unset: not).
bool bench_decode_tc_cluster() {
  const char* v = std::getenv("GN_BENCH_DECODE_TC_CLUSTER");
  return v != nullptr && std::strcmp(v, "1") == 0;
}
// --decode-only: the decode rows of the GEMM bench and the decode layers (gpu-check runs it again with
// GPTNEO_CUDA_DECODE_TC=cluster, a process-wide choice, to time the layers with that kernel).
bool g_decode_only = false;

void bench_gemm(const ModelShape& s, bool quick, int dtype) {
  struct Lin {
    const char* name;
    int n, k;
  } lins[] = {{"qkv", s.qkv, s.hidden}, {"out_proj", s.hidden, s.hidden}, {"c_fc", s.mlp, s.hidden},
              {"c_proj", s.hidden, s.mlp}, {"lm_head", s.vocab, s.hidden}};
  std::vector<int> ms_list = g_decode_only ? std::vector<int>{64}
                             : quick        ? std::vector<int>{512}
                                            : std::vector<int>{512, 2048, 4096};  // (64: x and y sizes only)
  const char* dt = dtype == GN_DTYPE_BF16 ? "bf16" : dtype == GN_DTYPE_F16 ? "f16" : "f32";
  for (const auto& l : lins) {
    void* w = random_weights((size_t)l.n * l.k, dtype, 7u + l.n);
    float* bias = random_f32(l.n, 11u, 0.1f);
    const int max_m = ms_list.back();
    float* x = random_f32((size_t)max_m * l.k, 13u, 1.f);
    float* y = static_cast<float*>(dalloc((size_t)max_m * l.n * 4));
    for (int m : ms_list) {
      if (g_decode_only) break;
      double ms = time_ms([&] { BENCH_CHECK(gn_cuda_gemm(x, m, l.k, w, dtype, l.n, l.k, bias, y, l.n, 0, nullptr)); },
                          2, 10);
      char shape[96];
      std::snprintf(shape, sizeof shape, "%s %s m=%d n=%d k=%d [%s]", s.name, l.name, m, l.n, l.k,
                    gn_cuda_gemm_kernel_name(gn_cuda_gemm_select(m, l.n, l.k, dtype, x, l.k, w)));
      add(std::string("gemm_prefill_") + dt, std::string("gemm/") + s.name + "/" + l.name + "/m=" + std::to_string(m), shape, ms, 2.0 * m * l.n * l.k / (ms * 1e-3) / 1e12, "TFLOP/s");
      // The other tensor-core tile shape at the same size, to check the selection threshold (the
      // 128x128 mma.sync kernel when wgmma is the selected one, as by default on Hopper).
      const int sel = gn_cuda_gemm_select(m, l.n, l.k, dtype, x, l.k, w);
      if (sel == GN_GEMM_TENSOR_CORE || sel == GN_GEMM_TENSOR_CORE_64 || sel == GN_GEMM_WGMMA_SS) {
        const int alt = sel == GN_GEMM_TENSOR_CORE ? GN_GEMM_TENSOR_CORE_64 : GN_GEMM_TENSOR_CORE;
        double ms_alt = time_ms([&] {
          BENCH_CHECK(gn_cuda_gemm_with(alt, x, m, l.k, w, dtype, l.n, l.k, bias, y, l.n, 0, nullptr));
        }, 2, 10);
        std::snprintf(shape, sizeof shape, "%s %s m=%d n=%d k=%d [%s, not selected]", s.name, l.name, m, l.n, l.k,
                      gn_cuda_gemm_kernel_name(alt));
        add(std::string("gemm_alt_") + dt, std::string("gemm_alt/") + s.name + "/" + l.name + "/m=" + std::to_string(m),
            shape, ms_alt, 2.0 * m * l.n * l.k / (ms_alt * 1e-3) / 1e12, "TFLOP/s");
      }
      // The Hopper wgmma kernels forced at the same size (where the device runs them; keys gemm_wgmma/
      // and, with GN_BENCH_WGMMA_TMA=1 (gpu-check sets it once the kernels' tests passed), the
      // TMA-fed ones' gemm_wgmma_tma/, gemm_wgmma_tma_persistent/ and gemm_wgmma_tma_cluster/; their
      // times include rounding x), also where not selected.
      bool wgmma_ss_ran = false;
      for (const int kernel : {(int)GN_GEMM_WGMMA_SS, (int)GN_GEMM_WGMMA_TMA, (int)GN_GEMM_WGMMA_TMA_PERSISTENT,
                               (int)GN_GEMM_WGMMA_TMA_CLUSTER}) {
        if (kernel != GN_GEMM_WGMMA_SS && !bench_tma_kernel(kernel)) continue;
        const auto wgmma = [&] { return gn_cuda_gemm_with(kernel, x, m, l.k, w, dtype, l.n, l.k, bias, y, l.n, 0, nullptr); };
        const int wst = wgmma();
        if (wst == GN_CUDA_EUNSUPPORTED) continue;
        BENCH_CHECK(wst);
        if (kernel == GN_GEMM_WGMMA_SS) wgmma_ss_ran = true;
        double ms_wg = time_ms([&] { BENCH_CHECK(wgmma()); }, 2, 10);
        const std::string tag = kernel == GN_GEMM_WGMMA_TMA_CLUSTER      ? "wgmma_tma_cluster"
                                : kernel == GN_GEMM_WGMMA_TMA_PERSISTENT ? "wgmma_tma_persistent"
                                : kernel == GN_GEMM_WGMMA_TMA          ? "wgmma_tma"
                                                                       : "wgmma";
        std::snprintf(shape, sizeof shape, "%s %s m=%d n=%d k=%d [%s%s]", s.name, l.name, m, l.n, l.k,
                      gn_cuda_gemm_kernel_name(kernel), sel == kernel ? "" : ", not selected");
        add("gemm_" + tag + "_" + dt, "gemm_" + tag + "/" + s.name + "/" + l.name + "/m=" + std::to_string(m),
            shape, ms_wg, 2.0 * m * l.n * l.k / (ms_wg * 1e-3) / 1e12, "TFLOP/s");
      }
      // What rounding x to 16 bits costs inside those wgmma times (a conversion of the same m x k, by
      // gn_cuda_convert: the same bytes as the GEMMs' rounding pass), so that the kernel's own rate can
      // be told apart from it (key gemm_round_x/; GB/s of fp32 read plus 16-bit written).
      if (wgmma_ss_ran) {
        void* x16 = dalloc((size_t)m * l.k * 2);
        const double ms_round =
            time_ms([&] { BENCH_CHECK(gn_cuda_convert(x, GN_DTYPE_F32, x16, dtype, (size_t)m * l.k, nullptr)); }, 2, 10);
        std::snprintf(shape, sizeof shape, "%s %s m=%d k=%d [x fp32 -> %s]", s.name, l.name, m, l.k, dt);
        add(std::string("gemm_round_x_") + dt, "gemm_round_x/" + std::string(s.name) + "/" + l.name + "/m=" + std::to_string(m),
            shape, ms_round, (double)m * l.k * 6 / (ms_round * 1e-3) / 1e9, "GB/s");
        gn_cuda_free(x16);
      }
    }
    // Decode batches 1..64 (4: where the streaming GEMV and the clustered decode GEMM meet): the weights are the bytes that must move (GB/s of W). Per-call event
    // timing (historical rows), back-to-back timing (b2b rows), and at m = 32 the previous path
    // (GEMV in slices of 8 rows) for comparison.
    const double bytes = (double)l.n * l.k * (dtype == GN_DTYPE_F32 ? 4 : 2);
    void *pdl_stream = nullptr, *plain_stream = nullptr;
    BENCH_CHECK(gn_cuda_stream_create(&pdl_stream));
    BENCH_CHECK(gn_cuda_stream_create(&plain_stream));
    BENCH_CHECK(gn_cuda_stream_set_programmatic_launch(pdl_stream, 1));
    for (int m : {1, 4, 8, 16, 32, 64}) {
      auto call = [&] { BENCH_CHECK(gn_cuda_gemm(x, m, l.k, w, dtype, l.n, l.k, bias, y, l.n, 0, nullptr)); };
      const std::string key = std::string("gemv/") + s.name + "/" + l.name + "/m=" + std::to_string(m);
      char shape[96];
      std::snprintf(shape, sizeof shape, "%s %s m=%d n=%d k=%d [%s]", s.name, l.name, m, l.n, l.k,
                    gn_cuda_gemm_kernel_name(gn_cuda_gemm_select(m, l.n, l.k, dtype, x, l.k, w)));
      double ms = time_ms(call, 3, 20);
      add(std::string("gemm_decode_") + dt, key, shape, ms, bytes / (ms * 1e-3) / 1e9, "GB/s");
      ms = time_ms_b2b(call, 20, 10);
      add(std::string("gemm_decode_b2b_") + dt, "b2b/" + key, shape, ms, bytes / (ms * 1e-3) / 1e9, "GB/s");
      if (m == 32) {
        ms = time_ms_b2b([&] {
          BENCH_CHECK(gn_cuda_gemm_with(GN_GEMM_GEMV, x, m, l.k, w, dtype, l.n, l.k, bias, y, l.n, 0, nullptr));
        }, 20, 10);
        std::snprintf(shape, sizeof shape, "%s %s m=%d n=%d k=%d [gemv, not selected]", s.name, l.name, m, l.n, l.k);
        add(std::string("gemm_decode_b2b_gemv_") + dt, "b2b_gemv/" + key, shape, ms, bytes / (ms * 1e-3) / 1e9, "GB/s");
      }
      // The decode tensor-core kernel forced where the dispatcher takes another path (key b2b_dtc/), and
      // its clustered form on an ordinary and a programmatic stream (b2b_dtc_cluster/, b2b_dtc_cluster_pdl/;
      // with GN_BENCH_DECODE_TC_CLUSTER=1), back to back: the same weights and batch, so that the rows
      // compare the kernels directly.
      if (m > 1 && dtype != GN_DTYPE_F32) {
        const auto forced = [&](int kernel, void* st) {
          return gn_cuda_gemm_with(kernel, x, m, l.k, w, dtype, l.n, l.k, bias, y, l.n, 0, st);
        };
        struct Variant {
          const char* tag;
          int kernel;
          void* stream;
          bool on;
        } variants[] = {
            {"dtc", GN_GEMM_DECODE_TC, plain_stream, gn_cuda_gemm_select(m, l.n, l.k, dtype, x, l.k, w) != GN_GEMM_DECODE_TC},
            {"dtc_cluster", GN_GEMM_DECODE_TC_CLUSTER, plain_stream, bench_decode_tc_cluster()},
            {"dtc_cluster_pdl", GN_GEMM_DECODE_TC_CLUSTER, pdl_stream, bench_decode_tc_cluster()}};
        for (const Variant& v : variants) {
          if (!v.on) continue;
          const int first = forced(v.kernel, v.stream);
          if (first == GN_CUDA_EUNSUPPORTED) continue;
          BENCH_CHECK(first);
          ms = time_ms_b2b([&] { BENCH_CHECK(forced(v.kernel, v.stream)); }, 20, 10, v.stream);
          std::snprintf(shape, sizeof shape, "%s %s m=%d n=%d k=%d [%s%s]", s.name, l.name, m, l.n, l.k,
                        gn_cuda_gemm_kernel_name(v.kernel), v.stream == pdl_stream ? ", pdl" : "");
          add(std::string("gemm_decode_b2b_") + v.tag + "_" + dt, std::string("b2b_") + v.tag + "/" + key, shape, ms,
              bytes / (ms * 1e-3) / 1e9, "GB/s");
        }
      }
    }
    // The streaming GEMV beside the GEMV at the batch sizes it serves, back to back (keys b2b_stream/,
    // b2b_stream_nopdl/, b2b_gemv/): on a stream marked for programmatic launch each launch's first
    // weight loads overlap the previous launch's end, as consecutive GEMVs of a decode step would.
    for (int m : {1, 2, 4, 8}) {
      if (!gn_cuda_gemv_stream_supported(m, l.n, l.k, dtype, w)) continue;
      const std::string key = std::string("gemv/") + s.name + "/" + l.name + "/m=" + std::to_string(m);
      char shape[112];
      for (int variant = 0; variant < 3; ++variant) {
        const char* tag = variant == 0 ? "stream" : variant == 1 ? "stream_nopdl" : "gemv";
        double ms = time_ms_b2b([&] {
          if (variant == 2)
            BENCH_CHECK(gn_cuda_gemm_with(GN_GEMM_GEMV, x, m, l.k, w, dtype, l.n, l.k, bias, y, l.n, 0, plain_stream));
          else
            BENCH_CHECK(gn_cuda_gemv_stream(x, m, l.k, nullptr, nullptr, 0.f, w, dtype, l.n, l.k, bias, y, l.n, 0,
                                            variant == 0 ? pdl_stream : plain_stream));
        }, 20, 10, variant == 0 ? pdl_stream : plain_stream);
        std::snprintf(shape, sizeof shape, "%s %s m=%d n=%d k=%d [%s]", s.name, l.name, m, l.n, l.k,
                      variant == 0 ? "gemv-stream, pdl" : variant == 1 ? "gemv-stream" : "gemv");
        add(std::string("gemm_decode_b2b_") + tag + "_" + dt, std::string("b2b_") + tag + "/" + key, shape, ms,
            bytes / (ms * 1e-3) / 1e9, "GB/s");
      }
    }
    BENCH_CHECK(gn_cuda_stream_destroy(pdl_stream));
    BENCH_CHECK(gn_cuda_stream_destroy(plain_stream));
    gn_cuda_free(w);
    gn_cuda_free(bias);
    gn_cuda_free(x);
    gn_cuda_free(y);
  }
}

// The prompt MLP block as the model runs it (layer norm, c_fc + gelu_new, c_proj accumulating into the
// residual), m rows of a bf16 model: with fp32 activations (each wgmma GEMM rounds its x in a pass of
// its own; key mlp/) and with 16-bit ones handed from op to op (gn_cuda_layernorm_x16,
// gn_cuda_gemm_x16; key mlp_x16/, what GPTNEO_CUDA_X16=1 runs). TFLOP/s of the two GEMMs over the
// block's time. Only where the dispatcher puts both projections on a wgmma kernel.
void bench_mlp(const ModelShape& s, int m) {
  const int dt = GN_DTYPE_BF16, h = s.hidden, inter = s.mlp;
  float* x = random_f32((size_t)m * h, 21u, 1.f);
  float* gamma = random_f32(h, 22u, 1.f);
  float* beta = random_f32(h, 23u, 0.1f);
  void* w1 = random_weights((size_t)inter * h, dt, 24u);
  void* w2 = random_weights((size_t)h * inter, dt, 25u);
  float* b1 = random_f32(inter, 26u, 0.1f);
  float* b2 = random_f32(h, 27u, 0.1f);
  float* norm = static_cast<float*>(dalloc((size_t)m * h * 4));
  float* mid = static_cast<float*>(dalloc((size_t)m * inter * 4));
  const int k1 = gn_cuda_gemm_select(m, inter, h, dt, norm, h, w1), k2 = gn_cuda_gemm_select(m, h, inter, dt, mid, inter, w2);
  if (gn_cuda_gemm_x16(k1, norm, dt, m, h, w1, dt, inter, h, b1, mid, dt, inter, GN_EPILOGUE_GELU_NEW, nullptr) == 0 &&
      gn_cuda_gemm_x16(k2, mid, dt, m, inter, w2, dt, h, inter, b2, x, GN_DTYPE_F32, h, GN_EPILOGUE_ACCUMULATE, nullptr) == 0) {
    const double flop = 4.0 * m * h * inter;
    const double ms32 = time_ms([&] {
      BENCH_CHECK(gn_cuda_layernorm(x, m, h, h, gamma, beta, 1e-5f, norm, h, nullptr));
      BENCH_CHECK(gn_cuda_gemm(norm, m, h, w1, dt, inter, h, b1, mid, inter, GN_EPILOGUE_GELU_NEW, nullptr));
      BENCH_CHECK(gn_cuda_gemm(mid, m, inter, w2, dt, h, inter, b2, x, h, GN_EPILOGUE_ACCUMULATE, nullptr));
    }, 2, 10);
    const double ms16 = time_ms([&] {
      BENCH_CHECK(gn_cuda_layernorm_x16(x, m, h, h, gamma, beta, 1e-5f, norm, dt, h, nullptr));
      BENCH_CHECK(gn_cuda_gemm_x16(k1, norm, dt, m, h, w1, dt, inter, h, b1, mid, dt, inter, GN_EPILOGUE_GELU_NEW, nullptr));
      BENCH_CHECK(gn_cuda_gemm_x16(k2, mid, dt, m, inter, w2, dt, h, inter, b2, x, GN_DTYPE_F32, h, GN_EPILOGUE_ACCUMULATE,
                                   nullptr));
    }, 2, 10);
    char shape[128];
    std::snprintf(shape, sizeof shape, "%s mlp m=%d h=%d inter=%d [%s, %s] fp32 activations", s.name, m, h, inter,
                  gn_cuda_gemm_kernel_name(k1), gn_cuda_gemm_kernel_name(k2));
    add("mlp_bf16", std::string("mlp/") + s.name + "/m=" + std::to_string(m), shape, ms32, flop / (ms32 * 1e-3) / 1e12,
        "TFLOP/s");
    std::snprintf(shape, sizeof shape, "%s mlp m=%d h=%d inter=%d [%s, %s] 16-bit activations", s.name, m, h, inter,
                  gn_cuda_gemm_kernel_name(k1), gn_cuda_gemm_kernel_name(k2));
    add("mlp_x16_bf16", std::string("mlp_x16/") + s.name + "/m=" + std::to_string(m), shape, ms16,
        flop / (ms16 * 1e-3) / 1e12, "TFLOP/s");
  }
  (void)cudaGetLastError();
  for (void* p : {(void*)x, (void*)gamma, (void*)beta, w1, w2, (void*)b1, (void*)b2, (void*)norm, (void*)mid}) gn_cuda_free(p);
}

// One attention problem: `seqs` sequences, each with `fresh` new queries at the end of `ctx` keys.
// kernel: GN_ATTENTION_AUTO (what gn_cuda_attention picks) or a forced GN_ATTENTION_* kernel;
// operand_dtype: the precision the caller accepts (GN_DTYPE_BF16: a bf16 model's attention);
// cache_dtype: the KV cache's element type (a bf16 model keeps a bf16 cache).
void bench_attention(const char* label, int seqs, int ctx, int fresh, int heads, int hd,
                     int kernel = GN_ATTENTION_AUTO, int operand_dtype = GN_DTYPE_F32, int cache_dtype = GN_DTYPE_F32) {
  const int bs = 16, width = heads * hd, blocks_per_seq = (ctx + bs - 1) / bs, tokens = seqs * fresh;
  const size_t cache = (size_t)seqs * blocks_per_seq * bs * width;
  void* kc = random_weights(cache, cache_dtype, 21u, 1.f);
  void* vc = random_weights(cache, cache_dtype, 22u, 1.f);
  float* q = random_f32((size_t)tokens * width, 23u, 0.2f);
  float* out = static_cast<float*>(dalloc((size_t)tokens * width * 4));
  std::vector<int32_t> pos(tokens), starts(seqs + 1), tables((size_t)seqs * blocks_per_seq);
  for (int s = 0; s < seqs; ++s) {
    starts[s] = s * fresh;
    for (int i = 0; i < fresh; ++i) pos[s * fresh + i] = ctx - fresh + i;
    for (int b = 0; b < blocks_per_seq; ++b) tables[(size_t)s * blocks_per_seq + b] = s * blocks_per_seq + b;
  }
  starts[seqs] = tokens;
  int32_t* dpos = static_cast<int32_t*>(dalloc(pos.size() * 4));
  int32_t* dstarts = static_cast<int32_t*>(dalloc(starts.size() * 4));
  int32_t* dtab = static_cast<int32_t*>(dalloc(tables.size() * 4));
  BENCH_CHECK(gn_cuda_upload(dpos, pos.data(), pos.size() * 4, nullptr));
  BENCH_CHECK(gn_cuda_upload(dstarts, starts.data(), starts.size() * 4, nullptr));
  BENCH_CHECK(gn_cuda_upload(dtab, tables.data(), tables.size() * 4, nullptr));
  gn_cuda_batch b{tokens, seqs, dpos, dstarts, dtab, blocks_per_seq, bs, ctx};
  const size_t ws_bytes = gn_cuda_attention_workspace_bytes(&b, heads, hd);
  void* ws = ws_bytes ? dalloc(ws_bytes) : nullptr;
  auto call = [&] {
    BENCH_CHECK(gn_cuda_attention_with(kernel, q, width, kc, vc, cache_dtype, &b, heads, hd, 0, 1.0f, operand_dtype, out,
                                       width, ws, ws_bytes, nullptr));
  };
  double ms = time_ms(call, 2, 10);
  char shape[96];
  const int ran = kernel == GN_ATTENTION_AUTO ? gn_cuda_attention_select(&b, hd, kc, vc, cache_dtype, operand_dtype)
                                              : kernel;
  const char* cache_name = cache_dtype == GN_DTYPE_BF16 ? "bf16" : cache_dtype == GN_DTYPE_F16 ? "f16" : "f32";
  std::snprintf(shape, sizeof shape, "seqs=%d ctx=%d new=%d H=%d D=%d [%s, %s cache]", seqs, ctx, fresh, heads, hd,
                gn_cuda_attention_kernel_name(ran), cache_name);
  // Rows of a forced kernel or a half cache get their own names; the default path keeps the historical ones.
  std::string tag = kernel == GN_ATTENTION_AUTO ? "" : std::string(gn_cuda_attention_kernel_name(kernel)) + "_";
  if (cache_dtype != GN_DTYPE_F32) tag += std::string(cache_name) + "cache_";
  if (cache_dtype != GN_DTYPE_F32 && fresh == 1 && gn_cuda_decode_keys16() == 8) tag += "keys8_";
  if (fresh == 1 && gn_cuda_decode_split_waves()) tag += "waves_";
  if (fresh > 1) {
    double pairs = 0;  // causal (query, key) pairs
    for (int i = 0; i < fresh; ++i) pairs += ctx - fresh + i + 1;
    const double flops = 4.0 * pairs * seqs * heads * hd;
    add(std::string("attn_prefill_") + tag + label,
        std::string("attn_prefill/") + tag + label + "/seqs=" + std::to_string(seqs) + "/ctx=" + std::to_string(ctx), shape,
        ms, flops / (ms * 1e-3) / 1e12, "TFLOP/s");
  } else {
    const double bytes = 2.0 * seqs * ctx * width * (cache_dtype == GN_DTYPE_F32 ? 4 : 2);  // K and V once
    const std::string key = std::string("attn_decode/") + tag + label + "/seqs=" + std::to_string(seqs) + "/ctx=" + std::to_string(ctx);
    add(std::string("attn_decode_") + tag + label, key, shape, ms, bytes / (ms * 1e-3) / 1e9, "GB/s");
    const double ms_b2b = time_ms_b2b(call, 20, 10);
    add(std::string("attn_decode_b2b_") + tag + label, "b2b/" + key, shape, ms_b2b, bytes / (ms_b2b * 1e-3) / 1e9, "GB/s");
  }
  for (void* p : {kc, vc, (void*)q, (void*)out, (void*)dpos, (void*)dstarts, (void*)dtab, ws})
    gn_cuda_free(p);
}

// One GPT-Neo decoder layer at decode (bf16 weights, `seqs` sequences with one new token each at
// context `ctx`): layernorm, qkv, kv_write, attention, out_proj (+= residual), layernorm, c_fc+gelu,
// c_proj (+= residual). Timed per layer as queued launches back to back on one stream, and as the
// replay of a CUDA graph of the same launches (what a captured decode step would cost).
// fused_ln: both layer norms folded into the following GEMV (gn_cuda_layernorm_gemv) where it serves.
// gemv_stream: the projections the GEMV would take on the streaming GEMV instead (gn_cuda_gemv_stream),
// as the backend runs them with GPTNEO_CUDA_GEMV_STREAM=1.
// pdl: the layer's stream marked for programmatic dependent launch (every kernel of the layer then
// overlaps its launch with the previous one's end; GPTNEO_CUDA_PDL=1 in the backend).
// fused_kv: kv_write done by the attention kernel (gn_cuda_attention_append; GPTNEO_CUDA_FUSED_KV=1).
// l2_prefetch: the streaming GEMV's warps ask L2 for their weight rows before waiting for the previous
// kernel (the layer's stream marked by gn_cuda_stream_set_l2_prefetch; GPTNEO_CUDA_L2_PREFETCH=1).
// persistent: the whole layer as one cooperative launch (gn_cuda_decode_layer; GPTNEO_CUDA_FUSED_LAYER=1),
// one sequence only; the results equal those of fused_ln + gemv_stream + fused_kv.
void bench_decode_layer(const ModelShape& s, int seqs, int ctx, bool fused_ln, bool gemv_stream, bool pdl,
                        bool fused_kv = false, bool l2_prefetch = false, bool persistent = false) {
  const int hid = s.hidden, bs = 16, blocks_per_seq = (ctx + bs - 1) / bs, tokens = seqs;
  // Each projection takes the path CudaBackend::linear / layernorm_linear would (alignment aside, which
  // dalloc's 256 bytes satisfy: nullptr stands for the pointers here): the GEMV where the dispatcher
  // picks it, the streaming GEMV instead where that serves, the layer norm folded in only there.
  const auto on_gemv = [&](int n, int k) {
    return gn_cuda_gemm_select(tokens, n, k, GN_DTYPE_BF16, nullptr, k, nullptr) == GN_GEMM_GEMV;
  };
  const auto streamed = [&](int n, int k) {
    return gemv_stream && on_gemv(n, k) && gn_cuda_gemv_stream_supported(tokens, n, k, GN_DTYPE_BF16, nullptr);
  };
  const auto folded = [&](int n, int k) {
    return fused_ln && on_gemv(n, k) && gn_cuda_layernorm_gemv_supported(tokens, n, k, GN_DTYPE_BF16, nullptr);
  };
  // A variant that changes nothing at this batch size would only repeat the plain rows.
  if (fused_ln && !folded(s.qkv, hid) && !folded(s.mlp, hid)) return;
  if (gemv_stream && !streamed(s.qkv, hid) && !streamed(hid, hid) && !streamed(s.mlp, hid) && !streamed(hid, s.mlp)) return;
  if (l2_prefetch && !gemv_stream) return;
  if (persistent && (seqs != 1 || !fused_ln || !gemv_stream || !fused_kv)) return;
  void* stream = nullptr;
  BENCH_CHECK(gn_cuda_stream_create(&stream));
  BENCH_CHECK(gn_cuda_stream_set_programmatic_launch(stream, pdl ? 1 : 0));
  BENCH_CHECK(gn_cuda_stream_set_l2_prefetch(stream, l2_prefetch ? 1 : 0));
  void* wqkv = random_weights((size_t)s.qkv * hid, GN_DTYPE_BF16, 31u);
  void* wo = random_weights((size_t)hid * hid, GN_DTYPE_BF16, 32u);
  void* wfc = random_weights((size_t)s.mlp * hid, GN_DTYPE_BF16, 33u);
  void* wproj = random_weights((size_t)hid * s.mlp, GN_DTYPE_BF16, 34u);
  float* bo = random_f32(hid, 35u, 0.1f);
  float* bfc = random_f32(s.mlp, 36u, 0.1f);
  float* bproj = random_f32(hid, 37u, 0.1f);
  float* gamma = random_f32(hid, 38u, 1.f);
  float* beta = random_f32(hid, 39u, 0.1f);
  float* h = random_f32((size_t)tokens * hid, 40u, 1.f);
  float* a = static_cast<float*>(dalloc((size_t)tokens * hid * 4));
  float* qkv = static_cast<float*>(dalloc((size_t)tokens * s.qkv * 4));
  float* att = static_cast<float*>(dalloc((size_t)tokens * hid * 4));
  float* f = static_cast<float*>(dalloc((size_t)tokens * s.mlp * 4));
  const size_t cache = (size_t)seqs * blocks_per_seq * bs * hid;  // bf16, as a bf16 model keeps it
  void* kc = random_weights(cache, GN_DTYPE_BF16, 41u, 1.f);
  void* vc = random_weights(cache, GN_DTYPE_BF16, 42u, 1.f);
  std::vector<int32_t> pos(tokens), starts(seqs + 1), tables((size_t)seqs * blocks_per_seq);
  for (int q = 0; q < seqs; ++q) {
    starts[q] = q;
    pos[q] = ctx - 1;
    for (int b = 0; b < blocks_per_seq; ++b) tables[(size_t)q * blocks_per_seq + b] = q * blocks_per_seq + b;
  }
  starts[seqs] = tokens;
  int32_t* dpos = static_cast<int32_t*>(dalloc(pos.size() * 4));
  int32_t* dstarts = static_cast<int32_t*>(dalloc(starts.size() * 4));
  int32_t* dtab = static_cast<int32_t*>(dalloc(tables.size() * 4));
  BENCH_CHECK(gn_cuda_upload(dpos, pos.data(), pos.size() * 4, nullptr));
  BENCH_CHECK(gn_cuda_upload(dstarts, starts.data(), starts.size() * 4, nullptr));
  BENCH_CHECK(gn_cuda_upload(dtab, tables.data(), tables.size() * 4, nullptr));
  BENCH_CHECK(cudaDeviceSynchronize());
  gn_cuda_batch b{tokens, seqs, dpos, dstarts, dtab, blocks_per_seq, bs, ctx};
  // The persistent layer's workspace: its grid barrier, then the attention's (which the other rows use).
  const size_t layer_ws_bytes = gn_cuda_decode_layer_workspace_bytes(&b, s.heads, s.head_dim);
  char* layer_ws = static_cast<char*>(dalloc(layer_ws_bytes));
  BENCH_CHECK(cudaMemset(layer_ws, 0, layer_ws_bytes));  // (the barrier and gn_cuda_attention_append's counters)
  void* ws = layer_ws + GN_CUDA_DECODE_LAYER_BARRIER_BYTES;
  const size_t ws_bytes = layer_ws_bytes - GN_CUDA_DECODE_LAYER_BARRIER_BYTES;
  gn_cuda_decode_layer_args la{};
  la.d_h = h;
  la.hidden = hid;
  la.inner = s.mlp;
  la.d_ln1_gamma = la.d_ln2_gamma = gamma;
  la.d_ln1_beta = la.d_ln2_beta = beta;
  la.eps = 1e-5f;
  la.w_dtype = GN_DTYPE_BF16;
  la.d_w_qkv = wqkv;
  la.d_w_out = wo;
  la.d_b_out = bo;
  la.d_w_fc = wfc;
  la.d_b_fc = bfc;
  la.d_w_proj = wproj;
  la.d_b_proj = bproj;
  la.d_k_cache = kc;
  la.d_v_cache = vc;
  la.cache_dtype = GN_DTYPE_BF16;
  la.batch = b;
  la.heads = s.heads;
  la.head_dim = s.head_dim;
  la.scale = 1.0f;
  la.d_qkv = qkv;
  la.d_attn = att;
  la.d_mid = f;
  la.d_workspace = layer_ws;
  la.workspace_bytes = layer_ws_bytes;
  // Every buffer above (layer_ws, not ws: that points into it), then the stream.
  auto release_all = [&] {
    BENCH_CHECK(gn_cuda_stream_synchronize(stream));
    for (void* p : {wqkv, wo, wfc, wproj, (void*)bo, (void*)bfc, (void*)bproj, (void*)gamma, (void*)beta, (void*)h,
                    (void*)a, (void*)qkv, (void*)att, (void*)f, kc, vc, (void*)dpos, (void*)dstarts, (void*)dtab,
                    (void*)layer_ws})
      if (gn_cuda_free(p) != 0) std::fprintf(stderr, "bench: decode_layer could not free a buffer\n");
    BENCH_CHECK(gn_cuda_stream_destroy(stream));
  };
  if (persistent) {
    const int served = gn_cuda_decode_layer_supported(&la);
    if (served != GN_CUDA_OK) {
      std::printf("decode_layer %s ctx=%d persistent: not served (%s)\n", s.name, ctx, gn_cuda_status_name(served));
      release_all();
      return;
    }
  }
  // y = x · Wᵀ (+ bias, epilogue), x layer-normed first when fused_ln (then x is h), by the path benched.
  // y = x · Wᵀ (+ bias, epilogue); norm: x is h and goes through the layer norm first.
  auto project = [&](const float* x, bool norm, void* w, int n, int k, const float* bias, float* y, int ep) {
    const bool fold = norm && folded(n, k);
    if (norm && !fold) {
      BENCH_CHECK(gn_cuda_layernorm(x, tokens, k, k, gamma, beta, 1e-5f, a, k, stream));
      x = a;
    }
    if (streamed(n, k)) {
      BENCH_CHECK(gn_cuda_gemv_stream(x, tokens, k, fold ? gamma : nullptr, fold ? beta : nullptr, 1e-5f, w, GN_DTYPE_BF16, n,
                                      k, bias, y, n, ep, stream));
    } else if (fold) {
      BENCH_CHECK(gn_cuda_layernorm_gemv(x, tokens, k, gamma, beta, 1e-5f, w, GN_DTYPE_BF16, n, k, bias, y, n, ep, stream));
    } else {
      BENCH_CHECK(gn_cuda_gemm(x, tokens, k, w, GN_DTYPE_BF16, n, k, bias, y, n, ep, stream));
    }
  };
  auto layer = [&] {
    if (persistent) {
      BENCH_CHECK(gn_cuda_decode_layer(&la, stream));
      return;
    }
    project(h, true, wqkv, s.qkv, hid, nullptr, qkv, GN_EPILOGUE_STORE);
    if (fused_kv) {
      BENCH_CHECK(gn_cuda_attention_append(qkv, s.qkv, qkv + hid, qkv + 2 * hid, s.qkv, kc, vc, GN_DTYPE_BF16, &b, s.heads,
                                           s.head_dim, 0, 1.0f, att, hid, ws, ws_bytes, stream));
    } else {
      BENCH_CHECK(gn_cuda_kv_write(qkv + hid, qkv + 2 * hid, s.qkv, &b, s.heads, s.head_dim, kc, vc, GN_DTYPE_BF16, stream));
      BENCH_CHECK(gn_cuda_attention(qkv, s.qkv, kc, vc, GN_DTYPE_BF16, &b, s.heads, s.head_dim, 0, 1.0f, GN_DTYPE_BF16,
                                    att, hid, ws, ws_bytes, stream));
    }
    project(att, false, wo, hid, hid, bo, h, GN_EPILOGUE_ACCUMULATE);
    project(h, true, wfc, s.mlp, hid, bfc, f, GN_EPILOGUE_GELU_NEW);
    project(f, false, wproj, hid, s.mlp, bproj, h, GN_EPILOGUE_ACCUMULATE);
  };
  constexpr int kLayers = 12;  // launches queued per timed region (as layers of one step)
  cudaEvent_t e0, e1;
  BENCH_CHECK(cudaEventCreate(&e0));
  BENCH_CHECK(cudaEventCreate(&e1));
  auto time_region = [&](auto&& fn) {
    fn();  // warm-up
    BENCH_CHECK(gn_cuda_stream_synchronize(stream));
    std::vector<float> ms(10);
    for (auto& v : ms) {
      BENCH_CHECK(cudaEventRecord(e0, static_cast<cudaStream_t>(stream)));
      fn();
      BENCH_CHECK(cudaEventRecord(e1, static_cast<cudaStream_t>(stream)));
      BENCH_CHECK(cudaEventSynchronize(e1));
      BENCH_CHECK(cudaEventElapsedTime(&v, e0, e1));
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2] / kLayers;
  };
  const double ms_launch = time_region([&] {
    for (int i = 0; i < kLayers; ++i) layer();
  });
  BENCH_CHECK(gn_cuda_capture_begin(stream));
  for (int i = 0; i < kLayers; ++i) layer();
  void* graph = nullptr;
  BENCH_CHECK(gn_cuda_capture_end(stream, &graph));
  const double ms_graph = time_region([&] { BENCH_CHECK(gn_cuda_graph_launch(graph, stream)); });
  const double bytes = ((double)s.qkv * hid + (double)hid * hid + 2.0 * s.mlp * hid) * 2 + 2.0 * seqs * ctx * hid * 4;
  char shape[112];
  const std::string variant_s = std::string(fused_ln ? ", fused ln" : "") + (gemv_stream ? ", gemv-stream" : "") +
                                (pdl ? ", pdl" : "") + (fused_kv ? ", fused kv" : "") + (l2_prefetch ? ", l2 prefetch" : "") +
                                (persistent ? ", persistent" : "");
  const char* variant = variant_s.c_str();
  const std::string suffix = std::string(fused_ln ? "_fused_ln" : "") + (gemv_stream ? "_stream" : "") +
                             (pdl ? "_pdl" : "") + (fused_kv ? "_fused_kv" : "") + (l2_prefetch ? "_l2_prefetch" : "") +
                             (persistent ? "_persistent" : "");
  std::snprintf(shape, sizeof shape, "%s seqs=%d ctx=%d, per layer [launches%s]", s.name, seqs, ctx, variant);
  const std::string key = std::string("decode_layer/") + s.name + "/seqs=" + std::to_string(seqs) + "/ctx=" +
                          std::to_string(ctx) + (fused_ln ? "/fused_ln" : "") + (gemv_stream ? "/stream" : "") +
                          (pdl ? "/pdl" : "") + (fused_kv ? "/fused_kv" : "") + (l2_prefetch ? "/l2_prefetch" : "") +
                          (persistent ? "/persistent" : "");
  add("decode_layer_launch" + suffix, key, shape, ms_launch, bytes / (ms_launch * 1e-3) / 1e9, "GB/s");
  std::snprintf(shape, sizeof shape, "%s seqs=%d ctx=%d, per layer [graph%s]", s.name, seqs, ctx, variant);
  add("decode_layer_graph" + suffix, "graph/" + key, shape, ms_graph, bytes / (ms_graph * 1e-3) / 1e9, "GB/s");
  BENCH_CHECK(gn_cuda_graph_destroy(graph));
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  release_all();
}

// Writes g_rows to g_json_path (when set) through a temporary file renamed over it, so that the file is
// always a whole JSON document; complete: the run reached its end.
void write_json(bool complete) {
  if (g_json_path.empty()) return;
  const gn_cuda_device_info& info = g_json_device;
  const std::string tmp = g_json_path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "bench: cannot write %s\n", tmp.c_str());
    return;
  }
  std::fprintf(f, "{\n  \"device\": \"%s\",\n  \"capability\": \"%d.%d\",\n  \"complete\": %s,\n  \"results\": [\n",
               info.name, info.major, info.minor, complete ? "true" : "false");
  for (size_t i = 0; i < g_rows.size(); ++i)
    std::fprintf(f, "    {\"name\": \"%s\", \"key\": \"%s\", \"shape\": \"%s\", \"ms\": %.6f, \"value\": %.4f, \"unit\": \"%s\"}%s\n",
                 g_rows[i].name.c_str(), g_rows[i].key.c_str(), g_rows[i].shape.c_str(), g_rows[i].ms, g_rows[i].value, g_rows[i].unit.c_str(),
                 i + 1 < g_rows.size() ? "," : "");
  std::fprintf(f, "  ]\n}\n");
  const bool written = std::fclose(f) == 0 && std::rename(tmp.c_str(), g_json_path.c_str()) == 0;
  if (!written) std::fprintf(stderr, "bench: cannot write %s\n", g_json_path.c_str());
  else if (complete) std::printf("wrote %s\n", g_json_path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, gemm_only = false;  // --gemm-only: copy and GEMM rows (scripts/gpu-wgmma-check.sh)
  std::string json;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--gemm-only")) gemm_only = true;
    else if (!std::strcmp(argv[i], "--decode-only")) g_decode_only = true;
    else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--quick] [--gemm-only] [--decode-only] [--json PATH]\n", argv[0]);
      return 2;
    }
  }
  int count = 0;
  int st = gn_cuda_device_count(&count);
  if (st != 0 || count == 0) {
    std::printf("SKIP: no CUDA device (%s)\n", gn_cuda_status_string(st));
    return 0;
  }
  gn_cuda_device_info info;
  BENCH_CHECK(gn_cuda_device_info_get(0, &info));
  g_json_path = json;
  g_json_device = info;
  std::printf("device: %s (sm_%d%d, %d SMs, %.1f GiB)\n", info.name, info.major, info.minor, info.multiprocessors,
              info.total_memory / 1073741824.0);
  const ModelShape models[] = {{"125M", 768, 2304, 3072, 50257, 12, 64}, {"1.3B", 2048, 6144, 8192, 50257, 16, 128}};
  bench_copy(quick);
  for (const auto& m : models) {
    bench_gemm(m, quick, GN_DTYPE_BF16);
    if (!g_decode_only) bench_mlp(m, quick ? 512 : 2048);
    if (quick) break;
  }
  if (gemm_only) {
    write_json(true);
    return 0;
  }
  if (g_decode_only) {
    for (const auto& m : models)
      for (int seqs : {1, 8})
        for (int ctx : {128, 512})
          for (bool pdl : {false, true}) {
            bench_decode_layer(m, seqs, ctx, false, false, pdl);
            bench_decode_layer(m, seqs, ctx, false, true, pdl);  // the default: the streaming GEMV up to 4 rows
          }
    write_json(true);
    return 0;
  }
  const char* wgmma_attention_env = std::getenv("GN_BENCH_WGMMA_ATTENTION");
  const bool bench_wgmma_attention = gn_cuda_attention_wgmma_available() && wgmma_attention_env != nullptr &&
                                     std::strcmp(wgmma_attention_env, "1") == 0;
  for (const auto& m : models) {
    for (int ctx : {512, 2048}) {
      bench_attention(m.name, 1, ctx, ctx, m.heads, m.head_dim);  // fp32 operands: the tiled kernel
      bench_attention(m.name, 1, ctx, ctx, m.heads, m.head_dim, GN_ATTENTION_TENSOR_CORE, GN_DTYPE_BF16);
      bench_attention(m.name, 1, ctx, ctx, m.heads, m.head_dim, GN_ATTENTION_TENSOR_CORE, GN_DTYPE_BF16, GN_DTYPE_BF16);
      // The Hopper wgmma kernel (plain and pipelined schedules) where the device runs it, with
      // GN_BENCH_WGMMA_ATTENTION=1 (gpu-check sets it once the kernel's tests passed).
      if (bench_wgmma_attention)
        for (int kernel : {GN_ATTENTION_WGMMA, GN_ATTENTION_WGMMA_PIPELINED})
          bench_attention(m.name, 1, ctx, ctx, m.heads, m.head_dim, kernel, GN_DTYPE_BF16, GN_DTYPE_BF16);
    }
    for (int ctx : {128, 512, 2048}) {
      for (int seqs : {1, 8}) {
        bench_attention(m.name, seqs, ctx, 1, m.heads, m.head_dim);
        bench_attention(m.name, seqs, ctx, 1, m.heads, m.head_dim, GN_ATTENTION_TILED);  // the previous decode path
        // What a bf16 model runs now: its cache in bf16; and with 8 keys in flight per lane group
        // (GPTNEO_CUDA_DECODE_KEYS16=8, opt-in: rows attn_decode/bf16cache_keys8_*).
        bench_attention(m.name, seqs, ctx, 1, m.heads, m.head_dim, GN_ATTENTION_AUTO, GN_DTYPE_BF16, GN_DTYPE_BF16);
        {
          const gptneo::testing::DecodeKeys16Restore restore;
          gn_cuda_set_decode_keys16(8);
          bench_attention(m.name, seqs, ctx, 1, m.heads, m.head_dim, GN_ATTENTION_AUTO, GN_DTYPE_BF16, GN_DTYPE_BF16);
        }
        // The wave-aware split plan (GPTNEO_CUDA_DECODE_SPLIT=waves, opt-in: rows attn_decode/waves_* and
        // attn_decode/bf16cache_waves_*) where contexts split.
        if (ctx >= 512) {
          const gptneo::testing::DecodeSplitWavesRestore restore;
          gn_cuda_set_decode_split_waves(1);
          bench_attention(m.name, seqs, ctx, 1, m.heads, m.head_dim);
          bench_attention(m.name, seqs, ctx, 1, m.heads, m.head_dim, GN_ATTENTION_AUTO, GN_DTYPE_BF16, GN_DTYPE_BF16);
        }
      }
    }
    if (quick) break;
  }
  bench_candidates();
  bench_draw();
  const char* persistent_env = std::getenv("GN_BENCH_DECODE_LAYER");
  const bool bench_persistent_layer = persistent_env != nullptr && std::strcmp(persistent_env, "1") == 0;
  for (const auto& m : models) {
    for (int seqs : {1, 8})
      for (int ctx : {128, 512})
        for (bool fused_ln : {false, true})
          for (bool gemv_stream : {false, true})
            for (bool pdl : {false, true}) bench_decode_layer(m, seqs, ctx, fused_ln, gemv_stream, pdl);
    // The opt-in kv_write fusion on top of the defaults (streaming GEMV, programmatic launch), with the
    // layer norms separate and folded: the decode layer with the fewest launches.
    for (int seqs : {1, 8})
      for (int ctx : {128, 512})
        for (bool fused_ln : {false, true}) bench_decode_layer(m, seqs, ctx, fused_ln, true, true, true);
    // The opt-in L2 weight prefetch of the streaming GEMV on the defaults and on the fewest launches.
    for (int seqs : {1, 8})
      for (int ctx : {128, 512}) {
        bench_decode_layer(m, seqs, ctx, false, true, true, false, true);
        bench_decode_layer(m, seqs, ctx, true, true, true, true, true);
      }
    // The persistent layer (one sequence), with and without programmatic launch, once its test stage passed
    // (GN_BENCH_DECODE_LAYER=1: a grid-barrier bug would end the process in a trap).
    if (bench_persistent_layer)
      for (int ctx : {128, 512, 2048})
        for (bool pdl : {false, true}) bench_decode_layer(m, 1, ctx, true, true, pdl, true, false, true);
    if (quick) break;
  }
  write_json(true);
  return 0;
}
