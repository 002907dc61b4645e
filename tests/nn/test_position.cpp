#include <doctest/doctest.h>

#include <torch/torch.h>
#include <cmath>

#include "nn/position.hpp"

using namespace genbox::nn;

TEST_CASE("the 2D sin-cos table of a 2 x 3 grid, by hand") {
  // dim 8: each half has frequencies 1 and 10000^(-1/2) = 0.01. First half encodes the column,
  // second half the row, each as [sin, sin, cos, cos].
  torch::Tensor table = sincos_2d(8, 2, 3);
  REQUIRE(table.sizes() == torch::IntArrayRef({6, 8}));
  // Token 5 is row 1, column 2.
  double expected[8] = {0.9092974268, 0.0199986667, -0.4161468365, 0.9998000067,
                        0.8414709848, 0.0099998333, 0.5403023059,  0.9999500004};
  for (int i = 0; i < 8; ++i) CHECK(table[5][i].item<double>() == doctest::Approx(expected[i]).epsilon(1e-6));
  // Token 0 sits at the origin: sines 0, cosines 1.
  CHECK(torch::equal(table[0], torch::tensor({0.0f, 0.0f, 1.0f, 1.0f, 0.0f, 0.0f, 1.0f, 1.0f})));
}

TEST_CASE("the 2D sin-cos table against a scalar loop over a non-square grid") {
  int64_t dim = 16, grid_h = 3, grid_w = 5, quarter = dim / 4;
  torch::Tensor table = sincos_2d(dim, grid_h, grid_w);
  REQUIRE(table.sizes() == torch::IntArrayRef({15, 16}));
  for (int64_t i = 0; i < grid_h; ++i) {
    for (int64_t j = 0; j < grid_w; ++j) {
      auto row = table[i * grid_w + j];
      for (int64_t k = 0; k < quarter; ++k) {
        double omega = std::pow(10000.0, -static_cast<double>(k) / quarter);
        CHECK(row[k].item<double>() == doctest::Approx(std::sin(j * omega)).epsilon(1e-6));
        CHECK(row[quarter + k].item<double>() == doctest::Approx(std::cos(j * omega)).epsilon(1e-6));
        CHECK(row[2 * quarter + k].item<double>() == doctest::Approx(std::sin(i * omega)).epsilon(1e-6));
        CHECK(row[3 * quarter + k].item<double>() == doctest::Approx(std::cos(i * omega)).epsilon(1e-6));
      }
    }
  }
  CHECK_THROWS_AS(sincos_2d(6, 2, 2), std::invalid_argument);
}

TEST_CASE("timestep embedding: cos then sin halves at geometric frequencies") {
  // dim 6: frequencies 1, 10000^(-1/3), 10000^(-2/3).
  torch::Tensor e = timestep_embedding(torch::tensor({0.0, 500.0}, torch::kFloat64), 6);
  REQUIRE(e.sizes() == torch::IntArrayRef({2, 6}));
  CHECK(torch::equal(e[0], torch::tensor({1.0, 1.0, 1.0, 0.0, 0.0, 0.0}, torch::kFloat64)));
  double f[3] = {1.0, 0.04641588833612779, 0.002154434690031884};
  for (int k = 0; k < 3; ++k) {
    CHECK(e[1][k].item<double>() == doctest::Approx(std::cos(500 * f[k])).epsilon(1e-9));
    CHECK(e[1][3 + k].item<double>() == doctest::Approx(std::sin(500 * f[k])).epsilon(1e-9));
  }
  // Odd widths get a zero last column.
  torch::Tensor odd = timestep_embedding(torch::tensor({3.0}), 5);
  CHECK(odd.size(1) == 5);
  CHECK(odd[0][4].item<float>() == 0.0f);
  CHECK((timestep_embedding(torch::tensor({1.0f}), 8).scalar_type() == torch::kFloat));
}
