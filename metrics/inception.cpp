#include "metrics/inception.hpp"

#include <ATen/ops/adaptive_avg_pool2d.h>
#include <ATen/ops/avg_pool2d.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/max_pool2d.h>
#include <ATen/ops/relu.h>
#include <fmt/format.h>

#include <cstdlib>
#include <map>
#include <set>
#include <vector>

#include "base/errors.hpp"
#include "base/fsutil.hpp"
#include "common/safetensors.hpp"
#include "nn/conv3x3.hpp"

namespace genbox::metrics {

const char* const kInceptionWeightsName = "pt_inception-2015-12-05-6726825d";
const char* const kInceptionWeightsUrl =
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth";

InceptionConvImpl::InceptionConvImpl(int64_t in, int64_t out, torch::ExpandingArray<2> kernel,
                                     torch::ExpandingArray<2> stride, torch::ExpandingArray<2> padding)
    : stride_(stride), padding_(padding) {
  conv_ = register_module(
      "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false)));
  bn_ = register_module("bn", torch::nn::BatchNorm2d(torch::nn::BatchNormOptions(out).eps(0.001)));
}

void InceptionConvImpl::fold_batch_norm() {
  torch::NoGradGuard no_grad;
  const torch::Tensor scale = bn_->weight / torch::sqrt(bn_->running_var + bn_->options.eps());
  // Channels-last, as the activations: oneDNN's convolutions then need no reorders (1.5x on a CPU).
  weight_ = (conv_->weight * scale.view({-1, 1, 1, 1})).contiguous(torch::MemoryFormat::ChannelsLast);
  bias_ = (bn_->bias - bn_->running_mean * scale).contiguous();
}

torch::Tensor InceptionConvImpl::forward(const torch::Tensor& x) {
  // The square 3 x 3 stride-1 convolutions (about 70% of the network's multiplies) by Winograd's
  // F(4x4, 3x3) where it applies (nn/conv3x3.hpp).
  const auto stride = *stride_, padding = *padding_;
  if (weight_.size(2) == 3 && weight_.size(3) == 3 && stride[0] == 1 && stride[1] == 1 && padding[0] == padding[1])
    return nn::conv3x3(x, weight_, bias_, {}, padding[0]).relu_();
  return at::conv2d(x, weight_, bias_, stride, padding).relu_();
}

namespace {

// A kernel's or padding's (height, width), spelled out where they differ.
using Pair = std::vector<int64_t>;

// The TF graph's average pool of the pool branches: 3 x 3, stride 1, padding 1, padded zeros not counted.
torch::Tensor tf_average_pool(const torch::Tensor& x) { return at::avg_pool2d(x, 3, 1, 1, false, false); }

// Mixed_5b-5d: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | pool -> 1x1.
class InceptionAImpl : public torch::nn::Module {
 public:
  InceptionAImpl(int64_t in, int64_t pool_features)
      : b1_(register_module("branch1x1", InceptionConv(in, 64, 1))),
        b5_1_(register_module("branch5x5_1", InceptionConv(in, 48, 1))),
        b5_2_(register_module("branch5x5_2", InceptionConv(48, 64, 5, 1, 2))),
        b3_1_(register_module("branch3x3dbl_1", InceptionConv(in, 64, 1))),
        b3_2_(register_module("branch3x3dbl_2", InceptionConv(64, 96, 3, 1, 1))),
        b3_3_(register_module("branch3x3dbl_3", InceptionConv(96, 96, 3, 1, 1))),
        pool_(register_module("branch_pool", InceptionConv(in, pool_features, 1))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return at::cat({b1_(x), b5_2_(b5_1_(x)), b3_3_(b3_2_(b3_1_(x))), pool_(tf_average_pool(x))}, 1);
  }

 private:
  InceptionConv b1_, b5_1_, b5_2_, b3_1_, b3_2_, b3_3_, pool_;
};
TORCH_MODULE(InceptionA);

// Mixed_6a: a strided 3x3 | 1x1 -> 3x3 -> strided 3x3 | strided max pool.
class InceptionBImpl : public torch::nn::Module {
 public:
  explicit InceptionBImpl(int64_t in)
      : b3_(register_module("branch3x3", InceptionConv(in, 384, 3, 2))),
        d1_(register_module("branch3x3dbl_1", InceptionConv(in, 64, 1))),
        d2_(register_module("branch3x3dbl_2", InceptionConv(64, 96, 3, 1, 1))),
        d3_(register_module("branch3x3dbl_3", InceptionConv(96, 96, 3, 2))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return at::cat({b3_(x), d3_(d2_(d1_(x))), at::max_pool2d(x, 3, 2)}, 1);
  }

 private:
  InceptionConv b3_, d1_, d2_, d3_;
};
TORCH_MODULE(InceptionB);

// Mixed_6b-6e: factorised 7x7 convolutions of c7 channels.
class InceptionCImpl : public torch::nn::Module {
 public:
  InceptionCImpl(int64_t in, int64_t c7)
      : b1_(register_module("branch1x1", InceptionConv(in, 192, 1))),
        s1_(register_module("branch7x7_1", InceptionConv(in, c7, 1))),
        s2_(register_module("branch7x7_2", InceptionConv(c7, c7, Pair{1, 7}, 1, Pair{0, 3}))),
        s3_(register_module("branch7x7_3", InceptionConv(c7, 192, Pair{7, 1}, 1, Pair{3, 0}))),
        d1_(register_module("branch7x7dbl_1", InceptionConv(in, c7, 1))),
        d2_(register_module("branch7x7dbl_2", InceptionConv(c7, c7, Pair{7, 1}, 1, Pair{3, 0}))),
        d3_(register_module("branch7x7dbl_3", InceptionConv(c7, c7, Pair{1, 7}, 1, Pair{0, 3}))),
        d4_(register_module("branch7x7dbl_4", InceptionConv(c7, c7, Pair{7, 1}, 1, Pair{3, 0}))),
        d5_(register_module("branch7x7dbl_5", InceptionConv(c7, 192, Pair{1, 7}, 1, Pair{0, 3}))),
        pool_(register_module("branch_pool", InceptionConv(in, 192, 1))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return at::cat({b1_(x), s3_(s2_(s1_(x))), d5_(d4_(d3_(d2_(d1_(x))))), pool_(tf_average_pool(x))}, 1);
  }

 private:
  InceptionConv b1_, s1_, s2_, s3_, d1_, d2_, d3_, d4_, d5_, pool_;
};
TORCH_MODULE(InceptionC);

// Mixed_7a: 1x1 -> strided 3x3 | 1x1 -> 1x7 -> 7x1 -> strided 3x3 | strided max pool.
class InceptionDImpl : public torch::nn::Module {
 public:
  explicit InceptionDImpl(int64_t in)
      : t1_(register_module("branch3x3_1", InceptionConv(in, 192, 1))),
        t2_(register_module("branch3x3_2", InceptionConv(192, 320, 3, 2))),
        s1_(register_module("branch7x7x3_1", InceptionConv(in, 192, 1))),
        s2_(register_module("branch7x7x3_2", InceptionConv(192, 192, Pair{1, 7}, 1, Pair{0, 3}))),
        s3_(register_module("branch7x7x3_3", InceptionConv(192, 192, Pair{7, 1}, 1, Pair{3, 0}))),
        s4_(register_module("branch7x7x3_4", InceptionConv(192, 192, 3, 2))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return at::cat({t2_(t1_(x)), s4_(s3_(s2_(s1_(x)))), at::max_pool2d(x, 3, 2)}, 1);
  }

 private:
  InceptionConv t1_, t2_, s1_, s2_, s3_, s4_;
};
TORCH_MODULE(InceptionD);

// Mixed_7b and 7c: branches that split into 1x3 and 3x1 halves. The pool branch averages in 7b and,
// as in the TF graph FID was defined on, takes the maximum in 7c.
class InceptionEImpl : public torch::nn::Module {
 public:
  InceptionEImpl(int64_t in, bool max_pool)
      : max_pool_(max_pool),
        b1_(register_module("branch1x1", InceptionConv(in, 320, 1))),
        t1_(register_module("branch3x3_1", InceptionConv(in, 384, 1))),
        t2a_(register_module("branch3x3_2a", InceptionConv(384, 384, Pair{1, 3}, 1, Pair{0, 1}))),
        t2b_(register_module("branch3x3_2b", InceptionConv(384, 384, Pair{3, 1}, 1, Pair{1, 0}))),
        d1_(register_module("branch3x3dbl_1", InceptionConv(in, 448, 1))),
        d2_(register_module("branch3x3dbl_2", InceptionConv(448, 384, 3, 1, 1))),
        d3a_(register_module("branch3x3dbl_3a", InceptionConv(384, 384, Pair{1, 3}, 1, Pair{0, 1}))),
        d3b_(register_module("branch3x3dbl_3b", InceptionConv(384, 384, Pair{3, 1}, 1, Pair{1, 0}))),
        pool_(register_module("branch_pool", InceptionConv(in, 192, 1))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    const torch::Tensor t = t1_(x), d = d2_(d1_(x));
    const torch::Tensor pooled = max_pool_ ? at::max_pool2d(x, 3, 1, 1) : tf_average_pool(x);
    return at::cat({b1_(x), t2a_(t), t2b_(t), d3a_(d), d3b_(d), pool_(pooled)}, 1);
  }

 private:
  bool max_pool_;
  InceptionConv b1_, t1_, t2a_, t2b_, d1_, d2_, d3a_, d3b_, pool_;
};
TORCH_MODULE(InceptionE);

}  // namespace

FidInceptionImpl::FidInceptionImpl() {
  const auto add = [&](const std::string& name, auto block, bool max_pool_after = false) {
    layers_.push_back({torch::nn::AnyModule(register_module(name, block)), max_pool_after});
  };
  add("Conv2d_1a_3x3", InceptionConv(3, 32, 3, 2));
  add("Conv2d_2a_3x3", InceptionConv(32, 32, 3));
  add("Conv2d_2b_3x3", InceptionConv(32, 64, 3, 1, 1), true);
  add("Conv2d_3b_1x1", InceptionConv(64, 80, 1));
  add("Conv2d_4a_3x3", InceptionConv(80, 192, 3), true);
  add("Mixed_5b", InceptionA(192, 32));
  add("Mixed_5c", InceptionA(256, 64));
  add("Mixed_5d", InceptionA(288, 64));
  add("Mixed_6a", InceptionB(288));
  add("Mixed_6b", InceptionC(768, 128));
  add("Mixed_6c", InceptionC(768, 160));
  add("Mixed_6d", InceptionC(768, 160));
  add("Mixed_6e", InceptionC(768, 192));
  add("Mixed_7a", InceptionD(768));
  add("Mixed_7b", InceptionE(1280, false));
  add("Mixed_7c", InceptionE(2048, true));
  eval();
}

torch::Tensor FidInceptionImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == 3, "FidInception: expected [B, 3, H, W], got ", x.sizes());
  torch::Tensor h = x.contiguous(torch::MemoryFormat::ChannelsLast);
  for (auto& layer : layers_) {
    h = layer.block.forward(h);
    if (layer.max_pool_after) h = at::max_pool2d(h, 3, 2);
  }
  return at::adaptive_avg_pool2d(h, {1, 1}).flatten(1);
}

