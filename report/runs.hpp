// A run directory read back for comparison (docs/DESIGN.md, "Run directory"). Loading is lenient
// about everything but meta.json, because runs are compared while they are still being written:
// a missing or unreadable part becomes a warning and an empty field, never a lost run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "report/table.hpp"

namespace genbox::report {

// The sweep a run was started by (`<exp> sweep key=a,b ...`), as its meta.json says: the runs
// of one sweep share `id` and `keys` and are told apart by `index`.
struct SweepMeta {
  std::string id;
  std::size_t index = 0, size = 0;  // index in [1, size]
  std::vector<std::string> keys;    // the swept config keys, in command-line order
};

struct Meta {
  std::string experiment;  // falls back to the parent directory's name
  // running, finished, interrupted, failed; "crashed" when it says running but its process is
  // gone (this host), "stale" when its heartbeat stopped hours ago (another host); "unknown".
  std::string status;
  std::string run_name, command, git_commit, device, started, finished;
  std::optional<std::int64_t> step;
  std::optional<double> wall_time_s;
  std::optional<SweepMeta> sweep;  // empty for a run not started by a sweep
};

// The lines of one split, one row per distinct step, in increasing step order.
struct MetricRows {
  std::vector<std::int64_t> step;
  std::vector<double> time_s;  // NaN where a line had no time
  // Every numeric metric seen in the split; NaN where a row lacks it (or logged null).
  std::map<std::string, std::vector<double>> values;

  std::size_t size() const { return step.size(); }
};

struct Metrics {
  std::map<std::string, MetricRows> splits;  // "train", "eval", ...
  // Lines that were not a JSON object with an integer "step". A torn last line is not counted:
  // a run that is still writing is expected to have one.
  std::size_t malformed_lines = 0;
};

// Parses metrics.jsonl text. For a (step, split) logged more than once, as a resumed run does,
// the last line wins whole: its metrics replace the earlier line's rather than merging with them.
Metrics parse_metrics(std::string_view jsonl);

struct SampleImage {
  std::filesystem::path path;
  std::optional<std::int64_t> step;  // from step_NNNNNNN.png; empty for an experiment's extras
};

struct Run {
  std::filesystem::path dir;
  std::string label;  // the directory name, <YYYYmmdd-HHMMSS>-<name>
  Meta meta;
  std::map<std::string, std::string> config;  // config.toml flattened to dotted keys
  Metrics metrics;
  // eval.json flattened to dotted keys; an array of numbers reads as its numbers, space-separated.
  std::map<std::string, Cell> eval;
  // eval.json's arrays of objects (a sweep, AP per category), by dotted key, each object flattened
  // as `eval` is: they read as tables, one row per object.
  std::map<std::string, std::vector<std::map<std::string, Cell>>> eval_tables;
  std::vector<SampleImage> samples;  // step grids by increasing step, then extras by name
  std::vector<std::string> warnings;
};

// Throws std::runtime_error naming `dir` when it is not a run directory (no meta.json) or its
// meta.json cannot be read. A "sweep" field that is not as the sweep command writes it is a
// warning, and the run reads as one outside any sweep.
Run load_run(const std::filesystem::path& dir);

}  // namespace genbox::report
