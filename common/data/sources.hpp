// The [data] section that NICE and the rectified flow share: an IDX image set (Fashion-MNIST by
// default, or any MNIST-style set), CIFAR-10 or CIFAR-100 (their binary releases), or a toy 2D
// distribution, loaded whole onto the device; training batches flipped left-right at random.
#pragma once

#include <ATen/core/Generator.h>
#include <c10/core/Device.h>
#include <torch/types.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/config.hpp"
#include "common/data/datasets.hpp"
#include "common/data/folder.hpp"

namespace genbox {

struct DataSource {
  std::string dataset = "fashion_mnist";  // fashion_mnist | idx | cifar10 | cifar100 | folder | a toy2d name
  std::string root = kFashionMnistRoot;
  std::string cifar100_labels = "fine";  // fine (100 classes) | coarse (20 superclasses)
  ImageGeometry geometry{{}, 0};         // size, channels (0: the set's own), crop; folder: limits
  std::string cache_dir;                 // folder: prepared sets; "" the per-user cache, "none" no cache
  std::string test_root;                 // folder: the test split's own folder; "" holds out test_fraction
  double test_fraction = 0.01;           // folder without test_root: held out by a seeded draw
  std::string hflip = "auto";            // auto | on | off; auto: on for CIFAR and folders, off otherwise
  int64_t train_limit = 0;               // first N training images; 0: all
  int64_t toy_size = 20000;
  bool is_cifar() const { return dataset == "cifar10" || dataset == "cifar100"; }
  bool is_images() const { return dataset == "folder" || dataset == "zip"; }
  bool is_toy() const { return dataset != "fashion_mnist" && dataset != "idx" && !is_images() && !is_cifar(); }
  bool flips() const { return !is_toy() && (hflip == "on" || (hflip == "auto" && (is_cifar() || is_images()))); }
};

void describe(Schema& schema, DataSource& data);

struct SourceData {
  bool images = false;
  std::vector<int64_t> shape;  // per example: C, H, W for images, {2} for toy points
  torch::Tensor train, train_labels, test,
      test_labels;                                 // images uint8 [N, C, H, W]; toy float [N, 2]; labels int64 (toy: 0)
  int64_t label_count = 1;                         // classes in the labels
  bool hflip = false;                              // training rows are flipped left-right at random
  nlohmann::json meta = nlohmann::json::object();  // for meta.json: a folder's held-out and skipped images
  int64_t dim() const;
};

// Toy train and test points come from disjoint streams of `seed`; `test_limit` > 0 keeps the
// first test examples; with need_train false the test set stands in for the training set.
SourceData load_source(const DataSource& source, int64_t seed, c10::Device device, bool need_train,
                       int64_t test_limit = 0);

// Training rows by index (uint8 [N, C, H, W], or flattened to [N, C*H*W]), each image flipped
// left-right with probability 1/2 when data.hflip is set: the coins come from `generator`, the
// run's own, so a resumed run draws the flips an unbroken one would.
torch::Tensor train_rows(const SourceData& data, const torch::Tensor& indices, at::Generator generator);
// train_rows' coins for n rows: bool [n] on the CPU, true where a row is flipped; undefined when
// the set does not flip. A latent set draws them too, so both consume the generator alike.
torch::Tensor flip_coins(const SourceData& data, int64_t n, at::Generator generator);

// A grid of the first 64 training images as the model is fed them (flipped as training flips,
// by coins of a generator of its own seeded with `seed`), written to <samples_dir>/data.png: what
// to look at first when samples look wrong.
void write_training_preview(const SourceData& data, const std::filesystem::path& samples_dir, int64_t seed);

}  // namespace genbox
