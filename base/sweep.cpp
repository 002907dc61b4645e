#include "base/sweep.hpp"

#include <fmt/format.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>

#include "base/errors.hpp"
#include "base/fsutil.hpp"
#include "base/run.hpp"

extern char** environ;

namespace genbox {

namespace {
constexpr int64_t kMaxPoints = 10000;

volatile std::sig_atomic_t running_point = 0;  // the pid of the point under way, 0 between points
volatile std::sig_atomic_t stop_requested = 0;

// The point is in a process group of its own, so a signal reaches it only through here: once,
// as if it had been sent to the point alone (a second Ctrl-C still kills it, as it does a train).
void forward_signal(int signal) {
  stop_requested = signal;
  if (running_point > 0) kill(static_cast<pid_t>(running_point), signal);
}

struct PointOutcome {
  int exit_code = 0;
  std::string status;  // meta.json's, or "not run"
  std::filesystem::path run_dir;
};

int wait_for(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw DataError(fmt::format("sweep: waiting for point {}: {}", pid, std::strerror(errno)));
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Starts `args` (args[0] is what the point's command line shows) running this very program.
pid_t start_point(const std::vector<std::string>& args, const std::string& sweep_json) {
  std::vector<std::string> environment = {"GENBOX_SWEEP=" + sweep_json};
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "GENBOX_SWEEP=", 13) != 0) environment.emplace_back(*e);
  auto pointers = [](std::vector<std::string>& texts) {
    std::vector<char*> out;
    for (std::string& t : texts) out.push_back(t.data());
    out.push_back(nullptr);
    return out;
  };
  std::vector<std::string> argv_texts = args;
  std::vector<char*> argv = pointers(argv_texts), envp = pointers(environment);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attributes, 0);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&defaults, s);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  pid_t pid = 0;
  const int error = posix_spawn(&pid, "/proc/self/exe", nullptr, &attributes, argv.data(), envp.data());
  posix_spawnattr_destroy(&attributes);
  if (error != 0) throw DataError(fmt::format("sweep: cannot start a point: {}", std::strerror(error)));
  return pid;
}

// The run directory a point created: the one under <out_dir>/<program>/ whose meta.json names
// this sweep and index. Empty when the point stopped before creating one (a usage error).
std::optional<std::filesystem::path> find_point_run(const std::filesystem::path& runs, const std::string& id,
                                                    int64_t index, std::string& status) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(runs, error)) {
    const std::filesystem::path meta_path = entry.path() / "meta.json";
    if (!std::filesystem::is_regular_file(meta_path, error)) continue;
    try {
      nlohmann::json meta = parse_json(read_file(meta_path), meta_path.string());
      const nlohmann::json* sweep = meta.is_object() && meta.contains("sweep") ? &meta["sweep"] : nullptr;
      if (!sweep || !sweep->is_object() || sweep->value("id", "") != id || sweep->value("index", int64_t(0)) != index)
        continue;
      status = meta.value("status", "unknown");
      return entry.path();
    } catch (const std::exception&) {
      // Another run's damaged meta.json is not this sweep's concern.
    }
  }
  return std::nullopt;
}

std::string axes_text(const SweepPlan& plan) {
  std::string text;
  for (const SweepAxis& a : plan.axes) text += (text.empty() ? "" : " x ") + a.key;
  return text;
}
}  // namespace

std::string point_text(const std::vector<std::string>& overrides) {
  std::string text;
  for (const std::string& o : overrides) text += (text.empty() ? "" : " ") + o;
  return text;
}

std::vector<std::vector<std::string>> SweepPlan::points() const {
  std::vector<std::vector<std::string>> out(1);
  for (const SweepAxis& axis : axes) {
    std::vector<std::vector<std::string>> grown;
    for (const auto& prefix : out)
      for (const std::string& value : axis.values) {
        grown.push_back(prefix);
        grown.back().push_back(axis.key + "=" + value);
      }
    out = std::move(grown);
  }
  return out;
}

int64_t SweepPlan::size() const {
  int64_t n = 1;
  for (const SweepAxis& axis : axes) n *= static_cast<int64_t>(axis.values.size());
  return n;
}

std::vector<std::string> split_sweep_values(const std::string& key, const std::string& text) {
  std::vector<std::string> values(1);
  int depth = 0;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quote) {
      // In a basic string a backslash escapes the next character, which then ends nothing.
      if (c == '\\' && quote == '"' && i + 1 < text.size()) {
        values.back() += c;
        values.back() += text[++i];
        continue;
      }
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    } else if (c == ',' && depth == 0) {
      values.emplace_back();
      continue;
    }
    values.back() += c;
  }
  for (const std::string& v : values)
    if (v.empty())
      throw UsageError(fmt::format("sweep: {}={} has an empty value; give values as {}=a,b", key, text, key));
  return values;
}

