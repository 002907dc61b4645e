#include "common/data/cifar.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>
#include <vector>

#include "base/errors.hpp"
#include "base/fsutil.hpp"

namespace genbox {

namespace {
constexpr int64_t kPixels = 3 * 32 * 32;

// The split's files, found in root or in the release's own folder under it.
std::vector<std::filesystem::path> split_files(const std::string& root, const CifarSet& set, const std::string& split) {
  const bool ten = set.name == "cifar10";
  std::vector<std::string> names;
  if (ten && split == "train")
    for (int i = 1; i <= 5; ++i) names.push_back(fmt::format("data_batch_{}.bin", i));
  else
    names.push_back(ten ? "test_batch.bin" : split + ".bin");
  const std::filesystem::path release =
      std::filesystem::path(root) / (ten ? "cifar-10-batches-bin" : "cifar-100-binary");
  const std::filesystem::path folder =
      std::filesystem::exists(std::filesystem::path(root) / names.front()) ? std::filesystem::path(root) : release;
  std::vector<std::filesystem::path> files;
  for (const std::string& name : names) {
    std::filesystem::path path = folder / name;
    if (!std::filesystem::exists(path))
      throw DataError(
          fmt::format("{}: no such file; point data.root at the folder of the {} binary version "
                      "(https://www.cs.toronto.edu/~kriz/cifar.html), unpacked",
                      path.string(), ten ? "CIFAR-10" : "CIFAR-100"));
    files.push_back(path);
  }
  return files;
}
}  // namespace

ImageDataset load_cifar(const std::string& root, const CifarSet& set, const std::string& split, int64_t limit) {
  const bool ten = set.name == "cifar10";
  const int64_t label_bytes = ten ? 1 : 2, record = label_bytes + kPixels;
  const int64_t label_at = ten ? 0 : (set.coarse_labels ? 0 : 1), classes = ten ? 10 : (set.coarse_labels ? 20 : 100);
  std::vector<torch::Tensor> images, labels;
  int64_t total = 0;
  for (const std::filesystem::path& path : split_files(root, set, split)) {
    if (limit > 0 && total >= limit) break;
    std::string bytes = read_file(path);
    const int64_t size = static_cast<int64_t>(bytes.size());
    if (size == 0 || size % record != 0)
      throw DataError(
          fmt::format("{}: {} bytes is not a whole number of {}-byte records ({} label byte{} and "
                      "32 x 32 x 3 pixels each)",
                      path.string(), size, record, label_bytes, ten ? "" : "s"));
    int64_t n = size / record;
    if (limit > 0) n = std::min(n, limit - total);
    torch::Tensor records = torch::from_blob(bytes.data(), {size / record, record}, torch::kUInt8).narrow(0, 0, n);
    torch::Tensor file_labels = records.select(1, label_at).to(torch::kInt64);
    const int64_t largest = file_labels.max().item<int64_t>();
    if (largest >= classes) {
      const int64_t at = (file_labels >= classes).nonzero()[0][0].item<int64_t>();
      throw DataError(fmt::format("{}: record {} has label {}; {} labels run from 0 to {}", path.string(), at,
                                  file_labels[at].item<int64_t>(),
                                  ten                 ? "CIFAR-10"
                                  : set.coarse_labels ? "CIFAR-100's coarse"
                                                      : "CIFAR-100's fine",
                                  classes - 1));
    }
    images.push_back(records.narrow(1, label_bytes, kPixels).reshape({n, 3, 32, 32}).clone());
    labels.push_back(file_labels);
    total += n;
  }
  ImageDataset dataset;
  dataset.images = images.size() == 1 ? images[0] : torch::cat(images);
  dataset.labels = labels.size() == 1 ? labels[0] : torch::cat(labels);
  return dataset;
}

void write_cifar(const std::string& path, const CifarSet& set, const ImageDataset& data) {
  const bool ten = set.name == "cifar10";
  const int64_t n = data.size();
  torch::Tensor fine = data.labels.to(torch::kUInt8).view({n, 1});
  torch::Tensor pixels = data.images.contiguous().view({n, kPixels});
  torch::Tensor records =
      ten ? torch::cat({fine, pixels}, 1)
          : torch::cat({data.labels.div(5, "floor").to(torch::kUInt8).view({n, 1}), fine, pixels}, 1);
  records = records.contiguous();
  write_file_atomic(path, std::string(static_cast<const char*>(records.data_ptr()), records.nbytes()));
}

}  // namespace genbox
