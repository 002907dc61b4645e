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

TEST_CASE("one-pass dequantization equals (pixels + uniform_noise) / 256 bit for bit") {
  // 3 x 20000 pixels cover every value and, on two threads, more than one parallel chunk; a
  // strided view takes the ATen path, so both implementations see the same generator state.
  const int previous_threads = at::get_num_threads();
  at::set_num_threads(2);
  torch::Tensor pixels = torch::arange(60000, torch::kLong).remainder(256).to(torch::kUInt8).reshape({3, 20000});
  torch::Tensor fused = dequantize(pixels, at::make_generator<at::CPUGeneratorImpl>(4));
  torch::Tensor by_ops =
      uniform_noise(pixels.sizes(), at::make_generator<at::CPUGeneratorImpl>(4)).add_(pixels).div_(256.0);
  CHECK(torch::equal(fused, by_ops));
  torch::Tensor strided = pixels.t().contiguous().t();
  CHECK_FALSE(strided.is_contiguous());
  CHECK(torch::equal(dequantize(strided, at::make_generator<at::CPUGeneratorImpl>(4)), by_ops));
  at::set_num_threads(previous_threads);
}

TEST_CASE("dequantized pixels fill their 1/256 bin uniformly") {
  torch::Tensor pixels = torch::full({100000}, 7, torch::kUInt8);
  torch::Tensor x = dequantize(pixels, at::make_generator<at::CPUGeneratorImpl>(1));
  CHECK(x.min().item<float>() >= 7.0f / 256);
  CHECK(x.max().item<float>() < 8.0f / 256);
  CHECK(x.mean().item<double>() == doctest::Approx(7.5 / 256).epsilon(1e-3));
}

TEST_CASE("uniform noise is uniform without serial correlation and repeats by seed whatever the thread count") {
  torch::Tensor u = uniform_noise({400000}, at::make_generator<at::CPUGeneratorImpl>(5)).to(torch::kFloat64);
  CHECK(u.min().item<double>() >= 0.0);
  CHECK(u.max().item<double>() < 1.0);
  // Standard errors at n = 4e5: mean 4.6e-4, variance 1.3e-4; the bounds are about 5 of them.
  CHECK(u.mean().item<double>() == doctest::Approx(0.5).epsilon(5e-3));
  CHECK(u.var().item<double>() == doctest::Approx(1.0 / 12).epsilon(8e-3));
  torch::Tensor centred = u - 0.5;
  double lag1 = (centred.narrow(0, 0, 399999) * centred.narrow(0, 1, 399999)).mean().item<double>() * 12;
  CHECK(std::abs(lag1) < 0.01);
  // Each of 16 equal bins holds 1/16 of the values (within 5 standard errors of a count).
  torch::Tensor counts = torch::histc(u, 16, 0.0, 1.0);
  CHECK((counts - 25000).abs().max().item<double>() < 5 * std::sqrt(25000.0 * 15 / 16));

  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  torch::Tensor one_thread = uniform_noise({50000}, at::make_generator<at::CPUGeneratorImpl>(9));
  torch::set_num_threads(2);
  torch::Tensor two_threads = uniform_noise({50000}, at::make_generator<at::CPUGeneratorImpl>(9));
  torch::set_num_threads(threads);
  CHECK(torch::equal(one_thread, two_threads));
  CHECK_FALSE(torch::equal(one_thread, uniform_noise({50000}, at::make_generator<at::CPUGeneratorImpl>(10))));
  // Successive draws from one generator differ.
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(9);
  torch::Tensor first = uniform_noise({1000}, g);
  CHECK_FALSE(torch::equal(first, uniform_noise({1000}, g)));
}
