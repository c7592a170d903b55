#include "model/query_block.h"

#include <cstring>

#include "model/backend.h"

namespace gptneo {

void QueryBlock::begin() {
  queries_.clear();
  answer_bytes_ = 0;
}

size_t QueryBlock::add_query(const void* data, size_t bytes) {
  const size_t at = queries_.size();
  queries_.resize(at + aligned(bytes));  // (the padding is zeros)
  if (bytes) std::memcpy(queries_.data() + at, data, bytes);
  return at;
}

size_t QueryBlock::add_answer(size_t bytes) {
  const size_t at = answer_bytes_;
  answer_bytes_ += aligned(bytes);
  return at;
}

Status QueryBlock::send(Backend& backend) {
  const size_t size = queries_.size() + answer_bytes_;
  if (size > capacity_) {
    release(backend);
    const size_t want = (size > 16384 ? size : 16384) * 5 / 4;
    GN_RETURN_IF_ERROR(backend.alloc(want, &device_));
    GN_RETURN_IF_ERROR(backend.alloc_host(want, &host_));
    capacity_ = want;
  }
  if (queries_.empty()) return Status::Ok();
  std::memcpy(host_, queries_.data(), queries_.size());
  return backend.upload_async(device_, host_, queries_.size());
}

Status QueryBlock::fetch(Backend& backend) {
  if (answer_bytes_ == 0) return Status::Ok();
  return backend.download_async(static_cast<uint8_t*>(host_) + queries_.size(), answer(0), answer_bytes_);
}

void QueryBlock::release(Backend& backend) {
  if (device_) backend.release(device_);
  if (host_) backend.release_host(host_);
  device_ = host_ = nullptr;
  capacity_ = 0;
}

}  // namespace gptneo
