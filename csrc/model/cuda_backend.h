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

// A cuda/api.h status as a Status (`what` names the failed operation): kInvalidArgument, kUnsupported,
// kOutOfMemory or kCuda; a sticky runtime error (cuda_error_is_sticky: a kernel's fault or trap, after
// which every CUDA call of the process fails) says so and what to do. Host-only: the mock builds test it.
Status cuda_status(int st, const char* what);
bool cuda_error_is_sticky(int st);

// Creates a backend on device `index`: checks the capability (>= 8.0), that this build's kernels
// load there, and creates the backend's stream. Errors: kUnsupported (no usable GPU, with the
// reason), kInvalidArgument (bad index), kCuda.
Status create_cuda_backend(int index, std::unique_ptr<Backend>* out);

// The backend records CUDA graphs (Backend::capture_begin / capture_end / replay; the contract is
// in model/backend.h). CUDA specifics: a graph keeps the attention plan (splits) of its capture,
// and the split workspace it recorded stays allocated for the backend's lifetime even if a later
// uncaptured step grows it. Positions, sequence starts and block tables are read on the device at
// replay, so one graph serves any context up to its batch's max_blocks * block_size when it was
// captured with max_context = that bound (the frozen split plan then suits the longest context).

}  // namespace gptneo
