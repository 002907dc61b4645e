#include "base/run.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <system_error>

#include "base/errors.hpp"
#include "base/fsutil.hpp"
#include "base/version.hpp"

namespace genbox {

namespace {
std::shared_ptr<std::FILE> open_append(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "ab");
  if (!f) throw std::system_error(errno, std::generic_category(), "cannot open " + path.string());
  return std::shared_ptr<std::FILE>(f, std::fclose);
}

// What genbox reads back from a run's meta.json must have the type it wrote: a file edited by
// hand or damaged is refused naming the file, the key and the type expected.
void check_meta_fields(const nlohmann::json& meta, const std::filesystem::path& path) {
  struct Field {
    const char* key;
    const char* expected;
    bool (*fits)(const nlohmann::json&);
  };
  static const Field fields[] = {
      {"experiment", "a string", [](const nlohmann::json& v) { return v.is_string(); }},
      {"status", "a string", [](const nlohmann::json& v) { return v.is_string(); }},
      {"step", "a whole number >= 0", [](const nlohmann::json& v) { return v.is_number_unsigned(); }},
      {"wall_time_s", "a number >= 0", [](const nlohmann::json& v) { return v.is_number() && v.get<double>() >= 0; }},
      {"resumed", "an array", [](const nlohmann::json& v) { return v.is_array(); }},
  };
  for (const Field& field : fields) {
    auto found = meta.find(field.key);
    if (found != meta.end() && !field.fits(*found))
      throw DataError(fmt::format("{}: \"{}\" must be {}, not {}; the run's meta.json is damaged", path.string(),
                                  field.key, field.expected, json_kind(*found)));
  }
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

std::string host_name() {
  std::array<char, 256> name{};
  if (gethostname(name.data(), name.size() - 1) != 0) return "unknown";
  return name.data();
}

std::string utc_timestamp() { return format_utc("%Y-%m-%dT%H:%M:%SZ"); }

std::string utc_stamp() { return format_utc("%Y%m%d-%H%M%S"); }

Run::Run(std::filesystem::path dir) : dir_(std::move(dir)), opened_(std::chrono::steady_clock::now()) {}

Run Run::create(const std::string& out_dir, const std::string& experiment, const std::string& name,
                const std::string& config_toml, const std::string& command_line) {
  // A point of `<exp> sweep` is told its place in the sweep (base/sweep.hpp) by its parent.
  const char* sweep = std::getenv("GENBOX_SWEEP");
  const nlohmann::json sweep_field = sweep && *sweep ? parse_json(sweep, "GENBOX_SWEEP") : nlohmann::json();
  std::filesystem::path parent = std::filesystem::path(out_dir) / experiment;
  std::filesystem::create_directories(parent);
  std::string stem = utc_stamp() + "-" + name;
  std::filesystem::path dir = parent / stem;
  // Two runs started in the same second get distinct directories.
  for (int i = 2; !std::filesystem::create_directory(dir); ++i) dir = parent / fmt::format("{}-{}", stem, i);
  std::filesystem::create_directories(dir / "samples");
  std::filesystem::create_directories(dir / "checkpoints");

  Run run(dir);
  write_file_atomic(dir / "config.toml", config_toml);
  run.meta_ = {{"experiment", experiment},   {"run_name", name},
               {"command", command_line},    {"git_commit", genbox_git_commit()},
               {"started", utc_timestamp()}, {"finished", nullptr},
               {"status", "running"},        {"step", 0},
               {"wall_time_s", 0.0},         {"pid", getpid()},
               {"host", host_name()}};
  if (sweep_field.is_object()) run.meta_["sweep"] = sweep_field;
  run.write_meta();
  run.metrics_ = open_append(dir / "metrics.jsonl");
  run.log_ = open_append(dir / "log.txt");
  return run;
}

Run Run::open(const std::filesystem::path& dir) {
  Run run(dir);
  std::filesystem::path meta_path = dir / "meta.json";
  if (!std::filesystem::exists(meta_path))
    throw DataError(fmt::format("{} is not a run directory: no meta.json", dir.string()));
  run.meta_ = parse_json(read_file(meta_path), meta_path.string());
  if (!run.meta_.is_object())
    throw DataError(fmt::format("{}: not a JSON object; the run's meta.json is damaged", meta_path.string()));
  check_meta_fields(run.meta_, meta_path);
  run.elapsed_before_ = run.meta_.value("wall_time_s", 0.0);
  run.metrics_ = open_append(dir / "metrics.jsonl");
  // A run killed mid-write leaves a torn last line; new lines must not be glued onto it.
  std::string metrics = read_file(dir / "metrics.jsonl");
  if (!metrics.empty() && metrics.back() != '\n') std::fputc('\n', run.metrics_.get());
  run.log_ = open_append(dir / "log.txt");
  return run;
}

std::filesystem::path Run::out_dir() const {
  std::filesystem::path dir = std::filesystem::absolute(dir_).lexically_normal();
  if (!dir.has_filename()) dir = dir.parent_path();  // RUN_DIR given with a trailing slash
  return dir.parent_path().parent_path();
}

void Run::write_meta() {
  meta_["wall_time_s"] = elapsed_seconds();
  meta_["heartbeat"] = utc_timestamp();
  write_file_atomic(dir_ / "meta.json", meta_.dump(2) + "\n");
}

void Run::mark_resumed(const std::string& command_line, const nlohmann::json& changed) {
  nlohmann::json entry = {{"command", command_line}, {"at", utc_timestamp()}, {"from_step", meta_.value("step", 0)}};
  if (!changed.empty()) entry["changed"] = changed;
  meta_["resumed"].push_back(entry);
  meta_["pid"] = getpid();
  meta_["host"] = host_name();
  meta_["finished"] = nullptr;
  set_status("running", meta_.value("step", 0));
}

void Run::lock() {
  std::filesystem::path path = dir_ / ".lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw DataError(fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    std::string holder = read_file(path);
    ::close(fd);
    throw UsageError(fmt::format("{} is in use by {}; wait for it to end, or stop it first", dir_.string(),
                                 holder.empty() ? std::string("another process") : holder));
  }
  std::string holder = fmt::format("pid {} on {} since {}", getpid(), host_name(), utc_timestamp());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, holder.data(), holder.size(), 0) < 0) {
    // The lock holds without its note; only the message of a second process loses detail.
  }
  lock_ = std::shared_ptr<int>(new int(fd), [](int* held) {
    ::close(*held);
    delete held;
  });
}

