#include "common/data/decode.hpp"

#include <fmt/format.h>
#include <stb_image.h>

#include <memory>
#include <utility>

#include "base/errors.hpp"

namespace genbox {

namespace {
// The width and height an image's header declares, for PNG, GIF, BMP and JPEG; {0, 0} when
// unknown. Read here rather than by stb_image, which refuses a header of over a gigabyte
// without saying why.
std::pair<int64_t, int64_t> declared_size(const std::string& b) {
  auto u8 = [&](size_t at) -> int64_t { return at < b.size() ? static_cast<unsigned char>(b[at]) : 0; };
  auto be16 = [&](size_t at) { return (u8(at) << 8) | u8(at + 1); };
  auto be32 = [&](size_t at) { return (be16(at) << 16) | be16(at + 2); };
  auto le16 = [&](size_t at) { return u8(at) | (u8(at + 1) << 8); };
  auto le32 = [&](size_t at) { return le16(at) | (le16(at + 2) << 16); };
  if (b.size() >= 24 && b.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0) return {be32(16), be32(20)};
  if (b.size() >= 10 && b.compare(0, 3, "GIF") == 0) return {le16(6), le16(8)};
  if (b.size() >= 26 && b.compare(0, 2, "BM") == 0) {
    const int64_t height = le32(22);
    return {le32(18), height >= (int64_t(1) << 31) ? (int64_t(1) << 32) - height : height};
  }
  if (b.size() >= 4 && u8(0) == 0xff && u8(1) == 0xd8) {
    for (size_t at = 2; at + 9 < b.size() && u8(at) == 0xff;) {
      const int64_t marker = u8(at + 1);
      if (marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc)
        return {be16(at + 7), be16(at + 5)};
      at += 2 + size_t(be16(at + 2));
    }
  }
  return {0, 0};
}

uint8_t luminance(uint8_t r, uint8_t g, uint8_t b) {
  return static_cast<uint8_t>((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}
}  // namespace

ImageU8 decode_image(const std::string& bytes, const std::string& source, int64_t channels, int64_t max_pixels) {
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int length = static_cast<int>(std::min<size_t>(bytes.size(), INT32_MAX));
  if (const auto [w, h] = declared_size(bytes); w * h > max_pixels)
    throw DataError(fmt::format("{}: {} x {} pixels, more than data.max_pixels = {}", source, h, w, max_pixels));
  int width = 0, height = 0, found = 0;
  if (!stbi_info_from_memory(data, length, &width, &height, &found))
    throw DataError(fmt::format("{}: not an image genbox can decode ({})", source, stbi_failure_reason()));
  if (int64_t(width) * height > max_pixels)
    throw DataError(
        fmt::format("{}: {} x {} pixels, more than data.max_pixels = {}", source, height, width, max_pixels));
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(stbi_load_from_memory(data, length, &width, &height, &found, 0),
                                                   stbi_image_free);
  if (!pixels) throw DataError(fmt::format("{}: cannot decode ({})", source, stbi_failure_reason()));
  ImageU8 image{height, width, channels, std::vector<uint8_t>(size_t(height) * width * channels)};
  const int64_t n = int64_t(height) * width;
  const stbi_uc* in = pixels.get();
  uint8_t* out = image.pixels.data();
  // stb gives 1 (grey), 2 (grey, alpha), 3 (RGB) or 4 (RGBA) channels.
  for (int64_t i = 0; i < n; ++i, in += found) {
    const bool colour = found >= 3;
    if (channels == 3) {
      out[3 * i] = in[0];
      out[3 * i + 1] = colour ? in[1] : in[0];
      out[3 * i + 2] = colour ? in[2] : in[0];
    } else {
      out[i] = colour ? luminance(in[0], in[1], in[2]) : in[0];
    }
  }
  return image;
}

}  // namespace genbox
