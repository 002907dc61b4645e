// `<exp> sweep [-c FILE.toml ...] key=a,b other=x,y [key=value ...]`: a grid of training runs, as
// Hydra's --multirun runs one. Each key given several comma-separated values is an axis; the
// grid is their product, the last axis varying fastest, and every point is one `<exp> train`
// with the same files and fixed overrides, run one after another in a process of its own. Every
// point is validated before the first one starts. Each run's meta.json carries the sweep:
//   "sweep": {"id": ..., "index": k (1-based), "size": n, "keys": [axes in order],
//             "values": {key: the point's value as written}}
// which `compare` reads to keep a sweep's runs together with its keys as columns.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/cli.hpp"
#include "base/config.hpp"

namespace genbox {

// One swept key and its values, each in TOML syntax as written.
struct SweepAxis {
  std::string key;
  std::vector<std::string> values;
};

struct SweepPlan {
  std::vector<std::string> fixed;  // overrides with one value, applied to every point
  std::vector<SweepAxis> axes;
  // Each point's overrides (one per axis, key=value), the last axis varying fastest.
  std::vector<std::vector<std::string>> points() const;
  int64_t size() const;
};

// A point's overrides as its line shows them: "optim.lr=1e-3 run.seed=0".
std::string point_text(const std::vector<std::string>& overrides);

// `text` split at the commas that are outside brackets, braces and quotes, so `[1,2],[3,4]` is
// two lists and `"a,b"` one string. An empty element is a UsageError naming `key`.
std::vector<std::string> split_sweep_values(const std::string& key, const std::string& text);

// Sorts the overrides into fixed ones and axes. A key given twice, a sweep without any axis, or a
// grid of more than 10000 points is a UsageError.
SweepPlan plan_sweep(const std::vector<std::string>& overrides);

// Resolves the config of every point (the files, then the fixed overrides, then the point's) so a
// mistake in any point is found before anything runs: a ConfigError names the point. Leaves the
// schema resolved to the last point. `resolved`, when given, is called after each point resolves
// with its 1-based index and overrides (--print-config prints each point's config from it).
void validate_sweep(Schema& schema, const CommandLine& cli, const SweepPlan& plan,
                    const std::function<void(int64_t, const std::vector<std::string>&)>& resolved = {});

// The sweep's identity, unique on this machine: "<YYYYmmdd-HHMMSS>-<pid>".
std::string new_sweep_id();

// The meta.json "sweep" field of point `index` (1-based).
nlohmann::json sweep_field(const std::string& id, const SweepPlan& plan, int64_t index);

// Runs each point as `<executable> train -c FILE ... overrides...` with GENBOX_SWEEP holding its
// sweep field (Run::create copies it into meta.json), in its own process group: SIGINT, SIGTERM
// and SIGHUP reach the point once, through this process. A point that fails does not stop the
// sweep (a diverging learning rate is a result); an interrupted one does. `out_dir` is where the
// program's runs go (<out_dir>/<program>/), searched afterwards for each point's run. Prints a
// line before each point and a summary with the compare command; returns 0 when every point
// finished, else the exit code of the first that did not (130/143 when interrupted).
int run_sweep(const CommandLine& cli, const SweepPlan& plan, const std::string& out_dir);

}  // namespace genbox
