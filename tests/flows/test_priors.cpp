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
