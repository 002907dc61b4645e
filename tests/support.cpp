#include "tests/support.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <caffe2/serialize/inline_container.h>
#include <torch/serialize.h>

#include <cstring>
#include <stdexcept>

#include "base/errors.hpp"
#include "common/data/cifar.hpp"
#include "common/data/idx.hpp"
#include "common/distributed.hpp"
#include "common/safetensors.hpp"
#include "metrics/inception.hpp"

namespace genbox::testing {

std::string binary(const std::string& name) { return std::string(GENBOX_BIN_DIR) + "/" + name; }

std::filesystem::path source_dir() { return GENBOX_SOURCE_DIR; }

std::string torchrun() { return GENBOX_TORCHRUN; }

std::string reference_python() {
  static const std::string python = [] {
    std::string candidate = GENBOX_PYTHON;
    if (candidate.empty()) return std::string();
    return run_command(candidate + " -c 'import torch, scipy'").exit_code == 0 ? candidate : std::string();
  }();
  return python;
}

void write_random_inception(const std::filesystem::path& path,
                            const std::function<void(std::vector<std::pair<std::string, torch::Tensor>>&)>& edit) {
  torch::manual_seed(3);
  metrics::FidInception network;
  NamedTensors tensors;
  for (const auto& item : network->named_parameters()) {
    torch::Tensor value = item.value().detach();
    // He's scale for the convolutions (a ReLU after each): features neither vanish nor explode
    // through the 94 layers, so that distances between image sets are not all zero.
    if (value.dim() == 4) value = torch::randn(value.sizes()) * std::sqrt(2.0 / double(value[0].numel()));
    tensors.emplace_back(item.key(), value);
  }
  for (const auto& item : network->named_buffers())
    if (item.key().find("num_batches_tracked") == std::string::npos)
      tensors.emplace_back(item.key(), item.value().detach());
  if (edit) edit(tensors);
  write_safetensors(path, {tensors, {}});
}

std::map<std::string, torch::Tensor> state_of(const torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> state;
  for (const auto& item : module.named_parameters()) state[item.key()] = item.value().detach().clone();
  for (const auto& item : module.named_buffers()) state[item.key()] = item.value().detach().clone();
  return state;
}

std::map<std::string, torch::Tensor> run_reference(const OracleCase& oracle_case) {
  auto tensors = [](const std::map<std::string, torch::Tensor>& named) {
    c10::Dict<std::string, torch::Tensor> dict;
    for (const auto& [name, tensor] : named) dict.insert(name, tensor.detach().contiguous());
    return dict;
  };
  c10::impl::GenericDict options(c10::StringType::get(), c10::AnyType::get());
  for (const auto& [key, value] : oracle_case.options) options.insert(key, value);
  c10::impl::GenericDict everything(c10::StringType::get(), c10::AnyType::get());
  everything.insert("experiment", oracle_case.experiment);
  everything.insert("options", options);
  everything.insert("state", tensors(oracle_case.state));
  everything.insert("inputs", tensors(oracle_case.inputs));

  TempDir dir;
  std::vector<char> bytes = torch::pickle_save(everything);
  std::ofstream(dir / "case.pt", std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  CommandResult result = run_command(reference_python() + " " + (source_dir() / "bench" / "oracle.py").string() + " " +
                                     (dir / "case.pt").string() + " " + (dir / "out.pt").string());
  if (result.exit_code != 0) throw std::runtime_error("bench/oracle.py failed:\n" + result.output);
  std::ifstream in(dir / "out.pt", std::ios::binary);
  std::vector<char> out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::map<std::string, torch::Tensor> outputs;
  for (const auto& entry : torch::pickle_load(out).toGenericDict())
    outputs[entry.key().toStringRef()] = entry.value().toTensor();
  return outputs;
}

bool can_launch_cpu_processes() { return !torchrun().empty() && gloo_available(); }

void write_tiny_item_set(const std::filesystem::path& root) {
  for (auto [split, n] : {std::pair<std::string, int64_t>{"train", 40}, {"t10k", 20}}) {
    IdxArray images, labels;
    images.dims = {n, 8, 8};
    labels.dims = {n};
    for (int64_t i = 0; i < n; ++i) {
      int64_t k = i % 4;
      labels.data.push_back(static_cast<uint8_t>(k));
      for (int64_t r = 0; r < 8; ++r)
        for (int64_t c = 0; c < 8; ++c)
          images.data.push_back((r / 4) * 2 + (c / 4) == k ? static_cast<uint8_t>(200 + i % 50) : 10);
    }
    write_idx((root / (split + "-images-idx3-ubyte")).string(), images);
    write_idx((root / (split + "-labels-idx1-ubyte")).string(), labels);
  }
}

void write_tiny_cifar10(const std::filesystem::path& root) {
  std::filesystem::create_directories(root);
  auto images = [](int64_t n, int64_t offset) {
    ImageDataset set;
    set.images = torch::full({n, 3, 32, 32}, 20, torch::kUInt8);
    set.labels = torch::arange(offset, offset + n, torch::kInt64).remainder(4);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t k = set.labels[i].item<int64_t>();
      set.images[i][k % 3].narrow(0, 4 * k, 8).narrow(1, 0, 12).fill_(180 + (offset + i) % 60);
    }
    return set;
  };
  for (int b = 1; b <= 5; ++b)
    write_cifar((root / ("data_batch_" + std::to_string(b) + ".bin")).string(), {"cifar10"}, images(8, 8 * (b - 1)));
  write_cifar((root / "test_batch.bin").string(), {"cifar10"}, images(16, 100));
}

std::filesystem::path only_run(const std::filesystem::path& out, const std::string& experiment) {
  std::vector<std::filesystem::path> runs;
  if (std::filesystem::exists(out / experiment))
    for (const auto& e : std::filesystem::directory_iterator(out / experiment)) runs.push_back(e.path());
  if (runs.size() != 1) throw std::runtime_error("expected one run under " + (out / experiment).string());
  return runs[0];
}

std::vector<nlohmann::json> metrics_of(const std::filesystem::path& run, const std::string& split) {
  std::istringstream lines(read_text(run / "metrics.jsonl"));
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(lines, line);) {
    auto row = nlohmann::json::parse(line);
    if (row["split"] == split) out.push_back(row);
  }
  return out;
}

