// IDX files (the MNIST family's format), gzipped or raw: magic 0x00 0x00 <type> <ndims>, then
// ndims big-endian uint32 sizes, then the elements. Only unsigned bytes (type 0x08) are read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace genbox {

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

// Throws DataError naming the path on a missing, truncated, oversized or malformed file.
IdxArray read_idx(const std::string& path);

// Writes raw (uncompressed) IDX; for fixtures and exports.
void write_idx(const std::string& path, const IdxArray& array);

}  // namespace genbox
