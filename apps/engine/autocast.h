#pragma once
// The one place that knows LibTorch's autocast API (renamed in 2.4). Mixed precision runs in
// bfloat16, which needs no loss scaling; it is used on CUDA only by default, because bf16
// autocast on AVX2 CPUs is ~17x slower than float32.
#include <torch/torch.h>

namespace skipzoo::app {

class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, bool enabled);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool previous_ = false;
};

}  // namespace skipzoo::app
