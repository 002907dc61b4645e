// Runs started by `<exp> sweep` in the report: their meta.json "sweep" field read (or, malformed,
// warned about), a sweep's runs kept together by index, its keys as columns, its runs labelled by
// them, and the line that says how much of the sweep is present.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "report/html.hpp"
#include "report/runs_group.hpp"
#include "report/table_experiment.hpp"
#include "tests/report/table_reading.hpp"

using namespace genbox::report;
using genbox::report::table_reading::titles;
using genbox::report::table_reading::widest_line;
namespace fs = std::filesystem;

namespace {

const char* const kSweepId = "20261202-104500-12345";

// The "sweep" field the sweep command writes for point `index` of a grid over `keys`.
std::string sweep_field(const std::string& id, int index, int size,
                        const std::string& keys = R"("optim.lr", "train.batch_size")") {
  return fmt::format(R"({{"id": "{}", "index": {}, "size": {}, "keys": [{}], "values": {{}}}})", id, index, size, keys);
}

struct Point {
  std::string lr, batch_size, seed = "0";
};

// NICE run directories written into a scratch directory removed at the end of the test.
struct RunsDir {
  fs::path root = fs::temp_directory_path() / ("genbox_report_sweep_test_" + std::to_string(::getpid()));
  int written = 0;

  RunsDir() { fs::create_directories(root); }
  ~RunsDir() { fs::remove_all(root); }

  // A finished run at `point` whose eval bpd was `bpd`; `sweep` is its meta.json sweep field, as
  // JSON text (empty for a run of no sweep).
  fs::path add(const std::string& name, const Point& point, const std::string& sweep, double bpd = 2.0) {
    fs::path dir = root / fmt::format("20261202-1045{:02}-{}", written++, name);
    fs::create_directories(dir);
    write(dir / "config.toml",
          fmt::format("[run]\nname = \"{}\"\nseed = {}\n\n[train]\nbatch_size = {}\n\n[optim]\nlr = {}\n", name,
                      point.seed, point.batch_size, point.lr));
    write(dir / "meta.json", fmt::format(R"({{"experiment": "nice", "status": "finished", "run_name": "{}", )"
                                         R"("step": 100, "wall_time_s": 60{}}})",
                                         name, sweep.empty() ? "" : ", \"sweep\": " + sweep));
    write(dir / "metrics.jsonl", fmt::format("{{\"step\":100,\"split\":\"eval\",\"bpd\":{}}}\n", bpd));
    return dir;
  }

  static void write(const fs::path& path, const std::string& content) { std::ofstream(path) << content; }
};

// The four points of lr x batch_size, the last key varying fastest, as the sweep command orders them.
const Point kGrid[] = {{"0.001", "64"}, {"0.001", "128"}, {"0.0003", "64"}, {"0.0003", "128"}};

// Point `index` (1-based) of kGrid as a run of sweep kSweepId.
fs::path add_point(RunsDir& dir, int index) {
  return dir.add(fmt::format("sweep-{}", index), kGrid[index - 1], sweep_field(kSweepId, index, 4), 2.0 - 0.1 * index);
}

std::vector<Run> load(const std::vector<fs::path>& dirs) {
  std::vector<Run> runs;
  for (const fs::path& dir : dirs) runs.push_back(load_run(dir));
  return runs;
}

}  // namespace

TEST_CASE("a run's sweep is read from meta.json; a run of no sweep has none") {
  RunsDir dir;
  Run point = load_run(add_point(dir, 2));
  REQUIRE(point.meta.sweep.has_value());
  CHECK(point.meta.sweep->id == kSweepId);
  CHECK(point.meta.sweep->index == 2);
  CHECK(point.meta.sweep->size == 4);
  CHECK(point.meta.sweep->keys == std::vector<std::string>{"optim.lr", "train.batch_size"});
  CHECK(point.warnings.empty());

  Run alone = load_run(dir.add("base", kGrid[0], ""));
  CHECK_FALSE(alone.meta.sweep.has_value());
  CHECK(alone.warnings.empty());
  Run null_sweep = load_run(dir.add("null", kGrid[0], "null"));
  CHECK_FALSE(null_sweep.meta.sweep.has_value());
  CHECK(null_sweep.warnings.empty());
}

