#include "common/data/sources.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>

#include "common/data/toy2d.hpp"

namespace genbox {

void describe(Schema& s, DataSource& data) {
  s.add_choice("data.dataset", data.dataset, {"fashion_mnist", "idx", "two_moons", "eight_gaussians", "checkerboard"},
               "image set (fashion_mnist, idx: any MNIST-style IDX set under data.root) or toy 2D");
  s.add("data.root", data.root, "directory of the IDX files");
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
    ImageDataset test = load_idx_dataset(source.root, "test", test_limit);
    ImageDataset train = need_train ? load_idx_dataset(source.root, "train", source.train_limit) : test;
    data.images = true;
    data.shape = {test.images.size(1), test.images.size(2), test.images.size(3)};
    data.label_count = train.labels.max().item<int64_t>() + 1;
    data.train = train.images;
    data.train_labels = train.labels;
    data.test = test.images;
    data.test_labels = test.labels;
  }
  data.train = data.train.to(device);
  data.train_labels = data.train_labels.to(device);
  data.test = data.test.to(device);
  data.test_labels = data.test_labels.to(device);
  return data;
}

}  // namespace genbox
