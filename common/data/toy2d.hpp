// Toy 2D distributions for fast runs and tests, all spread over roughly [-4, 4]^2.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <string>
#include <vector>

namespace genbox {

const std::vector<std::string>& toy2d_names();

// n x 2 float samples of "two_moons", "eight_gaussians" or "checkerboard".
torch::Tensor sample_toy2d(const std::string& name, int64_t n, at::Generator generator);

}  // namespace genbox

namespace genbox {

// The centres of a pixels x pixels grid over [-extent, extent]^2, row-major from the top-left
// (y decreasing down the rows, as an image is read): pixels^2 x 2.
torch::Tensor grid_points(double extent, int64_t pixels);

// A 3 x pixels x pixels picture of points over [-extent, extent]^2: log-scaled counts through
// the colour map, top row at y = +extent.
torch::Tensor scatter_image(const torch::Tensor& points, double extent, int64_t pixels);

}  // namespace genbox
