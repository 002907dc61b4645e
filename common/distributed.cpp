#include "common/distributed.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/nn/module.h>
#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#ifdef GENBOX_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef GENBOX_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>
#include <mutex>
#include <thread>

#include "common/optim.hpp"

namespace genbox {

void describe(Schema& s, DistributedSettings& distributed) {
  s.add_choice("distributed.backend", distributed.backend, {"auto", "nccl", "gloo"},
               "under torchrun: nccl (CUDA) or gloo (CPU); auto picks by device");
  s.add("distributed.timeout_s", distributed.timeout_s, 1, 604800,
        "seconds a collective may wait for the other processes before the run stops");
  s.add("distributed.bucket_mb", distributed.bucket_mb, 1, 4096, "gradient all-reduce bucket size in MiB");
}

namespace {
std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) return std::nullopt;
  return std::string(value);
}

int env_int(const char* name, int fallback, int low, int high) {
  std::optional<std::string> text = env(name);
  if (!text) return fallback;
  try {
    size_t used = 0;
    long value = std::stol(*text, &used);
    if (used == text->size() && value >= low && value <= high) return static_cast<int>(value);
  } catch (const std::exception&) {
  }
  throw ConfigError(fmt::format("environment variable {}={} is not an integer in [{}, {}]", name, *text, low, high));
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// Runs a collective, turning c10d's failures into one clear error that names the lost ranks.
template <typename Fn>
auto collective(const World& world, const char* what, Fn&& fn) {
  try {
    return fn();
  } catch (const c10::Error& e) {
    throw DistributedError(fmt::format("rank {} of {}: {} failed: {} ({})", world.rank(), world.size(), what,
                                       world.lost_ranks(), first_line(e.what_without_backtrace())));
  } catch (const std::exception& e) {
    // Gloo rethrows its transport errors (gloo::IoException) as they are.
    throw DistributedError(fmt::format("rank {} of {}: {} failed: {} ({})", world.rank(), world.size(), what,
                                       world.lost_ranks(), first_line(e.what())));
  }
}

bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }
}  // namespace

std::optional<Launch> launch_from_environment() {
  if (!env("RANK") && !env("WORLD_SIZE")) return std::nullopt;
  Launch l;
  l.world_size = env_int("WORLD_SIZE", 1, 1, 1 << 20);
  l.rank = env_int("RANK", 0, 0, l.world_size - 1);
  l.local_rank = env_int("LOCAL_RANK", 0, 0, 1 << 20);
  l.master_addr = env("MASTER_ADDR").value_or("127.0.0.1");
  l.master_port = env_int("MASTER_PORT", 29500, 1, 65535);
  l.agent_store = env("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
  l.restart_count = env_int("TORCHELASTIC_RESTART_COUNT", 0, 0, 1 << 20);
  return l;
}

World::World(const Launch& launch, const DistributedSettings& settings, c10::Device device)
    : launch_(launch), device_(device), timeout_(std::chrono::seconds(settings.timeout_s)) {
  std::string backend = settings.backend;
  if (backend == "auto") backend = device.is_cuda() ? "nccl" : "gloo";
  if (backend == "nccl" && !device.is_cuda())
    throw ConfigError("distributed.backend = \"nccl\" needs CUDA devices; this process runs on the CPU");
  if (backend == "gloo" && device.is_cuda())
    throw ConfigError("distributed.backend = \"gloo\" with CUDA tensors is not supported here; use nccl");
  if (backend == "gloo" && !gloo_available())
    throw ConfigError(
        "distributed.backend = \"gloo\": this build of genbox has no Gloo (install libgloo-dev, rebuild)");
#ifndef GENBOX_WITH_NCCL
  if (backend == "nccl")
    throw ConfigError(
        "distributed.backend = \"nccl\": this build of genbox has no NCCL (it needs a CUDA build of torch "
        "and the wheel's nvidia-nccl headers)");
#endif
  c10d::TCPStoreOptions options;
  options.port = static_cast<uint16_t>(launch.master_port);
  // torchrun's agent serves the store itself; without it, rank 0 does.
  options.isServer = !launch.agent_store && launch.rank == 0;
  options.numWorkers = launch.world_size;
  options.waitWorkers = false;
  options.timeout = timeout_;
  try {
    auto tcp = c10::make_intrusive<c10d::TCPStore>(launch.master_addr, options);
    store_ = c10::make_intrusive<c10d::PrefixStore>(fmt::format("genbox/{}", launch.restart_count), tcp);
  } catch (const c10::Error& e) {
    throw DistributedError(fmt::format("rank {}: cannot reach the store at {}:{} ({})", launch.rank, launch.master_addr,
                                       launch.master_port, first_line(e.what_without_backtrace())));
  }
  if (backend == "gloo") {
#ifdef GENBOX_WITH_GLOO
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(timeout_);
    // A run on one machine talks over loopback only; otherwise the interface named by
    // GLOO_SOCKET_IFNAME, or the one this host's name resolves to, as torch.distributed does.
    if (std::optional<std::string> interface = env("GLOO_SOCKET_IFNAME"))
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(*interface));
    else if (is_loopback(launch.master_addr))
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    backend_ = collective(*this, "joining the Gloo group", [&] {
      return c10::make_intrusive<c10d::ProcessGroupGloo>(store_, launch.rank, launch.world_size, gloo_options);
    });
#endif
  } else {
#ifdef GENBOX_WITH_NCCL
    auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
    nccl_options->timeout = timeout_;
    backend_ = collective(*this, "joining the NCCL group", [&] {
      return c10::make_intrusive<c10d::ProcessGroupNCCL>(store_, launch.rank, launch.world_size, nccl_options);
    });
#else
    throw ConfigError(
        "distributed.backend = \"nccl\": this build of genbox has no NCCL (see README, \"Several GPUs\")");
#endif
  }
  backend_name_ = backend;
  barrier();
}

