// Detection data of any image sizes, held as uint8, and its collation into zero-padded batches
// with a padding mask; shared by the synthetic scenes and COCO-format files.
#pragma once

#include <torch/types.h>

#include <vector>

#include "detection/targets.hpp"

namespace genbox::detection {

struct DetectionDataset {
  std::vector<torch::Tensor> images;  // each [C, H_i, W_i] uint8
  std::vector<Targets> targets;       // targets[i] belongs to images[i]
  int64_t size() const { return static_cast<int64_t>(images.size()); }
};

struct DetectionBatch {
  torch::Tensor images;        // [B, C, H, W] float in [0, 1], each image at the top left, zeros elsewhere
  torch::Tensor padding_mask;  // [B, H, W] bool, true on padding
  torch::Tensor sizes;         // [B, 2] int64 (height, width) of each image without padding
  std::vector<Targets> targets;

  // The same batch with every tensor, targets included, on `device`.
  DetectionBatch to(const torch::Device& device) const;
};

// Pads the images to the batch's largest height and width, rounded up to a multiple of
// size_divisor (the backbone's stride makes the padded map line up with the features). uint8
// images are scaled to [0, 1]; floating ones are taken as they are. All need the same channels.
DetectionBatch collate(const std::vector<torch::Tensor>& images, const std::vector<Targets>& targets,
                       int64_t size_divisor = 1);

// The batch of data's examples at `indices`, in that order.
DetectionBatch collate(const DetectionDataset& data, const std::vector<int64_t>& indices, int64_t size_divisor = 1);
// The batch of examples [begin, end).
DetectionBatch collate_range(const DetectionDataset& data, int64_t begin, int64_t end, int64_t size_divisor = 1);
// A 1-D int64 tensor of indices (any device) as a vector.
std::vector<int64_t> to_indices(const torch::Tensor& rows);

}  // namespace genbox::detection
