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

// The launch configuration of a kernel launched on `stream`: programmatic where the stream is marked,
// in clusters of *cluster blocks when given (compute capability 9.0+; the grid a multiple of it; a
// cluster of one block is still an explicit cluster). Not copyable: config points at attr.
struct DependentLaunch {
  cudaLaunchAttribute attr[2];
  cudaLaunchConfig_t config = {};
  DependentLaunch(dim3 grid, dim3 block, size_t smem, cudaStream_t stream, const dim3* cluster = nullptr) {
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = smem;
    config.stream = stream;
    config.attrs = attr;
    if (programmatic_launch_on(stream)) {
      attr[config.numAttrs].id = cudaLaunchAttributeProgrammaticStreamSerialization;
      attr[config.numAttrs++].val.programmaticStreamSerializationAllowed = 1;
    }
    if (cluster != nullptr) {
      attr[config.numAttrs].id = cudaLaunchAttributeClusterDimension;
      attr[config.numAttrs].val.clusterDim.x = cluster->x;
      attr[config.numAttrs].val.clusterDim.y = cluster->y;
      attr[config.numAttrs++].val.clusterDim.z = cluster->z;
    }
  }
  DependentLaunch(const DependentLaunch&) = delete;
  DependentLaunch& operator=(const DependentLaunch&) = delete;
};

template <typename... P, typename... A>
int launch_dependent(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, A&&... args) {
  const DependentLaunch launch(grid, block, smem, stream);
  GN_CUDA_TRY(cudaLaunchKernelEx(&launch.config, kernel, std::forward<A>(args)...));
  return GN_CUDA_OK;
}

// launch_dependent in clusters of `cluster` blocks.
template <typename... P, typename... A>
int launch_dependent_clustered(void (*kernel)(P...), dim3 grid, dim3 cluster, dim3 block, size_t smem,
                               cudaStream_t stream, A&&... args) {
  const DependentLaunch launch(grid, block, smem, stream, &cluster);
  GN_CUDA_TRY(cudaLaunchKernelEx(&launch.config, kernel, std::forward<A>(args)...));
  return GN_CUDA_OK;
}

}  // namespace gncuda
