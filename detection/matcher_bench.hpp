// The matcher's speed as `detr bench` reports it, on the reference problem of 64 images, 100
// queries and 1..20 targets each (random_matching_problem).
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <nlohmann/json.hpp>

#include "detection/matcher.hpp"

namespace genbox::detection {

// matcher_ms_64x100 (on `device` at the current threads), matcher_ms_64x100_cpu_1_thread (the
// issue's reference figure), matcher_targets, and matcher_cost_pass_cpu_1_thread: the batched
// cost pass against the same pass image by image, in dispatched ops and milliseconds.
nlohmann::json matcher_bench(const HungarianMatcher& matcher, int64_t classes, uint64_t seed, c10::Device device);

}  // namespace genbox::detection
