#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <stdexcept>

#include "base/run.hpp"
#include "report/runs.hpp"
#include "tests/report/fixture_runs.hpp"

using namespace genbox::report;
namespace fs = std::filesystem;

namespace {

const std::vector<double>& column(const Metrics& metrics, const std::string& split, const std::string& metric) {
  return metrics.splits.at(split).values.at(metric);
}

// A scratch directory removed at the end of the test.
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("genbox_report_test_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  void write(const std::string& name, const std::string& content) const {
    std::ofstream(path / name, std::ios::binary) << content;
  }
};

}  // namespace

TEST_CASE("metrics lines are split by split and ordered by step") {
  Metrics m = parse_metrics(
      "{\"step\":2,\"time_s\":2.5,\"split\":\"train\",\"loss\":0.5,\"lr\":0.1}\n"
      "{\"step\":1,\"time_s\":1.5,\"split\":\"train\",\"loss\":0.9}\n"
      "{\"split\":\"eval\",\"step\":2,\"time_s\":3,\"bpd\":1.25}\n");
  REQUIRE(m.splits.size() == 2);
  const MetricRows& train = m.splits.at("train");
  CHECK(train.step == std::vector<std::int64_t>{1, 2});
  CHECK(train.time_s == std::vector<double>{1.5, 2.5});
  CHECK(train.values.at("loss") == std::vector<double>{0.9, 0.5});
  // The line at step 1 had no lr.
  CHECK(std::isnan(train.values.at("lr")[0]));
  CHECK(train.values.at("lr")[1] == 0.1);
  CHECK(column(m, "eval", "bpd") == std::vector<double>{1.25});
  CHECK(m.malformed_lines == 0);
}

TEST_CASE("a torn last line is ignored without counting as malformed") {
  Metrics m = parse_metrics("{\"step\":1,\"split\":\"train\",\"loss\":3}\n{\"step\":2,\"split\":\"tr");
  CHECK(m.splits.at("train").step == std::vector<std::int64_t>{1});
  CHECK(m.malformed_lines == 0);

  SUBCASE("but a whole last line without its newline is kept") {
    Metrics whole = parse_metrics("{\"step\":1,\"loss\":3}\n{\"step\":2,\"loss\":2}");
    CHECK(whole.splits.at("train").step == std::vector<std::int64_t>{1, 2});
  }
}

TEST_CASE("malformed lines inside the file are skipped and counted") {
  Metrics m = parse_metrics(
      "{\"step\":1,\"loss\":3}\n"
      "not json\n"
      "[{\"step\":9,\"loss\":1}]\n"  // an array, not an object
      "{\"loss\":2}\n"               // no step
      "{\"step\":2.5,\"loss\":2}\n"  // a step must be an integer
      "{\"step\":3,\"loss\":1}\r\n"  // CRLF is fine
      "\n"                           // blank lines are not malformed
      "{\"step\":4,\"loss\":0.5,\"extra\":{\"nested\":7},\"tags\":[1,2],\"note\":\"x\"}\n");
  CHECK(m.malformed_lines == 4);
  const MetricRows& train = m.splits.at("train");
  CHECK(train.step == std::vector<std::int64_t>{1, 3, 4});
  CHECK(train.values.at("loss") == std::vector<double>{3, 1, 0.5});
  // Nested values and strings are not metrics.
  CHECK(train.values.size() == 1);
}

TEST_CASE("for a repeated (step, split) the last line wins whole") {
  Metrics m = parse_metrics(
      "{\"step\":1,\"split\":\"train\",\"loss\":5,\"grad_norm\":9}\n"
      "{\"step\":2,\"split\":\"train\",\"loss\":4,\"grad_norm\":8}\n"
      "{\"step\":1,\"split\":\"eval\",\"bpd\":3}\n"
      "{\"step\":2,\"split\":\"train\",\"loss\":3.5}\n"  // resumed: step 2 again, no grad_norm
      "{\"step\":3,\"split\":\"train\",\"loss\":3,\"grad_norm\":7}\n");
  const MetricRows& train = m.splits.at("train");
  CHECK(train.step == std::vector<std::int64_t>{1, 2, 3});
  CHECK(train.values.at("loss") == std::vector<double>{5, 3.5, 3});
  const std::vector<double>& grad_norm = train.values.at("grad_norm");
  CHECK(grad_norm[0] == 9);
  CHECK(std::isnan(grad_norm[1]));  // not merged from the replaced line
  CHECK(grad_norm[2] == 7);
  // The same step in another split is a different line.
  CHECK(m.splits.at("eval").step == std::vector<std::int64_t>{1});
}

