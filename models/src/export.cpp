#include <nlohmann/json.hpp>
#include <skipzoo/models/export.h>
#include <skipzoo/models/mlp.h>
#include <skipzoo/models/resnet.h>
#include <skipzoo/models/script.h>
#include <skipzoo/models/unet.h>
#include <skipzoo/models/unet_resnet.h>
#include <skipzoo/models/weights.h>
#include <torch/version.h>

#include <set>

#include "archive.h"

namespace skipzoo::models {

namespace {

using json = nlohmann::json;

// The keys skipzoo writes itself; app metadata may not replace them.
const std::set<std::string>& reserved_keys() {
  static const std::set<std::string> keys = {"format", "format_version", "skipzoo_version", "torch_version",
                                             "model",  "task",           "optimized"};
  return keys;
}

std::string metadata_error(const std::string& path, const std::string& why) {
  return "TorchScript file '" + path + "': its " + std::string(kMetadataFile) + " " + why;
}

}  // namespace

std::string export_metadata(const Model& model, const ExportOptions& options) {
  json app;
  try {
    app = json::parse(options.metadata_json.empty() ? "{}" : options.metadata_json);
  } catch (const json::parse_error& e) {
    throw std::invalid_argument(std::string("export metadata is not valid JSON: ") + e.what());
  }
  if (!app.is_object()) throw std::invalid_argument("export metadata must be a JSON object, got " + app.dump());
  for (const auto& item : app.items()) {
    if (reserved_keys().count(item.key())) {
      throw std::invalid_argument("export metadata: '" + item.key() + "' is written by skipzoo and cannot be set");
    }
  }

  json options_object = json::parse(model.config.options.empty() ? "{}" : model.config.options);
  json meta = {{"format", kExportFormat},
               {"format_version", kExportFormatVersion},
               {"skipzoo_version", SKIPZOO_VERSION},
               {"torch_version", TORCH_VERSION},
               {"model",
                {{"name", model.config.name},
                 {"classes", model.config.classes},
                 {"in_channels", model.config.in_channels},
                 {"options", options_object},
                 {"input_multiple", input_multiple(model)}}},
               {"task", model.task},
               {"optimized", options.optimize}};
  meta.update(app);
  return meta.dump(2);
}

torch::jit::Module script_model(const Model& model, bool freeze) {
  auto twin = to_torchscript(model.module());
  twin.to(torch::kCPU);      // gives the twin CPU copies of device tensors
  twin = twin.deepcopy();    // and its own CPU tensors, so nothing done to it reaches the eager model
  twin.eval();
  return freeze ? torch::jit::freeze(twin) : twin;
}

torch::jit::Module optimize_for_inference_cpu(torch::jit::Module module) {
  if (module.hasattr("training")) {  // frozen modules have no attributes left
    module.eval();
    module = torch::jit::freeze(module);
  }
  return torch::jit::optimize_for_inference(module);
}

void export_torchscript(const Model& model, const std::string& path, const ExportOptions& options) {
  const std::string metadata = export_metadata(model, options);  // bad metadata fails before any work
  auto module = script_model(model, options.optimize);
  const torch::jit::ExtraFilesMap extra{{kMetadataFile, metadata}};
  try {
    std::ostringstream bytes;  // in memory first: the archive writer cannot report a full disk
    module.save(bytes, extra);
    write_file_atomic(path, bytes.str());
  } catch (const std::exception& e) {
    throw ExportError("cannot write TorchScript file '" + path + "': " + detail::brief(e));
  }
}

ScriptModel load_torchscript(const std::string& path) {
  const auto archive = detail::inspect_archive(path, "TorchScript file");
  if (!archive.torchscript) {
    throw ExportError("'" + path + "' is not a TorchScript archive (a torch.save file such as a state dict?); "
                      "export one with `skipzoo export` or torch.jit.save");
  }
  torch::jit::ExtraFilesMap extra{{kMetadataFile, ""}};
  ScriptModel out;
  try {
    out.module = torch::jit::load(path, torch::kCPU, extra);
  } catch (const std::exception& e) {
    throw ExportError("cannot load TorchScript file '" + path + "': " + detail::brief(e));
  }
  out.metadata_json = extra[kMetadataFile].empty() ? "{}" : extra[kMetadataFile];
  json meta;
  try {
    meta = json::parse(out.metadata_json);
  } catch (const json::parse_error& e) {
    throw ExportError(metadata_error(path, std::string("is not valid JSON: ") + e.what()));
  }
  if (!meta.is_object()) throw ExportError(metadata_error(path, "is not a JSON object"));
  if (meta.contains("format_version")) {
    const auto& v = meta["format_version"];
    if (!v.is_number_integer() || v.get<int64_t>() > kExportFormatVersion) {
      throw ExportError(metadata_error(path, "has format_version " + v.dump() + "; this skipzoo (" +
                                                 std::string(SKIPZOO_VERSION) + ") reads versions up to " +
                                                 std::to_string(kExportFormatVersion)));
    }
  }
  return out;
}

std::vector<std::string> head_prefixes(const Model& model) {
  const auto& m = model.module();
  if (const auto* resnet = dynamic_cast<const ResNetImpl*>(&m)) {
    if (resnet->fc) return {"fc."};
    return {};
  }
  if (dynamic_cast<const UNetImpl*>(&m) || dynamic_cast<const UNetResNetImpl*>(&m)) return {"head."};
  if (const auto* mlp = dynamic_cast<const MLPImpl*>(&m)) return {"layers." + std::to_string(mlp->layers->size() - 1) + "."};
  return {};
}

}  // namespace skipzoo::models
