// Plain-C launcher API of the CUDA kernels. This is the only header that host C++ code
// (model/cuda_backend.cpp, the native tests) includes from csrc/cuda: it uses C types only,
// so it compiles with any host compiler and flags (node-gyp builds C++ with -fno-rtti, and
// nvcc sees none of the target's flags), and it never pulls in cuda_runtime.h.
//
// Conventions
//  - Every function returns an int status: 0 on success, a positive cudaError_t value when a
//    CUDA runtime call or a launch failed, or a negative GN_CUDA_E* code for a request the
//    kernels cannot serve. gn_cuda_status_string() turns any status into a message.
//  - `stream` is a cudaStream_t passed as void* (NULL = legacy default stream).
//  - Pointers named d_* are device memory. Matrices are row-major with row strides ld* in
//    elements. Activations are float32; weights and tables are GN_DTYPE_* (same numbering
//    as gptneo::DType).
//  - Launchers only enqueue work: errors of the kernels themselves surface at the next
//    synchronizing call.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  GN_DTYPE_F32 = 0,
  GN_DTYPE_F16 = 1,
  GN_DTYPE_BF16 = 2,
};

enum {
  GN_CUDA_OK = 0,
  GN_CUDA_EINVAL = -1,       // malformed arguments (negative size, null pointer, bad dtype)
  GN_CUDA_EUNSUPPORTED = -2, // valid request outside what the kernels support (e.g. head_dim > 128)
};

// Matches gptneo::LinearEpilogue.
enum {
  GN_EPILOGUE_STORE = 0,      // y = x·Wᵀ + b
  GN_EPILOGUE_GELU_NEW = 1,   // y = gelu_new(x·Wᵀ + b)
  GN_EPILOGUE_ACCUMULATE = 2, // y += x·Wᵀ + b
};

// Message for any status returned by this API (static storage; never NULL).
const char* gn_cuda_status_string(int status);
// Short symbolic name, e.g. "cudaErrorInsufficientDriver" or "GN_CUDA_EUNSUPPORTED".
const char* gn_cuda_status_name(int status);

// --- devices -------------------------------------------------------------------------------
typedef struct gn_cuda_device_info {
  char name[256];
  size_t total_memory;        // bytes
  int major;                  // compute capability
  int minor;
  int multiprocessors;
  int max_smem_per_block_optin;  // bytes
  size_t l2_bytes;
} gn_cuda_device_info;

// cudaGetDeviceCount; on a machine without a driver this returns a status such as
// cudaErrorInsufficientDriver (35) or cudaErrorNoDevice (100) and *count = 0.
int gn_cuda_device_count(int* count);
int gn_cuda_device_info_get(int device, gn_cuda_device_info* info);
int gn_cuda_driver_version(int* version);   // e.g. 13000; 0 when no driver
int gn_cuda_runtime_version(int* version);  // of the statically linked runtime
// The lowest compute capability (major*10+minor) the kernels were built for.
int gn_cuda_min_capability(void);