TEST_CASE("a whole line glued to a torn fragment by a resume is recovered") {
  Metrics m = parse_metrics(
      "{\"step\":1,\"loss\":5}\n"
      "{\"step\":2,\"lo{\"step\":2,\"loss\":4.5}\n");
  CHECK(m.splits.at("train").values.at("loss") == std::vector<double>{5, 4.5});
  CHECK(m.malformed_lines == 0);
}

TEST_CASE("null metrics are missing values") {
  Metrics m = parse_metrics("{\"step\":1,\"loss\":null,\"lr\":0.1}\n{\"step\":2,\"loss\":2,\"lr\":0.1}\n");
  const std::vector<double>& loss = column(m, "train", "loss");
  REQUIRE(loss.size() == 2);
  CHECK(std::isnan(loss[0]));
  CHECK(loss[1] == 2);
}

TEST_CASE("a finished run loads with meta, flattened config, eval results and samples") {
  Run run = load_run(fixtures::path(fixtures::kFinished));
  CHECK(run.label == "20240101-120000-base");
  CHECK(run.meta.experiment == "nice");
  CHECK(run.meta.status == "finished");
  CHECK(run.meta.step == 3000);
  CHECK(run.meta.wall_time_s == 754.2);
  CHECK(run.meta.git_commit == "3f9c2a1e5b7d");
  CHECK(run.meta.finished == "2024-01-01T12:12:35Z");
  CHECK(run.warnings.empty());

  CHECK(run.config.at("optim.lr") == "0.001");
  CHECK(run.config.at("model.hidden") == "[1000, 1000]");
  CHECK(run.config.at("run.name") == "base");
  CHECK(run.config.at("optim.weight_decay") == "0.0");
  CHECK(run.config.size() == 17);

  CHECK(run.metrics.splits.at("eval").values.at("bpd") == std::vector<double>{2.31, 2.05, 2.08});
  CHECK(run.metrics.splits.at("train").step == std::vector<std::int64_t>{1000, 2000, 3000});

  CHECK(run.eval.at("bpd").number == 2.08);
  CHECK(run.eval.at("test.images").number == 10000);
  CHECK(run.eval.at("test.split").text == "test");

  REQUIRE(run.samples.size() == 3);
  CHECK(run.samples[0].path.filename() == "step_0001000.png");
  CHECK(run.samples[0].step == 1000);
  CHECK(run.samples[1].step == 3000);
  CHECK(run.samples[2].path.filename() == "inpaint.png");
  CHECK_FALSE(run.samples[2].step.has_value());
}

TEST_CASE("a run in progress loads up to its torn last line") {
  Run run = load_run(fixtures::path(fixtures::kInProgress));
  CHECK(run.meta.status == "running");
  CHECK(run.meta.finished.empty());
  CHECK(run.metrics.splits.at("train").step == std::vector<std::int64_t>{1000, 2000});
  CHECK(run.metrics.malformed_lines == 0);
  CHECK(run.warnings.empty());
}

TEST_CASE("a resumed run keeps the lines written after the resume") {
  Run run = load_run(fixtures::path(fixtures::kResumed));
  const MetricRows& eval = run.metrics.splits.at("eval");
  CHECK(eval.step == std::vector<std::int64_t>{1000, 2000, 3000});
  CHECK(eval.values.at("bpd") == std::vector<double>{2.3, 2.02, 1.98});
  const MetricRows& train = run.metrics.splits.at("train");
  CHECK(train.values.at("loss") == std::vector<double>{1440, 1215, 1170});
  CHECK(train.time_s == std::vector<double>{251, 760, 1010});
  CHECK(run.metrics.malformed_lines == 0);
}

