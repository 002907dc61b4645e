// Grouping by experiment and the labels that say what sets a run apart within its experiment.
#include <doctest/doctest.h>

#include "report/runs_group.hpp"
#include "tests/report/fixture_runs.hpp"

using namespace genbox::report;

TEST_CASE("runs group by experiment in the order each first appears") {
  std::vector<Run> runs =
      fixtures::load({fixtures::kOtherExperiment, fixtures::kFinished, fixtures::kDetection, fixtures::kInProgress});
  std::vector<ExperimentGroup> groups = group_by_experiment(runs);
  REQUIRE(groups.size() == 3);
  CHECK(groups[0].experiment == "rf_dit");
  CHECK(groups[0].runs == std::vector<std::size_t>{0});
  CHECK(groups[1].experiment == "nice");
  CHECK(groups[1].runs == std::vector<std::size_t>{1, 3});
  CHECK(groups[2].experiment == "detr");
  // Within NICE only the learning rate differs: run.name names runs, it does not set them apart.
  CHECK(groups[1].differing_keys == std::vector<std::string>{"optim.lr"});
  CHECK(groups[1].labels == std::vector<std::string>{"lr=1e-3", "lr=3e-4"});
  // A single run differs from nothing: its run name.
  CHECK(groups[0].differing_keys.empty());
  CHECK(groups[0].labels == std::vector<std::string>{"dit-s"});
  // The metric each program keeps best.pt by when logged, else the first eval metric.
  CHECK(groups[1].headline_metric == "bpd");
  CHECK(groups[2].headline_metric == "ap");
  CHECK(groups[0].headline_metric == "fd");
}

TEST_CASE("labels name only what a run does unlike most of its experiment") {
  std::vector<Run> runs = fixtures::load(
      {fixtures::kFinished, fixtures::kInProgress, fixtures::kResumed, fixtures::kFailed, fixtures::kNoMetrics});
  ExperimentGroup nice = group_by_experiment(runs).at(0);
  CHECK(nice.labels ==
        std::vector<std::string>{"base", "lr=3e-4", "hidden=[1000,1000,1000], seed=1", "lr=0.01", "batch_size=128"});
  CHECK(group_eval_metrics(runs, nice) == std::vector<std::string>{"bpd", "nats"});
}

TEST_CASE("two runs alike but for their name are labelled by it, then by directory") {
  std::vector<Run> runs = fixtures::load({fixtures::kFinished, fixtures::kFinished});
  runs[1].meta.run_name = "again";
  CHECK(group_by_experiment(runs)[0].labels == std::vector<std::string>{"base", "again"});
  runs[1].meta.run_name = "base";
  runs[1].label = "copy";
  CHECK(group_by_experiment(runs)[0].labels == std::vector<std::string>{"20240101-120000-base", "copy"});
}

TEST_CASE("short values and labels from keys") {
  CHECK(short_value("0.0003") == "3e-4");
  CHECK(short_value("0.001") == "1e-3");
  CHECK(short_value("0.25") == "0.25");
  CHECK(short_value("128") == "128");
  CHECK(short_value("\"adamw\"") == "adamw");
  CHECK(short_value("[64, 128]") == "[64,128]");
  CHECK(short_value("true") == "true");
  FlatConfig config = {{"model.width", "64"}, {"data.width", "32"}, {"optim.lr", "0.0003"}, {"a.b", "1"}, {"c.d", "2"}};
  // Two keys end in "width": both are spelled out.
  CHECK(label_from_keys(config, {"data.width", "model.width", "optim.lr"}) == "data.width=32, model.width=64, lr=3e-4");
  CHECK(label_from_keys(config, {"a.b", "c.d", "optim.lr", "model.width", "data.width"}) == "b=1, d=2, lr=3e-4 +2");
  CHECK(label_from_keys(config, {"missing.key"}) == "key=-");
}