// --- memory and streams ----------------------------------------------------------------------
int gn_cuda_set_device(int device);
int gn_cuda_malloc(void** d_ptr, size_t bytes);
int gn_cuda_free(void* d_ptr);
int gn_cuda_mem_info(size_t* free_bytes, size_t* total_bytes);
// Page-locked host memory (cudaMallocHost): downloads into it run at the bus rate instead of going
// through the driver's staging buffer. Fails (the error code, *h_ptr = NULL) where the system refuses
// to lock more memory; callers then use ordinary memory.
int gn_cuda_host_alloc(void** h_ptr, size_t bytes);
int gn_cuda_host_free(void* h_ptr);
int gn_cuda_stream_create(void** stream);
int gn_cuda_stream_destroy(void* stream);
// Marks (on != 0) or unmarks a stream created by gn_cuda_stream_create: on a marked stream, on
// compute capability 9.0+, the decode-path kernels (layer norm, embedding, argmax, gather, kv_write,
// decode and tiled attention and their combine pass, the GEMV kernels and the decode tensor-core
// GEMM) are launched as programmatic dependents of the previous kernel, so that their launch and
// ramp overlap its end (they wait for its results in the kernel). Off by default; a no-op on other
// GPUs. GN_CUDA_EUNSUPPORTED when 64 streams are marked already.
int gn_cuda_stream_set_programmatic_launch(void* stream, int on);
// 1 when kernels launched on `stream` are programmatic dependents now (marked, and the current device
// has compute capability 9.0+), else 0.
int gn_cuda_stream_programmatic_launch(void* stream);
// Marks (on = 1) or unmarks a stream for the streaming GEMV's L2 weight prefetch: launched on it, each
// warp of gn_cuda_gemv_stream asks L2 for its whole weight slice (one bulk prefetch, compute capability
// 9.0+) before waiting for the previous kernel, so that HBM streams those weights while that kernel
// ends (csrc/cuda/NOTES.md round 10). Results are the same either way. Read at each launch (a captured
// graph keeps what it was captured with); the marks of one stream are set from one thread.
// GN_CUDA_EUNSUPPORTED when more streams are marked (for anything) than there are slots (64).
int gn_cuda_stream_set_l2_prefetch(void* stream, int on);
// 1 when gn_cuda_gemv_stream launches on `stream` prefetch now (marked, compute capability 9.0+).
int gn_cuda_stream_l2_prefetch(void* stream);
int gn_cuda_stream_synchronize(void* stream);
// Host↔device copies on `stream`; both return after the copy completed (host memory may be
// pageable and is free to reuse on return).
int gn_cuda_upload(void* d_dst, const void* h_src, size_t bytes, void* stream);
int gn_cuda_download(void* h_dst, const void* d_src, size_t bytes, void* stream);
// The same, queued on `stream` without waiting (cudaMemcpyAsync): with page-locked host memory the
// host must leave h_src alone, and may read h_dst, only after the stream is synchronised.
int gn_cuda_upload_async(void* d_dst, const void* h_src, size_t bytes, void* stream);
int gn_cuda_download_async(void* h_dst, const void* d_src, size_t bytes, void* stream);
int gn_cuda_copy_d2d(void* d_dst, const void* d_src, size_t bytes, void* stream);
int gn_cuda_memset(void* d_dst, int value, size_t bytes, void* stream);
// Fills count floats with a quiet NaN (tests poison outputs with it).
int gn_cuda_fill_nan_f32(float* d_dst, size_t count, void* stream);

// --- CUDA graphs: record a stream's work once, replay it ------------------------------------
// Between capture_begin and capture_end the launchers' work on `stream` (a created stream, not
// NULL) is recorded instead of run (thread-local capture mode). Nothing that synchronizes may be
// called on that thread meanwhile (uploads, downloads, malloc/free, stream_synchronize): the
// capture would fail. A replay re-runs the recorded kernels with the recorded pointers and
// scalars, reading whatever the buffers hold at replay time.
int gn_cuda_capture_begin(void* stream);
// Ends the capture and instantiates it into *graph_exec (free with gn_cuda_graph_destroy). On a
// failed capture the capture is still ended and *graph_exec is NULL.
int gn_cuda_capture_end(void* stream, void** graph_exec);
int gn_cuda_graph_launch(void* graph_exec, void* stream);
int gn_cuda_graph_destroy(void* graph_exec);

// --- element conversion ------------------------------------------------------------------------
// d_dst[i] = (dst_dtype) d_src[i] for i < count; round to nearest even. Buffers must not overlap.
int gn_cuda_convert(const void* d_src, int src_dtype, void* d_dst, int dst_dtype, size_t count,
                    void* stream);

