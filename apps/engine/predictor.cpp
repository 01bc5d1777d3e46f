#include "engine/predictor.h"

#include <skipzoo/models/export.h>
#include <skipzoo/models/registry.h>

#include <filesystem>
#include <iostream>

#include "engine/checkpoint.h"
#include "engine/weight_average.h"

namespace skipzoo::app {

namespace fs = std::filesystem;

nlohmann::json run_metadata(const nlohmann::json& run_config) { return run_config.value("metadata", nlohmann::json::object()); }

int64_t Predictor::tile_multiple() const {
  if (kind == "onnx" && meta.value("onnx", nlohmann::json::object()).value("shapes", std::string()) != "multiple") return 0;
  return meta.at("model").value("input_multiple", int64_t{0});
}

namespace {

models::ModelConfig model_config(const nlohmann::json& m) {
  return {m.at("name").get<std::string>(), m.at("classes").get<int64_t>(), m.at("in_channels").get<int64_t>(),
          m.at("options").dump()};
}

Predictor from_checkpoint(const std::string& path, const torch::Device& device) {
  auto loaded = load_checkpoint_model(path);
  auto model = loaded.model;
  model->module().to(device);
  model->module().eval();
  models::ExportOptions options;
  options.metadata_json = run_metadata(loaded.config).dump();
  Predictor p;
  p.path = path;
  p.task = model->task;
  p.kind = "checkpoint";
  p.meta = nlohmann::json::parse(models::export_metadata(*model, options));
  p.info = data::DeployInfo::from_json(options.metadata_json);
  p.device = device;
  auto channels_last = std::make_shared<bool>(false);
  p.forward = [model, channels_last](const torch::Tensor& x) {
    c10::InferenceMode guard;
    return model->forward(*channels_last ? x.contiguous(at::MemoryFormat::ChannelsLast) : x);
  };
  p.set_layout = [model, channels_last](bool cl) {
    apply_layout(*model, cl);
    *channels_last = cl;
  };
  return p;
}

Predictor from_torchscript(const std::string& path, const torch::Device& device, bool optimize) {
  auto script = models::load_torchscript(path);
  auto meta = nlohmann::json::parse(script.metadata_json);
  if (!meta.contains("model") || !meta.contains("task")) {
    throw std::runtime_error("'" + path + "' is TorchScript but not a skipzoo export (no skipzoo.json): " +
                             "skipzoo cannot tell its task, classes or input normalisation");
  }
  auto module = std::make_shared<torch::jit::Module>(std::move(script.module));
  module->eval();
  if (optimize && device.is_cpu()) *module = models::optimize_for_inference_cpu(*module);
  module->to(device);
  Predictor p;
  p.path = path;
  p.task = meta["task"].get<std::string>();
  p.kind = optimize && device.is_cpu() ? "optimized" : "script";
  try {
    p.info = data::DeployInfo::from_json(meta.dump());
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error("'" + path + "': " + e.what());
  }
  p.meta = std::move(meta);
  p.device = device;
  auto channels_last = std::make_shared<bool>(false);  // a script's weights keep their layout; inputs follow
  p.forward = [module, channels_last](const torch::Tensor& x) {
    c10::InferenceMode guard;
    return module->forward({*channels_last ? x.contiguous(at::MemoryFormat::ChannelsLast) : x}).toTensor();
  };
  p.set_layout = [channels_last](bool cl) { *channels_last = cl; };
  return p;
}

}  // namespace

CheckpointModel load_checkpoint_model(const std::string& path) {
  CheckpointReader reader(path);
  CheckpointModel out;
  try {
    out.config = nlohmann::json::parse(reader.state().config_json);
  } catch (const std::exception&) {
    throw std::runtime_error("checkpoint '" + path + "': its configuration is not valid JSON");
  }
  if (!out.config.contains("model")) throw std::runtime_error("checkpoint '" + path + "': its configuration names no model");
  out.model = std::make_shared<models::Model>(models::create_model(model_config(out.config["model"])));
  reader.load_model(out.model->module());
  // last.ckpt of a run with a weight average holds the live weights and, beside them, the average
  // that the run validates and exports: use the average (best.ckpt holds it as the model already).
  if (const auto average = reader.weight_average(); !average.empty()) {
    copy_average(average, averaged_tensors(out.model->module()), "checkpoint '" + path + "'");
  }
  return out;
}

void export_checkpoint(const std::string& checkpoint, const std::string& out, bool optimize) {
  auto loaded = load_checkpoint_model(checkpoint);
  models::ExportOptions options;
  options.optimize = optimize;
  options.metadata_json = run_metadata(loaded.config).dump();
  models::export_torchscript(*loaded.model, out, options);
}

void choose_layout(Predictor& p, Layout requested, const std::vector<int64_t>& example_shape) {
  if (p.kind == "onnx") return;  // OpenCV DNN lays out its own blobs: nothing to choose
  const auto& m = p.meta.at("model");
  const models::ModelConfig config{m.at("name").get<std::string>(), m.at("classes").get<int64_t>(),
                                   m.at("in_channels").get<int64_t>(), m.at("options").dump()};
  const auto example = torch::zeros(example_shape).to(p.device);
  LayoutProbeOptions probe;
  probe.cache_file = default_layout_cache();
  probe.workload = workload_key("infer " + p.kind, config, example, p.device, false);
  const auto forward = p.forward;
  const auto set = p.set_layout;
  p.layout = choose_layout(requested, [&](bool cl) {
    set(cl);
    return inference_pass(forward, example)(cl);
  }, probe);
  p.set_layout(p.layout.channels_last);
}

std::string run_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return path;
  const auto best = fs::path(path) / "best.ckpt", last = fs::path(path) / "last.ckpt";
  if (fs::exists(best, ec) || !fs::exists(last, ec)) return best.string();
  std::cerr << "note: " << path << " has no best.ckpt (a run without validation): using last.ckpt\n";
  return last.string();
}

Predictor load_predictor(const std::string& path, const std::string& device_name, bool optimize) {
  const torch::Device device(device_name);
  if (device.is_cuda() && !torch::cuda::is_available()) throw std::runtime_error("--device cuda: no CUDA device");
  std::error_code ec;
  const auto file = run_checkpoint(path);
  if (!fs::exists(file, ec)) throw std::runtime_error("model file '" + file + "' does not exist");
  if (is_checkpoint(file)) return from_checkpoint(file, device);
  if (fs::path(file).extension() == ".onnx") return load_onnx_predictor(file, device);
  return from_torchscript(file, device, optimize);
}

}  // namespace skipzoo::app
