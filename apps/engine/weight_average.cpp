#include "engine/weight_average.h"

#include <algorithm>
#include <stdexcept>
#include <unordered_set>

namespace skipzoo::app {

std::vector<torch::Tensor> averaged_tensors(torch::nn::Module& model) {
  std::vector<torch::Tensor> out;
  std::unordered_set<const void*> seen;
  auto add = [&](const torch::Tensor& t) {
    if (seen.insert(t.unsafeGetTensorImpl()).second) out.push_back(t);
  };
  for (const auto& p : model.parameters()) add(p);
  for (const auto& b : model.buffers()) {
    if (b.is_floating_point()) add(b);
  }
  return out;
}

void copy_average(const std::vector<torch::Tensor>& stored, const std::vector<torch::Tensor>& targets,
                  const std::string& source) {
  if (stored.size() != targets.size()) {
    throw std::runtime_error(source + ": its weight average holds " + std::to_string(stored.size()) +
                             " tensors, this model has " + std::to_string(targets.size()));
  }
  for (size_t i = 0; i < stored.size(); ++i) {
    if (stored[i].sizes() != targets[i].sizes()) {
      throw std::runtime_error(source + ": its weight average's tensor " + std::to_string(i) + " has shape " +
                               c10::str(stored[i].sizes()) + ", this model's " + c10::str(targets[i].sizes()));
    }
  }
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < stored.size(); ++i) targets[i].detach().copy_(stored[i]);
}

WeightAverage::WeightAverage(torch::nn::Module& model, double decay) : decay_(decay) {
  if (!(decay > 0 && decay < 1)) throw std::invalid_argument("the weight average's decay must be in (0, 1)");
  torch::NoGradGuard no_grad;
  live_ = averaged_tensors(model);
  int64_t largest = 0;
  for (const auto& t : live_) {
    average_.push_back(t.detach().clone());
    largest = std::max(largest, t.numel());
  }
  scratch_ = torch::empty({largest}, live_.empty() ? torch::TensorOptions() : live_.front().options());
}

void WeightAverage::update(int64_t step) {
  const double d = std::min(decay_, (1.0 + static_cast<double>(step)) / (10.0 + static_cast<double>(step)));
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < live_.size(); ++i) average_[i].lerp_(live_[i].detach(), 1.0 - d);
}

void WeightAverage::swap() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < live_.size(); ++i) {
    const auto live = live_[i].detach();
    const auto held = live.scalar_type() == scratch_.scalar_type() && live.device() == scratch_.device()
                          ? scratch_.narrow(0, 0, live.numel()).view(live.sizes()).copy_(live)
                          : live.clone();  // a buffer of another dtype: rare, allowed to allocate
    live.copy_(average_[i]);
    average_[i].copy_(held);
  }
  in_model_ = !in_model_;
}

WeightAverage::InModel::~InModel() {
  try {
    average_.swap();
  } catch (...) {  // a destructor must not throw; the swap copies between tensors already allocated
  }
}

}  // namespace skipzoo::app
