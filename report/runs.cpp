#include "report/runs.hpp"

#include <fmt/format.h>

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <stdexcept>

#include "base/fsutil.hpp"
#include "base/run.hpp"
#include "report/diff.hpp"

namespace genbox::report {
namespace fs = std::filesystem;
namespace {

constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

// One metrics line, read with nlohmann's SAX interface: a million lines load without building
// a JSON tree per line. Only the top-level object's scalar members are kept.
class MetricsLine {
 public:
  std::optional<std::int64_t> step;
  double time_s = kMissing;
  std::string split;
  std::vector<std::pair<std::string, double>> values;

  // False for anything but a JSON object with an integer "step" at its top level.
  bool read(std::string_view text) {
    step.reset();
    time_s = kMissing;
    split = "train";
    values.clear();
    depth_ = 0;
    return nlohmann::json::sax_parse(text.begin(), text.end(), this) && step.has_value();
  }

  // The SAX callbacks; returning false abandons the line.
  bool null() { return true; }  // a metric logged as null (a NaN, by nlohmann) is missing
  bool boolean(bool) { return true; }
  bool number_integer(std::int64_t value) {
    if (top_level() && key_ == "step") step = value;
    return on_number(static_cast<double>(value));
  }
  bool number_unsigned(std::uint64_t value) {
    if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return on_number(static_cast<double>(value));
    return number_integer(static_cast<std::int64_t>(value));
  }
  bool number_float(double value, const std::string&) {
    // A fractional step is a writer bug; the line is dropped rather than guessed at.
    if (top_level() && key_ == "step") return false;
    return on_number(value);
  }
  bool string(std::string& value) {
    if (top_level() && key_ == "split") split = std::move(value);
    return true;
  }
  bool binary(nlohmann::json::binary_t&) { return true; }
  bool start_object(std::size_t) { return ++depth_, true; }
  bool end_object() { return --depth_, true; }
  bool start_array(std::size_t) { return ++depth_, true; }
  bool end_array() { return --depth_, true; }
  bool key(std::string& name) {
    if (top_level()) key_ = name;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::json::exception&) { return false; }

 private:
  bool top_level() const { return depth_ == 1; }
  // Top-level numbers other than the line's own fields are metrics.
  bool on_number(double value) {
    if (!top_level() || key_ == "step" || key_ == "split") return true;
    if (key_ == "time_s")
      time_s = value;
    else
      values.emplace_back(key_, value);
    return true;
  }

  int depth_ = 0;
  std::string key_;
};

void append_row(MetricRows& rows, const MetricsLine& line) {
  std::size_t row = rows.step.size();
  rows.step.push_back(*line.step);
  rows.time_s.push_back(line.time_s);
  for (const auto& [name, value] : line.values) {
    std::vector<double>& column = rows.values[name];
    // Pads rows that lacked this metric; a key repeated within the line keeps its last value.
    column.resize(row, kMissing);
    column.push_back(value);
  }
}

// Orders rows by step and, of rows sharing a step, keeps the one read last.
void keep_last_per_step(MetricRows& rows) {
  for (auto& entry : rows.values) entry.second.resize(rows.size(), kMissing);
  const std::vector<std::int64_t>& step = rows.step;
  if (std::adjacent_find(step.begin(), step.end(), std::greater_equal<>()) == step.end()) return;

  std::vector<std::size_t> order(step.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return step[a] < step[b]; });
  std::vector<std::size_t> kept;
  for (std::size_t i = 0; i < order.size(); ++i)
    if (i + 1 == order.size() || step[order[i + 1]] != step[order[i]]) kept.push_back(order[i]);

