// One self-contained HTML report over a set of runs: it references nothing outside itself (inline
// CSS and script, SVG plots drawn here and redrawn by the script, PNGs as data URIs), so it opens
// offline and can be mailed around. Every section is per experiment (see runs_group.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "report/runs.hpp"
#include "report/series.hpp"

namespace genbox::report {

struct ReportOptions {
  XAxis x_axis = XAxis::step;
  // The smoothing slider's initial EMA weight on the past, see ema(); the raw curve is drawn pale
  // behind.
  double smoothing = 0;
  // Sample grids at the latest step at or before this one in each run; the latest of each when
  // unset.
  std::optional<std::int64_t> samples_step;
  std::size_t max_points = 2000;  // per plotted series, see thin_keeping_extremes()
};

struct SharedMetric {
  std::string split, metric;
  bool operator==(const SharedMetric& other) const { return split == other.split && metric == other.metric; }
};

// What gets a plot (html_report() passes one experiment's runs): every metric that some run logged
// a finite value of, per split. Eval first, then train, then any other split; metrics by name.
std::vector<SharedMetric> plotted_metrics(const std::vector<Run>& runs);

std::string base64_encode(std::string_view bytes);

std::string html_report(const std::vector<Run>& runs, const ReportOptions& options);

}  // namespace genbox::report
