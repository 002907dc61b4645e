#include "metrics/inception_input.hpp"

#include <ATen/Parallel.h>
#include <torch/nn/functional/upsampling.h>

#include <algorithm>
#include <vector>

#include "base/errors.hpp"
#include "common/data/resample.hpp"

namespace genbox::metrics {

InceptionInput parse_inception_input(const std::string& name) {
  if (name == "tf") return InceptionInput::kTf;
  if (name == "pytorch") return InceptionInput::kPytorch;
  if (name == "clean") return InceptionInput::kClean;
  throw UsageError("unknown FID input convention '" + name + "': one of tf, pytorch, clean");
}

std::string name_of(InceptionInput convention) {
  switch (convention) {
    case InceptionInput::kTf:
      return "tf";
    case InceptionInput::kPytorch:
      return "pytorch";
    case InceptionInput::kClean:
      return "clean";
  }
  return "?";
}

torch::Tensor resize_bilinear_tf1(const torch::Tensor& x, int64_t height, int64_t width) {
  // Source coordinates in float32, as torch-fidelity forms them: arange * float32(in / out).
  const auto grid = [&](int64_t out, int64_t in) {
    const torch::Tensor position =
        torch::arange(out, x.options()) * torch::tensor(double(in) / double(out), x.options().dtype(torch::kFloat));
    const torch::Tensor lo = position.to(torch::kLong);
    return std::tuple{lo, (lo + 1).clamp_max(in - 1), position - lo.to(x.scalar_type())};
  };
  const auto [x_lo, x_hi, dx] = grid(width, x.size(3));
  const auto [y_lo, y_hi, dy] = grid(height, x.size(2));
  const torch::Tensor top = x.index_select(2, y_lo), bottom = x.index_select(2, y_hi);
  const torch::Tensor top_left = top.index_select(3, x_lo), top_right = top.index_select(3, x_hi);
  const torch::Tensor bottom_left = bottom.index_select(3, x_lo), bottom_right = bottom.index_select(3, x_hi);
  const torch::Tensor dx_row = dx.view({1, 1, 1, width});
  const torch::Tensor upper = top_left + (top_right - top_left) * dx_row;
  const torch::Tensor lower = bottom_left + (bottom_right - bottom_left) * dx_row;
  return upper + (lower - upper) * dy.view({1, 1, height, 1});
}

namespace {

// clean-fid's resize: Pillow's "F"-mode bicubic per channel, then clipped to 0..255.
torch::Tensor resize_clean(const torch::Tensor& images) {
  const torch::Tensor planes = images.to(torch::kFloat).contiguous();
  const int64_t count = planes.size(0) * planes.size(1), height = planes.size(2), width = planes.size(3);
  torch::Tensor out = torch::empty({planes.size(0), planes.size(1), kInceptionSize, kInceptionSize}, planes.options());
  const float* in = planes.data_ptr<float>();
  float* result = out.data_ptr<float>();
  const int64_t out_area = kInceptionSize * kInceptionSize;
  at::parallel_for(0, count, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const std::vector<float> resized =
          resize_bicubic_float(in + p * height * width, height, width, kInceptionSize, kInceptionSize);
      std::transform(resized.begin(), resized.end(), result + p * out_area,
                     [](float v) { return std::clamp(v, 0.0f, 255.0f); });
    }
  });
  return out;
}

}  // namespace

torch::Tensor inception_input(const torch::Tensor& images, InceptionInput convention, const torch::Device& device) {
  TORCH_CHECK(
      images.dim() == 4 && images.scalar_type() == torch::kUInt8 && (images.size(1) == 1 || images.size(1) == 3),
      "inception_input: expected uint8 [B, 1 or 3, H, W], got ", images.scalar_type(), " ", images.sizes());
  const torch::Tensor rgb = images.size(1) == 1 ? images.expand({-1, 3, -1, -1}) : images;
  switch (convention) {
    case InceptionInput::kTf:
      return (resize_bilinear_tf1(rgb.to(device).to(torch::kFloat), kInceptionSize, kInceptionSize) - 128) / 128;
    case InceptionInput::kPytorch: {
      namespace F = torch::nn::functional;
      const torch::Tensor unit = rgb.to(device).to(torch::kFloat) / 255;
      const torch::Tensor resized = F::interpolate(unit, F::InterpolateFuncOptions()
                                                             .size(std::vector<int64_t>{kInceptionSize, kInceptionSize})
                                                             .mode(torch::kBilinear)
                                                             .align_corners(false));
      return 2 * resized - 1;
    }
    case InceptionInput::kClean:
      return (resize_clean(rgb).to(device) - 128) / 128;
  }
  return {};
}

}  // namespace genbox::metrics
