// NICE (Dinh, Krueger, Bengio 2014): additive couplings with alternating partitions, a final
// diagonal scaling, and a factorised prior; exact log-likelihood by change of variables.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include "common/matmul.hpp"
#include "flows/coupling.hpp"
#include "flows/priors.hpp"

namespace genbox::flows {

// Between layers the model keeps the two halves of the interleaved partition (even and odd
// coordinates) as two tensors, so a coupling adds its shift to one half instead of gathering and
// scattering coordinates: the input is split once and z interleaved once (not at all for
// log_prob, whose sum ignores the order).
struct Halves {
  torch::Tensor even, odd;
};

// The defaults are `nice train`'s (a CPU-sized model); the paper's MNIST model is
// experiments/configs/nice_mnist_paper.toml (hidden 1000, hidden_layers 5).
struct NiceOptions {
  int64_t dim = 784;  // set from the data
  int64_t coupling_layers = 4;
  int64_t hidden = 256;
  int64_t hidden_layers = 3;
  std::string prior = "logistic";
};

class NiceImpl : public torch::nn::Module {
 public:
  explicit NiceImpl(const NiceOptions& options);
  // x -> z = f(x), with log|det df/dx| per example.
  FlowResult forward(const torch::Tensor& x);
  // z -> x = f^-1(z), with log|det df^-1/dz| per example.
  FlowResult inverse(const torch::Tensor& z);
  // log p(x) = log p_prior(f(x)) + log|det df/dx|, per example, in nats. Under autocast only the
  // couplings' networks compute in bf16/fp16: the coordinates, the scaling, its log-determinant
  // and the prior stay fp32 (an Fp32Island), so the result is fp32.
  torch::Tensor log_prob(const torch::Tensor& x);
  torch::Tensor sample(int64_t n, double temperature, at::Generator generator);

  // Data-dependent initialisation from a batch x: couplings start as the identity, the first
  // coupling of each partition centres its coordinates, and the scaling maps each coordinate's
  // standard deviation to the prior's. A fresh model then starts near a factorised fit of the
  // data instead of near 10 bits/dim.
  void initialize_from_data(const torch::Tensor& x);

  const NiceOptions& options() const { return options_; }
  const Prior& prior() const { return prior_; }

 private:
  // x [B, D] -> z's halves and log|det|, and back.
  std::pair<Halves, torch::Tensor> forward_halves(const torch::Tensor& x);
  torch::Tensor inverse_halves(Halves h);
  torch::Tensor interleave(const Halves& h) const;

  NiceOptions options_;
  Prior prior_;
  torch::nn::ModuleList couplings_;
  DiagonalScaling scaling_{nullptr};
};
TORCH_MODULE(Nice);

// model->log_prob(x) under device.precision's autocast ("fp32", "bf16" or "fp16"); fp32 out.
torch::Tensor log_prob_in_precision(Nice& model, const torch::Tensor& x, const std::string& precision);

// The matmuls of a training step on `batch` examples, in the layouts autograd uses: each linear
// layer's forward, its weight gradient, and its input gradient except for the first coupling's
// first layer, whose input (the data) needs none. `nice bench` times them alone, back to back,
// as the plain matmul rate the step is measured against.
std::vector<MatmulShape> nice_train_matmuls(const NiceOptions& options, int64_t batch);

}  // namespace genbox::flows
