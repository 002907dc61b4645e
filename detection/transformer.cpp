#include "detection/transformer.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <stdexcept>

#include "nn/attention.hpp"

namespace genbox::detection {

namespace {
torch::nn::Linear xavier_linear(int64_t in, int64_t out) {
  torch::nn::Linear layer(in, out);
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(layer->weight);
  layer->bias.zero_();
  return layer;
}

torch::nn::LayerNorm layer_norm(int64_t width) { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})); }

nn::Mlp feed_forward(int64_t width, int64_t ffn) {
  nn::Mlp mlp(width, ffn, "gelu_tanh");
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(mlp->fc1->weight);
  torch::nn::init::xavier_uniform_(mlp->fc2->weight);
  mlp->fc1->bias.zero_();
  mlp->fc2->bias.zero_();
  return mlp;
}
}  // namespace

MultiHeadAttentionImpl::MultiHeadAttentionImpl(int64_t width, int64_t heads) : heads_(heads) {
  if (heads <= 0 || width % heads != 0)
    throw std::invalid_argument(fmt::format("attention width {} is not divisible by {} heads", width, heads));
  q = register_module("q", xavier_linear(width, width));
  k = register_module("k", xavier_linear(width, width));
  v = register_module("v", xavier_linear(width, width));
  out = register_module("out", xavier_linear(width, width));
}

torch::Tensor MultiHeadAttentionImpl::forward(const torch::Tensor& query, const torch::Tensor& key,
                                              const torch::Tensor& value, const torch::Tensor& key_padding_mask) {
  const int64_t batch = query.size(0), width = query.size(2), head_dim = width / heads_;
  auto split = [&](const torch::Tensor& x) { return x.view({batch, x.size(1), heads_, head_dim}).transpose(1, 2); };
  torch::Tensor attended = nn::attention(split(q(query)), split(k(key)), split(v(value)), key_padding_mask);
  return out(attended.transpose(1, 2).reshape({batch, query.size(1), width}));
}

EncoderLayerImpl::EncoderLayerImpl(int64_t width, int64_t heads, int64_t ffn) {
  norm1 = register_module("norm1", layer_norm(width));
  attention = register_module("attention", MultiHeadAttention(width, heads));
  norm2 = register_module("norm2", layer_norm(width));
  mlp = register_module("mlp", feed_forward(width, ffn));
}

torch::Tensor EncoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& pos,
                                        const torch::Tensor& padding_mask) {
  torch::Tensor h = norm1(x);
  torch::Tensor with_pos = h + pos;
  torch::Tensor y = x + attention(with_pos, with_pos, h, padding_mask);
  return y + mlp(norm2(y));
}

DecoderLayerImpl::DecoderLayerImpl(int64_t width, int64_t heads, int64_t ffn) {
  norm1 = register_module("norm1", layer_norm(width));
  self_attention = register_module("self_attention", MultiHeadAttention(width, heads));
  norm2 = register_module("norm2", layer_norm(width));
  cross_attention = register_module("cross_attention", MultiHeadAttention(width, heads));
  norm3 = register_module("norm3", layer_norm(width));
  mlp = register_module("mlp", feed_forward(width, ffn));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& query_pos,
                                        const torch::Tensor& memory, const torch::Tensor& memory_pos,
                                        const torch::Tensor& memory_padding_mask, int64_t groups) {
  const int64_t batch = x.size(0), total = x.size(1), width = x.size(2);
  // Folding the groups into the batch keeps each group's self-attention to itself: the same as a
  // block-diagonal attention mask, without computing the blocks it would discard.
  auto fold = [&](const torch::Tensor& t) { return t.reshape({batch * groups, total / groups, width}); };
  torch::Tensor h = norm1(x);
  torch::Tensor with_pos = fold(h + query_pos);
  torch::Tensor y = x + self_attention(with_pos, with_pos, fold(h)).reshape({batch, total, width});
  h = norm2(y);
  y = y + cross_attention(h + query_pos, memory + memory_pos, memory, memory_padding_mask);
  return y + mlp(norm3(y));
}

TransformerImpl::TransformerImpl(int64_t width, int64_t heads, int64_t ffn, int64_t encoder_layers,
                                 int64_t decoder_layers) {
  if (encoder_layers < 0 || decoder_layers < 1)
    throw std::invalid_argument("the transformer needs at least one decoder layer and no negative encoder depth");
  encoder = register_module("encoder", torch::nn::ModuleList());
  for (int64_t i = 0; i < encoder_layers; ++i) encoder->push_back(EncoderLayer(width, heads, ffn));
  encoder_norm = register_module("encoder_norm", layer_norm(width));
  decoder = register_module("decoder", torch::nn::ModuleList());
  for (int64_t i = 0; i < decoder_layers; ++i) decoder->push_back(DecoderLayer(width, heads, ffn));
  decoder_norm = register_module("decoder_norm", layer_norm(width));
}

std::vector<torch::Tensor> TransformerImpl::forward(const torch::Tensor& tokens, const torch::Tensor& pos,
                                                    const torch::Tensor& padding_mask, const torch::Tensor& query_pos,
                                                    const torch::Tensor& query_content, int64_t groups) {
  torch::Tensor memory = tokens;
  for (const auto& layer : *encoder) memory = layer->as<EncoderLayerImpl>()->forward(memory, pos, padding_mask);
  memory = encoder_norm(memory);

  torch::Tensor batch_pos = query_pos.unsqueeze(0).expand({tokens.size(0), -1, -1});
  torch::Tensor x = query_content.unsqueeze(0).expand({tokens.size(0), -1, -1});
  std::vector<torch::Tensor> outputs;
  for (const auto& layer : *decoder) {
    x = layer->as<DecoderLayerImpl>()->forward(x, batch_pos, memory, pos, padding_mask, groups);
    outputs.push_back(decoder_norm(x));
  }
  return outputs;
}

}  // namespace genbox::detection
