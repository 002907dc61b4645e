// End-to-end: the nice binary on toy data, checked through the run directory it leaves.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <nlohmann/json.hpp>
#include <thread>
#include <torch/torch.h>

#include "common/checkpoint.hpp"
#include "flows/nice.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {
const std::string kToy =
    " data.dataset=two_moons data.toy_size=2000 model.hidden=16 model.hidden_layers=1 train.batch_size=64"
    " device.threads=1 train.log_every=1";

std::filesystem::path only_run(const std::filesystem::path& out) {
  std::vector<std::filesystem::path> runs;
  for (const auto& e : std::filesystem::directory_iterator(out / "nice")) runs.push_back(e.path());
  REQUIRE(runs.size() == 1);
  return runs[0];
}

nlohmann::json meta_of(const std::filesystem::path& run) { return nlohmann::json::parse(read_text(run / "meta.json")); }

std::vector<nlohmann::json> metrics_of(const std::filesystem::path& run, const std::string& split) {
  std::istringstream lines(read_text(run / "metrics.jsonl"));
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(lines, line);) {
    auto row = nlohmann::json::parse(line);
    if (row["split"] == split) out.push_back(row);
  }
  return out;
}

flows::Nice toy_model() {
  flows::NiceOptions o;
  o.dim = 2;
  o.hidden = 16;
  o.hidden_layers = 1;
  return flows::Nice(o);
}
}  // namespace

TEST_CASE("nice train on toy data leaves a complete run directory") {
  TempDir out;
  auto result = run_command(binary("nice") + " train" + kToy + " train.steps=30 train.eval_every=10 run.name=e2e run.out_dir=" +
                            out.path().string());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  std::filesystem::path run = only_run(out.path());
  CHECK(run.filename().string().find("-e2e") != std::string::npos);
  for (const char* f : {"config.toml", "meta.json", "metrics.jsonl", "log.txt", "checkpoints/last.pt",
                        "checkpoints/best.pt", "samples/step_0000030.png", "samples/step_0000030_density.png"})
    CHECK_MESSAGE(std::filesystem::exists(run / f), f);
  nlohmann::json meta = meta_of(run);
  CHECK(meta["status"] == "finished");
  CHECK(meta["step"] == 30);
  CHECK(meta["experiment"] == "nice");
  CHECK(meta["device"] == "cpu");
  CHECK(metrics_of(run, "train").size() == 30);
  auto evals = metrics_of(run, "eval");
  REQUIRE(evals.size() == 4);  // before training, then steps 10, 20, 30
  CHECK(evals.back()["nll"].get<double>() < evals.front()["nll"].get<double>());
  std::string config = read_text(run / "config.toml");
  CHECK(config.find("dataset = \"two_moons\"") != std::string::npos);
  CHECK(config.find("[optim]") != std::string::npos);

  auto eval = run_command(binary("nice") + " eval " + run.string());
  INFO(eval.output);
  CHECK(eval.exit_code == 0);
  auto results = nlohmann::json::parse(read_text(run / "eval.json"));
  CHECK(results["nll"].get<double>() == doctest::Approx(evals.back()["nll"].get<double>()));
  auto sample = run_command(binary("nice") + " sample " + run.string() + " --n 16");
  CHECK(sample.exit_code == 0);
}

TEST_CASE("an invalid config exits 2, explains itself and creates nothing") {
  TempDir out;
  auto typo = run_command(binary("nice") + " train train.setps=3 run.out_dir=" + out.path().string());
  CHECK(typo.exit_code == 2);
  CHECK(typo.output.find("unknown key 'train.setps'; did you mean 'train.steps'?") != std::string::npos);
  write_text(out / "bad.toml", "[model]\nhidden = -4\n");
  auto range = run_command(binary("nice") + " train -c " + (out / "bad.toml").string() + " run.out_dir=" + out.path().string());
  CHECK(range.exit_code == 2);
  CHECK(range.output.find((out / "bad.toml").string() + ":2:10: 'model.hidden' = -4 is out of range") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out / "nice"));
  CHECK(run_command(binary("nice") + " fly").exit_code == 2);
}

TEST_CASE("--print-config prints every key with its doc, and the markdown table") {
  auto toml = run_command(binary("nice") + " train --print-config optim.lr=0.5");
  CHECK(toml.exit_code == 0);
  CHECK(toml.output.find("[optim]") != std::string::npos);
  CHECK(toml.output.find("lr = 0.5\n") != std::string::npos);
  auto markdown = run_command(binary("nice") + " train --print-config=markdown");
  CHECK(markdown.output.find("| `model.coupling_layers` | `4` |") != std::string::npos);
}

