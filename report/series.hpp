// A metric as a curve: extraction from the metrics log, EMA smoothing, and thinning for plots.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "report/runs.hpp"

namespace genbox::report {

struct Series {
  std::vector<double> x, y;
  std::size_t size() const { return x.size(); }
};

enum class XAxis { step, time };

// The finite values of `metric` against step or wall time, in step order; empty when absent.
Series metric_series(const MetricRows& rows, const std::string& metric, XAxis x_axis);

// s_0 = y_0, s_i = alpha * s_{i-1} + (1 - alpha) * y_i: `alpha` is the weight kept from the past
// (TensorBoard's "smoothing"), in [0, 1); 0 returns the series unchanged.
Series ema(const Series& series, double alpha);

// At most about `max_points` points that draw the same picture: the series is cut into
// max_points / 2 runs of consecutive points and each run keeps its lowest and highest point, in
// order, so spikes, the global minimum and the global maximum all survive. The first and last
// points are always kept.
Series thin_keeping_extremes(const Series& series, std::size_t max_points);

// The indices of `y` that thin_keeping_extremes() keeps, in increasing order: for thinning
// several columns of the same rows alike (step, wall time and value).
std::vector<std::size_t> extreme_keeping_indices(const std::vector<double>& y, std::size_t max_points);

}  // namespace genbox::report
