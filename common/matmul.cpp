#include "common/matmul.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "common/program.hpp"

namespace genbox {

double total_flops(const std::vector<MatmulShape>& shapes) {
  double flops = 0;
  for (const MatmulShape& s : shapes) flops += s.flops();
  return flops;
}

namespace {

double seconds_of(const std::function<void()>& work, int64_t repeats, const c10::Device& device) {
  wait_for_device(device);
  auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < repeats; ++i) work();
  wait_for_device(device);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

StepAgainstMatmuls time_step_against_matmuls(const std::function<void()>& step, int64_t steps, double step_flops,
                                             const std::vector<MatmulShape>& shapes, c10::ScalarType dtype,
                                             const c10::Device& device) {
  TORCH_CHECK(steps >= 1 && step_flops > 0 && !shapes.empty(), "time_step_against_matmuls: nothing to time");
  auto options = torch::TensorOptions().device(device).dtype(dtype);
  std::vector<std::pair<torch::Tensor, torch::Tensor>> operands;
  for (const MatmulShape& s : shapes) {
    torch::Tensor a = s.transpose_a ? torch::randn({s.k, s.m}, options).t() : torch::randn({s.m, s.k}, options);
    torch::Tensor b = s.transpose_b ? torch::randn({s.n, s.k}, options).t() : torch::randn({s.k, s.n}, options);
    operands.emplace_back(a, b);
  }
  auto plain_pass = [&] {
    for (const auto& [a, b] : operands) torch::mm(a, b);
  };
  StepAgainstMatmuls t;
  const double pass_flops = total_flops(shapes);
  t.passes_per_step = std::max<int64_t>(1, std::llround(step_flops / pass_flops));
  t.blocks = std::min<int64_t>(steps, 10);
  step();
  plain_pass();
  double best_step_rate = 0, best_plain_rate = 0;
  for (int64_t b = 0; b < t.blocks; ++b) {
    const int64_t block_steps = steps / t.blocks + (b < steps % t.blocks ? 1 : 0);
    const double step_s = seconds_of(step, block_steps, device);
    const double plain_s = seconds_of(plain_pass, block_steps * t.passes_per_step, device);
    t.step_seconds += step_s;
    best_step_rate = std::max(best_step_rate, step_flops * double(block_steps) / step_s);
    best_plain_rate = std::max(best_plain_rate, pass_flops * double(block_steps * t.passes_per_step) / plain_s);
  }
  t.best_step_gflops = best_step_rate / 1e9;
  t.plain_gflops = best_plain_rate / 1e9;
  t.efficiency = best_step_rate / best_plain_rate;
  return t;
}

}  // namespace genbox
