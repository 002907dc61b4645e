#include <doctest/doctest.h>

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include "nn/conv3x3.hpp"

using namespace genbox::nn;

namespace {

// The convolution in float64, the oracle both fp32 routes are measured against.
torch::Tensor exact_conv(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                         int64_t padding = 1) {
  return torch::conv2d(x.to(torch::kDouble), weight.to(torch::kDouble), bias.to(torch::kDouble), 1, padding);
}

double largest_error(const torch::Tensor& got, const torch::Tensor& exact) {
  return (got.to(torch::kDouble) - exact).abs().max().item<double>() / exact.abs().max().item<double>();
}

// Whether the Winograd path runs here; when it does not, says why a test has nothing to check.
bool winograd_runs_here() {
  if (winograd_available()) return true;
  MESSAGE("no AVX2 and FMA here, or GENBOX_WINOGRAD=off: the Winograd path is never taken");
  return false;
}

}  // namespace

TEST_CASE("winograd_conv3x3 equals the float64 convolution to fp32 rounding, across tile borders") {
  if (!winograd_runs_here()) return;
  torch::NoGradGuard no_grad;
  torch::manual_seed(7);
  // Sides that are not multiples of the 4-pixel tile, one side shorter than a tile, and
  // channel counts that span several 8-lane vectors.
  for (int64_t padding : {1, 0})
    for (auto [height, width] : {std::pair<int64_t, int64_t>{13, 10}, {4, 4}, {3, 9}, {32, 32}}) {
      CAPTURE(padding);
      CAPTURE(height);
      CAPTURE(width);
      const torch::Tensor x = torch::randn({2, 24, height, width});
      const torch::Tensor weight = torch::randn({16, 24, 3, 3}) / 15, bias = torch::randn({16});
      const torch::Tensor filters = winograd_filters(weight);
      const torch::Tensor exact = exact_conv(x, weight, bias, padding);
      const torch::Tensor ours = winograd_conv3x3(x, filters, bias, {}, padding);
      const torch::Tensor direct = torch::conv2d(x, weight, bias, 1, padding);
      CHECK(ours.sizes() == exact.sizes());
      CHECK(ours.is_contiguous(torch::MemoryFormat::ChannelsLast));
      // F(4x4, 3x3) rounds more than the direct sum, but stays within 1e-5 of the output's scale
      // (a wrong transform coefficient is off by the scale itself).
      CHECK(largest_error(ours, exact) < 1e-5);
      CHECK(largest_error(direct, exact) < 1e-6);
      // The residual is added in the same pass; no bias works too.
      const torch::Tensor residual = torch::randn_like(direct);
      CHECK(largest_error(winograd_conv3x3(x, filters, bias, residual, padding), exact + residual) < 1e-5);
      CHECK(largest_error(winograd_conv3x3(x, filters, {}, {}, padding),
                          exact_conv(x, weight, torch::zeros({16}), padding)) < 1e-5);
      // conv3x3 takes this path for it (no gradient wanted here), with the same result.
      CHECK(winograd_applies(x, weight));
      CHECK(torch::equal(conv3x3(x, weight, bias, residual, padding),
                         winograd_conv3x3(x, filters, bias, residual, padding)));
    }
}

TEST_CASE("winograd_conv3x3 gives the same result in any chunking and on one or two threads") {
  if (!winograd_runs_here()) return;
  torch::NoGradGuard no_grad;
  torch::manual_seed(8);
  const torch::Tensor x = torch::randn({3, 16, 17, 19}), weight = torch::randn({8, 16, 3, 3}), bias = torch::randn({8});
  const torch::Tensor filters = winograd_filters(weight);
  const torch::Tensor exact = exact_conv(x, weight, bias);
  const int threads = torch::get_num_threads();
  for (int thread_count : {1, 2}) {
    torch::set_num_threads(thread_count);
    for (int64_t chunk : {0, 1, 7, 64, 1000}) {
      CAPTURE(thread_count);
      CAPTURE(chunk);
      CHECK(largest_error(winograd_conv3x3(x, filters, bias, {}, 1, chunk), exact) < 1e-5);
    }
  }
  torch::set_num_threads(threads);
}

