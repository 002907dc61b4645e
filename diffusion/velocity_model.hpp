// The network a rectified flow trains, whichever it is (a DiT for images, a small MLP for toy
// points), with the one definition of the training loss and of sampling that training,
// validation, evaluation and the bench share.
//
// Rectified flow (Liu et al. 2022; SD3, Esser et al. 2024, section 2): z_t = (1 - t) x0 + t eps,
// the network predicts v = eps - x0 under plain MSE; samples integrate dx/dt = v from t = 1
// (noise) to t = 0 (data), guided by classifier-free guidance when the model is conditional.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/nn/modules/container/any.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "diffusion/rectified_flow.hpp"

namespace genbox::diffusion {

struct VelocityModel {
  torch::nn::AnyModule any;  // forward(x [B, ...], t [B], labels [B] int64) -> v like x
  int64_t null_class = 0;    // the label of "no class"; 0 for an unconditional model
  std::shared_ptr<torch::nn::Module> module() const { return any.ptr(); }
  torch::Tensor operator()(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& labels) {
    return any.forward<torch::Tensor>(x, t, labels);
  }
};

// What a rectified-flow training step draws besides the data: labels (each dropped to the null
// class with probability label_dropout, which trains the unconditional velocity that guidance
// needs), timesteps from the training density and noise like x0, all from `generator` (CPU).
struct FlowDraw {
  torch::Tensor labels, t, noise;
};
FlowDraw draw_flow_inputs(const torch::Tensor& x0, const torch::Tensor& labels, int64_t null_class,
                          double label_dropout, const TimestepSampling& sampling, at::Generator generator);

// Mean squared error between v(z_t, t, labels) and eps - x0, the forward pass under the
// precision ("fp32" or "bf16", see AutocastGuard) and the loss in fp32. A scalar.
torch::Tensor rectified_flow_loss(VelocityModel& model, const torch::Tensor& x0, const torch::Tensor& noise,
                                  const torch::Tensor& t, const torch::Tensor& labels, const std::string& precision);

// The rectified-flow loss of a fixed validation batch: timesteps at the midpoints of n equal
// bins of [0, 1] and noise from a generator seeded by `seed`, so that values compare across
// evaluations and runs. In eval mode, without gradients.
double validation_loss(VelocityModel& model, const torch::Tensor& x0, const torch::Tensor& labels, int64_t seed,
                       const std::string& precision);

// Mean log-likelihood of images in model space ([-1, 1], from pixels dequantized to [0, 1]) in
// bits/dim through the probability-flow ODE with `steps` Heun steps, unconditionally (the null
// class), and the mean negative log-likelihood in nats for points that are not images.
double ode_bits_per_dim(VelocityModel& model, const torch::Tensor& x, int64_t steps, at::Generator generator);
double ode_negative_log_likelihood(VelocityModel& model, const torch::Tensor& x, int64_t steps,
                                   at::Generator generator);
// The same for latents z (scaled, continuous): -log2 p(z) / D with D the latent's size, no
// dequantization. It measures the flow's fit to the latent distribution and does not compare
// with pixel bits/dim.
double ode_latent_bits_per_dim(VelocityModel& model, const torch::Tensor& z, int64_t steps, at::Generator generator);

struct SamplingOptions {
  int64_t steps = 16;             // ODE steps from t = 1 to 0
  std::string sampler = "euler";  // euler | heun
  double guidance = 2.0;          // classifier-free guidance w; 1: none
  double shift = 1.0;             // timestep shift of the sampling schedule
};

// Noise and labels for a picture of `rows` rows of `per_row` samples: row k asks for class k mod
// `classes` (class 0 throughout when classes is 0: unconditional). The same seed gives the same noise, so
// pictures from different steps show the same "seeds". example_shape: C, H, W (or 2).
struct SampleSheet {
  torch::Tensor noise, labels;
  int64_t per_row;
};
SampleSheet sample_sheet(const std::vector<int64_t>& example_shape, int64_t rows, int64_t per_row, int64_t classes,
                         int64_t seed, c10::Device device);

// Samples from `noise` (at t = 1) for `labels`, without gradients and in eval mode; guided when
// the model is conditional and guidance != 1. Returns x at t = 0 in fp32.
torch::Tensor generate(VelocityModel& model, const torch::Tensor& noise, const torch::Tensor& labels,
                       const SamplingOptions& options, const std::string& precision);

// The same noise integrated with each of `step_counts` steps, concatenated in that order:
// [K * N, ...], for a grid with one row per step count.
torch::Tensor generate_step_sweep(VelocityModel& model, const torch::Tensor& noise, const torch::Tensor& labels,
                                  SamplingOptions options, const std::string& precision,
                                  const std::vector<int64_t>& step_counts);

// One sample per label, `batch` at a time, from noise drawn by a generator seeded with `seed`.
torch::Tensor generate_in_batches(VelocityModel& model, const std::vector<int64_t>& example_shape,
                                  const torch::Tensor& labels, const SamplingOptions& options,
                                  const std::string& precision, int64_t batch, int64_t seed);

}  // namespace genbox::diffusion
