// DETR's transformer (Carion et al. 2020) in the pre-norm arrangement: the encoder refines the
// image tokens, the decoder turns object queries into one prediction each. Positions are added
// to queries and keys in every attention layer, never to values.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <vector>

#include "nn/mlp.hpp"

namespace genbox::detection {

// Multi-head attention with separate query, key and value projections (so that queries and keys
// can carry positions the values do not), through genbox::nn::attention.
class MultiHeadAttentionImpl : public torch::nn::Module {
 public:
  MultiHeadAttentionImpl(int64_t width, int64_t heads);
  // query [B, Tq, D], key and value [B, Tk, D], key_padding_mask [B, Tk] bool (true = ignore).
  torch::Tensor forward(const torch::Tensor& query, const torch::Tensor& key, const torch::Tensor& value,
                        const torch::Tensor& key_padding_mask = {});

  torch::nn::Linear q{nullptr}, k{nullptr}, v{nullptr}, out{nullptr};

 private:
  int64_t heads_;
};
TORCH_MODULE(MultiHeadAttention);

class EncoderLayerImpl : public torch::nn::Module {
 public:
  EncoderLayerImpl(int64_t width, int64_t heads, int64_t ffn);
  // x, pos: [B, T, D]; padding_mask: [B, T].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& pos, const torch::Tensor& padding_mask);

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  MultiHeadAttention attention{nullptr};
  nn::Mlp mlp{nullptr};
};
TORCH_MODULE(EncoderLayer);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(int64_t width, int64_t heads, int64_t ffn);
  // x, query_pos: [B, G * Q, D] for G groups of Q queries that attend only within their group;
  // memory, memory_pos: [B, T, D] with memory_padding_mask [B, T].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& query_pos, const torch::Tensor& memory,
                        const torch::Tensor& memory_pos, const torch::Tensor& memory_padding_mask, int64_t groups);

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  MultiHeadAttention self_attention{nullptr}, cross_attention{nullptr};
  nn::Mlp mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

class TransformerImpl : public torch::nn::Module {
 public:
  TransformerImpl(int64_t width, int64_t heads, int64_t ffn, int64_t encoder_layers, int64_t decoder_layers);
  // tokens, pos: [B, T, D] image tokens and their position encoding; padding_mask [B, T];
  // query_pos, query_content: [G * Q, D], the queries' positions and the decoder's initial input.
  // Returns the decoder's normalised output after every layer, each [B, G * Q, D].
  std::vector<torch::Tensor> forward(const torch::Tensor& tokens, const torch::Tensor& pos,
                                     const torch::Tensor& padding_mask, const torch::Tensor& query_pos,
                                     const torch::Tensor& query_content, int64_t groups);

  torch::nn::ModuleList encoder{nullptr}, decoder{nullptr};
  torch::nn::LayerNorm encoder_norm{nullptr}, decoder_norm{nullptr};
};
TORCH_MODULE(Transformer);

}  // namespace genbox::detection