  auto gather = [&](auto& column) {
    std::remove_reference_t<decltype(column)> picked;
    picked.reserve(kept.size());
    for (std::size_t i : kept) picked.push_back(column[i]);
    column = std::move(picked);
  };
  gather(rows.step);
  gather(rows.time_s);
  for (auto& entry : rows.values) gather(entry.second);
}

std::string string_field(const nlohmann::json& object, const char* key) {
  auto found = object.find(key);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

nlohmann::json parse_json_object(const std::string& text, const fs::path& path) {
  nlohmann::json object = parse_json(text, path.string());
  if (!object.is_object()) throw std::runtime_error(fmt::format("{}: not a JSON object", path.string()));
  return object;
}

// A run that says "running" may have died without a word (kill -9, a lost machine): on this
// host its process is checked; elsewhere a heartbeat older than two hours makes it "stale".
std::string liveness(const nlohmann::json& meta) {
  auto pid = meta.find("pid");
  if (string_field(meta, "host") == host_name() && pid != meta.end() && pid->is_number_integer()) {
    errno = 0;
    if (kill(static_cast<pid_t>(pid->get<int64_t>()), 0) != 0 && errno == ESRCH) return "crashed";
    return "running";
  }
  std::string heartbeat = string_field(meta, "heartbeat");
  std::tm beat{};
  if (heartbeat.empty() || !strptime(heartbeat.c_str(), "%Y-%m-%dT%H:%M:%SZ", &beat)) return "running";
  double age = std::difftime(std::time(nullptr), timegm(&beat));
  return age > 2 * 3600 ? "stale" : "running";
}

bool is_array_of(const nlohmann::json& value, bool (nlohmann::json::*kind)() const noexcept) {
  return value.is_array() && !value.empty() &&
         std::all_of(value.begin(), value.end(), [&](const nlohmann::json& item) { return (item.*kind)(); });
}

// A positive whole number of a JSON object, 0 when it is anything else.
std::size_t count_field(const nlohmann::json& object, const char* key) {
  auto found = object.find(key);
  return found != object.end() && found->is_number_unsigned() ? found->get<std::size_t>() : 0;
}

// What keeps a meta.json "sweep" field from reading as the sweep command writes it; empty when
// nothing does.
std::string sweep_problem(const nlohmann::json& sweep) {
  if (!sweep.is_object()) return "not an object";
  if (string_field(sweep, "id").empty()) return "no id";
  std::size_t index = count_field(sweep, "index"), size = count_field(sweep, "size");
  if (index == 0 || size == 0 || index > size) return "index and size are not whole numbers with 1 <= index <= size";
  auto keys = sweep.find("keys");
  if (keys == sweep.end() || !is_array_of(*keys, &nlohmann::json::is_string) ||
      std::any_of(keys->begin(), keys->end(), [](const nlohmann::json& key) { return key.get<std::string>().empty(); }))
    return "keys is not a list of config keys";
  return {};
}

// The run's sweep, when meta.json names one; one that cannot be read is a warning, not a lost run.
std::optional<SweepMeta> read_sweep(const nlohmann::json& meta, const fs::path& path,
                                    std::vector<std::string>& warnings) {
  auto sweep = meta.find("sweep");
  if (sweep == meta.end() || sweep->is_null()) return std::nullopt;
  if (std::string problem = sweep_problem(*sweep); !problem.empty()) {
    warnings.push_back(fmt::format("{}: sweep field ignored ({})", path.string(), problem));
    return std::nullopt;
  }
  return SweepMeta{string_field(*sweep, "id"), count_field(*sweep, "index"), count_field(*sweep, "size"),
                   sweep->at("keys").get<std::vector<std::string>>()};
}

Meta read_meta(const fs::path& path, const std::string& parent_name, std::vector<std::string>& warnings) {
  nlohmann::json meta = parse_json_object(read_file(path), path);
  Meta parsed;
  parsed.experiment = string_field(meta, "experiment");
  if (parsed.experiment.empty()) parsed.experiment = parent_name;
  parsed.status = string_field(meta, "status");
  if (parsed.status.empty()) parsed.status = "unknown";
  if (parsed.status == "running") parsed.status = liveness(meta);
  parsed.run_name = string_field(meta, "run_name");
  parsed.command = string_field(meta, "command");
  parsed.git_commit = string_field(meta, "git_commit");
  parsed.device = string_field(meta, "device");
  parsed.started = string_field(meta, "started");
  parsed.finished = string_field(meta, "finished");
  if (auto step = meta.find("step"); step != meta.end() && step->is_number_integer())
    parsed.step = step->get<std::int64_t>();
  if (auto wall = meta.find("wall_time_s"); wall != meta.end() && wall->is_number())
    parsed.wall_time_s = wall->get<double>();
  parsed.sweep = read_sweep(meta, path, warnings);
  return parsed;
}

// Arrays of objects go to `tables` when given (only eval.json's top level keeps them apart; inside
// a table's row they are too deep to read as more than text).
void flatten_json(const nlohmann::json& value, const std::string& path, std::map<std::string, Cell>& flat,
                  std::map<std::string, std::vector<std::map<std::string, Cell>>>* tables) {
  if (value.is_object()) {
    for (const auto& [key, child] : value.items())
      flatten_json(child, path.empty() ? key : path + "." + key, flat, tables);
  } else if (value.is_number()) {
    flat[path] = Cell::of(value.get<double>());
  } else if (value.is_string()) {
    flat[path] = Cell::of(value.get<std::string>());
  } else if (tables && is_array_of(value, &nlohmann::json::is_object)) {
    std::vector<std::map<std::string, Cell>>& rows = (*tables)[path];
    for (const nlohmann::json& item : value) flatten_json(item, "", rows.emplace_back(), nullptr);
  } else if (is_array_of(value, &nlohmann::json::is_number)) {
    std::string numbers;
    for (const nlohmann::json& item : value)
      numbers += (numbers.empty() ? "" : " ") + format_number(item.get<double>());
    flat[path] = Cell::of(numbers);
  } else if (!value.is_null()) {
    flat[path] = Cell::of(value.dump());
  }
}

std::vector<SampleImage> list_samples(const fs::path& dir) {
  std::vector<SampleImage> samples;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".png") continue;
    std::string stem = entry.path().stem().string();
    SampleImage sample{entry.path(), std::nullopt};
    // At most 18 digits, so any step name fits an int64.
    if (stem.size() > 5 && stem.size() <= 5 + 18 && stem.compare(0, 5, "step_") == 0 &&
        std::all_of(stem.begin() + 5, stem.end(), [](char c) { return c >= '0' && c <= '9'; }))
      sample.step = std::stoll(stem.substr(5));
    samples.push_back(std::move(sample));
  }
  std::sort(samples.begin(), samples.end(), [](const SampleImage& a, const SampleImage& b) {
    if (a.step.has_value() != b.step.has_value()) return a.step.has_value();
    if (a.step && *a.step != *b.step) return *a.step < *b.step;
    return a.path.filename() < b.path.filename();
  });
  return samples;
}

