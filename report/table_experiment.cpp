#include "report/table_experiment.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "base/progress.hpp"
#include "report/summary.hpp"

namespace genbox::report {
namespace {

std::string last_part(const std::string& key) {
  std::size_t dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

std::optional<Score> eval_score(const Run& run, const std::string& metric) {
  auto rows = run.metrics.splits.find(kEvalSplit);
  return rows == run.metrics.splits.end() ? std::nullopt : score(rows->second, metric);
}

Better better_for(const std::string& metric) { return higher_is_better(metric) ? Better::higher : Better::lower; }

// The config keys the table shows: the swept ones first (a sweep is read by them), then the
// other keys that differ.
std::vector<std::string> config_column_keys(const ExperimentGroup& group) {
  std::vector<std::string> keys = group.sweep_keys;
  for (const std::string& key : group.differing_keys)
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  return keys;
}

}  // namespace

Table experiment_table(const std::vector<Run>& runs, const ExperimentGroup& group) {
  Table table;
  table.columns = {{"run", "run"}, {"status", "status"}, {"steps", "step"}, {"time", "wall_time_s"}};
  const std::string& headline = group.headline_metric;
  if (!headline.empty()) {
    table.columns.push_back({"best " + headline, headline + "_best", better_for(headline)});
    table.columns.push_back({"last " + headline, headline + "_last", better_for(headline)});
  }
  bool sweeps = !group.sweeps.empty();
  if (sweeps) table.columns.push_back({"sweep", "sweep"});
  std::vector<std::string> config_keys = config_column_keys(group);
  std::map<std::string, std::size_t> last_parts;
  for (const std::string& key : config_keys) ++last_parts[last_part(key)];
  for (const std::string& key : config_keys)
    table.columns.push_back({last_parts[last_part(key)] > 1 ? key : last_part(key), key});
  std::vector<std::string> others = group_eval_metrics(runs, group);
  if (!others.empty() && others.front() == headline) others.erase(others.begin());
  for (const std::string& metric : others)
    table.columns.push_back({"best " + metric, metric + "_best", better_for(metric)});

  for (std::size_t r = 0; r < group.runs.size(); ++r) {
    const Run& run = runs[group.runs[r]];
    std::vector<Cell> row = {Cell::of(group.labels[r]), Cell::of(run.meta.status), Cell{}, Cell{}};
    if (run.meta.step) row[2] = Cell::of(static_cast<double>(*run.meta.step));
    if (run.meta.wall_time_s) row[3] = {format_duration(*run.meta.wall_time_s), run.meta.wall_time_s};
    if (!headline.empty()) {
      std::optional<Score> s = eval_score(run, headline);
      row.push_back(s ? Cell::of(s->best) : Cell{});
      row.push_back(s ? Cell::of(s->last) : Cell{});
    }
    if (sweeps) row.push_back(run.meta.sweep ? Cell::of(run.meta.sweep->id) : Cell{});
    for (const std::string& key : config_keys) {
      auto found = run.config.find(key);
      row.push_back(found == run.config.end() ? Cell{} : Cell::of(short_value(found->second)));
    }
    for (const std::string& metric : others) {
      std::optional<Score> s = eval_score(run, metric);
      row.push_back(s ? Cell::of(s->best) : Cell{});
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

TerminalTables render_experiment_tables(const std::vector<Run>& runs, const TerminalTableOptions& options) {
  TerminalTables out;
  std::set<std::string> matched;
  for (const ExperimentGroup& group : group_by_experiment(runs)) {
    Table table = experiment_table(runs, group);
    for (const Column& column : table.columns)
      for (const std::string& name : options.columns)
        if (column.title == name || column.csv_title == name) matched.insert(name);
    if (!options.columns.empty()) table = select_columns(table, options.columns);

    if (!out.text.empty()) out.text += '\n';
    out.text +=
        abbreviate(fmt::format("{}, {} run{}", group.experiment, group.runs.size(), group.runs.size() == 1 ? "" : "s"),
                   options.width) +
        '\n';
    for (const GroupSweep& sweep : group.sweeps) out.text += abbreviate(describe_sweep(sweep), options.width) + '\n';
    if (options.wide) {
      out.text += render_text(table);
      continue;
    }
    FittedTable fitted = fit_table(table, options.width, kRunColumns + 1);
    out.text += render_text(fitted.table);
    if (fitted.hidden_columns > 0)
      out.text += abbreviate(fmt::format("{} more column{} (--wide shows all, --columns picks)", fitted.hidden_columns,
                                         fitted.hidden_columns == 1 ? "" : "s"),
                             options.width) +
                  '\n';
  }
  for (const std::string& name : options.columns)
    if (!matched.count(name)) out.unknown_columns.push_back(name);
  return out;
}

}  // namespace genbox::report
