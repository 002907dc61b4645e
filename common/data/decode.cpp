#include "common/data/decode.hpp"

#include <fmt/format.h>
#include <stb_image.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
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

// Decoded pixels as the decoder gives them: `found` interleaved channels of 1 (grey), 2 (grey,
// alpha), 3 (RGB) or 4 (RGBA).
struct Decoded {
  int64_t height = 0, width = 0, found = 0;
  std::unique_ptr<uint8_t, void (*)(void*)> pixels{nullptr, std::free};
};

bool is_jpeg(const std::string& b) {
  return b.size() >= 3 && static_cast<unsigned char>(b[0]) == 0xff && static_cast<unsigned char>(b[1]) == 0xd8 &&
         static_cast<unsigned char>(b[2]) == 0xff;
}

// An Adobe APP14 segment before the first frame: Photoshop's CMYK JPEGs (and Pillow's) store
// their samples inverted when it is present, and Pillow reads them back inverted ("CMYK;I").
bool has_adobe_marker(const std::string& b) {
  auto u8 = [&](size_t at) -> unsigned { return static_cast<unsigned char>(b[at]); };
  for (size_t at = 2; at + 9 < b.size() && u8(at) == 0xff;) {
    const unsigned marker = u8(at + 1);
    if (marker == 0xee) return b.compare(at + 4, 5, "Adobe") == 0;
    if (marker == 0xda || (marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc))
      return false;
    at += 2 + ((u8(at + 2) << 8) | u8(at + 3));
  }
  return false;
}

// JPEG through libjpeg-turbo, the decoder Pillow uses, with the same defaults (accurate integer
// IDCT, smooth chroma upsampling), so the pixels are Pillow's bit for bit. CMYK is turned into
// RGB as Pillow's convert("RGB") does it. A truncated file is refused, as Pillow refuses it;
// other libjpeg warnings (stray bytes between markers) are let through, as Pillow lets them.
Decoded decode_jpeg(const std::string& bytes, const std::string& source, int64_t max_pixels) {
  thread_local std::unique_ptr<void, int (*)(tjhandle)> handle(tjInitDecompress(), tjDestroy);
  auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  const unsigned long length = bytes.size();
  int width = 0, height = 0, subsampling = 0, colourspace = 0;
  if (tjDecompressHeader3(handle.get(), data, length, &width, &height, &subsampling, &colourspace) != 0)
    throw DataError(fmt::format("{}: not a JPEG genbox can decode ({})", source, tjGetErrorStr2(handle.get())));
  if (int64_t(width) * height > max_pixels)
    throw DataError(
        fmt::format("{}: {} x {} pixels, more than data.max_pixels = {}", source, height, width, max_pixels));
  const bool grey = colourspace == TJCS_GRAY, cmyk = colourspace == TJCS_CMYK || colourspace == TJCS_YCCK;
  const int format = grey ? TJPF_GRAY : cmyk ? TJPF_CMYK : TJPF_RGB;
  const size_t n = size_t(width) * size_t(height);
  Decoded image{height, width, grey ? 1 : 3};
  image.pixels.reset(static_cast<uint8_t*>(std::malloc(n * size_t(tjPixelSize[format]))));
  if (!image.pixels) throw DataError(fmt::format("{}: out of memory for {} x {} pixels", source, height, width));
  if (tjDecompress2(handle.get(), data, length, image.pixels.get(), width, 0, height, format, 0) != 0) {
    const std::string why = tjGetErrorStr2(handle.get());
    if (tjGetErrorCode(handle.get()) == TJERR_FATAL || why.find("Premature end") != std::string::npos)
      throw DataError(fmt::format("{}: cannot decode ({})", source, why));
  }
  if (cmyk) {
    // Pillow's cmyk2rgb: nk = 255 - K; R = nk - C * nk / 255 (rounded), likewise G and B.
    const bool inverted = has_adobe_marker(bytes);
    uint8_t* p = image.pixels.get();
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* in = p + 4 * i;
      const int k = inverted ? 255 - in[3] : in[3], nk = 255 - k;
      int rgb[3];
      for (int c = 0; c < 3; ++c) {
        const int value = inverted ? 255 - in[c] : in[c], product = value * nk + 128;
        rgb[c] = std::clamp(nk - (((product >> 8) + product) >> 8), 0, 255);
      }
      for (int c = 0; c < 3; ++c) p[3 * i + size_t(c)] = static_cast<uint8_t>(rgb[c]);
    }
  }
  return image;
}

// Everything else through stb_image.
Decoded decode_stb(const std::string& bytes, const std::string& source, int64_t max_pixels) {
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int length = static_cast<int>(std::min<size_t>(bytes.size(), INT32_MAX));
  int width = 0, height = 0, found = 0;
  if (!stbi_info_from_memory(data, length, &width, &height, &found))
    throw DataError(fmt::format("{}: not an image genbox can decode ({})", source, stbi_failure_reason()));
  if (int64_t(width) * height > max_pixels)
    throw DataError(
        fmt::format("{}: {} x {} pixels, more than data.max_pixels = {}", source, height, width, max_pixels));
  Decoded image;
  image.pixels.reset(stbi_load_from_memory(data, length, &width, &height, &found, 0));
  if (!image.pixels) throw DataError(fmt::format("{}: cannot decode ({})", source, stbi_failure_reason()));
  image.height = height;
  image.width = width;
  image.found = found;
  return image;
}
}  // namespace

void convert_channels(const uint8_t* in, int64_t found, int64_t n, int64_t channels, uint8_t* out) {
  // One loop per case, so that none tests the channel counts per pixel.
  if (found == channels) {
    std::memcpy(out, in, size_t(n * channels));
  } else if (channels == 3 && found >= 3) {
    for (int64_t i = 0; i < n; ++i, in += found) std::memcpy(out + 3 * i, in, 3);
  } else if (channels == 3) {
    for (int64_t i = 0; i < n; ++i, in += found) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = in[0];
  } else if (found >= 3) {
    for (int64_t i = 0; i < n; ++i, in += found) out[i] = luminance(in[0], in[1], in[2]);
  } else {
    for (int64_t i = 0; i < n; ++i, in += found) out[i] = in[0];
  }
}

ImageU8 decode_image(const std::string& bytes, const std::string& source, int64_t channels, int64_t max_pixels) {
  // Compared by division: a PNG header declares up to 2^32 - 1 a side, whose product overflows.
  if (const auto [w, h] = declared_size(bytes); w > 0 && h > max_pixels / w)
    throw DataError(fmt::format("{}: {} x {} pixels, more than data.max_pixels = {}", source, h, w, max_pixels));
  const Decoded decoded =
      is_jpeg(bytes) ? decode_jpeg(bytes, source, max_pixels) : decode_stb(bytes, source, max_pixels);
  // stb_image accepts a BMP whose header says 0 rows; nothing can be fitted from no pixels.
  if (decoded.height <= 0 || decoded.width <= 0)
    throw DataError(fmt::format("{}: an empty image ({} x {} pixels)", source, decoded.height, decoded.width));
  ImageU8 image{decoded.height, decoded.width, channels,
                std::vector<uint8_t>(size_t(decoded.height) * size_t(decoded.width) * size_t(channels))};
  convert_channels(decoded.pixels.get(), decoded.found, decoded.height * decoded.width, channels, image.pixels.data());
  return image;
}

}  // namespace genbox
