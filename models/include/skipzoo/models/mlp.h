#pragma once
// A fully connected ReLU network, optionally with a norm layer between each linear layer and
// its ReLU (the seed's problem 11.6). Layers live in a Sequential `layers`, as a Python user
// would write nn.Sequential(Linear, BatchNorm1d, ReLU, ...).
#include <skipzoo/models/norm.h>
#include <skipzoo/models/script.h>
#include <torch/torch.h>

namespace skipzoo::models {

struct MLPOptions {
  TORCH_ARG(int64_t, in_features) = 1;
  TORCH_ARG(int64_t, out_features) = 1;
  TORCH_ARG(int64_t, width) = 20;
  TORCH_ARG(int64_t, depth) = 10;  // hidden layers
  TORCH_ARG(Norm, norm) = Norm::None;
};

class MLPImpl : public torch::nn::Cloneable<MLPImpl>, public Scriptable {
 public:
  explicit MLPImpl(const MLPOptions& options = {});
  void reset() override;
  torch::Tensor forward(torch::Tensor x);  // (N, in_features) -> (N, out_features)
  torch::jit::Module script_twin() const override;

  MLPOptions options;
  torch::nn::Sequential layers{nullptr};
};
TORCH_MODULE(MLP);

}  // namespace skipzoo::models
