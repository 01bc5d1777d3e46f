// `skipzoo export`: a zoo model (seeded initialisation, imported weights, or a training run's
// checkpoint) as a TorchScript or ONNX file with skipzoo.json inside, and optionally as a plain
// state dict for Python/torchvision.
#include <skipzoo/data/deploy.h>
#include <skipzoo/models/analysis.h>
#include <skipzoo/models/export.h>
#include <skipzoo/models/onnx.h>
#include <skipzoo/models/weights.h>

#include <cctype>
#include <filesystem>
#include <iostream>

#include "cli/cli.h"
#include "engine/predictor.h"
#include "cli/model_flags.h"

namespace fs = std::filesystem;

namespace skipzoo::app {

namespace {

struct ExportFlags {
  models::ModelConfig config;
  std::string weights;
  bool no_strict = false;
  bool skip_head = false;
  uint64_t seed = 0;
  std::string checkpoint;  // a run checkpoint or run directory instead of --model
  std::string out, state_dict, metadata = "{}";
  bool optimize = false;
  std::string layout = "auto";  // --optimize: the input layout recorded in skipzoo.json
  std::string format = "auto";  // auto (by --out's extension), torchscript or onnx
  std::string onnx_shapes = "multiple";
  models::OnnxOptions onnx;
};

bool wants_onnx(const ExportFlags& f) {
  if (f.format != "auto") return f.format == "onnx";
  auto ext = fs::path(f.out).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".onnx";
}

// The ONNX graph's H and W must take the tiles predict will feed it (images smaller than a tile
// are padded up to it), so a fixed-size graph is checked against the deployment record here,
// before anything is written.
void check_onnx_tiles(const models::Model& model, const data::DeployInfo& info, const models::OnnxShapes& shapes) {
  if (model.task != "segmentation" || shapes.mode == models::OnnxShapeMode::Dynamic) return;
  const auto tile = info.tile_side(), multiple = models::input_multiple(model);
  const auto fix = " (set the tile with --metadata '{\"tile\": N}', or use --onnx-shapes dynamic, which needs "
                   "ONNX Runtime)";
  if (shapes.mode == models::OnnxShapeMode::Static && (shapes.height != tile || shapes.width != tile)) {
    throw UsageError("--onnx-shapes " + models::onnx_shapes_name(shapes) + ": predict feeds " + std::to_string(tile) +
                     "x" + std::to_string(tile) + " tiles to this model" + fix);
  }
  if (tile % multiple != 0) {
    throw UsageError("--onnx-shapes " + models::onnx_shapes_name(shapes) + ": '" + model.config.name + "' takes sides " +
                     "that are multiples of " + std::to_string(multiple) + ", but its tile is " +
                     std::to_string(tile) + fix);
  }
}

void write_onnx_export(const models::Model& model, const ExportFlags& f, const models::ExportOptions& options) {
  if (f.optimize) throw UsageError("--optimize applies to TorchScript; an ONNX runtime optimizes the graph itself");
  if (!f.state_dict.empty() && fs::path(f.state_dict) == fs::path(f.out)) {
    throw UsageError("--state-dict and --out name the same file '" + f.out + "'");
  }
  auto onnx = f.onnx;
  onnx.metadata_json = options.metadata_json;
  try {
    onnx.shapes = models::parse_onnx_shapes(f.onnx_shapes);
    check_onnx_tiles(model, data::DeployInfo::from_json(options.metadata_json), onnx.shapes);
    models::export_onnx(model, f.out, onnx);
  } catch (const std::invalid_argument& e) {  // what the writer cannot express, before writing
    throw UsageError(e.what());
  }
  if (!f.state_dict.empty()) models::save_state_dict(model.module(), f.state_dict);
  std::cout << "wrote " << f.out << " (" << model.config.name << ", ONNX opset " << onnx.opset << ", shapes "
            << models::onnx_shapes_name(onnx.shapes) << ", " << models::count_parameters(model.module())
            << " parameters)\n";
  if (!f.state_dict.empty()) std::cout << "wrote " << f.state_dict << " (state dict)\n";
}

// Where and how to write a model. Kept apart from where the model comes from (flags now, a
// run checkpoint later), so that every source shares the same outputs.
struct ExportOutputs {
  std::string script_path;
  std::string state_dict_path;  // "" for none
  models::ExportOptions options;
};

void write_exports(const models::Model& model, const ExportOutputs& outputs) {
  if (!outputs.state_dict_path.empty() && fs::path(outputs.state_dict_path) == fs::path(outputs.script_path)) {
    throw UsageError("--state-dict and --out name the same file '" + outputs.script_path + "'");
  }
  models::export_torchscript(model, outputs.script_path, outputs.options);
  if (!outputs.state_dict_path.empty()) {
    try {
      models::save_state_dict(model.module(), outputs.state_dict_path);
    } catch (...) {
      std::error_code ec;  // all or nothing: no export without the state dict that was asked for
      fs::remove(outputs.script_path, ec);
      throw;
    }
  }
  std::cout << "wrote " << outputs.script_path << " (" << model.config.name << ", "
            << models::count_parameters(model.module()) << " parameters"
            << (outputs.options.optimize ? ", frozen for inference" : "") << ")\n";
  if (!outputs.state_dict_path.empty()) std::cout << "wrote " << outputs.state_dict_path << " (state dict)\n";
}

// --optimize: the input layout the frozen, oneDNN-optimized model runs faster in on this machine
// (`auto` times it on a tile, or the model's default input), recorded in skipzoo.json as
// "layout" {layout, contiguous_s, channels_last_s, machine} for deployment code. Vector models
// have no layout.
void record_layout(const models::Model& model, models::ExportOptions& options, Layout requested) {
  auto shape = models::default_input_shape(model);
  if (shape.size() != 3) return;
  auto meta = nlohmann::json::parse(options.metadata_json, nullptr, /*allow_exceptions=*/false);
  if (!meta.is_object()) return;  // the export itself reports bad metadata
  if (meta.contains("tile") && meta["tile"].is_number_integer()) shape[1] = shape[2] = meta["tile"].get<int64_t>();
  shape.insert(shape.begin(), 1);
  auto module = std::make_shared<torch::jit::Module>(models::optimize_for_inference_cpu(models::script_model(model, true)));
  const auto forward = [module](const torch::Tensor& x) { return module->forward({x}).toTensor(); };
  LayoutProbeOptions probe;
  probe.cache_file = default_layout_cache();
  probe.workload = workload_key("infer optimized", model.config, torch::zeros(shape), torch::kCPU, false);
  const auto choice = choose_layout(requested, inference_pass(forward, torch::zeros(shape)), probe);
  auto record = choice.to_json();
  record["machine"] = machine_key();
  meta["layout"] = record;
  options.metadata_json = meta.dump();
  std::cout << "layout: " << choice.describe() << "\n";
}

void import_weights(models::Model& model, const ExportFlags& f) {
  models::LoadOptions load;
  load.strict = !f.no_strict;
  if (f.skip_head) {
    load.skip_prefixes = models::head_prefixes(model);
    if (load.skip_prefixes.empty()) throw UsageError("--skip-head: model '" + model.config.name + "' has no head");
  }
  const auto report = models::load_weights(model.module(), f.weights, load);
  if (report.loaded.empty()) {
    throw UsageError("no tensor in '" + f.weights + "' matches model '" + model.config.name + "':\n" +
                     report.summary());
  }
  std::cout << "loaded " << report.loaded.size() << " tensors from " << f.weights << "\n";
  if (!report.clean() || !report.skipped.empty()) {
    std::cout << "not loaded (the model keeps its own values):\n" << report.summary();
  }
}

models::Model model_from_flags(const ExportFlags& f) {
  auto model = create_model_from_flags(f.config, f.seed);
  if (!f.weights.empty()) import_weights(model, f);
  return model;
}

// A run's checkpoint (or its directory's best.ckpt, else last.ckpt) with the run's metadata
// (task, classes, normalisation, tiling), --metadata merged over it.
models::Model model_from_checkpoint(const ExportFlags& f, models::ExportOptions& options) {
  std::error_code ec;
  const auto path = run_checkpoint(f.checkpoint);
  if (!fs::exists(path, ec)) throw UsageError("--checkpoint: '" + path + "' does not exist");
  const auto loaded = load_checkpoint_model(path);
  auto metadata = run_metadata(loaded.config);
  try {
    metadata.merge_patch(nlohmann::json::parse(f.metadata));
  } catch (const nlohmann::json::exception& e) {
    throw UsageError("--metadata is not a JSON object: " + std::string(e.what()));
  }
  options.metadata_json = metadata.dump();
  return *loaded.model;
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "write a model as TorchScript or ONNX (+ skipzoo.json metadata) for Python, "
                                           "C++, OpenCV DNN or ONNX Runtime");
  auto f = std::make_shared<ExportFlags>();
  auto* model = cmd->add_option("--model", f->config.name, "model name (see `skipzoo models`)");
  auto* checkpoint = cmd->add_option("--checkpoint", f->checkpoint,
                                     "a `skipzoo train` checkpoint, or a run directory (its best.ckpt), instead of "
                                     "--model: its weights and the run's metadata");
  model->excludes(checkpoint);
  add_model_config_flags(cmd, f->config);
  cmd->add_option("--weights", f->weights,
                  "initial weights: a torch.save(dict(model.state_dict()), f) file or a TorchScript archive "
                  "(default: the seeded initialisation)");
  auto* strict = cmd->add_flag("--strict", "every tensor of the model must be in --weights with its shape, and "
                                           "nothing else (the default)");
  cmd->add_flag("--no-strict", f->no_strict, "load the tensors of --weights that match, report the rest (default: off)")
      ->excludes(strict);
  cmd->add_flag("--skip-head", f->skip_head,
                "keep the model's own head (fc / head / last linear layer) instead of the file's, e.g. for "
                "another --classes (default: off)");
  cmd->add_option("--seed", f->seed, "seed of the initialisation")->capture_default_str();
  cmd->add_option("--out", f->out, "file to write (atomically): TorchScript, or ONNX for a .onnx name")->required();
  cmd->add_option("--format", f->format, "auto (ONNX for a .onnx --out, else TorchScript), torchscript or onnx")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "torchscript", "onnx"}));
  auto* onnx_shapes =
      cmd->add_option("--onnx-shapes", f->onnx_shapes,
                      "ONNX input H x W: multiple (a multiple of 2^depth for U-Nets, any size otherwise; OpenCV DNN "
                      "and ONNX Runtime run it), static:HxW (fixed; both runtimes), or dynamic (U-Nets pad and crop "
                      "inside the graph; ONNX Runtime only)")
          ->capture_default_str();
  auto* opset = cmd->add_option("--opset", f->onnx.opset, "ONNX opset")
      ->capture_default_str()
      ->check(CLI::Range(models::kOnnxMinOpset, models::kOnnxMaxOpset));
  cmd->add_flag("--optimize", f->optimize,
                "freeze with conv-BN folding: an inference-only file; run optimize_for_inference (oneDNN) after "
                "loading it (default: off)");
  cmd->add_option("--layout", f->layout,
                  "with --optimize: the input layout to record in skipzoo.json for deployment: auto (time the "
                  "optimized model in both on this machine), channels-last or contiguous")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "channels-last", "contiguous"}));
  cmd->add_option("--state-dict", f->state_dict,
                  "also write the weights as a plain {name: tensor} dict for torch.load / torchvision "
                  "(default: none)");
  cmd->add_option("--metadata", f->metadata,
                  "JSON object merged into skipzoo.json, e.g. '{\"class_names\": [\"bg\", \"cell\"]}' "
                  "(docs/export.md lists the keys)")
      ->capture_default_str();
  on_run(cmd, [f, onnx_shapes, opset] {
    if (!wants_onnx(*f) && (onnx_shapes->count() > 0 || opset->count() > 0)) {
      throw UsageError("--onnx-shapes and --opset apply to ONNX exports (--format onnx or an --out ending in .onnx)");
    }
    ExportOutputs outputs{f->out, f->state_dict, {}};
    outputs.options.optimize = f->optimize;
    outputs.options.metadata_json = f->metadata;
    if (f->checkpoint.empty() && f->config.name.empty()) throw UsageError("export needs --model NAME or --checkpoint RUN");
    if (!f->checkpoint.empty() && (!f->weights.empty() || f->config.classes != -1 || f->config.in_channels != -1 ||
                                   f->config.options != "{}")) {
      throw UsageError("--checkpoint brings its own model and weights: drop --weights, --classes, --in-channels and "
                       "--options");
    }
    const auto model = f->checkpoint.empty() ? model_from_flags(*f) : model_from_checkpoint(*f, outputs.options);
    try {  // the application fields, checked against the model (e.g. one class name per class)
      data::DeployInfo::from_json(outputs.options.metadata_json).validate(model.config.classes, model.config.in_channels);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--metadata: ") + e.what());
    }
    if (wants_onnx(*f)) return write_onnx_export(model, *f, outputs.options);
    try {
      if (f->optimize) record_layout(model, outputs.options, parse_layout(f->layout));
      write_exports(model, outputs);
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
  });
}

}  // namespace skipzoo::app
