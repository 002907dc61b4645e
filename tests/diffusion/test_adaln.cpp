#include <doctest/doctest.h>

#include <torch/torch.h>

#include "diffusion/adaln.hpp"

using namespace genbox::diffusion;

namespace {

struct Leaves {
  torch::Tensor x, per_image, y;
};

// x [5, 7, 13], per-image [5, 13] taken as a column chunk of a wider tensor (strided, as the
// DiT's modulation chunks are), y [5, 7, 13]; the same values in float64 and float32.
Leaves leaves(torch::ScalarType dtype) {
  torch::manual_seed(3);
  torch::Tensor x = torch::randn({5, 7, 13}, torch::kFloat64);
  torch::Tensor wide = torch::randn({5, 3 * 13}, torch::kFloat64);
  torch::Tensor y = torch::randn({5, 7, 13}, torch::kFloat64);
  Leaves l{x.to(dtype).requires_grad_(true), wide.to(dtype).requires_grad_(true), y.to(dtype).requires_grad_(true)};
  return l;
}

// Output and every input gradient of f under a fixed random output weighting.
std::vector<torch::Tensor> run(const Leaves& l, const std::function<torch::Tensor(const Leaves&)>& f) {
  torch::Tensor out = f(l);
  torch::manual_seed(11);
  torch::Tensor weights = torch::randn(out.sizes(), torch::kFloat64).to(out.scalar_type());
  (out * weights).sum().backward();
  return {out.detach(), l.x.grad(), l.per_image.grad(), l.y.grad().defined() ? l.y.grad() : torch::zeros({1})};
}

void check_close(const std::vector<torch::Tensor>& got, const std::vector<torch::Tensor>& expected) {
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].sizes() == expected[i].sizes());
    // Float32 against float64: one rounding per product, sums over 7 tokens.
    CHECK(torch::allclose(got[i].to(torch::kFloat64), expected[i], 1e-5, 1e-5));
  }
}

}  // namespace

TEST_CASE("fused modulate and its gradients match addcmul in float64, on two threads") {
  const int previous_threads = at::get_num_threads();
  at::set_num_threads(2);
  auto f = [](const Leaves& l) {
    auto m = l.per_image.chunk(3, 1);
    return modulate(l.x, m[0], m[1]) * l.y;  // y only to give the output a non-uniform gradient
  };
  auto reference = [](const Leaves& l) {
    auto m = l.per_image.chunk(3, 1);
    return modulate_by_addcmul(l.x, m[0], m[1]) * l.y;
  };
  check_close(run(leaves(torch::kFloat32), f), run(leaves(torch::kFloat64), reference));
  // Float64 takes the addcmul path itself.
  check_close(run(leaves(torch::kFloat64), f), run(leaves(torch::kFloat64), reference));
  at::set_num_threads(previous_threads);
}

TEST_CASE("fused gated residual and its gradients match addcmul in float64, on two threads") {
  const int previous_threads = at::get_num_threads();
  at::set_num_threads(2);
  auto f = [](const Leaves& l) {
    auto m = l.per_image.chunk(3, 1);
    return gated_residual(l.x, m[2], l.y).square();
  };
  auto reference = [](const Leaves& l) {
    auto m = l.per_image.chunk(3, 1);
    return gated_residual_by_addcmul(l.x, m[2], l.y).square();
  };
  check_close(run(leaves(torch::kFloat32), f), run(leaves(torch::kFloat64), reference));
  at::set_num_threads(previous_threads);
}

TEST_CASE("the fused maps compute the closed forms on a hand-sized case") {
  torch::Tensor x = torch::tensor({{{1.0f, 2.0f}, {3.0f, 4.0f}}});  // [1, 2, 2]
  torch::Tensor shift = torch::tensor({{0.5f, -1.0f}}), scale = torch::tensor({{1.0f, -0.5f}});
  CHECK(torch::equal(modulate(x, shift, scale), torch::tensor({{{2.5f, 0.0f}, {6.5f, 1.0f}}})));
  torch::Tensor gate = torch::tensor({{2.0f, 0.0f}}), y = torch::tensor({{{1.0f, 1.0f}, {-1.0f, 5.0f}}});
  CHECK(torch::equal(gated_residual(x, gate, y), torch::tensor({{{3.0f, 2.0f}, {1.0f, 4.0f}}})));
}

// The one-pass inference form against the layer norm and modulation done in float64 ATen ops, at
// a width of whole AVX2 steps (64) and one with none (13), with strided per-image chunks.
TEST_CASE("norm_modulate without gradients equals the layer norm and modulation in float64") {
  for (int64_t C : {64, 13}) {
    CAPTURE(C);
    torch::manual_seed(5);
    const torch::Tensor x = torch::randn({3, 9, C}) * 4 + 1.5;
    const std::vector<torch::Tensor> m = torch::randn({3, 2 * C}).chunk(2, 1);
    const torch::Tensor x64 = x.to(torch::kFloat64);
    const torch::Tensor exact =
        torch::layer_norm(x64, {C}, {}, {}, 1e-6) * (1 + m[1].to(torch::kFloat64).unsqueeze(1)) +
        m[0].to(torch::kFloat64).unsqueeze(1);
    torch::NoGradGuard no_grad;
    const torch::Tensor fused = norm_modulate(x, m[0], m[1]);
    CHECK(torch::allclose(fused.to(torch::kFloat64), exact, 1e-5, 1e-5));
    CHECK(torch::allclose(fused, norm_modulate_by_ops(x, m[0], m[1]), 1e-5, 1e-5));
  }
  // With a gradient wanted it is the ops, bit for bit, and the gradient flows.
  const torch::Tensor x = torch::randn({2, 4, 16}).requires_grad_(true);
  const torch::Tensor shift = torch::randn({2, 16}), scale = torch::randn({2, 16});
  const torch::Tensor y = norm_modulate(x, shift, scale);
  CHECK(torch::equal(y, norm_modulate_by_ops(x, shift, scale)));
  y.sum().backward();
  CHECK(x.grad().defined());
}
