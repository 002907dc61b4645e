#include "metrics/frechet.hpp"

#include <torch/torch.h>
#include <stdexcept>

namespace genbox::metrics {

namespace {
torch::Tensor as_double(const torch::Tensor& t) { return t.to(torch::kCPU, torch::kFloat64); }

torch::Tensor covariance(const torch::Tensor& features) {
  torch::Tensor centred = features - features.mean(0, /*keepdim=*/true);
  return centred.t().matmul(centred) / static_cast<double>(features.size(0) - 1);
}
}  // namespace

torch::Tensor sqrtm_psd(const torch::Tensor& a) {
  auto [eigenvalues, eigenvectors] = torch::linalg_eigh((a + a.t()) / 2);
  return (eigenvectors * eigenvalues.clamp_min(0).sqrt().unsqueeze(0)).matmul(eigenvectors.t());
}

double frechet_distance_from_moments(const torch::Tensor& mu_a, const torch::Tensor& cov_a, const torch::Tensor& mu_b,
                                     const torch::Tensor& cov_b) {
  torch::Tensor sa = as_double(cov_a), sb = as_double(cov_b);
  torch::Tensor root_a = sqrtm_psd(sa);
  torch::Tensor middle = root_a.matmul(sb).matmul(root_a);
  double trace_root = torch::linalg_eigvalsh((middle + middle.t()) / 2).clamp_min(0).sqrt().sum().item<double>();
  double mean_term = (as_double(mu_a) - as_double(mu_b)).square().sum().item<double>();
  return mean_term + sa.trace().item<double>() + sb.trace().item<double>() - 2 * trace_root;
}

double frechet_distance(const torch::Tensor& features_a, const torch::Tensor& features_b) {
  if (features_a.dim() != 2 || features_b.dim() != 2 || features_a.size(1) != features_b.size(1))
    throw std::invalid_argument("Frechet distance needs two [N, D] feature sets of the same width");
  if (features_a.size(0) < 2 || features_b.size(0) < 2)
    throw std::invalid_argument("Frechet distance needs at least two samples in each set");
  torch::Tensor a = as_double(features_a), b = as_double(features_b);
  return frechet_distance_from_moments(a.mean(0), covariance(a), b.mean(0), covariance(b));
}

}  // namespace genbox::metrics
