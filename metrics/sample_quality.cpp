#include "metrics/sample_quality.hpp"

#include <algorithm>

#include "metrics/inception_features.hpp"

namespace genbox::metrics {

nlohmann::json SampleQuality::to_json() const {
  nlohmann::json j = {{"fid", fid}, {"fid_images", generated}, {"fid_reference_images", reference}};
  if (kid) {
    j["kid"] = kid->mean;
    j["kid_std"] = kid->stddev;
  }
  if (pr) {
    j["precision"] = pr->precision;
    j["recall"] = pr->recall;
  }
  if (floor) j["fid_floor"] = *floor;
  return j;
}

SampleQuality sample_quality(const torch::Tensor& generated, const FeatureStats& reference_stats,
                             int64_t reference_count, const torch::Tensor& reference_features,
                             const FidSettings& settings) {
  SampleQuality quality;
  quality.generated = generated.size(0);
  quality.reference = reference_count;
  quality.fid = frechet_distance(stats_of(generated), reference_stats);
  if (reference_features.defined()) {
    const int64_t n = std::min(generated.size(0), reference_features.size(0));
    const torch::Tensor real = reference_features.narrow(0, 0, n);
    quality.kid = kernel_distance(generated, real, settings.kid_subsets, settings.kid_subset_size);
    if (n > settings.neighbours && generated.size(0) > settings.neighbours)
      quality.pr = precision_recall(generated, real, settings.neighbours);
  }
  return quality;
}

double fid_floor(const torch::Tensor& train_features, const torch::Tensor& test_features, int64_t n) {
  return frechet_distance(stats_of(train_features.narrow(0, 0, n)), stats_of(test_features.narrow(0, 0, n)));
}

}  // namespace genbox::metrics
