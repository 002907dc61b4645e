#include "detection/backbone.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <stdexcept>

namespace genbox::detection {

using torch::indexing::None;
using torch::indexing::Slice;

namespace {
torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  torch::nn::Conv2d layer(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false));
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_normal_(layer->weight, 0, torch::kFanOut, torch::kReLU);
  return layer;
}

int64_t log2_exact(int64_t n) {
  int64_t steps = 0;
  while (n > 1 && n % 2 == 0) {
    n /= 2;
    ++steps;
  }
  return n == 1 ? steps : -1;
}
}  // namespace

namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

torch::Tensor per_channel(const torch::Tensor& t) { return t.view({1, -1, 1, 1}); }
torch::Tensor channel_sums(const torch::Tensor& t) { return t.sum({0, 2, 3}); }

// sum over valid positions of (x - mean)^2 per channel, x [B, C, H, W], mean [C], valid
// [B, 1, H, W]. Written out so that backward keeps x and recomputes x - mean instead of autograd
// keeping x - mean and its square: two full-size activations fewer per normalisation.
class MaskedCentredSquares : public torch::autograd::Function<MaskedCentredSquares> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& mean,
                               const torch::Tensor& valid) {
    ctx->save_for_backward({x, mean, valid});
    return channel_sums((x - per_channel(mean)).square_().mul_(valid));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    auto saved = ctx->get_saved_variables();
    torch::Tensor centred = (saved[0] - per_channel(saved[1])).mul_(saved[2]);
    torch::Tensor g = 2 * grad[0];
    torch::Tensor grad_mean = -g * channel_sums(centred);
    return {centred.mul_(per_channel(g)), grad_mean, torch::Tensor()};
  }
};

// ((x - mean) * rstd * weight + bias) * valid, with the gradients of x, mean, rstd, weight and
// bias written out: backward keeps x (which the statistics need anyway) and recomputes the
// normalised input, where autograd would keep each intermediate product.
class MaskedAffineNormalize : public torch::autograd::Function<MaskedAffineNormalize> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& mean,
                               const torch::Tensor& rstd, const torch::Tensor& weight, const torch::Tensor& bias,
                               const torch::Tensor& valid) {
    ctx->save_for_backward({x, mean, rstd, weight, valid});
    torch::Tensor scale = weight * rstd;
    return x.mul(per_channel(scale)).add_(per_channel(bias - mean * scale)).mul_(valid);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &mean = saved[1], &rstd = saved[2], &weight = saved[3], &valid = saved[4];
    torch::Tensor g = grad[0] * valid;
    torch::Tensor grad_bias = channel_sums(g);
    torch::Tensor centred_sum = channel_sums((x - per_channel(mean)).mul_(g));  // sum g (x - mean)
    torch::Tensor scale = weight * rstd;
    return {g.mul_(per_channel(scale)), -grad_bias * scale, centred_sum * weight,
            centred_sum * rstd,         grad_bias,          torch::Tensor()};
  }
};
}  // namespace

torch::Tensor downsample_valid(const torch::Tensor& valid) {
  return valid.index({Slice(), Slice(), Slice(None, None, 2), Slice(None, None, 2)});
}

MaskedBatchNormImpl::MaskedBatchNormImpl(int64_t channels, double momentum, double eps)
    : momentum_(momentum), eps_(eps) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
  running_mean = register_buffer("running_mean", torch::zeros({channels}));
  running_var = register_buffer("running_var", torch::ones({channels}));
}

torch::Tensor MaskedBatchNormImpl::forward(const torch::Tensor& x, const torch::Tensor& valid) {
  // Statistics in fp32 whatever the convolution's dtype under autocast.
  torch::Tensor input = x.to(torch::kFloat);
  if (!is_training()) {
    torch::Tensor scale = weight * (running_var + eps_).rsqrt();
    return (input * per_channel(scale) + per_channel(bias - running_mean * scale)) * valid;
  }
  // Two passes (mean, then squared deviations), as one process computes them; across
  // processes each pass is one sum over ranks, the count travelling with the first.
  auto total = [&](const torch::Tensor& local) { return sum_over_processes ? sum_over_processes(local) : local; };
  torch::Tensor sums = total(torch::cat({channel_sums(input * valid), valid.sum().view({1})}));
  torch::Tensor count = sums[-1];
  torch::Tensor mean = sums.narrow(0, 0, sums.size(0) - 1) / count;
  torch::Tensor var = total(MaskedCentredSquares::apply(input, mean, valid)) / count;
  {
    torch::NoGradGuard no_grad;
    running_mean.mul_(1 - momentum_).add_(momentum_ * mean.detach());
    running_var.mul_(1 - momentum_).add_(momentum_ * var.detach() * count / (count - 1).clamp_min(1));
  }
  return MaskedAffineNormalize::apply(input, mean, (var + eps_).rsqrt(), weight, bias, valid);
}

