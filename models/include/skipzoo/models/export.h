#pragma once
/// @file
/// TorchScript export of zoo models, built from C++ through the script twins (script.h): the
/// archive runs in Python (torch.jit.load) and C++ (torch::jit::load) and accepts any input
/// size that the eager model accepts. It carries a JSON extra file, skipzoo.json, with all
/// that deployment code needs (docs/export.md lists its keys).
#include <skipzoo/models/registry.h>
#include <skipzoo/models/weights.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace skipzoo::models {

/// The name of the JSON extra file in an exported archive.
constexpr const char* kMetadataFile = "skipzoo.json";
/// skipzoo.json's "format" value.
constexpr const char* kExportFormat = "skipzoo.torchscript";
/// skipzoo.json's "format_version"; load_torchscript() rejects files with a newer one.
constexpr int kExportFormatVersion = 1;

/// A TorchScript file that cannot be used or written; the message names the file and the reason.
/// Bad files found before loading (missing, empty, not a zip, truncated) throw the base
/// WeightsError instead.
class ExportError : public WeightsError {
 public:
  /// Takes the message, as std::runtime_error does.
  using WeightsError::WeightsError;
};

/// Options of export_torchscript() and export_metadata().
struct ExportOptions {
  /// eval + torch::jit::freeze with its numeric optimizations (conv-BN folding, conv add/mul
  /// folding): an inference-only file whose weights are graph constants. LibTorch 1.13 cannot
  /// store optimize_for_inference's oneDNN graph (loading it fails: "required keyword attribute
  /// 'value' is undefined"), so that last step runs after loading: optimize_for_inference_cpu.
  bool optimize = false;
  /// Application fields merged into skipzoo.json: class_names, normalization {mean, std}, patch,
  /// tile, overlap, mask_mapping, ... (docs/export.md; skipzoo::data::DeployInfo reads, writes
  /// and checks them). A JSON object, kept as given; the keys skipzoo writes itself (format,
  /// format_version, skipzoo_version, torch_version, model, task, optimized) cannot be overridden.
  std::string metadata_json = "{}";
};

/// skipzoo.json for `model`: format, format_version, skipzoo_version, torch_version,
/// model {name, classes, in_channels, options}, task, optimized, and the merged app fields.
/// Throws std::invalid_argument when metadata_json is not a JSON object or sets a key skipzoo
/// writes itself.
std::string export_metadata(const Model& model, const ExportOptions& options = {});

/// The TorchScript module of model.net, in eval mode, on the CPU, with its own copy of the
/// tensors (the eager model is never changed); frozen (ExportOptions::optimize) when `freeze`.
/// Throws as to_torchscript() does for a module without a twin.
torch::jit::Module script_model(const Model& model, bool freeze = false);

/// For CPU inference: freezes the module if it is not frozen yet (eval first), then runs
/// torch::jit::optimize_for_inference (oneDNN convolutions, linear transposes). The result
/// lives in memory only: LibTorch 1.13 cannot reload it from a file.
torch::jit::Module optimize_for_inference_cpu(torch::jit::Module module);

/// Builds the twin of model.net, embeds skipzoo.json, writes `path` atomically (no partial file
/// on any failure). Always exports from CPU copies, in eval mode. Throws std::invalid_argument
/// for bad metadata (see export_metadata; checked before any other work), as to_torchscript()
/// does for a module without a twin, and ExportError naming `path` when the file cannot be written.
void export_torchscript(const Model& model, const std::string& path, const ExportOptions& options = {});

/// A loaded TorchScript archive and its metadata.
struct ScriptModel {
  torch::jit::Module module;  ///< on the CPU, as saved (eval mode for skipzoo exports)
  std::string metadata_json;  ///< skipzoo.json, or "{}" for TorchScript written elsewhere
};

/// Loads a TorchScript archive onto the CPU. A skipzoo export comes with its skipzoo.json; any
/// other TorchScript archive loads too, with metadata "{}". Throws WeightsError for a missing,
/// empty, non-zip or truncated file (checked before loading), and ExportError naming the file
/// for a zip that is not TorchScript (e.g. a torch.save state dict), a file torch::jit::load
/// rejects, and a skipzoo.json that is not a JSON object or has a newer format_version.
ScriptModel load_torchscript(const std::string& path);

/// The state_dict prefixes of the layer whose shape depends on `classes` (ResNet "fc.", U-Net
/// "head.", the MLP's last linear layer): what `--skip-head` leaves out when importing weights.
/// Empty for models without a head (the blocks, a ResNet with num_classes 0).
std::vector<std::string> head_prefixes(const Model& model);

}  // namespace skipzoo::models