// --- GEMM: y[m, n] (ldy) = epilogue(x[m, k] (ldx) · W[n, k]ᵀ + bias[n]) ------------------------
// W: [n, k] row-major of w_dtype (torch Linear layout). bias may be NULL. x and y must not alias.
enum {
  GN_GEMM_GEMV = 0,         // m <= 8, k % 8 == 0: weight streaming, 16-byte loads
  GN_GEMM_TENSOR_CORE = 1,  // bf16/f16 weights, k % 8 == 0, ldx % 4 == 0, 16-byte aligned x and W
  GN_GEMM_SIMT = 2,         // anything else: fp32 FMA tiles
  GN_GEMM_TENSOR_CORE_64 = 3,  // as GN_GEMM_TENSOR_CORE with 64x64 tiles (grids too small for 128x128)
  GN_GEMM_DECODE_TC = 4,    // m <= 64, bf16/f16 weights, k % 8 == 0, 16-byte aligned W: streams W
                            // once on tensor cores (x rounded to the weight dtype, as TENSOR_CORE)
  // 5: retired (round 4's wgmma kernel with A in registers; measured slower than GN_GEMM_WGMMA_SS)
  GN_GEMM_GEMV_STREAM = 6,  // as gn_cuda_gemv_stream (below) without layer norm; never chosen
                            // by gn_cuda_gemm (the backend routes decode rows to it: GPTNEO_CUDA_GEMV_STREAM)
  GN_GEMM_WGMMA_SS = 7,     // Hopper (sm_90a image on a compute capability 9.0 device): as TENSOR_CORE
                            // (same requirements and numerics) on warpgroup MMA with both operands in
                            // shared memory (x rounded to the weight dtype once, into a cudaMallocAsync
                            // workspace); gn_cuda_gemm's choice for grids of at least half the SMs in
                            // 128x128 blocks unless GPTNEO_CUDA_WGMMA=0
  GN_GEMM_WGMMA_TMA = 8,    // as GN_GEMM_WGMMA_SS, its tiles copied by the TMA engine from a producer
                            // warpgroup (mbarrier pipeline); also needs the driver's tensor-map
                            // encoder; chosen instead of it only when GPTNEO_CUDA_WGMMA=tma (until verified)
  GN_GEMM_WGMMA_TMA_PERSISTENT = 9,  // as GN_GEMM_WGMMA_TMA with a block per SM taking several output
                                     // tiles (the next tile's loads overlap the last one's epilogue);
                                     // chosen only when GPTNEO_CUDA_WGMMA=persistent (until verified)
  GN_GEMM_WGMMA_TMA_CLUSTER = 10,    // as GN_GEMM_WGMMA_TMA_PERSISTENT in clusters of two blocks on
                                     // neighbouring m tiles that share each W tile (multicast copies,
                                     // half the W traffic from L2); chosen only when
                                     // GPTNEO_CUDA_WGMMA=cluster (until verified)
  GN_GEMM_DECODE_TC_CLUSTER = 11,    // as GN_GEMM_DECODE_TC (same requirements and numerics, another
                                     // summation order) with k split over thread-block clusters whose
                                     // blocks add their partials in a fixed order (compute capability
                                     // 9.0): more rows per block, x staged once per k segment; chosen
                                     // only when GPTNEO_CUDA_DECODE_TC=cluster (until verified), then
                                     // also for narrow layers' m >= 3 in place of the GEMV
};
// 1 when gn_cuda_gemm picks GN_GEMM_DECODE_TC_CLUSTER for decode-sized GEMMs
// (GPTNEO_CUDA_DECODE_TC=cluster on a device that launches clusters), else 0. info().cudaExperimental
// lists it as "decodeTcCluster".
int gn_cuda_gemm_decode_tc_cluster_enabled(void);
// Which wgmma kernel gn_cuda_gemm may pick on the current device (the sm_90a image loaded on a
// compute capability 9.0 device): 1 GN_GEMM_WGMMA_SS (the default), 2 GN_GEMM_WGMMA_TMA
// (GPTNEO_CUDA_WGMMA=tma), 3 GN_GEMM_WGMMA_TMA_PERSISTENT (=persistent), 4 GN_GEMM_WGMMA_TMA_CLUSTER
// (=cluster), 0 none (GPTNEO_CUDA_WGMMA=0, or no such device). gn_cuda_gemm_wgmma_switch: the name
// info().cudaExperimental gives that value ("wgmma", "wgmmaTma", "wgmmaTmaPersistent",
// "wgmmaTmaCluster"; NULL for 0).
int gn_cuda_gemm_wgmma_enabled(void);
static inline const char* gn_cuda_gemm_wgmma_switch(int enabled) {
  return enabled == 1   ? "wgmma"
         : enabled == 2 ? "wgmmaTma"
         : enabled == 3 ? "wgmmaTmaPersistent"
         : enabled == 4 ? "wgmmaTmaCluster"
                        : NULL;
}
// The kernel gn_cuda_gemm will run for these arguments (pointers checked for alignment).
int gn_cuda_gemm_select(int m, int n, int k, int w_dtype, const float* d_x, int ldx,
                        const void* d_w);
