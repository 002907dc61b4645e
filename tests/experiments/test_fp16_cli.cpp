// fp16's dynamic loss scaling in the training loop, end to end. With the test hook
// GENBOX_AUTOCAST=off the scaled run computes in fp32 and, with power-of-two scales, must equal
// the fp32 run bit for bit: the scaler's multiply and divide are then exact. With autocast (fp16
// on the CPU: slow, so tiny models) a skipped step and a resume across it stay bitwise exact.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "tests/support.hpp"

using namespace genbox::testing;

namespace {

const std::string kNice =
    " train data.dataset=two_moons data.toy_size=2000 model.hidden=16 model.hidden_layers=1 train.batch_size=64"
    " optim.ema_decay=0.9 device.threads=1 train.log_every=1 train.sample_every=0 train.eval_every=6";

std::string nice(const TempDir& out, const std::string& keys) {
  return binary("nice") + kNice + keys + " run.out_dir=" + out.path().string();
}

void check_same_model(const std::filesystem::path& a, const std::filesystem::path& b) {
  auto x = checkpoint_tensors(a), y = checkpoint_tensors(b);
  REQUIRE(x.size() == y.size());
  for (const auto& [key, tensor] : x) {
    CAPTURE(key);
    CHECK(torch::equal(tensor, y.at(key)));
  }
}

}  // namespace

TEST_CASE("fp16's loss scaling without autocast trains bit for bit as fp32, with the scale in metrics.jsonl") {
  TempDir fp32, fp16;
  REQUIRE(run_command(nice(fp32, " train.steps=6")).exit_code == 0);
  auto scaled = run_command("GENBOX_AUTOCAST=off " + nice(fp16, " train.steps=6 device.precision=fp16"));
  INFO(scaled.output);
  REQUIRE(scaled.exit_code == 0);
  const auto a = only_run(fp32.path(), "nice"), b = only_run(fp16.path(), "nice");
  check_same_model(a / "checkpoints/last.pt", b / "checkpoints/last.pt");
  const auto rows = metrics_of(b, "train");
  REQUIRE(rows.size() == 6);
  CHECK(rows.back()["loss_scale"] == 65536.0);
  CHECK(rows.back()["skipped_steps"] == 0);
  CHECK_FALSE(metrics_of(a, "train").back().contains("loss_scale"));
}

TEST_CASE("a step with non-finite fp16 gradients is skipped and the scale halved; resume keeps the scaler") {
  TempDir straight_out, resumed_out;
  const std::string fault = "GENBOX_FAULT_INF_GRADS_AT_STEP=2 ";
  auto straight = run_command(fault + nice(straight_out, " train.steps=12 device.precision=fp16"));
  INFO(straight.output);
  REQUIRE(straight.exit_code == 0);
  const auto a = only_run(straight_out.path(), "nice");
  const auto rows = metrics_of(a, "train");
  REQUIRE(rows.size() == 12);  // every step is taken: the skipped try does not count
  CHECK(rows[0]["loss_scale"] == 65536.0);
  CHECK(rows[1]["loss_scale"] == 32768.0);
  CHECK(rows[1]["skipped_steps"] == 1);
  CHECK(rows.back()["skipped_steps"] == 1);
  CHECK(checkpoint_step(a / "checkpoints/last.pt") == 12);

  REQUIRE(run_command(fault + nice(resumed_out, " train.steps=6 device.precision=fp16")).exit_code == 0);
  const auto b = only_run(resumed_out.path(), "nice");
  auto resumed = run_command(binary("nice") + " train --resume " + b.string() + " train.steps=12");
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  check_same_model(a / "checkpoints/last.pt", b / "checkpoints/last.pt");
  auto x = metrics_of(a, "train"), y = metrics_of(b, "train");
  REQUIRE(x.size() == y.size());
  for (size_t i = 0; i < x.size(); ++i) {
    x[i].erase("time_s");
    y[i].erase("time_s");
    CHECK(x[i].dump() == y[i].dump());
  }
}

TEST_CASE("fp16 steps skipped many times in a row stop the run with exit 4 and say why") {
  TempDir out;
  auto run = run_command("GENBOX_AUTOCAST=off GENBOX_FAULT_INF_GRADS_AT_STEP=3:100 " +
                         nice(out, " train.steps=6 device.precision=fp16 optim.loss_scale_max_skips=4"));
  CHECK(run.exit_code == 4);
  CHECK(run.output.find("fp16: 4 steps in a row had non-finite gradients (loss scale now 4096); stopping at step 2") !=
        std::string::npos);
  CHECK(nlohmann::json::parse(read_text(only_run(out.path(), "nice") / "meta.json"))["status"] == "failed");
}
