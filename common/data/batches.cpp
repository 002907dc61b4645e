#include "common/data/batches.hpp"

#include <torch/torch.h>
#include <stdexcept>

namespace genbox {

BatchSampler::BatchSampler(int64_t dataset_size, int64_t batch_size, uint64_t seed)
    : dataset_size_(dataset_size), batch_size_(std::min(batch_size, dataset_size)), seed_(seed) {
  if (dataset_size < 1 || batch_size < 1)
    throw std::invalid_argument("BatchSampler needs a non-empty dataset and batch");
  batches_per_epoch_ = dataset_size_ / batch_size_;
}

torch::Tensor BatchSampler::permutation(int64_t epoch) {
  if (epoch != cached_epoch_) {
    // Each epoch's order depends only on (seed, epoch), never on what ran before.
    at::Generator generator =
        at::make_generator<at::CPUGeneratorImpl>(seed_ * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1);
    cached_permutation_ = at::randperm(dataset_size_, generator, torch::kLong);
    cached_epoch_ = epoch;
  }
  return cached_permutation_;
}

torch::Tensor BatchSampler::next() {
  int64_t epoch = position_ / batches_per_epoch_;
  int64_t offset = (position_ % batches_per_epoch_) * batch_size_;
  ++position_;
  return permutation(epoch).narrow(0, offset, batch_size_);
}

}  // namespace genbox
