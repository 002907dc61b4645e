// Data-parallel training over Gloo on the CPU, launched the way users launch it: torchrun
// --no-python. Every case is skipped when the build found no torchrun or no gloo headers (the
// torch wheel and libgloo-dev that scripts/setup installs, so CI has both).
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <torch/torch.h>
#include <chrono>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/distributed.hpp"
#include "tests/support.hpp"

using namespace genbox::testing;

namespace {
// One process per rank on one thread each; --standalone asks the OS for a free port.
std::string launch(int processes, const std::string& program) {
  return fmt::format("OMP_NUM_THREADS=1 {} --standalone --nproc-per-node={} --no-python {}", torchrun(), processes,
                     program);
}

nlohmann::json meta_of(const std::filesystem::path& run) { return nlohmann::json::parse(read_text(run / "meta.json")); }

struct Experiment {
  std::string name;
  std::string keys;
  double tolerance;  // on the largest weight difference after 20 steps; see the test's comment
};
}  // namespace

// 2 processes x B/2 against 1 process x B, 20 steps, same seed. Every rank draws the same global
// batch and its noise and keeps its half, gradients are averaged, DETR's batch statistics and
// loss normalisers are the global batch's, so the two runs compute the same steps; they differ
// only in the order of floating-point sums (two half-batch sums added, against one sum over the
// batch), about 1e-7 relative per step. Adam divides by the root of the second moment, which
// amplifies such differences where a gradient is near zero. Measured largest weight differences
// after 20 steps: NICE 6e-8, the DiT 1.5e-8, DETR 1.4e-5 (a deeper graph, weights up to 3.3).
// The tolerances are about 15x those; a mistake (a rank training on the wrong rows, an
// unaveraged gradient, a missed bucket, local batch statistics) moves weights by 1e-3 or more.
TEST_CASE("2 processes x B/2 end with the weights of 1 process x B, and every rank holds the same weights") {
  if (!can_launch_cpu_processes()) {
    MESSAGE("skipped: the build found no torchrun or no gloo headers");
    return;
  }
  TempDir out;
  write_tiny_item_set(out.path());
  const std::string root = " data.root=" + out.path().string();
  const std::vector<Experiment> experiments = {
      {"nice", " data.dataset=two_moons data.toy_size=2000 model.hidden=16 model.hidden_layers=1 train.batch_size=64",
       1e-6},
      {"rf_dit",
       " data.dataset=idx" + root + " model.width=32 model.depth=1 model.heads=2 model.patch=2 train.batch_size=8",
       3e-7},
      {"detr",
       root + " data.height=32 data.width=32 data.train_scenes=24 data.test_scenes=4 train.batch_size=4"
              " model.width=16 model.heads=2 model.ffn=32 model.encoder_layers=1 model.decoder_layers=2"
              " model.backbone_channels=[8,16] model.output_stride=4 model.num_queries=6",
       2e-4},
  };
  for (const Experiment& e : experiments) {
    CAPTURE(e.name);
    const std::string program = binary(e.name) + " train" + e.keys +
                                " device.threads=1 train.steps=20 train.eval_every=0 train.sample_every=0 run.out_dir=";
    auto one = run_command(program + (out / "one").string());
    INFO(one.output);
    REQUIRE(one.exit_code == 0);
    auto two = run_command(launch(2, program + (out / "two").string()));
    INFO(two.output);
    REQUIRE(two.exit_code == 0);
    std::filesystem::path a = only_run(out / "one", e.name), b = only_run(out / "two", e.name);
    nlohmann::json meta = meta_of(b);
    CHECK(meta["world_size"] == 2);
    CHECK(meta["backend"] == "gloo");
    CHECK(meta["rank_devices"] == nlohmann::json({"cpu", "cpu"}));
    REQUIRE(meta["rank_weight_fingerprints"].size() == 2);
    CHECK(meta["rank_weight_fingerprints"][0] == meta["rank_weight_fingerprints"][1]);
    auto [difference, magnitude] = model_weight_difference(a / "checkpoints/last.pt", b / "checkpoints/last.pt");
    MESSAGE(e.name << ": largest weight difference " << difference << " (largest weight " << magnitude << ")");
    CHECK(difference <= e.tolerance);
    // The logged loss is the mean over ranks: the whole batch's, as one process logs it.
    auto x = metrics_of(a, "train"), y = metrics_of(b, "train");
    REQUIRE(x.size() == y.size());
    CHECK(x.back()["loss"].get<double>() == doctest::Approx(y.back()["loss"].get<double>()).epsilon(1e-4));
    std::filesystem::remove_all(out / "one");
    std::filesystem::remove_all(out / "two");
  }
}

