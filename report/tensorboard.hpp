// `compare --tensorboard DIR`: runs as TensorBoard logs, one subdirectory per run named by the
// run (DIR/<YYYYmmdd-HHMMSS>-<name>/) holding one events.out.tfevents.<unix time>.<host> file
// (report/tfevents.hpp): every metric of metrics.jsonl as a scalar tagged "<split>/<metric>"
// ("train/loss", "eval/bpd") at its step, and the run's sample grids as images, "samples" at the
// step of their file name (step_NNNNNNN.png) and the extras of sample/inpaint as
// "samples/<file stem>" at the run's last step. Wall times are the run's start (meta.json's
// started) plus each line's time_s.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "report/runs.hpp"

namespace genbox::report {

struct EventFile {
  std::string bytes;                  // the records, in step order after the file-version one
  std::vector<std::string> warnings;  // sample images that could not be read, and so left out
};

EventFile tensorboard_events(const Run& run);

// Writes each run's event file under `dir` (created as needed) atomically, then removes the
// subdirectory's older events.out.tfevents.* files so that a rerun replaces the log rather than
// doubling it; runs with the same name get "-2", "-3"... Returns the files written; a file that
// cannot be written is a DataError naming it.
std::vector<std::filesystem::path> write_tensorboard(const std::vector<Run>& runs, const std::filesystem::path& dir,
                                                     std::vector<std::string>& warnings);

}  // namespace genbox::report
