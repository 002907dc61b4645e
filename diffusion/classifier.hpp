// A small CNN classifier trained on the same images as the generator. Its penultimate features
// give a Frechet distance without downloading Inception weights; its predictions tell whether
// class-conditional samples show the class they were asked for.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace genbox::diffusion {

class ClassifierImpl : public torch::nn::Module {
 public:
  // Images of channels x size x size in [-1, 1]; size must be divisible by 4.
  ClassifierImpl(int64_t channels, int64_t size, int64_t num_classes, int64_t feature_dim = 128);
  // The penultimate activations, [B, feature_dim].
  torch::Tensor features(const torch::Tensor& x);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential trunk_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(Classifier);

}  // namespace genbox::diffusion
