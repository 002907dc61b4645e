// compare: runs side by side, offline, without torch.
//
//   compare RUN_DIR... [--html FILE] [--csv FILE] [--metric NAME] [--x step|time]
//                      [--smooth ALPHA] [--samples-step N] [--columns A,B,...] [--wide]
//
// Prints one table per experiment, fitted to the terminal (run, status, steps, time, the
// headline eval metric, a sweep's id and keys, the config keys that differ within the experiment;
// a sweep's runs together, by index) and optionally writes every column as CSV and a
// self-contained HTML report with curves, config differences, eval.json results and sample grids,
// each per experiment. A path that is not a run directory is reported
// on stderr and the other runs are still compared.
//
// Exit status: 0 when at least one run was loaded and every requested file was written;
// 1 when --html, --csv or --tensorboard could not be written; 2 on a usage error (a --metric that no run logged
// as an eval metric included); 3 when no run could be loaded.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/fsutil.hpp"
#include "base/version.hpp"
#include "report/diff.hpp"
#include "report/html.hpp"
#include "report/runs.hpp"
#include "report/summary.hpp"
#include "report/table.hpp"
#include "report/table_experiment.hpp"
#include "report/table_width.hpp"
#include "report/tensorboard.hpp"

namespace {

using namespace genbox::report;

constexpr int kExitWriteFailed = 1, kExitUsage = 2, kExitNoRuns = 3;

constexpr const char* kUsage = R"(usage: compare RUN_DIR... [options]

  --html FILE        write a self-contained HTML report (curves, config, eval, samples)
  --csv FILE         write the summary table as CSV
  --tensorboard DIR  write TensorBoard event files, DIR/<run>/events.out.tfevents.*: every metric
                     as "<split>/<metric>" and the sample grids as images
  --metric NAME      sort runs by the best value of eval metric NAME
  --x step|time      x axis of the curves (default: step)
  --smooth ALPHA     EMA smoothing of the curves, ALPHA in [0, 1) is the weight on the past
                     (default: 0, off); the raw curve stays visible, pale
  --samples-step N   show each run's sample grid at the latest step <= N (default: latest)
  --columns A,B,...  the terminal table's columns: the run, then these (titles or config keys)
  --wide             every column in the terminal table, however wide the terminal
  -h, --help         show this help
  --version          print genbox's version and the commit it was built from
)";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::vector<std::string> run_dirs;
  std::optional<std::string> html, csv, metric;
  std::optional<std::string> tensorboard;
  ReportOptions report;
  TerminalTableOptions table;
  bool help = false, version = false;
};

// The whole of `text` as a number, via std::stod or std::stoll.
template <typename Parse>
auto parse_whole(const std::string& option, const std::string& text, Parse parse) {
  std::size_t used = 0;
  try {
    auto value = parse(text, &used);
    if (used == text.size()) return value;
  } catch (const std::exception&) {
  }
  throw UsageError(fmt::format("{} wants a number, got '{}'", option, text));
}

Options parse_args(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      options.help = true;
      continue;
    }
    if (arg == "--version") {
      options.version = true;
      continue;
    }
    if (arg == "--wide") {
      options.table.wide = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      options.run_dirs.push_back(arg);
      continue;
    }
    // Both "--opt value" and "--opt=value".
    std::string value;
    if (std::size_t equals = arg.find('='); equals != std::string::npos) {
      value = arg.substr(equals + 1);
      arg.resize(equals);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw UsageError(fmt::format("{} needs a value", arg));
    }

    if (arg == "--html") {
      options.html = value;
    } else if (arg == "--tensorboard") {
      options.tensorboard = value;
    } else if (arg == "--csv") {
      options.csv = value;
    } else if (arg == "--columns") {
      for (std::size_t start = 0; start <= value.size();) {
        std::size_t comma = std::min(value.find(',', start), value.size());
        if (comma > start) options.table.columns.push_back(value.substr(start, comma - start));
        start = comma + 1;
      }
      if (options.table.columns.empty()) throw UsageError("--columns wants column names, comma-separated");
    } else if (arg == "--metric") {
      options.metric = value;
    } else if (arg == "--x") {
      if (value != "step" && value != "time") throw UsageError(fmt::format("--x is step or time, got '{}'", value));
      options.report.x_axis = value == "step" ? XAxis::step : XAxis::time;
    } else if (arg == "--smooth") {
      options.report.smoothing =
          parse_whole(arg, value, [](const std::string& t, std::size_t* n) { return std::stod(t, n); });
      if (!(options.report.smoothing >= 0 && options.report.smoothing < 1))
        throw UsageError(fmt::format("--smooth wants ALPHA in [0, 1), got {}", value));
    } else if (arg == "--samples-step") {
      options.report.samples_step =
          parse_whole(arg, value, [](const std::string& t, std::size_t* n) { return std::stoll(t, n); });
      if (*options.report.samples_step < 0) throw UsageError(fmt::format("--samples-step wants a step, got {}", value));
    } else {
      throw UsageError(fmt::format("unknown option {}", arg));
    }
  }
  if (!options.help && !options.version && options.run_dirs.empty()) throw UsageError("no run directories given");
  return options;
}

