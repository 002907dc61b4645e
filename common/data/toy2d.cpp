#include "common/data/toy2d.hpp"

#include <torch/torch.h>
#include <cmath>
#include <stdexcept>

namespace genbox {

const std::vector<std::string>& toy2d_names() {
  static const std::vector<std::string> names = {"two_moons", "eight_gaussians", "checkerboard"};
  return names;
}

torch::Tensor sample_toy2d(const std::string& name, int64_t n, at::Generator generator) {
  auto uniform = [&](std::vector<int64_t> shape) { return at::rand(shape, generator); };
  auto normal = [&](std::vector<int64_t> shape) { return at::randn(shape, generator); };
  if (name == "two_moons") {
    // Two interleaved half circles, the upper one shifted left, the lower one right and down.
    torch::Tensor angle = uniform({n}) * M_PI;
    torch::Tensor lower = uniform({n}) < 0.5;
    torch::Tensor x = torch::where(lower, 1 - torch::cos(angle), torch::cos(angle));
    torch::Tensor y = torch::where(lower, 0.5 - torch::sin(angle), torch::sin(angle));
    torch::Tensor points = torch::stack({x - 0.5, y - 0.25}, 1) * 2.5;
    return points + 0.1 * normal({n, 2});
  }
  if (name == "eight_gaussians") {
    torch::Tensor which = at::randint(8, {n}, generator).to(torch::kFloat32);
    torch::Tensor angle = which * (2 * M_PI / 8);
    torch::Tensor centres = torch::stack({torch::cos(angle), torch::sin(angle)}, 1) * 3.0;
    return centres + 0.3 * normal({n, 2});
  }
  if (name == "checkerboard") {
    // Unit squares of a 4 x 4 board where (column + row) is even, scaled to [-4, 4].
    torch::Tensor x = uniform({n}) * 4;
    torch::Tensor column = x.floor();
    torch::Tensor row_parity = at::randint(2, {n}, generator).to(torch::kFloat32) * 2;
    torch::Tensor row = torch::fmod(column + row_parity, 4);
    torch::Tensor y = row + uniform({n});
    return torch::stack({x, y}, 1) * 2 - 4;
  }
  throw std::invalid_argument("unknown toy distribution '" + name + "'");
}

}  // namespace genbox

#include "common/images.hpp"

namespace genbox {

torch::Tensor grid_points(double extent, int64_t pixels) {
  double cell = 2 * extent / double(pixels);
  torch::Tensor centres = torch::arange(pixels, torch::kFloat32) * cell - extent + cell / 2;
  torch::Tensor ys = centres.flip(0).view({pixels, 1}).expand({pixels, pixels});
  torch::Tensor xs = centres.view({1, pixels}).expand({pixels, pixels});
  return torch::stack({xs.reshape(-1), ys.reshape(-1)}, 1);
}

torch::Tensor scatter_image(const torch::Tensor& points, double extent, int64_t pixels) {
  torch::Tensor p = points.detach().to(torch::kCPU, torch::kFloat32);
  torch::Tensor column = ((p.select(1, 0) + extent) / (2 * extent) * pixels).floor().to(torch::kLong);
  torch::Tensor row = ((extent - p.select(1, 1)) / (2 * extent) * pixels).floor().to(torch::kLong);
  torch::Tensor inside = (column >= 0) & (column < pixels) & (row >= 0) & (row < pixels);
  torch::Tensor cells = (row * pixels + column).index({inside});
  torch::Tensor counts = torch::zeros({pixels * pixels}, torch::kFloat32)
                             .index_add_(0, cells, torch::ones({cells.size(0)}, torch::kFloat32));
  torch::Tensor scaled = torch::log1p(counts) / std::max(1e-6, torch::log1p(counts).max().item<double>());
  return colormap(scaled.view({pixels, pixels}));
}

}  // namespace genbox