TEST_CASE("a run started on one process resumes on two and ends where one process would") {
  if (!can_launch_cpu_processes()) {
    MESSAGE("skipped: the build found no torchrun or no gloo headers");
    return;
  }
  TempDir out;
  const std::string program = binary("nice") +
                              " train data.dataset=two_moons data.toy_size=2000 model.hidden=16 model.hidden_layers=1"
                              " train.batch_size=64 device.threads=1 train.eval_every=10 train.sample_every=0";
  REQUIRE(run_command(program + " train.steps=20 run.out_dir=" + (out / "straight").string()).exit_code == 0);
  REQUIRE(run_command(program + " train.steps=10 run.out_dir=" + (out / "moved").string()).exit_code == 0);
  std::filesystem::path a = only_run(out / "straight", "nice"), b = only_run(out / "moved", "nice");
  auto resumed = run_command(launch(2, binary("nice") + " train --resume " + b.string() + " train.steps=20"));
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK(meta_of(b)["world_size"] == 2);
  CHECK(checkpoint_step(b / "checkpoints/last.pt") == 20);
  // The sampler's position counts global batches, so the second half sees the same rows.
  CHECK(model_weight_difference(a / "checkpoints/last.pt", b / "checkpoints/last.pt").first <= 1e-6);
}

TEST_CASE("two torchrun nodes of one process each meet through c10d rendezvous on 127.0.0.1") {
  if (!can_launch_cpu_processes()) {
    MESSAGE("skipped: the build found no torchrun or no gloo headers");
    return;
  }
  TempDir out;
  const std::string endpoint = fmt::format("127.0.0.1:{}", free_port());
  auto node = [&](int rank) {
    return fmt::format(
        "OMP_NUM_THREADS=1 {} --nnodes=2 --nproc-per-node=1 --node-rank={} --rdzv-backend=c10d --rdzv-endpoint={} "
        "--rdzv-id=genbox-test --no-python {} train data.dataset=two_moons data.toy_size=2000 model.hidden=16 "
        "model.hidden_layers=1 train.batch_size=64 device.threads=1 train.steps=10 train.eval_every=0 "
        "train.sample_every=0 run.out_dir={} > {} 2>&1",
        torchrun(), rank, endpoint, binary("nice"), (out / "runs").string(),
        (out / fmt::format("node{}.log", rank)).string());
  };
  auto second = std::async(std::launch::async, [&] { return run_command(node(1)); });
  auto first = run_command(node(0));
  auto other = second.get();
  INFO(read_text(out / "node0.log"));
  INFO(read_text(out / "node1.log"));
  CHECK(first.exit_code == 0);
  CHECK(other.exit_code == 0);
  nlohmann::json meta = meta_of(only_run(out / "runs", "nice"));
  CHECK(meta["status"] == "finished");
  CHECK(meta["world_size"] == 2);
  CHECK(meta["rank_weight_fingerprints"][0] == meta["rank_weight_fingerprints"][1]);
}

TEST_CASE("a non-finite loss on one rank stops every rank at that step with one failed status") {
  if (!can_launch_cpu_processes()) {
    MESSAGE("skipped: the build found no torchrun or no gloo headers");
    return;
  }
  TempDir out;
  auto result = run_command("GENBOX_FAULT_NAN_AT_STEP=6 GENBOX_FAULT_RANK=1 " +
                            launch(2, binary("nice") +
                                          " train data.dataset=two_moons data.toy_size=2000 "
                                          "model.hidden=16 model.hidden_layers=1 train.batch_size=64 device.threads=1 "
                                          "train.steps=20 train.checkpoint_every=5 train.eval_every=0 run.out_dir=" +
                                          out.path().string()));
  INFO(result.output);
  CHECK(result.exit_code != 0);
  CHECK(result.output.find("non-finite loss (nan) at step 6 on some rank") != std::string::npos);
  // Both ranks left through the agreed stop, none through a lost peer.
  CHECK(result.output.find("exitcode  : 4") != std::string::npos);
  CHECK(result.output.find("failed: rank") == std::string::npos);
  nlohmann::json meta = meta_of(only_run(out.path(), "nice"));
  CHECK(meta["status"] == "failed");
  CHECK(meta["step"] == 5);
}

namespace {
// The pid of the worker with RANK=<rank> among the children of `parent`.
pid_t worker_with_rank(pid_t parent, int rank) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = read_text(entry.path() / "stat");
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string state;
    pid_t ppid = 0;
    fields >> state >> ppid;
    if (ppid != parent) continue;
    std::string environ = read_text(entry.path() / "environ");
    if (environ.find(std::string("\0RANK=", 6) + std::to_string(rank) + '\0') != std::string::npos)
      return static_cast<pid_t>(std::stol(name));
  }
  return 0;
}
}  // namespace

