// End-to-end: the rf_dit binary on toy points and on a tiny IDX image set, checked through the
// run directory it leaves.
#include <doctest/doctest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {
std::filesystem::path only_run(const std::filesystem::path& out) {
  std::vector<std::filesystem::path> runs;
  for (const auto& e : std::filesystem::directory_iterator(out / "rf_dit")) runs.push_back(e.path());
  REQUIRE(runs.size() == 1);
  return runs[0];
}

}  // namespace

TEST_CASE("rf_dit train, sample and eval on toy data leave a complete run directory") {
  TempDir out;
  const std::string common =
      " data.dataset=eight_gaussians data.toy_size=2000 model.toy_hidden=32 model.toy_layers=2"
      " device.threads=1 eval.fd_samples=200 eval.likelihood_images=50 eval.likelihood_steps=8"
      " run.out_dir=" +
      out.path().string();
  auto result = run_command(binary("rf_dit") + " train train.steps=40 train.eval_every=20 train.log_every=10" + common);
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  std::filesystem::path run = only_run(out.path());
  for (const char* f : {"config.toml", "meta.json", "metrics.jsonl", "log.txt", "checkpoints/last.pt",
                        "checkpoints/best.pt", "samples/step_0000040.png"})
    CHECK_MESSAGE(std::filesystem::exists(run / f), f);
  auto meta = nlohmann::json::parse(read_text(run / "meta.json"));
  CHECK(meta["status"] == "finished");
  CHECK(meta["step"] == 40);

  auto sample = run_command(binary("rf_dit") + " sample " + run.string() + " --n 100");
  INFO(sample.output);
  CHECK(sample.exit_code == 0);
  auto eval = run_command(binary("rf_dit") + " eval " + run.string());
  INFO(eval.output);
  REQUIRE(eval.exit_code == 0);
  auto results = nlohmann::json::parse(read_text(run / "eval.json"));
  CHECK(results["fd_train_vs_test"].get<double>() >= 0);
  CHECK(results["sweep"].size() == 2);  // unconditional: the steps sweep at one guidance
  CHECK(std::isfinite(results["nll"].get<double>()));
}

TEST_CASE("rf_dit on a tiny image set: classifier, class-conditional training, FD sweep and bits/dim") {
  TempDir out;
  write_tiny_item_set(out.path());
  const std::string common = " data.dataset=idx data.root=" + out.path().string() +
                             " model.width=32 model.depth=1 model.heads=2 model.patch=2 device.threads=1"
                             " eval.classifier=" +
                             (out / "classifier.pt").string() +
                             " eval.fd_samples=20 eval.steps=[2] eval.guidance=[1.0,3.0] eval.likelihood_images=4"
                             " eval.likelihood_steps=4 run.out_dir=" +
                             out.path().string();
  auto classifier = run_command(binary("rf_dit") + " classifier classifier.epochs=3 classifier.batch_size=8" + common);
  INFO(classifier.output);
  REQUIRE(classifier.exit_code == 0);
  auto summary = nlohmann::json::parse(read_text(out / "classifier.pt.json"));
  CHECK(summary["test_accuracy"].get<double>() >= 0.0);

  auto train = run_command(binary("rf_dit") + " train train.steps=6 train.batch_size=8 train.eval_every=3" + common);
  INFO(train.output);
  REQUIRE(train.exit_code == 0);
  std::filesystem::path run = only_run(out.path());
  CHECK(std::filesystem::exists(run / "samples/step_0000006.png"));
  auto eval = run_command(binary("rf_dit") + " eval " + run.string());
  INFO(eval.output);
  REQUIRE(eval.exit_code == 0);
  auto results = nlohmann::json::parse(read_text(run / "eval.json"));
  CHECK(results["sweep"].size() == 2);
  CHECK(results["sweep"][0]["class_accuracy_per_class"].size() == 4);
  double bpd = results["bpd"].get<double>();
  CHECK(bpd > 0.0);
  CHECK(bpd < 20.0);
}

