// The statistics FID compares: the mean and covariance of a set's features, accumulated batch by
// batch in float64 as EDM's fid.py accumulates them (sums of f and of f f^T), and kept in the
// .npz files pytorch-fid and EDM read and write ({"mu": [D], "sigma": [D, D]}, float64).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <filesystem>

namespace genbox::metrics {

struct FeatureStats {
  torch::Tensor mu;     // float64 [D]
  torch::Tensor sigma;  // float64 [D, D], the unbiased covariance
};

// Features added batch by batch ([B, D] each, any float type and device); stats() is
// mu = sum f / n and sigma = (sum f f^T - n mu mu^T) / (n - 1), in float64 on the CPU.
class FeatureMoments {
 public:
  void add(const torch::Tensor& features);
  int64_t count() const { return count_; }
  FeatureStats stats() const;

 private:
  torch::Tensor sum_, outer_;  // float64 [D] and [D, D]
  int64_t count_ = 0;
};

// The Frechet distance between two sets' statistics (metrics/frechet.hpp's formula).
double frechet_distance(const FeatureStats& a, const FeatureStats& b);

// Writes {"mu", "sigma"} as an .npz, atomically.
void write_feature_stats(const std::filesystem::path& path, const FeatureStats& stats);
// Reads "mu" and "sigma" from an .npz of pytorch-fid's or EDM's (other arrays are ignored); a
// DataError naming the file when either is missing or their shapes are not [D] and [D, D].
FeatureStats read_feature_stats(const std::filesystem::path& path);

}  // namespace genbox::metrics
