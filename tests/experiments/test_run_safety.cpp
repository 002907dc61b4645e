// What keeps a run honest when things go wrong: non-finite weights are never kept as good, a
// damaged last.pt falls back to an intact checkpoint, a resume says what it changes, SIGHUP
// stops like SIGTERM, and meta.json tells who runs the run.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <torch/torch.h>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "tests/support.hpp"

using namespace genbox::testing;

namespace {
const std::string kToy =
    " data.dataset=two_moons data.toy_size=500 model.hidden=8 model.hidden_layers=1 train.batch_size=50"
    " device.threads=1 train.sample_every=0 train.log_every=1";

nlohmann::json meta_of(const std::filesystem::path& run) { return nlohmann::json::parse(read_text(run / "meta.json")); }
}  // namespace

TEST_CASE("weights an update made non-finite are not saved; the run stops with exit 4 naming what is kept") {
  TempDir out;
  auto result =
      run_command("GENBOX_FAULT_NAN_WEIGHTS_AT_STEP=6 " + binary("nice") + " train" + kToy +
                  " train.steps=20 train.eval_every=0 train.checkpoint_every=1 run.out_dir=" + out.path().string());
  INFO(result.output);
  CHECK(result.exit_code == 4);
  std::filesystem::path run = only_run(out.path(), "nice");
  CHECK(result.output.find("is not finite after step 6; not saved: the last good checkpoint is " +
                           (run / "checkpoints/last.pt").string()) != std::string::npos);
  CHECK(checkpoint_step(run / "checkpoints/last.pt") == 5);
  CHECK(meta_of(run)["status"] == "failed");
  // What was kept evaluates.
  CHECK(run_command(binary("nice") + " eval " + run.string() + " sample.checkpoint=last").exit_code == 0);
}

TEST_CASE("a resume falls back to the newest intact numbered checkpoint when last.pt is damaged") {
  TempDir out;
  REQUIRE(run_command(binary("nice") + " train" + kToy +
                      " train.steps=6 train.eval_every=0 train.checkpoint_every=2"
                      " train.keep_checkpoints=3 run.out_dir=" +
                      out.path().string())
              .exit_code == 0);
  std::filesystem::path run = only_run(out.path(), "nice");
  std::string bytes = read_text(run / "checkpoints/last.pt");
  write_text(run / "checkpoints/last.pt", bytes.substr(0, bytes.size() / 3));
  // A killed write's temporary, which the resume removes.
  write_text(run / "checkpoints/.last.pt.tmp.999999", "half a checkpoint");
  auto resumed = run_command(binary("nice") + " train --resume " + run.string() + " train.steps=8");
  INFO(resumed.output);
  CHECK(resumed.exit_code == 0);
  CHECK(resumed.output.find("resuming from " + (run / "checkpoints/step_0000006.pt").string()) != std::string::npos);
  CHECK(resumed.output.find("resumed at step 6") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(run / "checkpoints/.last.pt.tmp.999999"));
  CHECK(checkpoint_step(run / "checkpoints/last.pt") == 8);
}

TEST_CASE("a resume says which keys it changes and records them; meta.json says who runs the run") {
  TempDir out;
  REQUIRE(run_command(binary("nice") + " train" + kToy +
                      " train.steps=4 train.eval_every=0 run.out_dir=" + out.path().string())
              .exit_code == 0);
  std::filesystem::path run = only_run(out.path(), "nice");
  nlohmann::json first = meta_of(run);
  CHECK(first["pid"].get<int>() > 0);
  CHECK(first["host"].get<std::string>().size() > 0);
  CHECK(first["heartbeat"].get<std::string>().size() == 20);
  auto resumed = run_command(binary("nice") + " train --resume " + run.string() + " train.steps=6 optim.lr=0.0005");
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK(resumed.output.find("the resume changes optim.lr: 0.001 -> 0.0005") != std::string::npos);
  nlohmann::json meta = meta_of(run);
  CHECK(meta["resumed"][0]["changed"]["optim.lr"] == nlohmann::json({"0.001", "0.0005"}));
  CHECK(meta["resumed"][0]["changed"]["train.steps"] == nlohmann::json({"4", "6"}));
  CHECK(read_text(run / ".lock").find("pid ") == 0);
}

TEST_CASE("SIGHUP (a dropped ssh session) stops a run like SIGTERM, with a checkpoint") {
  TempDir out;
  std::string line = binary("nice") + " train" + kToy +
                     " train.steps=100000000 train.eval_every=0"
                     " train.checkpoint_every=0 run.out_dir=" +
                     out.path().string() + " > /dev/null 2>&1";
  pid_t child = spawn(line);
  std::filesystem::path run = wait_for_training(out / "nice", 3);
  REQUIRE_FALSE(run.empty());
  kill(child, SIGHUP);
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 143);
  CHECK(meta_of(run)["status"] == "interrupted");
  CHECK(checkpoint_step(run / "checkpoints/last.pt") == meta_of(run)["step"].get<int64_t>());
}

TEST_CASE("kill -9 at seeded random moments, then resume: the run ends bitwise where an unbroken one does") {
  TempDir out;
  const std::string keys = kToy + " train.steps=300 train.eval_every=100 train.checkpoint_every=1";
  REQUIRE(run_command(binary("nice") + " train" + keys + " run.name=straight run.out_dir=" + (out / "a").string())
              .exit_code == 0);
  std::filesystem::path straight = only_run(out / "a", "nice");
  // The broken run: started, then killed mid-flight (mid-checkpoint-write at times) and resumed.
  std::mt19937 random(20261124);
  std::filesystem::path broken;
  for (int attempt = 0; attempt < 6; ++attempt) {
    std::string line = broken.empty() ? binary("nice") + " train" + keys + " run.out_dir=" + (out / "b").string()
                                      : binary("nice") + " train --resume " + broken.string();
    pid_t child = spawn(line + " > /dev/null 2>&1");
    if (broken.empty()) {
      // The first kill lands once training is under way (a run killed while it is being
      // created has nothing to resume); later ones anywhere in a resume.
      for (int i = 0; i < 600 && broken.empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        std::error_code not_yet;
        for (const auto& d : std::filesystem::directory_iterator(out / "b" / "nice", not_yet))
          if (std::filesystem::exists(d.path() / "checkpoints/last.pt")) broken = d.path();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(random() % 300));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(300 + random() % 900));
    }
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) break;  // it finished before the kill
  }
  REQUIRE_FALSE(broken.empty());
  auto finished = run_command(binary("nice") + " train --resume " + broken.string());
  INFO(finished.output);
  REQUIRE(finished.exit_code == 0);
  CHECK(meta_of(broken)["status"] == "finished");
  CHECK(meta_of(broken)["resumed"].size() >= 1);
  auto a = checkpoint_tensors(straight / "checkpoints/last.pt"), b = checkpoint_tensors(broken / "checkpoints/last.pt");
  REQUIRE(a.size() == b.size());
  for (const auto& [key, tensor] : a) {
    CAPTURE(key);
    CHECK(torch::equal(tensor, b[key]));
  }
}