std::map<std::string, torch::Tensor> checkpoint_tensors(const std::filesystem::path& path) {
  torch::serialize::InputArchive archive;
  archive.load_from(path.string());
  std::map<std::string, torch::Tensor> out;
  for (const std::string& key : archive.keys()) {
    torch::Tensor value;
    if ((key.rfind("model/", 0) == 0 || key.rfind("ema/", 0) == 0) && archive.try_read(key, value)) out[key] = value;
  }
  return out;
}

std::pair<double, double> model_weight_difference(const std::filesystem::path& a, const std::filesystem::path& b) {
  auto x = checkpoint_tensors(a), y = checkpoint_tensors(b);
  if (x.size() != y.size())
    throw std::runtime_error(a.string() + " and " + b.string() + " hold different numbers of tensors");
  double difference = 0, magnitude = 0;
  for (const auto& [key, tensor] : x) {
    if (key.rfind("model/", 0) != 0 || !tensor.is_floating_point()) continue;
    if (y.count(key) != 1) throw std::runtime_error(b.string() + " has no " + key + " but " + a.string() + " has");
    difference = std::max(difference, (tensor - y[key]).abs().max().item<double>());
    magnitude = std::max(magnitude, tensor.abs().max().item<double>());
  }
  return {difference, magnitude};
}

double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>() /
         b.to(torch::kFloat64).abs().max().item<double>();
}

std::string data_error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

std::vector<CheckpointRecord> checkpoint_records(const std::filesystem::path& path) {
  caffe2::serialize::PyTorchStreamReader reader(path.string());
  std::vector<CheckpointRecord> records;
  for (const std::string& name : reader.getAllRecords()) {
    auto [data, size] = reader.getRecord(name);
    records.push_back({name, reader.getRecordOffset(name), size});
  }
  return records;
}

namespace {
void gather_tensors(torch::serialize::InputArchive& archive, const std::string& prefix,
                    std::map<std::string, torch::Tensor>& out) {
  for (const std::string& key : archive.keys()) {
    torch::Tensor tensor;
    torch::serialize::InputArchive nested;
    if (archive.try_read(key, tensor))
      out[prefix + key] = tensor;
    else if (archive.try_read(key, nested))
      gather_tensors(nested, prefix + key + "/", out);
  }
}
}  // namespace

std::map<std::string, torch::Tensor> all_checkpoint_tensors(const std::filesystem::path& path) {
  torch::serialize::InputArchive archive;
  archive.load_from(path.string());
  std::map<std::string, torch::Tensor> out;
  gather_tensors(archive, "", out);
  return out;
}

CheckpointRecord record_holding(const std::filesystem::path& path, const torch::Tensor& tensor) {
  const torch::Tensor host = tensor.detach().cpu().contiguous();
  const std::string bytes = read_text(path);
  for (const CheckpointRecord& record : checkpoint_records(path))
    if (record.size == host.nbytes() && record.offset + record.size <= bytes.size() &&
        std::memcmp(bytes.data() + record.offset, host.data_ptr(), record.size) == 0)
      return record;
  throw std::runtime_error(path.string() + ": no record holds the tensor's bytes");
}

CheckpointRecord record_named(const std::filesystem::path& path, const std::string& name) {
  for (const CheckpointRecord& record : checkpoint_records(path))
    if (record.name == name) return record;
  throw std::runtime_error(path.string() + ": no record " + name);
}

void flip_in_record(const std::filesystem::path& path, const CheckpointRecord& record, uint64_t at) {
  std::string bytes = read_text(path);
  bytes.at(record.offset + at) ^= 0xff;
  write_text(path, bytes);
}

int64_t checkpoint_step(const std::filesystem::path& path) {
  torch::serialize::InputArchive archive;
  archive.load_from(path.string());
  torch::Tensor step;
  archive.read("step", step);
  return step.item<int64_t>();
}

pid_t spawn(const std::string& command) {
  pid_t child = fork();
  if (child == 0) {
    execl("/bin/sh", "sh", "-c", ("exec env " + command).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return child;
}

std::filesystem::path wait_for_training(const std::filesystem::path& dir, size_t train_lines) {
  for (int i = 0; i < 600; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::error_code not_yet;
    for (const auto& d : std::filesystem::directory_iterator(dir, not_yet))
      if (std::filesystem::exists(d.path() / "metrics.jsonl") && metrics_of(d.path(), "train").size() > train_lines)
        return d.path();
  }
  return {};
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

vae::AutoencoderKL small_random_vae(int64_t channels, double weight_std, uint64_t seed) {
  vae::AutoencoderConfig c;
  c.in_channels = c.out_channels = channels;
  c.latent_channels = 4;
  c.block_out_channels = {8, 16};
  c.norm_num_groups = 4;
  c.scaling_factor = 1.5305;
  c.shift_factor = 0.0609;
  torch::manual_seed(seed);
  vae::AutoencoderKL vae(c);
  torch::NoGradGuard no_grad;
  for (auto& p : vae->parameters()) p.normal_(0, weight_std);
  vae->eval();
  return vae;
}

}  // namespace genbox::testing
