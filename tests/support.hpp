// Helpers shared by the tests: scratch directories and running the experiment binaries.
#pragma once

#include <sys/wait.h>

#include <ATen/core/ivalue.h>
#include <torch/nn/module.h>
#include <torch/types.h>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "vae/autoencoder_kl.hpp"

namespace genbox::testing {

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "genbox-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code;
  std::string output;  // stdout and stderr together
};

// Runs a shell command line, capturing its output and exit code.
inline CommandResult run_command(const std::string& command) {
  std::FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  std::string output;
  std::array<char, 4096> buffer{};
  size_t got;
  while ((got = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), got);
  int status = pclose(pipe);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return {code, output};
}

// Where the build put the programs, and the source tree: defined in support.cpp alone, so that
// these absolute paths do not keep ccache from sharing the other test objects across clones.
std::string binary(const std::string& name);
std::filesystem::path source_dir();
// torchrun from the venv of the torch genbox was built with; empty when there is none.
std::string torchrun();
// Whether tests can run CPU processes under torchrun: there is a torchrun and the build has Gloo.
bool can_launch_cpu_processes();

// The Python of the venv whose torch genbox was built with, when it can import torch and scipy
// (scripts/setup installs both): it runs the PyTorch reference in bench/. Empty otherwise.
std::string reference_python();

// A case for the PyTorch reference (bench/oracle.py): the experiment, config keys that differ
// from the defaults, the model's state by genbox's names, and the inputs. run_reference returns
// the reference's outputs and gradients ("grad.<parameter>") by name; it fails the test with
// the reference's message when Python fails.
struct OracleCase {
  std::string experiment;
  std::map<std::string, c10::IValue> options;
  std::map<std::string, torch::Tensor> state, inputs;
};
std::map<std::string, torch::Tensor> run_reference(const OracleCase& oracle_case);
// A module's parameters then buffers, detached, by name: what an OracleCase's state holds.
std::map<std::string, torch::Tensor> state_of(const torch::nn::Module& module);

// 40 train and 20 test 8x8 IDX items of 4 classes under root: class k is a bright k-th quarter
// on a dim square. Small enough for end-to-end runs of every experiment.
void write_tiny_item_set(const std::filesystem::path& root);
// A tiny CIFAR-10 in its binary layout under root: 8 images in each of data_batch_1..5.bin and
// 16 in test_batch.bin, 32 x 32 x 3, class k (of 4) a bright left-hand block in channel k % 3, so
// that a flip changes every image.
void write_tiny_cifar10(const std::filesystem::path& root);

// FID's Inception with its own random initialisation as a safetensors weights file, by
// torchvision's names (batch-norm counters left out); `edit` may change the list first.
void write_random_inception(const std::filesystem::path& path,
                            const std::function<void(std::vector<std::pair<std::string, torch::Tensor>>&)>& edit = {});

// The single run directory under out/<experiment>/.
std::filesystem::path only_run(const std::filesystem::path& out, const std::string& experiment);

// The lines of a run's metrics.jsonl of one split, as JSON objects.
std::vector<nlohmann::json> metrics_of(const std::filesystem::path& run, const std::string& split);

// Every tensor under "model/" and "ema/" in a checkpoint file, by key.
std::map<std::string, torch::Tensor> checkpoint_tensors(const std::filesystem::path& path);
// The step a checkpoint file was saved at.
int64_t checkpoint_step(const std::filesystem::path& path);
// The largest absolute difference between the model weights ("model/", floating) of two
// checkpoints, and the largest weight magnitude of the first.
std::pair<double, double> model_weight_difference(const std::filesystem::path& a, const std::filesystem::path& b);
// max |a - b| / max |b|, in float64: whole outputs compared, so that near-zero entries do not dominate.
double relative_error(const torch::Tensor& a, const torch::Tensor& b);

// A record of a checkpoint's zip archive as LibTorch's own reader (miniz) finds it: its name
// without the archive's folder ("data/3", "data.pkl") and where its bytes lie in the file.
struct CheckpointRecord {
  std::string name;
  uint64_t offset = 0, size = 0;
};
std::vector<CheckpointRecord> checkpoint_records(const std::filesystem::path& path);
// Every tensor a checkpoint holds, nested archives included, by key path ("model/weight",
// "optimizer/...", "rng/0").
std::map<std::string, torch::Tensor> all_checkpoint_tensors(const std::filesystem::path& path);
// The record whose bytes are exactly the tensor's (the first, should two hold the same bytes).
CheckpointRecord record_holding(const std::filesystem::path& path, const torch::Tensor& tensor);
// The record named `name` ("data.pkl").
CheckpointRecord record_named(const std::filesystem::path& path, const std::string& name);
// Flips the bits of one byte of the file, `at` bytes into `record`.
void flip_in_record(const std::filesystem::path& path, const CheckpointRecord& record, uint64_t at = 0);

// Starts a shell command line in the background, the program taking the shell's process (so the
// pid returned is the program's: signals reach it). Leading VAR=value assignments are allowed.
pid_t spawn(const std::string& command);

// The run directory under `dir` (<out_dir>/<experiment>) once its metrics.jsonl holds more than
// `train_lines` train lines: training is under way. Empty after 60 s.
std::filesystem::path wait_for_training(const std::filesystem::path& dir, size_t train_lines);

// A TCP port on 127.0.0.1 that was free a moment ago (asked of the OS, never a fixed number).
int free_port();

// The message of the DataError `action` throws, or "" when it throws none.
std::string data_error_of(const std::function<void()>& action);

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A small VAE (`channels` -> 4 latent channels, blocks of 8 and 16, 2 pixels per latent, SD3's
// scaling and shift) with weights drawn N(0, weight_std^2) after seeding `seed`, in eval mode.
vae::AutoencoderKL small_random_vae(int64_t channels, double weight_std, uint64_t seed);

}  // namespace genbox::testing
