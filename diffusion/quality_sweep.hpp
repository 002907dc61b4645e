// The sample-quality sweep of `rf_dit eval`: for every (sampler steps, guidance) pair, one sample
// per label, scored by each scorer: the Frechet distance to the test set's features (Heusel et al.
// 2017) in the classifier's embedding, FID with KID, precision/recall and the floor in the FID
// Inception's; and, with a class-conditional model and a classifier, how often the classifier
// names the class asked for.
#pragma once

#include <torch/types.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "diffusion/classifier.hpp"
#include "diffusion/model_space.hpp"
#include "diffusion/samplers.hpp"
#include "diffusion/velocity_model.hpp"
#include "metrics/fid_reference.hpp"

namespace genbox::diffusion {

struct QualitySweep {
  std::vector<int64_t> steps;
  std::vector<double> guidance;  // an unconditional model is sampled at the first value only
  int64_t batch_size = 250;      // samples per generation and embedding batch
  std::string precision = "fp32";
  int64_t seed = 0;  // samples at s steps are drawn from seed + s
};

using Embedding = std::function<torch::Tensor(const torch::Tensor&)>;
// Metrics of samples as pictures ([-1, 1] images, decoded from latents where the flow runs on
// them; toy points themselves), as JSON fields of a sweep row.
using Scorer = std::function<nlohmann::json(const torch::Tensor& samples)>;

// The Frechet distance of the first n samples' embeddings to the test features, as "fd".
Scorer frechet_scorer(Embedding embed, torch::Tensor test_features, int64_t n);
// FID and what stands beside it (metrics/sample_quality.hpp) of the first n samples, quantised
// to 8 bits as write_png stores them, against the reference's training images.
Scorer fid_scorer(const metrics::FidReference& reference, int64_t n);

// The FD of samples in `embed`'s features against test images ([-1, 1]), and its floor: the
// same distance for as many training images ([-1, 1]).
struct FrechetReference {
  Scorer scorer;
  double floor = 0;
};
FrechetReference frechet_reference(const Embedding& embed, const torch::Tensor& test, const torch::Tensor& train);

// Labels for n samples: cycling through the classes, or all the null class when num_classes is 0.
torch::Tensor sweep_labels(int64_t n, int64_t num_classes, int64_t null_class, const torch::Device& device);

// FID and what stands beside it for n samples drawn at `options` (labels cycling through the
// classes, or the null class when num_classes is 0): the eval line of a training run.
nlohmann::json sample_fid(VelocityModel& model, const ModelSpace& space, int64_t num_classes,
                          const SamplingOptions& options, const std::string& precision, int64_t batch_size,
                          int64_t seed, const metrics::FidReference& reference, int64_t n);

// One row per pair, {"steps", "guidance", <each scorer's fields>[, "class_accuracy",
// "class_accuracy_per_class"]}, each also passed to on_row as it is done. labels [N] are the
// samples' labels (the null class when unconditional); classifier is null when there is none
// (toy data) or num_classes is 0. Samples are drawn in `space` and scored as its pictures.
nlohmann::json quality_sweep(VelocityModel& model, const ModelSpace& space, const torch::Tensor& labels,
                             int64_t num_classes, const SamplingOptions& base, const QualitySweep& sweep,
                             const std::vector<Scorer>& scorers, Classifier* classifier,
                             const std::function<void(const nlohmann::json&)>& on_row);

}  // namespace genbox::diffusion
