#include <doctest/doctest.h>
#include <torch/torch.h>

#include "detection/criterion.hpp"
#include "detection/model.hpp"

using namespace genbox::detection;
using torch::indexing::Slice;

namespace {
DetrOptions tiny_options() {
  DetrOptions o;
  o.num_classes = 4;
  o.num_queries = 6;
  o.width = 32;
  o.heads = 2;
  o.encoder_layers = 1;
  o.decoder_layers = 2;
  o.ffn = 64;
  o.backbone_channels = {8, 16};
  o.output_stride = 4;
  o.image_channels = 1;
  return o;
}

// Moves the batch-norm scales and running statistics off their initial values, so that the
// checks see every part of the network at work.
void randomize_norms(Detr& model) {
  torch::NoGradGuard no_grad;
  for (auto& m : model->modules(false)) {
    if (auto* norm = m->as<MaskedBatchNormImpl>()) {
      norm->weight.uniform_(0.5, 1.5);
      norm->bias.uniform_(-0.2, 0.2);
      norm->running_mean.uniform_(-0.2, 0.2);
      norm->running_var.uniform_(0.5, 2.0);
    }
  }
}

void check_close(const DetrOutput& a, const DetrOutput& b, int64_t index_a, int64_t index_b) {
  REQUIRE(a.layers() == b.layers());
  for (int64_t i = 0; i < a.layers(); ++i) {
    CHECK(torch::allclose(a.logits[i][index_a], b.logits[i][index_b], 1e-4, 1e-4));
    CHECK(torch::allclose(a.boxes[i][index_a], b.boxes[i][index_b], 1e-4, 1e-4));
  }
}
}  // namespace

TEST_CASE("DETR predicts per decoder layer, K + 1 logits and boxes in [0, 1] for every query") {
  torch::manual_seed(0);
  Detr model(tiny_options());
  torch::Tensor images = torch::rand({2, 1, 20, 28});
  DetrOutput out = model(images, torch::zeros({2, 20, 28}, torch::kBool));
  REQUIRE(out.layers() == 2);
  for (int64_t i = 0; i < 2; ++i) {
    CHECK(out.logits[i].sizes() == torch::IntArrayRef({2, 6, 5}));
    CHECK(out.boxes[i].sizes() == torch::IntArrayRef({2, 6, 4}));
    CHECK(((out.boxes[i] >= 0) & (out.boxes[i] <= 1)).all().item<bool>());
  }
  // The layers differ, and so do the queries.
  CHECK_FALSE(torch::allclose(out.logits[0], out.logits[1]));
  CHECK_FALSE(torch::allclose(out.boxes[1][0][0], out.boxes[1][0][1]));
  CHECK_THROWS_AS(model(images, torch::zeros({2, 20, 27}, torch::kBool)), std::invalid_argument);
  // A 3-channel model takes grayscale input as three equal channels.
  DetrOptions rgb = tiny_options();
  rgb.image_channels = 3;
  Detr colour(rgb);
  colour->eval();
  torch::Tensor gray = torch::rand({1, 1, 16, 16});
  torch::Tensor mask = torch::zeros({1, 16, 16}, torch::kBool);
  CHECK(torch::allclose(colour(gray, mask).final_boxes(), colour(gray.expand({-1, 3, -1, -1}), mask).final_boxes()));
}

TEST_CASE("an image's predictions do not depend on the padding or the batch around it") {
  torch::manual_seed(1);
  Detr model(tiny_options());
  randomize_norms(model);
  // Image 0 is 18 x 13 (sizes not divisible by the stride); image 1 fills the 24 x 20 canvas.
  torch::Tensor small = torch::rand({1, 1, 18, 13}), large = torch::rand({1, 1, 24, 20});
  torch::Tensor batch = torch::rand({2, 1, 24, 20}) * 5;  // noise in the padded area must not matter
  batch.index_put_({0, Slice(), Slice(0, 18), Slice(0, 13)}, small[0]);
  batch[1] = large[0];
  torch::Tensor mask = torch::zeros({2, 24, 20}, torch::kBool);
  mask.index_put_({0, Slice(18)}, true);
  mask.index_put_({0, Slice(), Slice(13)}, true);

  model->eval();
  DetrOutput batched = model(batch, mask);
  check_close(batched, model(small, torch::zeros({1, 18, 13}, torch::kBool)), 0, 0);
  check_close(batched, model(large, torch::zeros({1, 24, 20}, torch::kBool)), 1, 0);

  // In training mode the batch statistics count valid pixels only: one padded image alone
  // gives what it gives unpadded.
  model->train();
  DetrOutput padded_alone = model(batch.narrow(0, 0, 1), mask.narrow(0, 0, 1));
  check_close(padded_alone, model(small, torch::zeros({1, 18, 13}, torch::kBool)), 0, 0);
}

TEST_CASE("query groups attend only within themselves, and inference decodes group 0 alone") {
  torch::manual_seed(2);
  DetrOptions o = tiny_options();
  o.query_groups = 3;
  Detr model(o);
  REQUIRE(model->query_pos.size(0) == 18);
  torch::Tensor images = torch::rand({2, 1, 16, 16});
  torch::Tensor mask = torch::zeros({2, 16, 16}, torch::kBool);
  model->train();
  DetrOutput all = model(images, mask);
  CHECK(all.final_logits().size(1) == 18);
  {
    torch::NoGradGuard no_grad;
    model->query_pos.narrow(0, 6, 12).normal_();
    model->query_content.narrow(0, 6, 12).normal_();
  }
  DetrOutput changed = model(images, mask);
  for (int64_t i = 0; i < 2; ++i) {
    CHECK(torch::allclose(all.logits[i].narrow(1, 0, 6), changed.logits[i].narrow(1, 0, 6), 1e-5, 1e-5));
    CHECK_FALSE(torch::allclose(all.logits[i].narrow(1, 6, 12), changed.logits[i].narrow(1, 6, 12), 1e-3, 1e-3));
  }
  model->eval();
  CHECK(model(images, mask).final_logits().size(1) == 6);
}

TEST_CASE("the set loss reaches every parameter of the model") {
  torch::manual_seed(3);
  Detr model(tiny_options());
  randomize_norms(model);  // zero-initialised block scales would stop the gradient of their convolutions
  CriterionOptions co;
  co.num_classes = 4;
  SetCriterion criterion(co);
  Targets t;
  t.labels = torch::tensor({1, 3}, torch::kLong);
  t.boxes = torch::tensor({{0.3f, 0.3f, 0.2f, 0.3f}, {0.6f, 0.7f, 0.4f, 0.2f}});
  torch::Tensor images = torch::rand({2, 1, 16, 16});
  SetLosses losses = criterion(model(images, torch::zeros({2, 16, 16}, torch::kBool)), {t, t});
  losses.total.backward();
  for (const auto& p : model->named_parameters()) {
    CAPTURE(p.key());
    REQUIRE(p.value().grad().defined());
    CHECK(p.value().grad().abs().sum().item<float>() > 0);
  }
}
