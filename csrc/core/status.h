// Status: the error value every native function returns instead of throwing or aborting.
// The N-API layer turns a non-ok Status into a JS Error whose `code` is error_code_name(code).
#pragma once
#include <string>
#include <utility>

namespace gptneo {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,   // a caller passed something malformed (shape, range, option)
  kBadCheckpoint,     // weights file is truncated, lies about offsets, wrong dtype/shape
  kIo,                // open/mmap/read failed
  kOutOfMemory,       // host or device allocation failed
  kUnsupported,       // valid request this build/device cannot serve
  kCuda,              // a CUDA runtime call failed
  kBusy,              // a second step was issued while one is running on the same model
  kDisposed,          // the object was disposed
  kInternal,          // a bug: an invariant did not hold
};

// Stable string codes seen by JavaScript (err.code).
inline const char* error_code_name(ErrorCode c) {
  switch (c) {
    case ErrorCode::kOk: return "OK";
    case ErrorCode::kInvalidArgument: return "ERR_GPTNEO_INVALID_ARGUMENT";
    case ErrorCode::kBadCheckpoint: return "ERR_GPTNEO_BAD_CHECKPOINT";
    case ErrorCode::kIo: return "ERR_GPTNEO_IO";
    case ErrorCode::kOutOfMemory: return "ERR_GPTNEO_OUT_OF_MEMORY";
    case ErrorCode::kUnsupported: return "ERR_GPTNEO_UNSUPPORTED";
    case ErrorCode::kCuda: return "ERR_GPTNEO_CUDA";
    case ErrorCode::kBusy: return "ERR_GPTNEO_BUSY";
    case ErrorCode::kDisposed: return "ERR_GPTNEO_DISPOSED";
    case ErrorCode::kInternal: return "ERR_GPTNEO_INTERNAL";
  }
  return "ERR_GPTNEO_INTERNAL";
}

class Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }
  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return Status(ErrorCode::kInvalidArgument, std::move(m)); }
inline Status BadCheckpoint(std::string m) { return Status(ErrorCode::kBadCheckpoint, std::move(m)); }
inline Status IoError(std::string m) { return Status(ErrorCode::kIo, std::move(m)); }
inline Status OutOfMemory(std::string m) { return Status(ErrorCode::kOutOfMemory, std::move(m)); }
inline Status Unsupported(std::string m) { return Status(ErrorCode::kUnsupported, std::move(m)); }
inline Status Internal(std::string m) { return Status(ErrorCode::kInternal, std::move(m)); }

}  // namespace gptneo

#define GN_RETURN_IF_ERROR(expr)              \
  do {                                        \
    ::gptneo::Status gn_status_ = (expr);     \
    if (!gn_status_.ok()) return gn_status_;  \
  } while (0)

// Returns InvalidArgument(msg) from the enclosing function when cond is false.
#define GN_CHECK_ARG(cond, msg)                                  \
  do {                                                           \
    if (!(cond)) return ::gptneo::InvalidArgument(msg);          \
  } while (0)