std::vector<Run> load_runs(const std::vector<std::string>& dirs) {
  std::vector<Run> runs;
  for (const std::string& dir : dirs) {
    try {
      runs.push_back(load_run(dir));
      for (const std::string& warning : runs.back().warnings) fmt::print(stderr, "compare: warning: {}\n", warning);
    } catch (const std::exception& e) {
      fmt::print(stderr, "compare: {}\n", e.what());
    }
  }
  return runs;
}

bool write_output(const std::string& path, const std::string& content) {
  try {
    genbox::write_file_atomic(path, content);
    fmt::print(stderr, "compare: wrote {}\n", path);
    return true;
  } catch (const std::exception& e) {
    fmt::print(stderr, "compare: {}\n", e.what());
    return false;
  }
}

bool write_tensorboard_logs(const std::vector<Run>& runs, const std::string& dir) {
  try {
    std::vector<std::string> warnings;
    std::vector<std::filesystem::path> files = write_tensorboard(runs, dir, warnings);
    for (const std::string& warning : warnings) fmt::print(stderr, "compare: warning: {}\n", warning);
    for (const std::filesystem::path& file : files) fmt::print(stderr, "compare: wrote {}\n", file.string());
    return true;
  } catch (const std::exception& e) {
    fmt::print(stderr, "compare: {}\n", e.what());
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  try {
    options = parse_args(argc, argv);
  } catch (const UsageError& e) {
    fmt::print(stderr, "compare: {}\n\n{}", e.what(), kUsage);
    return kExitUsage;
  }
  if (options.help) {
    fmt::print("{}", kUsage);
    return EXIT_SUCCESS;
  }
  if (options.version) {
    // compare reads run directories without torch: genbox's own version is all there is to say.
    fmt::print("genbox {}\ncommit {}\n", genbox::genbox_version(), genbox::genbox_git_commit());
    return EXIT_SUCCESS;
  }

  std::vector<Run> runs = load_runs(options.run_dirs);
  if (runs.empty()) {
    fmt::print(stderr, "compare: no run to compare\n");
    return kExitNoRuns;
  }

  if (options.metric) {
    std::vector<std::string> known = eval_metric_names(runs);
    if (std::find(known.begin(), known.end(), *options.metric) == known.end()) {
      fmt::print(stderr, "compare: no run logged eval metric '{}'; eval metrics: {}\n", *options.metric,
                 known.empty() ? "none yet" : fmt::format("{}", fmt::join(known, ", ")));
      return kExitUsage;
    }
    sort_by_metric(runs, *options.metric);
  }

  options.table.width = stdout_table_width();
  TerminalTables tables = render_experiment_tables(runs, options.table);
  fmt::print("{}", tables.text);
  for (const std::string& name : tables.unknown_columns)
    fmt::print(stderr, "compare: warning: no experiment has a column '{}'\n", name);

  Table table = summary_table(runs, compared_config_keys(runs));

  bool written = true;
  if (options.csv) written &= write_output(*options.csv, render_csv(table));
  if (options.html) written &= write_output(*options.html, html_report(runs, options.report));
  if (options.tensorboard) written &= write_tensorboard_logs(runs, *options.tensorboard);
  return written ? EXIT_SUCCESS : kExitWriteFailed;
}