TEST_CASE("SIGTERM to one rank stops every rank after the same step, with one checkpoint") {
  if (!can_launch_cpu_processes()) {
    MESSAGE("skipped: the build found no torchrun or no gloo headers");
    return;
  }
  TempDir out;
  std::string line = launch(2, binary("nice") +
                                   " train data.dataset=two_moons data.toy_size=2000 model.hidden=16 "
                                   "model.hidden_layers=1 train.batch_size=64 device.threads=1 "
                                   "train.steps=100000000 train.eval_every=0 train.checkpoint_every=0 "
                                   "train.log_every=10 run.out_dir=" +
                                   out.path().string()) +
                     " > " + (out / "stdout").string() + " 2>&1";
  pid_t launcher = spawn(line);
  std::filesystem::path run = wait_for_training(out / "nice", 2);
  REQUIRE_FALSE(run.empty());
  pid_t rank1 = worker_with_rank(launcher, 1);
  REQUIRE(rank1 > 0);
  kill(rank1, SIGTERM);
  int status = 0;
  waitpid(launcher, &status, 0);
  std::string output = read_text(out / "stdout");
  INFO(output);
  nlohmann::json meta = meta_of(run);
  CHECK(meta["status"] == "interrupted");
  CHECK(checkpoint_step(run / "checkpoints/last.pt") == meta["step"].get<int64_t>());
  CHECK(output.find("interrupted by signal 15") != std::string::npos);
  CHECK(output.find("failed: rank") == std::string::npos);
}

TEST_CASE("a rank that dies makes the others exit 5 with a message naming it") {
  if (!genbox::gloo_available()) {
    MESSAGE("skipped: the build found no gloo headers");
    return;
  }
  TempDir out;
  const int port = free_port();
  auto rank_command = [&](int rank) {
    return fmt::format(
        "RANK={} WORLD_SIZE=2 LOCAL_RANK={} MASTER_ADDR=127.0.0.1 MASTER_PORT={} {} train "
        "data.dataset=two_moons data.toy_size=2000 model.hidden=16 model.hidden_layers=1 "
        "train.batch_size=64 device.threads=1 train.steps=100000000 train.eval_every=0 "
        "train.checkpoint_every=0 train.log_every=10 distributed.timeout_s=60 run.out_dir={}",
        rank, rank, port, binary("nice"), out.path().string());
  };
  pid_t doomed = spawn(rank_command(1) + " > /dev/null 2>&1");
  auto survivor = std::async(std::launch::async, [&] { return run_command(rank_command(0)); });
  // Once rank 0 logs training lines, both are in the loop.
  std::filesystem::path run = wait_for_training(out / "nice", 2);
  REQUIRE_FALSE(run.empty());
  kill(doomed, SIGKILL);
  waitpid(doomed, nullptr, 0);
  auto result = survivor.get();
  INFO(result.output);
  CHECK(result.exit_code == 5);
  CHECK(result.output.find("rank 0 of 2:") != std::string::npos);
  CHECK(result.output.find("rank 1 died") != std::string::npos);
  CHECK(meta_of(run)["status"] == "failed");
}

TEST_CASE("fp16 on 2 processes x 2 micro-batches unscales once, after the all-reduce: fp32's weights") {
  if (!can_launch_cpu_processes()) {
    MESSAGE("skipped: the build found no torchrun or no gloo headers");
    return;
  }
  // Without autocast (the test hook) and with a power-of-two scale, scaling, accumulating,
  // averaging and unscaling once are exact, so both runs must end with the same bits. Unscaling
  // per micro-batch, per rank before the average, or twice, would not. Both end where one
  // process with the whole batch does, up to the order of float sums (tolerance as above).
  TempDir out;
  const std::string program =
      binary("nice") +
      " train data.dataset=two_moons data.toy_size=2000 model.hidden=16 model.hidden_layers=1 train.batch_size=64"
      " device.threads=1 train.steps=8 train.eval_every=0 train.sample_every=0 train.accumulate_steps=2 run.out_dir=";
  REQUIRE(run_command(program + (out / "one").string() + " train.accumulate_steps=1").exit_code == 0);
  auto fp32 = run_command(launch(2, program + (out / "fp32").string()));
  INFO(fp32.output);
  REQUIRE(fp32.exit_code == 0);
  auto fp16 =
      run_command("GENBOX_AUTOCAST=off " + launch(2, program + (out / "fp16").string() + " device.precision=fp16"));
  INFO(fp16.output);
  REQUIRE(fp16.exit_code == 0);
  CHECK(model_weight_difference(only_run(out / "fp32", "nice") / "checkpoints/last.pt",
                                only_run(out / "fp16", "nice") / "checkpoints/last.pt")
            .first == 0.0);
  CHECK(metrics_of(only_run(out / "fp16", "nice"), "train").back()["loss_scale"] == 65536.0);
  CHECK(model_weight_difference(only_run(out / "one", "nice") / "checkpoints/last.pt",
                                only_run(out / "fp32", "nice") / "checkpoints/last.pt")
            .first <= 1e-6);
}
