#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "report/series.hpp"

using namespace genbox::report;

TEST_CASE("a metric becomes a series against step or wall time, skipping missing values") {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  MetricRows rows;
  rows.step = {10, 20, 30, 40};
  rows.time_s = {1.0, 2.0, kNaN, 4.0};
  rows.values["loss"] = {5, kNaN, 3, 2};

  Series by_step = metric_series(rows, "loss", XAxis::step);
  CHECK(by_step.x == std::vector<double>{10, 30, 40});
  CHECK(by_step.y == std::vector<double>{5, 3, 2});
  Series by_time = metric_series(rows, "loss", XAxis::time);
  CHECK(by_time.x == std::vector<double>{1, 4});
  CHECK(by_time.y == std::vector<double>{5, 2});
  CHECK(metric_series(rows, "bpd", XAxis::step).size() == 0);
}

TEST_CASE("EMA smoothing, worked by hand") {
  Series series{{1, 2, 3, 4}, {0, 10, 10, 0}};
  // s0 = 0; s1 = .5*0 + .5*10 = 5; s2 = .5*5 + .5*10 = 7.5; s3 = .5*7.5 + .5*0 = 3.75
  Series half = ema(series, 0.5);
  CHECK(half.x == series.x);
  CHECK(half.y == std::vector<double>{0, 5, 7.5, 3.75});
  // s1 = .9*0 + .1*10 = 1; s2 = .9*1 + .1*10 = 1.9; s3 = .9*1.9 = 1.71
  Series heavy = ema(series, 0.9);
  CHECK(heavy.y[1] == doctest::Approx(1.0));
  CHECK(heavy.y[2] == doctest::Approx(1.9));
  CHECK(heavy.y[3] == doctest::Approx(1.71));
  CHECK(ema(series, 0).y == series.y);
  CHECK(ema(Series{}, 0.5).size() == 0);
}

TEST_CASE("thinning keeps the shape: global extremes, spikes, first and last point") {
  const std::size_t n = 1'000'000;
  Series series;
  for (std::size_t i = 0; i < n; ++i) {
    series.x.push_back(static_cast<double>(i));
    // A slowly decaying wiggle, with one spike up and one down in the middle of the run.
    series.y.push_back(10.0 / (1.0 + i * 1e-4) + 0.1 * std::sin(0.37 * static_cast<double>(i)));
  }
  series.y[123'457] = 500;
  series.y[654'321] = -7;

  Series thinned = thin_keeping_extremes(series, 2000);
  CHECK(thinned.size() <= 2002);
  CHECK(thinned.size() >= 1000);
  CHECK(thinned.x.front() == 0);
  CHECK(thinned.x.back() == static_cast<double>(n - 1));
  CHECK(*std::max_element(thinned.y.begin(), thinned.y.end()) == 500);
  CHECK(*std::min_element(thinned.y.begin(), thinned.y.end()) == -7);
  CHECK(std::find(thinned.x.begin(), thinned.x.end(), 123'457.0) != thinned.x.end());
  CHECK(std::find(thinned.x.begin(), thinned.x.end(), 654'321.0) != thinned.x.end());
  CHECK(std::is_sorted(thinned.x.begin(), thinned.x.end()));
  CHECK(std::adjacent_find(thinned.x.begin(), thinned.x.end()) == thinned.x.end());
}

TEST_CASE("thinning keeps each bucket's low and high point in order") {
  // Two buckets of four points: [3, 1, 4, 1] and [5, 9, 2, 6].
  Series series{{0, 1, 2, 3, 4, 5, 6, 7}, {3, 1, 4, 1, 5, 9, 2, 6}};
  Series thinned = thin_keeping_extremes(series, 4);
  // First point, bucket 1 (min at x=1, max at x=2), bucket 2 (max at x=5, min at x=6), last.
  CHECK(thinned.x == std::vector<double>{0, 1, 2, 5, 6, 7});
  CHECK(thinned.y == std::vector<double>{3, 1, 4, 9, 2, 6});
}

TEST_CASE("a series already small enough is left as it is") {
  Series series{{1, 2, 3}, {3, 2, 1}};
  Series thinned = thin_keeping_extremes(series, 2000);
  CHECK(thinned.x == series.x);
  CHECK(thinned.y == series.y);
}