TEST_CASE("a failed run and a run without metrics still load") {
  Run failed = load_run(fixtures::path(fixtures::kFailed));
  CHECK(failed.meta.status == "failed");
  CHECK(failed.meta.step == 1500);
  const std::vector<double>& loss = failed.metrics.splits.at("train").values.at("loss");
  CHECK(loss.size() == 3);
  CHECK(std::isnan(loss[2]));
  CHECK(failed.samples.empty());

  Run fresh = load_run(fixtures::path(fixtures::kNoMetrics));
  CHECK(fresh.metrics.splits.empty());
  CHECK(fresh.eval.empty());
  CHECK(fresh.warnings.empty());
}

TEST_CASE("a path that is not a run directory is refused by name") {
  auto message_of = [](const fs::path& dir) {
    try {
      load_run(dir);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  fs::path not_a_run = fixtures::path(fixtures::kNotARun);
  CHECK(message_of(not_a_run) == not_a_run.string() + ": not a run directory (no meta.json)");
  fs::path missing = fixtures::path("nice/19990101-000000-missing");
  CHECK(message_of(missing) == missing.string() + ": no such directory");
  // An experiment directory is the likely mistake: the message says what to pass instead.
  fs::path experiment = fixtures::path("nice");
  CHECK(message_of(experiment) == experiment.string() + ": not a run directory (no meta.json); it holds 5 runs, pass " +
                                      experiment.string() + "/* to compare them");
  CHECK(message_of(fixtures::path(fixtures::kFinished) / "meta.json").find("not a directory") != std::string::npos);
}

TEST_CASE("a corrupt meta.json refuses the run, a corrupt config.toml is only a warning") {
  TempDir dir;
  dir.write("meta.json", "{\"experiment\": \"nice\", ");
  CHECK_THROWS_WITH_AS(load_run(dir.path), doctest::Contains("meta.json: not valid JSON"), std::runtime_error);

  dir.write("meta.json", "{\"status\": \"running\"}");
  dir.write("config.toml", "[train]\nsteps = = 3\n");
  Run run = load_run(dir.path);
  CHECK(run.meta.status == "running");
  CHECK_FALSE(run.meta.step.has_value());
  // The experiment falls back to the parent directory's name.
  CHECK(run.meta.experiment == dir.path.parent_path().filename().string());
  REQUIRE(run.warnings.size() == 1);
  CHECK(run.warnings[0].find("config.toml:2:") != std::string::npos);
}

TEST_CASE("a run that says running but whose process is gone shows as crashed; a silent remote one as stale") {
  TempDir dir;
  dir.write("config.toml", "[run]\nname = \"x\"\n");
  dir.write("metrics.jsonl", "");
  // A pid that surely ended: a child that has exited and been reaped.
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  const std::string host = genbox::host_name();
  auto status_with = [&](const std::string& fields) {
    dir.write("meta.json", R"({"experiment": "nice", "status": "running", )" + fields + "}");
    return load_run(dir.path).meta.status;
  };
  CHECK(status_with(R"("pid": )" + std::to_string(child) + R"(, "host": ")" + host + "\"") == "crashed");
  CHECK(status_with(R"("pid": )" + std::to_string(getpid()) + R"(, "host": ")" + host + "\"") == "running");
  CHECK(status_with(R"("pid": 1, "host": "elsewhere", "heartbeat": "2020-01-01T00:00:00Z")") == "stale");
  CHECK(status_with(R"("pid": 1, "host": "elsewhere", "heartbeat": ")" + genbox::utc_timestamp() + "\"") == "running");
}

TEST_CASE("eval.json's arrays of objects load as tables, arrays of numbers as their numbers") {
  Run dit = load_run(fixtures::path(fixtures::kOtherExperiment));
  const auto& sweep = dit.eval_tables.at("sweep");
  REQUIRE(sweep.size() == 4);
  CHECK(sweep[1].at("steps").number == 8);
  CHECK(sweep[1].at("guidance").number == 2.0);
  CHECK(sweep[1].at("fd").number == 24.9);
  CHECK(sweep[1].at("class_accuracy_per_class").text == "0.8 0.95 0.6");
  CHECK(dit.eval.count("sweep") == 0);
  CHECK(dit.eval.at("sampler.name").text == "euler");

  Run detr = load_run(fixtures::path(fixtures::kDetection));
  const auto& categories = detr.eval_tables.at("ap_per_category");
  REQUIRE(categories.size() == 3);
  CHECK(categories[1].at("name").text == "Trouser");
  CHECK(categories[1].at("ap").number == 0.35);
}
