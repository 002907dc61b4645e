// A data set as FID's reference: the Inception features of its training images (the statistics
// papers compare against) and of its test images (for the floor), computed once per set and
// convention and then read from the cache (metrics/inception_features.hpp).
#pragma once

#include <torch/types.h>

#include <string>

#include "metrics/fid_settings.hpp"
#include "metrics/inception_features.hpp"
#include "metrics/sample_quality.hpp"

namespace genbox::metrics {

class FidReference {
 public:
  // train and test: uint8 [N, C, H, W]; test may be undefined (no floor then). `name` labels
  // progress lines ("CIFAR-10 train").
  FidReference(const FidSettings& settings, const torch::Device& device, const torch::Tensor& train,
               const torch::Tensor& test, const std::string& name);
  // FID against all training images, KID and precision/recall against as many of them as there
  // are generated images, and the floor at that count when the test split has as many.
  SampleQuality score(const torch::Tensor& generated) const;
  const InceptionFeatures& extractor() const { return extractor_; }
  int64_t train_count() const { return train_.features.size(0); }

 private:
  FidSettings settings_;
  InceptionFeatures extractor_;
  ReferenceFeatures train_, test_;
};

}  // namespace genbox::metrics
