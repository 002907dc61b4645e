#include "common/likelihood.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>
#include <mutex>

namespace genbox {

namespace {

uint64_t noise_key(at::Generator& generator) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  return at::check_generator<at::CPUGeneratorImpl>(generator)->random64();
}

// Element i of the stream keyed by `key`: splitmix64 of the counter, its top 24 bits in [0, 1).
inline float noise_at(uint64_t key, int64_t i) {
  uint64_t z = key + (uint64_t(i) + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return float((z ^ (z >> 31)) >> 40) * (1.0f / 16777216.0f);
}

constexpr int64_t kGrain = 1 << 14;

}  // namespace

torch::Tensor uniform_noise(at::IntArrayRef sizes, at::Generator generator) {
  const uint64_t key = noise_key(generator);
  torch::Tensor out = torch::empty(sizes, torch::kFloat32);
  float* values = out.data_ptr<float>();
  at::parallel_for(0, out.numel(), kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) values[i] = noise_at(key, i);
  });
  return out;
}

torch::Tensor dequantize(const torch::Tensor& pixels, at::Generator generator) {
  if (!pixels.is_cpu() || pixels.scalar_type() != torch::kUInt8 || !pixels.is_contiguous())
    return uniform_noise(pixels.sizes(), generator).to(pixels.device()).add_(pixels).div_(256.0);
  // The same values in one pass, without the noise tensor and the pixels' float copy.
  const uint64_t key = noise_key(generator);
  torch::Tensor out = torch::empty(pixels.sizes(), torch::kFloat32);
  const uint8_t* in = pixels.data_ptr<uint8_t>();
  float* values = out.data_ptr<float>();
  at::parallel_for(0, out.numel(), kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) values[i] = (noise_at(key, i) + float(in[i])) / 256.0f;
  });
  return out;
}

torch::Tensor bits_per_dim(const torch::Tensor& log_prob_unit_cube, int64_t dim) {
  double d = static_cast<double>(dim);
  return (-log_prob_unit_cube + d * std::log(256.0)) / (d * std::log(2.0));
}

}  // namespace genbox
