#include "common/matmul.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "common/program.hpp"

namespace genbox {

double total_flops(const std::vector<MatmulShape>& shapes) {
  double flops = 0;
  for (const MatmulShape& s : shapes) flops += s.flops();
  return flops;
}

StepAgainstMatmuls summarize_blocks(const std::vector<MatmulBlock>& blocks, double step_flops, double pass_flops,
                                    int64_t passes_per_step) {
  StepAgainstMatmuls t;
  t.blocks = static_cast<int64_t>(blocks.size());
  t.passes_per_step = passes_per_step;
  double best_step_rate = 0, best_plain_rate = 0;
  for (const MatmulBlock& b : blocks) {
    t.step_seconds += b.step_seconds;
    best_step_rate = std::max(best_step_rate, step_flops * double(b.steps) / b.step_seconds);
    best_plain_rate = std::max(best_plain_rate, pass_flops * double(b.steps * passes_per_step) / b.plain_seconds);
  }
  t.best_step_gflops = best_step_rate / 1e9;
  t.plain_gflops = best_plain_rate / 1e9;
  t.efficiency = best_step_rate / best_plain_rate;
  return t;
}

nlohmann::json matmul_figures(const StepAgainstMatmuls& timing, double step_flops, int64_t steps) {
  return {{"model_matmul_gflops", step_flops * double(steps) / timing.step_seconds / 1e9},
          {"best_block_matmul_gflops", timing.best_step_gflops},
          {"plain_matmul_gflops", timing.plain_gflops},
          {"efficiency", timing.efficiency},
          {"efficiency_blocks", timing.blocks}};
}

StepAgainstMatmuls time_step_against_matmuls(const std::function<void()>& step, int64_t steps, double step_flops,
                                             const std::vector<MatmulShape>& shapes, c10::ScalarType dtype,
                                             const c10::Device& device, const std::function<void()>& align) {
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
  const double pass_flops = total_flops(shapes);
  const int64_t passes_per_step = std::max<int64_t>(1, std::llround(step_flops / pass_flops));
  const int64_t block_count = std::min<int64_t>(steps, 10);
  step();
  plain_pass();
  std::vector<MatmulBlock> blocks;
  for (int64_t b = 0; b < block_count; ++b) {
    MatmulBlock block;
    block.steps = steps / block_count + (b < steps % block_count ? 1 : 0);
    if (align) align();
    block.step_seconds = seconds_of(step, block.steps, device);
    block.plain_seconds = seconds_of(plain_pass, block.steps * passes_per_step, device);
    blocks.push_back(block);
  }
  return summarize_blocks(blocks, step_flops, pass_flops, passes_per_step);
}

}  // namespace genbox
