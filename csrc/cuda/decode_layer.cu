// The persistent decode layer (gn_cuda_decode_layer; csrc/cuda/NOTES.md round 12): one GPT-Neo block
// for a one-row decode step in one cooperative launch. Run 4 (H200) measured a 125M batch-1 decode layer
// at 22 us against 3.3 us for its weights at the copy rate, and a 1.3B one at 58 us against 23.6 us:
// most of a layer is kernel boundaries (drain, launch, ramp, the first loads of the next kernel), five
// to eight of them per layer. Here the grid is what the GPU holds at once and stays for the whole layer;
// its blocks meet at four grid barriers (grid_barrier.cuh) between five phases:
//   1. qkv  = layernorm(h) · W_qkvᵀ       every block layer-norms the row itself (~1 us of L2 reads)
//   2. attn = attention(q; cache + k, v)  (head, split) items over blocks; k/v into the cache
//   3. h   += attn · W_outᵀ + b
//   4. mid  = gelu_new(layernorm(h) · W_fcᵀ + b)
//   5. h   += mid · W_projᵀ + b
// The phases are the streaming GEMV's warp loop (gemv_stream_warp.cuh) and the decode attention's block
// (attention_decode.cuh), so the results are theirs bit for bit. Weights do not depend on activations,
// so before each barrier every warp already asks for its next phase's weights: its first item into
// registers and its whole row range into L2 (bulk prefetch, capped so that one phase's prefetches fit
// half of L2). Activations written inside the launch are read through L2 (ld.global.cg), never through
// the non-coherent path. One kernel per weight type and head-dim bound (4); the cache's element type is a
// run-time branch of the attention phase (twelve kernels, one per combination, made this file's code 7 MB
// of the addon and the prebuild over its 25 MiB limit; four take 3.5 MB).
#include <atomic>

#include "cuda/attention_decode.cuh"
#include "cuda/gemv_stream_warp.cuh"
#include "cuda/grid_barrier.cuh"
#include "cuda/programmatic.cuh"

