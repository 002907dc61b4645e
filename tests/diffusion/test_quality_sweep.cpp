// The sample-quality sweep scores pictures: samples drawn in the model's space (latents, say) are
// passed through the space's to_pixels before any scorer sees them.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include "diffusion/quality_sweep.hpp"
#include "diffusion/velocity_mlp.hpp"

using namespace genbox::diffusion;

TEST_CASE("the sweep's scorers see the space's pictures of the samples, as sample_fid's do") {
  torch::manual_seed(1);
  VelocityModel model;
  model.any = torch::nn::AnyModule(VelocityMlp(2, 16, 2, 0));
  // A stand-in decoder: 2 latent numbers -> a 1 x 2 x 3 "image".
  const ModelSpace space{{2}, [](const torch::Tensor& z) { return torch::tanh(z).repeat({1, 3}).view({-1, 1, 2, 3}); }};
  const torch::Tensor labels = torch::zeros({6}, torch::kLong);
  std::vector<torch::Tensor> seen;
  const Scorer record = [&](const torch::Tensor& x) {
    seen.push_back(x);
    return nlohmann::json{{"mean", x.mean().item<double>()}};
  };
  SamplingOptions options;
  const QualitySweep sweep{{2, 3}, {1.0}, 4, "fp32", 100};
  const nlohmann::json rows = quality_sweep(model, space, labels, 0, options, sweep, {record}, nullptr, [](auto&) {});
  REQUIRE(rows.size() == 2);
  REQUIRE(seen.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    const int64_t steps = sweep.steps[i];
    SamplingOptions at = options;
    at.steps = steps;
    const torch::Tensor expected = space.pixels(generate_in_batches(model, {2}, labels, at, "fp32", 4, 100 + steps));
    CHECK(seen[i].sizes() == torch::IntArrayRef({6, 1, 2, 3}));
    CHECK(torch::equal(seen[i], expected));
    CHECK(rows[i]["mean"].get<double>() == expected.mean().item<double>());
  }
  // Without a to_pixels the samples are the pictures.
  CHECK(torch::equal(ModelSpace{{2}, {}}.pixels(seen[0]), seen[0]));
}
