// FID's features of uint8 images: the FID Inception (metrics/inception.hpp) fed by one input
// convention (metrics/inception_input.hpp), batch by batch; and the features of a reference set
// kept on disk, keyed by the images' content, so that a data set is embedded once.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "metrics/feature_stats.hpp"
#include "metrics/inception.hpp"
#include "metrics/inception_input.hpp"

namespace genbox::metrics {

struct InceptionOptions {
  std::string weights;       // the weights file; "" where pytorch-fid keeps it (default_inception_weights)
  std::string input = "tf";  // tf | pytorch | clean
  int64_t batch_size = 50;   // images per forward pass
};

class InceptionFeatures {
 public:
  // Loads the weights (a UsageError when the file is missing, a DataError when it is not FID's).
  InceptionFeatures(const InceptionOptions& options, const torch::Device& device);
  // pool3 of uint8 images [N, C, H, W] (C 1 or 3, any size): float32 [N, 2048] on the CPU. With a
  // `what`, a progress line counts the images.
  torch::Tensor operator()(const torch::Tensor& images, const std::string& what = "") const;
  InceptionInput input() const { return input_; }
  const std::filesystem::path& weights() const { return weights_; }
  // The convention and the weights file's CRC-64: features with the same identity are the same.
  const std::string& identity() const { return identity_; }

 private:
  std::filesystem::path weights_;
  InceptionInput input_;
  int64_t batch_size_;
  torch::Device device_;
  mutable FidInception network_{nullptr};
  std::string identity_;
};

struct ReferenceFeatures {
  torch::Tensor features;  // float32 [N, 2048]
  FeatureStats stats;      // of all N
  std::filesystem::path file;
  bool from_cache = false;
};

// The features and statistics of `images` (uint8 [N, C, H, W]), from
// <cache_dir>/<content CRC-64>-<N>x<C>x<H>x<W>-<identity>.npz when it is there ({"features", "mu",
// "sigma"}: pytorch-fid and EDM read it as statistics), else computed and written there
// atomically. An unreadable cache file is computed again.
ReferenceFeatures reference_features(const InceptionFeatures& extractor, const torch::Tensor& images,
                                     const std::filesystem::path& cache_dir, const std::string& what);

// $XDG_CACHE_HOME/genbox/fid, or ~/.cache/genbox/fid.
std::filesystem::path default_fid_cache_dir();

// The statistics of features [N, D] (float64 moments).
FeatureStats stats_of(const torch::Tensor& features);

}  // namespace genbox::metrics
