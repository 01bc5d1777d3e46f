#include "engine/optim.h"

#include "engine/fused_optim.h"

#include <cmath>
#include <stdexcept>

namespace skipzoo::app {

OptimizerKind parse_optimizer(const std::string& name) {
  if (name == "sgd") return OptimizerKind::SGD;
  if (name == "adamw") return OptimizerKind::AdamW;
  throw std::invalid_argument("unknown optimizer '" + name + "' (expected sgd or adamw)");
}

std::string optimizer_name(OptimizerKind kind) { return kind == OptimizerKind::SGD ? "sgd" : "adamw"; }

void to_json(nlohmann::json& j, const OptimizerOptions& o) {
  j = {{"name", optimizer_name(o.kind)}, {"lr", o.lr},          {"weight_decay", o.weight_decay},
       {"momentum", o.momentum},         {"decay_all", o.decay_all}};
}

void from_json(const nlohmann::json& j, OptimizerOptions& o) {
  o.kind = parse_optimizer(j.value("name", optimizer_name(o.kind)));
  o.lr = j.value("lr", o.lr);
  o.weight_decay = j.value("weight_decay", o.weight_decay);
  o.momentum = j.value("momentum", o.momentum);
  o.decay_all = j.value("decay_all", o.decay_all);
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(torch::nn::Module& model, const OptimizerOptions& o) {
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : model.parameters()) {
    if (!p.requires_grad()) continue;
    (o.decay_all || p.dim() > 1 ? decay : no_decay).push_back(p);
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (o.kind == OptimizerKind::SGD) {
    for (auto* params : {&decay, &no_decay}) {
      auto options = std::make_unique<torch::optim::SGDOptions>(o.lr);
      options->momentum(o.momentum).nesterov(true).weight_decay(params == &decay ? o.weight_decay : 0.0);
      groups.emplace_back(*params, std::move(options));
    }
    return std::make_unique<FusedSGD>(groups, torch::optim::SGDOptions(o.lr));
  }
  for (auto* params : {&decay, &no_decay}) {
    auto options = std::make_unique<torch::optim::AdamWOptions>(o.lr);
    options->weight_decay(params == &decay ? o.weight_decay : 0.0);
    groups.emplace_back(*params, std::move(options));
  }
  return std::make_unique<FusedAdamW>(groups, torch::optim::AdamWOptions(o.lr));
}

ScheduleKind parse_schedule(const std::string& name) {
  if (name == "cosine") return ScheduleKind::Cosine;
  if (name == "poly") return ScheduleKind::Poly;
  if (name == "constant") return ScheduleKind::Constant;
  throw std::invalid_argument("unknown schedule '" + name + "' (expected cosine, poly or constant)");
}

std::string schedule_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::Cosine: return "cosine";
    case ScheduleKind::Poly: return "poly";
    case ScheduleKind::Constant: return "constant";
  }
  return "?";
}

void to_json(nlohmann::json& j, const ScheduleOptions& o) {
  j = {{"name", schedule_name(o.kind)}, {"warmup", o.warmup_steps}, {"min_lr_fraction", o.min_lr_fraction}};
}

void from_json(const nlohmann::json& j, ScheduleOptions& o) {
  o.kind = parse_schedule(j.value("name", schedule_name(o.kind)));
  o.warmup_steps = j.value("warmup", o.warmup_steps);
  o.min_lr_fraction = j.value("min_lr_fraction", o.min_lr_fraction);
}

double scheduled_lr(double base_lr, int64_t step, int64_t total_steps, const ScheduleOptions& s) {
  if (s.warmup_steps > 0 && step < s.warmup_steps) return base_lr * static_cast<double>(step + 1) / s.warmup_steps;
  // Progress t runs from 0 after the warm-up to 1 at the last step (total_steps - 1): the
  // schedule ends exactly at its floor.
  const int64_t span = total_steps - 1 - s.warmup_steps;
  const double t = span <= 0 ? 1.0 : std::clamp(static_cast<double>(step - s.warmup_steps) / static_cast<double>(span), 0.0, 1.0);
  switch (s.kind) {
    case ScheduleKind::Constant: return base_lr;
    case ScheduleKind::Poly: return base_lr * std::pow(1.0 - t, 0.9);
    case ScheduleKind::Cosine: {
      const double floor = base_lr * s.min_lr_fraction;
      return floor + (base_lr - floor) * 0.5 * (1.0 + std::cos(M_PI * t));
    }
  }
  return base_lr;
}

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace skipzoo::app
