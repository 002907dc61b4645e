// genbox's NICE against the PyTorch reference in bench/reference/nice.py, loaded with the same
// weights: the two are written independently (halves kept apart here, strided views there; a
// fused logistic density here, two softplus terms there), so agreement checks both.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include "flows/nice.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {

// The largest difference relative to the reference's largest magnitude: float32 sums over 784
// dimensions and a batch in different orders differ by a few units in the 7th digit.
double relative_difference(const torch::Tensor& ours, const torch::Tensor& reference) {
  return (ours - reference).abs().max().item<double>() / std::max(reference.abs().max().item<double>(), 1e-30);
}

}  // namespace

TEST_CASE("NICE's log-density, inverse and gradients equal the PyTorch reference's") {
  if (reference_python().empty()) {
    MESSAGE("skipped: no venv Python with torch and scipy (scripts/setup installs them)");
    return;
  }
  for (const char* prior : {"logistic", "gaussian"}) {
    CAPTURE(prior);
    torch::manual_seed(11);
    flows::NiceOptions options;
    options.prior = prior;
    options.hidden = 64;
    flows::Nice model(options);
    {
      torch::NoGradGuard no_grad;
      model->named_parameters()["scaling.log_scale"].uniform_(-0.5, 0.5);
    }
    torch::Tensor x = torch::rand({16, 784});
    auto [z, logdet] = model->forward(x);
    auto [x_back, inverse_logdet] = model->inverse(z.detach());
    torch::Tensor log_prob = model->log_prob(x);
    (-log_prob.mean()).backward();

    OracleCase oracle{"nice", {{"model.prior", prior}, {"model.hidden", int64_t(64)}}, state_of(*model), {{"x", x}}};
    auto reference = run_reference(oracle);
    CHECK(relative_difference(z, reference.at("z")) < 1e-5);
    CHECK(relative_difference(logdet, reference.at("logdet")) < 1e-6);
    CHECK(relative_difference(log_prob, reference.at("log_prob")) < 1e-5);
    CHECK(relative_difference(x_back, reference.at("inverse")) < 1e-5);
    CHECK(relative_difference(inverse_logdet, reference.at("inverse_logdet")) < 1e-6);
    // The inverse really inverts, on both sides (not two copies of the same mistake).
    CHECK((x_back - x).abs().max().item<double>() < 1e-4);
    int64_t compared = 0;
    for (const auto& item : model->named_parameters()) {
      CAPTURE(item.key());
      CHECK(relative_difference(item.value().grad(), reference.at("grad." + item.key())) < 1e-4);
      ++compared;
    }
    CHECK(compared == 4 * 8 + 1);
  }
}