void Run::remove_stale_temporaries() {
  // Temporaries are ".<name>.tmp.<pid>"; under the lock none belongs to a live writer.
  for (const std::filesystem::path& folder : {dir_, checkpoints_dir(), samples_dir()}) {
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(folder, error)) {
      std::string name = entry.path().filename().string();
      if (name.size() > 1 && name[0] == '.' && name.find(".tmp.") != std::string::npos)
        std::filesystem::remove(entry.path(), error);
    }
  }
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
  if (std::fwrite(text.data(), 1, text.size(), metrics_.get()) != text.size() || std::fflush(metrics_.get()) != 0)
    throw DataError(fmt::format("{}: cannot write: {}", (dir_ / "metrics.jsonl").string(), std::strerror(errno)));
}

void Run::log(const std::string& line, bool to_stdout) {
  if (to_stdout) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  if (std::fprintf(log_.get(), "%s\n", line.c_str()) < 0 || std::fflush(log_.get()) != 0)
    throw DataError(fmt::format("{}: cannot write: {}", (dir_ / "log.txt").string(), std::strerror(errno)));
}

std::filesystem::path Run::write_eval(const nlohmann::json& results) {
  write_file_atomic(dir_ / "eval.json", results.dump(2) + "\n");
  return dir_ / "eval.json";
}

}  // namespace genbox
