#include "common/images.hpp"

#include <fmt/format.h>
#include <stb_image.h>
#include <stb_image_write.h>

#include <torch/torch.h>

#include "base/errors.hpp"
#include "base/fsutil.hpp"

namespace genbox {

torch::Tensor make_grid(const torch::Tensor& images, int64_t nrow, int64_t padding, double pad_value) {
  TORCH_CHECK(images.dim() == 4, "make_grid expects N x C x H x W, got ", images.sizes());
  TORCH_CHECK(nrow >= 1 && padding >= 0, "make_grid needs nrow >= 1 and padding >= 0");
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const int64_t columns = std::min(nrow, std::max<int64_t>(n, 1));
  const int64_t rows = (n + columns - 1) / columns;
  torch::Tensor grid = torch::full({c, rows * (h + padding) + padding, columns * (w + padding) + padding}, pad_value,
                                   images.options().dtype(torch::kFloat32));
  for (int64_t i = 0; i < n; ++i) {
    int64_t top = (i / columns) * (h + padding) + padding;
    int64_t left = (i % columns) * (w + padding) + padding;
    grid.narrow(1, top, h).narrow(2, left, w).copy_(images[i]);
  }
  return grid;
}

torch::Tensor to_uint8(const torch::Tensor& unit) {
  return (unit.detach().to(torch::kCPU, torch::kFloat32).clamp(0, 1) * 255).round().to(torch::kUInt8);
}

void write_png(const std::filesystem::path& path, const torch::Tensor& image) {
  torch::Tensor chw = image.dim() == 2 ? image.unsqueeze(0) : image;
  TORCH_CHECK(chw.dim() == 3 && (chw.size(0) == 1 || chw.size(0) == 3), "write_png expects 1 or 3 channels, got ",
              image.sizes());
  torch::Tensor hwc = to_uint8(chw).permute({1, 2, 0}).contiguous();
  const int height = static_cast<int>(hwc.size(0)), width = static_cast<int>(hwc.size(1));
  const int channels = static_cast<int>(hwc.size(2));
  std::filesystem::path tmp = temporary_sibling(path);
  if (!stbi_write_png(tmp.c_str(), width, height, channels, hwc.data_ptr<uint8_t>(), width * channels))
    throw std::runtime_error(fmt::format("cannot write PNG {}", tmp.string()));
  std::filesystem::rename(tmp, path);
}

void write_png_folder(const std::filesystem::path& dir, const torch::Tensor& images) {
  std::filesystem::create_directories(dir);
  const torch::Tensor cpu = images.detach().to(torch::kCPU);
  for (int64_t i = 0; i < cpu.size(0); ++i) write_png(dir / fmt::format("{:06d}.png", i), cpu[i]);
}

torch::Tensor read_image(const std::filesystem::path& path, int channels) {
  int width = 0, height = 0, found = 0;
  uint8_t* pixels = stbi_load(path.c_str(), &width, &height, &found, channels);
  if (!pixels) throw DataError(fmt::format("{}: cannot decode image ({})", path.string(), stbi_failure_reason()));
  int kept = channels ? channels : found;
  torch::Tensor image =
      torch::from_blob(pixels, {height, width, kept}, torch::kUInt8).permute({2, 0, 1}).to(torch::kFloat32) / 255.0;
  stbi_image_free(pixels);
  return image;
}

torch::Tensor colormap(const torch::Tensor& values) {
  // Anchor colours of a perceptually ordered dark-blue -> teal -> yellow ramp.
  static const float anchors[5][3] = {{0.267f, 0.005f, 0.329f},
                                      {0.231f, 0.322f, 0.545f},
                                      {0.129f, 0.569f, 0.549f},
                                      {0.369f, 0.788f, 0.384f},
                                      {0.993f, 0.906f, 0.144f}};
  torch::Tensor table = torch::from_blob(const_cast<float*>(&anchors[0][0]), {5, 3}, torch::kFloat32).clone();
  torch::Tensor position = values.detach().to(torch::kCPU, torch::kFloat32).clamp(0, 1) * 4;
  torch::Tensor low = position.floor().clamp(0, 3).to(torch::kLong);
  torch::Tensor fraction = (position - low).unsqueeze(-1);
  torch::Tensor rgb = table.index({low}) * (1 - fraction) + table.index({low + 1}) * fraction;
  return rgb.permute({2, 0, 1}).contiguous();
}

}  // namespace genbox
