// MappedFile: a read-only memory map of a whole file (weights are used in place where their
// stored dtype is the one computed with, and packed from here otherwise).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.h"

namespace gptneo {

class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  Status open(const std::string& path);
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

}  // namespace gptneo
