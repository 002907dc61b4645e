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

Series thin_keeping_extremes(const Series& series, std::size_t max_points) {
  std::size_t n = series.size();
  std::size_t buckets = std::max<std::size_t>(1, max_points / 2);
  if (n <= max_points || n <= 2) return series;

  Series thinned;
  std::size_t last_kept = n;
  auto keep = [&](std::size_t i) {
    if (i == last_kept) return;  // indices only grow, so this is the one possible repeat
    last_kept = i;
    thinned.x.push_back(series.x[i]);
    thinned.y.push_back(series.y[i]);
  };
  keep(0);
  for (std::size_t b = 0; b < buckets; ++b) {
    std::size_t begin = b * n / buckets, end = (b + 1) * n / buckets;
    auto first = series.y.begin() + static_cast<std::ptrdiff_t>(begin);
    auto [low, high] = std::minmax_element(first, series.y.begin() + static_cast<std::ptrdiff_t>(end));
    std::size_t i_low = static_cast<std::size_t>(low - series.y.begin());
    std::size_t i_high = static_cast<std::size_t>(high - series.y.begin());
    keep(std::min(i_low, i_high));
    keep(std::max(i_low, i_high));
  }
  keep(n - 1);
  return thinned;
}

}  // namespace genbox::report
