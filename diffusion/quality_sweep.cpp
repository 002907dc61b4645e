#include "diffusion/quality_sweep.hpp"

#include <torch/torch.h>

#include <tuple>

#include "common/images.hpp"
#include "metrics/frechet.hpp"

namespace genbox::diffusion {

Scorer frechet_scorer(Embedding embed, torch::Tensor test_features, int64_t n) {
  return [embed = std::move(embed), test_features = std::move(test_features), n](const torch::Tensor& x) {
    return nlohmann::json{{"fd", metrics::frechet_distance(embed(x.narrow(0, 0, n)), test_features)}};
  };
}

FrechetReference frechet_reference(const Embedding& embed, const torch::Tensor& test, const torch::Tensor& train) {
  const torch::Tensor test_features = embed(test);
  const double floor = metrics::frechet_distance(embed(train), test_features);
  return {frechet_scorer(embed, test_features, test.size(0)), floor};
}

torch::Tensor sweep_labels(int64_t n, int64_t num_classes, int64_t null_class, const torch::Device& device) {
  return num_classes ? torch::arange(n).remainder(num_classes).to(device)
                     : torch::full({n}, null_class, torch::TensorOptions(device).dtype(torch::kLong));
}

nlohmann::json sample_fid(VelocityModel& model, const ModelSpace& space, int64_t num_classes,
                          const SamplingOptions& options, const std::string& precision, int64_t batch_size,
                          int64_t seed, const metrics::FidReference& reference, int64_t n) {
  const torch::Tensor labels = sweep_labels(n, num_classes, model.null_class, model.module()->parameters()[0].device());
  const QualitySweep one{{options.steps}, {options.guidance}, batch_size, precision, seed - options.steps};
  nlohmann::json row = quality_sweep(model, space, labels, num_classes, options, one, {fid_scorer(reference, n)},
                                     nullptr, [](const nlohmann::json&) {})[0];
  row.erase("steps");
  row.erase("guidance");
  return row;
}

Scorer fid_scorer(const metrics::FidReference& reference, int64_t n) {
  return [&reference, n](const torch::Tensor& x) {
    return reference.score(to_uint8((x.narrow(0, 0, n) + 1) / 2)).to_json();
  };
}

nlohmann::json quality_sweep(VelocityModel& model, const ModelSpace& space, const torch::Tensor& labels,
                             int64_t num_classes, const SamplingOptions& base, const QualitySweep& sweep,
                             const std::vector<Scorer>& scorers, Classifier* classifier,
                             const std::function<void(const nlohmann::json&)>& on_row) {
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t steps : sweep.steps) {
    for (double guidance : sweep.guidance) {
      if (num_classes == 0 && guidance != sweep.guidance.front()) continue;
      SamplingOptions options = base;
      std::tie(options.steps, options.guidance) = std::tuple(steps, guidance);
      const torch::Tensor x = space.pixels(generate_in_batches(model, space.shape, labels, options, sweep.precision,
                                                               sweep.batch_size, sweep.seed + steps));
      nlohmann::json row = {{"steps", steps}, {"guidance", num_classes ? guidance : 1.0}};
      for (const Scorer& score : scorers) row.update(score(x));
      if (classifier && num_classes) {
        ClassAccuracy accuracy = class_accuracy(*classifier, x, labels, num_classes, sweep.batch_size);
        row["class_accuracy"] = accuracy.overall;
        row["class_accuracy_per_class"] = accuracy.per_class;
      }
      on_row(row);
      rows.push_back(row);
    }
  }
  return rows;
}

}  // namespace genbox::diffusion
