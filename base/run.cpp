#include "base/run.hpp"

#include <fmt/format.h>

#include <array>
#include <ctime>
#include <system_error>

#include "base/fsutil.hpp"

namespace genbox {

namespace {
std::shared_ptr<std::FILE> open_append(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "ab");
  if (!f) throw std::system_error(errno, std::generic_category(), "cannot open " + path.string());
  return std::shared_ptr<std::FILE>(f, std::fclose);
}

std::string format_utc(const char* pattern) {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::array<char, 64> buffer{};
  std::strftime(buffer.data(), buffer.size(), pattern, &utc);
  return buffer.data();
}
}  // namespace

std::string utc_timestamp() { return format_utc("%Y-%m-%dT%H:%M:%SZ"); }

std::string source_git_commit() {
  std::string command = fmt::format("git -C '{}' rev-parse HEAD 2>/dev/null", GENBOX_SOURCE_DIR);
  std::FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return "unknown";
  std::array<char, 128> buffer{};
  std::string out;
  while (std::fgets(buffer.data(), buffer.size(), pipe)) out += buffer.data();
  pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out.empty() ? "unknown" : out;
}

Run::Run(std::filesystem::path dir) : dir_(std::move(dir)), opened_(std::chrono::steady_clock::now()) {}

Run Run::create(const std::string& out_dir, const std::string& experiment, const std::string& name,
                const std::string& config_toml, const std::string& command_line) {
  std::filesystem::path parent = std::filesystem::path(out_dir) / experiment;
  std::filesystem::create_directories(parent);
  std::string stem = format_utc("%Y%m%d-%H%M%S") + "-" + name;
  std::filesystem::path dir = parent / stem;
  // Two runs started in the same second get distinct directories.
  for (int i = 2; !std::filesystem::create_directory(dir); ++i) dir = parent / fmt::format("{}-{}", stem, i);
  std::filesystem::create_directories(dir / "samples");
  std::filesystem::create_directories(dir / "checkpoints");

  Run run(dir);
  write_file_atomic(dir / "config.toml", config_toml);
  run.meta_ = {{"experiment", experiment},   {"run_name", name},
               {"command", command_line},    {"git_commit", source_git_commit()},
               {"started", utc_timestamp()}, {"finished", nullptr},
               {"status", "running"},        {"step", 0},
               {"wall_time_s", 0.0}};
  run.write_meta();
  run.metrics_ = open_append(dir / "metrics.jsonl");
  run.log_ = open_append(dir / "log.txt");
  return run;
}

Run Run::open(const std::filesystem::path& dir) {
  Run run(dir);
  std::filesystem::path meta_path = dir / "meta.json";
  if (!std::filesystem::exists(meta_path))
    throw std::runtime_error(fmt::format("{} is not a run directory: no meta.json", dir.string()));
  try {
    run.meta_ = nlohmann::json::parse(read_file(meta_path));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("{} is corrupt: {}", meta_path.string(), e.what()));
  }
  run.elapsed_before_ = run.meta_.value("wall_time_s", 0.0);
  run.metrics_ = open_append(dir / "metrics.jsonl");
  // A run killed mid-write leaves a torn last line; new lines must not be glued onto it.
  std::string metrics = read_file(dir / "metrics.jsonl");
  if (!metrics.empty() && metrics.back() != '\n') std::fputc('\n', run.metrics_.get());
  run.log_ = open_append(dir / "log.txt");
  return run;
}

void Run::write_meta() {
  meta_["wall_time_s"] = elapsed_seconds();
  write_file_atomic(dir_ / "meta.json", meta_.dump(2) + "\n");
}

void Run::mark_resumed(const std::string& command_line) {
  meta_["resumed"].push_back(
      {{"command", command_line}, {"at", utc_timestamp()}, {"from_step", meta_.value("step", 0)}});
  meta_["finished"] = nullptr;
  set_status("running", meta_.value("step", 0));
}

void Run::set_status(const std::string& status, int64_t step) {
  meta_["status"] = status;
  meta_["step"] = step;
  if (status != "running") meta_["finished"] = utc_timestamp();
  write_meta();
}

double Run::elapsed_seconds() const {
  return elapsed_before_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - opened_).count();
}

void Run::append_metrics(int64_t step, const std::string& split, const nlohmann::json& values) {
  nlohmann::json line = {{"step", step}, {"time_s", elapsed_seconds()}, {"split", split}};
  line.update(values);
  std::string text = line.dump() + "\n";
  std::fwrite(text.data(), 1, text.size(), metrics_.get());
  std::fflush(metrics_.get());
}

void Run::log(const std::string& line, bool to_stdout) {
  if (to_stdout) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  std::fprintf(log_.get(), "%s\n", line.c_str());
  std::fflush(log_.get());
}

std::filesystem::path Run::write_eval(const nlohmann::json& results) {
  write_file_atomic(dir_ / "eval.json", results.dump(2) + "\n");
  return dir_ / "eval.json";
}

}  // namespace genbox
