#include "report/runs_group.hpp"

#include <fmt/format.h>

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

}  // namespace

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
    if (group == groups.end()) group = groups.insert(groups.end(), ExperimentGroup{runs[i].meta.experiment});
    group->runs.push_back(i);
  }
  for (ExperimentGroup& group : groups) {
    std::vector<const FlatConfig*> configs;
    for (std::size_t i : group.runs) configs.push_back(&runs[i].config);
    for (std::string& key : differing_keys(configs))
      if (!names_the_run(key)) group.differing_keys.push_back(std::move(key));
    std::map<std::string, std::optional<std::string>> usual;
    for (const std::string& key : group.differing_keys) usual[key] = usual_value(runs, group, key);
    for (std::size_t i : group.runs) {
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
