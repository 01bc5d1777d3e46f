#include <skipzoo/models/analysis.h>

namespace skipzoo::models {

ScopedMode::ScopedMode(torch::nn::Module& root, bool training, bool restore_buffers) {
  root.apply([this](torch::nn::Module& m) { flags_.emplace_back(&m, m.is_training()); });
  if (restore_buffers) {
    torch::NoGradGuard no_grad;
    for (auto& b : root.buffers()) buffers_.emplace_back(b, b.clone());
  }
  root.train(training);
}

ScopedMode::~ScopedMode() {
  // apply() visits parents before children, and train() recurses: restoring in the same
  // order leaves every module with its own flag.
  for (auto& [module, flag] : flags_) module->train(flag);
  torch::NoGradGuard no_grad;
  for (auto& [live, saved] : buffers_) live.copy_(saved);
}

}  // namespace skipzoo::models
