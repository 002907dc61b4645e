#include <doctest/doctest.h>

#include <torch/torch.h>

#include <cmath>

#include "common/matmul.hpp"
#include "common/program.hpp"

using namespace genbox;

TEST_CASE("a step timed against its matmuls runs every step once, plus a warm-up, in blocks") {
  const std::vector<MatmulShape> shapes = {{16, 8, 4, false, true}, {4, 16, 8, true, false}};
  CHECK(total_flops(shapes) == 2.0 * (16 * 8 * 4 + 4 * 16 * 8));
  torch::Tensor a = torch::randn({16, 8}), b = torch::randn({8, 4});
  for (int64_t steps : {1, 7, 10, 23}) {
    CAPTURE(steps);
    int64_t calls = 0;
    // Three times the shapes' FLOPs per step: three plain passes stand for one step.
    const StepAgainstMatmuls t = time_step_against_matmuls(
        [&] {
          ++calls;
          torch::mm(a, b);
        },
        steps, 3 * total_flops(shapes), shapes, torch::kFloat32, torch::kCPU);
    CHECK(calls == steps + 1);
    CHECK(t.blocks == std::min<int64_t>(steps, 10));
    CHECK(t.passes_per_step == 3);
    CHECK(t.step_seconds > 0);
    CHECK(t.plain_gflops > 0);
    CHECK(t.best_step_gflops > 0);
    CHECK(t.efficiency == doctest::Approx(t.best_step_gflops / t.plain_gflops));
  }
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
  CHECK(std::isfinite(t.efficiency));
}
