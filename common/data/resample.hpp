// Resizing and centre-cropping 8-bit images so that an image folder fed to a model here gives the
// same pixels that the Python reference pipelines give it. Both resizes are Pillow's
// (src/libImaging/Resample.c, checked bit for bit against Pillow 13.0.0): a separable, antialiased
// convolution whose filter widens with the downscale factor, with 22-bit fixed-point weights and an
// 8-bit image between the two passes. The centre crop is ADM's and DiT's (guided-diffusion's
// image_datasets.center_crop_arr), generalised to a height x width target.
#pragma once

#include <cstdint>
#include <vector>

namespace genbox {

// An 8-bit image, rows of pixels, channels interleaved (HWC), row-major.
struct ImageU8 {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // height * width * channels
};

// Pillow's Image.resize((width, height), Image.BICUBIC) on an 8-bit image ("L" or "RGB" mode), bit for bit.
// Any other channel count is resized channel by channel, as Pillow resizes "La" and "RGBX" (but not "RGBA",
// whose alpha Pillow premultiplies first). Throws std::invalid_argument for an empty or inconsistent image, or
// for a side outside 1 .. INT_MAX (Pillow's sizes are ints).
ImageU8 resize_bicubic(const ImageU8& image, int64_t height, int64_t width);

// Pillow's Image.resize((width, height), Image.BICUBIC) on a 32-bit float image (mode "F"), as clean-fid resizes
// each channel: the same windows with double weights, double sums, float after each pass. One plane of
// height x width floats, row-major; throws std::invalid_argument for a side outside 1 .. INT_MAX.
std::vector<float> resize_bicubic_float(const float* plane, int64_t height, int64_t width, int64_t out_height,
                                        int64_t out_width);

// Pillow's Image.resize((width, height), Image.BOX), bit for bit.
ImageU8 resize_box(const ImageU8& image, int64_t height, int64_t width);

// The centre crop ADM and DiT use (guided-diffusion's center_crop_arr), generalised to a height x width target:
// while the image is at least twice the target on both sides, halve it with resize_box (sizes floor-divided by 2);
// then bicubic-resize by scale = max(height / h, width / w) to (round(h * scale), round(w * scale)) with Python 3's
// round (half to even); then take the centre height x width, offsets (H' - height) / 2 and (W' - width) / 2 floored.
// For a square target this is exactly center_crop_arr.
ImageU8 center_crop(const ImageU8& image, int64_t height, int64_t width);

}  // namespace genbox