namespace gncuda {
namespace {

constexpr int kLayerWarps = GemvStreamTraits::kWarps;
static_assert(kLayerWarps == kDecodeWarps, "the GEMV phases and the attention phase share one block shape");
constexpr int kLayerThreads = kLayerWarps * 32;
constexpr int kLayerMaxBlocksPerSm = 2;
constexpr size_t kBarrierBytes = GN_CUDA_DECODE_LAYER_BARRIER_BYTES;  // the workspace's head: GridBarrierState
// One row per step: the streaming GEMV's m = 1 instantiation (R = 1, MM = 2: the same reduce-scatter,
// hence the same sums, as gn_cuda_gemv_stream's).
constexpr int kRows = 1, kMaxM = GemvStreamTraits::kTwoRowsFromM - 1;

enum { kQkv = 0, kOut = 1, kFc = 2, kProj = 3 };

struct DecodeLayerParams {
  float* h;  // [hidden] residual stream
  int hidden, inner;
  const float *ln1_g, *ln1_b, *ln2_g, *ln2_b;  // [hidden] each
  float eps;
  GemmArgs gemm[4];         // m = 1; x: h (qkv, fc: layer-normed in shared memory), attn, mid
  GemvStreamPlan plan[4];   // over every warp of the grid
  AttentionParams att;      // append mode: q, k, v from the qkv row, out = attn
  GridBarrierState* barrier;
  long long prefetch_cap;   // bytes of its next phase's rows a warp asks L2 for (multiple of 16)
};

// x [k] -> xs [k] through L2: x was written by other blocks of this launch (k % 4 == 0).
__device__ __forceinline__ void stage_row_l2(float* xs, const float* x, int k) {
  if ((reinterpret_cast<uintptr_t>(x) & 15u) == 0) {
    for (int i = threadIdx.x; i < k / 4; i += blockDim.x)
      reinterpret_cast<float4*>(xs)[i] = __ldcg(reinterpret_cast<const float4*>(x) + i);
  } else {
    for (int i = threadIdx.x; i < k; i += blockDim.x) xs[i] = __ldcg(x + i);
  }
}

// Lane 0 asks L2 for (up to cap bytes of) the weight rows this warp streams in a phase.
template <typename WT>
__device__ __forceinline__ void prefetch_warp_rows(const GemmArgs& a, const GemvStreamPlan& p, int warp,
                                                   long long cap) {
  if ((threadIdx.x & 31) != 0) return;
  int row_begin = 0, row_end = 0;
  gemv_stream_rows(p, warp, kRows, a.n, &row_begin, &row_end);
  long long bytes = (long long)(row_end - row_begin) * a.k * (long long)sizeof(WT);  // k % 8 == 0: 16-byte multiple
  if (bytes > cap) bytes = cap;
  if (bytes > 0) prefetch_l2_bulk(static_cast<const WT*>(a.w) + (size_t)row_begin * a.k, (size_t)bytes);
}

// The attention phase's block for one (head, split) item, on the cache's element type and head-dim bound
// (run-time choices inside one kernel per weight type: the kernel's GEMV phases are its bulk, and one copy
// of them per weight type keeps the addon's size in check).
template <int DMAX>
__device__ __forceinline__ void attention_item(const AttentionParams& att, int h, int split,
                                               DecodeAttentionSmem<DMAX>& sm) {
  if (att.cache_dtype == GN_DTYPE_BF16) decode_attention_block<DMAX, __nv_bfloat16>(att, 0, h, split, sm);
  else if (att.cache_dtype == GN_DTYPE_F16) decode_attention_block<DMAX, __half>(att, 0, h, split, sm);
  else decode_attention_block<DMAX, float>(att, 0, h, split, sm);
}

template <typename WT, int DMAX>
__global__ void __launch_bounds__(kLayerThreads, kLayerMaxBlocksPerSm) decode_layer_kernel(DecodeLayerParams p) {
  using Warp = GemvStreamWarp<WT, kRows, kMaxM>;
  extern __shared__ __align__(16) float xs[];  // [max(hidden, inner)] fp32: the phase's x row
  __shared__ DecodeAttentionSmem<DMAX> att_smem;      // the attention phase's merge and slot tiles
  const int warp = blockIdx.x * kLayerWarps + (threadIdx.x >> 5);
  uint4 wa[kRows][Warp::U];  // the warp's first item of the next GEMV phase

  // Weights only until the previous kernel has finished (programmatic launch, where the stream allows it).
  Warp::load(p.gemm[kQkv], p.plan[kQkv], warp, 0, wa);
  prefetch_warp_rows<WT>(p.gemm[kQkv], p.plan[kQkv], warp, p.prefetch_cap);
  LnPrefetch ln = ln_prefetch<kLayerWarps>(1, p.hidden, p.ln1_g, p.ln1_b);
  grid_dependency_wait();

  // 1. qkv = layernorm(h) · W_qkvᵀ (+ b)
  stage_row_l2(xs, p.h, p.hidden);
  __syncthreads();
  layernorm_staged_rows<kLayerWarps>(xs, p.hidden, 1, p.hidden, p.ln1_g, p.ln1_b, p.eps, ln);
  __syncthreads();
  Warp::run(p.gemm[kQkv], p.plan[kQkv], warp, xs, wa);
  prefetch_warp_rows<WT>(p.gemm[kOut], p.plan[kOut], warp, p.prefetch_cap);  // arrives during the attention
  grid_sync(p.barrier);

  // 2. attention of the row over its cache and its own k/v, which go into the cache; a (head, split)
  // per block and round (the split plan is gn_cuda_attention_append's; the last split of a head merges).
  const int items = p.att.heads * p.att.splits;
  for (int j = blockIdx.x; j < items; j += gridDim.x) {
    __syncthreads();  // the previous item's shared-memory merge is read out
    attention_item<DMAX>(p.att, j / p.att.splits, j % p.att.splits, att_smem);
  }
  Warp::load(p.gemm[kOut], p.plan[kOut], warp, 0, wa);
  grid_sync(p.barrier);

  // 3. h += attn · W_outᵀ + b
  stage_row_l2(xs, p.gemm[kOut].x, p.hidden);
  __syncthreads();
  Warp::run(p.gemm[kOut], p.plan[kOut], warp, xs, wa);
  Warp::load(p.gemm[kFc], p.plan[kFc], warp, 0, wa);
  prefetch_warp_rows<WT>(p.gemm[kFc], p.plan[kFc], warp, p.prefetch_cap);
  ln = ln_prefetch<kLayerWarps>(1, p.hidden, p.ln2_g, p.ln2_b);
  grid_sync(p.barrier);

  // 4. mid = gelu_new(layernorm(h) · W_fcᵀ + b)
  stage_row_l2(xs, p.h, p.hidden);
  __syncthreads();
  layernorm_staged_rows<kLayerWarps>(xs, p.hidden, 1, p.hidden, p.ln2_g, p.ln2_b, p.eps, ln);
  __syncthreads();
  Warp::run(p.gemm[kFc], p.plan[kFc], warp, xs, wa);
  Warp::load(p.gemm[kProj], p.plan[kProj], warp, 0, wa);
  prefetch_warp_rows<WT>(p.gemm[kProj], p.plan[kProj], warp, p.prefetch_cap);
  grid_sync(p.barrier);

  // 5. h += mid · W_projᵀ + b. No barrier follows: the next kernel may be scheduled as blocks finish.
  grid_dependents_launch();
  stage_row_l2(xs, p.gemm[kProj].x, p.inner);
  __syncthreads();
  Warp::run(p.gemm[kProj], p.plan[kProj], warp, xs, wa);
}

GemmArgs row_gemm(const float* x, const void* w, int w_dtype, int n, int k, const float* bias, float* y, int epilogue) {
  return GemmArgs{x, 1, k, w, w_dtype, n, k, bias, y, n, epilogue};  // one dense row: ldx = k, ldy = n
}

int smem_bytes(const gn_cuda_decode_layer_args& a) { return 4 * (a.hidden > a.inner ? a.hidden : a.inner); }

// Whether a cooperative launch may also be a programmatic dependent one: -1 not yet tried, 0 no, 1 yes.
std::atomic<int> g_cooperative_programmatic{-1};
// The devices (bit d: ordinal d; ordinals past 63 share bit 63) on which a cooperative launch of the
// whole grid was refused as too large: there the layer is unsupported.
std::atomic<uint64_t> g_cooperative_too_large{0};
uint64_t current_device_bit() {
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) (void)cudaGetLastError();
  return uint64_t{1} << (dev < 0 ? 0 : dev > 63 ? 63 : dev);
}
// Fewer SMs than the device reports (MPS, a partitioned context): the launch was refused before anything
// was queued; the caller runs the chain of kernels instead, from now on without asking, on this device.
int refuse_too_large() {
  (void)cudaGetLastError();
  g_cooperative_too_large.fetch_or(current_device_bit(), std::memory_order_relaxed);
  return GN_CUDA_EUNSUPPORTED;
}

// Argument checks shared by _supported and the launch; fills the attention's parameters and head-dim bound.
int check_args(const gn_cuda_decode_layer_args* a, AttentionParams* att, int* dmax) {
  GN_CUDA_REQUIRE(a != nullptr, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(a->hidden > 0 && a->inner > 0 && a->heads > 0 && a->head_dim > 0 && a->window >= 0, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(a->heads * a->head_dim == a->hidden, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(a->d_h && a->d_ln1_gamma && a->d_ln1_beta && a->d_ln2_gamma && a->d_ln2_beta, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(a->d_w_qkv && a->d_w_out && a->d_w_fc && a->d_w_proj, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(a->d_qkv && a->d_attn && a->d_mid && a->d_workspace, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(valid_dtype(a->w_dtype) && valid_dtype(a->cache_dtype), GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(a->workspace_bytes >= kBarrierBytes && aligned16(a->d_workspace), GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(a->batch.tokens == 1 && a->batch.num_seqs == 1, GN_CUDA_EUNSUPPORTED);
  GN_CUDA_REQUIRE(a->w_dtype == GN_DTYPE_BF16 || a->w_dtype == GN_DTYPE_F16, GN_CUDA_EUNSUPPORTED);
  GN_CUDA_REQUIRE(a->hidden % 8 == 0 && a->inner % 8 == 0, GN_CUDA_EUNSUPPORTED);
  GN_CUDA_REQUIRE(smem_bytes(*a) <= GemvStreamTraits::kMaxSmemBytes, GN_CUDA_EUNSUPPORTED);
  GN_CUDA_REQUIRE(aligned16(a->d_w_qkv) && aligned16(a->d_w_out) && aligned16(a->d_w_fc) && aligned16(a->d_w_proj),
                  GN_CUDA_EUNSUPPORTED);
  GN_CUDA_REQUIRE(device_attribute(cudaDevAttrCooperativeLaunch, 0) != 0, GN_CUDA_EUNSUPPORTED);
  GN_CUDA_REQUIRE((g_cooperative_too_large.load(std::memory_order_relaxed) & current_device_bit()) == 0,
                  GN_CUDA_EUNSUPPORTED);
  const int H = a->hidden;
  const int st = prepare_attention_append(a->d_qkv, 3 * H, a->d_qkv + H, a->d_qkv + 2 * H, 3 * H, a->d_k_cache,
                                          a->d_v_cache, a->cache_dtype, &a->batch, a->heads, a->head_dim, a->window,
                                          a->scale, a->d_attn, H, static_cast<char*>(a->d_workspace) + kBarrierBytes,
                                          a->workspace_bytes - kBarrierBytes, att, dmax);
  // The attention phase runs decode_attention_block at kDecodeUnroll: a plan for more keys in flight
  // (GPTNEO_CUDA_DECODE_KEYS16=8) is the chain's, whose results it would not equal.
  GN_CUDA_REQUIRE(st != GN_CUDA_OK || att->unroll == kDecodeUnroll, GN_CUDA_EUNSUPPORTED);
  return st;
}

template <typename WT>
int launch_typed(const gn_cuda_decode_layer_args& a, const AttentionParams& att, int dmax, cudaStream_t stream) {
  const auto kernel = dmax == 64 ? decode_layer_kernel<WT, 64> : decode_layer_kernel<WT, 128>;
  const int smem = smem_bytes(a);
  // Blocks per SM at this row size, remembered for the last (device, size, head-dim bound) this weight
  // type launched with (every layer of a model asks the same): key and answer in one word. The kernel's
  // shared-memory limit is always set to the same largest size (as the streaming GEMV's): set to this
  // launch's size, a model of smaller rows on another thread or in a recorded graph could lower it under
  // a larger one's launch while the key said it was already set.
  static std::atomic<unsigned long long> last{~0ull};
  int dev = 0;
  GN_CUDA_TRY(cudaGetDevice(&dev));
  const unsigned long long key = (unsigned long long)dev << 32 | (unsigned)smem << 1 | (dmax == 128 ? 1u : 0u);
  const unsigned long long seen = last.load(std::memory_order_relaxed);
  int per_sm = (int)(seen & 0xff);
  if (seen >> 8 != key) {
    GN_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, GemvStreamTraits::kMaxSmemBytes));
    GN_CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kLayerThreads, smem));
    GN_CUDA_REQUIRE(per_sm > 0, GN_CUDA_EUNSUPPORTED);
    if (per_sm > kLayerMaxBlocksPerSm) per_sm = kLayerMaxBlocksPerSm;
    last.store(key << 8 | (unsigned)per_sm, std::memory_order_relaxed);
  }
  const int blocks = per_sm * multiprocessors();
  const int warps = blocks * kLayerWarps;

  DecodeLayerParams p{};
  const int H = a.hidden, I = a.inner;
  p.h = a.d_h;
  p.hidden = H;
  p.inner = I;
  p.ln1_g = a.d_ln1_gamma;
  p.ln1_b = a.d_ln1_beta;
  p.ln2_g = a.d_ln2_gamma;
  p.ln2_b = a.d_ln2_beta;
  p.eps = a.eps;
  p.gemm[kQkv] = row_gemm(a.d_h, a.d_w_qkv, a.w_dtype, 3 * H, H, a.d_b_qkv, a.d_qkv, GN_EPILOGUE_STORE);
  p.gemm[kOut] = row_gemm(a.d_attn, a.d_w_out, a.w_dtype, H, H, a.d_b_out, a.d_h, GN_EPILOGUE_ACCUMULATE);
  p.gemm[kFc] = row_gemm(a.d_h, a.d_w_fc, a.w_dtype, I, H, a.d_b_fc, a.d_mid, GN_EPILOGUE_GELU_NEW);
  p.gemm[kProj] = row_gemm(a.d_mid, a.d_w_proj, a.w_dtype, H, I, a.d_b_proj, a.d_h, GN_EPILOGUE_ACCUMULATE);
  constexpr int kSegment = GemvStreamWarp<WT, kRows, kMaxM>::U * 32 * GemvStreamWarp<WT, kRows, kMaxM>::V;
  for (int i = 0; i < 4; ++i)
    p.plan[i] = plan_gemv_stream(p.gemm[i].n, p.gemm[i].k, kRows, kSegment, warps, kLayerWarps);
  p.att = att;
  p.barrier = static_cast<GridBarrierState*>(a.d_workspace);
  p.prefetch_cap = l2_prefetch_share(warps);

  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(blocks);
  cfg.blockDim = dim3(kLayerThreads);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[2];
  attr[0].id = cudaLaunchAttributeCooperative;
  attr[0].val.cooperative = 1;
  attr[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[1].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  // Programmatic as well where the stream is marked and the driver takes both attributes together: asked
  // once, on a launch outside a graph capture (a refused launch inside one would spoil the capture).
  int both = g_cooperative_programmatic.load(std::memory_order_relaxed);
  if (programmatic_launch_on(stream) && both != 0) {
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    GN_CUDA_TRY(cudaStreamIsCapturing(stream, &capture));
    if (both == 1 || capture == cudaStreamCaptureStatusNone) {
      cfg.numAttrs = 2;
      const cudaError_t e = cudaLaunchKernelEx(&cfg, kernel, p);
      if (e == cudaSuccess) {
        g_cooperative_programmatic.store(1, std::memory_order_relaxed);
        return GN_CUDA_OK;
      }
      if (e == cudaErrorCooperativeLaunchTooLarge) return refuse_too_large();
      if (both == 1) return (int)e;
      (void)cudaGetLastError();  // refused before anything was queued: plain cooperative from now on
      g_cooperative_programmatic.store(0, std::memory_order_relaxed);
      cfg.numAttrs = 1;
    }
  }
  const cudaError_t e = cudaLaunchKernelEx(&cfg, kernel, p);
  if (e == cudaErrorCooperativeLaunchTooLarge) return refuse_too_large();
  return e == cudaSuccess ? GN_CUDA_OK : (int)e;
}

}  // namespace
}  // namespace gncuda

using namespace gncuda;

extern "C" size_t gn_cuda_decode_layer_workspace_bytes(const gn_cuda_batch* batch, int heads, int head_dim) {
  return kBarrierBytes + gn_cuda_attention_workspace_bytes(batch, heads, head_dim);
}

extern "C" int gn_cuda_decode_layer_supported(const gn_cuda_decode_layer_args* args) {
  AttentionParams att;
  int dmax = 0;
  return check_args(args, &att, &dmax);
}

extern "C" int gn_cuda_decode_layer(const gn_cuda_decode_layer_args* args, void* stream) {
  AttentionParams att;
  int dmax = 0;
  const int st = check_args(args, &att, &dmax);
  if (st != GN_CUDA_OK) return st;
  if (args->w_dtype == GN_DTYPE_BF16) return launch_typed<__nv_bfloat16>(*args, att, dmax, as_stream(stream));
  return launch_typed<__half>(*args, att, dmax, as_stream(stream));
}
