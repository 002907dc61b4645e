// Keys of caches addressed by content: 16 hex digits of the CRC-64 (ECMA, reflected; ISA-L's
// crc64_ecma_refl) of some bytes. A FID reference's features and a data set's VAE latents are
// cached under the key of the pixels and of the network's weights they come from, so a cache
// entry is found again whatever the path or time of the files, and never reused for other bytes.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace genbox {

std::string content_key(const void* data, size_t size);
// The key of a file's bytes (mapped, not read).
std::string file_content_key(const std::filesystem::path& path);

}  // namespace genbox
