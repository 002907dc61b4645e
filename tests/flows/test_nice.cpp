#include <doctest/doctest.h>

#include <torch/torch.h>
#include <cmath>

#include "common/device.hpp"
#include "flows/inpaint.hpp"
#include "flows/nice.hpp"

using namespace genbox::flows;
using genbox::MatmulShape;

namespace {
NiceOptions small(int64_t dim, const std::string& prior = "logistic") {
  NiceOptions o;
  o.dim = dim;
  o.coupling_layers = 4;
  o.hidden = 32;
  o.hidden_layers = 2;
  o.prior = prior;
  return o;
}
}  // namespace

TEST_CASE("NICE inverts its forward pass to 1e-5 on images") {
  torch::manual_seed(0);
  Nice model(small(784));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.normal_(0, 0.05);
  }
  torch::Tensor x = torch::rand({8, 784});
  auto [z, logdet] = model->forward(x);
  auto [back, inverse_logdet] = model->inverse(z);
  CHECK((back - x).abs().max().item<float>() < 1e-5f);
  CHECK(torch::allclose(logdet, -inverse_logdet, 1e-5, 1e-5));
}

TEST_CASE("with identity couplings, log p is the prior of the scaled input plus sum(s)") {
  Nice model(small(4, "gaussian"));
  torch::Tensor s = torch::tensor({0.1f, -0.2f, 0.3f, 0.0f});
  {
    torch::NoGradGuard no_grad;
    for (auto& item : model->named_parameters()) {
      if (item.key().find("output_layer") != std::string::npos || item.key().find("shift_net.4") != std::string::npos)
        item.value().zero_();
    }
    model->named_parameters()["scaling.log_scale"].copy_(s);
  }
  torch::Tensor x = torch::tensor({{0.5f, -1.0f, 2.0f, 0.25f}});
  torch::Tensor z = x * s.exp();
  double expected = (-0.5 * z.square() - 0.5 * std::log(2 * M_PI)).sum().item<double>() + s.sum().item<double>();
  CHECK(model->log_prob(x).item<double>() == doctest::Approx(expected).epsilon(1e-6));
}

TEST_CASE("data-dependent init centres the data and matches the prior's spread") {
  torch::manual_seed(2);
  Nice model(small(6));
  torch::Tensor x = torch::randn({4000, 6}) * torch::tensor({0.1f, 1.f, 2.f, 0.5f, 3.f, 0.01f}) + 5;
  model->initialize_from_data(x);
  torch::NoGradGuard no_grad;
  torch::Tensor z = model->forward(x).first;
  CHECK(z.mean(0).abs().max().item<float>() < 0.05f);
  CHECK(torch::allclose(z.std(0), torch::full({6}, float(M_PI / std::sqrt(3.0))), 1e-3, 1e-3));
}

TEST_CASE("samples have the model's dimension and pass through the inverse") {
  Nice model(small(10));
  torch::Tensor x = model->sample(5, 1.0, at::make_generator<at::CPUGeneratorImpl>(1));
  CHECK(x.sizes() == torch::IntArrayRef({5, 10}));
  CHECK(torch::isfinite(x).all().item<bool>());
}

TEST_CASE("inpainting keeps observed pixels and raises log p of the hidden ones") {
  torch::manual_seed(3);
  // A flow fitted by data init to data concentrated near 0.3 with small spread.
  Nice model(small(16));
  model->initialize_from_data(0.3 + 0.02 * torch::randn({2000, 16}));
  torch::Tensor x = (0.3 + 0.02 * torch::randn({4, 16})).clamp(0, 1);
  torch::Tensor observed = torch::ones({4, 16});
  observed.narrow(1, 8, 8).zero_();
  InpaintOptions options;
  options.steps = 200;
  options.step_scale = 2.0;
  options.noise = 0.0;
  torch::Tensor filled = inpaint(model, x, observed, options, at::make_generator<at::CPUGeneratorImpl>(4));
  CHECK(torch::equal(filled.narrow(1, 0, 8), x.narrow(1, 0, 8)));
  CHECK(filled.min().item<float>() >= 0.0f);
  CHECK(filled.max().item<float>() <= 1.0f);
  torch::NoGradGuard no_grad;
  torch::Tensor start = x * observed + 0.5 * (1 - observed);
  CHECK((model->log_prob(filled) > model->log_prob(start)).all().item<bool>());
  CHECK((filled.narrow(1, 8, 8) - 0.3).abs().mean().item<float>() < 0.05f);
}

TEST_CASE("a NICE step's matmuls add up to the FLOPs counted by hand") {
  // Default model, batch 200: each coupling multiplies 392 -> 256 -> 256 -> 256 -> 392, forward
  // 2 * 200 * (392*256 + 2*256*256 + 256*392) FLOPs; the backward pass doubles that, less the
  // first layer's input gradient (2 * 200 * 392 * 256).
  NiceOptions options;
  std::vector<MatmulShape> shapes = nice_train_matmuls(options, 200);
  CHECK(shapes.size() == 4 * 4 * 3 - 1);
  CHECK(genbox::total_flops(shapes) == 1'552'384'000.0);
  for (const MatmulShape& s : shapes) CHECK((s.m == 200 || s.k == 200));
}

TEST_CASE("under bf16 autocast only NICE's coupling networks compute in bf16; log|det| and the prior stay fp32") {
  torch::manual_seed(5);
  Nice model(small(16));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.normal_(0, 0.2);
  }
  const torch::Tensor x = torch::rand({32, 16});
  const torch::Tensor fp32 = model->log_prob(x);
  const FlowResult exact = model->forward(x);
  torch::Tensor log_p;
  FlowResult mixed;
  {
    genbox::AutocastGuard autocast("bf16", torch::kCPU);
    log_p = model->log_prob(x);
    mixed = model->forward(x);
  }
  CHECK((log_p.scalar_type() == torch::kFloat));
  CHECK((mixed.first.scalar_type() == torch::kFloat));
  CHECK(torch::equal(mixed.second, exact.second));  // the scaling's log-determinant, bit for bit
  // The prior of the bf16-shifted z plus that log-determinant, computed outside autocast.
  CHECK(torch::allclose(log_p, model->prior().log_prob(mixed.first) + mixed.second, 1e-6, 1e-4));
  // bf16 was in effect in the couplings, and kept the likelihood within 1%.
  CHECK_FALSE(torch::equal(mixed.first, exact.first));
  CHECK(torch::allclose(log_p, fp32, 1e-2, 0.0));
  CHECK(torch::equal(log_prob_in_precision(model, x, "bf16"), log_p));
}
