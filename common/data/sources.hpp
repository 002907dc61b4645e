// The [data] section that NICE and the rectified flow share: an IDX image set (Fashion-MNIST by
// default, or any MNIST-style set) or a toy 2D distribution, loaded whole onto the device.
#pragma once

#include <c10/core/Device.h>
#include <torch/types.h>

#include <string>
#include <vector>

#include "base/config.hpp"
#include "common/data/datasets.hpp"

namespace genbox {

struct DataSource {
  std::string dataset = "fashion_mnist";  // fashion_mnist | idx | a toy2d name
  std::string root = kFashionMnistRoot;
  int64_t train_limit = 0;  // first N training images; 0: all
  int64_t toy_size = 20000;
  bool is_toy() const { return dataset != "fashion_mnist" && dataset != "idx"; }
};

void describe(Schema& schema, DataSource& data);

struct SourceData {
  bool images = false;
  std::vector<int64_t> shape;  // per example: C, H, W for images, {2} for toy points
  torch::Tensor train, train_labels, test,
      test_labels;          // images uint8 [N, C, H, W]; toy float [N, 2]; labels int64 (toy: 0)
  int64_t label_count = 1;  // classes in the labels
  int64_t dim() const;
};

// Toy train and test points come from disjoint streams of `seed`; `test_limit` > 0 keeps the
// first test examples; with need_train false the test set stands in for the training set.
SourceData load_source(const DataSource& source, int64_t seed, c10::Device device, bool need_train,
                       int64_t test_limit = 0);

}  // namespace genbox
