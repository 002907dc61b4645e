#include <doctest/doctest.h>

#include <torch/torch.h>

#include "common/device.hpp"
#include "diffusion/dit.hpp"
#include "diffusion/velocity_mlp.hpp"
#include "nn/position.hpp"

using namespace genbox::diffusion;
using torch::indexing::Slice;

namespace {
void randomize(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters()) p.normal_(0, 0.3);
}

DitOptions small_options() {
  DitOptions o;
  o.image_size = 8;
  o.channels = 2;
  o.patch = 2;
  o.width = 16;
  o.depth = 2;
  o.heads = 2;
  o.num_classes = 3;
  return o;
}
}  // namespace

TEST_CASE("patchify lays out each patch as (row, column, channel) and unpatchify undoes it") {
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({2, 3, 8, 12});
  torch::Tensor tokens = patchify(x, 4);
  REQUIRE(tokens.sizes() == torch::IntArrayRef({2, 6, 48}));
  // Token 5 is patch row 1, patch column 2.
  for (int64_t a = 0; a < 4; ++a)
    for (int64_t b = 0; b < 4; ++b)
      for (int64_t c = 0; c < 3; ++c)
        CHECK(tokens[1][5][(a * 4 + b) * 3 + c].item<float>() == x[1][c][4 + a][8 + b].item<float>());
  CHECK(torch::equal(unpatchify(tokens, 4, 3, 8, 12), x));
  CHECK(torch::equal(patchify(unpatchify(tokens, 4, 3, 8, 12), 4), tokens));
  CHECK_THROWS_AS(patchify(x, 5), std::invalid_argument);
}

TEST_CASE("the patch embedding equals a strided convolution with the same weights") {
  torch::manual_seed(1);
  Dit dit(small_options());
  torch::Tensor x = torch::randn({2, 2, 8, 8});
  torch::Tensor w = dit->patch_embedding->weight.view({16, 2, 2, 2}).permute({0, 3, 1, 2});
  torch::Tensor conv = torch::conv2d(x, w, dit->patch_embedding->bias, 2).flatten(2).transpose(1, 2);
  CHECK(torch::allclose(dit->patch_embedding(patchify(x, 2)), conv, 1e-5, 1e-5));
}

TEST_CASE("a fresh adaLN-Zero block is the identity; a trained one is not") {
  torch::manual_seed(2);
  DitBlock block(16, 4, 64, "gelu_tanh", true);
  torch::Tensor x = torch::randn({3, 5, 16}), c = torch::randn({3, 16});
  CHECK(torch::equal(block(x, c), x));
  randomize(*block->modulation);
  CHECK_FALSE(torch::allclose(block(x, c), x, 1e-3, 1e-3));
}

TEST_CASE("a fresh DiT predicts zero; once its zero-initialised maps move, t and labels matter") {
  torch::manual_seed(3);
  DitOptions o = small_options();
  Dit dit(o);
  CHECK(dit->null_class() == 3);
  torch::Tensor x = torch::randn({4, 2, 8, 8});
  torch::Tensor t = torch::tensor({0.1f, 0.4f, 0.7f, 1.0f});
  torch::Tensor labels = torch::tensor({0, 1, 2, 3}, torch::kLong);
  torch::Tensor v = dit(x, t, labels);
  REQUIRE(v.sizes() == x.sizes());
  CHECK(torch::equal(v, torch::zeros_like(x)));

  for (const auto& block : *dit->blocks) randomize(*block->as<DitBlockImpl>()->modulation);
  randomize(*dit->final_layer);
  torch::Tensor moved = dit(x, t, labels);
  CHECK(moved.abs().max().item<float>() > 1e-2f);
  CHECK_FALSE(torch::allclose(dit(x, t.flip(0), labels), moved, 1e-4, 1e-4));
  CHECK_FALSE(torch::allclose(dit(x, t, labels.flip(0)), moved, 1e-4, 1e-4));
  // Examples are independent: the first example alone gives the same answer.
  CHECK(torch::allclose(dit(x.narrow(0, 0, 1), t.narrow(0, 0, 1), labels.narrow(0, 0, 1)), moved.narrow(0, 0, 1), 1e-5,
                        1e-5));
}

TEST_CASE("the DiT position embedding is the fixed 2D sin-cos table, not a parameter") {
  Dit dit(small_options());
  for (const auto& p : dit->named_parameters()) CHECK(p.key().find("position") == std::string::npos);
  torch::Tensor buffer = dit->named_buffers()["position_embedding"];
  CHECK(torch::equal(buffer[0], genbox::nn::sincos_2d(16, 4, 4)));
}

