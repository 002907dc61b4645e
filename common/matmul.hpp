// The machine's plain matmul speed at a model's own shapes: what `<exp> bench` compares a
// training step's matmul rate with, so that "the step reaches X% of its matmuls alone" is
// measured on the same machine, threads and precision in the same run.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

namespace genbox {

// C [m, n] = A [m, k] x B [k, n], with A stored as [k, m] (transpose_a) or B as [n, k]
// (transpose_b) the way autograd meets them (x W^T forward, g^T x for a weight's gradient).
struct MatmulShape {
  int64_t m = 0, k = 0, n = 0;
  bool transpose_a = false, transpose_b = false;
  double flops() const { return 2.0 * double(m) * double(k) * double(n); }
};

double total_flops(const std::vector<MatmulShape>& shapes);

struct StepAgainstMatmuls {
  double step_seconds = 0;      // all timed steps together
  double best_step_gflops = 0;  // the step's matmul FLOPs per second in its fastest block
  double plain_gflops = 0;      // the shapes multiplied alone, in the fastest plain block
  double efficiency = 0;        // best_step_gflops / plain_gflops
  int64_t blocks = 0;
  int64_t passes_per_step = 0;  // plain passes over the shapes per step: about the step's FLOPs
};

// Times `steps` calls of a training step that multiplies `step_flops` worth of matmuls, in up to
// 10 blocks, each followed by a block of the shapes multiplied back to back with nothing else
// (operands made once) to the same FLOPs; one untimed call of each warms up. On a shared machine
// another tenant's load slows blocks at random by more than a step's non-matmul share (here
// blocks of the same work differ by 30%), and only ever slows them: each side's fastest block
// is the nearest to the machine undisturbed (timeit's reasoning), and alternating gives both
// sides the same chances. The throughput is still every step over their total time.
// `align` runs before each block of steps, untimed: under torchrun a barrier, so that no rank's
// first all-reduce waits for a rank still in its plain block.
StepAgainstMatmuls time_step_against_matmuls(const std::function<void()>& step, int64_t steps, double step_flops,
                                             const std::vector<MatmulShape>& shapes, c10::ScalarType dtype,
                                             const c10::Device& device, const std::function<void()>& align = {});

// A bench line's figures of those timings: model_matmul_gflops (the step's matmul FLOPs over all
// timed steps' time), best_block_matmul_gflops, plain_matmul_gflops, efficiency, efficiency_blocks.
nlohmann::json matmul_figures(const StepAgainstMatmuls& timing, double step_flops, int64_t steps);

// One timed block: its steps, their seconds, and the seconds of the plain passes after them.
struct MatmulBlock {
  int64_t steps = 0;
  double step_seconds = 0, plain_seconds = 0;
};

// The figures from timed blocks whose plain side made passes_per_step passes of pass_flops
// per step (what time_step_against_matmuls reports).
StepAgainstMatmuls summarize_blocks(const std::vector<MatmulBlock>& blocks, double step_flops, double pass_flops,
                                    int64_t passes_per_step);

}  // namespace genbox
