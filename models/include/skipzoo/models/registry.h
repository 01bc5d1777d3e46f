#pragma once
// One registry creates every zoo model by name. Apps, export, `info` and the tests go through
// it, so a new model is one register_model() away from all of them.
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace skipzoo::models {

struct ModelConfig {
  std::string name;
  int64_t classes = -1;         // -1: the model's default
  int64_t in_channels = -1;     // -1: the model's default
  std::string options = "{}";   // JSON object with the model's other options
};

struct Model {
  ModelConfig config;   // resolved: classes, in_channels and every option with its value
  std::string task;     // "classification", "segmentation", "features" (blocks) or "regression"
  torch::nn::AnyModule net;

  torch::Tensor forward(const torch::Tensor& x) { return net.forward(x); }
  torch::nn::Module& module() const { return *net.ptr(); }
  std::shared_ptr<torch::nn::Module> ptr() const { return net.ptr(); }
};

struct ModelEntry {
  std::string name;
  std::string task;
  std::string description;
  bool image_input = true;  // (N, C, H, W); otherwise (N, in_channels)
  // Builds the module and resolves `config` in place (defaults filled in, options normalised).
  // Throws std::invalid_argument for unknown or invalid options.
  std::function<torch::nn::AnyModule(ModelConfig& config)> create;
};

void register_model(ModelEntry entry);                // replaces an entry of the same name
const ModelEntry& find_model(const std::string& name);  // throws, suggesting known names
std::vector<std::string> model_names();                 // sorted
// Creates a model; with a seed, the initialisation is repeatable.
Model create_model(const ModelConfig& config, c10::optional<uint64_t> seed = c10::nullopt);

int64_t count_parameters(const torch::nn::Module& module, bool trainable_only = false);

}  // namespace skipzoo::models
