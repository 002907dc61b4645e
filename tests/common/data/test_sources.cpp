#include <doctest/doctest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "base/errors.hpp"
#include "common/data/resample.hpp"
#include "common/data/sources.hpp"
#include "tests/support.hpp"

using namespace genbox;
using genbox::testing::TempDir;

namespace {
SourceData images(bool hflip) {
  SourceData data;
  data.images = true;
  data.shape = {3, 4, 5};
  data.train = torch::randint(0, 256, {64, 3, 4, 5}, torch::kUInt8);
  data.hflip = hflip;
  return data;
}
}  // namespace

TEST_CASE("train_rows flips each image left-right or leaves it, by coins from the generator") {
  torch::manual_seed(5);
  SourceData data = images(true);
  const torch::Tensor indices = torch::arange(10, 42);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(17);
  const torch::Tensor rows = train_rows(data, indices, generator);
  int flipped = 0, kept = 0;
  for (int64_t i = 0; i < indices.size(0); ++i) {
    const torch::Tensor original = data.train[indices[i].item<int64_t>()];
    // A mirror by hand: column x of the flipped image is column 4 - x of the original.
    torch::Tensor mirror = torch::empty_like(original);
    for (int64_t x = 0; x < 5; ++x) mirror.select(2, x).copy_(original.select(2, 4 - x));
    const bool is_kept = rows[i].equal(original), is_flipped = rows[i].equal(mirror);
    CHECK((is_kept || is_flipped));
    flipped += is_flipped;
    kept += is_kept;
  }
  CHECK(flipped >= 6);
  CHECK(kept >= 6);
  // The same generator state draws the same flips; flattened rows flip as their images do.
  CHECK(train_rows(data, indices, at::make_generator<at::CPUGeneratorImpl>(17)).equal(rows));
  SourceData flat = data;
  flat.train = data.train.flatten(1);
  CHECK(train_rows(flat, indices, at::make_generator<at::CPUGeneratorImpl>(17)).equal(rows.flatten(1)));
  // Without flips: the rows themselves, and no coin is drawn.
  const SourceData plain = images(false);
  auto untouched = at::make_generator<at::CPUGeneratorImpl>(17);
  CHECK(train_rows(plain, indices, untouched).equal(plain.train.index_select(0, indices)));
  CHECK(torch::rand({4}, untouched).equal(torch::rand({4}, at::make_generator<at::CPUGeneratorImpl>(17))));
}

namespace {
// An image of the set, interleaved, with Pillow's channel conversion written out by hand.
ImageU8 converted(const torch::Tensor& chw, int64_t channels) {
  const int64_t found = chw.size(0), h = chw.size(1), w = chw.size(2);
  const torch::Tensor hwc = chw.permute({1, 2, 0}).contiguous().to(torch::kLong);
  ImageU8 image{h, w, channels, std::vector<uint8_t>(size_t(h * w * channels))};
  const int64_t green = found == 3 ? 1 : 0, blue = found == 3 ? 2 : 0;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const int64_t r = hwc[y][x][0].item<int64_t>(), g = hwc[y][x][green].item<int64_t>(),
                    b = hwc[y][x][blue].item<int64_t>();
      for (int64_t c = 0; c < channels; ++c)
        image.pixels[size_t((y * w + x) * channels + c)] =
            uint8_t(channels == 3 ? (c == 0   ? r
                                     : c == 1 ? g
                                              : b)
                                  : (r * 19595 + g * 38470 + b * 7471 + 32768) >> 16);
    }
  return image;
}

torch::Tensor planar(const ImageU8& image) {
  return torch::from_blob(const_cast<uint8_t*>(image.pixels.data()), {image.height, image.width, image.channels},
                          torch::kUInt8)
      .permute({2, 0, 1})
      .clone();
}
}  // namespace

TEST_CASE("IDX and CIFAR sets take data.image_size, data.channels and data.crop as folders do") {
  TempDir dir;
  std::filesystem::create_directories(dir / "idx");
  std::filesystem::create_directories(dir / "cifar");
  testing::write_tiny_item_set(dir / "idx");
  testing::write_tiny_cifar10(dir / "cifar");
  DataSource idx;
  idx.dataset = "idx";
  idx.root = (dir / "idx").string();
  // By default a set keeps its own channels and size.
  const SourceData own = load_source(idx, 0, torch::kCPU, true);
  CHECK(own.shape == std::vector<int64_t>{1, 8, 8});

  // Grey 8 x 8 to RGB 12 x 12 by ADM's centre crop (a bicubic upscale): grey repeated, then fitted.
  idx.geometry.size = {12};
  idx.geometry.channels = 3;
  const SourceData rgb = load_source(idx, 0, torch::kCPU, true);
  REQUIRE(rgb.shape == std::vector<int64_t>{3, 12, 12});
  CHECK(rgb.train.size(0) == own.train.size(0));
  CHECK(rgb.train_labels.equal(own.train_labels));
  for (int64_t i : {0, 17, 39}) CHECK(rgb.train[i].equal(planar(center_crop(converted(own.train[i], 3), 12, 12))));

  // CIFAR's RGB 32 x 32 to grey 10 x 16, stretched: Pillow's luminance, then a bicubic resize.
  DataSource cifar;
  cifar.dataset = "cifar10";
  cifar.root = (dir / "cifar").string();
  const SourceData colour = load_source(cifar, 0, torch::kCPU, true);
  cifar.geometry.size = {10, 16};
  cifar.geometry.channels = 1;
  cifar.geometry.crop = "resize";
  const SourceData grey = load_source(cifar, 0, torch::kCPU, true);
  REQUIRE(grey.shape == std::vector<int64_t>{1, 10, 16});
  for (int64_t i : {0, 5, 15}) CHECK(grey.test[i].equal(planar(resize_bicubic(converted(colour.test[i], 1), 10, 16))));

  // crop = "none" refuses another size, naming the set.
  cifar.geometry.crop = "none";
  CHECK(testing::data_error_of([&] {
          load_source(cifar, 0, torch::kCPU, true);
        }).find((dir / "cifar").string() + ": 32 x 32 pixels, but data.crop = \"none\"") != std::string::npos);
}