const char* gn_cuda_gemm_kernel_name(int kernel);
int gn_cuda_gemm(const float* d_x, int m, int ldx, const void* d_w, int w_dtype, int n, int k,
                 const float* d_bias, float* d_y, int ldy, int epilogue, void* stream);
// Same, forcing a kernel (tests cover every path); GN_CUDA_EUNSUPPORTED if it cannot serve.
int gn_cuda_gemm_with(int kernel, const float* d_x, int m, int ldx, const void* d_w, int w_dtype,
                      int n, int k, const float* d_bias, float* d_y, int ldy, int epilogue,
                      void* stream);
// A wgmma kernel (GN_GEMM_WGMMA_*) with x already rounded to W's 16-bit type and/or y written
// rounded to it, so that an activation passed from one wgmma GEMM (or gn_cuda_layernorm_x16) to the
// next skips the x rounding pass: x_dtype GN_DTYPE_F32 (d_x float, row stride ldx, rounded by the
// kernel's own pass) or w_dtype (d_x [m, k] 16-bit, dense: ldx == k, 16-byte aligned); y_dtype
// GN_DTYPE_F32 (d_y float) or w_dtype (d_y 16-bit, row stride ldy, each value the epilogue's result
// rounded to nearest even: what the rounding pass would make of the fp32 y; not with
// GN_EPILOGUE_ACCUMULATE). Results equal gn_cuda_gemm_with's bit for bit (then rounded, for a 16-bit
// y). GN_CUDA_EUNSUPPORTED for other kernels or where the kernel cannot serve the shape.
int gn_cuda_gemm_x16(int kernel, const void* d_x, int x_dtype, int m, int ldx, const void* d_w, int w_dtype,
                     int n, int k, const float* d_bias, void* d_y, int y_dtype, int ldy, int epilogue,
                     void* stream);
// Whether `kernel` is one of the wgmma kernels (those gn_cuda_gemm_x16 takes).
static inline int gn_cuda_gemm_is_wgmma(int kernel) {
  return kernel == GN_GEMM_WGMMA_SS || kernel == GN_GEMM_WGMMA_TMA || kernel == GN_GEMM_WGMMA_TMA_PERSISTENT ||
         kernel == GN_GEMM_WGMMA_TMA_CLUSTER;
}

// y = epilogue(layernorm(x) · Wᵀ + bias), each x row layer-normed as gn_cuda_layernorm would (gamma,
// beta: [k]; summation order differs) by the decode GEMV itself: one launch instead of two.
// Serves 1 <= m <= 8 with k % 8 == 0, k <= (8192 / m) rounded down to a multiple of 256 and a
// 16-byte aligned W; GN_CUDA_EUNSUPPORTED otherwise (run gn_cuda_layernorm, then gn_cuda_gemm).
int gn_cuda_layernorm_gemv_supported(int m, int n, int k, int w_dtype, const void* d_w);
int gn_cuda_layernorm_gemv(const float* d_x, int m, int ldx, const float* d_gamma, const float* d_beta,
                           float eps, const void* d_w, int w_dtype, int n, int k, const float* d_bias,
                           float* d_y, int ldy, int epilogue, void* stream);

// The streaming decode GEMV (gemm_gemv_stream.cu; csrc/cuda/NOTES.md round 5): y = epilogue(x' · Wᵀ +
// bias) with x' = x, or layernorm(x) when d_gamma and d_beta are both given (as gn_cuda_layernorm_gemv).
// Serves bf16/f16 weights, 1 <= m <= 8, k % 8 == 0, m * k * 4 <= 98304 bytes (x is staged whole in
// shared memory) and a 16-byte aligned W; GN_CUDA_EUNSUPPORTED otherwise. Numerics as GN_GEMM_GEMV (fp32 x, fp32 sums).
// On a stream marked for programmatic launch it issues its first weight loads before waiting for the
// previous kernel, so that they overlap that kernel's end.
int gn_cuda_gemv_stream_supported(int m, int n, int k, int w_dtype, const void* d_w);
int gn_cuda_gemv_stream(const float* d_x, int m, int ldx, const float* d_gamma, const float* d_beta, float eps,
                        const void* d_w, int w_dtype, int n, int k, const float* d_bias, float* d_y, int ldy,
                        int epilogue, void* stream);

