#include "metrics/kernel_distance.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace genbox::metrics {

double kernel_distance_of(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor x = a.to(torch::kCPU, torch::kFloat64), y = b.to(torch::kCPU, torch::kFloat64);
  const double m = double(x.size(0)), d = double(x.size(1));
  auto kernel = [&](const torch::Tensor& p, const torch::Tensor& q) { return (p.matmul(q.t()) / d + 1).pow(3); };
  const torch::Tensor kxx = kernel(x, x), kyy = kernel(y, y);
  const double within = (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()).item<double>();
  return within / (m * (m - 1)) - 2 * kernel(x, y).mean().item<double>();
}

KernelDistance kernel_distance(const torch::Tensor& features_a, const torch::Tensor& features_b, int64_t subsets,
                               int64_t subset_size, uint64_t seed) {
  if (features_a.dim() != 2 || features_b.dim() != 2 || features_a.size(1) != features_b.size(1))
    throw std::invalid_argument("kernel distance needs two [N, D] feature sets of the same width");
  const int64_t m = std::min({subset_size, features_a.size(0), features_b.size(0)});
  if (m < 2 || subsets < 1) throw std::invalid_argument("kernel distance needs subsets of at least two features");
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<double> estimates;
  for (int64_t s = 0; s < subsets; ++s) {
    const torch::Tensor rows_a = at::randperm(features_a.size(0), generator).narrow(0, 0, m);
    const torch::Tensor rows_b = at::randperm(features_b.size(0), generator).narrow(0, 0, m);
    estimates.push_back(kernel_distance_of(features_a.index_select(0, rows_a.to(features_a.device())),
                                           features_b.index_select(0, rows_b.to(features_b.device()))));
  }
  double mean = 0, spread = 0;
  for (double e : estimates) mean += e / double(subsets);
  for (double e : estimates) spread += (e - mean) * (e - mean) / double(subsets);
  return {mean, std::sqrt(spread), subsets, m};
}

}  // namespace genbox::metrics
