#include <doctest/doctest.h>

#include <torch/torch.h>
#include <functional>

#include "base/errors.hpp"
#include "common/checkpoint.hpp"
#include "tests/support.hpp"

using namespace genbox;
using genbox::testing::data_error_of;
using genbox::testing::TempDir;

namespace {
// Steps of Adam on random data, with the EMA following: every kind of state a checkpoint holds.
void train_steps(torch::nn::Linear& model, torch::optim::Optimizer& optimizer, Ema& ema, int steps) {
  for (int i = 0; i < steps; ++i) {
    optimizer.zero_grad();
    model->forward(torch::randn({8, 4})).square().mean().backward();
    optimizer.step();
    ema.update(*model);
  }
}
}  // namespace

TEST_CASE("a checkpoint restores weights, EMA, optimizer state and training position") {
  TempDir dir;
  torch::manual_seed(1);
  torch::nn::Linear model(4, 3);
  OptimSettings s;
  auto optimizer = make_optimizer(*model, s);
  Ema ema(*model, 0.9);
  train_steps(model, *optimizer, ema, 3);
  save_checkpoint(dir / "c.pt", *model, &ema, optimizer.get(), {3, 17, 1.5});

  torch::manual_seed(2);
  torch::nn::Linear restored(4, 3);
  auto restored_optimizer = make_optimizer(*restored, s);
  Ema restored_ema(*restored, 0.9);
  TrainingState state = load_checkpoint(dir / "c.pt", *restored, &restored_ema, restored_optimizer.get(), false);
  CHECK(state.step == 3);
  CHECK(state.sampler_position == 17);
  CHECK(state.best_metric == 1.5);
  CHECK(torch::equal(restored->weight, model->weight));
  CHECK(torch::equal(restored_ema.named_tensors()[0].second, ema.named_tensors()[0].second));
  CHECK(restored_ema.updates() == 3);

  // One more identical step on both must give identical weights: the Adam moments came back.
  torch::Tensor x = torch::randn({8, 4});
  auto step = [&](torch::nn::Linear& m, torch::optim::Optimizer& opt) {
    opt.zero_grad();
    m->forward(x).square().mean().backward();
    opt.step();
  };
  step(model, *optimizer);
  step(restored, *restored_optimizer);
  CHECK(torch::equal(restored->weight, model->weight));
}

TEST_CASE("the RNG state comes back with restore_rng") {
  TempDir dir;
  torch::nn::Linear model(2, 2);
  torch::manual_seed(5);
  save_checkpoint(dir / "c.pt", *model, nullptr, nullptr, {});
  torch::Tensor expected = torch::rand({4});
  torch::rand({100});
  load_checkpoint(dir / "c.pt", *model, nullptr, nullptr, true);
  CHECK(torch::equal(torch::rand({4}), expected));
}

TEST_CASE("a checkpoint of another shape names the first mismatching tensor") {
  TempDir dir;
  torch::nn::Linear small(4, 3), large(5, 3);
  save_checkpoint(dir / "c.pt", *small, nullptr, nullptr, {});
  CHECK(data_error_of([&] { load_weights(dir / "c.pt", *large, false); }) ==
        (dir / "c.pt").string() + ": tensor 'model/weight' has shape 3x4 in the file but 3x5 in the model");
}

TEST_CASE("a corrupt or missing checkpoint is a DataError naming the file") {
  TempDir dir;
  torch::nn::Linear model(2, 2);
  genbox::testing::write_text(dir / "bad.pt", "garbage");
  CHECK(data_error_of([&] {
          load_weights(dir / "bad.pt", *model, false);
        }).rfind((dir / "bad.pt").string() + ": not a readable checkpoint", 0) == 0);
  CHECK(data_error_of([&] { load_weights(dir / "none.pt", *model, false); }) ==
        (dir / "none.pt").string() + ": no such checkpoint");
}

