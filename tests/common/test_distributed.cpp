// The World and the gradient averager, with two ranks as two threads of this process joined
// through a TCPStore on a port the OS chose: the same Gloo code torchrun's processes run.
#include <doctest/doctest.h>

#include <stdlib.h>

#include <ATen/CPUGeneratorImpl.h>

#include <torch/torch.h>
#include <future>

#include "base/config.hpp"
#include "common/distributed.hpp"
#include "tests/support.hpp"

using namespace genbox;

namespace {
// Runs fn(world) on two ranks at once and returns their results, rank 0 first.
template <typename Fn>
auto on_two_ranks(Fn fn) {
  const int port = genbox::testing::free_port();
  auto rank = [&](int r) {
    Launch launch;
    launch.rank = r;
    launch.world_size = 2;
    launch.master_addr = "127.0.0.1";
    launch.master_port = port;
    DistributedSettings settings;
    settings.timeout_s = 60;
    World world(launch, settings, c10::Device(c10::kCPU));
    return fn(world);
  };
  auto second = std::async(std::launch::async, rank, 1);
  auto first = rank(0);
  return std::make_pair(first, second.get());
}
}  // namespace

TEST_CASE("alone, the world is this process: shards are whole batches, sums are the values") {
  World world;
  CHECK_FALSE(world.distributed());
  CHECK(world.size() == 1);
  torch::Tensor batch = torch::arange(6);
  CHECK(torch::equal(world.shard(batch), batch));
  CHECK(world.sum({1.5, 2.0}) == std::vector<double>{1.5, 2.0});
  CHECK(world.local_batch(7, "train.batch_size") == 7);
}

TEST_CASE("the launch comes from torchrun's variables, and malformed ones are named") {
  unsetenv("RANK");
  unsetenv("WORLD_SIZE");
  CHECK_FALSE(launch_from_environment().has_value());
  setenv("RANK", "1", 1);
  setenv("WORLD_SIZE", "4", 1);
  setenv("LOCAL_RANK", "1", 1);
  setenv("MASTER_PORT", "1234", 1);
  std::optional<Launch> launch = launch_from_environment();
  REQUIRE(launch.has_value());
  CHECK(launch->rank == 1);
  CHECK(launch->world_size == 4);
  CHECK(launch->master_port == 1234);
  setenv("RANK", "4", 1);
  CHECK_THROWS_WITH_AS(launch_from_environment(), "environment variable RANK=4 is not an integer in [0, 3]",
                       ConfigError);
  for (const char* name : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"}) unsetenv(name);
}

TEST_CASE("two ranks: disjoint shards, sums, broadcast, and a batch that does not divide") {
  if (!gloo_available()) {
    MESSAGE("skipped: the build found no gloo headers");
    return;
  }
  auto [a, b] = on_two_ranks([](World& world) {
    torch::Tensor shard = world.shard(torch::arange(6));
    std::vector<double> total = world.sum({double(world.rank() + 1)});
    torch::Tensor value = torch::full({3}, double(world.rank() + 10));
    world.broadcast({value});
    std::string bytes = world.broadcast_bytes(world.is_main() ? std::string("rank 0's\0bytes", 14) : "");
    std::vector<std::string> names = world.gather_strings("r" + std::to_string(world.rank()));
    bool refused = false;
    try {
      world.local_batch(5, "train.batch_size");
    } catch (const ConfigError& e) {
      refused = std::string(e.what()) == "train.batch_size = 5 is the global batch and must divide by the world size 2";
    }
    return std::make_tuple(shard, total[0], value, bytes, names, refused);
  });
  CHECK(torch::equal(std::get<0>(a), torch::arange(0, 3)));
  CHECK(torch::equal(std::get<0>(b), torch::arange(3, 6)));
  CHECK(std::get<1>(a) == 3.0);
  CHECK(std::get<1>(b) == 3.0);
  CHECK(torch::equal(std::get<2>(b), torch::full({3}, 10.0)));
  CHECK(std::get<3>(b) == std::string("rank 0's\0bytes", 14));
  CHECK(std::get<4>(a) == std::vector<std::string>{"r0", "r1"});
  CHECK(std::get<4>(b) == std::vector<std::string>{"r0", "r1"});
  CHECK(std::get<5>(a));
}

TEST_CASE("the averager leaves every rank the mean gradient, over several buckets and unused parameters") {
  if (!gloo_available()) {
    MESSAGE("skipped: the build found no gloo headers");
    return;
  }
  // Three parameters of 64 floats (256 bytes): buckets of 300 bytes hold one each. `unused`
  // gets a gradient on rank 0 only; rank 1 counts as zero for it.
  auto [a, b] = on_two_ranks([](World& world) {
    // Both ranks start from the same weights, drawn from a generator of their own.
    at::Generator g = at::make_generator<at::CPUGeneratorImpl>(0);
    torch::Tensor w1 = at::randn({64}, g).requires_grad_(), w2 = at::randn({8, 8}, g).requires_grad_();
    torch::Tensor unused = at::randn({64}, g).requires_grad_();
    GradientAverager averager(world, {w1, w2, unused}, 300);
    const double k = world.rank() + 1.0;  // rank r's loss scales by (r + 1)
    torch::Tensor loss = k * ((w1 * w1).sum() + (w2 * 3).sum());
    if (world.rank() == 0) loss = loss + (unused * 2).sum();
    loss.backward();
    averager.finish();
    std::vector<torch::Tensor> grads = {w1.grad().clone(), w2.grad().clone(), unused.grad().clone()};
    // A second step reuses the buckets.
    for (auto& p : {w1, w2, unused})
      if (p.grad().defined()) p.mutable_grad().zero_();
    (k * w1.sum()).backward();
    averager.finish();
    grads.push_back(w1.grad().clone());
    return std::make_pair(grads, std::vector<torch::Tensor>{w1.detach(), w2.detach()});
  });
  const auto& [grads, weights] = a;
  // Mean over ranks of (r + 1) * d/dw: 1.5 times rank 0's gradient.
  CHECK(torch::allclose(grads[0], 1.5 * 2 * weights[0]));
  CHECK(torch::allclose(grads[1], torch::full({8, 8}, 1.5 * 3)));
  CHECK(torch::allclose(grads[2], torch::full({64}, 1.0)));  // (2 + 0) / 2
  CHECK(torch::allclose(grads[3], torch::full({64}, 1.5)));
  for (size_t i = 0; i < grads.size(); ++i) CHECK(torch::equal(grads[i], b.first[i]));
}

TEST_CASE("sum_with_gradient sums values and gradients over ranks") {
  if (!gloo_available()) {
    MESSAGE("skipped: the build found no gloo headers");
    return;
  }
  auto [a, b] = on_two_ranks([](World& world) {
    torch::Tensor x = torch::full({2}, double(world.rank() + 1), torch::requires_grad());
    torch::Tensor total = world.sum_with_gradient(x * x);  // sum over ranks of x_r^2
    (total * double(world.rank() + 1)).sum().backward();   // rank r weighs the total by r + 1
    return std::make_pair(total.detach(), x.grad().clone());
  });
  CHECK(torch::allclose(a.first, torch::full({2}, 5.0)));  // 1 + 4
  CHECK(torch::allclose(b.first, torch::full({2}, 5.0)));
  // d/dx_r of sum_s (s + 1) * sum_q x_q^2 = 2 x_r * (1 + 2).
  CHECK(torch::allclose(a.second, torch::full({2}, 2 * 1.0 * 3)));
  CHECK(torch::allclose(b.second, torch::full({2}, 2 * 2.0 * 3)));
}
