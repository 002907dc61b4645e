// How images are turned into the FID Inception's 299 x 299 input: the three conventions that
// published FIDs use with the same network and weights. They differ in the resize and the scaling,
// and so in the FID, by up to 1-2 points on CIFAR-10 (clean-fid's leaderboard): quote the one used.
//   tf       TensorFlow 1's bilinear resize (source = destination x in / out, no half-pixel shift)
//            on 0..255, then (x - 128) / 128: TTUR, torch-fidelity, EDM, ADM, clean-fid's
//            legacy_tensorflow. The default: CIFAR-10 papers quote it.
//   pytorch  x / 255, torch's bilinear resize (half-pixel centres, no antialiasing), then 2 x - 1:
//            pytorch-fid and clean-fid's legacy_pytorch.
//   clean    Pillow's bicubic resize of each channel as 32-bit floats, clipped to 0..255, then
//            (x - 128) / 128: clean-fid's default (Parmar et al. 2022).
#pragma once

#include <torch/types.h>

#include <string>

namespace genbox::metrics {

enum class InceptionInput { kTf, kPytorch, kClean };

// "tf", "pytorch" or "clean"; anything else is a UsageError listing the three.
InceptionInput parse_inception_input(const std::string& name);
std::string name_of(InceptionInput convention);

constexpr int64_t kInceptionSize = 299;

// uint8 [B, C, H, W] (C = 1 is repeated to 3 channels, as Pillow's convert("RGB") does; C = 3 as is)
// -> float [B, 3, 299, 299] on `device`, as `convention` feeds the network.
torch::Tensor inception_input(const torch::Tensor& images, InceptionInput convention, const torch::Device& device);

// TensorFlow 1's resize_bilinear with align_corners=False on float [B, C, H, W], exactly as
// torch-fidelity's interpolate_bilinear_2d_like_tensorflow1x computes it ("slow", bit-exact on
// the CPU against TensorFlow): x first, then y, each a lerp.
torch::Tensor resize_bilinear_tf1(const torch::Tensor& x, int64_t height, int64_t width);

}  // namespace genbox::metrics