// --- row ops ---------------------------------------------------------------------------------
// y = (x - mean) / sqrt(var + eps) * gamma + beta per row (biased variance). y may alias x
// when ldy == ldx.
int gn_cuda_layernorm(const float* d_x, int rows, int dim, int ldx, const float* d_gamma,
                      const float* d_beta, float eps, float* d_y, int ldy, void* stream);
// gn_cuda_layernorm's values rounded to nearest even to y_dtype (GN_DTYPE_BF16 or GN_DTYPE_F16) in
// d_y16 [rows, dim] (row stride ldy): a wgmma GEMM's x for gn_cuda_gemm_x16.
int gn_cuda_layernorm_x16(const float* d_x, int rows, int dim, int ldx, const float* d_gamma,
                          const float* d_beta, float eps, void* d_y16, int y_dtype, int ldy, void* stream);
// out[t, :] = wte[ids[t], :] + wpe[pos[t], :]; rows with an id or position outside the
// tables are written as NaN (the host validates ids before upload).
int gn_cuda_embed(const int32_t* d_ids, const int32_t* d_positions, int tokens, const void* d_wte,
                  int wte_dtype, int vocab, const void* d_wpe, int wpe_dtype, int max_positions,
                  int dim, float* d_out, void* stream);
// dst[i, :] = src[rows[i], :]
int gn_cuda_gather_rows(const float* d_src, int ld_src, const int32_t* d_rows, int count, int dim,
                        float* d_dst, void* stream);
// out[r] = argmax_c x[r, c] (ties: lowest index; NaN entries are ignored).
int gn_cuda_argmax_rows(const float* d_x, int rows, int cols, int32_t* d_out, void* stream);

// Sampling prefilter (cpu/candidates.h select_candidates_row per row; model/backend.h CandidateArgs):
// for r < rows with need[r] > 0, counts[r] = how many columns of x[r, :] have a key
// (cuda/candidate_key.h) >= the need[r]-th largest, and when that fits in
// [out_start[r], out_start[r + 1]) those columns (ascending) and their values are written there;
// need[r] <= 0 gives counts[r] = 0. extra_vals[e] = x[r, extra_ids[e]] for e in
// [extra_start[r], extra_start[r + 1]). x: [rows, cols] fp32; every other pointer int32/fp32 on the
// device, sized by need [rows], out_start/extra_start [rows + 1], the rest by those offsets.
int gn_cuda_select_candidates(const float* d_x, int rows, int cols, const int32_t* d_need,
                              const int32_t* d_out_start, const int32_t* d_extra_start, const int32_t* d_extra_ids,
                              int32_t* d_counts, int32_t* d_ids, float* d_vals, float* d_extra_vals, void* stream);

// The device draw (cpu/device_draw.h draw_row per row; cuda/draw_bound.h the query's layout): for
// r < rows, tokens[r] = the token sample_row would draw from row r of x under the row's query, or
// kDrawUncertain / kDrawDeclined when the row must be sampled whole, kDrawSummed for a sum query; sums[r]
// the row's weight sum S' (NaN when declined). x: [rows, cols] fp32; params: [rows, kDrawParams] double;
// change_start: [rows + 1] int32; change_meta: [change_start[rows], 2] int32 (id, flags; ids ascending
// within a row, each in [0, cols)); change_vals: [change_start[rows], 2] double (bias, amount);
// tokens: [rows] int32; sums: [rows] double. All on the device.
int gn_cuda_draw_rows(const float* d_x, int rows, int cols, const double* d_params, const int32_t* d_change_start,
                      const int32_t* d_change_meta, const double* d_change_vals, int32_t* d_tokens, double* d_sums,
                      void* stream);

// Whether the two sampling kernels above copy each row into shared memory first where a block holds it
// (cuda/row_stage.cuh; GPT-2's 201 KB rows on Hopper), instead of reading it from global memory on
// every pass. Process-wide, read at each launch; opt-in until a GPU run has verified it: starts as
// GPTNEO_CUDA_ROW_STAGE=1 says (read once), and gn_cuda_set_row_stage changes it (every CUDA backend
// when it is created, from that variable; tests and benchmarks, to run both ways in one process).
int gn_cuda_row_stage_enabled(void);
void gn_cuda_set_row_stage(int on);

