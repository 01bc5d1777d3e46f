#pragma once
/// @file
/// One registry creates every zoo model by name. Apps, export, `info` and the tests go through
/// it, so a new model is one register_model() away from all of them.
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace skipzoo::models {

/// What to build: a registered name plus the options the user gave.
struct ModelConfig {
  std::string name;             ///< a registered model, e.g. "resnet50" (see model_names())
  int64_t classes = -1;         ///< -1: the model's default; else >= 1 (outputs of the MLP; none for blocks)
  int64_t in_channels = -1;     ///< -1: the model's default; else >= 1 (input features of the MLP)
  std::string options = "{}";   ///< JSON object with the model's other options, e.g. {"norm": "none"}
};

/// A created model: the module and what it was created from.
struct Model {
  ModelConfig config;   ///< resolved: classes, in_channels and every option with its value
  std::string task;     ///< "classification", "segmentation", "features" (blocks) or "regression"
  torch::nn::AnyModule net;  ///< the module, e.g. a ResNet or UNet

  /// net.forward(x): (N, C, H, W) -> (N, classes) logits for classifiers, (N, classes, H, W)
  /// logits for segmentation, the block's output for blocks, (N, in) -> (N, out) for the MLP.
  torch::Tensor forward(const torch::Tensor& x) { return net.forward(x); }
  /// The module as a torch::nn::Module (for parameters(), train(), to(), ...).
  torch::nn::Module& module() const { return *net.ptr(); }
  /// Shared ownership of the module.
  std::shared_ptr<torch::nn::Module> ptr() const { return net.ptr(); }
};

/// A registry entry: how to build one named model.
struct ModelEntry {
  std::string name;         ///< the name create_model() takes
  std::string task;         ///< copied into Model::task
  std::string description;  ///< one line for listings
  bool image_input = true;  ///< (N, C, H, W); otherwise (N, in_channels)
  /// Builds the module and resolves `config` in place (defaults filled in, options normalised).
  /// Throws std::invalid_argument for unknown or invalid options.
  std::function<torch::nn::AnyModule(ModelConfig& config)> create;
};

/// Adds an entry, replacing one of the same name. Thread-safe.
void register_model(ModelEntry entry);
/// The entry of `name`. Throws std::invalid_argument, listing the known names, if there is none.
const ModelEntry& find_model(const std::string& name);
/// The registered names, sorted.
std::vector<std::string> model_names();
/// Creates a model and resolves its config. With a seed, calls torch::manual_seed(seed) first
/// (LibTorch's global generator), so the initialisation is repeatable. Throws
/// std::invalid_argument for an unknown name, classes or in_channels below 1 (or classes given
/// to a block), and options that are not a JSON object, unknown or of the wrong type; c10::Error
/// for values a module's constructor rejects (e.g. a U-Net depth outside 1..8).
Model create_model(const ModelConfig& config, c10::optional<uint64_t> seed = c10::nullopt);

/// The number of parameter values (not tensors) in `module` and its descendants; with
/// trainable_only, only those with requires_grad.
int64_t count_parameters(const torch::nn::Module& module, bool trainable_only = false);

/// The multiple of H and W the model computes without padding: 2^depth for a U-Net, 32 for
/// unet_resnet*, 1 for the other models. The eager and TorchScript U-Nets pad their input to it
/// themselves; ONNX `multiple` and `static` graphs need inputs that are multiples of it, and the
/// tiler shrinks tiles for small images to it (data::TileOptions::multiple).
int64_t input_multiple(const Model& model);

}  // namespace skipzoo::models
