#pragma once
// An exponential moving average of a model's weights (Polyak averaging; the form timm's
// ModelEmaV2 keeps): after every optimizer step, average = d * average + (1 - d) * weights over
// the parameters and floating-point buffers (BatchNorm's running statistics), with
// d = min(decay, (1 + t) / (10 + t)) so that early averages do not cling to the initialisation.
// Training with a high learning rate jumps around a minimum; the average sits nearer its
// centre, so validation, best.ckpt and the export use it.
#include <torch/torch.h>

#include <string>
#include <vector>

namespace skipzoo::app {

// The tensors an average covers, in the order checkpoints store them: the parameters, then the
// floating-point buffers (BatchNorm's step count is not averaged); a tensor registered under two
// names appears once.
std::vector<torch::Tensor> averaged_tensors(torch::nn::Module& model);

// Copies a checkpoint's stored average into `targets` (averaged_tensors() of the same model, or a
// WeightAverage's tensors). Throws std::runtime_error starting with `source` when the count or a
// shape differs (an average of another model).
void copy_average(const std::vector<torch::Tensor>& stored, const std::vector<torch::Tensor>& targets,
                  const std::string& source);

class WeightAverage {
 public:
  // Starts the average at the model's current weights; `decay` in (0, 1), else std::invalid_argument.
  WeightAverage(torch::nn::Module& model, double decay);
  // After optimizer step `step` (0-based, counted over the whole run).
  void update(int64_t step);
  // Exchanges the averaged and the live weights inside the model: call once to put the average
  // in, and again to take it out. Allocates nothing (one scratch buffer is kept).
  void swap();
  // Whether the average is in the model now (then tensors() holds the live weights).
  bool in_model() const { return in_model_; }
  // The averaged tensors, in averaged_tensors() order (checkpoints store them).
  std::vector<torch::Tensor>& tensors() { return average_; }

  // The average in the model for a scope (validation, best.ckpt), the live weights back when the
  // scope ends, however it ends.
  class InModel {
   public:
    explicit InModel(WeightAverage& average) : average_(average) { average_.swap(); }
    ~InModel();
    InModel(const InModel&) = delete;
    InModel& operator=(const InModel&) = delete;

   private:
    WeightAverage& average_;
  };

 private:
  std::vector<torch::Tensor> live_, average_;
  torch::Tensor scratch_;  // as many floats as the largest tensor, for swap()
  double decay_;
  bool in_model_ = false;
};

}  // namespace skipzoo::app
