// The [fid] config section: how FID, KID and precision/recall are measured, shared by the `fid`
// program and the experiments that score their samples (rf_dit's eval).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "base/config.hpp"
#include "metrics/inception_features.hpp"

namespace genbox::metrics {

struct FidSettings {
  std::string weights;             // "" where pytorch-fid keeps its download
  std::string input = "tf";        // tf | pytorch | clean (metrics/inception_input.hpp)
  int64_t batch_size = 50;         // images per Inception forward pass
  int64_t kid_subsets = 100;       // KID: subsets averaged
  int64_t kid_subset_size = 1000;  // KID: images per subset (fewer when a set is smaller)
  int64_t neighbours = 3;          // precision/recall: the k of the k-NN balls
  std::string cache_dir;           // reference features; "" the per-user cache, "none" none
  InceptionOptions inception() const { return {weights, input, batch_size}; }
  // Where reference features are kept; empty for "none".
  std::filesystem::path cache() const;
};

void describe(Schema& schema, FidSettings& fid);

}  // namespace genbox::metrics