void FidInceptionImpl::fold_batch_norms() {
  for (const auto& module : modules(false))
    if (auto* conv = module->as<InceptionConvImpl>()) conv->fold_batch_norm();
}

namespace {

std::map<std::string, torch::Tensor> read_weights(const std::filesystem::path& path) {
  if (path.extension() != ".safetensors")
    throw UsageError(
        fmt::format("{}: FID reads its weights as safetensors; convert pytorch-fid's .pth once with "
                    "`python bench/convert_inception.py {} OUT.safetensors`",
                    path.string(), path.string()));
  std::map<std::string, torch::Tensor> tensors;
  for (auto& [name, tensor] : read_safetensors(path).tensors) tensors.emplace(name, tensor);
  return tensors;
}

bool ignored(const std::string& name) {
  return name.rfind("fc.", 0) == 0 || name.rfind("AuxLogits.", 0) == 0 ||
         (name.size() >= 20 && name.compare(name.size() - 20, 20, ".num_batches_tracked") == 0);
}

}  // namespace

FidInception load_fid_inception(const std::filesystem::path& path, const torch::Device& device) {
  if (!std::filesystem::exists(path))
    throw UsageError(
        fmt::format("no Inception weights at {}: FID needs pytorch-fid's {}.pth (published at {}), "
                    "converted once with `python bench/convert_inception.py {} {}`",
                    path.string(), kInceptionWeightsName, kInceptionWeightsUrl, torch_hub_inception_weights().string(),
                    path.string()));
  const std::map<std::string, torch::Tensor> file = read_weights(path);
  FidInception network;
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  const auto load = [&](const std::string& name, torch::Tensor& target) {
    const auto found = file.find(name);
    if (found == file.end()) throw DataError(fmt::format("{}: no tensor {}", path.string(), name));
    if (found->second.sizes() != target.sizes())
      throw DataError(fmt::format("{}: {} is {}, the network's is {}", path.string(), name,
                                  c10::str(found->second.sizes()), c10::str(target.sizes())));
    target.copy_(found->second);
    used.insert(name);
  };
  for (auto& item : network->named_parameters()) load(item.key(), item.value());
  for (auto& item : network->named_buffers())
    if (!ignored(item.key())) load(item.key(), item.value());
  for (const auto& [name, tensor] : file)
    if (!used.count(name) && !ignored(name))
      throw DataError(fmt::format("{}: {} is not a tensor of FID's Inception", path.string(), name));
  network->to(device);  // first: the folded weights are computed where they are used
  network->fold_batch_norms();
  network->eval();
  return network;
}

std::filesystem::path torch_hub_inception_weights() {
  std::filesystem::path torch_home;
  if (const char* home = std::getenv("TORCH_HOME"); home && *home) {
    torch_home = home;
  } else {
    torch_home = user_cache_home() / "torch";
  }
  return torch_home / "hub" / "checkpoints" / (std::string(kInceptionWeightsName) + ".pth");
}

std::filesystem::path default_inception_weights() {
  return user_cache_home() / "genbox" / (std::string(kInceptionWeightsName) + ".safetensors");
}

}  // namespace genbox::metrics
