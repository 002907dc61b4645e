#include "common/optim.hpp"

#include <torch/torch.h>
#include <cmath>

namespace genbox {

bool receives_weight_decay(const std::string& name, const torch::Tensor& parameter) {
  bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
  return !is_bias && parameter.dim() >= 2;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const torch::nn::Module& model, const OptimSettings& s) {
  std::vector<torch::Tensor> decayed, plain;
  for (const auto& item : model.named_parameters())
    (receives_weight_decay(item.key(), item.value()) ? decayed : plain).push_back(item.value());
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto betas = std::make_tuple(s.beta1, s.beta2);
  if (s.name == "adamw") {
    auto options = [&](double decay) {
      return std::make_unique<torch::optim::AdamWOptions>(
          torch::optim::AdamWOptions(s.lr).betas(betas).eps(s.eps).weight_decay(decay));
    };
    if (!decayed.empty()) groups.emplace_back(decayed, options(s.weight_decay));
    if (!plain.empty()) groups.emplace_back(plain, options(0.0));
    return std::make_unique<FusedAdamW>(groups, torch::optim::AdamWOptions(s.lr));
  }
  auto options = [&](double decay) {
    return std::make_unique<torch::optim::AdamOptions>(
        torch::optim::AdamOptions(s.lr).betas(betas).eps(s.eps).weight_decay(decay));
  };
  if (!decayed.empty()) groups.emplace_back(decayed, options(s.weight_decay));
  if (!plain.empty()) groups.emplace_back(plain, options(0.0));
  return std::make_unique<FusedAdam>(groups, torch::optim::AdamOptions(s.lr));
}

namespace {

// One group's parameters that have gradients, with their Adam state (created on first use, as
// LibTorch's Adam creates it) and the step count after this step. The fused kernels read the
// step from a tensor; all parameters of a group share one, which the kernels only read.
struct FusedGroup {
  std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps;
};

template <typename State>
bool gather_group(torch::optim::OptimizerParamGroup& group,
                  ska::flat_hash_map<void*, std::unique_ptr<torch::optim::OptimizerParamState>>& state, bool amsgrad,
                  FusedGroup& out) {
  int64_t step = 0;
  for (torch::Tensor& p : group.params()) {
    if (!p.grad().defined()) continue;
    TORCH_CHECK(!p.grad().is_sparse(), "Adam does not support sparse gradients");
    auto& slot = state[p.unsafeGetTensorImpl()];
    if (!slot) {
      auto fresh = std::make_unique<State>();
      fresh->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      fresh->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      if (amsgrad) fresh->max_exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      slot = std::move(fresh);
    }
    auto& s = static_cast<State&>(*slot);
    s.step(s.step() + 1);
    step = s.step();
    out.params.push_back(p);
    out.grads.push_back(p.grad());
    out.exp_avgs.push_back(s.exp_avg());
    out.exp_avg_sqs.push_back(s.exp_avg_sq());
    if (amsgrad) out.max_exp_avg_sqs.push_back(s.max_exp_avg_sq());
  }
  if (out.params.empty()) return false;
  torch::Tensor shared_step = torch::full({}, double(step), out.params[0].options().dtype(torch::kFloat32));
  out.steps.assign(out.params.size(), shared_step);
  return true;
}

}  // namespace

torch::Tensor FusedAdam::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    auto& options = static_cast<torch::optim::AdamOptions&>(group.options());
    FusedGroup g;
    if (!gather_group<torch::optim::AdamParamState>(group, state_, options.amsgrad(), g)) continue;
    at::_fused_adam_(g.params, g.grads, g.exp_avgs, g.exp_avg_sqs, g.max_exp_avg_sqs, g.steps, options.lr(),
                     std::get<0>(options.betas()), std::get<1>(options.betas()), options.weight_decay(),
                     options.eps(), options.amsgrad(), false);
  }
  return loss;
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    auto& options = static_cast<torch::optim::AdamWOptions&>(group.options());
    FusedGroup g;
    if (!gather_group<torch::optim::AdamWParamState>(group, state_, options.amsgrad(), g)) continue;
    at::_fused_adamw_(g.params, g.grads, g.exp_avgs, g.exp_avg_sqs, g.max_exp_avg_sqs, g.steps, options.lr(),
                      std::get<0>(options.betas()), std::get<1>(options.betas()), options.weight_decay(),
                      options.eps(), options.amsgrad(), false);
  }
  return loss;
}

double learning_rate_at(const OptimSettings& s, int64_t step, int64_t total_steps) {
  if (step < s.warmup_steps) return s.lr * double(step + 1) / double(s.warmup_steps);
  if (s.schedule == "constant") return s.lr;
  double span = std::max<int64_t>(1, total_steps - s.warmup_steps);
  double progress = std::min(1.0, double(step - s.warmup_steps) / span);
  double floor = s.lr * s.min_lr_ratio;
  return floor + (s.lr - floor) * 0.5 * (1 + std::cos(M_PI * progress));
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

double clip_grad_norm(const std::vector<torch::Tensor>& parameters, double max_norm) {
  std::vector<torch::Tensor> norms;
  for (const torch::Tensor& p : parameters)
    if (p.grad().defined()) norms.push_back(p.grad().detach().to(torch::kFloat32).norm());
  if (norms.empty()) return 0.0;
  double total = torch::stack(norms).norm().item<double>();
  if (max_norm > 0 && total > max_norm) {
    double factor = max_norm / (total + 1e-6);
    torch::NoGradGuard no_grad;
    for (const torch::Tensor& p : parameters)
      if (p.grad().defined()) p.grad().mul_(factor);
  }
  return total;
}

std::vector<std::pair<std::string, torch::Tensor>> named_state(const torch::nn::Module& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : model.named_parameters()) out.emplace_back(item.key(), item.value());
  for (const auto& item : model.named_buffers()) out.emplace_back(item.key(), item.value());
  return out;
}

Ema::Ema(const torch::nn::Module& model, double decay) : decay_(decay) {
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : named_state(model)) tensors_.emplace_back(name, tensor.detach().clone());
}

void Ema::update(const torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  double decay = std::min(decay_, double(1 + updates_) / double(10 + updates_));
  auto current = named_state(model);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    torch::Tensor& average = tensors_[i].second;
    if (average.is_floating_point())
      average.lerp_(current[i].second.detach(), 1 - decay);
    else
      average.copy_(current[i].second);
  }
  ++updates_;
}

void Ema::swap_into(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  auto current = named_state(model);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    torch::Tensor held = current[i].second.detach().clone();
    current[i].second.detach().copy_(tensors_[i].second);
    tensors_[i].second.copy_(held);
  }
}

}  // namespace genbox
