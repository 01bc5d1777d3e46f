#include "engine/optim.h"

#include <cmath>
#include <stdexcept>

namespace skipzoo::app {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(torch::nn::Module& model, const OptimizerOptions& o) {
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : model.parameters()) {
    if (!p.requires_grad()) continue;
    (o.decay_all || p.dim() > 1 ? decay : no_decay).push_back(p);
  }
  if (o.name == "sgd") {
    auto with = std::make_unique<torch::optim::SGDOptions>(o.lr);
    with->momentum(o.momentum).nesterov(true).weight_decay(o.weight_decay);
    auto without = std::make_unique<torch::optim::SGDOptions>(o.lr);
    without->momentum(o.momentum).nesterov(true).weight_decay(0);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, std::move(with));
    groups.emplace_back(no_decay, std::move(without));
    return std::make_unique<torch::optim::SGD>(groups, torch::optim::SGDOptions(o.lr));
  }
  if (o.name == "adamw") {
    auto with = std::make_unique<torch::optim::AdamWOptions>(o.lr);
    with->weight_decay(o.weight_decay);
    auto without = std::make_unique<torch::optim::AdamWOptions>(o.lr);
    without->weight_decay(0);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, std::move(with));
    groups.emplace_back(no_decay, std::move(without));
    return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(o.lr));
  }
  throw std::invalid_argument("unknown optimizer '" + o.name + "' (expected \"sgd\" or \"adamw\")");
}

double scheduled_lr(double base_lr, int64_t step, int64_t total_steps, const ScheduleOptions& s) {
  if (s.warmup_steps > 0 && step < s.warmup_steps) return base_lr * static_cast<double>(step + 1) / s.warmup_steps;
  const int64_t span = std::max<int64_t>(1, total_steps - s.warmup_steps);
  const double t = std::clamp(static_cast<double>(step - s.warmup_steps) / span, 0.0, 1.0);
  if (s.name == "constant") return base_lr;
  if (s.name == "poly") return base_lr * std::pow(1.0 - t, 0.9);
  if (s.name == "cosine") {
    const double floor = base_lr * s.min_lr_fraction;
    return floor + (base_lr - floor) * 0.5 * (1.0 + std::cos(M_PI * t));
  }
  throw std::invalid_argument("unknown schedule '" + s.name + "' (expected \"cosine\", \"poly\" or \"constant\")");
}

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace skipzoo::app
