#include "diffusion/classifier.hpp"

#include <fmt/format.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "base/errors.hpp"
#include "base/fsutil.hpp"
#include "base/progress.hpp"
#include "common/checkpoint.hpp"
#include "common/data/batches.hpp"

namespace genbox::diffusion {

ClassifierImpl::ClassifierImpl(int64_t channels, int64_t size, int64_t num_classes, int64_t feature_dim) {
  TORCH_CHECK(size % 4 == 0, "the classifier needs an image size divisible by 4, got ", size);
  namespace nn = torch::nn;
  auto conv = [](int64_t in, int64_t out) { return nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1)); };
  trunk_ = nn::Sequential(conv(channels, 16), nn::ReLU(), nn::MaxPool2d(2),  //
                          conv(16, 32), nn::ReLU(), nn::MaxPool2d(2),        //
                          conv(32, 64), nn::ReLU(), nn::Flatten(),           //
                          nn::Linear(64 * (size / 4) * (size / 4), feature_dim), nn::ReLU());
  head_ = nn::Linear(feature_dim, num_classes);
  register_module("trunk", trunk_);
  register_module("head", head_);
}

torch::Tensor ClassifierImpl::features(const torch::Tensor& x) { return trunk_->forward(x); }

torch::Tensor ClassifierImpl::forward(const torch::Tensor& x) { return head_->forward(features(x)); }

torch::Tensor classifier_hits(Classifier& classifier, const torch::Tensor& x, const torch::Tensor& labels,
                              int64_t batch) {
  torch::NoGradGuard no_grad;
  classifier->eval();
  std::vector<torch::Tensor> hits;
  for (int64_t i = 0; i < x.size(0); i += batch) {
    int64_t n = std::min(batch, x.size(0) - i);
    hits.push_back(classifier->forward(x.narrow(0, i, n)).argmax(1).eq(labels.narrow(0, i, n)).to(torch::kFloat64));
  }
  return torch::cat(hits);
}

torch::Tensor classifier_features(Classifier& classifier, const torch::Tensor& x, int64_t batch) {
  torch::NoGradGuard no_grad;
  classifier->eval();
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < x.size(0); i += batch)
    out.push_back(classifier->features(x.narrow(0, i, std::min(batch, x.size(0) - i))));
  return torch::cat(out);
}

void train_classifier(Classifier& classifier, const torch::Tensor& images, const torch::Tensor& labels,
                      const std::function<torch::Tensor(const torch::Tensor&)>& to_input,
                      const ClassifierTraining& options, uint64_t seed) {
  classifier->train();
  torch::optim::Adam optimizer(classifier->parameters(), torch::optim::AdamOptions(options.lr));
  BatchSampler sampler(images.size(0), options.batch_size, seed);
  const int64_t steps = options.epochs * sampler.batches_per_epoch();
  Progress progress(0, steps);
  for (int64_t step = 1; step <= steps; ++step) {
    torch::Tensor rows = sampler.next().to(images.device());
    torch::Tensor x = to_input(images.index_select(0, rows));
    optimizer.zero_grad();
    torch::Tensor loss = torch::cross_entropy_loss(classifier->forward(x), labels.index_select(0, rows));
    loss.backward();
    optimizer.step();
    std::string summary = fmt::format("loss {:.4f}", loss.item<double>());
    progress.update(step, summary);
    if (!progress.interactive() && (step % 100 == 0 || step == steps)) fmt::print("{}\n", progress.line(step, summary));
  }
  progress.finish_line();
}

ClassAccuracy class_accuracy(Classifier& classifier, const torch::Tensor& x, const torch::Tensor& labels,
                             int64_t num_classes, int64_t batch) {
  torch::Tensor hits = classifier_hits(classifier, x, labels, batch);
  ClassAccuracy accuracy;
  accuracy.overall = hits.mean().item<double>();
  for (int64_t k = 0; k < num_classes; ++k)
    accuracy.per_class.push_back(hits.index({labels.eq(k)}).mean().item<double>());
  return accuracy;
}

double fit_classifier(const SourceData& data,
                      const std::function<torch::Tensor(const torch::Tensor&, at::Generator)>& to_pictures,
                      const ClassifierTraining& options, uint64_t seed, const std::filesystem::path& path,
                      nlohmann::json summary) {
  Classifier classifier(data.shape[0], data.shape[1], data.label_count);
  classifier->to(data.train.device());
  at::Generator cpu = at::detail::getDefaultCPUGenerator();
  train_classifier(
      classifier, data.train, data.train_labels, [&](const torch::Tensor& x) { return to_pictures(x, cpu); }, options,
      seed);
  at::Generator fixed = at::make_generator<at::CPUGeneratorImpl>(1);
  const double accuracy =
      classifier_hits(classifier, to_pictures(data.test, fixed), data.test_labels, 1000).mean().item<double>();
  summary["test_accuracy"] = accuracy;
  summary["epochs"] = options.epochs;
  save_classifier(path, classifier, options.epochs, accuracy, summary);
  return accuracy;
}

void save_classifier(const std::filesystem::path& path, const Classifier& classifier, int64_t epochs, double accuracy,
                     const nlohmann::json& summary) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  save_checkpoint(path, *classifier, nullptr, nullptr, {epochs, 0, 1 - accuracy});
  write_file_atomic(path.string() + ".json", summary.dump(2) + "\n");
}

std::filesystem::path classifier_path(const std::string& setting, const std::filesystem::path& out_dir) {
  const std::filesystem::path path = setting;
  return path.is_absolute() ? path : out_dir / path;
}

Classifier load_classifier(const std::filesystem::path& path, int64_t channels, int64_t size, int64_t num_classes,
                           const torch::Device& device) {
  if (!std::filesystem::exists(path))
    throw DataError(
        fmt::format("{}: no classifier; train one with `rf_dit classifier`, or set eval.classifier", path.string()));
  Classifier classifier(channels, size, num_classes);
  classifier->to(device);
  load_weights(path, *classifier, false);
  return classifier;
}

}  // namespace genbox::diffusion
