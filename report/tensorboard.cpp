#include "report/tensorboard.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>
#include <optional>
#include <set>

#include "base/errors.hpp"
#include "base/fsutil.hpp"
#include "base/run.hpp"
#include "report/tfevents.hpp"

namespace genbox::report {

namespace {

namespace fs = std::filesystem;

// Seconds since the epoch of "YYYY-mm-ddTHH:MM:SSZ", the form meta.json's times take.
std::optional<double> parse_utc(const std::string& text) {
  std::tm tm{};
  char zone = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &zone) != 7 ||
      zone != 'Z')
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return double(timegm(&tm));
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct Event {
  std::int64_t step;
  double wall_time;
  std::string values;
};

}  // namespace

EventFile tensorboard_events(const Run& run) {
  const double start = parse_utc(run.meta.started).value_or(now_seconds());
  std::vector<Event> events;
  std::map<std::int64_t, double> time_at_step;  // for the images: when their step was logged
  for (const auto& [split, rows] : run.metrics.splits) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const double wall_time = start + (std::isfinite(rows.time_s[i]) ? rows.time_s[i] : 0.0);
      std::string values;
      for (const auto& [metric, column] : rows.values)
        if (std::isfinite(column[i])) values += scalar_value(split + "/" + metric, float(column[i]));
      time_at_step.emplace(rows.step[i], wall_time);
      if (!values.empty()) events.push_back({rows.step[i], wall_time, std::move(values)});
    }
  }
  EventFile file;
  const std::int64_t last_step = run.meta.step.value_or(0);
  for (const SampleImage& sample : run.samples) {
    std::string values;
    try {
      const std::string tag = sample.step ? "samples" : "samples/" + sample.path.stem().string();
      values = png_image_value(tag, read_file(sample.path));
    } catch (const std::exception& e) {
      file.warnings.push_back(fmt::format("{}: left out of the TensorBoard log: {}", sample.path.string(), e.what()));
      continue;
    }
    const std::int64_t step = sample.step.value_or(last_step);
    auto logged = time_at_step.find(step);
    events.push_back({step, logged != time_at_step.end() ? logged->second : start, std::move(values)});
  }
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.step < b.step; });
  file.bytes = tfrecord(file_version_event(start));
  for (const Event& event : events) file.bytes += tfrecord(summary_event(event.wall_time, event.step, event.values));
  return file;
}

std::vector<fs::path> write_tensorboard(const std::vector<Run>& runs, const fs::path& dir,
                                        std::vector<std::string>& warnings) {
  const std::string file_name =
      fmt::format("events.out.tfevents.{}.{}", static_cast<std::int64_t>(now_seconds()), host_name());
  std::set<std::string> taken;
  std::vector<fs::path> written;
  for (const Run& run : runs) {
    const std::string base = run.label.empty() || run.label == "." || run.label == ".." ? "run" : run.label;
    std::string name = base;
    for (int n = 2; !taken.insert(name).second; ++n) name = fmt::format("{}-{}", base, n);
    const fs::path run_dir = dir / name;
    std::error_code error;
    fs::create_directories(run_dir, error);
    if (error) throw DataError(fmt::format("{}: cannot create: {}", run_dir.string(), error.message()));
    EventFile events = tensorboard_events(run);
    warnings.insert(warnings.end(), events.warnings.begin(), events.warnings.end());
    const fs::path path = run_dir / file_name;
    write_file_atomic(path, events.bytes);
    std::vector<fs::path> older;
    for (const auto& entry : fs::directory_iterator(run_dir, error))
      if (entry.path() != path && entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0)
        older.push_back(entry.path());
    for (const fs::path& old : older) fs::remove(old, error);
    written.push_back(path);
  }
  return written;
}

}  // namespace genbox::report
