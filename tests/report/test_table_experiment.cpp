// The per-experiment terminal table: its columns, and that it fits the width it is given.
#include <doctest/doctest.h>

#include <sstream>

#include "report/table_experiment.hpp"
#include "tests/report/fixture_runs.hpp"
#include "tests/report/table_reading.hpp"

using namespace genbox::report;
using genbox::report::table_reading::titles;
using genbox::report::table_reading::widest_line;

namespace {

std::vector<Run> every_fixture_run() {
  return fixtures::load({fixtures::kFinished, fixtures::kInProgress, fixtures::kResumed, fixtures::kFailed,
                         fixtures::kNoMetrics, fixtures::kOtherExperiment, fixtures::kDetection});
}

}  // namespace

TEST_CASE("each experiment's table: run, status, steps, time, its headline, its differing keys, its other metrics") {
  std::vector<Run> runs = every_fixture_run();
  std::vector<ExperimentGroup> groups = group_by_experiment(runs);
  Table nice = experiment_table(runs, groups[0]);
  CHECK(titles(nice) == std::vector<std::string>{"run", "status", "steps", "time", "best bpd", "last bpd", "hidden",
                                                 "lr", "seed", "batch_size", "best nats"});
  CHECK(nice.columns[7].csv_title == "optim.lr");
  CHECK(nice.columns[4].better == Better::lower);
  CHECK(nice.rows[1][0].text == "lr=3e-4");
  CHECK(nice.rows[1][7].text == "3e-4");
  Table detr = experiment_table(runs, groups[2]);
  CHECK(titles(detr) ==
        std::vector<std::string>{"run", "status", "steps", "time", "best ap", "last ap", "best ap50", "best val_loss"});
  CHECK(detr.columns[4].better == Better::higher);
  // No experiment's table holds another's metrics or keys.
  for (const std::string& title : titles(nice)) CHECK(title.find("ap") == std::string::npos);
}

TEST_CASE("the terminal tables never exceed the width, keep run to headline, and count what they hide") {
  std::vector<Run> runs = every_fixture_run();
  for (std::size_t width = 1; width <= 200; ++width) {
    TerminalTables tables = render_experiment_tables(runs, {width, false, {}});
    CHECK_MESSAGE(widest_line(tables.text) <= width, width);
  }
  TerminalTables at_120 = render_experiment_tables(runs, {120, false, {}});
  CHECK(at_120.text.rfind("nice, 5 runs\nrun ", 0) == 0);
  CHECK(at_120.text.find("\nrf_dit, 1 run\n") != std::string::npos);
  CHECK(at_120.text.find("\ndetr, 1 run\n") != std::string::npos);

  TerminalTables narrow = render_experiment_tables(runs, {60, false, {}});
  CHECK(narrow.text.find("best bpd") != std::string::npos);
  CHECK(narrow.text.find("6 more columns (--wide shows all, --columns picks)") != std::string::npos);

  TerminalTables wide = render_experiment_tables(runs, {60, true, {}});
  CHECK(wide.text.find("more column") == std::string::npos);
  CHECK(wide.text.find("batch_size") != std::string::npos);
  CHECK(widest_line(wide.text) > 60);
}

TEST_CASE("--columns picks columns by title or key, the run first; unknown names are reported") {
  std::vector<Run> runs = every_fixture_run();
  TerminalTables picked = render_experiment_tables(runs, {120, false, {"optim.lr", "status", "nope"}});
  CHECK(picked.text.rfind("nice, 5 runs\nrun                              lr    status\n", 0) == 0);
  CHECK(picked.text.find("\ndetr, 1 run\nrun     status\n") != std::string::npos);
  CHECK(picked.unknown_columns == std::vector<std::string>{"nope"});
}

TEST_CASE("fitting: long texts abbreviated, kept columns shortened last, skipped columns counted") {
  Table table{{{"run", "run"}, {"a", "a"}, {"b", "b"}, {"c", "c"}},
              {{Cell::of(std::string(40, 'r')), Cell::of(1.0), Cell::of(std::string(30, 'b')), Cell::of(2.0)}}};
  FittedTable fitted = fit_table(table, 40, 2);
  CHECK(titles(fitted.table) == std::vector<std::string>{"run", "a", "c"});
  CHECK(fitted.hidden_columns == 1);
  CHECK(display_width(fitted.table.rows[0][0].text) == 32);
  CHECK(fitted.table.rows[0][0].text.find("\u2026") != std::string::npos);
  FittedTable tiny = fit_table(table, 9, 2);
  CHECK(widest_line(render_text(tiny.table)) <= 9);
  CHECK(abbreviate("h\u00e9llo", 3) == "h\u00e9\u2026");
  CHECK(abbreviate("hello", 5) == "hello");
  CHECK(select_columns(table, {"c", "run", "a"}).columns.size() == 3);
}
