#include "metrics/precision_recall.hpp"

#include <ATen/ops/cdist.h>
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace genbox::metrics {

namespace {

int64_t rows_per_block(int64_t columns, int64_t block_elements) {
  return std::max<int64_t>(1, block_elements / std::max<int64_t>(1, columns));
}

// Each point's distance to its k-th nearest other point of the same set (the (k+1)-th smallest,
// the point itself being the first).
torch::Tensor neighbourhood_radii(const torch::Tensor& set, int64_t k, int64_t block_elements) {
  std::vector<torch::Tensor> radii;
  const int64_t rows = rows_per_block(set.size(0), block_elements);
  for (int64_t first = 0; first < set.size(0); first += rows) {
    const torch::Tensor block = set.narrow(0, first, std::min(rows, set.size(0) - first));
    radii.push_back(std::get<0>(at::cdist(block, set).kthvalue(k + 1, 1)));
  }
  return torch::cat(radii);
}

// The share of `points` within some ball of `centres` (radius per centre).
double share_inside(const torch::Tensor& points, const torch::Tensor& centres, const torch::Tensor& radii,
                    int64_t block_elements) {
  int64_t inside = 0;
  const int64_t rows = rows_per_block(centres.size(0), block_elements);
  const torch::Tensor radius_row = radii.unsqueeze(0);
  for (int64_t first = 0; first < points.size(0); first += rows) {
    const torch::Tensor block = points.narrow(0, first, std::min(rows, points.size(0) - first));
    inside += (at::cdist(block, centres) <= radius_row).any(1).sum().item<int64_t>();
  }
  return double(inside) / double(points.size(0));
}

}  // namespace

PrecisionRecall precision_recall(const torch::Tensor& generated, const torch::Tensor& real, int64_t k,
                                 int64_t block_elements) {
  if (generated.dim() != 2 || real.dim() != 2 || generated.size(1) != real.size(1))
    throw std::invalid_argument("precision_recall takes features [N, D] and [M, D]");
  if (generated.size(0) <= k || real.size(0) <= k)
    throw std::invalid_argument(
        fmt::format("precision and recall with k = {} need more than {} features in each set", k, k));
  torch::NoGradGuard no_grad;
  const torch::Tensor g = generated.to(torch::kCPU, torch::kFloat).contiguous();
  const torch::Tensor r = real.to(torch::kCPU, torch::kFloat).contiguous();
  PrecisionRecall result;
  result.k = k;
  result.precision = share_inside(g, r, neighbourhood_radii(r, k, block_elements), block_elements);
  result.recall = share_inside(r, g, neighbourhood_radii(g, k, block_elements), block_elements);
  return result;
}

}  // namespace genbox::metrics
