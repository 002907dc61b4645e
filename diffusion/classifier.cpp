#include "diffusion/classifier.hpp"

#include <torch/torch.h>

namespace genbox::diffusion {

ClassifierImpl::ClassifierImpl(int64_t channels, int64_t size, int64_t num_classes, int64_t feature_dim) {
  TORCH_CHECK(size % 4 == 0, "the classifier needs an image size divisible by 4, got ", size);
  namespace nn = torch::nn;
  auto conv = [](int64_t in, int64_t out) { return nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1)); };
  trunk_ = nn::Sequential(conv(channels, 16), nn::ReLU(), nn::MaxPool2d(2),          //
                          conv(16, 32), nn::ReLU(), nn::MaxPool2d(2),                 //
                          conv(32, 64), nn::ReLU(), nn::Flatten(),                    //
                          nn::Linear(64 * (size / 4) * (size / 4), feature_dim), nn::ReLU());
  head_ = nn::Linear(feature_dim, num_classes);
  register_module("trunk", trunk_);
  register_module("head", head_);
}

torch::Tensor ClassifierImpl::features(const torch::Tensor& x) { return trunk_->forward(x); }

torch::Tensor ClassifierImpl::forward(const torch::Tensor& x) { return head_->forward(features(x)); }

}  // namespace genbox::diffusion
