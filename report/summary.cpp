#include "report/summary.hpp"

#include "base/progress.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <string_view>

namespace genbox::report {
namespace {

bool is_score_word(const std::string& word) {
  for (const char* stem : {"accuracy", "acc", "ap", "map", "ar", "loglik"}) {
    std::string_view s(stem);
    if (word.compare(0, s.size(), s) == 0 && std::all_of(word.begin() + static_cast<std::ptrdiff_t>(s.size()),
                                                         word.end(), [](unsigned char c) { return std::isdigit(c); }))
      return true;
  }
  return false;
}

const MetricRows* eval_rows(const Run& run) {
  auto found = run.metrics.splits.find(kEvalSplit);
  return found == run.metrics.splits.end() ? nullptr : &found->second;
}

std::optional<Score> eval_score(const Run& run, const std::string& metric) {
  const MetricRows* rows = eval_rows(run);
  return rows ? score(*rows, metric) : std::nullopt;
}

}  // namespace

bool higher_is_better(std::string_view metric) {
  // Precision and recall (of samples against real images) only as whole names: "recall_error_rate" is not one.
  if (metric == "precision" || metric == "recall") return true;
  std::string word;
  for (std::size_t i = 0; i <= metric.size(); ++i) {
    unsigned char c = i < metric.size() ? static_cast<unsigned char>(metric[i]) : ' ';
    if (std::isalnum(c)) {
      word += static_cast<char>(std::tolower(c));
    } else if (!word.empty()) {
      if (is_score_word(word)) return true;
      word.clear();
    }
  }
  return false;
}

std::optional<Score> score(const MetricRows& rows, const std::string& metric) {
  auto column = rows.values.find(metric);
  if (column == rows.values.end()) return std::nullopt;
  bool higher = higher_is_better(metric);
  std::optional<Score> result;
  for (double value : column->second) {
    if (!std::isfinite(value)) continue;
    if (!result) result = Score{value, value};
    result->last = value;
    if (higher ? value > result->best : value < result->best) result->best = value;
  }
  return result;
}

std::vector<std::string> eval_metric_names(const std::vector<Run>& runs) {
  std::set<std::string> names;
  for (const Run& run : runs)
    if (const MetricRows* rows = eval_rows(run))
      for (const auto& entry : rows->values) names.insert(entry.first);
  return {names.begin(), names.end()};
}

void sort_by_metric(std::vector<Run>& runs, const std::string& metric) {
  bool higher = higher_is_better(metric);
  std::vector<std::pair<std::optional<Score>, Run>> keyed;
  for (Run& run : runs) keyed.emplace_back(eval_score(run, metric), std::move(run));
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    if (!a.first || !b.first) return a.first.has_value() && !b.first.has_value();
    return higher ? a.first->best > b.first->best : a.first->best < b.first->best;
  });
  runs.clear();
  for (auto& entry : keyed) runs.push_back(std::move(entry.second));
}

std::vector<std::string> compared_config_keys(const std::vector<Run>& runs) {
  std::map<std::string, std::vector<const FlatConfig*>> by_experiment;
  for (const Run& run : runs) by_experiment[run.meta.experiment].push_back(&run.config);
  std::set<std::string> keys;
  for (const auto& [experiment, configs] : by_experiment)
    for (const std::string& key : differing_keys(configs)) keys.insert(key);
  return {keys.begin(), keys.end()};
}

Table summary_table(const std::vector<Run>& runs, const std::vector<std::string>& config_keys) {
  Table table;
  table.columns = {{"run", "run"},
                   {"experiment", "experiment"},
                   {"status", "status"},
                   {"step", "step"},
                   {"wall time", "wall_time_s"}};
  std::vector<std::string> metrics = eval_metric_names(runs);
  for (const std::string& metric : metrics) {
    Better better = higher_is_better(metric) ? Better::higher : Better::lower;
    table.columns.push_back({metric + " best", metric + "_best", better});
    table.columns.push_back({metric + " last", metric + "_last", better});
  }
  for (const std::string& key : config_keys) table.columns.push_back({key, key});

  for (const Run& run : runs) {
    std::vector<Cell> row = {Cell::of(run.label), Cell::of(run.meta.experiment), Cell::of(run.meta.status), Cell{},
                             Cell{}};
    if (run.meta.step) row[3] = Cell::of(static_cast<double>(*run.meta.step));
    if (run.meta.wall_time_s) row[4] = {format_duration(*run.meta.wall_time_s), run.meta.wall_time_s};
    for (const std::string& metric : metrics) {
      std::optional<Score> s = eval_score(run, metric);
      row.push_back(s ? Cell::of(s->best) : Cell{});
      row.push_back(s ? Cell::of(s->last) : Cell{});
    }
    for (const std::string& key : config_keys) {
      auto found = run.config.find(key);
      row.push_back(found == run.config.end() ? Cell{} : Cell::of(found->second));
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

}  // namespace genbox::report
