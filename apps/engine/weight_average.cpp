#include "engine/weight_average.h"

#include <algorithm>
#include <stdexcept>

namespace skipzoo::app {

WeightAverage::WeightAverage(torch::nn::Module& model, double decay) : decay_(decay) {
  if (!(decay > 0 && decay < 1)) throw std::invalid_argument("the weight average's decay must be in (0, 1)");
  torch::NoGradGuard no_grad;
  for (const auto& p : model.parameters()) live_.push_back(p);
  for (const auto& b : model.buffers()) {
    if (b.is_floating_point()) live_.push_back(b);  // num_batches_tracked is a count, not averaged
  }
  for (const auto& t : live_) average_.push_back(t.detach().clone());
}

void WeightAverage::update(int64_t step) {
  const double d = std::min(decay_, (1.0 + static_cast<double>(step)) / (10.0 + static_cast<double>(step)));
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < live_.size(); ++i) average_[i].lerp_(live_[i].detach(), 1.0 - d);
}

void WeightAverage::swap() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < live_.size(); ++i) {
    auto held = live_[i].detach().clone();
    live_[i].detach().copy_(average_[i]);
    average_[i].copy_(held);
  }
}

}  // namespace skipzoo::app