// Spells out the likely mistake of naming an experiment's directory instead of its runs.
std::string not_a_run_message(const fs::path& dir) {
  std::size_t runs_inside = 0;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error))
    if (entry.is_directory() && fs::exists(entry.path() / "meta.json")) ++runs_inside;
  std::string message = fmt::format("{}: not a run directory (no meta.json)", dir.string());
  if (runs_inside > 0)
    message += fmt::format("; it holds {} run{}, pass {} to compare them", runs_inside, runs_inside == 1 ? "" : "s",
                           (dir / "*").string());
  return message;
}

}  // namespace

Metrics parse_metrics(std::string_view jsonl) {
  Metrics metrics;
  MetricsLine line;
  std::size_t start = 0;
  while (start < jsonl.size()) {
    std::size_t end = jsonl.find('\n', start);
    bool complete = end != std::string_view::npos;
    std::string_view text = jsonl.substr(start, complete ? end - start : std::string_view::npos);
    start = complete ? end + 1 : jsonl.size();
    if (text.find_first_not_of(" \t\r") == std::string_view::npos) continue;

    bool ok = line.read(text);
    // A run resumed after a crash appends to the torn line the crash left, gluing a whole line
    // to a fragment. Metrics lines are flat objects, so the whole one starts at the last '{'.
    if (!ok) {
      std::size_t last_brace = text.rfind('{');
      ok = last_brace != 0 && last_brace != std::string_view::npos && line.read(text.substr(last_brace));
    }
    if (ok)
      append_row(metrics.splits[line.split], line);
    else if (complete)
      ++metrics.malformed_lines;
  }
  for (auto& entry : metrics.splits) keep_last_per_step(entry.second);
  return metrics;
}

Run load_run(const fs::path& dir) {
  std::error_code error;
  if (!fs::is_directory(dir, error))
    throw std::runtime_error(
        fmt::format("{}: {}", dir.string(), fs::exists(dir, error) ? "not a directory" : "no such directory"));
  if (!fs::exists(dir / "meta.json")) throw std::runtime_error(not_a_run_message(dir));

  Run run;
  run.dir = dir;
  fs::path normal = fs::absolute(dir).lexically_normal();
  if (normal.filename().empty()) normal = normal.parent_path();
  run.label = normal.filename().string();
  run.meta = read_meta(dir / "meta.json", normal.parent_path().filename().string(), run.warnings);

  auto read_part = [&](const char* name, auto&& parse) {
    fs::path path = dir / name;
    if (!fs::exists(path)) return false;
    try {
      parse(read_file(path), path);
    } catch (const std::exception& e) {
      run.warnings.push_back(e.what());
    }
    return true;
  };
  bool has_config = read_part("config.toml", [&](const std::string& text, const fs::path& path) {
    run.config = flatten_toml(text, path.string());
  });
  if (!has_config) run.warnings.push_back(fmt::format("{}: no config.toml", dir.string()));
  read_part("metrics.jsonl", [&](const std::string& text, const fs::path& path) {
    run.metrics = parse_metrics(text);
    if (run.metrics.malformed_lines > 0)
      run.warnings.push_back(fmt::format("{}: skipped {} malformed line{}", path.string(), run.metrics.malformed_lines,
                                         run.metrics.malformed_lines == 1 ? "" : "s"));
  });
  read_part("eval.json", [&](const std::string& text, const fs::path& path) {
    flatten_json(parse_json_object(text, path), "", run.eval, &run.eval_tables);
  });
  run.samples = list_samples(dir / "samples");
  return run;
}

}  // namespace genbox::report
