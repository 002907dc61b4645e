#include <doctest/doctest.h>

#include <torch/torch.h>
#include <cmath>

#include "common/likelihood.hpp"

using namespace genbox;

TEST_CASE("bits/dim: a uniform density on the unit cube scores exactly 8") {
  CHECK(bits_per_dim(torch::zeros({3}, torch::kFloat64), 784).eq(8.0).all().item<bool>());
  // The NICE paper's MNIST figure: 1980.50 nats on [0,1]^784 is 4.36 bits/dim.
  CHECK(bits_per_dim(torch::tensor(1980.50, torch::kFloat64), 784).item<double>() ==
        doctest::Approx(4.3558).epsilon(1e-4));
  // A density twice as high everywhere saves exactly one bit over all D dimensions.
  CHECK(bits_per_dim(torch::tensor(std::log(2.0), torch::kFloat64), 1).item<double>() == doctest::Approx(7.0));
}

TEST_CASE("dequantized pixels fill their 1/256 bin uniformly") {
  torch::Tensor pixels = torch::full({100000}, 7, torch::kUInt8);
  torch::Tensor x = dequantize(pixels, at::make_generator<at::CPUGeneratorImpl>(1));
  CHECK(x.min().item<float>() >= 7.0f / 256);
  CHECK(x.max().item<float>() < 8.0f / 256);
  CHECK(x.mean().item<double>() == doctest::Approx(7.5 / 256).epsilon(1e-3));
}
