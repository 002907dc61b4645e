// FID's Inception against the tools papers use, offline: bench/fid_oracle.py builds pytorch-fid's
// network with random weights (batch norms calibrated so that features vary) and writes what
// pytorch-fid, torch-fidelity and clean-fid's resize make of a few images; genbox loads the same
// weights (converted by bench/convert_inception.py) and must agree. Skipped (never failed) where the venv lacks those
// packages.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "common/npz.hpp"
#include "metrics/feature_stats.hpp"
#include "metrics/frechet.hpp"
#include "metrics/inception.hpp"
#include "metrics/inception_features.hpp"
#include "metrics/inception_input.hpp"
#include "metrics/kernel_distance.hpp"
#include "metrics/precision_recall.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::metrics;
using genbox::testing::reference_python;
using genbox::testing::relative_error;
using genbox::testing::run_command;
using genbox::testing::source_dir;
using genbox::testing::TempDir;

namespace {

torch::Tensor read_npy(const std::filesystem::path& path) {
  return parse_npy(genbox::testing::read_text(path), path.string());
}

}  // namespace

TEST_CASE("FID features, FID, KID and precision/recall equal pytorch-fid's, torch-fidelity's and clean-fid's") {
  const std::string python = reference_python();
  if (python.empty() || run_command(python + " -c 'import pytorch_fid, torch_fidelity, cleanfid'").exit_code != 0) {
    MESSAGE("skipped: no venv Python with pytorch-fid, torch-fidelity and clean-fid (scripts/setup installs them)");
    return;
  }
  TempDir dir;
  const auto made =
      run_command(python + " " + (source_dir() / "bench/fid_oracle.py").string() + " " + dir.path().string());
  INFO(made.output);
  REQUIRE(made.exit_code == 0);
  const auto expected = read_npz(dir / "expected.npz");
  const torch::Device cpu(torch::kCPU);

  // bench/convert_inception.py turns the torch.save file into the oracle's own safetensors.
  const auto converted = run_command(python + " " + (source_dir() / "bench/convert_inception.py").string() + " " +
                                     (dir / "weights.pth").string() + " " + (dir / "converted.safetensors").string());
  INFO(converted.output);
  REQUIRE(converted.exit_code == 0);
  FidInception from_pth = load_fid_inception(dir / "converted.safetensors", cpu);
  FidInception from_safetensors = load_fid_inception(dir / "weights.safetensors", cpu);
  const torch::Tensor probe = inception_input(read_npy(dir / "images_grey.npy"), InceptionInput::kTf, cpu);
  torch::NoGradGuard no_grad;
  CHECK(torch::equal(from_pth->forward(probe), from_safetensors->forward(probe)));

  std::map<std::string, torch::Tensor> features;
  for (const std::string convention : {"tf", "pytorch", "clean"}) {
    const InceptionFeatures extractor({(dir / "converted.safetensors").string(), convention, 4}, cpu);
    for (const std::string name : {"a", "b", "grey", "tall", "large"}) {
      CAPTURE(convention);
      CAPTURE(name);
      const torch::Tensor images = read_npy(dir / ("images_" + name + ".npy"));
      // The network's input first, so that a resize mismatch is told apart from a network one.
      const torch::Tensor input = inception_input(images, parse_inception_input(convention), cpu);
      CHECK(relative_error(input, expected.at("input_" + convention + "_" + name)) <= 1e-6);
      const std::string key = "features_" + convention + "_" + name;
      if (!expected.count(key)) continue;
      features[convention + name] = extractor(images);
      CHECK(relative_error(features[convention + name], expected.at(key)) <= 1e-4);
    }
  }

  // pytorch-fid's FID of its features and torch-fidelity's FID, KID and precision/recall of its.
  const double fid_pytorch = frechet_distance(features["pytorcha"], features["pytorchb"]);
  CHECK(fid_pytorch == doctest::Approx(expected.at("fid_pytorch").item<double>()).epsilon(1e-3));
  const double fid_tf = frechet_distance(features["tfa"], features["tfb"]);
  CHECK(fid_tf == doctest::Approx(expected.at("fid_tf").item<double>()).epsilon(1e-3));
  const KernelDistance kid = kernel_distance(features["tfa"], features["tfb"], 10, 8);
  CHECK(kid.mean == doctest::Approx(expected.at("kid_tf").item<double>()).epsilon(1e-3));
  const PrecisionRecall pr = precision_recall(features["tfb"], features["tfa"]);
  CHECK(pr.precision == expected.at("precision_tf").item<double>());
  CHECK(pr.recall == expected.at("recall_tf").item<double>());

  // Statistics files both ways: pytorch-fid's --save-stats (deflated) read here, genbox's read there.
  const FeatureStats theirs = read_feature_stats(dir / "stats_pytorch_a.npz");
  const FeatureStats ours = stats_of(features["pytorcha"]);
  CHECK(relative_error(ours.mu, theirs.mu) <= 1e-4);
  CHECK(relative_error(ours.sigma, theirs.sigma) <= 1e-4);
  write_feature_stats(dir / "ours.npz", ours);
  const auto read_back = run_command(python + " " + (source_dir() / "bench/fid_oracle.py").string() + " read-stats " +
                                     (dir / "ours.npz").string());
  REQUIRE(read_back.exit_code == 0);
  const auto summary = nlohmann::json::parse(read_back.output);
  CHECK(summary["shape"] == nlohmann::json::array({2048, 2048}));
  CHECK(summary["dtype"] == "float64");
  CHECK(summary["mu_sum"].get<double>() == doctest::Approx(ours.mu.sum().item<double>()).epsilon(1e-12));
  CHECK(summary["sigma_trace"].get<double>() == doctest::Approx(ours.sigma.trace().item<double>()).epsilon(1e-12));
}
