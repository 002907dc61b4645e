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

// The fused step against LibTorch's own Adam/AdamW (a second implementation of the same update):
// same parameters after several steps with weight decay, a parameter without a gradient, a
// learning-rate change, and the same step count in the state that checkpoints save.
template <typename Fused, typename Plain, typename Options>
void check_fused_matches(bool amsgrad) {
  torch::manual_seed(3);
  torch::nn::Linear a(5, 4), b(5, 4);
  torch::Tensor frozen_a = torch::randn({3}, torch::requires_grad()), frozen_b = frozen_a.detach().clone();
  {
    torch::NoGradGuard no_grad;
    b->weight.copy_(a->weight);
    b->bias.copy_(a->bias);
  }
  auto groups = [&](torch::nn::Linear& l, torch::Tensor frozen) {
    std::vector<torch::optim::OptimizerParamGroup> g;
    g.emplace_back(std::vector<torch::Tensor>{l->weight},
                   std::make_unique<Options>(Options(0.01).betas({0.8, 0.95}).eps(1e-6).weight_decay(0.1).amsgrad(amsgrad)));
    g.emplace_back(std::vector<torch::Tensor>{l->bias, frozen},
                   std::make_unique<Options>(Options(0.02).weight_decay(0.0).amsgrad(amsgrad)));
    return g;
  };
  torch::Tensor initial = a->weight.detach().clone();
  Fused fused(groups(a, frozen_a), Options(0.01));
  Plain plain(groups(b, frozen_b), Options(0.01));
  for (int step = 0; step < 6; ++step) {
    torch::Tensor x = torch::randn({7, 5});
    for (auto* o : std::initializer_list<torch::optim::Optimizer*>{&fused, &plain}) o->zero_grad();
    a->forward(x).square().sum().backward();
    b->forward(x).square().sum().backward();
    if (step == 3)
      for (auto* o : std::initializer_list<torch::optim::Optimizer*>{&fused, &plain}) set_learning_rate(*o, 0.005);
    fused.step();
    plain.step();
  }
  CHECK(torch::allclose(a->weight, b->weight, 1e-5, 1e-6));
  CHECK(torch::allclose(a->bias, b->bias, 1e-5, 1e-6));
  CHECK(torch::equal(frozen_a, frozen_b));
  CHECK(fused.state().size() == plain.state().size());
  // The update moved the weights: the comparison is not between two untouched copies.
  CHECK_FALSE(torch::allclose(a->weight, initial, 1e-3, 1e-3));
}

TEST_CASE("the fused Adam and AdamW steps match LibTorch's") {
  check_fused_matches<FusedAdam, torch::optim::Adam, torch::optim::AdamOptions>(false);
  check_fused_matches<FusedAdam, torch::optim::Adam, torch::optim::AdamOptions>(true);
  check_fused_matches<FusedAdamW, torch::optim::AdamW, torch::optim::AdamWOptions>(false);
  check_fused_matches<FusedAdamW, torch::optim::AdamW, torch::optim::AdamWOptions>(true);
}