TEST_CASE("the keeper keeps last, best and the newest numbered checkpoints") {
  TempDir dir;
  torch::nn::Linear model(2, 2);
  CheckpointKeeper keeper(dir.path(), 2);
  for (int64_t step : {10, 20, 30}) keeper.save(*model, nullptr, nullptr, {step, 0, 0});
  keeper.mark_best();
  CHECK(std::filesystem::exists(dir / "last.pt"));
  CHECK(std::filesystem::exists(dir / "best.pt"));
  CHECK_FALSE(std::filesystem::exists(dir / "step_0000010.pt"));
  CHECK(std::filesystem::exists(dir / "step_0000020.pt"));
  CHECK(std::filesystem::exists(dir / "step_0000030.pt"));
}

TEST_CASE("a flipped byte in any kind of entry is refused, naming the file and the entry") {
  TempDir dir;
  torch::manual_seed(3);
  torch::nn::Linear model(4, 3);
  OptimSettings settings;
  auto optimizer = make_optimizer(*model, settings);
  Ema ema(*model, 0.9);
  train_steps(model, *optimizer, ema, 2);
  save_checkpoint(dir / "c.pt", *model, &ema, optimizer.get(), {123456789, 987654321, 0.25});
  const auto tensors = genbox::testing::all_checkpoint_tensors(dir / "c.pt");
  auto first_under = [&](const std::string& prefix) {
    for (const auto& [key, tensor] : tensors)
      if (key.rfind(prefix, 0) == 0 && tensor.numel() > 1) return tensor;
    FAIL("no tensor under " << prefix);
    return torch::Tensor();
  };
  const std::vector<std::pair<std::string, genbox::testing::CheckpointRecord>> cases = {
      {"model weights", genbox::testing::record_holding(dir / "c.pt", first_under("model/"))},
      {"EMA weights", genbox::testing::record_holding(dir / "c.pt", first_under("ema/"))},
      {"optimizer state", genbox::testing::record_holding(dir / "c.pt", first_under("optimizer/"))},
      {"step counter", genbox::testing::record_holding(dir / "c.pt", tensors.at("step"))},
      {"sampler position", genbox::testing::record_holding(dir / "c.pt", tensors.at("sampler_position"))},
      {"RNG state", genbox::testing::record_holding(dir / "c.pt", tensors.at("rng/0"))},
      {"pickled records", genbox::testing::record_named(dir / "c.pt", "data.pkl")},
  };
  for (const auto& [what, record] : cases) {
    CAPTURE(what);
    std::filesystem::copy_file(dir / "c.pt", dir / "d.pt", std::filesystem::copy_options::overwrite_existing);
    genbox::testing::flip_in_record(dir / "d.pt", record, record.size / 2);
    const std::string expected = (dir / "d.pt").string() + ": damaged: entry 'archive/" + record.name + "'";
    torch::nn::Linear restored(4, 3);
    auto restored_optimizer = make_optimizer(*restored, settings);
    Ema restored_ema(*restored, 0.9);
    CHECK(data_error_of([&] {
            load_checkpoint(dir / "d.pt", *restored, &restored_ema, restored_optimizer.get(), true);
          }).rfind(expected, 0) == 0);
    CHECK(data_error_of([&] { load_weights(dir / "d.pt", *restored, true); }).rfind(expected, 0) == 0);
  }
  torch::nn::Linear restored(4, 3);
  CHECK(load_weights(dir / "c.pt", *restored, false) == false);
  CHECK(torch::equal(restored->weight, model->weight));
}

TEST_CASE("weights that are not finite cannot be loaded for evaluation") {
  TempDir dir;
  torch::nn::Linear model(4, 3);
  {
    torch::NoGradGuard no_grad;
    model->bias[1] = std::numeric_limits<float>::quiet_NaN();
  }
  save_checkpoint(dir / "nan.pt", *model, nullptr, nullptr, {1, 0, 0.5});
  torch::nn::Linear restored(4, 3);
  CHECK_THROWS_WITH_AS(load_weights(dir / "nan.pt", *restored, false), doctest::Contains("weight 'bias' is not finite"),
                       DataError);
}
