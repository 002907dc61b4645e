// The hand-written run directories under tests/fixtures/runs/, one per situation compare meets.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "report/runs.hpp"

namespace genbox::report::fixtures {

inline const char* const kFinished = "nice/20240101-120000-base";
inline const char* const kInProgress = "nice/20240102-090000-lr3e-4";  // torn last line
inline const char* const kResumed = "nice/20240103-080000-resumed";    // repeated steps
inline const char* const kFailed = "nice/20240104-070000-diverged";    // null loss at the end
inline const char* const kNoMetrics = "nice/20240106-050000-fresh";
inline const char* const kOtherExperiment = "rf_dit/20240105-060000-dit-s";  // eval.json with a sweep
inline const char* const kDetection = "detr/20240107-040000-detr-s";         // AP per category
inline const char* const kNotARun = "not_a_run";

inline std::filesystem::path path(const std::string& relative) {
  return std::filesystem::path(GENBOX_FIXTURES_DIR) / "runs" / relative;
}

inline std::vector<Run> load(const std::vector<const char*>& names) {
  std::vector<Run> runs;
  for (const char* name : names) runs.push_back(load_run(path(name)));
  return runs;
}

}  // namespace genbox::report::fixtures
