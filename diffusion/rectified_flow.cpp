#include "diffusion/rectified_flow.hpp"

#include <torch/torch.h>
#include <cmath>
#include <stdexcept>

namespace genbox::diffusion {

namespace {
torch::TensorOptions generator_options(const at::Generator& gen) {
  return torch::TensorOptions().dtype(torch::kFloat).device(gen.defined() ? gen.device() : torch::Device(torch::kCPU));
}

// t [B] -> [B, 1, ..., 1] with as many dimensions as like.
torch::Tensor broadcastable(const torch::Tensor& t, const torch::Tensor& like) {
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = t.size(0);
  return t.to(like.scalar_type()).view(shape);
}
}  // namespace

torch::Tensor interpolate(const torch::Tensor& x0, const torch::Tensor& noise, const torch::Tensor& t) {
  torch::Tensor tb = broadcastable(t, x0);
  return (1 - tb) * x0 + tb * noise;
}

torch::Tensor velocity_target(const torch::Tensor& x0, const torch::Tensor& noise) { return noise - x0; }

torch::Tensor uniform_timesteps(int64_t n, at::Generator gen) { return at::rand({n}, gen, generator_options(gen)); }

torch::Tensor logit_normal_timesteps(int64_t n, double mean, double stddev, at::Generator gen) {
  return torch::sigmoid(at::randn({n}, gen, generator_options(gen)) * stddev + mean);
}

torch::Tensor mode_timesteps(int64_t n, double scale, at::Generator gen) {
  torch::Tensor u = uniform_timesteps(n, gen);
  return 1 - u - scale * (torch::cos(M_PI / 2 * u).square() - 1 + u);
}

torch::Tensor cosmap_timesteps(int64_t n, at::Generator gen) {
  torch::Tensor u = uniform_timesteps(n, gen);
  return 1 - 1 / (torch::tan(M_PI / 2 * u) + 1);
}

torch::Tensor shift_timesteps(const torch::Tensor& t, double shift) { return shift * t / (1 + (shift - 1) * t); }

torch::Tensor sample_timesteps(const TimestepSampling& sampling, int64_t n, at::Generator gen) {
  torch::Tensor t;
  if (sampling.kind == "uniform") {
    t = uniform_timesteps(n, gen);
  } else if (sampling.kind == "logit_normal") {
    t = logit_normal_timesteps(n, sampling.mean, sampling.stddev, gen);
  } else if (sampling.kind == "mode") {
    t = mode_timesteps(n, sampling.mode_scale, gen);
  } else if (sampling.kind == "cosmap") {
    t = cosmap_timesteps(n, gen);
  } else {
    throw std::invalid_argument("unknown timestep sampling '" + sampling.kind +
                                "' (uniform, logit_normal, mode, cosmap)");
  }
  return sampling.shift == 1.0 ? t : shift_timesteps(t, sampling.shift);
}

}  // namespace genbox::diffusion
