#include <doctest/doctest.h>

#include <torch/torch.h>

#include "common/npz.hpp"
#include "metrics/feature_stats.hpp"
#include "metrics/frechet.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::metrics;
using genbox::testing::data_error_of;
using genbox::testing::TempDir;

TEST_CASE("feature moments added batch by batch equal the whole set's mean and covariance") {
  torch::manual_seed(6);
  const torch::Tensor features = torch::randn({301, 12}) * 3 + 1;
  FeatureMoments moments;
  for (int64_t at = 0; at < 301; at += 64) moments.add(features.narrow(0, at, std::min<int64_t>(64, 301 - at)));
  CHECK(moments.count() == 301);
  const FeatureStats stats = moments.stats();
  const torch::Tensor f = features.to(torch::kFloat64);
  CHECK(torch::allclose(stats.mu, f.mean(0), 1e-12, 1e-12));
  CHECK(torch::allclose(stats.sigma, torch::cov(f.t()), 1e-10, 1e-10));

  // The distance from statistics is the distance from the features.
  const torch::Tensor other = torch::randn({250, 12});
  FeatureMoments second;
  second.add(other);
  CHECK(frechet_distance(stats, second.stats()) == doctest::Approx(frechet_distance(features, other)).epsilon(1e-9));
}

TEST_CASE("FID statistics files keep mu and sigma, and a file without them is named") {
  TempDir dir;
  torch::manual_seed(7);
  FeatureMoments moments;
  moments.add(torch::randn({40, 5}));
  const FeatureStats stats = moments.stats();
  write_feature_stats(dir / "ref.npz", stats);
  const FeatureStats back = read_feature_stats(dir / "ref.npz");
  CHECK(back.mu.equal(stats.mu));
  CHECK(back.sigma.equal(stats.sigma));

  write_npz(dir / "no_sigma.npz", {{"mu", stats.mu}});
  CHECK(data_error_of([&] { read_feature_stats(dir / "no_sigma.npz"); }) ==
        (dir / "no_sigma.npz").string() + ": no 'sigma' array; FID statistics hold mu [D] and sigma [D, D]");
  write_npz(dir / "mismatch.npz", {{"mu", stats.mu}, {"sigma", torch::zeros({4, 5}, torch::kFloat64)}});
  CHECK(data_error_of([&] {
          read_feature_stats(dir / "mismatch.npz");
        }).find("mismatch.npz: mu is [5] of Double and sigma [4, 5] of Double") != std::string::npos);
}