TEST_CASE("rf_dit eval without a classifier reports the loss and bits/dim and says how to get the FD") {
  TempDir out;
  write_tiny_item_set(out.path());
  const std::string common =
      " data.dataset=idx data.root=" + out.path().string() +
      " model.width=32 model.depth=1 model.heads=2 device.threads=1 eval.classifier=" + (out / "absent.pt").string() +
      " run.out_dir=" + out.path().string();
  REQUIRE(
      run_command(binary("rf_dit") + " train train.steps=2 train.eval_every=2 train.batch_size=8" + common).exit_code ==
      0);
  const std::filesystem::path run = only_run(out.path());
  auto eval =
      run_command(binary("rf_dit") + " eval " + run.string() + " eval.likelihood_images=4 eval.likelihood_steps=2");
  INFO(eval.output);
  REQUIRE(eval.exit_code == 0);
  CHECK(eval.output.find("no Frechet distance: no classifier at " + (out / "absent.pt").string() +
                         "; train one for this set with `rf_dit classifier`") != std::string::npos);
  auto results = nlohmann::json::parse(read_text(run / "eval.json"));
  CHECK_FALSE(results.contains("sweep"));
  CHECK(std::isfinite(results["bpd"].get<double>()));
  // eval scores last.pt (sample.checkpoint's default) on the batch training evaluates: the loss
  // training recorded at its last step, with the same (EMA) weights.
  CHECK(results["val_loss"].get<double>() ==
        doctest::Approx(metrics_of(run, "eval").back()["val_loss"].get<double>()).epsilon(1e-6));
}

TEST_CASE("rf_dit measures FID while training and over eval's sweep, beside KID, precision/recall and the floor") {
  TempDir out;
  write_tiny_cifar10(out / "cifar");
  write_random_inception(out / "w.safetensors");
  const std::string common = " data.dataset=cifar10 data.root=" + (out / "cifar").string() +
                             " model.width=32 model.depth=1 model.heads=2 model.patch=8 device.threads=1"
                             " eval.fid_samples=8 fid.kid_subset_size=4 fid.weights=" +
                             (out / "w.safetensors").string() + " fid.cache_dir=" + (out / "cache").string() +
                             " eval.classifier=" + (out / "absent.pt").string() + " run.out_dir=" + out.path().string();
  auto train = run_command(
      binary("rf_dit") + " train train.steps=4 train.batch_size=8 train.eval_every=2 eval.fid_every=4 sample.steps=2" +
      common);
  INFO(train.output);
  REQUIRE(train.exit_code == 0);
  const std::filesystem::path run = only_run(out.path());
  const auto evals = metrics_of(run, "eval");
  REQUIRE(evals.size() == 3);  // steps 0, 2 and 4; FID at 4 only
  CHECK_FALSE(evals[1].contains("fid"));
  CHECK(evals[2]["fid_images"] == 8);
  CHECK(evals[2]["fid_reference_images"] == 40);
  CHECK(std::isfinite(evals[2]["fid"].get<double>()));
  CHECK(evals[2]["fid"].get<double>() > 0);
  CHECK(evals[2].contains("kid"));
  CHECK(evals[2].contains("fid_floor"));  // 8 of CIFAR's 16 test images against 8 training images
  CHECK(train.output.find("FID ") != std::string::npos);

  auto eval = run_command(binary("rf_dit") + " eval " + run.string() +
                          " eval.steps=[2] eval.guidance=[1.0,2.0] eval.likelihood_images=0");
  INFO(eval.output);
  REQUIRE(eval.exit_code == 0);
  const auto results = nlohmann::json::parse(read_text(run / "eval.json"));
  REQUIRE(results["sweep"].size() == 2);
  CHECK(results["fid_input"] == "tf");
  CHECK(results["fid_reference"] == "40 train images");
  for (const auto& row : results["sweep"]) {
    CHECK(std::isfinite(row["fid"].get<double>()));
    CHECK(row["fid_floor"].get<double>() == evals[2]["fid_floor"].get<double>());
    CHECK(row.contains("precision"));
    CHECK_FALSE(row.contains("fd"));  // no classifier: no FD
  }

  // The samples as files, for `fid score`: the same FID as eval's at those settings.
  auto sample = run_command(binary("rf_dit") + " sample " + run.string() + " --images 8 sample.steps=2");
  INFO(sample.output);
  REQUIRE(sample.exit_code == 0);
  const std::filesystem::path images = run / "samples/images_euler2_w2";
  CHECK(std::filesystem::exists(images / "000007.png"));
  CHECK_FALSE(std::filesystem::exists(images / "000008.png"));
}

TEST_CASE("the README's rf_dit key table is the one the binary prints") {
  auto markdown = run_command(binary("rf_dit") + " train --print-config=markdown 2>/dev/null");
  REQUIRE(markdown.exit_code == 0);
  std::string readme = read_text(source_dir() / "README.md");
  CHECK_MESSAGE(readme.find(markdown.output) != std::string::npos,
                "README.md is out of date: paste `build/bin/rf_dit train --print-config=markdown` into it");
}

