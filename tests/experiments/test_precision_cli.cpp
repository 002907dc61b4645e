// Gradient accumulation and bf16/fp16 autocast in the three programs, end to end.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "tests/support.hpp"

using namespace genbox::testing;

namespace {

const std::string kToyNice =
    " train data.dataset=two_moons data.toy_size=2000 model.hidden=16 model.hidden_layers=1 train.batch_size=64"
    " device.threads=1 train.log_every=1 train.eval_every=0 train.sample_every=0";

std::string tiny_dit(const TempDir& data) {
  return " train data.dataset=idx data.root=" + data.path().string() +
         " model.width=32 model.depth=1 model.heads=2 model.patch=2 train.batch_size=8 device.threads=1"
         " train.log_every=1 train.eval_every=0 train.sample_every=0";
}

double last_loss(const std::filesystem::path& run) { return metrics_of(run, "train").back()["loss"].get<double>(); }

}  // namespace

// Micro-batches of B/k whose gradients add up take the step of the whole batch: the runs differ
// only in the order of float sums, as 2 processes x B/2 do against 1 x B (test_distributed.cpp:
// the same tolerances). A mistake (a micro-batch's gradient not divided by k, one left out,
// zeroed gradients between micro-batches) moves weights by 1e-3 or more.
TEST_CASE("train.accumulate_steps = k takes the steps of the unsplit batch, up to the order of float sums") {
  TempDir data;
  write_tiny_item_set(data.path());
  struct Case {
    std::string program, keys;
    int64_t micro_batches;
    double tolerance;
  };
  for (const Case& e : {Case{"nice", kToyNice, 4, 1e-6}, Case{"rf_dit", tiny_dit(data), 2, 3e-7}}) {
    CAPTURE(e.program);
    TempDir whole, split;
    const std::string command = binary(e.program) + e.keys + " train.steps=20 run.out_dir=";
    REQUIRE(run_command(command + whole.path().string()).exit_code == 0);
    auto accumulated =
        run_command(command + split.path().string() + " train.accumulate_steps=" + std::to_string(e.micro_batches));
    INFO(accumulated.output);
    REQUIRE(accumulated.exit_code == 0);
    const auto a = only_run(whole.path(), e.program), b = only_run(split.path(), e.program);
    const double difference = model_weight_difference(a / "checkpoints/last.pt", b / "checkpoints/last.pt").first;
    MESSAGE(e.program << ": largest weight difference " << difference);
    CHECK(difference <= e.tolerance);
    // The logged loss is the mean over micro-batches: the whole batch's.
    auto x = metrics_of(a, "train"), y = metrics_of(b, "train");
    REQUIRE(x.size() == y.size());
    for (size_t i = 0; i < x.size(); ++i)
      CHECK(x[i]["loss"].get<double>() == doctest::Approx(y[i]["loss"].get<double>()).epsilon(1e-5));
  }
}

TEST_CASE("fp16 with accumulation unscales once per step: without autocast, bit for bit fp32 with accumulation") {
  TempDir fp32, fp16;
  const std::string keys = kToyNice + " train.steps=8 train.accumulate_steps=2 run.out_dir=";
  REQUIRE(run_command(binary("nice") + keys + fp32.path().string()).exit_code == 0);
  auto scaled =
      run_command("GENBOX_AUTOCAST=off " + binary("nice") + keys + fp16.path().string() + " device.precision=fp16");
  INFO(scaled.output);
  REQUIRE(scaled.exit_code == 0);
  CHECK(model_weight_difference(only_run(fp32.path(), "nice") / "checkpoints/last.pt",
                                only_run(fp16.path(), "nice") / "checkpoints/last.pt")
            .first == 0.0);
}

