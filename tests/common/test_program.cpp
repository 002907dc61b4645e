// The benches' operator count: every ATen call that passes the dispatcher while the work runs,
// and nothing once it is done.
#include <doctest/doctest.h>

#include <ATen/record_function.h>
#include <torch/torch.h>

#include <stdexcept>

#include "common/program.hpp"

using namespace genbox;

TEST_CASE("dispatched_ops counts the operator calls of the work, in proportion, and leaves no callback") {
  torch::Tensor a = torch::ones({4}), b = torch::ones({4});
  CHECK(dispatched_ops([] {}) == 0);
  const int64_t one = dispatched_ops([&] { a.add(b); });
  CHECK(one >= 1);
  CHECK(dispatched_ops([&] {
          for (int i = 0; i < 7; ++i) a.add(b);
        }) == 7 * one);
  // Calls outside the work are not counted: a second count starts from zero.
  CHECK(dispatched_ops([&] { a.add(b); }) == one);
  CHECK_FALSE(at::hasGlobalCallbacks());
  CHECK_THROWS_AS(dispatched_ops([] { throw std::runtime_error("failed work"); }), std::runtime_error);
  CHECK_FALSE(at::hasGlobalCallbacks());
}