TEST_CASE("a non-finite loss stops the run with exit 4 and keeps the last good checkpoint") {
  TempDir out;
  auto result = run_command("GENBOX_FAULT_NAN_AT_STEP=8 " + binary("nice") + " train" + kToy +
                            " train.steps=20 train.checkpoint_every=5 train.eval_every=0 run.out_dir=" + out.path().string());
  INFO(result.output);
  CHECK(result.exit_code == 4);
  CHECK(result.output.find("non-finite loss (nan) at step 8") != std::string::npos);
  std::filesystem::path run = only_run(out.path());
  CHECK(meta_of(run)["status"] == "failed");
  CHECK(meta_of(run)["step"] == 7);
  auto model = toy_model();
  CHECK(load_checkpoint(run / "checkpoints/last.pt", *model, nullptr, nullptr, false).step == 5);
}

TEST_CASE("N steps then --resume to 2N is bitwise the same as 2N straight steps") {
  TempDir out;
  const std::string common = kToy + " train.eval_every=10 train.sample_every=0 optim.ema_decay=0.9 run.out_dir=" +
                             out.path().string();
  auto straight = run_command(binary("nice") + " train train.steps=40 run.name=straight" + common);
  REQUIRE(straight.exit_code == 0);
  auto half = run_command(binary("nice") + " train train.steps=20 run.name=resumed" + common);
  REQUIRE(half.exit_code == 0);
  std::filesystem::path straight_run, resumed_run;
  for (const auto& e : std::filesystem::directory_iterator(out / "nice"))
    (e.path().string().find("straight") != std::string::npos ? straight_run : resumed_run) = e.path();
  auto resumed = run_command(binary("nice") + " train --resume " + resumed_run.string() + " train.steps=40");
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK(meta_of(resumed_run)["status"] == "finished");
  CHECK(meta_of(resumed_run)["resumed"].size() == 1);

  auto a = toy_model(), b = toy_model();
  Ema ema_a(*a, 0.9), ema_b(*b, 0.9);
  CHECK(load_checkpoint(straight_run / "checkpoints/last.pt", *a, &ema_a, nullptr, false).step == 40);
  CHECK(load_checkpoint(resumed_run / "checkpoints/last.pt", *b, &ema_b, nullptr, false).step == 40);
  for (size_t i = 0; i < a->parameters().size(); ++i) CHECK(torch::equal(a->parameters()[i], b->parameters()[i]));
  for (size_t i = 0; i < ema_a.named_tensors().size(); ++i)
    CHECK(torch::equal(ema_a.named_tensors()[i].second, ema_b.named_tensors()[i].second));
  for (const char* split : {"train", "eval"}) {
    auto x = metrics_of(straight_run, split), y = metrics_of(resumed_run, split);
    REQUIRE(x.size() == y.size());
    for (size_t i = 0; i < x.size(); ++i) {
      x[i].erase("time_s");
      y[i].erase("time_s");
      CHECK(x[i].dump() == y[i].dump());
    }
  }
}

TEST_CASE("SIGTERM finishes the step, saves a checkpoint, marks the run interrupted and exits 143") {
  TempDir out;
  std::string command = binary("nice") + " train" + kToy + " train.steps=100000000 train.eval_every=0 "
                        "train.checkpoint_every=0 run.out_dir=" + out.path().string() + " > " + (out / "stdout").string() + " 2>&1";
  pid_t child = fork();
  if (child == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait until training is under way (metrics appear), then ask it to stop.
  std::filesystem::path run;
  for (int i = 0; i < 600 && run.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!std::filesystem::exists(out / "nice")) continue;
    for (const auto& e : std::filesystem::directory_iterator(out / "nice"))
      if (std::filesystem::exists(e.path() / "metrics.jsonl") && metrics_of(e.path(), "train").size() > 3) run = e.path();
  }
  REQUIRE_FALSE(run.empty());
  kill(child, SIGTERM);
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(WEXITSTATUS(status) == 143);
  nlohmann::json meta = meta_of(run);
  CHECK(meta["status"] == "interrupted");
  auto model = toy_model();
  CHECK(load_checkpoint(run / "checkpoints/last.pt", *model, nullptr, nullptr, false).step == meta["step"].get<int64_t>());
  CHECK(read_text(out / "stdout").find("resume with: nice train --resume") != std::string::npos);
}

TEST_CASE("the README's NICE key table is the one the binary prints") {
  auto markdown = run_command(binary("nice") + " train --print-config=markdown 2>/dev/null");
  REQUIRE(markdown.exit_code == 0);
  std::string readme = read_text(source_dir() / "README.md");
  CHECK_MESSAGE(readme.find(markdown.output) != std::string::npos,
                "README.md is out of date: paste `build/bin/nice train --print-config=markdown` into it");
}
