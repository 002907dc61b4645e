#include "detection/dataset.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>

namespace genbox::detection {

DetectionBatch DetectionBatch::to(const torch::Device& device) const {
  DetectionBatch moved;
  moved.images = images.to(device);
  moved.padding_mask = padding_mask.to(device);
  moved.sizes = sizes.to(device);
  for (const Targets& t : targets) moved.targets.push_back(t.to(device));
  return moved;
}

DetectionBatch collate(const std::vector<torch::Tensor>& images, const std::vector<Targets>& targets,
                       int64_t size_divisor) {
  if (images.empty() || images.size() != targets.size())
    throw std::invalid_argument(fmt::format("collate needs one target per image and at least one image, got {} and {}",
                                            images.size(), targets.size()));
  if (size_divisor < 1) throw std::invalid_argument("collate needs a positive size divisor");
  const int64_t channels = images[0].size(0);
  int64_t height = 0, width = 0;
  for (const torch::Tensor& image : images) {
    if (image.dim() != 3 || image.size(0) != channels)
      throw std::invalid_argument(fmt::format("collate needs [C, H, W] images with {} channels, got {}", channels,
                                              fmt::join(image.sizes(), "x")));
    height = std::max(height, image.size(1));
    width = std::max(width, image.size(2));
  }
  height = (height + size_divisor - 1) / size_divisor * size_divisor;
  width = (width + size_divisor - 1) / size_divisor * size_divisor;

  const int64_t batch = static_cast<int64_t>(images.size());
  DetectionBatch out;
  out.images = torch::zeros({batch, channels, height, width});
  out.padding_mask = torch::ones({batch, height, width}, torch::kBool);
  out.sizes = torch::empty({batch, 2}, torch::kLong);
  for (int64_t b = 0; b < batch; ++b) {
    const torch::Tensor& image = images[b];
    const int64_t h = image.size(1), w = image.size(2);
    torch::Tensor pixels =
        image.scalar_type() == torch::kUInt8 ? image.to(torch::kFloat) / 255 : image.to(torch::kFloat);
    out.images[b].narrow(1, 0, h).narrow(2, 0, w).copy_(pixels);
    out.padding_mask[b].narrow(0, 0, h).narrow(1, 0, w).fill_(false);
    out.sizes[b][0] = h;
    out.sizes[b][1] = w;
  }
  out.targets = targets;
  return out;
}

DetectionBatch collate(const DetectionDataset& data, const std::vector<int64_t>& indices, int64_t size_divisor) {
  std::vector<torch::Tensor> images;
  std::vector<Targets> targets;
  for (int64_t i : indices) {
    if (i < 0 || i >= data.size())
      throw std::out_of_range(fmt::format("collate: example {} of a dataset of {}", i, data.size()));
    images.push_back(data.images[i]);
    targets.push_back(data.targets[i]);
  }
  return collate(images, targets, size_divisor);
}

DetectionBatch collate_range(const DetectionDataset& data, int64_t begin, int64_t end, int64_t size_divisor) {
  std::vector<int64_t> indices;
  for (int64_t i = begin; i < end; ++i) indices.push_back(i);
  return collate(data, indices, size_divisor);
}

std::vector<int64_t> to_indices(const torch::Tensor& rows) {
  torch::Tensor r = rows.to(torch::kCPU, torch::kLong).contiguous();
  return std::vector<int64_t>(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel());
}

}  // namespace genbox::detection
