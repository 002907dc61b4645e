#include <doctest/doctest.h>

#include <torch/torch.h>
#include <cmath>

#include "nn/attention.hpp"

using namespace genbox::nn;
using torch::indexing::Slice;

TEST_CASE("the reference attention formula on a hand-computed case") {
  // One query [1, 0] against keys [1, 0] and [0, 0]: logits 1/sqrt(2) and 0.
  torch::Tensor q = torch::tensor({1.0, 0.0}, torch::kFloat64).view({1, 1, 1, 2});
  torch::Tensor k = torch::tensor({1.0, 0.0, 0.0, 0.0}, torch::kFloat64).view({1, 1, 2, 2});
  torch::Tensor v = torch::tensor({2.0, 0.0, 0.0, 4.0}, torch::kFloat64).view({1, 1, 2, 2});
  double w = 1 / (1 + std::exp(-1 / std::sqrt(2.0)));
  torch::Tensor out = reference_attention(q, k, v).flatten();
  CHECK(out[0].item<double>() == doctest::Approx(2 * w));
  CHECK(out[1].item<double>() == doctest::Approx(4 * (1 - w)));
  // Masking the second key leaves all the weight on the first.
  torch::Tensor masked = reference_attention(q, k, v, torch::tensor({false, true}).view({1, 2})).flatten();
  CHECK(masked[0].item<double>() == doctest::Approx(2.0));
  CHECK(masked[1].item<double>() == doctest::Approx(0.0));
}

TEST_CASE("the SDPA path equals the reference formula, with and without a padding mask") {
  torch::manual_seed(0);
  torch::Tensor q = torch::randn({3, 2, 5, 8}), k = torch::randn({3, 2, 7, 8}), v = torch::randn({3, 2, 7, 8});
  CHECK(torch::allclose(attention(q, k, v), reference_attention(q, k, v), 1e-5, 1e-5));

  // Example b has its last 2 * b keys padded.
  torch::Tensor mask = torch::zeros({3, 7}, torch::kBool);
  mask.index_put_({1, Slice(5)}, true);
  mask.index_put_({2, Slice(3)}, true);
  torch::Tensor out = attention(q, k, v, mask);
  CHECK(torch::allclose(out, reference_attention(q, k, v, mask), 1e-5, 1e-5));
  CHECK_FALSE(torch::allclose(out, attention(q, k, v), 1e-3, 1e-3));
  // Padding means "not there": the same as attending over the kept keys only.
  for (int64_t b = 0; b < 3; ++b) {
    int64_t kept = 7 - 2 * b;
    torch::Tensor alone = attention(q[b].unsqueeze(0), k[b].unsqueeze(0).index({Slice(), Slice(), Slice(0, kept)}),
                                    v[b].unsqueeze(0).index({Slice(), Slice(), Slice(0, kept)}));
    CHECK(torch::allclose(out[b], alone[0], 1e-5, 1e-5));
  }
  // Values behind padded keys have no influence.
  torch::Tensor changed = v.clone();
  changed.index_put_({2, Slice(), Slice(3)}, 1000.0);
  CHECK(torch::allclose(attention(q, k, changed, mask), out, 1e-5, 1e-5));
}

namespace {
// Self-attention written out from the module's weights: projection, head split, the RMSNorm
// formula, the reference attention, merge and output projection.
torch::Tensor manual_self_attention(SelfAttentionImpl& m, const torch::Tensor& x) {
  int64_t b = x.size(0), t = x.size(1), d = x.size(2), h = m.heads();
  torch::Tensor qkv = torch::matmul(x, m.qkv->weight.t()) + m.qkv->bias;
  auto split = [&](int64_t i) {
    return qkv.index({Slice(), Slice(), Slice(i * d, (i + 1) * d)}).reshape({b, t, h, d / h}).transpose(1, 2);
  };
  torch::Tensor q = split(0), k = split(1), v = split(2);
  if (m.q_norm) {
    q = q / (q.square().mean(-1, true) + 1e-6).sqrt() * m.q_norm->scale;
    k = k / (k.square().mean(-1, true) + 1e-6).sqrt() * m.k_norm->scale;
  }
  torch::Tensor merged = reference_attention(q, k, v).transpose(1, 2).reshape({b, t, d});
  return torch::matmul(merged, m.proj->weight.t()) + m.proj->bias;
}
}  // namespace

