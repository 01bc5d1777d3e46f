#pragma once
/// @file
/// TorchScript "script twins": a torch::jit::Module that holds the same parameters and
/// buffers under the same names as a torch::nn module, with forward written in TorchScript.
/// LibTorch cannot script C++ modules, so every zoo module builds its own twin.
#include <torch/script.h>
#include <torch/torch.h>

#include <string>

namespace skipzoo::models {

/// Implemented by every zoo module; LibTorch's own layers are handled by to_torchscript().
class Scriptable {
 public:
  virtual ~Scriptable() = default;
  /// The module's twin: its own parameters and buffers (shared storage), its children's twins
  /// and a TorchScript forward computing the same function on the same shapes. Throws as
  /// to_torchscript() does when a child has no twin.
  virtual torch::jit::Module script_twin() const = 0;
};

/// The twin of a zoo module or of a supported LibTorch layer (Conv2d, ConvTranspose2d,
/// BatchNorm1d/2d, Linear, ReLU, Identity, Sequential, ModuleList). Tensors are shared with
/// the eager module (detached), so export a snapshot by saving the result. Throws
/// std::invalid_argument for other module types, and c10::Error for a convolution with string
/// padding or a non-zero padding_mode, or a BatchNorm without affine and running statistics or
/// with cumulative momentum.
torch::jit::Module to_torchscript(const torch::nn::Module& module);

/// A twin without forward: m's own parameters and buffers (same names, same order, shared
/// storage), the twins of its children, and the `training` attribute TorchScript expects.
/// `class_name` names the TorchScript class (made unique, as TorchScript mangles Python's).
torch::jit::Module twin_skeleton(const torch::nn::Module& m, const std::string& class_name);

/// The twin of a module holding BatchNorm's tensors (weight, bias, running_mean, running_var,
/// num_batches_tracked): torch.batch_norm with `momentum` and `eps`, updating the running
/// statistics in training mode. Input and output shape (N, C, ...) as BatchNorm's.
torch::jit::Module batch_norm_twin(const torch::nn::Module& bn, const std::string& class_name, double momentum,
                                   double eps);

/// Formats a TorchScript list literal, e.g. script_list({1, 2}) == "[1, 2]".
std::string script_list(const std::vector<int64_t>& values);
/// "True" or "False".
std::string script_bool(bool value);
/// A float literal that round-trips (17 significant digits, always with "." or an exponent),
/// e.g. script_float(1) == "1.0".
std::string script_float(double value);

}  // namespace skipzoo::models
