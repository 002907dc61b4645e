// Where a rectified flow runs and how its samples become pictures: on pixels ([-1, 1] images), on
// toy points, or on an autoencoder's latents (SD3, section 5.2.1), which `to_pixels` decodes so
// that grids, the Frechet distance and FID always see images.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace genbox::diffusion {

struct ModelSpace {
  std::vector<int64_t> shape;                                    // one example as the model sees it: C, H, W (or 2)
  std::function<torch::Tensor(const torch::Tensor&)> to_pixels;  // samples -> [-1, 1] images; empty: they are
  torch::Tensor pixels(const torch::Tensor& samples) const { return to_pixels ? to_pixels(samples) : samples; }
};

}  // namespace genbox::diffusion