TEST_CASE("DETR accumulates micro-batches too, and a count that does not divide the batch is one line, exit 2") {
  TempDir out;
  const std::string detr = binary("detr") +
                           " train data.height=32 data.width=32 data.train_scenes=16 data.test_scenes=4"
                           " train.batch_size=4 model.width=16 model.heads=2 model.ffn=32 model.encoder_layers=1"
                           " model.decoder_layers=1 model.backbone_channels=[8,16] model.output_stride=4"
                           " model.num_queries=6 device.threads=1 train.steps=3 train.eval_every=0 train.log_every=1"
                           " train.sample_every=0 run.out_dir=" +
                           out.path().string();
  auto run = run_command(detr + " train.accumulate_steps=2");
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const auto rows = metrics_of(only_run(out.path(), "detr"), "train");
  REQUIRE(rows.size() == 3);
  CHECK(std::isfinite(rows.back()["loss"].get<double>()));
  CHECK(rows.back().contains("loss_giou"));

  auto bad = run_command(binary("nice") + kToyNice + " train.accumulate_steps=3 run.out_dir=" + out.path().string());
  CHECK(bad.exit_code == 2);
  CHECK(bad.output.find("train.accumulate_steps = 3 must divide each process's batch of 64") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out.path() / "nice"));
}

// Mixed precision learns: after the same steps from the same seed, the training loss of a bf16
// or fp16 run stays within a stated distance of the fp32 run's. fp16 on the CPU has no fast
// kernels (a scalar fallback), so its runs are tiny; bf16 runs at the programs' own sizes.
TEST_CASE("fp16 autocast runs of NICE and the DiT learn as fp32 does, and their scale stays put") {
  TempDir data;
  write_tiny_item_set(data.path());
  struct Case {
    std::string program, keys;
    double tolerance;  // relative, on the last logged loss
  };
  for (const Case& e :
       {Case{"nice", kToyNice + " train.steps=100", 0.01}, Case{"rf_dit", tiny_dit(data) + " train.steps=30", 0.01}}) {
    CAPTURE(e.program);
    TempDir fp32, fp16;
    REQUIRE(run_command(binary(e.program) + e.keys + " run.out_dir=" + fp32.path().string()).exit_code == 0);
    auto mixed = run_command(binary(e.program) + e.keys + " device.precision=fp16 run.out_dir=" + fp16.path().string());
    INFO(mixed.output);
    REQUIRE(mixed.exit_code == 0);
    const auto a = only_run(fp32.path(), e.program), b = only_run(fp16.path(), e.program);
    const double first = metrics_of(a, "train").front()["loss"].get<double>();
    MESSAGE(e.program << ": loss " << first << " -> fp32 " << last_loss(a) << ", fp16 " << last_loss(b));
    CHECK(last_loss(b) == doctest::Approx(last_loss(a)).epsilon(e.tolerance));
    CHECK(metrics_of(b, "train").back()["skipped_steps"].get<int64_t>() <= 1);
  }
}

TEST_CASE("bf16 runs of NICE and the DiT at their default sizes learn as fp32 does") {
  struct Case {
    std::string program, keys;
    double tolerance;  // relative, on the last logged loss
  };
  const std::string common =
      " train train.steps=30 train.log_every=1 train.eval_every=0 train.sample_every=0"
      " device.threads=2 data.train_limit=6000";
  for (const Case& e : {Case{"nice", common + " eval.limit=200", 0.01}, Case{"rf_dit", common, 0.01}}) {
    CAPTURE(e.program);
    TempDir fp32, bf16;
    REQUIRE(run_command(binary(e.program) + e.keys + " run.out_dir=" + fp32.path().string()).exit_code == 0);
    auto mixed = run_command(binary(e.program) + e.keys + " device.precision=bf16 run.out_dir=" + bf16.path().string());
    INFO(mixed.output);
    REQUIRE(mixed.exit_code == 0);
    const auto a = only_run(fp32.path(), e.program), b = only_run(bf16.path(), e.program);
    const double first = metrics_of(a, "train").front()["loss"].get<double>();
    MESSAGE(e.program << ": loss " << first << " -> fp32 " << last_loss(a) << ", bf16 " << last_loss(b));
    CHECK(last_loss(b) == doctest::Approx(last_loss(a)).epsilon(e.tolerance));
    CHECK(std::abs(last_loss(a) - first) > 10 * std::abs(last_loss(b) - last_loss(a)));  // it learned meanwhile
  }
}