// --- decode run-ahead ------------------------------------------------------------------------------
// Feeds one decode step's argmax back as the next step's input, for s < seqs:
//   history[s] = argmax[s];  ids[s] = argmax[s];  positions[s] += 1.
// Every pointer: [seqs] int32 on the device; history must not overlap the others.
int gn_cuda_decode_advance(const int32_t* d_argmax, int seqs, int32_t* d_ids, int32_t* d_positions,
                           int32_t* d_history, void* stream);

// --- paged KV cache and attention ----------------------------------------------------------------
// A step's packed batch (device pointers), as gptneo::DeviceBatch.
typedef struct gn_cuda_batch {
  int tokens;
  int num_seqs;
  const int32_t* d_positions;    // [tokens]
  const int32_t* d_seq_starts;   // [num_seqs + 1]
  const int32_t* d_block_tables; // [num_seqs, max_blocks]
  int max_blocks;
  int block_size;
  int max_context;               // max over sequences of (last position + 1)
} gn_cuda_batch;

// Cache layout: [num_blocks, block_size, heads, head_dim] of cache_dtype (GN_DTYPE_F32, or BF16/F16:
// half the bytes, each value rounded to nearest even on the way in); the k/v rows are float32.
int gn_cuda_kv_write(const float* d_k, const float* d_v, int ldkv, const gn_cuda_batch* batch,
                     int heads, int head_dim, void* d_k_cache, void* d_v_cache, int cache_dtype,
                     void* stream);

// Attention kernels (gn_cuda_attention picks one; tests and benchmarks force each):
enum {
  GN_ATTENTION_AUTO = -1,
  GN_ATTENTION_TILED = 0,   // any step: queries share shared-memory K/V tiles (prefill), or one
                            // warp per (query, head, split) for decode-like steps; any head_dim
  GN_ATTENTION_DECODE = 1,  // decode-like steps (tokens < 4 * num_seqs), head_dim % 4 == 0,
                            // 16-byte aligned caches: one block per (query, head, split), K/V
                            // streamed into registers with 16-byte loads
  GN_ATTENTION_TENSOR_CORE = 2,  // prefill-like steps with operand_dtype bf16/f16, head_dim % 4 == 0,
                                 // 16-byte aligned caches: flash-attention tiles on tensor cores
  GN_ATTENTION_WGMMA = 3,  // Hopper (the sm_90a image on a compute capability 9.0 device): as
                           // TENSOR_CORE (same numerics) with head_dim 64 or 128 and a cache of the
                           // operand dtype; 128-query blocks, products by wgmma. Chosen automatically
                           // only with GPTNEO_CUDA_WGMMA_ATTENTION=1 until verified on a GPU.
  GN_ATTENTION_WGMMA_PIPELINED = 4,  // the same kernel with each tile's P·V issued after the next tile's
                                     // S, so that a warpgroup's softmax overlaps its own products
                                     // (GPTNEO_CUDA_WGMMA_ATTENTION=pipelined); to be measured against it
};
// operand_dtype (GN_DTYPE_*) is the precision the caller accepts for the attention's matrix
// products: GN_DTYPE_F32 keeps q·k and p·v in fp32 (the TILED and DECODE kernels); GN_DTYPE_BF16 or
// GN_DTYPE_F16 lets prefill-like steps round q, k, v and the softmax probabilities to that type
// (products exact, sums and softmax in fp32), as a model whose projections run in that type.
// The kernel gn_cuda_attention runs for this batch, these cache pointers and that operand dtype
// (GN_CUDA_EINVAL when batch is NULL or the dtype is unknown).
// Caches (any kernel) may be float32, or bf16/f16 (cache_dtype); the tensor-core kernel takes a
// half-precision cache only of its operand dtype.
int gn_cuda_attention_select(const gn_cuda_batch* batch, int head_dim, const void* d_k_cache,
                             const void* d_v_cache, int cache_dtype, int operand_dtype);
