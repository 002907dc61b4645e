#include "common/npz.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "base/errors.hpp"
#include "base/fsutil.hpp"
#include "common/zip_integrity.hpp"
#include "common/zip_reader.hpp"

namespace genbox {

namespace {
const std::string kMagic = "\x93NUMPY";

struct TypeCode {
  const char* code;  // numpy's kind and size, after the byte-order character
  torch::ScalarType type;
};
const TypeCode kTypes[] = {{"b1", torch::kBool},  {"u1", torch::kUInt8}, {"i1", torch::kInt8},
                           {"i2", torch::kInt16}, {"i4", torch::kInt32}, {"i8", torch::kInt64},
                           {"f2", torch::kHalf},  {"f4", torch::kFloat}, {"f8", torch::kDouble}};

// The text after `key` in the header dict, with the key's quotes and the colon skipped.
size_t value_at(const std::string& header, const std::string& key, const std::string& source) {
  const size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) throw DataError(fmt::format("{}: its .npy header has no '{}'", source, key));
  size_t colon = header.find(':', at);
  if (colon == std::string::npos) throw DataError(fmt::format("{}: its .npy header is malformed", source));
  ++colon;
  while (colon < header.size() && header[colon] == ' ') ++colon;
  return colon;
}

uint64_t read_le(const std::string& bytes, size_t at, int width) {
  uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[at + size_t(i)]);
  return value;
}

void put_le(std::string& out, uint64_t value, int width) {
  for (int i = 0; i < width; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}
}  // namespace

torch::Tensor parse_npy(const std::string& bytes, const std::string& source) {
  if (bytes.size() < 10 || bytes.compare(0, kMagic.size(), kMagic) != 0)
    throw DataError(fmt::format("{}: not a .npy array (no \\x93NUMPY magic)", source));
  const int major = static_cast<unsigned char>(bytes[6]);
  if (major < 1 || major > 3) throw DataError(fmt::format("{}: .npy format version {} is not known", source, major));
  const size_t length_width = major == 1 ? 2 : 4, start = 8 + length_width;
  if (bytes.size() < start) throw DataError(fmt::format("{}: its .npy header is cut short", source));
  const uint64_t header_length = read_le(bytes, 8, int(length_width));
  if (header_length > bytes.size() - start) throw DataError(fmt::format("{}: its .npy header is cut short", source));
  const std::string header = bytes.substr(start, size_t(header_length));

  size_t at = value_at(header, "descr", source);
  const size_t close = header.find('\'', at + 1);
  if (header[at] != '\'' || close == std::string::npos)
    throw DataError(fmt::format("{}: its .npy header's descr is not a string", source));
  const std::string descr = header.substr(at + 1, close - at - 1);
  const TypeCode* found = nullptr;
  for (const TypeCode& type : kTypes)
    if (descr.size() == 3 && (descr[0] == '<' || descr[0] == '|' || descr[0] == '=') &&
        descr.compare(1, 2, type.code) == 0)
      found = &type;
  if (!found)
    throw DataError(
        fmt::format("{}: arrays of type '{}' are not read (little-endian bool, int8-64, uint8, "
                    "float16-64 are)",
                    source, descr));

  at = value_at(header, "fortran_order", source);
  const bool fortran = header.compare(at, 4, "True") == 0;
  if (!fortran && header.compare(at, 5, "False") != 0)
    throw DataError(fmt::format("{}: its .npy header's fortran_order is neither True nor False", source));

  at = value_at(header, "shape", source);
  const size_t end = header.find(')', at);
  if (header[at] != '(' || end == std::string::npos)
    throw DataError(fmt::format("{}: its .npy header's shape is not a tuple", source));
  std::vector<int64_t> shape;
  uint64_t count = 1, extent = 1;  // extent: the product of the sides that are not 0
  for (size_t i = at + 1; i < end;) {
    while (i < end && (header[i] == ' ' || header[i] == ',')) ++i;
    if (i == end) break;
    size_t digits = i;
    while (digits < end && header[digits] >= '0' && header[digits] <= '9') ++digits;
    if (digits == i || digits - i > 15)
      throw DataError(fmt::format("{}: its .npy header's shape holds '{}'", source, header.substr(i, end - i)));
    const uint64_t side = std::stoull(header.substr(i, digits - i));
    // Bounded with the empty sides left out: a (0, 10^15, 10^15) array holds nothing, but its strides
    // would still overflow.
    if (side != 0 && extent > (uint64_t(1) << 40) / side)
      throw DataError(fmt::format("{}: an array of more than 2^40 elements", source));
    extent *= side != 0 ? side : 1;
    count *= side;
    shape.push_back(int64_t(side));
    i = digits;
  }

  const uint64_t item = c10::elementSize(found->type), data_bytes = bytes.size() - start - header_length;
  if (count * item != data_bytes)
    throw DataError(fmt::format("{}: its shape ({}) needs {} bytes of data, the file holds {}", source,
                                fmt::join(shape, ", "), count * item, data_bytes));
  std::vector<int64_t> stored = shape;
  if (fortran) std::reverse(stored.begin(), stored.end());
  torch::Tensor tensor = torch::empty(stored, torch::TensorOptions().dtype(found->type));
  if (data_bytes > 0) std::memcpy(tensor.data_ptr(), bytes.data() + start + header_length, size_t(data_bytes));
  if (fortran && tensor.dim() > 1) {
    std::vector<int64_t> reversed(size_t(tensor.dim()));
    for (int64_t d = 0; d < tensor.dim(); ++d) reversed[size_t(d)] = tensor.dim() - 1 - d;
    tensor = tensor.permute(reversed).contiguous();
  }
  return tensor;
}

