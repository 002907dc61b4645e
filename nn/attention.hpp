// Multi-head attention through at::scaled_dot_product_attention, which picks the flash or
// memory-efficient kernels on CUDA; the plain formula is kept as the oracle for tests.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <functional>
#include <map>
#include <string>

#include "nn/rms_norm.hpp"

namespace genbox::nn {

// q: [B, heads, T_q, head_dim], k and v: [B, heads, T_k, head_dim]. key_padding_mask, when
// given, is [B, T_k] bool with true where a key is padding and must get no attention.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& key_padding_mask = {});

// The kernel at::scaled_dot_product_attention picks for these inputs (at::_fused_sdp_choice):
// "flash_attention", "efficient_attention", "cudnn_attention", "math" or "overrideable".
std::string attention_backend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                              const torch::Tensor& key_padding_mask = {});

// While one is alive, every attention() call records the kernel it gets, keyed by its shapes,
// dtype, device and mask ("[4, 2, 64, 32] x [4, 2, 64, 32] Float cpu masked"): what benches print
// and tests assert, so that no call falls to the math path unnoticed. One at a time.
class AttentionBackendLog {
 public:
  AttentionBackendLog();
  ~AttentionBackendLog();
  AttentionBackendLog(const AttentionBackendLog&) = delete;
  AttentionBackendLog& operator=(const AttentionBackendLog&) = delete;
  std::map<std::string, std::string> entries() const;
};

// What `work` logs: the kernel each of its attention calls gets, by call shape.
std::map<std::string, std::string> attention_backends_of(const std::function<void()>& work);

// softmax(q k^T / sqrt(head_dim)) v with padded keys at -inf, written out step by step.
torch::Tensor reference_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                  const torch::Tensor& key_padding_mask = {});

// Self-attention over [B, T, dim] with a fused qkv projection. With qk_norm, q and k pass
// through a per-head RMSNorm with a learnable scale before the dot product (SD3, section 5.3.2),
// which keeps attention logits from growing without bound at high learning rates.
class SelfAttentionImpl : public torch::nn::Module {
 public:
  SelfAttentionImpl(int64_t dim, int64_t heads, bool qk_norm);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_padding_mask = {});

  int64_t heads() const { return heads_; }
  torch::nn::Linear qkv{nullptr}, proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};  // null without qk_norm

 private:
  int64_t heads_;
};
TORCH_MODULE(SelfAttention);

}  // namespace genbox::nn
