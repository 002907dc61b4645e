// Batches as indices into a dataset held in memory: a seeded permutation per epoch, so the
// sampler's whole state is one number (batches served) that a checkpoint can hold.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace genbox {

class BatchSampler {
 public:
  BatchSampler(int64_t dataset_size, int64_t batch_size, uint64_t seed);

  // Indices (int64, CPU) of the next batch; an epoch drops its last partial batch.
  torch::Tensor next();
  int64_t position() const { return position_; }
  void set_position(int64_t position) { position_ = position; }
  int64_t batches_per_epoch() const { return batches_per_epoch_; }

 private:
  torch::Tensor permutation(int64_t epoch);
  int64_t dataset_size_, batch_size_, batches_per_epoch_;
  uint64_t seed_;
  int64_t position_ = 0;
  int64_t cached_epoch_ = -1;
  torch::Tensor cached_permutation_;
};

}  // namespace genbox