const char* gn_cuda_attention_kernel_name(int kernel);
// 1 when GN_ATTENTION_WGMMA(_PIPELINED) can run on the current device (the sm_90a image loaded on
// compute capability 9.0), else 0. gn_cuda_attention_wgmma_enabled: which of them automatic selection
// may pick there (GPTNEO_CUDA_WGMMA_ATTENTION, read once: "1" GN_ATTENTION_WGMMA, "pipelined"
// GN_ATTENTION_WGMMA_PIPELINED; and GPTNEO_CUDA_TC_ATTENTION not 0), else 0.
int gn_cuda_attention_wgmma_available(void);
int gn_cuda_attention_wgmma_enabled(void);
// Keys each lane group of the decode kernel has in flight for bf16/f16 caches: 4 (the default), or 8
// (opt-in until a GPU run has verified it: the 16-bit keys held as loaded, the registers of 4 float32
// keys; run 4 timed the bf16-cache kernel at about the float32 one's time for half the bytes). Process-
// wide, read at each plan: starts as GPTNEO_CUDA_DECODE_KEYS16=8 says (read once), and
// gn_cuda_set_decode_keys16 changes it (every CUDA backend when it is created, from that variable; tests
// and benchmarks). The persistent decode layer keeps 4 (with 8 it refuses: the chain serves).
int gn_cuda_decode_keys16(void);
void gn_cuda_set_decode_keys16(int keys);
// The decode kernel's split plan: 0 (the default) splits a step's long contexts until its grid has about
// 4 blocks per SM; 1 (GPTNEO_CUDA_DECODE_SPLIT=waves, opt-in until a GPU run has timed it) picks, among
// as many splits or fewer, the plan with the fewest waves x rounds of keys for the kernel's occupancy
// (csrc/cuda/decode_split.h, decode_splits_waves). Process-wide, read at each plan, set as
// gn_cuda_set_decode_keys16; never more splits than gn_cuda_attention_workspace_bytes allows for.
int gn_cuda_decode_split_waves(void);
void gn_cuda_set_decode_split_waves(int on);

// Scratch bytes gn_cuda_attention needs for this batch (0 when it needs none); enough for any
// kernel and window. Its first GN_CUDA_ATTENTION_COUNTER_BYTES are gn_cuda_attention_append's
// counters: zero them once before a workspace's first append call (every launch leaves them zero);
// gn_cuda_attention never touches them.
#define GN_CUDA_ATTENTION_COUNTER_BYTES 16384
size_t gn_cuda_attention_workspace_bytes(const gn_cuda_batch* batch, int heads, int head_dim);
// out[t, h*head_dim + d] = softmax_j(scale * q_t·k_j) · v_j over the keys j of t's sequence with
// j <= pos(t) and (window == 0 || j > pos(t) - window). Flash-style online softmax in fp32; long
// contexts with few queries are split across blocks and combined (flash-decoding).
// head_dim <= 128.
int gn_cuda_attention(const float* d_q, int ldq, const void* d_k_cache, const void* d_v_cache, int cache_dtype,
                      const gn_cuda_batch* batch, int heads, int head_dim, int window, float scale,
                      int operand_dtype, float* d_out, int ldo, void* d_workspace, size_t workspace_bytes,
                      void* stream);
// Same, forcing a kernel (GN_ATTENTION_*); GN_CUDA_EUNSUPPORTED if it cannot serve the request
// (TENSOR_CORE and the WGMMA kernels also need operand_dtype bf16/f16).
int gn_cuda_attention_with(int kernel, const float* d_q, int ldq, const void* d_k_cache,
                           const void* d_v_cache, int cache_dtype, const gn_cuda_batch* batch, int heads, int head_dim,
                           int window, float scale, int operand_dtype, float* d_out, int ldo,
                           void* d_workspace, size_t workspace_bytes, void* stream);
// gn_cuda_kv_write followed by gn_cuda_attention (operands fp32) in one launch of the decode kernel,
// for a step in which every sequence has exactly one row (batch->tokens == batch->num_seqs; a step
// never has an empty sequence): each row's k/v (float32 [tokens, ldkv]) go into the cache at its
// position, rounded to cache_dtype, and its attention takes its own key from them instead of reading
// the cache back. A split plan's partial results are merged by the block of each (token, head)
// that finishes last, not by a second launch. Workspace as gn_cuda_attention_workspace_bytes, its
// counters zeroed. GN_CUDA_EUNSUPPORTED where tokens != num_seqs or the decode kernel does not serve
// the step (nothing written then).
int gn_cuda_attention_append(const float* d_q, int ldq, const float* d_k, const float* d_v, int ldkv,
                             void* d_k_cache, void* d_v_cache, int cache_dtype, const gn_cuda_batch* batch,
                             int heads, int head_dim, int window, float scale, float* d_out, int ldo,
                             void* d_workspace, size_t workspace_bytes, void* stream);

