// Named tensors as a safetensors file, the format Python's `safetensors` package reads
// (https://github.com/huggingface/safetensors, "Format"): an 8-byte little-endian header length N,
// N bytes of JSON {"__metadata__": {string: string}, "<name>": {"dtype": "F32", "shape": [...],
// "data_offsets": [begin, end]}, ...} padded with spaces to a multiple of 8, then every tensor's
// raw little-endian bytes, back to back in the order given, at those offsets into the data.
#pragma once

#include <torch/types.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace genbox {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

struct Safetensors {
  NamedTensors tensors;  // in the order of their bytes in the file
  std::map<std::string, std::string> metadata;
};

// The file's bytes: tensors (any device, any layout; copied to contiguous CPU memory) of dtype
// float64/32/16, bfloat16, int64/32/16/8, uint8 or bool, under unique names. Anything else is an
// std::invalid_argument naming the tensor.
std::string safetensors_bytes(const Safetensors& contents);

// Writes safetensors_bytes(contents) to `path` atomically (a DataError names the file on failure).
void write_safetensors(const std::filesystem::path& path, const Safetensors& contents);

// Parses a safetensors file's bytes, validating before allocating: the header length against the
// file, the JSON, each dtype and shape, offsets that tile the data exactly. `source` names the
// file in the DataError thrown on anything malformed.
Safetensors parse_safetensors(const std::string& bytes, const std::string& source);
Safetensors read_safetensors(const std::filesystem::path& path);

}  // namespace genbox
