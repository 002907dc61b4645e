#include "metrics/fid_reference.hpp"

#include <fmt/format.h>

namespace genbox::metrics {

namespace {

ReferenceFeatures features_of(const InceptionFeatures& extractor, const torch::Tensor& images,
                              const FidSettings& settings, const std::string& what) {
  const std::filesystem::path cache = settings.cache();
  if (!cache.empty()) return reference_features(extractor, images, cache, what);
  ReferenceFeatures computed;
  computed.features = extractor(images.to(torch::kCPU), what);
  computed.stats = stats_of(computed.features);
  return computed;
}

}  // namespace

FidReference::FidReference(const FidSettings& settings, const torch::Device& device, const torch::Tensor& train,
                           const torch::Tensor& test, const std::string& name)
    : settings_(settings), extractor_(settings.inception(), device) {
  train_ = features_of(extractor_, train, settings, fmt::format("Inception features of {} train", name));
  if (test.defined() && test.size(0) >= 2)
    test_ = features_of(extractor_, test, settings, fmt::format("Inception features of {} test", name));
}

SampleQuality FidReference::score(const torch::Tensor& generated) const {
  const torch::Tensor features = extractor_(generated, generated.size(0) > 1000 ? "Inception features" : "");
  SampleQuality quality = sample_quality(features, train_.stats, train_.features.size(0), train_.features, settings_);
  const int64_t n = features.size(0);
  if (test_.features.defined() && test_.features.size(0) >= n && train_.features.size(0) >= n)
    quality.floor = fid_floor(train_.features, test_.features, n);
  return quality;
}

}  // namespace genbox::metrics
