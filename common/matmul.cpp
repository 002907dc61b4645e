#include "common/matmul.hpp"

#include <torch/torch.h>

#include "common/program.hpp"

namespace genbox {

double total_flops(const std::vector<MatmulShape>& shapes) {
  double flops = 0;
  for (const MatmulShape& s : shapes) flops += s.flops();
  return flops;
}

double matmul_gflops(const std::vector<MatmulShape>& shapes, c10::ScalarType dtype, const c10::Device& device) {
  auto options = torch::TensorOptions().device(device).dtype(dtype);
  std::vector<std::pair<torch::Tensor, torch::Tensor>> operands;
  for (const MatmulShape& s : shapes) {
    torch::Tensor a = s.transpose_a ? torch::randn({s.k, s.m}, options).t() : torch::randn({s.m, s.k}, options);
    torch::Tensor b = s.transpose_b ? torch::randn({s.n, s.k}, options).t() : torch::randn({s.k, s.n}, options);
    operands.emplace_back(a, b);
  }
  const int64_t repeats = 20;
  double seconds = timed_seconds(
      [&] {
        for (const auto& [a, b] : operands) torch::mm(a, b);
      },
      repeats, device);
  return total_flops(shapes) * double(repeats) / seconds / 1e9;
}

double matmul_gflops(int64_t m, int64_t k, int64_t n, c10::ScalarType dtype, const c10::Device& device) {
  return matmul_gflops(std::vector<MatmulShape>{{m, k, n}}, dtype, device);
}

}  // namespace genbox
