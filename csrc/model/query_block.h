// QueryBlock: the sampler's questions about a step's logits and their answers, in one block of backend
// memory and its host twin (Backend::alloc_host: page-locked on CUDA) with the same layout:
//
//   [ query parts ... | answer parts ... ]      every part 8-byte aligned
//    `- by the host -' `-- by kernels --'
//
// A round trip: begin(), add_query() / add_answer() for every part (in any order: offsets are
// relative to their region), send() (one asynchronous copy up), the kernels, fetch() (one asynchronous
// copy down), Backend::synchronize(), then answer_host(). The host waits once, where a copy per part
// waited for the stream at each of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/status.h"

namespace gptneo {

class Backend;

class QueryBlock {
 public:
  QueryBlock() = default;
  QueryBlock(const QueryBlock&) = delete;
  QueryBlock& operator=(const QueryBlock&) = delete;

  // Starts a new layout (the previous round trip must have been synchronised).
  void begin();
  // Appends `bytes` of query data; returns its offset among the queries.
  size_t add_query(const void* data, size_t bytes);
  template <typename T>
  size_t add_query(const std::vector<T>& v) { return add_query(v.data(), v.size() * sizeof(T)); }
  // Reserves `bytes` for an answer the kernels write; returns its offset among the answers.
  size_t add_answer(size_t bytes);
  // Grows both blocks to the layout if needed and queues the copy of the queries to the device.
  Status send(Backend& backend);
  // Queues the copy of the answers back to the host block (read them after Backend::synchronize()).
  Status fetch(Backend& backend);

  // After send(): a query part and an answer part in backend memory.
  void* query(size_t offset) const { return static_cast<uint8_t*>(device_) + offset; }
  void* answer(size_t offset) const { return static_cast<uint8_t*>(device_) + queries_.size() + offset; }
  template <typename T>
  const T* query_as(size_t offset) const { return static_cast<const T*>(query(offset)); }
  template <typename T>
  T* answer_as(size_t offset) const { return static_cast<T*>(answer(offset)); }
  // After fetch() and a synchronisation: an answer part in the host block (valid until the next send()).
  const void* answer_host(size_t offset) const { return static_cast<const uint8_t*>(host_) + queries_.size() + offset; }

  // Frees both blocks (before the backend goes).
  void release(Backend& backend);

 private:
  static size_t aligned(size_t bytes) { return (bytes + 7) & ~size_t{7}; }

  std::vector<uint8_t> queries_;  // the queries as staged (a multiple of 8 bytes), copied into host_ by send()
  size_t answer_bytes_ = 0;
  void* device_ = nullptr;        // backend memory, capacity_ bytes
  void* host_ = nullptr;          // Backend::alloc_host, capacity_ bytes
  size_t capacity_ = 0;
};

}  // namespace gptneo
