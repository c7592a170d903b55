// Mean pooling of each packed sequence's rows (embeddings), one thread per (sequence, column).
// Scalar reference: CpuBackend::segment_mean (a plain loop).
#include "cuda/common.cuh"
#include "cuda/pooling_api.h"

namespace gncuda {
namespace {

constexpr int kPoolThreads = 256;

// grid: (num_seqs, ceil(dim / kPoolThreads)); block: kPoolThreads
__global__ void segment_mean_kernel(const float* __restrict__ x,        // [rows, ldx]
                                    int ldx,
                                    const int32_t* __restrict__ starts,  // [num_seqs + 1]
                                    int dim,
                                    float* __restrict__ out) {           // [num_seqs, dim]
  const int s = blockIdx.x;
  const int c = blockIdx.y * kPoolThreads + threadIdx.x;
  if (c >= dim) return;
  const int b = starts[s], e = starts[s + 1];
  float sum = 0.f;
  for (int r = b; r < e; ++r) sum += x[static_cast<size_t>(r) * ldx + c];
  out[static_cast<size_t>(s) * dim + c] = e > b ? sum / static_cast<float>(e - b) : 0.f;
}

}  // namespace
}  // namespace gncuda

extern "C" int gn_cuda_segment_mean(const float* d_x, int ldx, const int32_t* d_seq_starts, int num_seqs, int dim,
                                    float* d_out, void* stream) {
  using namespace gncuda;
  GN_CUDA_REQUIRE(num_seqs >= 0 && dim > 0 && ldx >= dim, GN_CUDA_EINVAL);
  if (num_seqs == 0) return GN_CUDA_OK;
  dim3 grid(num_seqs, ceil_div(dim, kPoolThreads));
  segment_mean_kernel<<<grid, kPoolThreads, 0, as_stream(stream)>>>(d_x, ldx, d_seq_starts, dim, d_out);
  GN_CUDA_CHECK_LAUNCH();
  return GN_CUDA_OK;
}
