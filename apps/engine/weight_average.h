#pragma once
// An exponential moving average of a model's weights (Polyak averaging; the form timm's
// ModelEmaV2 keeps): after every optimizer step, average = d * average + (1 - d) * weights over
// the parameters and floating-point buffers (BatchNorm's running statistics), with
// d = min(decay, (1 + t) / (10 + t)) so that early averages do not cling to the initialisation.
// Training with a high learning rate jumps around a minimum; the average sits nearer its
// centre, so validation, best.ckpt and the export use it.
#include <torch/torch.h>

#include <vector>

namespace skipzoo::app {

class WeightAverage {
 public:
  // Starts the average at the model's current weights; `decay` in (0, 1).
  WeightAverage(torch::nn::Module& model, double decay);
  // After optimizer step `step` (0-based, counted over the whole run).
  void update(int64_t step);
  // Exchanges the averaged and the live weights inside the model: call once to put the average
  // in, and again to take it out.
  void swap();
  // The averaged tensors, in the model's parameter-then-buffer order (checkpoints store them).
  std::vector<torch::Tensor>& tensors() { return average_; }

 private:
  std::vector<torch::Tensor> live_, average_;
  double decay_;
};

}  // namespace skipzoo::app
