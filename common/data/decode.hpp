// One image file's bytes to 8-bit pixels with the channels a data set asks for. JPEGs (baseline
// and progressive; grey, YCbCr and CMYK) go through libjpeg-turbo, the decoder Pillow itself
// uses, so that they decode to Pillow's pixels exactly; everything else through stb_image (PNG
// including 16-bit and palette, BMP, GIF's first frame, TGA, PSD, PNM, HDR). The channel
// conversions are Pillow's, as torchvision's ImageFolder applies them through PIL's
// convert("RGB") or convert("L"):
//   to RGB: grey repeated, alpha dropped, CMYK as Pillow's cmyk2rgb;
//   to grey: L = (19595 R + 38470 G + 7471 B + 2^15) >> 16.
// 16-bit samples keep their high byte.
#pragma once

#include <cstdint>
#include <string>

#include "common/data/resample.hpp"

namespace genbox {

// n pixels of `found` interleaved channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) converted to
// `channels` (1 or 3) as Pillow's convert("L") / convert("RGB") convert them, from `in` to `out`.
void convert_channels(const uint8_t* in, int64_t found, int64_t n, int64_t channels, uint8_t* out);

// Throws DataError "SOURCE: ..." when the bytes are not an image stb_image reads, or when its
// header declares more than `max_pixels` pixels (checked before anything is allocated).
ImageU8 decode_image(const std::string& bytes, const std::string& source, int64_t channels, int64_t max_pixels);

}  // namespace genbox
