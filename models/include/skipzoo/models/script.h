#pragma once
// TorchScript "script twins": a torch::jit::Module that holds the same parameters and
// buffers under the same names as a torch::nn module, with forward written in TorchScript.
// LibTorch cannot script C++ modules, so every zoo module builds its own twin.
#include <torch/script.h>
#include <torch/torch.h>

#include <string>

namespace skipzoo::models {

// Implemented by every zoo module; LibTorch's own layers are handled by to_torchscript.
class Scriptable {
 public:
  virtual ~Scriptable() = default;
  virtual torch::jit::Module script_twin() const = 0;
};

// The twin of a zoo module or of a supported LibTorch layer (Conv2d, ConvTranspose2d,
// BatchNorm1d/2d, Linear, ReLU, Identity, Sequential, ModuleList). Tensors are shared with
// the eager module (detached), so export a snapshot by saving the result.
torch::jit::Module to_torchscript(const torch::nn::Module& module);

// A twin without forward: m's own parameters and buffers (same names, same order, shared
// storage), the twins of its children, and the `training` attribute TorchScript expects.
torch::jit::Module twin_skeleton(const torch::nn::Module& m, const std::string& class_name);

// The twin of a module holding BatchNorm's tensors (weight, bias, running_mean, running_var,
// num_batches_tracked): torch.batch_norm, updating the running statistics in training mode.
torch::jit::Module batch_norm_twin(const torch::nn::Module& bn, const std::string& class_name, double momentum,
                                   double eps);

// Formats TorchScript literals, e.g. script_list({1, 2}) == "[1, 2]".
std::string script_list(const std::vector<int64_t>& values);
std::string script_bool(bool value);
std::string script_float(double value);

}  // namespace skipzoo::models