std::string format_npy(const torch::Tensor& tensor) {
  const torch::Tensor data = tensor.cpu().contiguous();
  const TypeCode* found = nullptr;
  for (const TypeCode& type : kTypes)
    if (type.type == data.scalar_type()) found = &type;
  if (!found)
    throw std::invalid_argument(fmt::format("format_npy: no .npy type for {}", c10::toString(data.scalar_type())));
  std::string shape;
  for (int64_t side : data.sizes()) shape += fmt::format("{}, ", side);
  if (data.dim() > 1) shape.resize(shape.size() - 2);
  if (data.dim() == 1) shape.resize(shape.size() - 1);
  std::string header =
      fmt::format("{{'descr': '{}{}', 'fortran_order': False, 'shape': ({}), }}",
                  found->type == torch::kBool || c10::elementSize(found->type) == 1 ? "|" : "<", found->code, shape);
  // Padded with spaces and a newline so that the data starts at a multiple of 64 bytes, as numpy does.
  const size_t unpadded = kMagic.size() + 4 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out = kMagic + std::string("\x01\x00", 2);
  put_le(out, header.size(), 2);
  out += header;
  out.append(static_cast<const char*>(data.data_ptr()), data.nbytes());
  return out;
}

std::map<std::string, torch::Tensor> read_npz(const std::filesystem::path& path) {
  // Mapped, not read: the arrays are copied out once, by parse_npy.
  const MappedFile mapped(path);
  const std::string_view bytes = mapped.bytes();
  const ZipDirectory directory = read_zip_directory(bytes, path.string(), "npz archive");
  std::map<std::string, torch::Tensor> arrays;
  for (const ZipEntry& entry : directory.entries) {
    if (entry.name.size() < 4 || entry.name.compare(entry.name.size() - 4, 4, ".npy") != 0) continue;
    const std::string content = zip_entry_content(bytes, entry, path.string(), uint64_t(1) << 40);
    arrays[entry.name.substr(0, entry.name.size() - 4)] = parse_npy(content, path.string() + ":" + entry.name);
  }
  return arrays;
}

void write_npz(const std::filesystem::path& path, const std::map<std::string, torch::Tensor>& arrays) {
  // A plain zip (no zip64): local header and data per entry, then the central directory and its end.
  std::string archive, directory;
  for (const auto& [name, tensor] : arrays) {
    const std::string file = name + ".npy", content = format_npy(tensor);
    if (content.size() >= std::numeric_limits<uint32_t>::max() ||
        archive.size() >= std::numeric_limits<uint32_t>::max())
      throw DataError(
          fmt::format("{}: array '{}' makes the archive larger than a plain zip holds", path.string(), name));
    const uint32_t crc = crc32_of(content);
    auto common = [&](std::string& out) {
      put_le(out, 20, 2);  // version needed: 2.0
      put_le(out, 0, 2);   // flags
      put_le(out, 0, 2);   // stored
      put_le(out, 0, 2);   // time 00:00:00
      put_le(out, 33, 2);  // date 1980-01-01
      put_le(out, crc, 4);
      put_le(out, content.size(), 4);
      put_le(out, content.size(), 4);
      put_le(out, file.size(), 2);
      put_le(out, 0, 2);  // extra field
    };
    put_le(directory, 0x02014b50, 4);
    put_le(directory, 20, 2);  // made by: version 2.0
    common(directory);
    put_le(directory, 0, 2);  // comment
    put_le(directory, 0, 2);  // disk
    put_le(directory, 0, 2);  // internal attributes
    put_le(directory, 0, 4);  // external attributes
    put_le(directory, archive.size(), 4);
    directory += file;
    put_le(archive, 0x04034b50, 4);
    common(archive);
    archive += file;
    archive += content;
  }
  const uint64_t directory_at = archive.size();
  archive += directory;
  put_le(archive, 0x06054b50, 4);
  put_le(archive, 0, 2);
  put_le(archive, 0, 2);
  put_le(archive, arrays.size(), 2);
  put_le(archive, arrays.size(), 2);
  put_le(archive, directory.size(), 4);
  put_le(archive, directory_at, 4);
  put_le(archive, 0, 2);
  write_file_atomic(path, archive);
}

}  // namespace genbox
