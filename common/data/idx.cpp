#include "common/data/idx.hpp"

#include <fmt/format.h>
#include <sys/mman.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <new>

#include "base/errors.hpp"
#include "base/fsutil.hpp"

namespace genbox {

namespace {
constexpr uint8_t kUnsignedByte = 0x08;
constexpr int64_t kMaxElements = int64_t(1) << 34;
// Deflate's largest expansion (zlib's FAQ): a gzip file of n bytes inflates to at most 1032 n.
constexpr uint64_t kMaxDeflateRatio = 1032;

struct GzFile {
  gzFile file;
  ~GzFile() { gzclose(file); }
};

// Reads up to `size` bytes; gzread also reads uncompressed files as they are.
size_t read_some(gzFile file, uint8_t* out, size_t size, const std::string& path) {
  size_t total = 0;
  while (total < size) {
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(size - total, 1u << 30));
    int got = gzread(file, out + total, chunk);
    if (got < 0) {
      int code = 0;
      const char* message = gzerror(file, &code);
      throw DataError(fmt::format("{}: corrupt compressed data ({})", path, message));
    }
    if (got == 0) break;
    total += static_cast<size_t>(got);
  }
  return total;
}
}  // namespace

IdxArray read_idx(const std::string& path) {
  if (!std::filesystem::exists(path)) throw DataError(fmt::format("{}: no such file", path));
  gzFile raw = gzopen(path.c_str(), "rb");
  if (!raw) throw DataError(fmt::format("{}: cannot open", path));
  GzFile file{raw};

  uint8_t magic[4];
  if (read_some(file.file, magic, 4, path) != 4)
    throw DataError(fmt::format("{}: truncated: shorter than the 4-byte IDX magic", path));
  if (magic[0] != 0 || magic[1] != 0 || magic[3] == 0 || magic[3] > 8)
    throw DataError(
        fmt::format("{}: not an IDX file: magic bytes are {:02x} {:02x} {:02x} {:02x}, expected 00 00 <type> "
                    "<1..8 dims>",
                    path, magic[0], magic[1], magic[2], magic[3]));
  if (magic[2] != kUnsignedByte)
    throw DataError(
        fmt::format("{}: IDX element type 0x{:02x} is not supported (only unsigned "
                    "bytes, 0x08)",
                    path, magic[2]));

  IdxArray array;
  int64_t elements = 1;
  for (int d = 0; d < magic[3]; ++d) {
    uint8_t size[4];
    if (read_some(file.file, size, 4, path) != 4)
      throw DataError(fmt::format("{}: truncated: header ends inside dimension {} of {}", path, d + 1, magic[3]));
    int64_t n = (int64_t(size[0]) << 24) | (int64_t(size[1]) << 16) | (int64_t(size[2]) << 8) | size[3];
    array.dims.push_back(n);
    // Checked before multiplying: a header of large dimensions must not overflow.
    if (n > 0 && elements > kMaxElements / n)
      throw DataError(fmt::format("{}: header claims more than {} elements; corrupt", path, kMaxElements));
    elements *= n;
  }

  // What the header claims is checked against what the file can hold before the buffer is
  // allocated once at that size: a few bytes of gzip cannot claim gigabytes.
  std::error_code size_error;
  const uint64_t file_bytes = std::filesystem::file_size(path, size_error);
  if (size_error) throw DataError(fmt::format("{}: cannot tell its size: {}", path, size_error.message()));
  const uint64_t header_bytes = 4 + 4 * uint64_t(magic[3]);
  const uint64_t raw_data_bytes = file_bytes > header_bytes ? file_bytes - header_bytes : 0;
  if (gzdirect(file.file) && raw_data_bytes < uint64_t(elements))
    throw DataError(
        fmt::format("{}: truncated: header says {} bytes of data, found {}", path, elements, raw_data_bytes));
  if (uint64_t(elements) > file_bytes * kMaxDeflateRatio)
    throw DataError(fmt::format("{}: corrupt: header says {} bytes of data, more than {} compressed bytes can hold",
                                path, elements, file_bytes));
  array.data.resize(static_cast<size_t>(elements));
  const size_t got = read_some(file.file, array.data.data(), array.data.size(), path);
  if (got != static_cast<size_t>(elements))
    throw DataError(fmt::format("{}: truncated: header says {} bytes of data, found {}", path, elements, got));
  uint8_t extra;
  if (read_some(file.file, &extra, 1, path) != 0)
    throw DataError(fmt::format("{}: corrupt: data continues past the {} bytes the header describes", path, elements));
  return array;
}

uint8_t* PageAllocator::allocate(size_t n) {
  void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return static_cast<uint8_t*>(p);
}

void PageAllocator::deallocate(uint8_t* p, size_t n) noexcept { munmap(p, n); }

void write_idx(const std::string& path, const IdxArray& array) {
  std::string bytes = {0, 0, static_cast<char>(kUnsignedByte), static_cast<char>(array.dims.size())};
  for (int64_t n : array.dims)
    for (int shift = 24; shift >= 0; shift -= 8) bytes += static_cast<char>((n >> shift) & 0xff);
  bytes.append(array.data.begin(), array.data.end());
  write_file_atomic(path, bytes);
}

}  // namespace genbox
