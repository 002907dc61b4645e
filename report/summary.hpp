// The one-row-per-run summary: status, progress, eval scores and the config that sets runs apart.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "report/diff.hpp"
#include "report/runs.hpp"
#include "report/table.hpp"

namespace genbox::report {

inline constexpr const char* kEvalSplit = "eval";

// Whether a larger value is better, judged by name: a word (split at '_', '/', '.', '-', ...)
// that is accuracy, acc, ap, map, ar or loglik, optionally followed by digits (acc1, AP50,
// mAP, AR100, loglik_nats).
// Everything else (losses, bits/dim, distances) is better lower.
bool higher_is_better(std::string_view metric);

struct Score {
  double best, last;
};

// Best and last finite value of `metric` in `rows`; empty when it was never logged.
std::optional<Score> score(const MetricRows& rows, const std::string& metric);

// The names of the eval metrics logged by any of the runs, sorted.
std::vector<std::string> eval_metric_names(const std::vector<Run>& runs);

// Orders runs by their best value of the eval metric, better first; runs that never logged it go
// last, in their given order.
void sort_by_metric(std::vector<Run>& runs, const std::string& metric);

// The config keys worth a column: those that differ between runs of the same experiment,
// sorted. Runs of different experiments have different configs, and setting one's keys beside
// the other's says nothing about either (it only makes the table unreadably wide).
std::vector<std::string> compared_config_keys(const std::vector<Run>& runs);

// Columns: run, experiment, status, step, wall time, best and last of each eval metric, then
// `config_keys` (typically those that differ between the runs).
Table summary_table(const std::vector<Run>& runs, const std::vector<std::string>& config_keys);

}  // namespace genbox::report
