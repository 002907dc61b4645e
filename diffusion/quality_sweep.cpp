#include "diffusion/quality_sweep.hpp"

#include <torch/torch.h>

#include <tuple>

#include "metrics/frechet.hpp"

namespace genbox::diffusion {

nlohmann::json quality_sweep(VelocityModel& model, const std::vector<int64_t>& example_shape,
                             const torch::Tensor& labels, int64_t num_classes, const SamplingOptions& base,
                             const QualitySweep& sweep, const Embedding& embed, const torch::Tensor& test_features,
                             Classifier* classifier, const std::function<void(const nlohmann::json&)>& on_row) {
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t steps : sweep.steps) {
    for (double guidance : sweep.guidance) {
      if (num_classes == 0 && guidance != sweep.guidance.front()) continue;
      SamplingOptions options = base;
      std::tie(options.steps, options.guidance) = std::tuple(steps, guidance);
      torch::Tensor x = generate_in_batches(model, example_shape, labels, options, sweep.precision, sweep.batch_size,
                                            sweep.seed + steps);
      nlohmann::json row = {{"steps", steps},
                            {"guidance", num_classes ? guidance : 1.0},
                            {"fd", metrics::frechet_distance(embed(x), test_features)}};
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
