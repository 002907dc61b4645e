#include <doctest/doctest.h>
#include <torch/torch.h>

#include "detection/dataset.hpp"

using namespace genbox::detection;
using torch::indexing::Slice;

TEST_CASE("collate pads images of different sizes at the bottom right and marks the padding") {
  torch::Tensor tall = torch::randint(1, 256, {3, 10, 4}, torch::kLong).to(torch::kUInt8);
  torch::Tensor wide = torch::randint(1, 256, {3, 5, 9}, torch::kLong).to(torch::kUInt8);
  Targets a = make_targets(torch::tensor({1}, torch::kLong), torch::tensor({{0.0f, 0.0f, 4.0f, 5.0f}}), 10, 4);
  Targets b = make_targets(torch::tensor({0, 2}, torch::kLong),
                           torch::tensor({{1.0f, 1.0f, 3.0f, 3.0f}, {0.0f, 0.0f, 9.0f, 5.0f}}), 5, 9);
  DetectionDataset data{{tall, wide}, {a, b}};

  DetectionBatch batch = collate(data, {1, 0});
  REQUIRE(batch.images.sizes() == torch::IntArrayRef({2, 3, 10, 9}));
  REQUIRE(batch.padding_mask.sizes() == torch::IntArrayRef({2, 10, 9}));
  CHECK(torch::equal(batch.sizes, torch::tensor({{5, 9}, {10, 4}}, torch::kLong)));
  CHECK(torch::allclose(batch.images[0].index({Slice(), Slice(0, 5)}), wide.to(torch::kFloat) / 255));
  CHECK(torch::allclose(batch.images[1].index({Slice(), Slice(), Slice(0, 4)}), tall.to(torch::kFloat) / 255));
  CHECK(batch.images[0].index({Slice(), Slice(5)}).abs().sum().item<float>() == 0);
  CHECK(batch.images[1].index({Slice(), Slice(), Slice(4)}).abs().sum().item<float>() == 0);
  // The mask is exactly where the images are not: no zero pixel inside, all-zero outside.
  CHECK(torch::equal(batch.padding_mask, batch.images.amax(1) == 0));
  CHECK(batch.targets[0].size() == 2);
  CHECK(batch.targets[1].size() == 1);
  // Normalised boxes stay relative to each image's own size.
  CHECK(torch::allclose(batch.targets[1].boxes, torch::tensor({{0.5f, 0.25f, 1.0f, 0.5f}})));

  DetectionBatch rounded = collate(data, {0, 1}, 8);
  CHECK(rounded.images.sizes() == torch::IntArrayRef({2, 3, 16, 16}));
  CHECK(rounded.padding_mask[0].logical_not().sum().item<int64_t>() == 40);
  CHECK_THROWS_AS(collate(data, {2}), std::out_of_range);
  CHECK_THROWS_AS(collate({tall, wide.narrow(0, 0, 1)}, {a, b}), std::invalid_argument);
}
