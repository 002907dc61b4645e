// The fp16 loss scaler against the properties PyTorch's own tests assert for GradScaler, a
// second implementation of its update rule, and torch.amp.GradScaler itself.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/loss_scaler.hpp"
#include "common/npz.hpp"
#include "common/optim.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {

// ATen's update rule, written out: back off on a non-finite step; grow after `interval` clean
// steps in a row unless growing overflows float.
struct ReferenceScale {
  float scale;
  int tracker = 0;
  void step(bool finite, double growth, double backoff, int interval) {
    if (!finite) {
      scale = float(scale * backoff);
      tracker = 0;
      return;
    }
    if (++tracker == interval) {
      const float grown = float(scale * growth);
      if (std::isfinite(grown)) scale = grown;
      tracker = 0;
    }
  }
};

// One gradient per step for a single parameter; `inf_at` (1-based) makes one step's non-finite.
torch::Tensor gradient_at(int64_t step, int64_t inf_at) {
  torch::Tensor g = torch::linspace(-1, 1, 6) * double(step);
  if (step == inf_at) g[2] = std::numeric_limits<float>::infinity();
  return g;
}

}  // namespace

TEST_CASE("the scale backs off on every non-finite step and grows after growth_interval clean ones") {
  const LossScalingOptions options{4.0, 2.0, 0.5, 3};
  LossScaler scaler(options, torch::kCPU);
  ReferenceScale reference{4.0f};
  torch::Tensor p = torch::zeros({6}, torch::requires_grad());
  const std::string pattern = "ccccicccccciicccnc";  // c clean, i inf, n nan
  int64_t skipped = 0;
  for (size_t s = 0; s < pattern.size(); ++s) {
    CAPTURE(s);
    p.mutable_grad() = torch::ones({6});
    if (pattern[s] == 'i') p.mutable_grad()[1] = std::numeric_limits<float>::infinity();
    if (pattern[s] == 'n') p.mutable_grad()[4] = std::numeric_limits<float>::quiet_NaN();
    CHECK(scaler.unscale({p}) == (pattern[s] == 'c'));
    scaler.update();
    reference.step(pattern[s] == 'c', 2.0, 0.5, 3);
    skipped += pattern[s] != 'c';
    CHECK(scaler.current_scale() == reference.scale);
    CHECK(scaler.growth_tracker() == reference.tracker);
    CHECK(scaler.skipped() == skipped);
  }
  CHECK(scaler.skipped_in_a_row() == 0);

  // Growth stops at float's largest power of two.
  LossScaler high({std::ldexp(1.0, 127), 2.0, 0.5, 1}, torch::kCPU);
  for (int s = 0; s < 3; ++s) {
    p.mutable_grad() = torch::ones({6});
    CHECK(high.unscale({p}));
    high.update();
    CHECK(high.current_scale() == std::ldexp(1.0, 127));
    CHECK(high.growth_tracker() == 0);
  }
}

TEST_CASE(
    "PyTorch's check: scale 128, growth every step, an inf at step 2 ends at 512, and the weights equal an "
    "unscaled run that skips that step") {
  torch::manual_seed(1);
  const torch::Tensor x = torch::randn({8, 5}), y = torch::randn({8, 3});
  torch::nn::Linear scaled_model(5, 3), plain_model(5, 3);
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < plain_model->parameters().size(); ++i)
      plain_model->parameters()[i].copy_(scaled_model->parameters()[i]);
  }
  torch::optim::SGD scaled_sgd(scaled_model->parameters(), 0.1), plain_sgd(plain_model->parameters(), 0.1);
  LossScaler scaler({128.0, 2.0, 0.5, 1}, torch::kCPU);
  for (int step = 1; step <= 4; ++step) {
    scaled_sgd.zero_grad();
    scaler.scale(torch::mse_loss(scaled_model(x), y)).backward();
    if (step == 2) scaled_model->weight.mutable_grad()[0][0] = std::numeric_limits<float>::infinity();
    if (scaler.unscale(scaled_model->parameters())) scaled_sgd.step();
    scaler.update();
    if (step != 2) {
      plain_sgd.zero_grad();
      torch::mse_loss(plain_model(x), y).backward();
      plain_sgd.step();
    }
  }
  CHECK(scaler.current_scale() == 512.0);
  CHECK(scaler.skipped() == 1);
  for (size_t i = 0; i < plain_model->parameters().size(); ++i)
    CHECK(torch::equal(scaled_model->parameters()[i], plain_model->parameters()[i]));
}

TEST_CASE("unscaling divides by the scale exactly for powers of two and skips parameters without gradients") {
  LossScaler scaler({1024.0, 2.0, 0.5, 2000}, torch::kCPU);
  torch::Tensor a = torch::zeros({4}, torch::requires_grad()), b = torch::zeros({2}, torch::requires_grad());
  a.mutable_grad() = torch::tensor({1024.0f, -2048.0f, 3.0f, 0.0f});
  CHECK(scaler.unscale({a, b}));
  CHECK(torch::equal(a.grad(), torch::tensor({1.0f, -2.0f, 3.0f / 1024, 0.0f})));
  CHECK_FALSE(b.grad().defined());
  CHECK(torch::equal(scaler.scale(torch::tensor(0.5f)), torch::tensor(512.0f)));
}

