// genbox's DiT against the PyTorch reference in bench/reference/dit.py with the same weights:
// the velocity for given (x_t, t, label), every parameter's gradient, and the rectified-flow
// loss, for both MLP kinds.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include "diffusion/dit.hpp"
#include "diffusion/velocity_model.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {

// As in the NICE test: float32 sums in a different order (fused kernels here, ATen's there)
// differ in the 6th to 7th digit relative to the largest value.
double relative_difference(const torch::Tensor& ours, const torch::Tensor& reference) {
  return (ours - reference).abs().max().item<double>() / std::max(reference.abs().max().item<double>(), 1e-30);
}

}  // namespace

TEST_CASE("the DiT's velocity, gradients and loss equal the PyTorch reference's") {
  if (reference_python().empty()) {
    MESSAGE("skipped: no venv Python with torch and scipy (scripts/setup installs them)");
    return;
  }
  for (const char* mlp : {"gelu_tanh", "swiglu"}) {
    CAPTURE(mlp);
    torch::manual_seed(5);
    diffusion::DitOptions options = diffusion::with_preset({}, "tiny", 0, 0, 0, 0);
    options.mlp = mlp;
    diffusion::Dit model(options);
    // adaLN-Zero and the output map start at zero; move every weight so that each path counts.
    {
      torch::NoGradGuard no_grad;
      for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.05);
    }
    const int64_t n = 6;
    torch::Tensor x = torch::randn({n, 1, 28, 28}), t = torch::rand({n});
    torch::Tensor labels = torch::tensor({0, 3, 9, 10, 10, 1}, torch::kLong);  // 10: the null class
    torch::Tensor cotangent = torch::randn({n, 1, 28, 28});
    torch::Tensor velocity = model(x, t, labels);
    (velocity * cotangent).sum().backward();

    torch::Tensor x0 = torch::rand({n, 1, 28, 28}) * 2 - 1, noise = torch::randn({n, 1, 28, 28});
    diffusion::VelocityModel wrapped{torch::nn::AnyModule(model), model->null_class()};
    double loss;
    {
      torch::NoGradGuard no_grad;
      loss = diffusion::rectified_flow_loss(wrapped, x0, noise, t, labels, "fp32").item<double>();
    }

    OracleCase oracle{"rf_dit",
                      {{"model.preset", "tiny"}, {"model.mlp", mlp}},
                      state_of(*model),
                      {{"x", x}, {"t", t}, {"labels", labels}, {"cotangent", cotangent}, {"x0", x0}, {"noise", noise}}};
    auto reference = run_reference(oracle);
    CHECK(relative_difference(velocity, reference.at("velocity")) < 1e-5);
    CHECK(loss == doctest::Approx(reference.at("loss").item<double>()).epsilon(1e-5));
    int64_t compared = 0;
    for (const auto& item : model->named_parameters()) {
      CAPTURE(item.key());
      CHECK(relative_difference(item.value().grad(), reference.at("grad." + item.key())) < 1e-4);
      ++compared;
    }
    CHECK(compared == int64_t(model->parameters().size()));
  }
}
