#include <doctest/doctest.h>

#include <torch/torch.h>
#include <cmath>

#include "common/optim.hpp"

using namespace genbox;

TEST_CASE("weight decay skips biases and parameters of fewer than two dimensions") {
  torch::nn::Linear linear(3, 2);
  CHECK(receives_weight_decay("weight", linear->weight));
  CHECK_FALSE(receives_weight_decay("bias", linear->bias));
  CHECK_FALSE(receives_weight_decay("norm.scale", torch::ones({4})));
  CHECK_FALSE(receives_weight_decay("block.proj.bias", torch::ones({2, 2})));
}

TEST_CASE("make_optimizer puts decayed and plain parameters in separate groups") {
  torch::nn::Linear linear(3, 2);
  OptimSettings s;
  s.name = "adamw";
  s.weight_decay = 0.1;
  auto optimizer = make_optimizer(*linear, s);
  REQUIRE(optimizer->param_groups().size() == 2);
  auto& decayed = static_cast<torch::optim::AdamWOptions&>(optimizer->param_groups()[0].options());
  auto& plain = static_cast<torch::optim::AdamWOptions&>(optimizer->param_groups()[1].options());
  CHECK(decayed.weight_decay() == 0.1);
  CHECK(plain.weight_decay() == 0.0);
  CHECK(optimizer->param_groups()[0].params()[0].dim() == 2);
}

TEST_CASE("the learning rate warms up linearly, then follows a cosine to its floor") {
  OptimSettings s;
  s.lr = 1.0;
  s.warmup_steps = 10;
  s.schedule = "cosine";
  s.min_lr_ratio = 0.1;
  CHECK(learning_rate_at(s, 0, 110) == doctest::Approx(0.1));
  CHECK(learning_rate_at(s, 9, 110) == doctest::Approx(1.0));
  CHECK(learning_rate_at(s, 10, 110) == doctest::Approx(1.0));
  CHECK(learning_rate_at(s, 60, 110) == doctest::Approx(0.1 + 0.9 * 0.5));
  CHECK(learning_rate_at(s, 35, 110) == doctest::Approx(0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI / 4))));
  CHECK(learning_rate_at(s, 110, 110) == doctest::Approx(0.1));
  s.schedule = "constant";
  CHECK(learning_rate_at(s, 60, 110) == 1.0);
}

TEST_CASE("clip_grad_norm returns the global norm and scales gradients to max_norm") {
  torch::Tensor a = torch::zeros({1}, torch::requires_grad()), b = torch::zeros({1}, torch::requires_grad());
  (3 * a + 4 * b).sum().backward();
  CHECK(clip_grad_norm({a, b}, 0.0) == doctest::Approx(5.0));
  CHECK(a.grad().item<float>() == 3.0f);
  CHECK(clip_grad_norm({a, b}, 1.0) == doctest::Approx(5.0));
  CHECK(a.grad().item<float>() == doctest::Approx(0.6f).epsilon(1e-5));
  CHECK(b.grad().item<float>() == doctest::Approx(0.8f).epsilon(1e-5));
}

TEST_CASE("EMA follows its warmup formula and swaps weights in and out") {
  torch::nn::Linear linear(1, 1);
  torch::NoGradGuard no_grad;
  linear->weight.fill_(0.0);
  Ema ema(*linear, 0.99);
  linear->weight.fill_(1.0);
  ema.update(*linear);  // decay min(0.99, 1/10) = 0.1: average = 0.1 * 0 + 0.9 * 1
  linear->weight.fill_(2.0);
  ema.update(*linear);  // decay 2/11: average = 2/11 * 0.9 + 9/11 * 2
  double expected = 2.0 / 11 * 0.9 + 9.0 / 11 * 2.0;
  CHECK(ema.named_tensors()[0].second.item<float>() == doctest::Approx(expected));
  ema.swap_into(*linear);
  CHECK(linear->weight.item<float>() == doctest::Approx(expected));
  ema.swap_into(*linear);
  CHECK(linear->weight.item<float>() == 2.0f);
}
