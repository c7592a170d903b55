// kv_write: scatters a step's K/V rows into the paged cache [blocks, block_size, heads, head_dim]
// of float32, bf16 or f16 (rounded to nearest even).
#include "cuda/paged.cuh"
#include "cuda/programmatic.cuh"

using namespace gncuda;

namespace {

template <typename CT>
__global__ void kv_write_kernel(const float* __restrict__ k,  // [tokens, ldkv]
                                const float* __restrict__ v,  // [tokens, ldkv]
                                int ldkv, gn_cuda_batch b, int width,
                                CT* __restrict__ k_cache,     // [blocks * block_size, width]
                                CT* __restrict__ v_cache) {
  dependent_kernel_prologue();  // launched by launch_dependent()
  const int t = blockIdx.x;
  const int pos = b.d_positions[t];
  const int s = seq_of_row_decode(b.d_seq_starts, b.num_seqs, t);
  const long long slot = cache_slot(b.d_block_tables, b.max_blocks, b.block_size, s, pos);
  if (slot < 0) return;  // the host validates positions against the block tables
  const float* kr = k + (size_t)t * ldkv;
  const float* vr = v + (size_t)t * ldkv;
  CT* kc = k_cache + (size_t)slot * width;
  CT* vc = v_cache + (size_t)slot * width;
  for (int i = threadIdx.x; i < width; i += blockDim.x) {
    kc[i] = from_f32<CT>(kr[i]);
    vc[i] = from_f32<CT>(vr[i]);
  }
}

template <typename CT>
int launch(const float* k, const float* v, int ldkv, const gn_cuda_batch& b, int width, void* kc, void* vc,
           cudaStream_t stream) {
  return launch_dependent(kv_write_kernel<CT>, dim3(b.tokens), dim3(256), 0, stream, k, v, ldkv, b, width,
                          static_cast<CT*>(kc), static_cast<CT*>(vc));
}

}  // namespace

extern "C" int gn_cuda_kv_write(const float* d_k, const float* d_v, int ldkv, const gn_cuda_batch* batch,
                                int heads, int head_dim, void* d_k_cache, void* d_v_cache, int cache_dtype,
                                void* stream) {
  GN_CUDA_REQUIRE(batch != nullptr && heads > 0 && head_dim > 0 && ldkv >= heads * head_dim, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(batch->tokens >= 0 && batch->num_seqs >= 0 && batch->block_size > 0, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(valid_dtype(cache_dtype), GN_CUDA_EINVAL);
  if (batch->tokens == 0 || batch->num_seqs == 0) return GN_CUDA_OK;
  const int width = heads * head_dim;
  cudaStream_t s = as_stream(stream);
  if (cache_dtype == GN_DTYPE_BF16) return launch<__nv_bfloat16>(d_k, d_v, ldkv, *batch, width, d_k_cache, d_v_cache, s);
  if (cache_dtype == GN_DTYPE_F16) return launch<__half>(d_k, d_v, ldkv, *batch, width, d_k_cache, d_v_cache, s);
  return launch<float>(d_k, d_v, ldkv, *batch, width, d_k_cache, d_v_cache, s);
}
