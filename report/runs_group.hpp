// Runs grouped by experiment. Runs of different experiments share neither config keys nor
// metrics worth comparing (NICE's loss is ~-1000 nats where the DiT's is 0.3), so every table,
// plot and "best" of the report is drawn within one group.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "report/diff.hpp"
#include "report/runs.hpp"

namespace genbox::report {

// The runs of one sweep (`<exp> sweep`) that were given.
struct GroupSweep {
  std::string id;
  std::size_t size = 0;              // points in the sweep's grid
  std::vector<std::string> keys;     // the swept config keys, in command-line order
  std::vector<std::size_t> present;  // the 1-based indices of its runs given, increasing, each once
};

struct ExperimentGroup {
  std::string experiment;
  // Indices into the runs given, in their order, except that a sweep's runs stand together, by
  // sweep index, where its first run was given.
  std::vector<std::size_t> runs;
  std::vector<GroupSweep> sweeps;  // in the order of `runs`
  // The keys of `sweeps`, each once, in their order: columns of the experiment's table even where
  // the runs given share their value, since they are what a sweep is about.
  std::vector<std::string> sweep_keys;
  // Config keys whose values differ between the group's runs, sorted; run.name and run.out_dir
  // are left out: they name a run, they do not set it apart.
  std::vector<std::string> differing_keys;
  // Parallel to `runs`: what sets each run apart within the group ("lr=3e-4, seed=1"): a sweep's
  // run its swept keys; any other run the differing keys where it does not hold the value most
  // runs share (with two runs, each differing key); a run with nothing unusual, or two runs
  // labelled alike, get their run name.
  std::vector<std::string> labels;
  // The eval metric that ranks the group's runs: the one its program keeps best.pt by, when
  // logged, else the first eval metric by name; empty when no run logged an eval line yet.
  std::string headline_metric;
};

// One group per experiment, in the order each experiment first appears.
std::vector<ExperimentGroup> group_by_experiment(const std::vector<Run>& runs);

// One line on a sweep's runs: "sweep 20261202-104500-12345: 4 runs over optim.lr × train.batch_size
// (3 of 4 present, missing 2)".
std::string describe_sweep(const GroupSweep& sweep);

// The metric each program keeps best.pt by (experiments/*.cpp), empty for an unknown one.
std::string best_checkpoint_metric(const std::string& experiment);

// A config value as short as it reads unambiguously: 0.0003 as 3e-4, strings without quotes,
// arrays without the spaces after commas.
std::string short_value(const std::string& toml_value);

// "lr=3e-4, batch_size=128" from the differing keys' last parts (the whole key where two share
// a last part); at most three, then "+N".
std::string label_from_keys(const FlatConfig& config, const std::vector<std::string>& keys);

// The eval metrics logged by any of the group's runs, the headline first, then by name.
std::vector<std::string> group_eval_metrics(const std::vector<Run>& runs, const ExperimentGroup& group);

}  // namespace genbox::report
