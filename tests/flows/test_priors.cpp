#include <doctest/doctest.h>

#include <torch/torch.h>
#include <cmath>

#include "flows/priors.hpp"

using namespace genbox::flows;

TEST_CASE("logistic log-density equals log(e^-z / (1 + e^-z)^2), stably in the tails") {
  for (double z : {-30.0, -3.0, -0.5, 0.0, 0.7, 4.0, 30.0}) {
    double expected = -z - 2 * std::log1p(std::exp(-z));
    double got = logistic_log_prob(torch::tensor(z, torch::kFloat64)).item<double>();
    CHECK(got == doctest::Approx(expected).epsilon(1e-12));
  }
  CHECK(logistic_log_prob(torch::tensor(0.0)).item<double>() == doctest::Approx(-std::log(4.0)));
  CHECK(std::isfinite(logistic_log_prob(torch::tensor(200.0f)).item<float>()));
}

TEST_CASE("the logistic log-density's gradient matches central finite differences, summed or not") {
  torch::Tensor z = torch::tensor({{-30.0, -2.5, -0.3, 0.0}, {0.4, 1.7, 6.0, 25.0}}, torch::kFloat64);
  torch::Tensor weights = torch::tensor({0.5, -2.0}, torch::kFloat64);
  torch::Tensor leaf = z.clone().requires_grad_(true);
  (Prior{"logistic"}.log_prob(leaf) * weights).sum().backward();
  torch::Tensor summed_grad = leaf.grad().clone();
  leaf.grad().zero_();
  (logistic_log_prob(leaf) * weights.unsqueeze(1)).sum().backward();
  const double h = 1e-6;
  for (int64_t i = 0; i < z.size(0); ++i)
    for (int64_t j = 0; j < z.size(1); ++j) {
      auto at = [&](double shift) {
        torch::Tensor moved = z.clone();
        moved[i][j] += shift;
        return (logistic_log_prob(moved).sum(1) * weights).sum().item<double>();
      };
      double numeric = (at(h) - at(-h)) / (2 * h);
      CHECK(summed_grad[i][j].item<double>() == doctest::Approx(numeric).epsilon(1e-6));
      CHECK(leaf.grad()[i][j].item<double>() == doctest::Approx(numeric).epsilon(1e-6));
    }
}

TEST_CASE("Gaussian log-density equals -z^2/2 - log(2 pi)/2") {
  for (double z : {-2.0, 0.0, 1.5}) {
    double expected = -0.5 * z * z - 0.5 * std::log(2 * M_PI);
    CHECK(gaussian_log_prob(torch::tensor(z, torch::kFloat64)).item<double>() == doctest::Approx(expected));
  }
}

TEST_CASE("a prior sums log-densities over dimensions") {
  torch::Tensor z = torch::tensor({{0.0, 1.0}, {2.0, -1.0}}, torch::kFloat64);
  Prior logistic{"logistic"};
  CHECK(torch::allclose(logistic.log_prob(z), logistic_log_prob(z).sum(1)));
  Prior gaussian{"gaussian"};
  CHECK(gaussian.log_prob(z)[0].item<double>() == doctest::Approx(-0.5 - std::log(2 * M_PI)));
}

TEST_CASE("prior samples have the prior's moments, scaled by the temperature") {
  for (const char* kind : {"logistic", "gaussian"}) {
    Prior prior{kind};
    torch::Tensor z = prior.sample(200000, 1, 1.0, at::make_generator<at::CPUGeneratorImpl>(3), torch::kFloat64);
    CHECK(z.mean().item<double>() == doctest::Approx(0.0).epsilon(0.02));
    CHECK(z.std().item<double>() == doctest::Approx(prior.stddev()).epsilon(0.02));
    torch::Tensor cold = prior.sample(200000, 1, 0.5, at::make_generator<at::CPUGeneratorImpl>(3), torch::kFloat64);
    CHECK(torch::allclose(cold, 0.5 * z));
  }
  CHECK(Prior{"logistic"}.stddev() == doctest::Approx(M_PI / std::sqrt(3.0)));
}

