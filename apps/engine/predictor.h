#pragma once
// A trained model ready for inference, loaded from a run checkpoint, a TorchScript export or an
// ONNX export: all give the same forward function and the same metadata (the export's
// skipzoo.json), so predict and eval do not care which one the user passed.
#include <nlohmann/json.hpp>
#include <skipzoo/data/deploy.h>
#include <skipzoo/models/registry.h>
#include <torch/torch.h>

#include <functional>
#include <string>

#include "engine/layout.h"

namespace skipzoo::app {

struct Predictor {
  std::string path;
  std::string task;       // "segmentation" or "classification"
  std::string kind;       // "checkpoint" (eager), "script", "optimized" (a .ts frozen and optimized) or "onnx"
  nlohmann::json meta;    // skipzoo.json: format, model, task, ... (skipzoo's own keys)
  data::DeployInfo info;  // skipzoo.json's application fields: class names, normalisation, tiles, ...
  torch::Device device{torch::kCPU};
  std::function<torch::Tensor(const torch::Tensor&)> forward;  // [N,C,H,W] -> logits, no autograd
  LayoutChoice layout;    // inputs (and an eager model's weights) in this layout; see choose_layout
  std::function<void(bool channels_last)> set_layout;  // what choose_layout calls

  /// The layout line for the log: layout.describe(), or OpenCV DNN's for an ONNX model.
  std::string describe_layout() const { return kind == "onnx" ? "OpenCV DNN's own (ONNX)" : layout.describe(); }
  int64_t in_channels() const { return meta.at("model").at("in_channels").get<int64_t>(); }
  int64_t classes() const { return meta.at("model").at("classes").get<int64_t>(); }
  /// What tiles of small images shrink to (data::TileOptions::multiple): the model's
  /// input_multiple; 0 (full tiles) for an export that predates the field or a static ONNX graph.
  int64_t tile_multiple() const;
};

// `path`: RUN_DIR/best.ckpt (or any run checkpoint), a RUN_DIR (its best.ckpt), FILE.ts or
// FILE.onnx (run by OpenCV DNN, CPU only).
// `optimize`: for .ts on CPU, freeze + optimize_for_inference in memory (faster, same results
// within float tolerance). Errors name the file and the reason.
Predictor load_predictor(const std::string& path, const std::string& device = "cpu", bool optimize = false);

// The checkpoint a path stands for: a run directory's best.ckpt, else its last.ckpt (a run
// without validation has no best; a note on stderr says so); any other path as given.
std::string run_checkpoint(const std::string& path);

// A skipzoo .onnx export run by OpenCV DNN (onnx_predictor.cpp). Throws std::runtime_error
// naming `path` for a missing, truncated or foreign file, or one only ONNX Runtime can run.
Predictor load_onnx_predictor(const std::string& path, const torch::Device& device);

// Chooses the layout the predictor runs in (`auto`: times forward passes on zeros of
// `example_shape`, [N, C, H, W], in both layouts; cached per CPU, model and shape) and applies it.
void choose_layout(Predictor& p, Layout requested, const std::vector<int64_t>& example_shape);

// Rebuilds a run's model from a checkpoint (its config names the model) with its weights, or with
// their moving average where the checkpoint keeps one (a run's last.ckpt under --ema).
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
