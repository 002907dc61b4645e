// The conditioning vector shared by the diffusion models: an embedding of the timestep plus an
// embedding of the class label.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace genbox::diffusion {

// c = mlp(timestep_embedding(1000 t)) + class_embedding(label). t in [0, 1] is scaled by 1000
// first because the sinusoid's periods run from 2 pi to 10000: fed [0, 1] directly, every
// timestep gets nearly the same embedding. The table has num_classes + 1 rows; row num_classes is
// the "null" label used for unconditional training and for classifier-free guidance, so
// num_classes = 0 gives an unconditional model with one shared (null) row.
class ConditioningImpl : public torch::nn::Module {
 public:
  ConditioningImpl(int64_t width, int64_t num_classes, int64_t frequency_dim = 256);
  // t: [B] float in [0, 1], labels: [B] int64 in [0, num_classes]. Returns [B, width].
  torch::Tensor forward(const torch::Tensor& t, const torch::Tensor& labels);

  int64_t null_class() const { return num_classes_; }
  torch::nn::Sequential time_mlp{nullptr};
  torch::nn::Embedding class_embedding{nullptr};

 private:
  int64_t num_classes_;
  int64_t frequency_dim_;
};
TORCH_MODULE(Conditioning);

}  // namespace genbox::diffusion
