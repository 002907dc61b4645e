#include <doctest/doctest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "common/data/sources.hpp"

using namespace genbox;

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
