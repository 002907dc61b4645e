#include "nn/attention.hpp"

#include <ATen/SDPBackend.h>
#include <ATen/ops/_fused_sdp_choice.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <atomic>
#include <cmath>
#include <mutex>
#include <optional>
#include <stdexcept>

namespace genbox::nn {

namespace {
// SDPA's boolean mask means the opposite of a padding mask (true = may attend) and broadcasts
// over heads and queries.
torch::Tensor allowed_keys(const torch::Tensor& key_padding_mask) {
  return key_padding_mask.logical_not().unsqueeze(1).unsqueeze(1);
}

std::optional<at::Tensor> sdpa_mask(const torch::Tensor& key_padding_mask) {
  if (!key_padding_mask.defined()) return std::nullopt;
  return allowed_keys(key_padding_mask);
}

// The live AttentionBackendLog's entries; null when none is alive.
std::mutex backend_log_mutex;
std::map<std::string, std::string>* backend_log = nullptr;
std::atomic<bool> backend_logging{false};  // read without the lock on every call
}  // namespace

std::string attention_backend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                              const torch::Tensor& key_padding_mask) {
  switch (static_cast<at::SDPBackend>(at::_fused_sdp_choice(q, k, v, sdpa_mask(key_padding_mask)))) {
    case at::SDPBackend::flash_attention:
      return "flash_attention";
    case at::SDPBackend::efficient_attention:
      return "efficient_attention";
    case at::SDPBackend::cudnn_attention:
      return "cudnn_attention";
    case at::SDPBackend::math:
      return "math";
    case at::SDPBackend::overrideable:
      return "overrideable";
    default:
      return "error";
  }
}

AttentionBackendLog::AttentionBackendLog() {
  std::lock_guard<std::mutex> lock(backend_log_mutex);
  if (backend_log) throw std::logic_error("AttentionBackendLog: one is alive already");
  backend_log = new std::map<std::string, std::string>();
  backend_logging = true;
}

AttentionBackendLog::~AttentionBackendLog() {
  std::lock_guard<std::mutex> lock(backend_log_mutex);
  backend_logging = false;
  delete backend_log;
  backend_log = nullptr;
}

std::map<std::string, std::string> AttentionBackendLog::entries() const {
  std::lock_guard<std::mutex> lock(backend_log_mutex);
  return *backend_log;
}

std::map<std::string, std::string> attention_backends_of(const std::function<void()>& work) {
  AttentionBackendLog log;
  work();
  return log.entries();
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& key_padding_mask) {
  const std::optional<at::Tensor> mask = sdpa_mask(key_padding_mask);
  if (backend_logging) {
    std::lock_guard<std::mutex> lock(backend_log_mutex);
    if (backend_log) {
      const std::string key = fmt::format("{} x {} {} {}{}", c10::str(q.sizes()), c10::str(k.sizes()),
                                          c10::toString(q.scalar_type()), q.device().str(), mask ? " masked" : "");
      (*backend_log)[key] = attention_backend(q, k, v, key_padding_mask);
    }
  }
  return at::scaled_dot_product_attention(q, k, v, mask);
}

torch::Tensor reference_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                  const torch::Tensor& key_padding_mask) {
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(q.size(-1)));
  if (key_padding_mask.defined()) scores = scores.masked_fill(allowed_keys(key_padding_mask).logical_not(), -INFINITY);
  return torch::matmul(torch::softmax(scores, -1), v);
}

SelfAttentionImpl::SelfAttentionImpl(int64_t dim, int64_t heads, bool qk_norm) : heads_(heads) {
  if (heads <= 0 || dim % heads != 0)
    throw std::invalid_argument("attention width " + std::to_string(dim) + " is not divisible by " +
                                std::to_string(heads) + " heads");
  qkv = register_module("qkv", torch::nn::Linear(dim, 3 * dim));
  if (qk_norm) {
    q_norm = register_module("q_norm", RMSNorm(dim / heads));
    k_norm = register_module("k_norm", RMSNorm(dim / heads));
  }
  proj = register_module("proj", torch::nn::Linear(dim, dim));
}

torch::Tensor SelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& key_padding_mask) {
  int64_t batch = x.size(0), tokens = x.size(1), dim = x.size(2);
  // [B, T, 3 * dim] -> three [B, heads, T, head_dim]
  auto qkv_heads = qkv(x).view({batch, tokens, 3, heads_, dim / heads_}).permute({2, 0, 3, 1, 4}).unbind(0);
  torch::Tensor q = qkv_heads[0], k = qkv_heads[1], v = qkv_heads[2];
  if (q_norm) {
    q = q_norm(q);
    k = k_norm(k);
  }
  torch::Tensor out = attention(q, k, v, key_padding_mask);
  return proj(out.transpose(1, 2).reshape({batch, tokens, dim}));
}

}  // namespace genbox::nn