TEST_CASE("a malformed sweep field is a warning and the run reads as one of no sweep") {
  RunsDir dir;
  const char* const malformed[] = {
      R"(3)",
      R"("20261202-104500-12345")",
      R"({"index": 1, "size": 4, "keys": ["optim.lr"]})",
      R"({"id": "", "index": 1, "size": 4, "keys": ["optim.lr"]})",
      R"({"id": "s", "index": 0, "size": 4, "keys": ["optim.lr"]})",
      R"({"id": "s", "index": 5, "size": 4, "keys": ["optim.lr"]})",
      R"({"id": "s", "index": -1, "size": 4, "keys": ["optim.lr"]})",
      R"({"id": "s", "index": 1.5, "size": 4, "keys": ["optim.lr"]})",
      R"({"id": "s", "index": "1", "size": 4, "keys": ["optim.lr"]})",
      R"({"id": "s", "index": 1, "keys": ["optim.lr"]})",
      R"({"id": "s", "index": 1, "size": 4, "keys": []})",
      R"({"id": "s", "index": 1, "size": 4, "keys": "optim.lr"})",
      R"({"id": "s", "index": 1, "size": 4, "keys": ["optim.lr", 2]})",
      R"({"id": "s", "index": 1, "size": 4, "keys": [""]})",
      R"({"id": 7, "index": 1, "size": 4, "keys": ["optim.lr"]})",
  };
  std::vector<fs::path> dirs = {add_point(dir, 1)};
  for (const char* field : malformed) {
    dirs.push_back(dir.add("odd", kGrid[1], field));
    Run run = load_run(dirs.back());
    CHECK_MESSAGE(!run.meta.sweep.has_value(), field);
    REQUIRE_MESSAGE(run.warnings.size() == 1, field);
    CHECK(run.warnings[0].find("meta.json: sweep field ignored (") != std::string::npos);
  }
  // The report over them all still draws: the odd runs outside the sweep, the sweep its own.
  std::vector<Run> runs = load(dirs);
  ExperimentGroup group = group_by_experiment(runs).at(0);
  REQUIRE(group.sweeps.size() == 1);
  CHECK(group.sweeps[0].present == std::vector<std::size_t>{1});
  Table table = experiment_table(runs, group);
  CHECK(table.rows[0][6].text == kSweepId);
  CHECK(table.rows[1][6].missing());
  CHECK(html_report(runs, {}).find("1 of 4 present, missing 2-4") != std::string::npos);
}

TEST_CASE("a sweep's runs stand together, by index, where its first run was given") {
  RunsDir dir;
  const std::string other = "20261203-090000-777";
  std::vector<fs::path> dirs = {
      add_point(dir, 3),                                                                  // 0
      dir.add("base", {"0.001", "64", "5"}, ""),                                          // 1
      dir.add("seed-2", {"0.01", "32", "2"}, sweep_field(other, 2, 2, R"("run.seed")")),  // 2
      add_point(dir, 1),                                                                  // 3
      add_point(dir, 4),                                                                  // 4
      dir.add("seed-1", {"0.01", "32", "1"}, sweep_field(other, 1, 2, R"("run.seed")")),  // 5
      add_point(dir, 2),                                                                  // 6
  };
  std::vector<Run> runs = load(dirs);
  ExperimentGroup group = group_by_experiment(runs).at(0);
  CHECK(group.runs == std::vector<std::size_t>{3, 6, 0, 4, 1, 5, 2});
  REQUIRE(group.sweeps.size() == 2);
  CHECK(group.sweeps[0].id == kSweepId);
  CHECK(group.sweeps[0].present == std::vector<std::size_t>{1, 2, 3, 4});
  CHECK(group.sweeps[1].id == other);
  CHECK(group.sweep_keys == std::vector<std::string>{"optim.lr", "train.batch_size", "run.seed"});
  // A sweep's run by its swept keys, whatever else differs; the others as before.
  CHECK(group.labels == std::vector<std::string>{"lr=1e-3, batch_size=64", "lr=1e-3, batch_size=128",
                                                 "lr=3e-4, batch_size=64", "lr=3e-4, batch_size=128", "seed=5",
                                                 "seed=1", "seed=2"});
}