void synchronize_batch_norm(torch::nn::Module& model, const std::function<torch::Tensor(const torch::Tensor&)>& sum) {
  for (const auto& module : model.modules())
    if (auto* norm = module->as<MaskedBatchNormImpl>()) norm->sum_over_processes = sum;
}

ResidualBlockImpl::ResidualBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride) : stride_(stride) {
  conv1 = register_module("conv1", conv(in_channels, out_channels, 3, stride));
  norm1 = register_module("norm1", MaskedBatchNorm(out_channels));
  conv2 = register_module("conv2", conv(out_channels, out_channels, 3, 1));
  norm2 = register_module("norm2", MaskedBatchNorm(out_channels));
  torch::NoGradGuard no_grad;
  norm2->weight.zero_();
  if (stride != 1 || in_channels != out_channels) {
    shortcut = register_module("shortcut", conv(in_channels, out_channels, 1, stride));
    shortcut_norm = register_module("shortcut_norm", MaskedBatchNorm(out_channels));
  }
}

MaskedFeatures ResidualBlockImpl::forward(const MaskedFeatures& x) {
  torch::Tensor valid = stride_ == 2 ? downsample_valid(x.valid) : x.valid;
  torch::Tensor h = torch::relu(norm1(conv1(x.features), valid));
  h = norm2(conv2(h), valid);
  torch::Tensor identity = shortcut ? shortcut_norm(shortcut(x.features), valid) : x.features;
  return {torch::relu(h + identity), valid};
}

BackboneImpl::BackboneImpl(int64_t in_channels, const std::vector<int64_t>& channels, int64_t blocks_per_stage,
                           int64_t output_stride) {
  const int64_t stages = static_cast<int64_t>(channels.size());
  const int64_t downsamplings = log2_exact(output_stride);
  if (stages < 1 || blocks_per_stage < 1)
    throw std::invalid_argument("the backbone needs at least one stage of at least one block");
  if (downsamplings < 0 || downsamplings > stages + 2)
    throw std::invalid_argument(fmt::format("backbone output stride {} is not a power of two up to {} (2^(stages + 2))",
                                            output_stride, 1 << (stages + 2)));
  out_channels_ = channels.back();

  stem = register_module("stem", torch::nn::ModuleList());
  stem_norms = register_module("stem_norms", torch::nn::ModuleList());
  stem->push_back(conv(in_channels, channels[0], 3, 1));
  stem_strides_.push_back(1);
  for (int64_t i = 0; i < downsamplings - stages; ++i) {
    stem->push_back(conv(channels[0], channels[0], 3, 2));
    stem_strides_.push_back(2);
  }
  for (size_t i = 0; i < stem_strides_.size(); ++i) stem_norms->push_back(MaskedBatchNorm(channels[0]));

  blocks = register_module("blocks", torch::nn::ModuleList());
  int64_t width = channels[0];
  for (int64_t s = 0; s < stages; ++s) {
    int64_t stride = s >= stages - downsamplings ? 2 : 1;
    for (int64_t b = 0; b < blocks_per_stage; ++b) {
      blocks->push_back(ResidualBlock(width, channels[s], b == 0 ? stride : 1));
      width = channels[s];
    }
  }
}

MaskedFeatures BackboneImpl::forward(const torch::Tensor& images, const torch::Tensor& valid) {
  MaskedFeatures x{images * valid, valid};
  for (size_t i = 0; i < stem_strides_.size(); ++i) {
    if (stem_strides_[i] == 2) x.valid = downsample_valid(x.valid);
    torch::Tensor h = stem[i]->as<torch::nn::Conv2dImpl>()->forward(x.features);
    x.features = torch::relu(stem_norms[i]->as<MaskedBatchNormImpl>()->forward(h, x.valid));
  }
  for (const auto& block : *blocks) x = block->as<ResidualBlockImpl>()->forward(x);
  return x;
}

}  // namespace genbox::detection