World::World() = default;
World::~World() = default;
World::World(World&&) noexcept = default;
World& World::operator=(World&&) noexcept = default;

bool gloo_available() {
#ifdef GENBOX_WITH_GLOO
  return true;
#else
  return false;
#endif
}

World join_world(const DistributedSettings& settings, c10::Device device) {
  std::optional<Launch> launch = launch_from_environment();
  if (!launch) return World();
  return World(*launch, settings, device);
}

c10d::Backend& World::backend() const { return *backend_; }

std::string World::lost_ranks() const {
  const std::string cause =
      fmt::format("died, hung longer than distributed.timeout_s = {}, or lost the network", timeout_.count() / 1000);
  if (!store_) return "another process " + cause;
  // The survivors of a failure announce themselves in the store; whoever has not within a few
  // seconds is named. Short store timeouts: the store itself may be gone.
  try {
    store_->setTimeout(std::chrono::seconds(5));
    store_->set(fmt::format("survivor/{}", rank()), std::vector<uint8_t>{1});
    std::vector<int> missing;
    for (int attempt = 0; attempt < 30; ++attempt) {
      missing.clear();
      for (int r = 0; r < size(); ++r)
        if (!store_->check({fmt::format("survivor/{}", r)})) missing.push_back(r);
      if (missing.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (missing.empty()) return "every rank is alive, so the network or a timeout broke it";
    return fmt::format("rank{} {} {}", missing.size() > 1 ? "s" : "", fmt::join(missing, ", "), cause);
  } catch (const c10::Error&) {
    return fmt::format("the store at {}:{} is gone too: the process serving it (rank 0 or torchrun) {}",
                       launch_.master_addr, launch_.master_port, cause);
  }
}

torch::Tensor World::shard(const torch::Tensor& global) const {
  if (!distributed()) return global;
  const int64_t n = global.size(0);
  const int64_t begin = n * rank() / size(), end = n * (rank() + 1) / size();
  return global.narrow(0, begin, end - begin);
}

int64_t World::local_batch(int64_t global_batch, const std::string& key) const {
  if (global_batch % size() != 0)
    throw ConfigError(
        fmt::format("{} = {} is the global batch and must divide by the world size {}", key, global_batch, size()));
  return global_batch / size();
}

std::vector<double> World::sum(const std::vector<double>& values) {
  if (!distributed() || values.empty()) return values;
  torch::Tensor t = torch::tensor(values, torch::kFloat64).to(device_);
  std::vector<torch::Tensor> tensors = {t};
  collective(*this, "all-reduce", [&] { backend_->allreduce(tensors)->wait(); });
  torch::Tensor host = tensors[0].cpu();
  return std::vector<double>(host.data_ptr<double>(), host.data_ptr<double>() + host.numel());
}

namespace {
void all_reduce_in_place(World& world, torch::Tensor& t) {
  std::vector<torch::Tensor> one = {t};
  collective(world, "all-reduce", [&] { world.backend().allreduce(one)->wait(); });
}

struct SumOverRanks : torch::autograd::Function<SumOverRanks> {
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& local, World* world) {
    context->saved_data["world"] = reinterpret_cast<int64_t>(world);
    torch::Tensor total = local.detach().contiguous().clone();
    all_reduce_in_place(*world, total);
    return total;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list gradients) {
    auto* world = reinterpret_cast<World*>(context->saved_data["world"].toInt());
    torch::Tensor total = gradients[0].contiguous().clone();
    all_reduce_in_place(*world, total);
    return {total, torch::Tensor()};
  }
};
}  // namespace

torch::Tensor World::sum_with_gradient(const torch::Tensor& local) {
  if (!distributed()) return local.clone();
  return SumOverRanks::apply(local, this);
}

void World::broadcast(std::vector<torch::Tensor> tensors) {
  if (!distributed() || tensors.empty()) return;
  collective(*this, "broadcast", [&] {
    for (torch::Tensor& t : tensors) {
      // Collectives need dense contiguous tensors; parameters are, but a view might not be.
      torch::Tensor buffer = t.is_contiguous() ? t : t.contiguous();
      std::vector<torch::Tensor> one = {buffer};
      backend_->broadcast(one)->wait();
      if (!buffer.is_same(t)) t.copy_(buffer);
    }
  });
}

std::string World::broadcast_bytes(const std::string& bytes) {
  if (!distributed()) return bytes;
  std::vector<double> size = {is_main() ? double(bytes.size()) : 0.0};
  size = sum(size);
  torch::Tensor buffer = torch::empty({static_cast<int64_t>(size[0])}, torch::kUInt8);
  if (is_main()) std::memcpy(buffer.data_ptr(), bytes.data(), bytes.size());
  buffer = buffer.to(device_);
  broadcast({buffer});
  buffer = buffer.cpu();
  return std::string(static_cast<const char*>(buffer.data_ptr()), static_cast<size_t>(buffer.numel()));
}

std::vector<std::string> World::gather_strings(const std::string& value) {
  if (!distributed()) return {value};
  const std::string prefix = fmt::format("gather/{}/", gathers_++);
  std::vector<std::string> out;
  collective(*this, "exchange through the store", [&] {
    store_->set(prefix + std::to_string(rank()), std::vector<uint8_t>(value.begin(), value.end()));
    for (int r = 0; r < size(); ++r) {
      std::vector<uint8_t> got = store_->get(prefix + std::to_string(r));
      out.emplace_back(got.begin(), got.end());
    }
  });
  return out;
}

void World::barrier() {
  if (!distributed()) return;
  collective(*this, "barrier", [&] {
    // A barrier as an all-reduce of one number: it works the same on every backend and device.
    std::vector<torch::Tensor> one = {torch::zeros({1}, torch::TensorOptions().device(device_))};
    backend_->allreduce(one)->wait();
  });
}

void World::broadcast_module(const torch::nn::Module& model) {
  if (!distributed()) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors;
  for (auto& [name, tensor] : named_state(model)) tensors.push_back(tensor.detach());
  broadcast(tensors);
}

// ----------------------------------------------------------------------------------------------

struct GradientAverager::State {
  World* world;
  std::vector<torch::Tensor> parameters;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;  // kept alive: hooks live on them
  std::vector<std::pair<std::shared_ptr<torch::autograd::Node>, uintptr_t>> hooks;
  std::vector<std::vector<size_t>> buckets;  // parameter indices
  std::vector<size_t> bucket_of;
  std::vector<size_t> pending;  // gradients still missing, per bucket
  std::vector<torch::Tensor> buffers;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  size_t next_to_start = 0;
  bool accumulate_only = false;
  std::mutex mutex;

  void start_ready_buckets() {
    while (next_to_start < buckets.size() && pending[next_to_start] == 0) start(next_to_start++);
  }

  void start(size_t b) {
    std::vector<torch::Tensor> flat;
    for (size_t i : buckets[b]) {
      const torch::Tensor& p = parameters[i];
      flat.push_back(p.grad().defined() ? p.grad().detach().reshape(-1) : torch::zeros({p.numel()}, p.options()));
    }
    torch::NoGradGuard no_grad;
    buffers[b] = torch::cat(flat);
    std::vector<torch::Tensor> one = {buffers[b]};
    works[b] = collective(*world, "gradient all-reduce", [&] { return world->backend().allreduce(one); });
  }
};

GradientAverager::GradientAverager(World& world, const std::vector<torch::Tensor>& parameters, int64_t bucket_bytes)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.world = &world;
  if (!world.distributed()) return;
  for (const torch::Tensor& p : parameters)
    if (p.requires_grad()) s.parameters.push_back(p);
  // Buckets of one dtype each, filled in reverse registration order.
  s.bucket_of.resize(s.parameters.size());
  int64_t filled = 0;
  for (size_t k = s.parameters.size(); k-- > 0;) {
    const torch::Tensor& p = s.parameters[k];
    int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
    bool fresh = s.buckets.empty() || filled + bytes > bucket_bytes ||
                 s.parameters[s.buckets.back().front()].scalar_type() != p.scalar_type();
    if (fresh) {
      s.buckets.emplace_back();
      filled = 0;
    }
    s.buckets.back().push_back(k);
    s.bucket_of[k] = s.buckets.size() - 1;
    filled += bytes;
  }
  s.pending.resize(s.buckets.size());
  s.buffers.resize(s.buckets.size());
  s.works.resize(s.buckets.size());
  for (size_t b = 0; b < s.buckets.size(); ++b) s.pending[b] = s.buckets[b].size();

  for (size_t k = 0; k < s.parameters.size(); ++k) {
    std::shared_ptr<torch::autograd::Node> accumulator = torch::autograd::impl::grad_accumulator(s.parameters[k]);
    State* state = &s;
    uintptr_t key = accumulator->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
        [state, k](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
          std::lock_guard<std::mutex> lock(state->mutex);
          if (state->accumulate_only) return outputs;
          size_t b = state->bucket_of[k];
          if (state->pending[b] > 0 && --state->pending[b] == 0) state->start_ready_buckets();
          return outputs;
        }));
    s.accumulators.push_back(accumulator);
    s.hooks.emplace_back(accumulator, key);
  }
}

