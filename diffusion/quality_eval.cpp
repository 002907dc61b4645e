#include "diffusion/quality_eval.hpp"

#include <fmt/format.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>

#include "diffusion/classifier.hpp"
#include "diffusion/quality_sweep.hpp"

namespace genbox::diffusion {

std::optional<metrics::FidReference> fid_reference(const EvalSettings& eval, const metrics::FidSettings& settings,
                                                   const SourceData& data, const std::string& dataset,
                                                   const torch::Device& device) {
  if (!data.images || eval.fid_samples == 0) return std::nullopt;
  const int64_t m = eval.fid_reference ? std::min(eval.fid_reference, data.train.size(0)) : data.train.size(0);
  return std::optional<metrics::FidReference>(std::in_place, settings, device, data.train.narrow(0, 0, m), data.test,
                                              dataset);
}

void quality_eval(VelocityModel& model, const SourceData& data, const ModelSpace& space, int64_t num_classes,
                  const ToPictures& to_pictures, const EvalSettings& eval, const std::filesystem::path& classifier_file,
                  const metrics::FidReference* fid, const std::string& fid_input, const SamplingOptions& sample,
                  const std::string& precision, int64_t run_seed, nlohmann::json& results) {
  const c10::Device device = data.test.device();
  std::vector<Scorer> scorers;
  int64_t n = 0;
  Classifier classifier{nullptr};
  if (data.images && !std::filesystem::exists(classifier_file)) {
    fmt::print("no Frechet distance: no classifier at {}; train one for this set with `rf_dit classifier`\n",
               classifier_file.string());
  } else {
    at::Generator fixed = at::make_generator<at::CPUGeneratorImpl>(run_seed + 31);
    n = std::min({eval.fd_samples, data.test.size(0), data.train.size(0)});
    torch::Tensor test = to_pictures(data.test.narrow(0, 0, n), fixed);
    Embedding embed = [](const torch::Tensor& x) { return x; };
    if (data.images) {
      classifier = load_classifier(classifier_file, data.shape[0], data.shape[1], data.label_count, device);
      results["classifier_test_accuracy"] =
          classifier_hits(classifier, test, data.test_labels.narrow(0, 0, n), eval.batch_size).mean().item<double>();
      embed = [&](const torch::Tensor& x) { return classifier_features(classifier, x, eval.batch_size); };
    }
    torch::Tensor train_rows = at::randperm(data.train.size(0), fixed).narrow(0, 0, n).to(device);
    FrechetReference fd = frechet_reference(embed, test, to_pictures(data.train.index_select(0, train_rows), fixed));
    results["fd_train_vs_test"] = fd.floor;
    fmt::print("FD floor (train vs test, {} images): {:.3f}\n", n, fd.floor);
    scorers.push_back(fd.scorer);
  }
  if (fid) {
    scorers.push_back(fid_scorer(*fid, eval.fid_samples));
    results["fid_input"] = fid_input;  // what must stand beside the FID: convention and reference
    results["fid_reference"] = fmt::format("{} train images", fid->train_count());
  }
  if (scorers.empty()) return;
  n = std::max(n, fid ? eval.fid_samples : 0);
  QualitySweep sweep{eval.steps, eval.guidance, eval.batch_size, precision, run_seed + 1000};
  results["sweep"] = quality_sweep(model, space, sweep_labels(n, num_classes, model.null_class, device), num_classes,
                                   sample, sweep, scorers, classifier.is_empty() ? nullptr : &classifier,
                                   [](const nlohmann::json& row) { fmt::print("{}\n", row.dump()); });
}

}  // namespace genbox::diffusion
