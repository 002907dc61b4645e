// A small CNN classifier trained on the same images as the generator. Its penultimate features
// give a Frechet distance without downloading Inception weights; its predictions tell whether
// class-conditional samples show the class they were asked for.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <vector>

#include "common/data/sources.hpp"

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

// 1.0 where the classifier names the given label, per image: float64 [N]. x in model space
// ([-1, 1]), in eval mode and batches of `batch`, without gradients.
torch::Tensor classifier_hits(Classifier& classifier, const torch::Tensor& x, const torch::Tensor& labels,
                              int64_t batch);
// The penultimate features of x, [N, feature_dim], in batches of `batch`, without gradients.
torch::Tensor classifier_features(Classifier& classifier, const torch::Tensor& x, int64_t batch);

struct ClassifierTraining {
  int64_t epochs = 5;
  int64_t batch_size = 128;
  double lr = 1e-3;
};

// Trains with Adam and cross-entropy on `images` (uint8 [N, C, H, W]) turned into model space
// by `to_input` (which may add dequantization noise from the generator it is given), batches
// drawn from a permutation seeded by `seed`, showing progress on stdout.
void train_classifier(Classifier& classifier, const torch::Tensor& images, const torch::Tensor& labels,
                      const std::function<torch::Tensor(const torch::Tensor&)>& to_input,
                      const ClassifierTraining& options, uint64_t seed);

// How often the classifier names the class asked for: overall, and per class 0..num_classes-1.
struct ClassAccuracy {
  double overall = 0;
  std::vector<double> per_class;
};
ClassAccuracy class_accuracy(Classifier& classifier, const torch::Tensor& x, const torch::Tensor& labels,
                             int64_t num_classes, int64_t batch);

// `rf_dit classifier`: a classifier for the images of `data` (uint8) trained as train_classifier
// trains it, each batch made [-1, 1] by `to_pictures` with noise from the default CPU generator,
// its accuracy measured on the test images (noise from a generator seeded with 1), and saved at
// `path` with `summary` plus "test_accuracy" and "epochs". Returns the accuracy.
double fit_classifier(const SourceData& data,
                      const std::function<torch::Tensor(const torch::Tensor&, at::Generator)>& to_pictures,
                      const ClassifierTraining& options, uint64_t seed, const std::filesystem::path& path,
                      nlohmann::json summary);

// Writes the trained classifier to `path` (its directory created) and `summary` beside it as
// path + ".json"; the checkpoint records `epochs` and the test error 1 - accuracy.
void save_classifier(const std::filesystem::path& path, const Classifier& classifier, int64_t epochs, double accuracy,
                     const nlohmann::json& summary);
// Where eval.classifier = `setting` points: a relative path lies under the output directory, like
// the runs it serves, so that eval finds it from any working directory.
std::filesystem::path classifier_path(const std::string& setting, const std::filesystem::path& out_dir);
// The classifier at `path`, on `device`; a missing file is a DataError that says how to make one.
Classifier load_classifier(const std::filesystem::path& path, int64_t channels, int64_t size, int64_t num_classes,
                           const torch::Device& device);

}  // namespace genbox::diffusion
