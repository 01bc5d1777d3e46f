#pragma once
// Optimizers with weight decay on conv/linear weights only, and warm-up + poly/cosine schedules.
// With BatchNorm after a conv, L2 on the conv weights only rescales them (the seed's problem
// 11.7), and decaying BN scales or biases has no such excuse: by default they get none.
#include <torch/torch.h>

#include <memory>
#include <string>

namespace skipzoo::app {

struct OptimizerOptions {
  std::string name = "adamw";  // "sgd" (Nesterov momentum) or "adamw"
  double lr = 1e-3;
  double weight_decay = 1e-4;
  double momentum = 0.9;        // SGD
  bool decay_all = false;       // also decay norm parameters and biases
};

// Two parameter groups: [0] conv/linear weights (dim > 1) with weight decay, [1] the rest without.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(torch::nn::Module& model, const OptimizerOptions& o);

struct ScheduleOptions {
  std::string name = "cosine";  // "cosine", "poly" (power 0.9, nnU-Net) or "constant"
  int64_t warmup_steps = 0;     // linear ramp from lr/warmup_steps to lr
  double min_lr_fraction = 0.0; // cosine floor as a fraction of the base lr
};

// Learning rate at `step` (0-based) of `total_steps`.
double scheduled_lr(double base_lr, int64_t step, int64_t total_steps, const ScheduleOptions& s);
void set_lr(torch::optim::Optimizer& optimizer, double lr);

}  // namespace skipzoo::app
