// The Inception v3 of FID (Szegedy et al. 2016, as Heusel et al. 2017 use it): pytorch-fid's
// variant of torchvision's Inception3, whose Mixed_5b-5d, 6b-6e, 7b and 7c blocks are the TF graph's
// (average pools that ignore padding; Mixed_7c's pool branch a max pool), run to the 2048-d
// global average of the last block ("pool3"), the features every published FID compares.
//
// Weights: pytorch-fid's pt_inception-2015-12-05-6726825d.pth (the TF inception-2015-12-05
// graph's weights), converted once to safetensors by bench/convert_inception.py (LibTorch cannot
// read that pickle), names unchanged (torchvision's: "Mixed_5b.branch1x1.conv.weight", "....bn.
// running_var"). Each convolution's batch norm (eps 0.001) is folded into it once loaded:
// inference only.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace genbox::metrics {

// torchvision's BasicConv2d: convolution without bias, batch norm, ReLU.
class InceptionConvImpl : public torch::nn::Module {
 public:
  InceptionConvImpl(int64_t in, int64_t out, torch::ExpandingArray<2> kernel, torch::ExpandingArray<2> stride = 1,
                    torch::ExpandingArray<2> padding = 0);
  // Replaces conv + batch norm by one convolution with a bias (running statistics, as in eval mode).
  void fold_batch_norm();
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv_{nullptr};
  torch::nn::BatchNorm2d bn_{nullptr};
  torch::Tensor weight_, bias_;  // the folded convolution
  torch::ExpandingArray<2> stride_, padding_;
};
TORCH_MODULE(InceptionConv);

class FidInceptionImpl : public torch::nn::Module {
 public:
  FidInceptionImpl();
  // x: float [B, 3, 299, 299], already resized and scaled to [-1, 1] by one of the input
  // conventions (metrics/inception_input.hpp). Returns pool3, float [B, 2048].
  torch::Tensor forward(const torch::Tensor& x);
  // Every convolution's batch norm folded into it; called once the weights are in.
  void fold_batch_norms();

 private:
  struct Layer {
    torch::nn::AnyModule block;
    bool max_pool_after;  // the 3 x 3, stride 2 pools that end torchvision's first two stages
  };
  std::vector<Layer> layers_;
};
TORCH_MODULE(FidInception);

// Builds the network on `device` in eval mode from the safetensors file at `path`, strictly by name: every
// tensor the network needs present with its shape (the classifier "fc.*" and batch norms'
// "num_batches_tracked" may be there too and are ignored); anything else is a DataError naming
// the file and the tensor. A missing file, or one that is not safetensors, is a UsageError
// (exit 2) saying which file is needed, where pytorch-fid publishes it and how to convert it.
FidInception load_fid_inception(const std::filesystem::path& path, const torch::Device& device);

// Where the weights are looked for when no path is given:
// $XDG_CACHE_HOME/genbox/pt_inception-2015-12-05-6726825d.safetensors (else ~/.cache/genbox/),
// bench/convert_inception.py's default output.
std::filesystem::path default_inception_weights();
// Where pytorch-fid's download puts the .pth: $TORCH_HOME/hub/checkpoints/ ($TORCH_HOME defaults
// to $XDG_CACHE_HOME/torch, then ~/.cache/torch); bench/convert_inception.py's default input.
std::filesystem::path torch_hub_inception_weights();
// The file's name without extension, and where pytorch-fid publishes it.
extern const char* const kInceptionWeightsName;
extern const char* const kInceptionWeightsUrl;

}  // namespace genbox::metrics
