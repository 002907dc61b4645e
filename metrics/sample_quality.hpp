// FID with what must stand beside it: the image counts, and KID and precision/recall against the
// same number of reference images. FID is biased upward at small counts (Binkowski et al. 2018),
// so a number is only comparable with others at the same count and against the same reference
// statistics; KID is unbiased, usable at small counts.
#pragma once

#include <torch/types.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>

#include "metrics/feature_stats.hpp"
#include "metrics/fid_settings.hpp"
#include "metrics/kernel_distance.hpp"
#include "metrics/precision_recall.hpp"

namespace genbox::metrics {

struct SampleQuality {
  int64_t generated = 0;  // images whose features were compared
  int64_t reference = 0;  // images behind the reference statistics
  double fid = 0;
  std::optional<KernelDistance> kid;  // with reference features: against as many of them as generated
  std::optional<PrecisionRecall> pr;  // the same
  std::optional<double> floor;        // FID of that many reference training against test images
  // {"fid", "fid_images", "fid_reference_images", "kid", "kid_std", "precision", "recall", "fid_floor"}
  nlohmann::json to_json() const;
};

// generated: features [N, D]. FID against `reference_stats` (of `reference_count` images); KID
// and precision/recall against the first min(N, M) rows of reference_features [M, D] when it is
// defined (a statistics file alone has none).
SampleQuality sample_quality(const torch::Tensor& generated, const FeatureStats& reference_stats,
                             int64_t reference_count, const torch::Tensor& reference_features,
                             const FidSettings& settings);

// FID between the first n rows of two feature sets, train against test: what two sets of real
// images from one distribution score, the least a generator can hope for at n images.
double fid_floor(const torch::Tensor& train_features, const torch::Tensor& test_features, int64_t n);

}  // namespace genbox::metrics