// --- the persistent decode layer (decode_layer.cu; csrc/cuda/NOTES.md round 12) -------------------------
// One GPT-Neo block for a decode step of one sequence, in one cooperative launch whose blocks meet at grid
// barriers between its phases instead of ending and launching five kernels:
//   qkv  = layernorm(h; ln1) · W_qkvᵀ + b_qkv                 (the streaming GEMV with its layer norm)
//   attn = attention over the cache + this row's k/v          (gn_cuda_attention_append: k/v written to the cache)
//   h   += attn · W_outᵀ + b_out
//   mid  = gelu_new(layernorm(h; ln2) · W_fcᵀ + b_fc)
//   h   += mid · W_projᵀ + b_proj
// Every block asks for the next phase's weights (registers and L2) before the barrier that ends the
// current one. Results equal that chain of calls (gn_cuda_gemv_stream with and without its layer norm,
// gn_cuda_attention_append) bit for bit.
typedef struct gn_cuda_decode_layer_args {
  float* d_h;                      // [1, hidden] the residual stream, updated in place
  int hidden, inner;               // inner: the MLP's width
  const float* d_ln1_gamma;        // [hidden] each
  const float* d_ln1_beta;
  const float* d_ln2_gamma;
  const float* d_ln2_beta;
  float eps;
  int w_dtype;                     // GN_DTYPE_BF16 or GN_DTYPE_F16 (every weight), rows 16-byte aligned
  const void* d_w_qkv;             // [3 * hidden, hidden]: q, k, v rows
  const float* d_b_qkv;            // [3 * hidden] or NULL
  const void* d_w_out;             // [hidden, hidden]
  const float* d_b_out;            // [hidden] or NULL
  const void* d_w_fc;              // [inner, hidden]
  const float* d_b_fc;             // [inner] or NULL
  const void* d_w_proj;            // [hidden, inner]
  const float* d_b_proj;           // [hidden] or NULL
  void* d_k_cache;                 // the layer's paged cache, as gn_cuda_attention_append
  void* d_v_cache;
  int cache_dtype;
  gn_cuda_batch batch;             // tokens == num_seqs == 1
  int heads, head_dim, window;     // heads * head_dim == hidden
  float scale;
  float* d_qkv;                    // scratch [3 * hidden]
  float* d_attn;                   // scratch [hidden]
  float* d_mid;                    // scratch [inner]
  void* d_workspace;               // gn_cuda_decode_layer_workspace_bytes, zeroed once before first use
  size_t workspace_bytes;          // (every launch leaves its counters zero again)
} gn_cuda_decode_layer_args;
// Workspace bytes for this batch shape: the grid barrier's state (the first
// GN_CUDA_DECODE_LAYER_BARRIER_BYTES), then the attention's split workspace (gn_cuda_attention_workspace_bytes,
// which a caller may also hand gn_cuda_attention(_append) at that offset).
#define GN_CUDA_DECODE_LAYER_BARRIER_BYTES 256
size_t gn_cuda_decode_layer_workspace_bytes(const gn_cuda_batch* batch, int heads, int head_dim);
// GN_CUDA_OK when gn_cuda_decode_layer serves these arguments on the current device: one sequence of one
// row, bf16/f16 weights, k % 8 == 0 for every projection, the MLP row within the streaming GEMV's 96 KiB
// of shared memory, the decode attention kernel serving the cache, a device that launches cooperative
// grids; GN_CUDA_EUNSUPPORTED (or GN_CUDA_EINVAL for malformed arguments) otherwise.
int gn_cuda_decode_layer_supported(const gn_cuda_decode_layer_args* args);
// Queues the layer; returns the same refusals as gn_cuda_decode_layer_supported, before queuing anything.
int gn_cuda_decode_layer(const gn_cuda_decode_layer_args* args, void* stream);

#ifdef __cplusplus
}  // extern "C"
#endif
