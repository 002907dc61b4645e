#include <doctest/doctest.h>

#include <torch/torch.h>
#include <cmath>
#include <functional>

#include "diffusion/rectified_flow.hpp"

using namespace genbox::diffusion;

namespace {
at::Generator seeded(uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return gen;
}

// Fraction of draws at or below x.
double empirical_cdf(const torch::Tensor& t, double x) { return (t <= x).to(torch::kDouble).mean().item<double>(); }

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// u with f(u) = x for a decreasing f on [0, 1], by bisection.
double invert_decreasing(const std::function<double(double)>& f, double x) {
  double lo = 0, hi = 1;
  for (int i = 0; i < 60; ++i) {
    double mid = (lo + hi) / 2;
    (f(mid) > x ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}
}  // namespace

TEST_CASE("the straight path runs from data at t = 0 to noise at t = 1 with velocity noise - x0") {
  torch::manual_seed(0);
  torch::Tensor x0 = torch::randn({3, 1, 4, 4}, torch::kFloat64), noise = torch::randn({3, 1, 4, 4}, torch::kFloat64);
  torch::Tensor t = torch::tensor({0.0, 1.0, 0.3}, torch::kFloat64);
  torch::Tensor z = interpolate(x0, noise, t);
  CHECK(torch::equal(z[0], x0[0]));
  CHECK(torch::equal(z[1], noise[1]));
  CHECK(torch::allclose(z[2], 0.7 * x0[2] + 0.3 * noise[2]));
  // The velocity target is the time derivative of the path.
  double h = 1e-6;
  torch::Tensor derivative = (interpolate(x0, noise, t + h) - interpolate(x0, noise, t)) / h;
  CHECK(torch::allclose(derivative, velocity_target(x0, noise), 1e-6, 1e-6));
  // Float timesteps broadcast over double data and over 2D toy data alike.
  CHECK((interpolate(x0, noise, t.to(torch::kFloat)).scalar_type() == torch::kFloat64));
  CHECK(torch::allclose(interpolate(x0.flatten(1), noise.flatten(1), t), z.flatten(1)));
}

TEST_CASE("logit-normal timesteps: logit(t) has the requested mean and standard deviation") {
  torch::Tensor t = logit_normal_timesteps(200000, 0.5, 0.8, seeded(1)).to(torch::kDouble);
  CHECK(t.min().item<double>() > 0);
  CHECK(t.max().item<double>() < 1);
  torch::Tensor logit = torch::log(t / (1 - t));
  CHECK(logit.mean().item<double>() == doctest::Approx(0.5).epsilon(0.005));
  CHECK(logit.std().item<double>() == doctest::Approx(0.8).epsilon(0.005));
  // And its CDF is Phi((logit(x) - m) / s).
  for (double x : {0.2, 0.5, 0.8})
    CHECK(empirical_cdf(t, x) == doctest::Approx(normal_cdf((std::log(x / (1 - x)) - 0.5) / 0.8)).epsilon(0.004));
}

TEST_CASE("uniform, mode and cosmap timesteps follow their closed-form CDFs") {
  int64_t n = 200000;
  torch::Tensor uniform = uniform_timesteps(n, seeded(2)).to(torch::kDouble);
  torch::Tensor mode = mode_timesteps(n, 1.29, seeded(3)).to(torch::kDouble);
  torch::Tensor cosmap = cosmap_timesteps(n, seeded(4)).to(torch::kDouble);
  auto mode_map = [](double u) { return 1 - u - 1.29 * (std::pow(std::cos(M_PI / 2 * u), 2) - 1 + u); };
  for (double x : {0.1, 0.3, 0.5, 0.7, 0.9}) {
    CAPTURE(x);
    CHECK(empirical_cdf(uniform, x) == doctest::Approx(x).epsilon(0.004));
    // f decreasing: P(f(u) <= x) = P(u >= f^-1(x)).
    CHECK(empirical_cdf(mode, x) == doctest::Approx(1 - invert_decreasing(mode_map, x)).epsilon(0.004));
    // 1 - 1/(tan(pi u / 2) + 1) <= x  <=>  u <= (2 / pi) atan(x / (1 - x)).
    CHECK(empirical_cdf(cosmap, x) == doctest::Approx(2 / M_PI * std::atan(x / (1 - x))).epsilon(0.004));
  }
  // Mode sampling with scale 0 is uniform (1 - u).
  torch::Tensor flat = mode_timesteps(1000, 0.0, seeded(5));
  CHECK(torch::allclose(flat, 1 - uniform_timesteps(1000, seeded(5))));
}

TEST_CASE("the timestep shift: closed form, identity at 1, fixes the ends, monotone") {
  torch::Tensor t = torch::linspace(0, 1, 101, torch::kFloat64);
  CHECK(torch::equal(shift_timesteps(t, 1.0), t));
  torch::Tensor shifted = shift_timesteps(t, 3.0);
  CHECK(shifted[0].item<double>() == 0.0);
  CHECK(shifted[100].item<double>() == doctest::Approx(1.0));
  CHECK(shifted[50].item<double>() == doctest::Approx(0.75));        // 1.5 / (1 + 2 * 0.5)
  CHECK(shifted[25].item<double>() == doctest::Approx(0.75 / 1.5));  // 0.75 / (1 + 2 * 0.25)
  CHECK((shifted.diff() > 0).all().item<bool>());
  CHECK((shifted >= t).all().item<bool>());
  CHECK((shift_timesteps(t, 0.5) <= t).all().item<bool>());
  // Shifting by a then by 1/a is the identity.
  CHECK(torch::allclose(shift_timesteps(shifted, 1 / 3.0), t, 1e-12, 1e-12));
}

TEST_CASE("sample_timesteps dispatches on the kind and applies the shift after drawing") {
  TimestepSampling sampling;
  sampling.kind = "cosmap";
  sampling.shift = 2.0;
  torch::Tensor t = sample_timesteps(sampling, 100, seeded(6));
  CHECK((t.scalar_type() == torch::kFloat));
  CHECK(torch::allclose(t, shift_timesteps(cosmap_timesteps(100, seeded(6)), 2.0)));
  sampling = TimestepSampling{};
  CHECK(torch::equal(sample_timesteps(sampling, 100, seeded(7)), logit_normal_timesteps(100, 0, 1, seeded(7))));
  sampling.kind = "mode";
  CHECK(torch::equal(sample_timesteps(sampling, 100, seeded(8)), mode_timesteps(100, 1.29, seeded(8))));
  sampling.kind = "uniform";
  CHECK(torch::equal(sample_timesteps(sampling, 100, seeded(9)), uniform_timesteps(100, seeded(9))));
  sampling.kind = "beta";
  CHECK_THROWS_AS(sample_timesteps(sampling, 10, seeded(10)), std::invalid_argument);
}
