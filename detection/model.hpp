// DETR (Carion et al. 2020) at a size that trains from scratch: a small ResNet, a 1x1 projection
// to the transformer width, the masked sine position encoding, a transformer encoder-decoder
// over learned object queries, and class and box heads shared by every decoder layer.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <string>
#include <vector>

#include "detection/backbone.hpp"
#include "detection/predictions.hpp"
#include "detection/transformer.hpp"

namespace genbox::detection {

// The defaults are `detr train`'s: a model that learns the 64 x 64 scenes in CPU minutes. The
// paper's (ResNet-50, width 256, 6 + 6 layers, 100 queries) is a GPU-scale config.
struct DetrOptions {
  int64_t num_classes = 10;  // K; the class head has K + 1 outputs, the last for "no object"
  int64_t num_queries = 16;  // per group; the predictions at inference
  int64_t width = 64;
  int64_t heads = 4;
  int64_t encoder_layers = 2;
  int64_t decoder_layers = 3;
  int64_t ffn = 256;
  std::vector<int64_t> backbone_channels = {16, 32, 64};
  int64_t blocks_per_stage = 1;
  int64_t output_stride = 8;   // a power of two; the backbone's downsampling
  int64_t image_channels = 3;  // 1-channel input is repeated to 3 when this is 3
  // Group DETR (Chen et al. 2023): num_queries * query_groups queries in training, attending
  // only within their group in the decoder's self-attention; only group 0 at inference.
  int64_t query_groups = 1;
  // When > 0, the class head's biases start at log(p / (1 - p)) so that every sigmoid starts at
  // probability p (Lin et al. 2017 use 0.01 with the focal loss); 0 keeps them at zero.
  double class_prior = 0;
};

class DetrImpl : public torch::nn::Module {
 public:
  explicit DetrImpl(const DetrOptions& options);

  // images [B, C, H, W] float in [0, 1], zero-padded; padding_mask [B, H, W] bool, true on
  // padding, each image's pixels forming its top-left corner. In training mode all groups'
  // queries are decoded, in eval mode only group 0's: B x Q' predictions per decoder layer with
  // Q' = num_queries * query_groups or num_queries. Predicted boxes are relative to each image's
  // own size. An image's predictions do not depend on the padding around it, up to rounding
  // (exactly so in eval mode; in training the backbone's batch statistics mix the batch).
  DetrOutput forward(const torch::Tensor& images, const torch::Tensor& padding_mask);

  const DetrOptions& options() const { return options_; }

  Backbone backbone{nullptr};
  torch::nn::Conv2d input_projection{nullptr};
  Transformer transformer{nullptr};
  // [num_queries * query_groups, width] each, group-major. A learned content as well as a learned
  // position per query (as in Deformable DETR) gives the first decoder layer's self-attention
  // something to work on; DETR's all-zero content leaves it without a gradient.
  torch::Tensor query_pos, query_content;
  torch::nn::Linear class_head{nullptr};
  torch::nn::Sequential box_head{nullptr};  // 3 linear layers with ReLU between; sigmoid applied after

 private:
  DetrOptions options_;
};
TORCH_MODULE(Detr);

// The model's forward pass under the configured precision ("fp32", or "bf16": autocast on
// CUDA), with every output cast to fp32 for the loss, the matcher and decoding.
DetrOutput forward_in_precision(Detr& model, const torch::Tensor& images, const torch::Tensor& padding_mask,
                                const std::string& precision);

}  // namespace genbox::detection
