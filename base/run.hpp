// The run directory, the contract that `compare` reads (docs/DESIGN.md, "Run directory"):
// config.toml, meta.json, metrics.jsonl, samples/, checkpoints/, eval.json, log.txt.
#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace genbox {

class Run {
 public:
  // A new run directory <out_dir>/<experiment>/<YYYYmmdd-HHMMSS>-<name>/, with meta.json
  // saying "running". Called only once the config is valid.
  static Run create(const std::string& out_dir, const std::string& experiment, const std::string& name,
                    const std::string& config_toml, const std::string& command_line);
  // An existing run, for --resume (which marks it running again), sample and eval.
  static Run open(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  // The <out_dir> the run lies in, found from where the run is, whatever the working directory.
  std::filesystem::path out_dir() const;
  std::filesystem::path samples_dir() const { return dir_ / "samples"; }
  std::filesystem::path checkpoints_dir() const { return dir_ / "checkpoints"; }

  // meta.json fields; write_meta() persists them atomically, with a heartbeat time (and the pid
  // and host set at creation or resume) that tell a live run from a dead one.
  nlohmann::json& meta() { return meta_; }
  void write_meta();
  // Marks the run running again after a resume, recording the new command line, this
  // process's pid and host, and the config keys the resume changed ({key: [old, new]}).
  void mark_resumed(const std::string& command_line, const nlohmann::json& changed = nlohmann::json::object());
  // Holds an exclusive lock on the run directory (.lock, flock) for this object's life: a second
  // process that tries gets a UsageError saying which pid on which host holds it.
  void lock();
  // Removes temporary files that killed writes left behind (call it under the lock).
  void remove_stale_temporaries();
  // status is one of running, finished, interrupted, failed.
  void set_status(const std::string& status, int64_t step);

  // Appends {"step", "time_s", "split", ...values} and flushes it, so a reader sees whole lines.
  void append_metrics(int64_t step, const std::string& split, const nlohmann::json& values);
  // Seconds of training in this run, across resumes.
  double elapsed_seconds() const;

  // Prints a line and keeps it in log.txt; `to_stdout=false` keeps it in the log only.
  void log(const std::string& line, bool to_stdout = true);

  // Writes eval.json atomically; returns its path.
  std::filesystem::path write_eval(const nlohmann::json& results);

 private:
  explicit Run(std::filesystem::path dir);
  std::filesystem::path dir_;
  nlohmann::json meta_;
  double elapsed_before_ = 0;
  std::chrono::steady_clock::time_point opened_;
  std::shared_ptr<std::FILE> metrics_, log_;
  std::shared_ptr<int> lock_;
};

// This machine's name, for meta.json and lock messages.
std::string host_name();

// "YYYY-mm-ddTHH:MM:SSZ" now, in UTC.
std::string utc_timestamp();
// "YYYYmmdd-HHMMSS" now, in UTC: how run directory names and sweep ids begin.
std::string utc_stamp();

}  // namespace genbox
