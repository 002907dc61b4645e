#include <doctest/doctest.h>

#include <torch/torch.h>

#include "common/matmul.hpp"

using namespace genbox;

TEST_CASE("a step timed against its matmuls runs every step once, plus a warm-up, in aligned blocks") {
  const std::vector<MatmulShape> shapes = {{16, 8, 4, false, true}, {4, 16, 8, true, false}};
  CHECK(total_flops(shapes) == 2.0 * (16 * 8 * 4 + 4 * 16 * 8));
  torch::Tensor a = torch::randn({16, 8}), b = torch::randn({8, 4});
  for (int64_t steps : {1, 7, 10, 23}) {
    CAPTURE(steps);
    int64_t calls = 0, aligned = 0;
    std::vector<int64_t> calls_at_align;
    // Three times the shapes' FLOPs per step: three plain passes stand for one step.
    const StepAgainstMatmuls t = time_step_against_matmuls(
        [&] {
          ++calls;
          torch::mm(a, b);
        },
        steps, 3 * total_flops(shapes), shapes, torch::kFloat32, torch::kCPU,
        [&] {
          ++aligned;
          calls_at_align.push_back(calls);
        });
    CHECK(calls == steps + 1);
    CHECK(t.blocks == std::min<int64_t>(steps, 10));
    CHECK(aligned == t.blocks);
    // Blocks differ by at most one step and together make every step.
    for (size_t i = 1; i < calls_at_align.size(); ++i) {
      const int64_t block = calls_at_align[i] - calls_at_align[i - 1];
      CHECK((block == steps / t.blocks || block == steps / t.blocks + 1));
    }
    CHECK(t.passes_per_step == 3);
    CHECK(t.step_seconds > 0);
    CHECK(t.efficiency > 0);
  }
}

TEST_CASE("block figures: the fastest step block over the fastest plain block, throughput over all") {
  // 10 GFLOP per step, plain passes of 5 GFLOP, two per step. Step blocks run at 20, 25 and 10
  // GFLOP/s; plain blocks at 40, 25 and 50 GFLOP/s: efficiency 25 / 50 from different blocks.
  const std::vector<MatmulBlock> blocks = {{4, 2.0, 1.0}, {5, 2.0, 2.0}, {3, 3.0, 0.6}};
  const StepAgainstMatmuls t = summarize_blocks(blocks, 10e9, 5e9, 2);
  CHECK(t.blocks == 3);
  CHECK(t.passes_per_step == 2);
  CHECK(t.step_seconds == doctest::Approx(7.0));
  CHECK(t.best_step_gflops == doctest::Approx(25.0));
  CHECK(t.plain_gflops == doctest::Approx(50.0));
  CHECK(t.efficiency == doctest::Approx(0.5));
}

TEST_CASE("a step of fewer FLOPs than one pass over the shapes still gets one plain pass") {
  const std::vector<MatmulShape> shapes = {{64, 64, 64}};
  torch::Tensor a = torch::randn({2, 2});
  int64_t calls = 0;
  const StepAgainstMatmuls t = time_step_against_matmuls(
      [&] {
        ++calls;
        torch::mm(a, a);
      },
      4, 16.0, shapes, torch::kFloat32, torch::kCPU);
  CHECK(calls == 5);
  CHECK(t.passes_per_step == 1);
  CHECK(t.blocks == 4);
}
