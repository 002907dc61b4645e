// `<exp> sweep` end to end on toy data: one run per point of the grid with the sweep in meta.json,
// nothing run when any point is invalid, a failed point not stopping the rest, and Ctrl-C
// stopping the sweep after the point under way saved itself.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <algorithm>
#include <csignal>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/support.hpp"

using namespace genbox::testing;

namespace {
const std::string kToy =
    " data.dataset=two_moons data.toy_size=500 model.hidden=8 model.hidden_layers=1 train.batch_size=32"
    " device.threads=1 train.eval_every=0 train.sample_every=0";

std::vector<std::filesystem::path> runs_in(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> runs;
  std::error_code none;
  for (const auto& entry : std::filesystem::directory_iterator(dir, none)) runs.push_back(entry.path());
  std::sort(runs.begin(), runs.end());
  return runs;
}

nlohmann::json meta_of(const std::filesystem::path& run) { return nlohmann::json::parse(read_text(run / "meta.json")); }
}  // namespace

TEST_CASE("nice sweep runs every point of the grid, each run knowing its sweep, index and values") {
  TempDir out;
  auto result = run_command(binary("nice") + " sweep" + kToy + " train.steps=3 optim.lr=1e-3,2e-3 run.seed=0,1" +
                            " run.out_dir=" + out.path().string());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK(result.output.find("runs of nice over optim.lr x run.seed") != std::string::npos);
  CHECK(result.output.find("[sweep 4/4] optim.lr=2e-3 run.seed=1") != std::string::npos);
  CHECK(result.output.find("compare them: ") != std::string::npos);
  const std::vector<std::filesystem::path> runs = runs_in(out / "nice");
  REQUIRE(runs.size() == 4);
  std::set<int64_t> indices;
  std::set<std::string> ids;
  for (const std::filesystem::path& run : runs) {
    CAPTURE(run);
    nlohmann::json meta = meta_of(run);
    CHECK(meta["status"] == "finished");
    const nlohmann::json& sweep = meta["sweep"];
    ids.insert(sweep["id"].get<std::string>());
    indices.insert(sweep["index"].get<int64_t>());
    CHECK(sweep["size"] == 4);
    CHECK(sweep["keys"] == nlohmann::json::array({"optim.lr", "run.seed"}));
    const int64_t index = sweep["index"];
    const std::string lr = index <= 2 ? "1e-3" : "2e-3", seed = index % 2 ? "0" : "1";
    CHECK(sweep["values"]["optim.lr"] == lr);
    CHECK(sweep["values"]["run.seed"] == seed);
    // The run's own config holds the point's values: the sweep field describes what ran.
    const std::string config = read_text(run / "config.toml");
    CHECK(config.find(index <= 2 ? "lr = 0.001\n" : "lr = 0.002\n") != std::string::npos);
    CHECK(config.find("seed = " + seed + "\n") != std::string::npos);
    CHECK(result.output.find(run.string()) != std::string::npos);
  }
  CHECK(ids.size() == 1);
  CHECK(indices == std::set<int64_t>{1, 2, 3, 4});
}

TEST_CASE("a sweep with one invalid point runs nothing and names the point; --print-config runs nothing") {
  TempDir out;
  auto bad = run_command(binary("nice") + " sweep" + kToy + " optim.lr=1e-3,-1 run.out_dir=" + out.path().string());
  CHECK(bad.exit_code == 2);
  CHECK(bad.output.find("sweep point 2 of 2 (optim.lr=-1)") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out / "nice"));

  auto none = run_command(binary("nice") + " sweep" + kToy + " optim.lr=1e-3 run.out_dir=" + out.path().string());
  CHECK(none.exit_code == 2);
  CHECK(none.output.find("sweep needs a key with several values") != std::string::npos);

  auto dry = run_command(binary("nice") + " sweep" + kToy +
                         " optim.lr=1e-3,2e-3 --print-config run.out_dir=" + out.path().string() + " 2>/dev/null");
  CHECK(dry.exit_code == 0);
  CHECK(dry.output.find("# point 1 of 2: optim.lr=1e-3\n") != std::string::npos);
  CHECK(dry.output.find("# point 2 of 2: optim.lr=2e-3\n") != std::string::npos);
  CHECK(dry.output.find("lr = 0.002\n") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out / "nice"));

  auto help = run_command(binary("nice") + " sweep --help 2>/dev/null");
  CHECK(help.exit_code == 0);
  CHECK(help.output.rfind("usage: nice sweep [-c FILE.toml ...] key.path=a,b[,...]", 0) == 0);
}

TEST_CASE("a point that fails does not stop the sweep; the sweep exits with the first failure's code") {
  TempDir out;
  auto result = run_command("GENBOX_FAULT_NAN_AT_STEP=2 " + binary("nice") + " sweep" + kToy +
                            " train.steps=4 run.seed=0,1 run.out_dir=" + out.path().string());
  INFO(result.output);
  CHECK(result.exit_code == 4);
  const std::vector<std::filesystem::path> runs = runs_in(out / "nice");
  REQUIRE(runs.size() == 2);
  for (const std::filesystem::path& run : runs) CHECK(meta_of(run)["status"] == "failed");
}

TEST_CASE("SIGINT stops a sweep after the point under way saved itself; later points do not run") {
  TempDir out;
  pid_t sweep = spawn(binary("nice") + " sweep" + kToy + " train.steps=100000000 run.seed=0,1 run.out_dir=" +
                      out.path().string() + " > " + (out / "stdout").string() + " 2>&1");
  std::filesystem::path run = wait_for_training(out / "nice", 3);
  REQUIRE_FALSE(run.empty());
  kill(sweep, SIGINT);
  int status = 0;
  waitpid(sweep, &status, 0);
  const std::string output = read_text(out / "stdout");
  INFO(output);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK(runs_in(out / "nice").size() == 1);
  CHECK(meta_of(run)["status"] == "interrupted");
  CHECK(output.find("not run") != std::string::npos);
}
