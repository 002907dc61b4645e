// The sample-quality sweep of `rf_dit eval`: for every (sampler steps, guidance) pair, one sample
// per label, their Fréchet distance to the test set's features (Heusel et al. 2017) in the
// classifier's embedding and, with a class-conditional model and a classifier, how often the
// classifier names the class asked for.
#pragma once

#include <torch/types.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "diffusion/classifier.hpp"
#include "diffusion/samplers.hpp"
#include "diffusion/velocity_model.hpp"

namespace genbox::diffusion {

struct QualitySweep {
  std::vector<int64_t> steps;
  std::vector<double> guidance;  // an unconditional model is sampled at the first value only
  int64_t batch_size = 250;      // samples per generation and embedding batch
  std::string precision = "fp32";
  int64_t seed = 0;  // samples at s steps are drawn from seed + s
};

using Embedding = std::function<torch::Tensor(const torch::Tensor&)>;

// One row per pair, {"steps", "guidance", "fd"[, "class_accuracy", "class_accuracy_per_class"]},
// each also passed to on_row as it is done. labels [N] are the samples' labels (the null class
// when unconditional); classifier is null when there is none (toy data) or num_classes is 0.
nlohmann::json quality_sweep(VelocityModel& model, const std::vector<int64_t>& example_shape,
                             const torch::Tensor& labels, int64_t num_classes, const SamplingOptions& base,
                             const QualitySweep& sweep, const Embedding& embed, const torch::Tensor& test_features,
                             Classifier* classifier, const std::function<void(const nlohmann::json&)>& on_row);

}  // namespace genbox::diffusion
