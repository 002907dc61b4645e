#include <doctest/doctest.h>

#include <torch/torch.h>

#include "common/data/batches.hpp"
#include "common/data/toy2d.hpp"

using namespace genbox;

TEST_CASE("each epoch visits every index at most once, in a new order") {
  BatchSampler sampler(10, 3, 42);
  CHECK(sampler.batches_per_epoch() == 3);
  std::vector<torch::Tensor> first, second;
  for (int i = 0; i < 3; ++i) first.push_back(sampler.next());
  for (int i = 0; i < 3; ++i) second.push_back(sampler.next());
  torch::Tensor epoch1 = torch::cat(first), epoch2 = torch::cat(second);
  CHECK(std::get<0>(torch::_unique(epoch1)).size(0) == 9);
  CHECK(std::get<0>(torch::_unique(epoch2)).size(0) == 9);
  CHECK(epoch1.max().item<int64_t>() < 10);
  CHECK_FALSE(torch::equal(epoch1, epoch2));
}

TEST_CASE("the same seed and position give the same batches") {
  BatchSampler a(100, 7, 3), b(100, 7, 3), c(100, 7, 4);
  for (int i = 0; i < 20; ++i) a.next();
  b.set_position(20);
  CHECK(torch::equal(a.next(), b.next()));
  CHECK_FALSE(torch::equal(BatchSampler(100, 7, 3).next(), c.next()));
}

TEST_CASE("toy distributions are reproducible by seed and sit where they should") {
  for (const std::string& name : toy2d_names()) {
    torch::Tensor a = sample_toy2d(name, 2000, at::make_generator<at::CPUGeneratorImpl>(1));
    torch::Tensor b = sample_toy2d(name, 2000, at::make_generator<at::CPUGeneratorImpl>(1));
    CHECK(a.sizes() == torch::IntArrayRef({2000, 2}));
    CHECK(torch::equal(a, b));
    CHECK(a.abs().max().item<float>() < 4.5f);
  }
  // Eight Gaussians: every point is within a few sigma of a centre on the radius-3 circle.
  torch::Tensor g = sample_toy2d("eight_gaussians", 2000, at::make_generator<at::CPUGeneratorImpl>(2));
  torch::Tensor radius = g.norm(2, 1);
  CHECK(radius.mean().item<float>() == doctest::Approx(3.0).epsilon(0.05));
  // Checkerboard: floor(x) + floor(y) is even on the [-4, 4] board of 2x2 cells.
  torch::Tensor c = sample_toy2d("checkerboard", 2000, at::make_generator<at::CPUGeneratorImpl>(3));
  torch::Tensor cells = ((c + 4) / 2).floor();
  CHECK(torch::fmod(cells.sum(1), 2).eq(0).all().item<bool>());
}

TEST_CASE("grid points run row-major from the top-left corner") {
  torch::Tensor g = grid_points(2.0, 2);
  CHECK(torch::allclose(g, torch::tensor({{-1.0f, 1.0f}, {1.0f, 1.0f}, {-1.0f, -1.0f}, {1.0f, -1.0f}})));
}
