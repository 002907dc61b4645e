#include "common/data/sources.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include <fmt/format.h>

#include "base/errors.hpp"

#include "common/data/cifar.hpp"
#include "common/data/prepared_cache.hpp"
#include "common/data/toy2d.hpp"
#include "common/images.hpp"

namespace genbox {

void describe(Schema& s, DataSource& data) {
  s.add_choice(
      "data.dataset", data.dataset,
      {"fashion_mnist", "idx", "cifar10", "cifar100", "folder", "zip", "two_moons", "eight_gaussians", "checkerboard"},
      "image set (fashion_mnist; idx: any MNIST-style IDX set under data.root; cifar10, cifar100: their "
      "binary versions under data.root; folder: your own images under data.root; zip: a zip of them, as EDM "
      "makes) or toy 2D");
  s.add("data.root", data.root,
        "directory of the IDX files, of CIFAR's .bin files (or the folder holding cifar-10-batches-bin or "
        "cifar-100-binary), or of your images (sub-folders: one per class), or the zip file");
  s.add_choice("data.cifar100_labels", data.cifar100_labels, {"fine", "coarse"},
               "CIFAR-100's labels: its 100 classes or its 20 superclasses");
  s.add("data.image_size", data.geometry.size, 2, 65536,
        "[S] or [H, W] pixels the images are fitted to (data.crop); []: their own size (a folder's must all "
        "share it)");
  s.add("data.channels", data.geometry.channels, 0, 3,
        "1 (grey) or 3 (RGB), converted as Pillow converts; 0: the set's own (IDX 1; CIFAR and folders 3)");
  s.add_choice("data.crop", data.geometry.crop, {"center", "resize", "none"},
               "how images meet data.image_size: center (as ADM and DiT: halve while twice the size, bicubic, "
               "centre crop), resize (stretch, bicubic) or none (every image must have the size)");
  s.add("data.max_pixels", data.geometry.max_pixels, 1, int64_t(1) << 40,
        "folder: an image declaring more pixels is refused before it is decoded");
  s.add("data.skip_bad_images", data.geometry.skip_bad_images,
        "folder: leave out images that cannot be decoded or fitted (counted in meta.json) instead of stopping");
  s.add("data.cache_dir", data.cache_dir,
        "folder: where decoded sets are kept for the next start; \"\": ~/.cache/genbox/prepared (or "
        "$XDG_CACHE_HOME's); \"none\": decode at every start");
  s.add("data.test_root", data.test_root, "folder: a folder of test images; \"\": hold out data.test_fraction");
  s.add("data.test_fraction", data.test_fraction, 0.0, 0.5,
        "folder without data.test_root: the share of images held out for testing (the same draw for every run)");
  s.add_choice("data.hflip", data.hflip, {"auto", "on", "off"},
               "flip training images left-right at random, per batch from the run's seed; auto: on for CIFAR and "
               "folders, off for IDX sets");
  s.add_check([&data] {
    if (data.geometry.channels == 2) throw ConfigError("data.channels must be 1 or 3, not 2");
    if (data.geometry.size.size() > 2)
      throw ConfigError(fmt::format("data.image_size takes [S] or [H, W], not {} numbers", data.geometry.size.size()));
  });
  s.add("data.train_limit", data.train_limit, 0, 100000000, "use only the first N training images; 0: all");
  s.add("data.toy_size", data.toy_size, 100, 100000000, "training points drawn for a toy 2D set");
}

namespace {
// A folder's train and test splits: the test split is data.test_root's images, or a share of the
// folder's held out (named in meta.json's data.held_out). The draw has a seed of its own, not
// run.seed: runs that differ only in their seed must test on the same images to compare.
std::pair<ImageDataset, ImageDataset> load_folder(const DataSource& source, bool need_train, int64_t test_limit,
                                                  nlohmann::json& meta) {
  auto list = [&](const std::string& root) {
    return source.dataset == "zip" ? list_image_zip(root) : list_image_folder(root);
  };
  const ImageFolder folder = list(source.root);
  ImageGeometry geometry = source.geometry;
  if (geometry.channels == 0) geometry.channels = 3;  // a folder's own: RGB, as ImageFolder converts
  std::vector<int64_t> train_indices, test_indices;
  std::vector<std::string> skipped;
  auto decode = [&](const ImageFolder& from, const std::vector<int64_t>& indices, int64_t limit) {
    std::vector<int64_t> kept = indices;
    if (kept.empty())
      for (size_t i = 0; i < from.files.size(); ++i) kept.push_back(int64_t(i));
    if (limit > 0 && limit < int64_t(kept.size())) kept.resize(size_t(limit));
    DecodedImages decoded = source.cache_dir == "none"
                                ? decode_folder(from, geometry, kept)
                                : prepared_images(from, geometry, kept,
                                                  source.cache_dir.empty() ? default_prepared_cache_dir()
                                                                           : std::filesystem::path(source.cache_dir));
    skipped.insert(skipped.end(), decoded.skipped.begin(), decoded.skipped.end());
    return decoded.data;
  };
  ImageDataset train, test;
  if (!source.test_root.empty()) {
    test = decode(list(source.test_root), {}, test_limit);
    for (size_t i = 0; i < folder.files.size(); ++i) train_indices.push_back(int64_t(i));
  } else {
    const int64_t n = int64_t(folder.files.size());
    const int64_t held = source.test_fraction > 0 ? std::max<int64_t>(1, std::llround(source.test_fraction * n)) : 0;
    if (held == 0 || held >= n)
      throw DataError(
          fmt::format("{}: {} images cannot be split into train and test by data.test_fraction = {}; "
                      "set data.test_root or another fraction",
                      source.root, n, source.test_fraction));
    torch::Tensor order = at::randperm(n, at::make_generator<at::CPUGeneratorImpl>(0x67656e626f78ull));
    std::vector<bool> is_test(size_t(n), false);
    for (int64_t k = 0; k < held; ++k) is_test[size_t(order[k].item<int64_t>())] = true;
    nlohmann::json held_out = nlohmann::json::array();
    for (int64_t i = 0; i < n; ++i) {
      (is_test[size_t(i)] ? test_indices : train_indices).push_back(i);
      if (is_test[size_t(i)]) held_out.push_back(folder.files[size_t(i)]);
    }
    meta["held_out"] = held_out;
    test = decode(folder, test_indices, test_limit);
  }
  train = need_train ? decode(folder, train_indices, source.train_limit) : test;
  meta["classes"] = folder.class_names;
  if (!skipped.empty()) meta["skipped_images"] = skipped;
  return {train, test};
}
}  // namespace

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
      ImageDataset set =
          source.is_cifar()
              ? load_cifar(source.root, {source.dataset, source.cifar100_labels == "coarse"}, split, limit)
              : load_idx_dataset(source.root, split, limit);
      set.images = fit_images(set.images, source.geometry, source.root);
      return set;
    };
    ImageDataset test, train;
    if (source.is_images()) {
      std::tie(train, test) = load_folder(source, need_train, test_limit, data.meta);
    } else {
      test = load("test", test_limit);
      train = need_train ? load("train", source.train_limit) : test;
    }
    data.images = true;
    data.shape = {test.images.size(1), test.images.size(2), test.images.size(3)};
    data.label_count = std::max(train.labels.max().item<int64_t>(), test.labels.max().item<int64_t>()) + 1;
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
  torch::Tensor heads = flip_coins(data, n, generator).to(rows.device()).view({n, 1, 1, 1});
  return torch::where(heads, images.flip({3}), images).view(rows.sizes());
}

torch::Tensor flip_coins(const SourceData& data, int64_t n, at::Generator generator) {
  return data.hflip ? torch::rand({n}, generator) < 0.5 : torch::Tensor();
}

void write_training_preview(const SourceData& data, const std::filesystem::path& samples_dir, int64_t seed) {
  const int64_t n = std::min<int64_t>(64, data.train.size(0));
  torch::Tensor indices = torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(data.train.device()));
  torch::Tensor rows = train_rows(data, indices, at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed)));
  torch::Tensor images = rows.view({n, data.shape[0], data.shape[1], data.shape[2]}).to(torch::kFloat).div(255);
  write_png(samples_dir / "data.png", make_grid(images.cpu(), 8));
}

}  // namespace genbox
