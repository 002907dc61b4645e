#include "common/data/datasets.hpp"

#include <fmt/format.h>

#include <torch/torch.h>
#include <filesystem>

#include "base/errors.hpp"
#include "common/data/idx.hpp"

namespace genbox {

namespace {
std::string find_idx_file(const std::string& root, const std::string& stem) {
  for (const char* suffix : {"", ".gz"}) {
    std::filesystem::path path = std::filesystem::path(root) / (stem + suffix);
    if (std::filesystem::exists(path)) return path.string();
  }
  std::string path = (std::filesystem::path(root) / (stem + ".gz")).string();
  std::string hint = root == kFashionMnistRoot ? "Fashion-MNIST comes from the Debian package dataset-fashion-mnist "
                                                 "(sudo apt-get install dataset-fashion-mnist, or run scripts/setup)"
                                               : "point data.root at a directory holding IDX files named as MNIST's";
  throw DataError(fmt::format("{} (or without .gz): no such file; {}", path, hint));
}

torch::Tensor as_tensor(IdxArray array) {
  auto* owned = new decltype(array.data)(std::move(array.data));
  return torch::from_blob(
      owned->data(), array.dims, [owned](void*) { delete owned; }, torch::kUInt8);
}
}  // namespace

ImageDataset load_idx_dataset(const std::string& root, const std::string& split, int64_t limit) {
  const std::string prefix = split == "train" ? "train" : "t10k";
  std::string images_path = find_idx_file(root, prefix + "-images-idx3-ubyte");
  std::string labels_path = find_idx_file(root, prefix + "-labels-idx1-ubyte");
  IdxArray images = read_idx(images_path);
  IdxArray labels = read_idx(labels_path);
  if (images.dims.size() != 3)
    throw DataError(fmt::format("{}: expected 3 dimensions (N x H x W), found {}", images_path, images.dims.size()));
  if (labels.dims.size() != 1 || labels.dims[0] != images.dims[0])
    throw DataError(fmt::format("{}: {} labels for {} images in {}", labels_path,
                                labels.dims.empty() ? 0 : labels.dims[0], images.dims[0], images_path));
  if (images.dims[0] == 0) throw DataError(fmt::format("{}: holds no images", images_path));
  // The models split, patch or pool images: a single row or column is not an image set.
  if (images.dims[1] < 2 || images.dims[2] < 2)
    throw DataError(fmt::format("{}: images of {} x {} pixels; at least 2 x 2 are needed", images_path, images.dims[1],
                                images.dims[2]));
  ImageDataset dataset;
  dataset.images = as_tensor(std::move(images)).unsqueeze(1);
  dataset.labels = as_tensor(std::move(labels)).to(torch::kInt64);
  if (limit > 0 && limit < dataset.size()) {
    dataset.images = dataset.images.narrow(0, 0, limit).clone();
    dataset.labels = dataset.labels.narrow(0, 0, limit).clone();
  }
  return dataset;
}

}  // namespace genbox