TEST_CASE("the one-pass float32 logistic density and slope match the float64 ATen ops") {
  // 200 rows of 37 columns: four 8-wide blocks and a 5-column tail per row, more rows than two
  // threads' grains; values from the far tails through zero (both signs).
  const int previous_threads = at::get_num_threads();
  at::set_num_threads(2);
  torch::Tensor z64 = torch::linspace(-40.0, 40.0, 200 * 37, torch::kFloat64).reshape({200, 37});
  z64.index_put_({1, 5}, 0.0);
  z64.index_put_({2, 30}, -0.0);
  torch::Tensor weights = torch::linspace(-2.0, 3.0, 200, torch::kFloat64);
  for (bool sum_rows : {true, false}) {
    CAPTURE(sum_rows);
    auto density_of = [&](const torch::Tensor& z) {
      return sum_rows ? Prior{"logistic"}.log_prob(z) : logistic_log_prob(z);
    };
    auto weighted = [&](const torch::Tensor& d) {
      torch::Tensor w = weights.to(d.scalar_type());
      return (sum_rows ? d * w : d * w.unsqueeze(1)).sum();
    };
    torch::Tensor leaf64 = z64.clone().requires_grad_(true);
    torch::Tensor expected = density_of(leaf64);
    weighted(expected).backward();
    torch::Tensor leaf32 = z64.to(torch::kFloat32).requires_grad_(true);
    torch::Tensor got = density_of(leaf32);
    weighted(got).backward();
    CHECK(got.sizes() == expected.sizes());
    // Float32 rounding: 1 ulp per exp/log1p (Sleef u10) plus a 37-term sum, far inside 1e-5.
    CHECK(torch::allclose(got.to(torch::kFloat64), expected.detach(), 1e-5, 1e-5));
    CHECK(torch::allclose(leaf32.grad().to(torch::kFloat64), leaf64.grad(), 1e-5, 1e-6));
    // The portable loop against the AVX2 one (the same loop twice on a CPU without AVX2).
    torch::Tensor z32 = z64.to(torch::kFloat32);
    auto [avx2_density, avx2_slope] = logistic_density(z32, sum_rows, true);
    auto [portable_density, portable_slope] = logistic_density(z32, sum_rows, true, false);
    CHECK(torch::allclose(avx2_density, portable_density, 1e-6, 1e-5));
    CHECK(torch::allclose(avx2_slope, portable_slope, 1e-6, 1e-7));
    CHECK(torch::allclose(portable_slope.to(torch::kFloat64), (-0.5 * z64).tanh(), 1e-6, 1e-7));
  }
  at::set_num_threads(previous_threads);
}

TEST_CASE("the logistic slope is -tanh(z / 2) in both loops: -0 at +0, +1 deep in the left tail") {
  // 9 columns: one 8-wide block and a 1-column tail.
  torch::Tensor z = torch::tensor({{-40.0f, -0.0f, 0.0f, 1.0f, 40.0f, -3.0f, 0.5f, 2.0f, -1.0f}});
  for (bool avx2 : {true, false}) {
    CAPTURE(avx2);
    torch::Tensor slope = logistic_density(z, true, true, avx2).second;
    CHECK(slope[0][0].item<float>() == 1.0f);
    CHECK(slope[0][1].item<float>() == 0.0f);
    CHECK_FALSE(std::signbit(slope[0][1].item<float>()));
    CHECK(std::signbit(slope[0][2].item<float>()));
    CHECK(slope[0][3].item<float>() == doctest::Approx(-std::tanh(0.5)).epsilon(1e-6));
    CHECK(slope[0][4].item<float>() == -1.0f);
    CHECK(slope[0][8].item<float>() == doctest::Approx(std::tanh(0.5)).epsilon(1e-6));
  }
  // What autograd hands back is the same slope times the incoming gradient.
  torch::Tensor leaf = z.clone().requires_grad_(true);
  Prior{"logistic"}.log_prob(leaf).sum().backward();
  CHECK(torch::equal(leaf.grad(), logistic_density(z, true, true).second));
}
