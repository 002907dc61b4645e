// End-to-end: the nice binary on toy data, checked through the run directory it leaves.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {
const std::string kToy =
    " data.dataset=two_moons data.toy_size=2000 model.hidden=16 model.hidden_layers=1 train.batch_size=64"
    " device.threads=1 train.log_every=1";

nlohmann::json meta_of(const std::filesystem::path& run) { return nlohmann::json::parse(read_text(run / "meta.json")); }
}  // namespace

TEST_CASE("nice train on toy data leaves a complete run directory") {
  TempDir out;
  auto result = run_command(binary("nice") + " train" + kToy +
                            " train.steps=30 train.eval_every=10 run.name=e2e run.out_dir=" + out.path().string());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  std::filesystem::path run = only_run(out.path(), "nice");
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
  auto range =
      run_command(binary("nice") + " train -c " + (out / "bad.toml").string() + " run.out_dir=" + out.path().string());
  CHECK(range.exit_code == 2);
  CHECK(range.output.find((out / "bad.toml").string() + ":2:10: 'model.hidden' = -4 is out of range") !=
        std::string::npos);
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

TEST_CASE("the README's NICE key table is the one the binary prints") {
  auto markdown = run_command(binary("nice") + " train --print-config=markdown 2>/dev/null");
  REQUIRE(markdown.exit_code == 0);
  std::string readme = read_text(source_dir() / "README.md");
  CHECK_MESSAGE(readme.find(markdown.output) != std::string::npos,
                "README.md is out of date: paste `build/bin/nice train --print-config=markdown` into it");
}
