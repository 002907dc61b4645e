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
    return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(s.lr));
  }
  auto options = [&](double decay) {
    return std::make_unique<torch::optim::AdamOptions>(
        torch::optim::AdamOptions(s.lr).betas(betas).eps(s.eps).weight_decay(decay));
  };
  if (!decayed.empty()) groups.emplace_back(decayed, options(s.weight_decay));
  if (!plain.empty()) groups.emplace_back(plain, options(0.0));
  return std::make_unique<torch::optim::Adam>(groups, torch::optim::AdamOptions(s.lr));
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
