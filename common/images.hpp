// Image grids to PNG (stb_image_write) and PNG/JPG files to tensors (stb_image).
#pragma once

#include <torch/types.h>

#include <filesystem>

namespace genbox {

// Tiles N x C x H x W images (values in [0,1]) row-major into a C x H' x W' grid with `nrow`
// images per row and `padding` pixels of `pad_value` around each.
torch::Tensor make_grid(const torch::Tensor& images, int64_t nrow, int64_t padding = 2, double pad_value = 1.0);

// Pixels in [0, 1] (clamped), any float type and device, as the 8-bit values write_png stores:
// round(255 x) as uint8 on the CPU. Sample-quality metrics score these, so that the images on disk
// and the tensors give the same numbers.
torch::Tensor to_uint8(const torch::Tensor& unit);

// Images [N, C, H, W] in [0, 1] as N PNG files dir/000000.png, 000001.png, ... (the folder
// created; each file written atomically): a folder `fid score` and pytorch-fid read.
void write_png_folder(const std::filesystem::path& dir, const torch::Tensor& images);

// Writes a C x H x W (C = 1 or 3) or H x W image with values in [0,1], atomically.
void write_png(const std::filesystem::path& path, const torch::Tensor& image);

// C x H x W float in [0,1]; throws DataError naming the file if it cannot be decoded.
torch::Tensor read_image(const std::filesystem::path& path, int channels = 0);

// Maps values in [0,1] to an RGB colour ramp (viridis-like), for density plots: H x W -> 3 x H x W.
torch::Tensor colormap(const torch::Tensor& values);

}  // namespace genbox
