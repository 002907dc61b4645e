#include "report/series.hpp"

#include <algorithm>
#include <cmath>

namespace genbox::report {

Series metric_series(const MetricRows& rows, const std::string& metric, XAxis x_axis) {
  Series series;
  auto column = rows.values.find(metric);
  if (column == rows.values.end()) return series;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    double x = x_axis == XAxis::step ? static_cast<double>(rows.step[i]) : rows.time_s[i];
    double y = column->second[i];
    if (std::isfinite(x) && std::isfinite(y)) {
      series.x.push_back(x);
      series.y.push_back(y);
    }
  }
  return series;
}

Series ema(const Series& series, double alpha) {
  Series smoothed = series;
  for (std::size_t i = 1; i < smoothed.size(); ++i)
    smoothed.y[i] = alpha * smoothed.y[i - 1] + (1 - alpha) * series.y[i];
  return smoothed;
}

std::vector<std::size_t> extreme_keeping_indices(const std::vector<double>& y, std::size_t max_points) {
  std::size_t n = y.size();
  std::vector<std::size_t> kept;
  if (n <= max_points || n <= 2) {
    for (std::size_t i = 0; i < n; ++i) kept.push_back(i);
    return kept;
  }
  std::size_t buckets = std::max<std::size_t>(1, max_points / 2);
  auto keep = [&](std::size_t i) {
    if (kept.empty() || kept.back() != i) kept.push_back(i);  // indices only grow
  };
  keep(0);
  for (std::size_t b = 0; b < buckets; ++b) {
    std::size_t begin = b * n / buckets, end = (b + 1) * n / buckets;
    auto [low, high] = std::minmax_element(y.begin() + static_cast<std::ptrdiff_t>(begin),
                                           y.begin() + static_cast<std::ptrdiff_t>(end));
    std::size_t i_low = static_cast<std::size_t>(low - y.begin());
    std::size_t i_high = static_cast<std::size_t>(high - y.begin());
    keep(std::min(i_low, i_high));
    keep(std::max(i_low, i_high));
  }
  keep(n - 1);
  return kept;
}

Series thin_keeping_extremes(const Series& series, std::size_t max_points) {
  Series thinned;
  for (std::size_t i : extreme_keeping_indices(series.y, max_points)) {
    thinned.x.push_back(series.x[i]);
    thinned.y.push_back(series.y[i]);
  }
  return thinned;
}

}  // namespace genbox::report
