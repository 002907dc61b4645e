// IDX files (the MNIST family's format), gzipped or raw: magic 0x00 0x00 <type> <ndims>, then
// ndims big-endian uint32 sizes, then the elements. Only unsigned bytes (type 0x08) are read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace genbox {

// Whole pages mapped from the kernel for a data set's bytes, which read_idx allocates once at
// their final size. In malloc's heap (they are below program.cpp's mmap threshold) they would
// stay resident after a program frees them, as DETR does once its scenes are drawn, and the
// freed hole would shape every later allocation; unmapped, they go back to the kernel.
struct PageAllocator {
  using value_type = uint8_t;
  template <class>
  struct rebind {
    using other = PageAllocator;
  };
  uint8_t* allocate(size_t n);
  void deallocate(uint8_t* p, size_t n) noexcept;
  friend bool operator==(PageAllocator, PageAllocator) { return true; }
  friend bool operator!=(PageAllocator, PageAllocator) { return false; }
};

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t, PageAllocator> data;
};

// Throws DataError naming the path on a missing, truncated, oversized or malformed file.
IdxArray read_idx(const std::string& path);

// Writes raw (uncompressed) IDX; for fixtures and exports.
void write_idx(const std::string& path, const IdxArray& array);

}  // namespace genbox
