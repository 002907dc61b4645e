#include "common/safetensors.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "base/errors.hpp"
#include "base/fsutil.hpp"

// Tensor bytes are copied as they lie in memory, and the format is little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");

namespace genbox {

namespace {

// The format's dtype names for the torch dtypes it shares.
const std::vector<std::pair<torch::Dtype, std::string>>& dtype_names() {
  static const std::vector<std::pair<torch::Dtype, std::string>> names = {
      {torch::kFloat64, "F64"}, {torch::kFloat32, "F32"}, {torch::kFloat16, "F16"}, {torch::kBFloat16, "BF16"},
      {torch::kInt64, "I64"},   {torch::kInt32, "I32"},   {torch::kInt16, "I16"},   {torch::kInt8, "I8"},
      {torch::kUInt8, "U8"},    {torch::kBool, "BOOL"},
  };
  return names;
}

// The format's own limit (the Rust reader refuses longer headers), which also bounds what a
// damaged length field can make this reader allocate.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

}  // namespace

std::string safetensors_bytes(const Safetensors& contents) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!contents.metadata.empty()) header["__metadata__"] = contents.metadata;
  std::vector<torch::Tensor> host;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : contents.tensors) {
    if (name == "__metadata__" || !seen.insert(name).second)
      throw std::invalid_argument(fmt::format("safetensors: tensor name '{}' is reserved or given twice", name));
    auto known = std::find_if(dtype_names().begin(), dtype_names().end(),
                              [&](const auto& entry) { return entry.first == tensor.scalar_type(); });
    if (known == dtype_names().end())
      throw std::invalid_argument(fmt::format("safetensors: tensor '{}' has dtype {}, which the format lacks", name,
                                              toString(tensor.scalar_type())));
    host.push_back(tensor.detach().to(torch::kCPU).contiguous());
    const uint64_t size = host.back().nbytes();
    header[name] = {
        {"dtype", known->second}, {"shape", tensor.sizes().vec()}, {"data_offsets", {offset, offset + size}}};
    offset += size;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((uint64_t(json.size()) >> (8 * i)) & 0xff);
  bytes.reserve(8 + json.size() + offset);
  bytes += json;
  for (const torch::Tensor& t : host) bytes.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  return bytes;
}

void write_safetensors(const std::filesystem::path& path, const Safetensors& contents) {
  write_file_atomic(path, safetensors_bytes(contents));
}

Safetensors parse_safetensors(const std::string& bytes, const std::string& source) {
  auto malformed = [&](const std::string& why) {
    return DataError(fmt::format("{}: not a safetensors file ({})", source, why));
  };
  if (bytes.size() < 8) throw malformed("shorter than its 8-byte header length");
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | static_cast<unsigned char>(bytes[i]);
  if (header_size > kMaxHeaderBytes || header_size > bytes.size() - 8)
    throw malformed(fmt::format("a header of {} bytes in a file of {}", header_size, bytes.size()));
  const nlohmann::json header = parse_json(bytes.substr(8, header_size), source);
  if (!header.is_object()) throw malformed("the header is not a JSON object");
  const uint64_t data_begin = 8 + header_size, data_size = bytes.size() - data_begin;

  Safetensors contents;
  struct Entry {
    std::string name;
    torch::Dtype dtype;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (const auto& [name, field] : header.items()) {
    if (name == "__metadata__") {
      if (!field.is_object()) throw malformed("__metadata__ is not an object");
      for (const auto& [key, value] : field.items()) {
        if (!value.is_string()) throw malformed(fmt::format("metadata '{}' is not a string", key));
        contents.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& why) { return malformed(fmt::format("tensor '{}': {}", name, why)); };
    if (!field.is_object() || !field.contains("dtype") || !field.contains("shape") || !field.contains("data_offsets"))
      throw bad("wants dtype, shape and data_offsets");
    const nlohmann::json &dtype = field["dtype"], &shape = field["shape"], &offsets = field["data_offsets"];
    auto known = std::find_if(dtype_names().begin(), dtype_names().end(),
                              [&](const auto& entry) { return dtype.is_string() && entry.second == dtype; });
    if (known == dtype_names().end()) throw bad(fmt::format("unsupported dtype {}", dtype.dump()));
    if (!shape.is_array() || !offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      throw bad("shape must be an array and data_offsets two unsigned integers");
    Entry entry{name, known->first, {}, offsets[0].get<uint64_t>(), offsets[1].get<uint64_t>()};
    uint64_t elements = 1;
    for (const nlohmann::json& dim : shape) {
      if (!dim.is_number_unsigned() || dim.get<uint64_t>() > uint64_t(INT64_MAX)) throw bad("a bad dimension");
      const uint64_t d = dim.get<uint64_t>();
      // An overflowing count is more than any data holds.
      if (__builtin_mul_overflow(elements, d, &elements)) elements = UINT64_MAX;
      entry.shape.push_back(int64_t(d));
    }
    const uint64_t element_size = c10::elementSize(entry.dtype);
    if (entry.begin > entry.end || entry.end > data_size || elements > data_size / element_size ||
        elements * element_size != entry.end - entry.begin)
      throw bad(fmt::format("data_offsets [{}, {}] do not hold its shape in {} bytes of data", entry.begin, entry.end,
                            data_size));
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  uint64_t covered = 0;
  for (const Entry& entry : entries) {
    if (entry.begin != covered)
      throw malformed(fmt::format("tensor '{}' leaves a gap or overlaps another", entry.name));
    covered = entry.end;
  }
  if (covered != data_size) throw malformed(fmt::format("{} bytes of data after the last tensor", data_size - covered));
  for (const Entry& entry : entries) {
    torch::Tensor tensor = torch::empty(entry.shape, torch::TensorOptions().dtype(entry.dtype));
    if (entry.end > entry.begin)
      std::memcpy(tensor.data_ptr(), bytes.data() + data_begin + entry.begin, entry.end - entry.begin);
    contents.tensors.emplace_back(entry.name, tensor);
  }
  return contents;
}

Safetensors read_safetensors(const std::filesystem::path& path) {
  return parse_safetensors(read_file(path), path.string());
}

}  // namespace genbox
