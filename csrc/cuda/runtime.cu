// Device queries, memory, streams, copies and status strings of the C API (api.h).
#include <atomic>
#include <string.h>

#include "cuda/common.cuh"

using namespace gncuda;

extern "C" const char* gn_cuda_status_string(int status) {
  if (status == GN_CUDA_OK) return "no error";
  if (status == GN_CUDA_EINVAL) return "invalid argument to a CUDA kernel launcher";
  if (status == GN_CUDA_EUNSUPPORTED) return "request not supported by the CUDA kernels";
  if (status < 0) return "unknown gptneo CUDA status";
  return cudaGetErrorString(static_cast<cudaError_t>(status));
}

extern "C" const char* gn_cuda_status_name(int status) {
  if (status == GN_CUDA_OK) return "cudaSuccess";
  if (status == GN_CUDA_EINVAL) return "GN_CUDA_EINVAL";
  if (status == GN_CUDA_EUNSUPPORTED) return "GN_CUDA_EUNSUPPORTED";
  if (status < 0) return "GN_CUDA_UNKNOWN";
  return cudaGetErrorName(static_cast<cudaError_t>(status));
}

extern "C" int gn_cuda_device_count(int* count) {
  GN_CUDA_REQUIRE(count != nullptr, GN_CUDA_EINVAL);
  *count = 0;
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();  // clear the (non-sticky) error so later calls start clean
    return (int)e;
  }
  *count = n;
  return GN_CUDA_OK;
}

extern "C" int gn_cuda_device_info_get(int device, gn_cuda_device_info* info) {
  GN_CUDA_REQUIRE(info != nullptr, GN_CUDA_EINVAL);
  memset(info, 0, sizeof(*info));
  cudaDeviceProp p;
  GN_CUDA_TRY(cudaGetDeviceProperties(&p, device));
  strncpy(info->name, p.name, sizeof(info->name) - 1);
  info->total_memory = p.totalGlobalMem;
  info->major = p.major;
  info->minor = p.minor;
  info->multiprocessors = p.multiProcessorCount;
  info->max_smem_per_block_optin = (int)p.sharedMemPerBlockOptin;
  info->l2_bytes = (size_t)p.l2CacheSize;
  return GN_CUDA_OK;
}

extern "C" int gn_cuda_driver_version(int* version) {
  GN_CUDA_REQUIRE(version != nullptr, GN_CUDA_EINVAL);
  *version = 0;
  GN_CUDA_TRY(cudaDriverGetVersion(version));
  return GN_CUDA_OK;
}

extern "C" int gn_cuda_runtime_version(int* version) {
  GN_CUDA_REQUIRE(version != nullptr, GN_CUDA_EINVAL);
  GN_CUDA_TRY(cudaRuntimeGetVersion(version));
  return GN_CUDA_OK;
}

extern "C" int gn_cuda_min_capability(void) { return 80; }

extern "C" int gn_cuda_set_device(int device) {
  GN_CUDA_TRY(cudaSetDevice(device));
  return GN_CUDA_OK;
}

// The status of an allocation call that wrote *ptr: a refusal (out of memory, or no more page-locked
// memory) is not sticky, so the error is cleared and *ptr reset.
static int allocation_status(cudaError_t e, void** ptr) {
  if (e == cudaSuccess) return GN_CUDA_OK;
  (void)cudaGetLastError();
  *ptr = nullptr;
  return (int)e;
}

extern "C" int gn_cuda_malloc(void** d_ptr, size_t bytes) {
  GN_CUDA_REQUIRE(d_ptr != nullptr, GN_CUDA_EINVAL);
  *d_ptr = nullptr;
  return allocation_status(cudaMalloc(d_ptr, bytes == 0 ? 256 : bytes), d_ptr);
}

extern "C" int gn_cuda_free(void* d_ptr) {
  if (d_ptr == nullptr) return GN_CUDA_OK;
  GN_CUDA_TRY(cudaFree(d_ptr));
  return GN_CUDA_OK;
}

extern "C" int gn_cuda_host_alloc(void** h_ptr, size_t bytes) {
  GN_CUDA_REQUIRE(h_ptr != nullptr, GN_CUDA_EINVAL);
  *h_ptr = nullptr;
  return allocation_status(cudaMallocHost(h_ptr, bytes == 0 ? 256 : bytes), h_ptr);
}

extern "C" int gn_cuda_host_free(void* h_ptr) {
  if (h_ptr == nullptr) return GN_CUDA_OK;
  GN_CUDA_TRY(cudaFreeHost(h_ptr));
  return GN_CUDA_OK;
}

