// The autocast guard and the fp32 island (common/device.hpp) on the CPU, against the properties
// PyTorch's own autocast tests assert: the listed ops come out in the chosen dtype and equal the
// op on inputs cast by hand; the state is restored on leaving; a weight update between two
// guarded forwards is seen.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "common/cpu_bf16.hpp"
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
    // On a CPU without native bf16, bf16 takes the fp32 kernels on bf16-rounded operands (common/cpu_bf16.hpp).
    const bool through_fp32 = dtype == torch::kBFloat16 && cpu_bf16_through_fp32();
    auto cast = [&](const torch::Tensor& t) { return through_fp32 ? t.to(dtype).to(torch::kFloat) : t.to(dtype); };
    torch::Tensor by_hand = torch::nn::functional::linear(cast(x), cast(linear->weight), cast(linear->bias)).to(dtype);
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

TEST_CASE("the run log warns of slow precisions: fp16 on any CPU, bf16 on a CPU without native bf16") {
  std::ifstream file("/proc/cpuinfo");
  const std::string cpuinfo((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const bool native =
      cpuinfo.find(" avx512_bf16") != std::string::npos || cpuinfo.find(" amx_bf16") != std::string::npos;
  CHECK(cpu_has_native_bf16() == native);
  CHECK(precision_speed_note("fp32", kCpu).empty());
  CHECK(precision_speed_note("bf16", kCpu).empty() == native);
  CHECK(precision_speed_note("fp16", kCpu).find("fp16 on the CPU") == 0);
  CHECK(precision_speed_note("fp16", c10::Device(c10::kCUDA, 0)).empty());
}

TEST_CASE(
    "bf16 through fp32 kernels equals them on bf16-rounded operands and ATen's bf16 kernels to bf16's precision") {
  torch::manual_seed(9);
  const torch::Tensor x = torch::randn({2, 3, 8, 8}, torch::requires_grad());
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 4, 3).padding(1));
  const torch::Tensor q = torch::randn({2, 2, 16, 8}), k = torch::randn({2, 2, 16, 8}), v = torch::randn({2, 2, 16, 8});
  auto round = [](const torch::Tensor& t) { return t.to(torch::kBFloat16).to(torch::kFloat); };
  auto run = [&](const char* route) {
    ::setenv("GENBOX_CPU_BF16", route, 1);
    AutocastGuard autocast("bf16", kCpu);
    std::vector<torch::Tensor> out = {conv(x), at::scaled_dot_product_attention(q, k, v),
                                      torch::matmul(q, k.transpose(2, 3))};
    ::unsetenv("GENBOX_CPU_BF16");
    return out;
  };
  const std::vector<torch::Tensor> fp32_route = run("fp32"), native = run("native");
  const std::vector<torch::Tensor> by_hand = {
      torch::nn::functional::conv2d(round(x), round(conv->weight),
                                    torch::nn::functional::Conv2dFuncOptions().bias(round(conv->bias)).padding(1)),
      at::scaled_dot_product_attention(round(q), round(k), round(v)),
      torch::matmul(round(q), round(k).transpose(2, 3))};
  for (size_t i = 0; i < by_hand.size(); ++i) {
    CAPTURE(i);
    CHECK((fp32_route[i].scalar_type() == torch::kBFloat16));
    CHECK(torch::equal(fp32_route[i], by_hand[i].to(torch::kBFloat16)));
    CHECK((native[i].scalar_type() == torch::kBFloat16));
    CHECK(torch::allclose(fp32_route[i].to(torch::kFloat), native[i].to(torch::kFloat), 2e-2, 2e-2));
  }
  // Gradients reach the fp32 weights and inputs through the fp32 route.
  fp32_route[0].to(torch::kFloat).square().sum().backward();
  CHECK((conv->weight.grad().scalar_type() == torch::kFloat));
  CHECK((x.grad().scalar_type() == torch::kFloat));
  CHECK(x.grad().abs().sum().item<double>() > 0);
}
