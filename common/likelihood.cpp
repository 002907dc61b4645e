#include "common/likelihood.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <mutex>
#include <cmath>

namespace genbox {

torch::Tensor uniform_noise(at::IntArrayRef sizes, at::Generator generator) {
  uint64_t key = 0;
  {
    std::lock_guard<std::mutex> lock(generator.mutex());
    key = at::check_generator<at::CPUGeneratorImpl>(generator)->random64();
  }
  torch::Tensor out = torch::empty(sizes, torch::kFloat32);
  float* values = out.data_ptr<float>();
  at::parallel_for(0, out.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      uint64_t z = key + (uint64_t(i) + 1) * 0x9E3779B97F4A7C15ull;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      values[i] = float((z ^ (z >> 31)) >> 40) * (1.0f / 16777216.0f);
    }
  });
  return out;
}

torch::Tensor dequantize(const torch::Tensor& pixels, at::Generator generator) {
  return uniform_noise(pixels.sizes(), generator).to(pixels.device()).add_(pixels).div_(256.0);
}

torch::Tensor bits_per_dim(const torch::Tensor& log_prob_unit_cube, int64_t dim) {
  double d = static_cast<double>(dim);
  return (-log_prob_unit_cube + d * std::log(256.0)) / (d * std::log(2.0));
}

}  // namespace genbox
