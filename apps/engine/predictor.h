#pragma once
// A trained model ready for inference, loaded from a run checkpoint or from a TorchScript
// export: both give the same forward function and the same metadata (the export's
// skipzoo.json), so predict and eval do not care which one the user passed.
#include <nlohmann/json.hpp>
#include <skipzoo/models/registry.h>
#include <torch/torch.h>

#include <functional>
#include <string>

namespace skipzoo::app {

struct Predictor {
  std::string path;
  std::string task;       // "segmentation" or "classification"
  nlohmann::json meta;    // skipzoo.json: model, task, class_names, normalization, tile, ...
  torch::Device device{torch::kCPU};
  std::function<torch::Tensor(const torch::Tensor&)> forward;  // [N,C,H,W] -> logits, no autograd

  int64_t in_channels() const { return meta.at("model").at("in_channels").get<int64_t>(); }
  int64_t classes() const { return meta.at("model").at("classes").get<int64_t>(); }
};

// `path`: RUN_DIR/best.ckpt (or any run checkpoint), a RUN_DIR (its best.ckpt), or FILE.ts.
// `optimize`: for .ts on CPU, freeze + optimize_for_inference in memory (faster, same results
// within float tolerance). Errors name the file and the reason.
Predictor load_predictor(const std::string& path, const std::string& device = "cpu", bool optimize = false);

// Rebuilds a run's model from a checkpoint (its config names the model) with its weights.
struct CheckpointModel {
  std::shared_ptr<models::Model> model;
  nlohmann::json config;  // the run's configuration
};
CheckpointModel load_checkpoint_model(const std::string& path);

// Exports a run checkpoint to TorchScript with the run's metadata in skipzoo.json.
void export_checkpoint(const std::string& checkpoint, const std::string& out, bool optimize);

// The app fields of skipzoo.json for a run: what the checkpoint stores in its config
// under "metadata" and what the export embeds.
nlohmann::json run_metadata(const nlohmann::json& run_config);

}  // namespace skipzoo::app
