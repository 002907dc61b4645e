#include "detection/matcher_bench.hpp"

#include <torch/torch.h>

#include "common/program.hpp"

namespace genbox::detection {

nlohmann::json matcher_bench(const HungarianMatcher& matcher, int64_t classes, uint64_t seed, c10::Device device) {
  MatchingProblem problem = random_matching_problem(64, 100, classes, seed);
  auto match_ms = [&](const MatchingProblem& p, torch::Device on) {
    return timed_seconds([&] { matcher(p.logits, p.boxes, p.targets); }, 20, on) / 20 * 1000;
  };
  const double match_device_ms = match_ms(problem.to(device), device);
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  const double match_cpu_ms = match_ms(problem, torch::kCPU);
  // The host work the batching removed: the cost pass of the device path (padded targets) for the
  // whole batch, against the same pass image by image as the matcher used to run it.
  auto costs_batched = [&] { matcher.padded_cost(problem.logits, problem.boxes, problem.targets); };
  auto costs_per_image = [&] {
    for (int64_t b = 0; b < problem.logits.size(0); ++b)
      matcher.padded_cost(problem.logits.narrow(0, b, 1), problem.boxes.narrow(0, b, 1), {problem.targets[b]});
  };
  const nlohmann::json cost_pass = {{"ops_batched", dispatched_ops(costs_batched)},
                                    {"ops_per_image", dispatched_ops(costs_per_image)},
                                    {"ms_batched", timed_seconds(costs_batched, 20, torch::kCPU) / 20 * 1000},
                                    {"ms_per_image", timed_seconds(costs_per_image, 20, torch::kCPU) / 20 * 1000}};
  torch::set_num_threads(threads);
  return {{"matcher_ms_64x100", match_device_ms},
          {"matcher_ms_64x100_cpu_1_thread", match_cpu_ms},
          {"matcher_targets", problem.target_count},
          {"matcher_cost_pass_cpu_1_thread", cost_pass}};
}

}  // namespace genbox::detection
