// Programmatic dependent launch (PDL, compute capability 9.0+) for the decode-path kernels.
//
// A stream can be marked (gn_cuda_stream_set_programmatic_launch); kernels launched on it through
// launch_dependent() then carry the programmatic-stream-serialization attribute: the GPU may start
// scheduling their blocks before the previous kernel on the stream has finished, which hides the
// launch latency and ramp between the small kernels of a decode step (several per layer). Every
// kernel launched this way must call grid_dependency_wait() (common.cuh) before it touches memory
// that an earlier kernel writes or reads, and calls grid_dependents_launch() to let the next one be
// scheduled early. Elsewhere (unmarked streams, older GPUs) the launch is an ordinary one.
#pragma once
#include <utility>

#include "cuda/common.cuh"

namespace gncuda {

// Whether kernels launched on `stream` may be programmatic dependents (marked, and the current device
// has compute capability 9.0+).
bool programmatic_launch_on(cudaStream_t stream);
// Whether the streaming GEMV launched on `stream` prefetches its weights into L2 (marked by
// gn_cuda_stream_set_l2_prefetch, and compute capability 9.0+).
bool l2_prefetch_on(cudaStream_t stream);

template <typename... P, typename... A>
int launch_dependent(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, A&&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  if (programmatic_launch_on(stream)) {
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
  }
  GN_CUDA_TRY(cudaLaunchKernelEx(&cfg, kernel, std::forward<A>(args)...));
  return GN_CUDA_OK;
}

}  // namespace gncuda
