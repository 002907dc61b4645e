// The run contract, checked the same way against every experiment binary: N steps then --resume
// to 2N is bitwise 2N straight steps; SIGTERM finishes the step, saves and exits 143; a
// non-finite loss stops with exit 4 and keeps the last good checkpoint.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <torch/torch.h>
#include <chrono>
#include <csignal>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support.hpp"

using namespace genbox::testing;

namespace {
struct Experiment {
  std::string name;
  bool needs_items;   // reads the tiny IDX item set (or with cifar, the tiny CIFAR-10) from the test directory
  std::string small;  // keys that make a run take a fraction of a second per step
  bool cifar = false;
};

std::vector<Experiment> experiments() {
  return {
      {"nice", false,
       " data.dataset=two_moons data.toy_size=2000 model.hidden=16 model.hidden_layers=1 train.batch_size=64"
       " optim.ema_decay=0.9"},
      {"rf_dit", false,
       " data.dataset=eight_gaussians data.toy_size=2000 model.toy_hidden=32 model.toy_layers=2 train.batch_size=64"},
      {"detr", true,
       " data.height=32 data.width=32 data.train_scenes=24 data.test_scenes=4 train.batch_size=4 model.width=16"
       " model.heads=2 model.ffn=32 model.encoder_layers=1 model.decoder_layers=2 model.backbone_channels=[8,16]"
       " model.output_stride=4 model.num_queries=6 optim.ema_decay=0.9"},
  };
}

// The generators on colour images flipped at random: the flips come from the run's generator,
// so a resume must draw the ones an unbroken run draws.
std::vector<Experiment> colour_experiments() {
  return {
      {"nice", true,
       " data.dataset=cifar10 data.hflip=on model.hidden=16 model.hidden_layers=1 train.batch_size=8"
       " eval.batch_size=16",
       true},
      {"rf_dit", true,
       " data.dataset=cifar10 data.hflip=on model.width=16 model.depth=1 model.heads=2 model.patch=8"
       " train.batch_size=8",
       true},
  };
}

void write_data(const Experiment& e, const std::filesystem::path& root) {
  if (e.cifar)
    write_tiny_cifar10(root);
  else if (e.needs_items)
    write_tiny_item_set(root);
}

std::string command(const Experiment& e, const TempDir& out, const std::string& keys) {
  std::string data = e.needs_items ? " data.root=" + out.path().string() : "";
  return binary(e.name) + " train" + e.small + data + " device.threads=1 train.log_every=1 train.sample_every=0" +
         keys + " run.out_dir=" + out.path().string();
}

nlohmann::json meta_of(const std::filesystem::path& run) { return nlohmann::json::parse(read_text(run / "meta.json")); }

void check_same_tensors(const std::filesystem::path& a, const std::filesystem::path& b) {
  auto x = checkpoint_tensors(a), y = checkpoint_tensors(b);
  REQUIRE(x.size() == y.size());
  REQUIRE(x.size() > 1);
  for (const auto& [key, tensor] : x) {
    CAPTURE(key);
    REQUIRE(y.count(key) == 1);
    CHECK(torch::equal(tensor, y[key]));
  }
}
}  // namespace

TEST_CASE("every experiment: N steps then --resume to 2N is bitwise the same as 2N straight steps") {
  std::vector<Experiment> all = experiments(), colour = colour_experiments();
  all.insert(all.end(), colour.begin(), colour.end());
  for (const Experiment& e : all) {
    CAPTURE(e.name);
    CAPTURE(e.small);
    TempDir straight_out, resumed_out;
    write_data(e, straight_out.path());
    write_data(e, resumed_out.path());
    // Evaluations fall on the step where the first half ends, as they do in the straight run.
    const std::string keys = " train.eval_every=6";
    auto straight = run_command(command(e, straight_out, keys + " train.steps=12"));
    INFO(straight.output);
    REQUIRE(straight.exit_code == 0);
    // The data root differs between the two directories, so resume with the first's keys.
    auto half = run_command(command(e, resumed_out, keys + " train.steps=6"));
    REQUIRE(half.exit_code == 0);
    std::filesystem::path a = only_run(straight_out.path(), e.name), b = only_run(resumed_out.path(), e.name);
    auto resumed = run_command(binary(e.name) + " train --resume " + b.string() + " train.steps=12");
    INFO(resumed.output);
    REQUIRE(resumed.exit_code == 0);
    CHECK(meta_of(b)["status"] == "finished");
    CHECK(meta_of(b)["resumed"].size() == 1);
    CHECK(checkpoint_step(a / "checkpoints/last.pt") == 12);
    CHECK(checkpoint_step(b / "checkpoints/last.pt") == 12);
    check_same_tensors(a / "checkpoints/last.pt", b / "checkpoints/last.pt");
    for (const char* split : {"train", "eval"}) {
      auto x = metrics_of(a, split), y = metrics_of(b, split);
      REQUIRE(x.size() == y.size());
      for (size_t i = 0; i < x.size(); ++i) {
        x[i].erase("time_s");
        y[i].erase("time_s");
        CHECK(x[i].dump() == y[i].dump());
      }
    }
  }
}

TEST_CASE("every experiment: SIGTERM finishes the step, saves a checkpoint, marks the run interrupted, exits 143") {
  for (const Experiment& e : experiments()) {
    CAPTURE(e.name);
    TempDir out;
    if (e.needs_items) write_tiny_item_set(out.path());
    std::string line = command(e, out, " train.steps=100000000 train.eval_every=0 train.checkpoint_every=0") + " > " +
                       (out / "stdout").string() + " 2>&1";
    pid_t child = spawn(line);
    // Wait until training is under way (train metrics appear), then ask it to stop.
    std::filesystem::path run = wait_for_training(out / e.name, 3);
    REQUIRE_FALSE(run.empty());
    kill(child, SIGTERM);
    int status = 0;
    waitpid(child, &status, 0);
    INFO(read_text(out / "stdout"));
    CHECK(WEXITSTATUS(status) == 143);
    nlohmann::json meta = meta_of(run);
    CHECK(meta["status"] == "interrupted");
    CHECK(checkpoint_step(run / "checkpoints/last.pt") == meta["step"].get<int64_t>());
    CHECK(read_text(out / "stdout").find("resume with: " + e.name + " train --resume") != std::string::npos);
  }
}

TEST_CASE("every experiment: a non-finite loss stops the run with exit 4 and keeps the last good checkpoint") {
  for (const Experiment& e : experiments()) {
    CAPTURE(e.name);
    TempDir out;
    if (e.needs_items) write_tiny_item_set(out.path());
    auto result = run_command("GENBOX_FAULT_NAN_AT_STEP=8 " +
                              command(e, out, " train.steps=20 train.checkpoint_every=5 train.eval_every=0"));
    INFO(result.output);
    CHECK(result.exit_code == 4);
    CHECK(result.output.find("non-finite loss (nan) at step 8") != std::string::npos);
    std::filesystem::path run = only_run(out.path(), e.name);
    CHECK(meta_of(run)["status"] == "failed");
    CHECK(meta_of(run)["step"] == 7);
    CHECK(result.output.find("The last good checkpoint is " + (run / "checkpoints/last.pt").string()) !=
          std::string::npos);
    CHECK(checkpoint_step(run / "checkpoints/last.pt") == 5);
  }
}
