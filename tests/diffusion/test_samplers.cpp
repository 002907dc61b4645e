#include <doctest/doctest.h>

#include <torch/torch.h>
#include <vector>

#include "diffusion/samplers.hpp"
#include "diffusion/velocity_model.hpp"

using namespace genbox::diffusion;

namespace {
// Data N(mu, diag(s^2)) and noise N(0, I) joined by straight lines: the marginal at t is
// N((1 - t) mu, sigma_t^2) with sigma_t^2 = (1 - t)^2 s^2 + t^2, and the velocity field that
// carries it, v = -mu + sigma_t'/sigma_t (x - (1 - t) mu), has the exact flow
// x_t = (1 - t) mu + sigma_t x_1. So sampling from noise x_1 must end at x_0 = mu + s x_1.
struct GaussianFlow {
  torch::Tensor mu = torch::tensor({1.5, -1.0, 0.0}, torch::kFloat64);
  torch::Tensor s = torch::tensor({0.3, 2.0, 1.0}, torch::kFloat64);
  torch::Tensor velocity(const torch::Tensor& x, const torch::Tensor& t) const {
    torch::Tensor tb = t.unsqueeze(1);
    torch::Tensor variance = (1 - tb).square() * s.square() + tb.square();
    return -mu + (tb - (1 - tb) * s.square()) / variance * (x - (1 - tb) * mu);
  }
  torch::Tensor endpoint(const torch::Tensor& noise) const { return mu + s * noise; }
};

double max_error(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }
}  // namespace

TEST_CASE("the timestep schedule runs from 1 to 0 with the shift applied") {
  CHECK(torch::allclose(timestep_schedule(4, 1.0), torch::tensor({1.0, 0.75, 0.5, 0.25, 0.0}, torch::kFloat64)));
  // 3t / (1 + 2t) at t = 0.75, 0.5, 0.25.
  CHECK(torch::allclose(timestep_schedule(4, 3.0), torch::tensor({1.0, 0.9, 0.75, 0.5, 0.0}, torch::kFloat64)));
  CHECK_THROWS_AS(timestep_schedule(0, 1.0), std::invalid_argument);
}

TEST_CASE("Euler and Heun evaluate the field at the schedule's timesteps") {
  std::vector<double> seen;
  VelocityFn record = [&](const torch::Tensor& x, const torch::Tensor& t) {
    CHECK(t.sizes() == torch::IntArrayRef({2}));
    CHECK((t.scalar_type() == x.scalar_type()));
    seen.push_back(t[0].item<double>());
    return torch::zeros_like(x);
  };
  sample_euler(record, torch::zeros({2, 3}), 4, 1.0);
  CHECK(seen == std::vector<double>{1.0, 0.75, 0.5, 0.25});
  seen.clear();
  sample_heun(record, torch::zeros({2, 3}, torch::kFloat64), 2, 3.0);
  CHECK(seen == std::vector<double>{1.0, 0.75, 0.75, 0.0});
}

TEST_CASE("a constant velocity field (a straight flow) is integrated exactly in any number of steps") {
  torch::manual_seed(0);
  torch::Tensor noise = torch::randn({4, 3}, torch::kFloat64), x0 = torch::randn({4, 3}, torch::kFloat64);
  VelocityFn straight = [&](const torch::Tensor&, const torch::Tensor&) { return noise - x0; };
  CHECK(torch::allclose(sample_euler(straight, noise, 1, 1.0), x0, 1e-12, 1e-12));
  CHECK(torch::allclose(sample_euler(straight, noise, 7, 3.0), x0, 1e-12, 1e-12));
  CHECK(torch::allclose(sample_heun(straight, noise, 5, 0.5), x0, 1e-12, 1e-12));
}

TEST_CASE("Euler and Heun reach the exact endpoint of a Gaussian-to-Gaussian flow at orders 1 and 2") {
  torch::manual_seed(1);
  GaussianFlow flow;
  VelocityFn v = [&](const torch::Tensor& x, const torch::Tensor& t) { return flow.velocity(x, t); };
  torch::Tensor noise = torch::randn({64, 3}, torch::kFloat64);
  torch::Tensor exact = flow.endpoint(noise);
  auto error = [&](auto sampler, int64_t steps, double shift) {
    return max_error(sampler(v, noise, steps, shift), exact);
  };
  double euler_16 = error(sample_euler, 16, 1.0), euler_32 = error(sample_euler, 32, 1.0);
  double heun_16 = error(sample_heun, 16, 1.0), heun_32 = error(sample_heun, 32, 1.0);
  CAPTURE(euler_16);
  CAPTURE(euler_32);
  CAPTURE(heun_16);
  CAPTURE(heun_32);
  CHECK(error(sample_euler, 256, 1.0) < 0.05);
  CHECK(error(sample_heun, 128, 1.0) < 3e-4);
  CHECK(heun_16 < euler_16 / 10);
  // Halving the step divides the error by about 2 for Euler and 4 for Heun.
  CHECK(euler_16 / euler_32 == doctest::Approx(2.0).epsilon(0.15));
  CHECK(heun_16 / heun_32 == doctest::Approx(4.0).epsilon(0.15));
  // The shift only redistributes the steps: still the same endpoint.
  CHECK(error(sample_heun, 128, 3.0) < 1e-3);
}

TEST_CASE("classifier-free guidance: one doubled batch, w = 1 conditional, w = 0 unconditional") {
  torch::manual_seed(2);
  int calls = 0;
  ConditionalVelocityFn model = [&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& labels) {
    ++calls;
    CHECK(x.size(0) == 6);
    CHECK(labels.size(0) == 6);
    return torch::sin(x * (labels + 1).unsqueeze(1).to(x.dtype())) + t.unsqueeze(1);
  };
  torch::Tensor x = torch::randn({3, 2}), t = torch::rand({3});
  torch::Tensor labels = torch::tensor({0, 2, 1}, torch::kLong);
  torch::Tensor conditional = model(x.repeat({2, 1}), t.repeat({2}), labels.repeat({2})).narrow(0, 0, 3);
  torch::Tensor unconditional = model(x.repeat({2, 1}), t.repeat({2}), torch::full({6}, 4L)).narrow(0, 0, 3);
  calls = 0;
  CHECK(torch::allclose(guided_velocity(model, labels, 4, 1.0)(x, t), conditional, 1e-6, 1e-6));
  CHECK(calls == 1);
  CHECK(torch::allclose(guided_velocity(model, labels, 4, 0.0)(x, t), unconditional, 1e-6, 1e-6));
  CHECK(torch::allclose(guided_velocity(model, labels, 4, 3.0)(x, t), 3 * conditional - 2 * unconditional, 1e-5, 1e-5));
}

TEST_CASE("a sample sheet's rows cycle through the classes, however few, and are class 0 unconditionally") {
  const auto sheet = genbox::diffusion::sample_sheet({1, 4, 4}, 4, 2, 2, 0, torch::kCPU);
  CHECK(sheet.labels.equal(torch::tensor({0, 0, 1, 1, 0, 0, 1, 1}, torch::kLong)));
  CHECK(sheet.noise.sizes() == torch::IntArrayRef({8, 1, 4, 4}));
  CHECK(genbox::diffusion::sample_sheet({2}, 3, 2, 0, 0, torch::kCPU).labels.equal(torch::zeros({6}, torch::kLong)));
}