TEST_CASE("the scaler's state round-trips, so a resumed run scales as an unbroken one") {
  LossScaler scaler({8.0, 2.0, 0.5, 2}, torch::kCPU);
  torch::Tensor p = torch::zeros({1}, torch::requires_grad());
  for (float g : {1.0f, std::numeric_limits<float>::infinity(), 1.0f}) {
    p.mutable_grad() = torch::full({1}, g);
    scaler.unscale({p});
    scaler.update();
  }
  LossScaler resumed({1.0, 2.0, 0.5, 2}, torch::kCPU);
  resumed.load_state(scaler.state());
  CHECK(resumed.current_scale() == scaler.current_scale());
  CHECK(resumed.growth_tracker() == scaler.growth_tracker());
  CHECK(resumed.skipped() == 1);
  p.mutable_grad() = torch::ones({1});
  resumed.unscale({p});
  resumed.update();
  CHECK(resumed.current_scale() == 8.0);  // 4 after the backoff, then two clean steps: grown
}

TEST_CASE("the scale trajectory and the unscaled gradients equal torch.amp.GradScaler's") {
  const std::string python = reference_python();
  if (python.empty()) {
    MESSAGE("skipped: no venv Python with torch (scripts/setup installs it)");
    return;
  }
  TempDir dir;
  const int64_t steps = 12;
  std::map<std::string, torch::Tensor> gradients;
  for (int64_t s = 1; s <= steps; ++s)
    gradients["g" + std::to_string(s)] = gradient_at(s, 5) * (s == 9 ? 1e38 : 1.0) * 3.0;
  write_npz(dir / "gradients.npz", gradients);
  const std::string script =
      "import sys, json, numpy as np, torch\n"
      "g = np.load(sys.argv[1])\n"
      "p = torch.nn.Parameter(torch.zeros(6))\n"
      "opt = torch.optim.SGD([p], lr=0.0)\n"
      "scaler = torch.amp.GradScaler('cpu', init_scale=64.0, growth_factor=2.0, backoff_factor=0.5, "
      "growth_interval=2)\n"
      "scaler.scale(torch.zeros(()))\n"  // GradScaler makes its scale on the first scale()
      "out = {'scale': [], 'grad': []}\n"
      "for s in range(1, " +
      std::to_string(steps + 1) +
      "):\n"
      "    p.grad = torch.from_numpy(g['g%d' % s]).clone()\n"
      "    scaler.unscale_(opt)\n"
      "    out['grad'].append([float(v) if torch.isfinite(v) else None for v in p.grad])\n"
      "    scaler.step(opt); scaler.update()\n"
      "    out['scale'].append(scaler.get_scale())\n"
      "print(json.dumps(out))\n";
  write_text(dir / "scaler.py", script);
  auto run = run_command(python + " " + (dir / "scaler.py").string() + " " + (dir / "gradients.npz").string());
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const auto theirs = nlohmann::json::parse(run.output.substr(run.output.rfind('{')));
  LossScaler scaler({64.0, 2.0, 0.5, 2}, torch::kCPU);
  torch::Tensor p = torch::zeros({6}, torch::requires_grad());
  for (int64_t s = 1; s <= steps; ++s) {
    CAPTURE(s);
    p.mutable_grad() = gradients["g" + std::to_string(s)].clone();
    scaler.unscale({p});
    for (int64_t k = 0; k < 6; ++k) {
      const float ours = p.grad()[k].item<float>();
      const auto& expected = theirs["grad"][s - 1][k];
      CHECK(std::isfinite(ours) == !expected.is_null());
      if (!expected.is_null()) CHECK(double(ours) == expected.get<double>());
    }
    scaler.update();
    CHECK(scaler.current_scale() == theirs["scale"][s - 1].get<double>());
  }
}

TEST_CASE("clipping after unscaling equals clipping the gradients of the unscaled loss") {
  torch::manual_seed(2);
  const torch::Tensor x = torch::randn({16, 6}), y = torch::randn({16, 2});
  torch::nn::Linear scaled_model(6, 2), plain_model(6, 2);
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < plain_model->parameters().size(); ++i)
      plain_model->parameters()[i].copy_(scaled_model->parameters()[i]);
  }
  LossScaler scaler({65536.0, 2.0, 0.5, 2000}, torch::kCPU);
  scaler.scale(torch::mse_loss(scaled_model(x), y)).backward();
  torch::mse_loss(plain_model(x), y).backward();
  REQUIRE(scaler.unscale(scaled_model->parameters()));
  const double scaled_norm = clip_grad_norm(scaled_model->parameters(), 0.05);
  const double plain_norm = clip_grad_norm(plain_model->parameters(), 0.05);
  CHECK(scaled_norm == plain_norm);
  CHECK(plain_norm > 0.05);  // the clip did act
  for (size_t i = 0; i < plain_model->parameters().size(); ++i)
    CHECK(torch::equal(scaled_model->parameters()[i].grad(), plain_model->parameters()[i].grad()));

}
