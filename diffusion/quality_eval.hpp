// What `rf_dit eval` measures of samples beside the loss and bits/dim: the steps x guidance sweep
// (diffusion/quality_sweep.hpp) scored by the Frechet distance in the FD classifier's features
// (the points themselves for toy sets) with its train-vs-test floor, and by FID in the
// Inception's when a reference is given. Also the eval.* keys of rf_dit.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/data/sources.hpp"
#include "diffusion/model_space.hpp"
#include "diffusion/samplers.hpp"
#include "diffusion/velocity_model.hpp"
#include "metrics/fid_reference.hpp"

namespace genbox::diffusion {

struct EvalSettings {
  std::string classifier = "classifier/fashion_mnist.pt";
  int64_t fd_samples = 1000;
  int64_t fid_samples = 0;    // 0: no FID
  int64_t fid_reference = 0;  // training images behind FID's statistics; 0: all
  int64_t fid_every = 0;      // training steps between FIDs; 0: none while training
  std::vector<int64_t> steps = {4, 16};
  std::vector<double> guidance = {1.0, 2.0, 4.0};
  int64_t likelihood_images = 64;
  int64_t likelihood_steps = 32;
  int64_t batch_size = 250;
};

// Rows of the source (uint8 images, or toy points) as the scorers see samples: [-1, 1] images
// (also when the flow runs on latents) or the points, drawing any dequantization noise from the
// generator.
using ToPictures = std::function<torch::Tensor(const torch::Tensor&, at::Generator)>;

// FID's reference (metrics/fid_reference.hpp): the training images of `data`, or the first
// eval.fid_reference of them, against its test images; none when eval.fid_samples is 0 or the
// data are not images.
std::optional<metrics::FidReference> fid_reference(const EvalSettings& eval, const metrics::FidSettings& settings,
                                                   const SourceData& data, const std::string& dataset,
                                                   const torch::Device& device);

// The sweep at `sample`'s sampler over eval.steps x eval.guidance, sampled in `space`, for `num_classes` classes (0:
// unconditional), printed a row at a time, into results["sweep"], with "fd_train_vs_test",
// "classifier_test_accuracy", "fid_input" and "fid_reference" beside it. Without the classifier
// file (images only) there is no FD and a line says how to make one; without `fid` no FID.
// The FD's rows are drawn from run_seed + 31, the samples at s steps from run_seed + 1000 + s.
void quality_eval(VelocityModel& model, const SourceData& data, const ModelSpace& space, int64_t num_classes,
                  const ToPictures& to_pictures, const EvalSettings& eval, const std::filesystem::path& classifier_file,
                  const metrics::FidReference* fid, const std::string& fid_input, const SamplingOptions& sample,
                  const std::string& precision, int64_t run_seed, nlohmann::json& results);

}  // namespace genbox::diffusion
