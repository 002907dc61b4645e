#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cmath>

#include "nn/position.hpp"

using namespace genbox::nn;
using torch::indexing::Slice;

namespace {
torch::Tensor padding_mask(int64_t height, int64_t width, int64_t valid_h, int64_t valid_w) {
  torch::Tensor mask = torch::ones({height, width}, torch::kBool);
  mask.index_put_({Slice(0, valid_h), Slice(0, valid_w)}, false);
  return mask;
}
}  // namespace

TEST_CASE("the masked sine encoding against the formula written out per pixel") {
  // One 3 x 4 image padded to 5 x 6; dim 8 gives two frequencies per axis: 1 and 1/100.
  int64_t dim = 8, valid_h = 3, valid_w = 4;
  torch::Tensor pos = sine_position_2d(padding_mask(5, 6, valid_h, valid_w).unsqueeze(0), dim);
  REQUIRE(pos.sizes() == torch::IntArrayRef({1, 8, 5, 6}));
  const double two_pi = 2 * M_PI, frequencies[2] = {1.0, 0.01};
  for (int64_t i = 0; i < valid_h; ++i) {
    for (int64_t j = 0; j < valid_w; ++j) {
      double row = (i + 1.0) / valid_h * two_pi, column = (j + 1.0) / valid_w * two_pi;
      for (int k = 0; k < 2; ++k) {
        CHECK(pos[0][2 * k][i][j].item<double>() == doctest::Approx(std::sin(row * frequencies[k])).epsilon(1e-5));
        CHECK(pos[0][2 * k + 1][i][j].item<double>() == doctest::Approx(std::cos(row * frequencies[k])).epsilon(1e-5));
        CHECK(pos[0][4 + 2 * k][i][j].item<double>() ==
              doctest::Approx(std::sin(column * frequencies[k])).epsilon(1e-5));
        CHECK(pos[0][4 + 2 * k + 1][i][j].item<double>() ==
              doctest::Approx(std::cos(column * frequencies[k])).epsilon(1e-5));
      }
    }
  }
  // Padded pixels (the bottom rows and the right columns) carry nothing.
  CHECK(pos.index({0, Slice(), Slice(valid_h)}).abs().max().item<float>() == 0.0f);
  CHECK(pos.index({0, Slice(), Slice(), Slice(valid_w)}).abs().max().item<float>() == 0.0f);
}

TEST_CASE("a padded image's valid pixels encode exactly as the unpadded image does") {
  // A batch of three images with different valid extents inside one 7 x 9 canvas.
  torch::Tensor mask = torch::stack({padding_mask(7, 9, 7, 9), padding_mask(7, 9, 4, 9), padding_mask(7, 9, 5, 3)});
  torch::Tensor pos = sine_position_2d(mask, 16, 20);
  int64_t extents[3][2] = {{7, 9}, {4, 9}, {5, 3}};
  for (int64_t b = 0; b < 3; ++b) {
    int64_t h = extents[b][0], w = extents[b][1];
    torch::Tensor alone = sine_position_2d(torch::zeros({1, h, w}, torch::kBool), 16, 20);
    CHECK(torch::allclose(pos.index({b, Slice(), Slice(0, h), Slice(0, w)}), alone[0], 1e-6, 1e-6));
    CHECK(pos[b].abs().sum().item<float>() == doctest::Approx(alone.abs().sum().item<float>()).epsilon(1e-5));
  }
  // Every image of the batch is encoded independently of the others.
  CHECK(torch::allclose(pos[1], sine_position_2d(mask.narrow(0, 1, 1), 16, 20)[0]));
}

TEST_CASE("the masked sine encoding rejects widths not divisible by 4 and non-bool masks") {
  CHECK_THROWS_AS(sine_position_2d(torch::zeros({1, 2, 2}, torch::kBool), 6), std::invalid_argument);
  CHECK_THROWS_AS(sine_position_2d(torch::zeros({1, 2, 2}), 8), std::invalid_argument);
  CHECK_THROWS_AS(sine_position_2d(torch::zeros({2, 2}, torch::kBool), 8), std::invalid_argument);
}