GradientAverager::~GradientAverager() {
  if (!state_) return;
  for (auto& [node, key] : state_->hooks) node->del_post_hook(key);
}

void GradientAverager::accumulate_only(bool on) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->accumulate_only = on;
}

void GradientAverager::finish() {
  State& s = *state_;
  if (!s.world->distributed()) return;
  std::lock_guard<std::mutex> lock(s.mutex);
  // Buckets holding a parameter that got no gradient on this rank start now, still in order.
  for (size_t& p : s.pending) p = 0;
  s.start_ready_buckets();
  torch::NoGradGuard no_grad;
  const double scale = 1.0 / double(s.world->size());
  for (size_t b = 0; b < s.buckets.size(); ++b) {
    collective(*s.world, "gradient all-reduce", [&] { s.works[b]->wait(); });
    torch::Tensor averaged = s.buffers[b].mul_(scale);
    int64_t offset = 0;
    for (size_t i : s.buckets[b]) {
      torch::Tensor& p = s.parameters[i];
      torch::Tensor slice = averaged.narrow(0, offset, p.numel()).view(p.sizes());
      if (p.grad().defined())
        p.mutable_grad().copy_(slice);
      else
        p.mutable_grad() = slice.clone();
      offset += p.numel();
    }
    s.works[b].reset();
    s.buffers[b] = torch::Tensor();
    s.pending[b] = s.buckets[b].size();
  }
  s.next_to_start = 0;
}

}  // namespace genbox