TEST_CASE("winograd_filters is G g G^T of each 3 x 3 filter") {
  if (!winograd_runs_here()) return;
  // The first of eight filters, by hand: G g G^T at the tile's corners and centre, with G's rows
  // (1/4, 0, 0), (-1/6, -1/6, -1/6), (1/24, 1/12, 1/6) and (0, 0, 1).
  torch::Tensor weight = torch::randn({8, 1, 3, 3});
  weight[0][0] = torch::arange(1, 10, torch::kFloat).reshape({3, 3});
  const torch::Tensor filters = winograd_filters(weight);
  CHECK(filters.sizes() == torch::IntArrayRef({36, 1, 8}));
  auto at = [&](int64_t p) { return filters[p][0][0].item<double>(); };
  CHECK(at(0) == doctest::Approx(1.0 / 16));                 // g00 / 16
  CHECK(at(5) == doctest::Approx(3.0 / 4));                  // g02 / 4
  CHECK(at(35) == doctest::Approx(9.0));                     // g22
  CHECK(at(7) == doctest::Approx(45.0 / 36).epsilon(1e-6));  // the sum of all / 36
  CHECK(at(21) == doctest::Approx((1.0 / 24 + 2.0 / 12 + 3.0 / 6) / 24 + (4.0 / 24 + 5.0 / 12 + 6.0 / 6) / 12 +
                                  (7.0 / 24 + 8.0 / 12 + 9.0 / 6) / 6)
                      .epsilon(1e-6));  // G3 g G3^T, G3 = (1/24, 1/12, 1/6)
}

TEST_CASE("Conv3x3 takes the Winograd path only for fp32 CPU inference, and follows its weight") {
  torch::manual_seed(9);
  Conv3x3 conv(16, 8);
  const torch::Tensor x = torch::randn({2, 16, 9, 9});
  {
    torch::NoGradGuard no_grad;
    CHECK(winograd_applies(x, conv->weight) == winograd_available());
    const torch::Tensor exact = exact_conv(x, conv->weight, conv->bias);
    CHECK(largest_error(conv(x), exact) < 1e-5);
    // An in-place write to the weight, and a new tensor for it (as loading and set_data give).
    conv->weight.mul_(2);
    CHECK(largest_error(conv(x), exact_conv(x, conv->weight, conv->bias)) < 1e-5);
    conv->weight.set_data(torch::randn({8, 16, 3, 3}).contiguous(torch::MemoryFormat::ChannelsLast));
    CHECK(largest_error(conv(x), exact_conv(x, conv->weight, conv->bias)) < 1e-5);
    const torch::Tensor residual = torch::randn({2, 8, 9, 9});
    CHECK(largest_error(conv(x, residual), exact_conv(x, conv->weight, conv->bias) + residual) < 1e-5);
    // Channel counts off the vector width, and fp64, go to ATen's convolution.
    CHECK_FALSE(winograd_applies(torch::randn({1, 3, 8, 8}), torch::randn({8, 3, 3, 3})));
    CHECK_FALSE(winograd_applies(x.to(torch::kDouble), conv->weight.to(torch::kDouble)));
  }
  {
    torch::InferenceMode inference;
    CHECK(winograd_applies(x, conv->weight) == winograd_available());
    CHECK(largest_error(conv(x), exact_conv(x, conv->weight, conv->bias)) < 1e-5);
  }
  // Training: the gradient flows through ATen's convolution, bitwise Conv2d's.
  CHECK_FALSE(winograd_applies(x, conv->weight));
  const torch::Tensor y = conv(x);
  CHECK(torch::equal(y, torch::conv2d(x, conv->weight, conv->bias, 1, 1)));
  y.sum().backward();
  CHECK(conv->weight.grad().defined());
  // Under CPU autocast the convolution keeps autocast's dtype rules: ATen's path.
  torch::NoGradGuard no_grad;
  at::autocast::set_autocast_enabled(at::kCPU, true);
  const bool under_autocast = winograd_applies(x, conv->weight);
  at::autocast::set_autocast_enabled(at::kCPU, false);
  CHECK_FALSE(under_autocast);
}
