// Decode run-ahead: one decode step's argmax becomes the next step's input on the device, so that
// several greedy decode steps run back to back without a round trip to the host between them
// (model/graph_step.cpp). Scalar reference: CpuBackend::advance_decode.
#include "cuda/common.cuh"

using namespace gncuda;

namespace {

constexpr int kAdvanceThreads = 128;

// argmax, ids, positions, history: [seqs] int32. Launched plainly (not as a programmatic
// dependent): it starts once the step that wrote argmax has finished.
__global__ void decode_advance_kernel(const int32_t* __restrict__ argmax, int seqs, int32_t* __restrict__ ids,
                                      int32_t* __restrict__ positions, int32_t* __restrict__ history) {
  const int s = blockIdx.x * blockDim.x + threadIdx.x;
  if (s >= seqs) return;
  const int32_t token = argmax[s];
  history[s] = token;
  ids[s] = token;
  positions[s] += 1;
}

}  // namespace

extern "C" int gn_cuda_decode_advance(const int32_t* d_argmax, int seqs, int32_t* d_ids, int32_t* d_positions,
                                      int32_t* d_history, void* stream) {
  GN_CUDA_REQUIRE(seqs >= 0, GN_CUDA_EINVAL);
  if (seqs == 0) return GN_CUDA_OK;
  decode_advance_kernel<<<ceil_div(seqs, kAdvanceThreads), kAdvanceThreads, 0, as_stream(stream)>>>(
      d_argmax, seqs, d_ids, d_positions, d_history);
  GN_CUDA_CHECK_LAUNCH();
  return GN_CUDA_OK;
}
