#include "report/runs_group.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "report/summary.hpp"

namespace genbox::report {
namespace {

constexpr std::size_t kLabelKeys = 3;

bool names_the_run(const std::string& key) { return key == "run.name" || key == "run.out_dir"; }

std::string last_part(const std::string& key) {
  std::size_t dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

// A distinct label per run: runs that differ only in keys left out of the label (or in nothing)
// get their run name added.
void make_unique(std::vector<std::string>& labels, const std::vector<Run>& runs, const ExperimentGroup& group) {
  std::map<std::string, std::size_t> uses;
  for (const std::string& label : labels) ++uses[label];
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (uses[labels[i]] < 2 && !labels[i].empty()) continue;
    const Run& run = runs[group.runs[i]];
    std::string name = run.meta.run_name.empty() ? run.label : run.meta.run_name;
    labels[i] = labels[i].empty() ? name : labels[i] + " \u00b7 " + name;
  }
  // Runs with the same name as well (two "default" runs): the directory, which is unique.
  uses.clear();
  for (const std::string& label : labels) ++uses[label];
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (uses[labels[i]] > 1) labels[i] = runs[group.runs[i]].label;
}

// The value most of the group's runs have for `key`, when one is more common than every other:
// a run that has it needs no mention of the key in its label. Two runs that differ both get it.
std::optional<std::string> usual_value(const std::vector<Run>& runs, const ExperimentGroup& group,
                                       const std::string& key) {
  std::map<std::string, std::size_t> counts;
  for (std::size_t i : group.runs) {
    auto found = runs[i].config.find(key);
    ++counts[found == runs[i].config.end() ? std::string("\0missing", 8) : found->second];
  }
  std::optional<std::string> usual;
  std::size_t most = 0, ties = 0;
  for (const auto& [value, count] : counts) {
    if (count > most) {
      usual = value;
      most = count;
      ties = 0;
    } else if (count == most) {
      ++ties;
    }
  }
  return ties == 0 ? usual : std::nullopt;
}

// Moves each sweep's runs to where its first run stands, in index order; other runs keep their
// places. A sweep read apart from its grid order hides which point is which.
void keep_sweeps_together(const std::vector<Run>& runs, std::vector<std::size_t>& members) {
  auto sweep_index = [&](std::size_t i) { return runs[i].meta.sweep->index; };
  std::vector<std::size_t> ordered;
  std::set<std::string> placed;
  for (std::size_t i : members) {
    const std::optional<SweepMeta>& sweep = runs[i].meta.sweep;
    if (!sweep) {
      ordered.push_back(i);
      continue;
    }
    if (!placed.insert(sweep->id).second) continue;
    auto start = static_cast<std::ptrdiff_t>(ordered.size());
    for (std::size_t j : members)
      if (runs[j].meta.sweep && runs[j].meta.sweep->id == sweep->id) ordered.push_back(j);
    std::stable_sort(ordered.begin() + start, ordered.end(),
                     [&](std::size_t a, std::size_t b) { return sweep_index(a) < sweep_index(b); });
  }
  members = std::move(ordered);
}

// The sweeps of a group whose runs keep_sweeps_together() has ordered. Runs of one sweep agree on
// its size and keys; should they not, the first run's are taken.
std::vector<GroupSweep> sweeps_of(const std::vector<Run>& runs, const std::vector<std::size_t>& members) {
  std::vector<GroupSweep> sweeps;
  for (std::size_t i : members) {
    const std::optional<SweepMeta>& sweep = runs[i].meta.sweep;
    if (!sweep) continue;
    if (sweeps.empty() || sweeps.back().id != sweep->id) sweeps.push_back({sweep->id, sweep->size, sweep->keys, {}});
    std::vector<std::size_t>& present = sweeps.back().present;
    if (present.empty() || present.back() != sweep->index) present.push_back(sweep->index);
  }
  return sweeps;
}

// Every sweep's keys once, in the order the sweeps name them.
std::vector<std::string> keys_of(const std::vector<GroupSweep>& sweeps) {
  std::vector<std::string> keys;
  for (const GroupSweep& sweep : sweeps)
    for (const std::string& key : sweep.keys)
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  return keys;
}

// "2, 5-7": the indices in [1, size] that are not in `present` (increasing), as ranges, so a
// large grid missing a stretch says so in a few characters.
std::string missing_indices(const std::vector<std::size_t>& present, std::size_t size) {
  std::string out;
  std::size_t next = 1;                  // the first index not yet accounted for
  auto add_gap = [&](std::size_t end) {  // indices [next, end) are missing
    if (next >= end) return;
    out +=
        (out.empty() ? "" : ", ") + (end - next == 1 ? fmt::format("{}", next) : fmt::format("{}-{}", next, end - 1));
  };
  for (std::size_t index : present) {
    add_gap(index);
    next = index + 1;
  }
  add_gap(size + 1);
  return out;
}

}  // namespace

std::string describe_sweep(const GroupSweep& sweep) {
  std::string missing = missing_indices(sweep.present, sweep.size);
  return fmt::format("sweep {}: {} run{} over {} ({} of {} present{})", sweep.id, sweep.size,
                     sweep.size == 1 ? "" : "s", fmt::join(sweep.keys, " \u00d7 "), sweep.present.size(), sweep.size,
                     missing.empty() ? "" : ", missing " + missing);
}

std::string best_checkpoint_metric(const std::string& experiment) {
  static const std::map<std::string, std::string> metrics = {{"nice", "bpd"}, {"rf_dit", "val_loss"}, {"detr", "ap"}};
  auto found = metrics.find(experiment);
  return found == metrics.end() ? std::string() : found->second;
}

std::string short_value(const std::string& toml_value) {
  if (toml_value.size() >= 2 && toml_value.front() == '"' && toml_value.back() == '"')
    return toml_value.substr(1, toml_value.size() - 2);
  if (!toml_value.empty() && toml_value.front() == '[') {
    std::string compact;
    for (std::size_t i = 0; i < toml_value.size(); ++i)
      if (!(toml_value[i] == ' ' && i > 0 && toml_value[i - 1] == ',')) compact += toml_value[i];
    return compact;
  }
  std::size_t used = 0;
  double number = 0;
  try {
    number = std::stod(toml_value, &used);
  } catch (const std::exception&) {
    return toml_value;
  }
  if (used != toml_value.size() || !std::isfinite(number) || number == 0) return toml_value;
  // Scientific notation when it is shorter: 3e-4, 1e+06 reads worse than 1000000 only past 1e6.
  std::string scientific = fmt::format("{:.4g}", number);
  if (double magnitude = std::fabs(number); magnitude < 1e-2) {
    int exponent = static_cast<int>(std::floor(std::log10(magnitude)));
    scientific = fmt::format("{:g}e{}", number / std::pow(10.0, exponent), exponent);
  }
  return scientific.size() < toml_value.size() ? scientific : toml_value;
}

std::string label_from_keys(const FlatConfig& config, const std::vector<std::string>& keys) {
  std::map<std::string, std::size_t> last_parts;
  for (const std::string& key : keys) ++last_parts[last_part(key)];
  std::string label;
  std::size_t shown = 0;
  for (const std::string& key : keys) {
    if (shown == kLabelKeys) {
      label += fmt::format(" +{}", keys.size() - kLabelKeys);
      break;
    }
    auto found = config.find(key);
    std::string name = last_parts[last_part(key)] > 1 ? key : last_part(key);
    label += fmt::format("{}{}={}", shown ? ", " : "", name,
                         found == config.end() ? std::string("-") : short_value(found->second));
    ++shown;
  }
  return label;
}

std::vector<ExperimentGroup> group_by_experiment(const std::vector<Run>& runs) {
  std::vector<ExperimentGroup> groups;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    auto group = std::find_if(groups.begin(), groups.end(),
                              [&](const ExperimentGroup& g) { return g.experiment == runs[i].meta.experiment; });
    if (group == groups.end()) {
      group = groups.insert(groups.end(), ExperimentGroup{});
      group->experiment = runs[i].meta.experiment;
    }
    group->runs.push_back(i);
  }
  for (ExperimentGroup& group : groups) {
    keep_sweeps_together(runs, group.runs);
    group.sweeps = sweeps_of(runs, group.runs);
    group.sweep_keys = keys_of(group.sweeps);
    std::vector<const FlatConfig*> configs;
    for (std::size_t i : group.runs) configs.push_back(&runs[i].config);
    for (std::string& key : differing_keys(configs))
      if (!names_the_run(key)) group.differing_keys.push_back(std::move(key));
    std::map<std::string, std::optional<std::string>> usual;
    for (const std::string& key : group.differing_keys) usual[key] = usual_value(runs, group, key);
    for (std::size_t i : group.runs) {
      // A sweep's run is the point of its grid: its swept keys' values say which.
      if (const std::optional<SweepMeta>& sweep = runs[i].meta.sweep) {
        group.labels.push_back(label_from_keys(runs[i].config, sweep->keys));
        continue;
      }
      std::vector<std::string> unusual;
      for (const std::string& key : group.differing_keys) {
        auto found = runs[i].config.find(key);
        if (!usual[key] || found == runs[i].config.end() || found->second != *usual[key]) unusual.push_back(key);
      }
      group.labels.push_back(label_from_keys(runs[i].config, unusual));
    }
    make_unique(group.labels, runs, group);

    std::vector<std::string> metrics = group_eval_metrics(runs, group);
    std::string preferred = best_checkpoint_metric(group.experiment);
    if (std::find(metrics.begin(), metrics.end(), preferred) != metrics.end())
      group.headline_metric = preferred;
    else if (!metrics.empty())
      group.headline_metric = metrics.front();
  }
  return groups;
}

std::vector<std::string> group_eval_metrics(const std::vector<Run>& runs, const ExperimentGroup& group) {
  std::set<std::string> names;
  for (std::size_t i : group.runs)
    if (auto rows = runs[i].metrics.splits.find(kEvalSplit); rows != runs[i].metrics.splits.end())
      for (const auto& entry : rows->second.values) names.insert(entry.first);
  std::vector<std::string> ordered(names.begin(), names.end());
  std::stable_partition(ordered.begin(), ordered.end(),
                        [&](const std::string& name) { return name == group.headline_metric; });
  return ordered;
}

}  // namespace genbox::report
