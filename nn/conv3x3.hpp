// 3x3 convolutions with stride 1 and padding 1 (the convolutions of the VAE's ResNet blocks), by
// Winograd's minimal filtering F(4x4, 3x3) on the CPU (Lavin & Gray 2016, "Fast Algorithms for
// Convolutional Neural Networks"): each 4x4 output tile is A^T [(G g G^T) . (B^T d B)] A for its
// 6x6 input tile d, so the 9 x 16 multiplies per output tile and channel pair of the direct
// convolution become 36, done as 36 matrix products [tiles, C_in] x [C_in, C_out] by the BLAS.
// That is 4x fewer multiplies; on the CPU the convolution runs about 2-3x faster than oneDNN's
// direct kernel. The price is rounding: outputs differ from the direct convolution's by about
// 1e-6 of their scale (tests/nn/test_conv3x3.cpp measures it against a float64 convolution).
//
// Taken where it pays and changes nothing else: fp32 CPU tensors, no gradient wanted (inference:
// encoding a data set, decoding samples), CPU autocast off, channel counts multiples of 8, a CPU
// with AVX2 and FMA (the tile transforms are vectorised over channels; the products are ATen's
// BLAS, at whatever vector width the CPU has). Everywhere else, and with GENBOX_WINOGRAD=off,
// ATen's own convolution.
#pragma once

#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

namespace genbox::nn {

// The filters' transform G g G^T for fp32 CPU weights [C_out, C_in, 3, 3] (C_out a multiple of 8):
// [36, C_in, C_out], position 6 i + j of the 6 x 6 tile first.
torch::Tensor winograd_filters(const torch::Tensor& weight);

// conv2d(x, weight, bias, stride 1, padding) + residual, by F(4x4, 3x3) with the filters'
// transform `filters` (winograd_filters). x: [B, C_in, H, W] fp32 on the CPU (any layout);
// bias: [C_out] or undefined; residual: the output's shape or undefined; padding 0 or 1. The
// result is channels-last. `tiles_per_chunk` (0: chosen from the thread count) bounds the work
// memory: 36 x tiles_per_chunk x (C_in + C_out) floats per thread.
torch::Tensor winograd_conv3x3(const torch::Tensor& x, const torch::Tensor& filters, const torch::Tensor& bias,
                               const torch::Tensor& residual, int64_t padding = 1, int64_t tiles_per_chunk = 0);

// Whether this CPU runs winograd_conv3x3 and GENBOX_WINOGRAD does not switch it off.
bool winograd_available();

// Whether conv3x3(x, weight, ...) takes the Winograd path (the conditions at the top).
bool winograd_applies(const torch::Tensor& x, const torch::Tensor& weight);

// conv2d(x, weight, bias, stride 1, padding) + residual for 3 x 3 weights: winograd_conv3x3
// where winograd_applies and padding is 0 or 1, ATen's convolution otherwise.
torch::Tensor conv3x3(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                      const torch::Tensor& residual = {}, int64_t padding = 1);

// A Conv2d with kernel 3, stride 1 and padding 1 (its parameters named and shaped as Conv2d's, so
// checkpoints of either load into the other) whose forward is conv3x3.
class Conv3x3Impl : public torch::nn::Conv2dImpl {
 public:
  Conv3x3Impl(int64_t in, int64_t out);

  // conv(x) + residual, the residual (when given) added in the same pass.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual = {});
};
TORCH_MODULE(Conv3x3);

}  // namespace genbox::nn