TEST_CASE("the conditioning vector embeds 1000 t and the label, with an extra null row") {
  torch::manual_seed(4);
  Conditioning cond(8, 5);
  CHECK(cond->null_class() == 5);
  CHECK(cond->class_embedding->weight.size(0) == 6);
  torch::Tensor t = torch::tensor({0.25f, 0.5f});
  torch::Tensor labels = torch::tensor({5, 2}, torch::kLong);
  torch::Tensor expected = cond->time_mlp->forward(genbox::nn::timestep_embedding(t * 1000, 256)) +
                           cond->class_embedding->weight.index({labels});
  CHECK(torch::allclose(cond(t, labels), expected, 1e-6, 1e-6));
  // Timesteps a tenth apart get clearly different embeddings; on the unscaled [0, 1] they would not.
  torch::Tensor near = torch::tensor({0.5f, 0.6f});
  auto similarity = [](const torch::Tensor& e) { return torch::cosine_similarity(e[0], e[1], 0).item<float>(); };
  CHECK(similarity(genbox::nn::timestep_embedding(near * 1000, 256)) < 0.9f);
  CHECK(similarity(genbox::nn::timestep_embedding(near, 256)) > 0.99f);
  Conditioning unconditional(8, 0);
  CHECK(unconditional(t, torch::zeros({2}, torch::kLong)).sizes() == torch::IntArrayRef({2, 8}));
}

TEST_CASE("DiT presets, options and validation") {
  DitOptions small = dit_preset("small"), base = dit_preset("base"), tiny = dit_preset("tiny");
  CHECK(small.width == 384);
  CHECK(small.depth == 12);
  CHECK(small.heads == 6);
  CHECK(base.width == 768);
  CHECK(base.heads == 12);
  CHECK(tiny.width < small.width);
  CHECK_THROWS_AS(dit_preset("huge"), std::invalid_argument);

  DitOptions swiglu = small_options();
  swiglu.mlp = "swiglu";
  swiglu.qk_norm = false;
  Dit dit(swiglu);
  auto* block = (*dit->blocks)[0]->as<DitBlockImpl>();
  CHECK(block->mlp->fc2->weight.size(1) == 2 * 4 * 16 / 3);
  CHECK_FALSE(block->attention->q_norm);
  CHECK(dit(torch::zeros({1, 2, 8, 8}), torch::ones({1}), torch::zeros({1}, torch::kLong)).sizes() ==
        torch::IntArrayRef({1, 2, 8, 8}));

  DitOptions bad = small_options();
  bad.heads = 3;
  CHECK_THROWS_AS(Dit{bad}, std::invalid_argument);
  bad = small_options();
  bad.patch = 3;
  CHECK_THROWS_AS(Dit{bad}, std::invalid_argument);
}

TEST_CASE("the velocity MLP maps [B, dim] to [B, dim] and listens to t and labels") {
  torch::manual_seed(5);
  VelocityMlp mlp(2, 32, 3, 4);
  CHECK(mlp->null_class() == 4);
  CHECK(mlp->hidden_layers->size() == 3);
  torch::Tensor x = torch::randn({5, 2});
  torch::Tensor t = torch::rand({5});
  torch::Tensor labels = torch::tensor({0, 1, 2, 3, 4}, torch::kLong);
  torch::Tensor v = mlp(x, t, labels);
  REQUIRE(v.sizes() == x.sizes());
  CHECK_FALSE(torch::allclose(mlp(x, 1 - t, labels), v, 1e-4, 1e-4));
  CHECK_FALSE(torch::allclose(mlp(x, t, labels.flip(0)), v, 1e-4, 1e-4));
  CHECK_THROWS_AS(VelocityMlp(2, 8, 0, 1), std::invalid_argument);
}

TEST_CASE("under bf16 autocast the timestep embedding stays fp32: only the conditioning's MLP computes in bf16") {
  torch::manual_seed(6);
  Conditioning cond(8, 5);
  // 500 and 501 are one bf16 step apart at most: embedded from bf16 they would be alike.
  const torch::Tensor t = torch::tensor({0.5f, 0.501f});
  const torch::Tensor labels = torch::tensor({1, 1}, torch::kLong);
  const torch::Tensor frequencies = genbox::nn::timestep_embedding(t * 1000, 256);
  genbox::AutocastGuard autocast("bf16", torch::kCPU);
  const torch::Tensor c = cond(t, labels);
  CHECK(torch::equal(c, cond->time_mlp->forward(frequencies) + cond->class_embedding(labels)));
  CHECK_FALSE(torch::equal(c[0], c[1]));
  const torch::Tensor rounded = genbox::nn::timestep_embedding((t * 1000).to(torch::kBFloat16), 256);
  CHECK(torch::equal(rounded[0], rounded[1]));
}
