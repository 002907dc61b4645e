// Image datasets held whole in memory as uint8, converted per batch.
#pragma once

#include <torch/types.h>

#include <string>

namespace genbox {

inline const char* kFashionMnistRoot = "/usr/share/datasets/fashion-mnist";

struct ImageDataset {
  torch::Tensor images;  // N x C x H x W, uint8
  torch::Tensor labels;  // N, int64
  int64_t size() const { return images.size(0); }
};

// Reads <root>/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; `limit` > 0 keeps the first
// `limit` examples. A missing file names the path and the package that provides it.
ImageDataset load_idx_dataset(const std::string& root, const std::string& split, int64_t limit = 0);

}  // namespace genbox