SweepPlan plan_sweep(const std::vector<std::string>& overrides) {
  SweepPlan plan;
  std::set<std::string> seen;
  for (const std::string& o : overrides) {
    const size_t eq = o.find('=');
    const std::string key = o.substr(0, eq), text = o.substr(eq + 1);
    if (!seen.insert(key).second)
      throw UsageError(fmt::format("sweep: {} is given twice; list its values once, as {}=a,b", key, key));
    std::vector<std::string> values = split_sweep_values(key, text);
    if (values.size() == 1)
      plan.fixed.push_back(o);
    else
      plan.axes.push_back({key, std::move(values)});
  }
  if (plan.axes.empty())
    throw UsageError("sweep needs a key with several values, as optim.lr=1e-3,3e-4 (the grid is every combination)");
  int64_t size = 1;
  for (const SweepAxis& axis : plan.axes) {
    size *= static_cast<int64_t>(axis.values.size());
    if (size > kMaxPoints)
      throw UsageError(
          fmt::format("sweep: the grid has more than {} points; split it into smaller sweeps", kMaxPoints));
  }
  return plan;
}

void validate_sweep(Schema& schema, const CommandLine& cli, const SweepPlan& plan,
                    const std::function<void(int64_t, const std::vector<std::string>&)>& resolved) {
  const std::vector<std::vector<std::string>> points = plan.points();
  for (size_t i = 0; i < points.size(); ++i) {
    CommandLine point = cli;
    point.overrides = plan.fixed;
    point.overrides.insert(point.overrides.end(), points[i].begin(), points[i].end());
    try {
      resolve_config(schema, point);
    } catch (const ConfigError& e) {
      throw ConfigError(
          fmt::format("sweep point {} of {} ({}): {}", i + 1, points.size(), point_text(points[i]), e.what()));
    }
    if (resolved) resolved(static_cast<int64_t>(i + 1), points[i]);
  }
}

std::string new_sweep_id() { return fmt::format("{}-{}", utc_stamp(), getpid()); }

nlohmann::json sweep_field(const std::string& id, const SweepPlan& plan, int64_t index) {
  nlohmann::json keys = nlohmann::json::array(), values = nlohmann::json::object();
  // Index k's values: k-1 written in the mixed radix of the axes' sizes, the last axis fastest.
  int64_t rest = index - 1;
  std::vector<std::string> chosen(plan.axes.size());
  for (size_t a = plan.axes.size(); a-- > 0;) {
    const auto n = static_cast<int64_t>(plan.axes[a].values.size());
    chosen[a] = plan.axes[a].values[rest % n];
    rest /= n;
  }
  for (size_t a = 0; a < plan.axes.size(); ++a) {
    keys.push_back(plan.axes[a].key);
    values[plan.axes[a].key] = chosen[a];
  }
  return {{"id", id}, {"index", index}, {"size", plan.size()}, {"keys", keys}, {"values", values}};
}

int run_sweep(const CommandLine& cli, const SweepPlan& plan, const std::string& out_dir) {
  const std::string id = new_sweep_id();
  const std::filesystem::path runs = std::filesystem::path(out_dir) / cli.program;
  const std::vector<std::vector<std::string>> points = plan.points();
  fmt::print("sweep {}: {} runs of {} over {}\n", id, points.size(), cli.program, axes_text(plan));
  std::fflush(stdout);

  struct sigaction forward {};
  forward.sa_handler = forward_signal;
  sigemptyset(&forward.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &forward, nullptr);

  std::vector<PointOutcome> outcomes(points.size(), PointOutcome{0, "not run", {}});
  int first_failure = 0;
  for (size_t i = 0; i < points.size() && !stop_requested; ++i) {
    const auto index = static_cast<int64_t>(i + 1);
    fmt::print("[sweep {}/{}] {}\n", index, points.size(), point_text(points[i]));
    std::fflush(stdout);
    std::vector<std::string> args = {cli.executable, "train"};
    for (const std::string& file : cli.config_files) args.insert(args.end(), {"-c", file});
    args.insert(args.end(), plan.fixed.begin(), plan.fixed.end());
    args.insert(args.end(), points[i].begin(), points[i].end());
    const pid_t pid = start_point(args, sweep_field(id, plan, index).dump());
    running_point = pid;
    if (stop_requested) kill(pid, stop_requested);  // a signal that came while it was starting
    PointOutcome& outcome = outcomes[i];
    outcome.exit_code = wait_for(pid);
    running_point = 0;
    outcome.status = "no run";
    if (auto dir = find_point_run(runs, id, index, outcome.status)) outcome.run_dir = *dir;
    if (outcome.exit_code != 0 && first_failure == 0) first_failure = outcome.exit_code;
    if (outcome.exit_code == kExitSigint || outcome.exit_code == kExitSigterm) break;
  }

  fmt::print("sweep {}: {}\n", id, axes_text(plan));
  std::string compare;
  for (size_t i = 0; i < points.size(); ++i) {
    const PointOutcome& o = outcomes[i];
    fmt::print(
        "  {:>3}  {:<11} {}  {}\n", i + 1, o.status, point_text(points[i]),
        o.run_dir.empty() ? std::string(o.exit_code ? fmt::format("(exit {})", o.exit_code) : "") : o.run_dir.string());
    if (!o.run_dir.empty()) compare += " " + o.run_dir.string();
  }
  if (!compare.empty()) {
    const std::filesystem::path tool = std::filesystem::path(cli.executable).parent_path() / "compare";
    fmt::print("compare them: {}{}\n", tool.string(), compare);
  }
  if (stop_requested && first_failure == 0) first_failure = stop_requested == SIGINT ? kExitSigint : kExitSigterm;
  return first_failure;
}

}  // namespace genbox
