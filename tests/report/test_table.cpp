#include <doctest/doctest.h>

#include "report/diff.hpp"
#include "report/summary.hpp"
#include "report/table.hpp"
#include "tests/report/fixture_runs.hpp"

using namespace genbox::report;

namespace {
Table summary_of(const std::vector<Run>& runs) {
  std::vector<const FlatConfig*> configs;
  for (const Run& run : runs) configs.push_back(&run.config);
  return summary_table(runs, differing_keys(configs));
}
}  // namespace

TEST_CASE("config columns: keys that differ between runs of the same experiment only") {
  auto run = [](const std::string& experiment, FlatConfig config) {
    Run r;
    r.meta.experiment = experiment;
    r.config = std::move(config);
    return r;
  };
  std::vector<Run> runs = {run("nice", {{"optim.lr", "0.001"}, {"model.hidden", "256"}}),
                           run("detr", {{"optim.lr", "0.002"}, {"model.num_queries", "16"}}),
                           run("nice", {{"optim.lr", "0.001"}, {"model.hidden", "512"}})};
  CHECK(compared_config_keys(runs) == std::vector<std::string>{"model.hidden"});
  runs.push_back(run("detr", {{"optim.lr", "0.002"}, {"model.num_queries", "32"}, {"loss.focal", "true"}}));
  CHECK(compared_config_keys(runs) == std::vector<std::string>{"loss.focal", "model.hidden", "model.num_queries"});
  CHECK(compared_config_keys({runs[0], runs[1]}).empty());
}

TEST_CASE("numbers read short") {
  CHECK(format_number(3000) == "3000");
  CHECK(format_number(2.0833333) == "2.0833");
  CHECK(format_number(0.0003) == "0.0003");
  CHECK(format_number(-1.5) == "-1.5");
  CHECK(format_number(1e20) == "1e+20");
}

TEST_CASE("which metrics are better higher") {
  for (const char* name : {"acc", "accuracy", "top1_acc", "acc5", "AP", "AP50", "mAP", "map_50", "eval/ap_small",
                           "AR100", "ar", "loglik_nats", "test_loglik", "precision", "recall"})
    CHECK_MESSAGE(higher_is_better(name), name);
  for (const char* name : {"loss", "bpd", "nats", "fd", "fid", "kid", "grad_norm", "lr", "apple", "cardinality",
                           "recall_error_rate"})
    CHECK_FALSE_MESSAGE(higher_is_better(name), name);
}

TEST_CASE("text table: padded columns, numbers right-aligned, missing cells as '-'") {
  Table table;
  table.columns = {{"run", "run"}, {"loss best", "loss_best"}, {"wall time", "wall_time_s"}};
  table.rows = {{Cell::of("a"), Cell::of(1.5), Cell{"12m34s", 754.2}}, {Cell::of("long-name"), Cell{}, Cell::of(0.25)}};
  CHECK(render_text(table) ==
        "run        loss best  wall time\n"
        "---------  ---------  ---------\n"
        "a                1.5     12m34s\n"
        "long-name  -               0.25\n");
}

TEST_CASE("CSV: quoted where needed, numbers at full precision, missing cells empty") {
  Table table;
  table.columns = {{"run", "run"}, {"wall time", "wall_time_s"}, {"note", "note"}};
  table.rows = {{Cell::of("a,b"), Cell{"12m34s", 754.2}, Cell::of("say \"hi\"")},
                {Cell::of("c"), Cell::of(2.0833333333333335), Cell{}}};
  CHECK(render_csv(table) ==
        "run,wall_time_s,note\n"
        "\"a,b\",754.2,\"say \"\"hi\"\"\"\n"
        "c,2.0833333333333335,\n");
}

TEST_CASE("summary of three nice runs: finished, in progress and resumed, as CSV") {
  std::vector<Run> runs = fixtures::load({fixtures::kFinished, fixtures::kInProgress, fixtures::kResumed});
  CHECK(render_csv(summary_of(runs)) ==
        "run,experiment,status,step,wall_time_s,bpd_best,bpd_last,nats_best,nats_last,"
        "model.hidden,optim.lr,run.name,run.seed\n"
        "20240101-120000-base,nice,finished,3000,754.2,2.05,2.08,1110.2,1126.5,"
        "\"[1000, 1000]\",0.001,base,0\n"
        "20240102-090000-lr3e-4,nice,running,2000,481.2,2.2,2.2,1190,1190,"
        "\"[1000, 1000]\",0.0003,lr3e-4,0\n"
        "20240103-080000-resumed,nice,finished,3000,1012.4,1.98,1.98,1072,1072,"
        "\"[1000, 1000, 1000]\",0.001,resumed,1\n");
}

TEST_CASE("summary as text, sorted by a metric, with a failed run and a run without metrics") {
  std::vector<Run> runs =
      fixtures::load({fixtures::kFinished, fixtures::kFailed, fixtures::kNoMetrics, fixtures::kResumed});
  sort_by_metric(runs, "bpd");
  CHECK(render_text(summary_of(runs)) ==
        "run                       experiment  status    step  wall time  bpd best  bpd last  "
        "nats best  nats last  model.hidden        optim.lr  run.name  run.seed  train.batch_size\n"
        "------------------------  ----------  --------  ----  ---------  --------  --------  "
        "---------  ---------  ------------------  --------  --------  --------  ----------------\n"
        "20240103-080000-resumed   nice        finished  3000     16m52s      1.98      1.98  "
        "     1072       1072  [1000, 1000, 1000]  0.001     resumed   1         64\n"
        "20240101-120000-base      nice        finished  3000     12m34s      2.05      2.08  "
        "   1110.2     1126.5  [1000, 1000]        0.001     base      0         64\n"
        "20240104-070000-diverged  nice        failed    1500      6m01s       9.5       9.5  "
        "     5200       5200  [1000, 1000]        0.01      diverged  0         64\n"
        "20240106-050000-fresh     nice        running      0       1.5s  -         -         "
        "-          -          [1000, 1000]        0.001     fresh     0         128\n");
}

TEST_CASE("runs of another experiment add their eval metrics and sort after runs with the metric") {
  std::vector<Run> runs = fixtures::load({fixtures::kOtherExperiment, fixtures::kFinished});
  CHECK(eval_metric_names(runs) == std::vector<std::string>{"bpd", "fd", "loss", "nats"});
  sort_by_metric(runs, "bpd");
  CHECK(runs[0].label == "20240101-120000-base");
  CHECK(runs[1].label == "20240105-060000-dit-s");

  Table table = summary_of(runs);
  CHECK(table.columns[7].csv_title == "fd_best");
  CHECK(table.columns[7].better == Better::lower);
  CHECK(table.rows[1][7].number == 21.7);
  CHECK(table.rows[0][7].missing());
}