extern "C" int gn_cuda_mem_info(size_t* free_bytes, size_t* total_bytes) {
  GN_CUDA_TRY(cudaMemGetInfo(free_bytes, total_bytes));
  return GN_CUDA_OK;
}

extern "C" int gn_cuda_stream_create(void** stream) {
  GN_CUDA_REQUIRE(stream != nullptr, GN_CUDA_EINVAL);
  cudaStream_t s = nullptr;
  GN_CUDA_TRY(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  *stream = s;
  return GN_CUDA_OK;
}

// Per-stream marks (programmatic dependent launch, programmatic.cuh; the streaming GEMV's L2 weight
// prefetch): a fixed set of slots read without a lock on every decode-path launch; marking and
// unmarking are rare (one per backend), and the marks of one stream are set from one thread. A slot
// is claimed by its stream pointer, then given its marks; it is released (marks cleared first) when
// its last mark goes.
namespace {
constexpr int kMarkSlots = 64;
constexpr unsigned kMarkProgrammatic = 1u, kMarkL2Prefetch = 2u;
struct MarkSlot {
  std::atomic<void*> stream;
  std::atomic<unsigned> marks;
};
MarkSlot g_marks[kMarkSlots];

int find_marked(void* stream) {
  for (int i = 0; i < kMarkSlots; ++i)
    if (g_marks[i].stream.load(std::memory_order_acquire) == stream) return i;
  return -1;
}

unsigned stream_marks(void* stream) {
  if (stream == nullptr) return 0;
  const int at = find_marked(stream);
  return at < 0 ? 0 : g_marks[at].marks.load(std::memory_order_acquire);
}

int set_stream_mark(void* stream, unsigned mark, bool on) {
  GN_CUDA_REQUIRE(stream != nullptr, GN_CUDA_EINVAL);
  const int at = find_marked(stream);
  if (!on) {
    if (at >= 0 && (g_marks[at].marks.fetch_and(~mark, std::memory_order_acq_rel) & ~mark) == 0)
      g_marks[at].stream.store(nullptr, std::memory_order_release);
    return GN_CUDA_OK;
  }
  if (at >= 0) {
    g_marks[at].marks.fetch_or(mark, std::memory_order_acq_rel);
    return GN_CUDA_OK;
  }
  for (int i = 0; i < kMarkSlots; ++i) {
    void* empty = nullptr;
    if (g_marks[i].stream.compare_exchange_strong(empty, stream, std::memory_order_acq_rel)) {
      g_marks[i].marks.store(mark, std::memory_order_release);
      return GN_CUDA_OK;
    }
  }
  return GN_CUDA_EUNSUPPORTED;  // more marked streams than slots
}
}  // namespace

namespace gncuda {
int device_attribute(cudaDeviceAttr attr, int fallback) {
  int dev = 0, value = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&value, attr, dev) != cudaSuccess) {
    (void)cudaGetLastError();
    return fallback;
  }
  return value;
}

bool programmatic_launch_on(cudaStream_t stream) {
  if ((stream_marks(stream) & kMarkProgrammatic) == 0) return false;
  return device_attribute(cudaDevAttrComputeCapabilityMajor, 0) >= 9;
}

bool l2_prefetch_on(cudaStream_t stream) {
  if ((stream_marks(stream) & kMarkL2Prefetch) == 0) return false;
  return device_attribute(cudaDevAttrComputeCapabilityMajor, 0) >= 9;
}
}  // namespace gncuda

extern "C" int gn_cuda_stream_set_programmatic_launch(void* stream, int on) {
  return set_stream_mark(stream, kMarkProgrammatic, on != 0);
}

extern "C" int gn_cuda_stream_programmatic_launch(void* stream) {
  return programmatic_launch_on(as_stream(stream)) ? 1 : 0;
}

extern "C" int gn_cuda_stream_set_l2_prefetch(void* stream, int on) { return set_stream_mark(stream, kMarkL2Prefetch, on != 0); }

extern "C" int gn_cuda_stream_l2_prefetch(void* stream) { return l2_prefetch_on(as_stream(stream)) ? 1 : 0; }

extern "C" int gn_cuda_stream_destroy(void* stream) {
  if (stream == nullptr) return GN_CUDA_OK;
  set_stream_mark(stream, ~0u, false);  // every mark
  GN_CUDA_TRY(cudaStreamDestroy(as_stream(stream)));
  return GN_CUDA_OK;
}

extern "C" int gn_cuda_stream_synchronize(void* stream) {
  GN_CUDA_TRY(cudaStreamSynchronize(as_stream(stream)));
  return GN_CUDA_OK;
}

