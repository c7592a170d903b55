// kv_write: scatters a step's K/V rows into the paged cache [blocks, block_size, heads, head_dim].
#include "cuda/paged.cuh"

using namespace gncuda;

namespace {

__global__ void kv_write_kernel(const float* __restrict__ k, const float* __restrict__ v, int ldkv,
                                gn_cuda_batch b, int width, float* __restrict__ k_cache,
                                float* __restrict__ v_cache) {
  const int t = blockIdx.x;
  const int pos = b.d_positions[t];
  const int s = seq_of_row_decode(b.d_seq_starts, b.num_seqs, t);
  const long long slot = cache_slot(b.d_block_tables, b.max_blocks, b.block_size, s, pos);
  if (slot < 0) return;  // the host validates positions against the block tables
  const float* kr = k + (size_t)t * ldkv;
  const float* vr = v + (size_t)t * ldkv;
  float* kc = k_cache + (size_t)slot * width;
  float* vc = v_cache + (size_t)slot * width;
  for (int i = threadIdx.x; i < width; i += blockDim.x) {
    kc[i] = kr[i];
    vc[i] = vr[i];
  }
}

}  // namespace

extern "C" int gn_cuda_kv_write(const float* d_k, const float* d_v, int ldkv, const gn_cuda_batch* batch,
                                int heads, int head_dim, float* d_k_cache, float* d_v_cache, void* stream) {
  GN_CUDA_REQUIRE(batch != nullptr && heads > 0 && head_dim > 0 && ldkv >= heads * head_dim, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(batch->tokens >= 0 && batch->num_seqs >= 0 && batch->block_size > 0, GN_CUDA_EINVAL);
  if (batch->tokens == 0 || batch->num_seqs == 0) return GN_CUDA_OK;
  kv_write_kernel<<<batch->tokens, 256, 0, as_stream(stream)>>>(d_k, d_v, ldkv, *batch, heads * head_dim,
                                                                d_k_cache, d_v_cache);
  GN_CUDA_CHECK_LAUNCH();
  return GN_CUDA_OK;
}
