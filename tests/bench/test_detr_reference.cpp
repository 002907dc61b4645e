// genbox's DETR against the PyTorch reference in bench/reference/detr.py with the same weights:
// every decoder layer's logits and boxes (batch statistics, padding masks), the matching the
// reference finds with scipy, the set loss with its auxiliary layers, the running statistics and
// every parameter's gradient.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include "detection/criterion.hpp"
#include "detection/model.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::detection;
using namespace genbox::testing;

namespace {

// Float32 on both sides, summed in different orders through a ResNet, a transformer and the
// loss: about 4e-7 relative on the logits and up to 1e-5 on a gradient here; the bounds leave
// ten times that.
double relative_difference(const torch::Tensor& ours, const torch::Tensor& reference) {
  return (ours - reference).abs().max().item<double>() / std::max(reference.abs().max().item<double>(), 1e-30);
}

}  // namespace

TEST_CASE("DETR's predictions, matching, set loss and gradients equal the PyTorch reference's") {
  if (reference_python().empty()) {
    MESSAGE("skipped: no venv Python with torch and scipy (scripts/setup installs them)");
    return;
  }
  torch::manual_seed(8);
  DetrOptions options;
  Detr model(options);
  model->train();
  {
    // The last batch norm of each block and the box head start in special places; move them.
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.02);
  }
  const int64_t n = 4;
  torch::Tensor images = torch::rand({n, 3, 64, 64});
  torch::Tensor padding = torch::zeros({n, 64, 64}, torch::kBool);
  padding[1].narrow(1, 40, 24).fill_(true);  // image 1 is 64 x 40, image 3 48 x 64
  padding[3].narrow(0, 48, 16).fill_(true);
  images.masked_fill_(padding.unsqueeze(1), 0);

  std::vector<Targets> targets;
  std::vector<int64_t> counts = {3, 1, 5, 2};
  torch::Tensor labels = torch::zeros({n, 5}, torch::kLong), boxes = torch::full({n, 5, 4}, 0.5);
  for (int64_t b = 0; b < n; ++b) {
    Targets t;
    t.labels = torch::randint(0, options.num_classes, {counts[b]}, torch::kLong);
    torch::Tensor size = torch::rand({counts[b], 2}) * 0.3 + 0.1;
    t.boxes = torch::cat({size / 2 + torch::rand({counts[b], 2}) * (1 - size), size}, 1);
    labels[b].narrow(0, 0, counts[b]).copy_(t.labels);
    boxes[b].narrow(0, 0, counts[b]).copy_(t.boxes);
    targets.push_back(t);
  }
  auto initial_state = state_of(*model);

  DetrOutput output = model(images, padding);
  CriterionOptions criterion_options;
  SetLosses losses = SetCriterion(criterion_options)(output, targets, {});
  losses.total.backward();

  OracleCase oracle{"detr",
                    {},
                    initial_state,
                    {{"images", images},
                     {"padding_mask", padding},
                     {"labels", labels},
                     {"boxes", boxes},
                     {"counts", torch::tensor(counts, torch::kLong)}}};
  auto reference = run_reference(oracle);
  CHECK(relative_difference(torch::stack(output.logits), reference.at("logits")) < 1e-5);
  CHECK(relative_difference(torch::stack(output.boxes), reference.at("boxes")) < 1e-5);
  for (const auto& [name, value] : losses.named()) {
    CAPTURE(name);
    CHECK(value.item<double>() == doctest::Approx(reference.at(name).item<double>()).epsilon(1e-5));
  }
  // The running statistics moved the same way.
  for (const auto& item : model->named_buffers()) {
    CAPTURE(item.key());
    CHECK(relative_difference(item.value(), reference.at("buffer." + item.key())) < 1e-4);
  }
  int64_t compared = 0;
  for (const auto& item : model->named_parameters()) {
    CAPTURE(item.key());
    const torch::Tensor& ours = item.value().grad();
    const torch::Tensor& theirs = reference.at("grad." + item.key());
    if (item.key().size() > 6 && item.key().compare(item.key().size() - 6, 6, "k.bias") == 0) {
      // A key bias adds the same amount to every score of a query, which the softmax ignores:
      // its gradient is zero up to rounding, on both sides.
      CHECK(ours.abs().max().item<double>() < 1e-5);
      CHECK(theirs.abs().max().item<double>() < 1e-5);
    } else {
      CHECK(relative_difference(ours, theirs) < 1e-4);
    }
    ++compared;
  }
  CHECK(compared == int64_t(model->parameters().size()));
}
