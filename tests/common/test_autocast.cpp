// The autocast guard and the fp32 island (common/device.hpp) on the CPU, against the properties
// PyTorch's own autocast tests assert: the listed ops come out in the chosen dtype and equal the
// op on inputs cast by hand; the state is restored on leaving; a weight update between two
// guarded forwards is seen.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <cstdlib>

#include "common/device.hpp"

using namespace genbox;

namespace {
const c10::Device kCpu(c10::kCPU);

torch::nn::Linear random_linear() {
  torch::manual_seed(3);
  return torch::nn::Linear(16, 8);
}
}  // namespace

TEST_CASE("under bf16 and fp16 a linear layer computes on inputs and weights cast by hand; losses stay fp32") {
  torch::nn::Linear linear = random_linear();
  const torch::Tensor x = torch::randn({5, 16});
  for (const auto& [precision, dtype] :
       std::vector<std::pair<std::string, c10::ScalarType>>{{"bf16", torch::kBFloat16}, {"fp16", torch::kHalf}}) {
    CAPTURE(precision);
    torch::Tensor by_hand =
        torch::nn::functional::linear(x.to(dtype), linear->weight.to(dtype), linear->bias.to(dtype));
    {
      AutocastGuard autocast(precision, kCpu);
      torch::Tensor y = linear(x);
      CHECK((y.scalar_type() == dtype));
      CHECK(torch::equal(y, by_hand));
      CHECK((torch::mse_loss(y, torch::zeros_like(y)).scalar_type() == torch::kFloat));
      {
        Fp32Island fp32(kCpu);
        CHECK((linear(x).scalar_type() == torch::kFloat));
        CHECK((linear(x.to(dtype).to(torch::kFloat)).scalar_type() == torch::kFloat));
      }
      {
        AutocastGuard nested(precision, kCpu);
        CHECK((linear(x).scalar_type() == dtype));
      }
      CHECK(autocast_state(c10::kCPU).enabled);  // the island and the nested guard gave it back
      CHECK((linear(x).scalar_type() == dtype));
    }
    CHECK_FALSE(autocast_state(c10::kCPU).enabled);
    CHECK((linear(x).scalar_type() == torch::kFloat));
  }
  AutocastGuard fp32("fp32", kCpu);
  CHECK((linear(x).scalar_type() == torch::kFloat));
}

TEST_CASE("a forward after an optimizer-like update sees the new weights, not the cast of the old ones") {
  torch::nn::Linear linear = random_linear();
  const torch::Tensor x = torch::randn({5, 16});
  torch::Tensor before;
  {
    AutocastGuard autocast("bf16", kCpu);
    before = linear(x);
  }
  {
    torch::NoGradGuard no_grad;
    linear->weight.mul_(2);
    linear->bias.mul_(2);
  }
  AutocastGuard autocast("bf16", kCpu);
  CHECK(torch::equal(linear(x), before * 2));  // doubling is exact in bf16
}

TEST_CASE("the test hook GENBOX_AUTOCAST=off makes the guard a no-op") {
  torch::nn::Linear linear = random_linear();
  ::setenv("GENBOX_AUTOCAST", "off", 1);
  {
    AutocastGuard autocast("bf16", kCpu);
    CHECK((linear(torch::randn({2, 16})).scalar_type() == torch::kFloat));
  }
  ::unsetenv("GENBOX_AUTOCAST");
  AutocastGuard autocast("bf16", kCpu);
  CHECK((linear(torch::randn({2, 16})).scalar_type() == torch::kBFloat16));
}
