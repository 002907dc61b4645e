// The table of one experiment's runs, as the terminal and the HTML report show it: what each run
// is (its label), how far it got, its headline score, and the hyperparameters that set it apart.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "report/runs.hpp"
#include "report/runs_group.hpp"
#include "report/table.hpp"

namespace genbox::report {

// The number of leading columns that describe the run (run, status, steps, time) rather than
// score or configure it.
inline constexpr std::size_t kRunColumns = 4;

// Columns, most wanted first: run (the group's label), status, steps, time, the headline
// metric's best and last, the sweep's id when any run is of a sweep, the config keys: the swept
// ones, then the others that differ (titled by their last part where that is unambiguous; the CSV
// title is the whole key), then the best of every other eval metric.
Table experiment_table(const std::vector<Run>& runs, const ExperimentGroup& group);

struct TerminalTableOptions {
  std::size_t width = 120;
  bool wide = false;                 // every column, whatever the width
  std::vector<std::string> columns;  // when not empty: the run, then these (titles or CSV titles)
};

struct TerminalTables {
  std::string text;
  std::vector<std::string> unknown_columns;  // of `columns`, those no experiment has
};

// One section per experiment: a heading ("nice, 3 runs"), a line per sweep (describe_sweep()),
// its table fitted to the width, and how many columns did not fit.
TerminalTables render_experiment_tables(const std::vector<Run>& runs, const TerminalTableOptions& options);

}  // namespace genbox::report
