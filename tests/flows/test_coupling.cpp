#include <doctest/doctest.h>

#include <torch/torch.h>
#include <functional>

#include "flows/coupling.hpp"
#include "flows/nice.hpp"

using namespace genbox::flows;

namespace {
// log|det J| of f at each row of x, from the full autograd Jacobian (one backward per output).
torch::Tensor autograd_logdet(const std::function<FlowResult(const torch::Tensor&)>& f, const torch::Tensor& x) {
  std::vector<torch::Tensor> out;
  for (int64_t b = 0; b < x.size(0); ++b) {
    torch::Tensor row = x[b].unsqueeze(0).clone().requires_grad_(true);
    torch::Tensor y = f(row).first[0];
    std::vector<torch::Tensor> rows;
    for (int64_t i = 0; i < y.size(0); ++i)
      rows.push_back(torch::autograd::grad({y[i]}, {row}, {}, /*retain_graph=*/true)[0][0]);
    out.push_back(std::get<1>(torch::linalg_slogdet(torch::stack(rows))));
  }
  return torch::stack(out);
}

// Moves every parameter away from its initialisation so no layer is trivially the identity.
void randomize(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters()) p.normal_(0, 0.5);
}
}  // namespace

TEST_CASE("additive coupling: inverse undoes forward and leaves the kept half alone") {
  torch::manual_seed(0);
  AdditiveCoupling layer(7, 1, 16, 2);
  randomize(*layer);
  torch::Tensor x = torch::randn({5, 7});
  auto [y, logdet] = layer->forward(x);
  CHECK(torch::equal(y.index({torch::indexing::Slice(), torch::tensor({1, 3, 5})}),
                     x.index({torch::indexing::Slice(), torch::tensor({1, 3, 5})})));
  CHECK_FALSE(torch::allclose(y, x));
  auto [back, inverse_logdet] = layer->inverse(y);
  CHECK(torch::allclose(back, x, 0, 1e-5));
  CHECK(torch::equal(logdet, torch::zeros({5})));
  CHECK(torch::equal(inverse_logdet, torch::zeros({5})));
}

TEST_CASE("the logdet of each layer matches the autograd Jacobian") {
  torch::manual_seed(1);
  torch::Tensor x = torch::randn({3, 6}, torch::kFloat64);
  AdditiveCoupling coupling(6, 0, 8, 1);
  DiagonalScaling scaling(6);
  NiceOptions options;
  options.dim = 6;
  options.hidden = 8;
  options.hidden_layers = 2;
  Nice nice(options);
  for (torch::nn::Module* m : std::initializer_list<torch::nn::Module*>{coupling.get(), scaling.get(), nice.get()}) {
    m->to(torch::kFloat64);
    randomize(*m);
  }
  auto check = [&](auto&& forward, auto&& inverse) {
    torch::Tensor expected = autograd_logdet(forward, x);
    auto [y, logdet] = forward(x);
    CHECK(torch::allclose(logdet, expected, 1e-9, 1e-9));
    auto [back, inverse_logdet] = inverse(y);
    CHECK(torch::allclose(inverse_logdet, autograd_logdet(inverse, y), 1e-9, 1e-9));
    CHECK(torch::allclose(back, x, 0, 1e-9));
  };
  check([&](const torch::Tensor& t) { return coupling->forward(t); },
        [&](const torch::Tensor& t) { return coupling->inverse(t); });
  check([&](const torch::Tensor& t) { return scaling->forward(t); },
        [&](const torch::Tensor& t) { return scaling->inverse(t); });
  check([&](const torch::Tensor& t) { return nice->forward(t); },
        [&](const torch::Tensor& t) { return nice->inverse(t); });
}
