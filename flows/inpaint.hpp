// NICE's inpainting (section 5.2 of the paper): keep the observed pixels, and move the hidden
// ones by projected stochastic gradient ascent on log p(x), with the paper's step schedule
// applied to the gradient scaled to unit RMS per image.
#pragma once

#include <ATen/core/Generator.h>

#include <string>
#include <vector>

#include "flows/nice.hpp"

namespace genbox::flows {

struct InpaintOptions {
  int64_t n = 8;                     // test images inpainted by `nice inpaint`
  std::string mask = "bottom_half";  // bottom_half | right_half | random_half | center
  int64_t steps = 500;
  double step_scale = 10.0;  // step at iteration i is step_scale / (100 + i), as in the paper
  double noise = 0.0;        // std of the Gaussian noise added to the normalised gradient
};

// Which pixels of n images of shape (C, H, W) are observed: [n, C * H * W] float, 1 kept,
// 0 hidden. random_half draws from a fixed seed, so every call hides the same pixels.
torch::Tensor inpaint_mask(const std::string& kind, int64_t n, const std::vector<int64_t>& shape);

// x in [0,1]^D (N x D), observed: 1 where the pixel is kept. Returns the completed images.
torch::Tensor inpaint(Nice& model, const torch::Tensor& x, const torch::Tensor& observed, const InpaintOptions& options,
                      at::Generator generator);

}  // namespace genbox::flows