TEST_CASE("the sweep and its keys are columns, first among the config columns") {
  RunsDir dir;
  std::vector<fs::path> dirs = {add_point(dir, 1), add_point(dir, 2), add_point(dir, 3), add_point(dir, 4),
                                dir.add("base", {"0.001", "64", "1"}, "")};
  std::vector<Run> runs = load(dirs);
  std::vector<ExperimentGroup> groups = group_by_experiment(runs);
  Table table = experiment_table(runs, groups[0]);
  CHECK(titles(table) == std::vector<std::string>{"run", "status", "steps", "time", "best bpd", "last bpd", "sweep",
                                                  "lr", "batch_size", "seed"});
  CHECK(table.columns[6].csv_title == "sweep");
  CHECK(table.columns[8].csv_title == "train.batch_size");
  CHECK(table.rows[1][0].text == "lr=1e-3, batch_size=128");
  CHECK(table.rows[1][6].text == kSweepId);
  CHECK(table.rows[1][8].text == "128");
  CHECK(table.rows[4][0].text == "seed=1");
  CHECK(table.rows[4][6].missing());

  SUBCASE("even where the runs given share a swept key's value") {
    std::vector<Run> two = load({dirs[0], dirs[1]});  // both lr=1e-3
    ExperimentGroup group = group_by_experiment(two).at(0);
    CHECK(group.differing_keys == std::vector<std::string>{"train.batch_size"});
    CHECK(titles(experiment_table(two, group)) == std::vector<std::string>{"run", "status", "steps", "time", "best bpd",
                                                                           "last bpd", "sweep", "lr", "batch_size"});
    CHECK(group.labels == std::vector<std::string>{"lr=1e-3, batch_size=64", "lr=1e-3, batch_size=128"});
  }
  SUBCASE("a group without a sweep has no sweep column") {
    std::vector<Run> alone = load({dirs[4]});
    CHECK(titles(experiment_table(alone, group_by_experiment(alone).at(0))) ==
          std::vector<std::string>{"run", "status", "steps", "time", "best bpd", "last bpd"});
  }
}

TEST_CASE("the terminal names each sweep above its table; --columns still decides the columns") {
  RunsDir dir;
  std::vector<Run> runs = load({add_point(dir, 4), add_point(dir, 1), dir.add("base", {"0.001", "64", "1"}, "")});
  TerminalTables tables = render_experiment_tables(runs, {120, false, {}});
  CHECK(
      tables.text ==
      "nice, 3 runs\n"
      "sweep 20261202-104500-12345: 4 runs over optim.lr \u00d7 train.batch_size (2 of 4 present, missing 2-3)\n"
      R"(run                      status    steps  time   best bpd  last bpd  sweep                  lr    batch_size  seed
-----------------------  --------  -----  -----  --------  --------  ---------------------  ----  ----------  ----
lr=1e-3, batch_size=64   finished    100  1m00s       1.9       1.9  20261202-104500-12345  1e-3  64          0
lr=3e-4, batch_size=128  finished    100  1m00s       1.6       1.6  20261202-104500-12345  3e-4  128         0
seed=1                   finished    100  1m00s         2         2  -                      1e-3  64          1
)");
  for (std::size_t width = 1; width <= 160; ++width)
    CHECK_MESSAGE(widest_line(render_experiment_tables(runs, {width, false, {}}).text) <= width, width);

  TerminalTables picked = render_experiment_tables(runs, {120, false, {"status"}});
  CHECK(picked.text.find("run                      status\n") != std::string::npos);
  CHECK(picked.text.find(kSweepId + std::string("  ")) == std::string::npos);
  CHECK(render_experiment_tables(runs, {120, false, {"sweep"}}).text.find("  sweep\n") != std::string::npos);
}

TEST_CASE("the HTML report says above an experiment's runs table how much of each sweep is present") {
  RunsDir dir;
  std::vector<Run> runs = load({add_point(dir, 1), add_point(dir, 2), add_point(dir, 3), add_point(dir, 4)});
  std::string html = html_report(runs, {});
  std::size_t at = html.find(
      "<p class=\"sweep\">sweep 20261202-104500-12345: 4 runs over optim.lr \u00d7 train.batch_size (4 of 4 "
      "present)</p>");
  REQUIRE(at != std::string::npos);
  std::size_t table = html.find(R"(<table class="sortable runs">)");
  CHECK(at < table);
  CHECK(html.find(R"(<th title="sweep; click to sort">sweep</th>)") > table);
  CHECK(html.find(R"(<th title="train.batch_size; click to sort">batch_size</th>)") != std::string::npos);
  // Still one offline file.
  CHECK(html.find("http://") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
}

TEST_CASE("a sweep's line counts its indices once and names the missing ones as ranges") {
  CHECK(describe_sweep({"s", 1, {"optim.lr"}, {1}}) == "sweep s: 1 run over optim.lr (1 of 1 present)");
  CHECK(describe_sweep({"s", 8, {"a", "b", "c"}, {2, 6, 7}}) ==
        "sweep s: 8 runs over a \u00d7 b \u00d7 c (3 of 8 present, missing 1, 3-5, 8)");

  // The same run directory given twice: two rows, one index present.
  RunsDir dir;
  fs::path point = add_point(dir, 2);
  std::vector<Run> runs = load({point, point});
  ExperimentGroup group = group_by_experiment(runs).at(0);
  CHECK(group.runs.size() == 2);
  CHECK(describe_sweep(group.sweeps.at(0)) ==
        "sweep 20261202-104500-12345: 4 runs over optim.lr \u00d7 train.batch_size (1 of 4 present, missing 1, 3-4)");
}
