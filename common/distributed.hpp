// Data-parallel training over torch.distributed's c10d, from C++ (docs/DESIGN.md, "Training with
// several processes"). torchrun starts one process per GPU or CPU slice and sets RANK,
// WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; each process joins the World through a
// c10d TCPStore and a Gloo (CPU) or NCCL (CUDA) process group. Without those variables the World
// is this process alone and no collective is ever called.
//
// Every rank draws the same global batch from the same seeded permutation and keeps its own
// contiguous slice (shard), so results do not depend on how many processes share the batch, up
// to the order of floating-point sums.
#pragma once

#include <c10/core/Device.h>
#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/config.hpp"

namespace c10d {
class Backend;
class Store;
}  // namespace c10d

namespace torch::nn {
class Module;
}

namespace genbox {

struct DistributedSettings {
  std::string backend = "auto";  // auto: nccl on CUDA, gloo on CPU
  int64_t timeout_s = 1800;      // a collective waiting longer than this fails
  int64_t bucket_mb = 25;        // gradients are all-reduced in buckets of about this size
};

void describe(Schema& schema, DistributedSettings& distributed);

// A collective failed: another process died, hung past the timeout, or the network broke.
struct DistributedError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What torchrun told this process, read from its environment.
struct Launch {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr;
  int master_port = 0;
  bool agent_store = false;  // torchrun's agent already serves the TCPStore: connect as a client
  int restart_count = 0;
};

// The launch described by the environment, or nothing when RANK and WORLD_SIZE are unset.
// Malformed values are a ConfigError naming the variable.
std::optional<Launch> launch_from_environment();

class World {
 public:
  // This process alone.
  World();
  // Joins the processes of `launch` on `device` (cuda:LOCAL_RANK or the CPU).
  World(const Launch& launch, const DistributedSettings& settings, c10::Device device);
  ~World();
  World(World&&) noexcept;
  World& operator=(World&&) noexcept;

  int rank() const { return launch_.rank; }
  int size() const { return launch_.world_size; }
  bool distributed() const { return launch_.world_size > 1 || backend_ != nullptr; }
  // Rank 0 writes the run directory, metrics, samples and checkpoints.
  bool is_main() const { return launch_.rank == 0; }
  const std::string& backend_name() const { return backend_name_; }

  // Rows [rank * n / size, (rank + 1) * n / size) of a global batch along dimension 0.
  torch::Tensor shard(const torch::Tensor& global) const;
  // The examples of this rank out of a global batch of `global_batch`; a ConfigError naming
  // `key` when it does not divide by the world size.
  int64_t local_batch(int64_t global_batch, const std::string& key) const;

  // Sums of host values over all ranks, in one collective (a copy of `values` when alone).
  std::vector<double> sum(const std::vector<double>& values);
  // The sum over ranks of a tensor, differentiable: its gradient is the sum over ranks of the
  // incoming gradients (the adjoint of a sum whose result every rank uses). What synchronized
  // batch statistics need. Rank-local (a copy) when alone.
  torch::Tensor sum_with_gradient(const torch::Tensor& local);
  // Rank 0's tensors, written into everyone's, in place.
  void broadcast(std::vector<torch::Tensor> tensors);
  // Rank 0's bytes, on every rank.
  std::string broadcast_bytes(const std::string& bytes);
  // Every rank's string, in rank order (through the store), on every rank.
  std::vector<std::string> gather_strings(const std::string& value);
  void barrier();

  // Sets every parameter and buffer of `model` to rank 0's values.
  void broadcast_module(const torch::nn::Module& model);

  c10d::Backend& backend() const;
  // After a failed collective: which ranks are gone, found through the store, as a phrase.
  std::string lost_ranks() const;
  c10::Device device() const { return device_; }
  std::chrono::milliseconds timeout() const { return timeout_; }

 private:
  Launch launch_;
  c10::Device device_ = c10::Device(c10::kCPU);
  std::string backend_name_ = "none";
  std::chrono::milliseconds timeout_{0};
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::Backend> backend_;
  int64_t gathers_ = 0;
};

// Whether this build can join CPU processes (it found the gloo headers).
bool gloo_available();

// The World of this process: joined when launched by torchrun, alone otherwise.
World join_world(const DistributedSettings& settings, c10::Device device);

// Averages gradients over the World during the backward pass, as DDP does: parameters are
// grouped into buckets in reverse registration order (about the order backward produces their
// gradients); when every gradient of a bucket has been accumulated, the bucket is flattened and
// its all-reduce starts while backward goes on. Buckets start in index order on every rank, so
// the collectives match. finish() waits for them and writes the averages back.
class GradientAverager {
 public:
  GradientAverager(World& world, const std::vector<torch::Tensor>& parameters, int64_t bucket_bytes);
  ~GradientAverager();
  GradientAverager(const GradientAverager&) = delete;
  GradientAverager& operator=(const GradientAverager&) = delete;

  // While on, backward passes only accumulate gradients and start no all-reduce (DDP's no_sync):
  // for gradient accumulation's micro-batches before the last. finish() reduces whatever has
  // accumulated by then either way.
  void accumulate_only(bool on);
  // After backward: every parameter's .grad holds the mean over ranks (a parameter without a
  // gradient on some rank counts as zero there).
  void finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace genbox
