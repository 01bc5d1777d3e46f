#pragma once
// Optimizers with weight decay on conv/linear weights only, and warm-up + poly/cosine schedules.
// With BatchNorm after a conv, L2 on the conv weights only rescales them (Prince, Understanding
// Deep Learning, problem 11.7), and decaying BN scales or biases has no such excuse: by default
// they get none.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <memory>
#include <string>

namespace skipzoo::app {

enum class OptimizerKind {
  SGD,    // with Nesterov momentum
  AdamW,  // Loshchilov & Hutter 2019, decoupled weight decay
};
OptimizerKind parse_optimizer(const std::string& name);  // "sgd" or "adamw"; std::invalid_argument otherwise
std::string optimizer_name(OptimizerKind kind);

struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::AdamW;
  double lr = 1e-3;             // peak learning rate
  double weight_decay = 1e-4;   // conv/linear weights (see decay_all)
  double momentum = 0.9;        // SGD
  bool decay_all = false;       // also decay norm parameters and biases
};
void to_json(nlohmann::json& j, const OptimizerOptions& o);
void from_json(const nlohmann::json& j, OptimizerOptions& o);  // missing keys keep their defaults

// Two parameter groups: [0] conv/linear weights (dim > 1) with weight decay, [1] the rest without.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(torch::nn::Module& model, const OptimizerOptions& o);

enum class ScheduleKind {
  Cosine,    // half a cosine from the peak to the floor
  Poly,      // (1 - t)^0.9, nnU-Net's (Isensee et al. 2021)
  Constant,
};
ScheduleKind parse_schedule(const std::string& name);  // "cosine", "poly" or "constant"
std::string schedule_name(ScheduleKind kind);

struct ScheduleOptions {
  ScheduleKind kind = ScheduleKind::Cosine;
  int64_t warmup_steps = 0;     // linear ramp from lr/warmup_steps to lr
  double min_lr_fraction = 0.0; // cosine floor as a fraction of the peak
};
void to_json(nlohmann::json& j, const ScheduleOptions& o);
void from_json(const nlohmann::json& j, ScheduleOptions& o);

// Learning rate at `step` (0-based) of `total_steps`: the warm-up ramp, then the schedule from
// its peak after the warm-up to its floor at the last step, total_steps - 1.
double scheduled_lr(double base_lr, int64_t step, int64_t total_steps, const ScheduleOptions& s);
void set_lr(torch::optim::Optimizer& optimizer, double lr);

}  // namespace skipzoo::app
