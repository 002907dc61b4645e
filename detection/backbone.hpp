// A small ResNet (He et al. 2016, basic blocks) for training from scratch on zero-padded batches.
// Every layer zeroes the padded positions of its output, and batch normalisation takes its
// statistics over valid positions only, so an image's features do not depend on how much
// padding it was batched with.
#pragma once

#include <functional>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <vector>

namespace genbox::detection {

// Features with the positions they are defined at: valid is [B, 1, H, W] float, 1 on pixels of
// the image and 0 on padding.
struct MaskedFeatures {
  torch::Tensor features, valid;
};

// The validity map after a stride-2 layer of kernel 1 or 3 (padding 1): output i reads around
// input 2i, so it is valid exactly when input 2i is; an image of valid height h keeps ceil(h/2)
// rows, as it would without padding.
torch::Tensor downsample_valid(const torch::Tensor& valid);

// Batch normalisation whose batch statistics (training) count valid positions only; padded
// positions come out as zeros. Running statistics are kept as torch's BatchNorm2d keeps them.
class MaskedBatchNormImpl : public torch::nn::Module {
 public:
  explicit MaskedBatchNormImpl(int64_t channels, double momentum = 0.1, double eps = 1e-5);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& valid);

  torch::Tensor weight, bias, running_mean, running_var;
  // When set (data-parallel training), batch statistics are those of the global batch: the
  // per-channel sums go through this differentiable sum over processes (SyncBatchNorm).
  std::function<torch::Tensor(const torch::Tensor&)> sum_over_processes;

 private:
  double momentum_, eps_;
};
TORCH_MODULE(MaskedBatchNorm);

// Makes every MaskedBatchNorm in `model` use global batch statistics through `sum`.
void synchronize_batch_norm(torch::nn::Module& model, const std::function<torch::Tensor(const torch::Tensor&)>& sum);

// relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)), the shortcut a strided 1x1 convolution and
// normalisation where the shape changes. The second normalisation starts with zero scale, so a
// fresh block passes its shortcut through (Goyal et al. 2017).
class ResidualBlockImpl : public torch::nn::Module {
 public:
  ResidualBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride);
  MaskedFeatures forward(const MaskedFeatures& x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, shortcut{nullptr};  // shortcut null for identity
  MaskedBatchNorm norm1{nullptr}, norm2{nullptr}, shortcut_norm{nullptr};

 private:
  int64_t stride_;
};
TORCH_MODULE(ResidualBlock);

// A 3x3 stem convolution at full resolution, then one stride-2 3x3 convolution per downsampling
// the stages cannot take, then one stage of `blocks_per_stage` residual blocks per entry of
// `channels`. The last log2(output_stride) stages (all of them, if fewer) start with stride 2.
// output_stride must be a power of two at most 2^(stages + 2).
class BackboneImpl : public torch::nn::Module {
 public:
  BackboneImpl(int64_t in_channels, const std::vector<int64_t>& channels, int64_t blocks_per_stage,
               int64_t output_stride);
  // images [B, C, H, W], valid [B, 1, H, W] -> [B, channels.back(), ~H/stride, ~W/stride].
  MaskedFeatures forward(const torch::Tensor& images, const torch::Tensor& valid);

  int64_t out_channels() const { return out_channels_; }

  torch::nn::ModuleList stem{nullptr};  // Conv2d layers
  torch::nn::ModuleList stem_norms{nullptr};
  torch::nn::ModuleList blocks{nullptr};

 private:
  int64_t out_channels_;
  std::vector<int64_t> stem_strides_;
};
TORCH_MODULE(Backbone);

}  // namespace genbox::detection
