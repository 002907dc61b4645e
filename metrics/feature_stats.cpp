#include "metrics/feature_stats.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <stdexcept>

#include "base/errors.hpp"
#include "common/npz.hpp"
#include "metrics/frechet.hpp"

namespace genbox::metrics {

void FeatureMoments::add(const torch::Tensor& features) {
  if (features.dim() != 2) throw std::invalid_argument("FeatureMoments::add takes features [B, D]");
  const torch::Tensor f = features.to(torch::kCPU, torch::kFloat64);
  if (count_ == 0) {
    sum_ = torch::zeros({f.size(1)}, torch::kFloat64);
    outer_ = torch::zeros({f.size(1), f.size(1)}, torch::kFloat64);
  } else if (f.size(1) != sum_.size(0)) {
    throw std::invalid_argument(fmt::format("FeatureMoments::add: {} features after {}", f.size(1), sum_.size(0)));
  }
  sum_ += f.sum(0);
  outer_ += f.t().matmul(f);
  count_ += f.size(0);
}

FeatureStats FeatureMoments::stats() const {
  if (count_ < 2) throw std::invalid_argument("feature statistics need at least two features");
  const torch::Tensor mu = sum_ / double(count_);
  return {mu, (outer_ - double(count_) * torch::outer(mu, mu)) / double(count_ - 1)};
}

double frechet_distance(const FeatureStats& a, const FeatureStats& b) {
  return frechet_distance_from_moments(a.mu, a.sigma, b.mu, b.sigma);
}

void write_feature_stats(const std::filesystem::path& path, const FeatureStats& stats) {
  write_npz(path, {{"mu", stats.mu.to(torch::kFloat64)}, {"sigma", stats.sigma.to(torch::kFloat64)}});
}

FeatureStats read_feature_stats(const std::filesystem::path& path) {
  const auto arrays = read_npz(path);
  for (const char* key : {"mu", "sigma"})
    if (!arrays.count(key))
      throw DataError(
          fmt::format("{}: no '{}' array; FID statistics hold mu [D] and sigma [D, D]", path.string(), key));
  const torch::Tensor mu = arrays.at("mu"), sigma = arrays.at("sigma");
  if (mu.dim() != 1 || sigma.dim() != 2 || sigma.size(0) != mu.size(0) || sigma.size(1) != mu.size(0) ||
      !mu.is_floating_point() || !sigma.is_floating_point())
    throw DataError(
        fmt::format("{}: mu is [{}] of {} and sigma [{}] of {}; FID statistics hold mu [D] and sigma "
                    "[D, D] of floats",
                    path.string(), fmt::join(mu.sizes(), ", "), c10::toString(mu.scalar_type()),
                    fmt::join(sigma.sizes(), ", "), c10::toString(sigma.scalar_type())));
  return {mu.to(torch::kFloat64), sigma.to(torch::kFloat64)};
}

}  // namespace genbox::metrics