TEST_CASE("rf_dit config errors exit 2 before anything is written") {
  TempDir out;
  auto bad = run_command(binary("rf_dit") + " train flow.timesteps=logit_norml run.out_dir=" + out.path().string());
  CHECK(bad.exit_code == 2);
  CHECK(bad.output.find("did you mean \"logit_normal\"?") != std::string::npos);
  const std::string tiny = " data.dataset=idx data.root=" + out.path().string() + " run.out_dir=" + out.path().string();
  auto missing = run_command(binary("rf_dit") + " train" + tiny);
  CHECK(missing.exit_code == 3);
  CHECK(missing.output.find("t10k-images-idx3-ubyte.gz (or without .gz): no such file") != std::string::npos);
  write_tiny_item_set(out.path());
  auto heads = run_command(binary("rf_dit") + " train model.width=30 model.heads=4" + tiny);
  CHECK(heads.exit_code == 2);
  CHECK(heads.output.find("model.width = 30 must be divisible by model.heads = 4") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out / "rf_dit"));
}

TEST_CASE("another program on an rf_dit run says whose run it is, and leaves it alone") {
  TempDir out;
  auto train = run_command(binary("rf_dit") +
                           " train data.dataset=eight_gaussians data.toy_size=200 model.toy_hidden=8 model.toy_layers=1"
                           " train.steps=2 device.threads=1 run.out_dir=" +
                           out.path().string());
  INFO(train.output);
  REQUIRE(train.exit_code == 0);
  const std::string run = only_run(out.path()).string();
  const std::string meta = read_text(only_run(out.path()) / "meta.json");
  auto eval = run_command(binary("nice") + " eval " + run);
  CHECK(eval.exit_code == 2);
  CHECK(eval.output == "nice: " + run + " is a run of rf_dit, not of nice; use rf_dit eval\n");
  auto sample = run_command(binary("detr") + " sample " + run + " --n 2");
  CHECK(sample.exit_code == 2);
  CHECK(sample.output.find("is a run of rf_dit, not of detr; use rf_dit sample") != std::string::npos);
  auto resume = run_command(binary("nice") + " train --resume " + run);
  CHECK(resume.exit_code == 2);
  CHECK(resume.output.find("use rf_dit train --resume") != std::string::npos);
  CHECK(read_text(only_run(out.path()) / "meta.json") == meta);
}

TEST_CASE("eval finds the FD classifier under the run's output directory, from any working directory") {
  TempDir root;
  write_tiny_item_set(root.path());
  std::filesystem::create_directories(root / "work");
  // Relative paths throughout: run.out_dir against the working directory, eval.classifier (the
  // default, classifier/fashion_mnist.pt) against the output directory.
  const std::string common = " data.dataset=idx data.root=" + root.path().string() +
                             " model.width=32 model.depth=1 model.heads=2 model.patch=2 device.threads=1"
                             " eval.fd_samples=20 eval.steps=[2] eval.guidance=[1.0] eval.likelihood_images=0"
                             " run.out_dir=runs";
  const std::string in_work = "cd " + (root / "work").string() + " && " + binary("rf_dit");
  auto classifier = run_command(in_work + " classifier classifier.epochs=1 classifier.batch_size=8" + common);
  INFO(classifier.output);
  REQUIRE(classifier.exit_code == 0);
  CHECK(std::filesystem::exists(root / "work/runs/classifier/fashion_mnist.pt"));
  auto train = run_command(in_work + " train train.steps=2 train.batch_size=8" + common);
  INFO(train.output);
  REQUIRE(train.exit_code == 0);
  const std::filesystem::path run = only_run(root / "work/runs");
  // From the parent directory, through a relative RUN_DIR with a trailing slash.
  const std::string relative = "work/runs/rf_dit/" + run.filename().string() + "/";
  auto eval = run_command("cd " + root.path().string() + " && " + binary("rf_dit") + " eval " + relative);
  INFO(eval.output);
  REQUIRE(eval.exit_code == 0);
  auto results = nlohmann::json::parse(read_text(run / "eval.json"));
  CHECK(results.contains("classifier_test_accuracy"));
  // A missing one is named where it was looked for.
  std::filesystem::remove(root / "work/runs/classifier/fashion_mnist.pt");
  auto missing = run_command("cd / && " + binary("rf_dit") + " eval " + run.string());
  CHECK(missing.exit_code == 0);
  CHECK(missing.output.find("no classifier at " + (root / "work/runs/classifier/fashion_mnist.pt").string()) !=
        std::string::npos);
}
