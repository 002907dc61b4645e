#include "common/content_key.hpp"

#include <fmt/format.h>
#include <isa-l/crc64.h>

#include <cstdint>

#include "base/fsutil.hpp"

namespace genbox {

std::string content_key(const void* data, size_t size) {
  return fmt::format("{:016x}", crc64_ecma_refl(0, static_cast<const unsigned char*>(data), uint64_t(size)));
}

std::string file_content_key(const std::filesystem::path& path) {
  const MappedFile file(path);
  return content_key(file.data(), file.bytes().size());
}

}  // namespace genbox
