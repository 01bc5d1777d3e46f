#pragma once
// Why this file exists: c10d/reducer.hpp (DDP's Reducer, which skipzoo's data-parallel training
// uses) includes this header from PyTorch's distributed autograd, but Debian's libtorch-dev 1.13
// does not ship torch/csrc/distributed/autograd/. The Reducer only needs two names from it: the
// GradCallback type (a static_assert compares it with its own) and ContextPtr, a shared_ptr it
// holds for RPC-based distributed autograd, which skipzoo never uses (the pointer stays empty, so
// no object of this class is ever made or destroyed here). These declarations match PyTorch's.
// Only apps/engine/distributed.cpp sees this directory; with a LibTorch that ships the real
// header, the real one is found first (the directory is added after Torch's include paths).
#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>

namespace torch {
namespace distributed {
namespace autograd {

class DistAutogradContext {
 public:
  using GradCallback = std::function<bool(at::Tensor&)>;
};
using ContextPtr = std::shared_ptr<DistAutogradContext>;

}  // namespace autograd
}  // namespace distributed
}  // namespace torch
