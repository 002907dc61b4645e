// One image file's bytes to 8-bit pixels with the channels a data set asks for. The decoder is
// stb_image (PNG including 16-bit and palette, JPEG baseline and progressive, BMP, GIF's first
// frame, TGA, PSD, PNM, HDR); the channel conversions are Pillow's, as torchvision's
// ImageFolder applies them through PIL's convert("RGB") or convert("L"):
//   to RGB: grey repeated, alpha dropped;  to grey: L = (19595 R + 38470 G + 7471 B + 2^15) >> 16.
// 16-bit samples keep their high byte.
#pragma once

#include <string>

#include "common/data/resample.hpp"

namespace genbox {

// Throws DataError "SOURCE: ..." when the bytes are not an image stb_image reads, or when its
// header declares more than `max_pixels` pixels (checked before anything is allocated).
ImageU8 decode_image(const std::string& bytes, const std::string& source, int64_t channels, int64_t max_pixels);

}  // namespace genbox