TEST_CASE("self-attention matches a manual composition, with and without QK-norm") {
  torch::manual_seed(2);
  torch::Tensor x = torch::randn({2, 5, 12}, torch::kFloat64);
  for (bool qk_norm : {false, true}) {
    CAPTURE(qk_norm);
    SelfAttention m(12, 3, qk_norm);
    m->to(torch::kFloat64);
    CHECK(static_cast<bool>(m->q_norm) == qk_norm);
    if (qk_norm) {
      torch::NoGradGuard no_grad;
      m->q_norm->scale.uniform_(0.5, 2.0);
      m->k_norm->scale.uniform_(0.5, 2.0);
    }
    CHECK(torch::allclose(m(x), manual_self_attention(*m, x), 1e-9, 1e-9));
  }
  CHECK_THROWS_AS(SelfAttention(10, 3, true), std::invalid_argument);
}

TEST_CASE("self-attention with QK-norm ignores the scale of the query and key projections") {
  // Without the norm, scaling Wq and Wk by 10 multiplies the logits by 100 and saturates the
  // softmax; with it, q and k are renormalised and the output does not change.
  torch::manual_seed(3);
  torch::Tensor x = torch::randn({2, 4, 8}, torch::kFloat64);
  for (bool qk_norm : {true, false}) {
    CAPTURE(qk_norm);
    SelfAttention m(8, 2, qk_norm);
    m->to(torch::kFloat64);
    torch::Tensor before = m(x);
    {
      torch::NoGradGuard no_grad;
      m->qkv->weight.index({Slice(0, 16)}).mul_(10);
      m->qkv->bias.index({Slice(0, 16)}).mul_(10);
    }
    CHECK(torch::allclose(m(x), before, 1e-5, 1e-5) == qk_norm);
  }
}

TEST_CASE("the DiT's and DETR's attention shapes get the flash kernel on the CPU, in fp32 and bf16") {
  struct Site {
    const char* name;
    std::vector<int64_t> q, k;
    bool masked;
  };
  const std::vector<Site> sites = {
      {"DiT tiny, 28x28 patch 4", {64, 2, 49, 32}, {64, 2, 49, 32}, false},
      {"DiT-S/2 at 32x32", {32, 6, 256, 64}, {32, 6, 256, 64}, false},
      {"DETR encoder, padded images", {4, 2, 64, 8}, {4, 2, 64, 8}, true},
      {"DETR decoder self-attention", {4, 2, 6, 8}, {4, 2, 6, 8}, false},
      {"DETR cross-attention, padded memory", {4, 8, 100, 32}, {4, 8, 64, 32}, true},
  };
  for (const auto dtype : {torch::kFloat, torch::kBFloat16}) {
    for (const Site& site : sites) {
      CAPTURE(site.name);
      CAPTURE(c10::toString(dtype));
      const torch::Tensor q = torch::randn(site.q).to(dtype), k = torch::randn(site.k).to(dtype);
      torch::Tensor padding;
      if (site.masked) {
        padding = torch::zeros({site.k[0], site.k[2]}, torch::kBool);
        padding.narrow(1, site.k[2] - 5, 5).fill_(true);
      }
      CHECK(genbox::nn::attention_backend(q, k, k, padding) == "flash_attention");
    }
  }
}

TEST_CASE("the backend log records every attention call by shape while it is alive, one log at a time") {
  genbox::nn::SelfAttention layer(16, 2, true);
  const torch::Tensor x = torch::randn({3, 5, 16});
  torch::Tensor padding = torch::zeros({3, 5}, torch::kBool);
  padding[0][4] = true;
  {
    genbox::nn::AttentionBackendLog log;
    CHECK_THROWS_AS(genbox::nn::AttentionBackendLog(), std::logic_error);
    layer->forward(x);
    layer->forward(x, padding);
    const auto entries = log.entries();
    REQUIRE(entries.size() == 2);
    CHECK(entries.at("[3, 2, 5, 8] x [3, 2, 5, 8] Float cpu") == "flash_attention");
    CHECK(entries.at("[3, 2, 5, 8] x [3, 2, 5, 8] Float cpu masked") == "flash_attention");
  }
  const auto of_one_call = genbox::nn::attention_backends_of([&] { layer->forward(x); });  // the first is gone
  CHECK(of_one_call ==
        std::map<std::string, std::string>{{"[3, 2, 5, 8] x [3, 2, 5, 8] Float cpu", "flash_attention"}});
}