extern "C" int gn_cuda_upload(void* d_dst, const void* h_src, size_t bytes, void* stream) {
  if (bytes == 0) return GN_CUDA_OK;
  GN_CUDA_REQUIRE(d_dst != nullptr && h_src != nullptr, GN_CUDA_EINVAL);
  GN_CUDA_TRY(cudaMemcpyAsync(d_dst, h_src, bytes, cudaMemcpyHostToDevice, as_stream(stream)));
  GN_CUDA_TRY(cudaStreamSynchronize(as_stream(stream)));
  return GN_CUDA_OK;
}

extern "C" int gn_cuda_download(void* h_dst, const void* d_src, size_t bytes, void* stream) {
  if (bytes == 0) return GN_CUDA_OK;
  GN_CUDA_REQUIRE(h_dst != nullptr && d_src != nullptr, GN_CUDA_EINVAL);
  GN_CUDA_TRY(cudaMemcpyAsync(h_dst, d_src, bytes, cudaMemcpyDeviceToHost, as_stream(stream)));
  GN_CUDA_TRY(cudaStreamSynchronize(as_stream(stream)));
  return GN_CUDA_OK;
}

extern "C" int gn_cuda_upload_async(void* d_dst, const void* h_src, size_t bytes, void* stream) {
  if (bytes == 0) return GN_CUDA_OK;
  GN_CUDA_REQUIRE(d_dst != nullptr && h_src != nullptr, GN_CUDA_EINVAL);
  GN_CUDA_TRY(cudaMemcpyAsync(d_dst, h_src, bytes, cudaMemcpyHostToDevice, as_stream(stream)));
  return GN_CUDA_OK;
}

extern "C" int gn_cuda_download_async(void* h_dst, const void* d_src, size_t bytes, void* stream) {
  if (bytes == 0) return GN_CUDA_OK;
  GN_CUDA_REQUIRE(h_dst != nullptr && d_src != nullptr, GN_CUDA_EINVAL);
  GN_CUDA_TRY(cudaMemcpyAsync(h_dst, d_src, bytes, cudaMemcpyDeviceToHost, as_stream(stream)));
  return GN_CUDA_OK;
}

extern "C" int gn_cuda_copy_d2d(void* d_dst, const void* d_src, size_t bytes, void* stream) {
  if (bytes == 0) return GN_CUDA_OK;
  GN_CUDA_TRY(cudaMemcpyAsync(d_dst, d_src, bytes, cudaMemcpyDeviceToDevice, as_stream(stream)));
  return GN_CUDA_OK;
}

extern "C" int gn_cuda_memset(void* d_dst, int value, size_t bytes, void* stream) {
  if (bytes == 0) return GN_CUDA_OK;
  GN_CUDA_TRY(cudaMemsetAsync(d_dst, value, bytes, as_stream(stream)));
  return GN_CUDA_OK;
}

// 0xFF bytes form a quiet NaN in float32.
extern "C" int gn_cuda_fill_nan_f32(float* d_dst, size_t count, void* stream) {
  return gn_cuda_memset(d_dst, 0xFF, count * sizeof(float), stream);
}

extern "C" int gn_cuda_capture_begin(void* stream) {
  GN_CUDA_REQUIRE(stream != nullptr, GN_CUDA_EINVAL);
  GN_CUDA_TRY(cudaStreamBeginCapture(as_stream(stream), cudaStreamCaptureModeThreadLocal));
  return GN_CUDA_OK;
}

extern "C" int gn_cuda_capture_end(void* stream, void** graph_exec) {
  GN_CUDA_REQUIRE(stream != nullptr && graph_exec != nullptr, GN_CUDA_EINVAL);
  *graph_exec = nullptr;
  cudaGraph_t graph = nullptr;
  GN_CUDA_TRY(cudaStreamEndCapture(as_stream(stream), &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  GN_CUDA_TRY(e);
  *graph_exec = exec;
  return GN_CUDA_OK;
}

extern "C" int gn_cuda_graph_launch(void* graph_exec, void* stream) {
  GN_CUDA_REQUIRE(graph_exec != nullptr, GN_CUDA_EINVAL);
  GN_CUDA_TRY(cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph_exec), as_stream(stream)));
  return GN_CUDA_OK;
}

extern "C" int gn_cuda_graph_destroy(void* graph_exec) {
  if (graph_exec == nullptr) return GN_CUDA_OK;
  GN_CUDA_TRY(cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(graph_exec)));
  return GN_CUDA_OK;
}
