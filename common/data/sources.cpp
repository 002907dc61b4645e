#include "common/data/sources.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>

#include "common/data/cifar.hpp"
#include "common/data/toy2d.hpp"
#include "common/images.hpp"

namespace genbox {

void describe(Schema& s, DataSource& data) {
  s.add_choice("data.dataset", data.dataset,
               {"fashion_mnist", "idx", "cifar10", "cifar100", "two_moons", "eight_gaussians", "checkerboard"},
               "image set (fashion_mnist; idx: any MNIST-style IDX set under data.root; cifar10, cifar100: their "
               "binary versions under data.root) or toy 2D");
  s.add("data.root", data.root,
        "directory of the IDX files, or of CIFAR's .bin files (or the folder holding cifar-10-batches-bin or "
        "cifar-100-binary)");
  s.add_choice("data.cifar100_labels", data.cifar100_labels, {"fine", "coarse"},
               "CIFAR-100's labels: its 100 classes or its 20 superclasses");
  s.add_choice("data.hflip", data.hflip, {"auto", "on", "off"},
               "flip training images left-right at random, per batch from the run's seed; auto: on for CIFAR, off "
               "for IDX sets");
  s.add("data.train_limit", data.train_limit, 0, 100000000, "use only the first N training images; 0: all");
  s.add("data.toy_size", data.toy_size, 100, 100000000, "training points drawn for a toy 2D set");
}

int64_t SourceData::dim() const {
  int64_t d = 1;
  for (int64_t s : shape) d *= s;
  return d;
}

SourceData load_source(const DataSource& source, int64_t seed, c10::Device device, bool need_train,
                       int64_t test_limit) {
  SourceData data;
  if (source.is_toy()) {
    data.train = sample_toy2d(source.dataset, source.toy_size, at::make_generator<at::CPUGeneratorImpl>(seed * 2 + 11));
    data.test = sample_toy2d(source.dataset, std::max<int64_t>(source.toy_size / 4, 100),
                             at::make_generator<at::CPUGeneratorImpl>(seed * 2 + 12));
    if (test_limit > 0) data.test = data.test.narrow(0, 0, std::min(test_limit, data.test.size(0)));
    data.shape = {2};
    data.train_labels = torch::zeros({data.train.size(0)}, torch::kLong);
    data.test_labels = torch::zeros({data.test.size(0)}, torch::kLong);
  } else {
    auto load = [&](const std::string& split, int64_t limit) {
      return source.is_cifar()
                 ? load_cifar(source.root, {source.dataset, source.cifar100_labels == "coarse"}, split, limit)
                 : load_idx_dataset(source.root, split, limit);
    };
    ImageDataset test = load("test", test_limit);
    ImageDataset train = need_train ? load("train", source.train_limit) : test;
    data.images = true;
    data.shape = {test.images.size(1), test.images.size(2), test.images.size(3)};
    data.label_count = train.labels.max().item<int64_t>() + 1;
    data.train = train.images;
    data.train_labels = train.labels;
    data.test = test.images;
    data.test_labels = test.labels;
    data.hflip = source.flips();
  }
  data.train = data.train.to(device);
  data.train_labels = data.train_labels.to(device);
  data.test = data.test.to(device);
  data.test_labels = data.test_labels.to(device);
  return data;
}

torch::Tensor train_rows(const SourceData& data, const torch::Tensor& indices, at::Generator generator) {
  torch::Tensor rows = data.train.index_select(0, indices);
  if (!data.hflip) return rows;
  const int64_t n = rows.size(0);
  torch::Tensor images = rows.view({n, data.shape[0], data.shape[1], data.shape[2]});
  torch::Tensor heads = (torch::rand({n}, generator) < 0.5).to(rows.device()).view({n, 1, 1, 1});
  return torch::where(heads, images.flip({3}), images).view(rows.sizes());
}

void write_training_preview(const SourceData& data, const std::filesystem::path& samples_dir, int64_t seed) {
  const int64_t n = std::min<int64_t>(64, data.train.size(0));
  torch::Tensor indices = torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(data.train.device()));
  torch::Tensor rows = train_rows(data, indices, at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed)));
  torch::Tensor images = rows.view({n, data.shape[0], data.shape[1], data.shape[2]}).to(torch::kFloat).div(255);
  write_png(samples_dir / "data.png", make_grid(images.cpu(), 8));
}

}  // namespace genbox
