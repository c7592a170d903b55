// CUDA implementation of the Backend interface (model/backend.h), and the device queries the
// N-API layer reports through devices(). Compiled only when the build has CUDA
// (GPTNEO_WITH_CUDA=1); callers guard their use with #ifdef GPTNEO_WITH_CUDA.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include "core/status.h"
#include "model/backend.h"

namespace gptneo {

// One CUDA device as seen by this build.
struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  size_t total_memory = 0;   // bytes
  int major = 0;             // compute capability major.minor
  int minor = 0;
  int multiprocessors = 0;
  bool usable = false;       // the kernels can run on it
  std::string why_unusable;  // human reason when !usable, e.g. "compute capability 7.5 < 8.0"
};

// Number of CUDA devices (0 when none can be used at all); *why_none (optional) gets a human
// reason when the count is 0: no driver, a driver too old for this build's runtime, no device.
int cuda_device_count(std::string* why_none);

// Properties of device `index` (0 <= index < cuda_device_count()).
Status cuda_device_info(int index, CudaDeviceInfo* out);

// Creates a backend on device `index`: checks the capability (>= 8.0), that this build's kernels
// load there, and creates the backend's stream. Errors: kUnsupported (no usable GPU, with the
// reason), kInvalidArgument (bad index), kCuda.
Status create_cuda_backend(int index, std::unique_ptr<Backend>* out);

// --- CUDA graphs over a CudaBackend (a step recorded once, replayed many times) ---------------
// Ops issued on the backend between cuda_capture_begin and cuda_capture_end are recorded into a
// graph instead of running; cuda_graph_replay re-runs them on the backend's stream with the same
// pointers and scalar arguments, reading whatever the buffers hold then (so per-step data must
// live in fixed device buffers, updated with upload() before each replay). While capturing, the
// backend refuses (kInvalidArgument) everything that would synchronize: alloc, upload, download,
// prepare_*, synchronize, and an attention whose split workspace would have to grow — run the same
// step shape once uncaptured first. release() during a capture is deferred to its end.
// A graph keeps the attention plan (splits) of its capture; the workspace it recorded stays
// allocated for the backend's lifetime even if a later uncaptured step grows it. Positions,
// sequence starts and block tables are read on the device at replay, so one graph serves any
// context up to its batch's max_blocks * block_size (pass max_context = that bound when capturing
// so that the frozen split plan suits the longest context).
// One capture at a time per backend, from the thread that issues its ops.
class CudaGraph {
 public:
  virtual ~CudaGraph() = default;
};
// kInvalidArgument when `backend` is not a CUDA backend or a capture is already open.
Status cuda_capture_begin(Backend* backend);
// Ends the capture; on success *out holds the graph. The capture is closed either way.
Status cuda_capture_end(Backend* backend, std::unique_ptr<CudaGraph>* out);
// Queues one replay on the backend's stream (synchronize() waits for it).
Status cuda_graph_replay(Backend* backend, const CudaGraph& graph);

}  // namespace gptneo
