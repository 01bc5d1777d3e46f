#pragma once
/// @file
/// ONNX export of zoo models, written node by node from C++ through the ONNX twins
/// (onnx_graph.h): an eval-mode graph with float32 initialisers named as the state_dict keys,
/// input "input" (N, C, H, W) or (N, F) for the MLP, output "logits", and skipzoo.json (the
/// TorchScript export's metadata, with "format": "skipzoo.onnx" and an "onnx" object) in the
/// model's metadata_props. Every file is checked with onnx::checker before it is renamed into
/// place. OpenCV DNN (4.6) runs the `multiple` and `static` graphs; a U-Net exported with
/// `dynamic` shapes pads and crops inside the graph, which needs ONNX Runtime.
#include <skipzoo/models/export.h>
#include <skipzoo/models/onnx_graph.h>
#include <skipzoo/models/registry.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace skipzoo::models {

/// skipzoo.json's "format" value in ONNX files.
constexpr const char* kOnnxExportFormat = "skipzoo.onnx";
/// The metadata_props key that holds skipzoo.json.
constexpr const char* kOnnxMetadataKey = "skipzoo.json";
/// The lowest opset export_onnx() writes.
constexpr int64_t kOnnxMinOpset = 13;
/// The highest opset export_onnx() writes (the newest that libonnx 1.12 knows).
constexpr int64_t kOnnxMaxOpset = 17;

/// Parses "dynamic", "multiple" or "static:HxW" (e.g. "static:512x512"). Throws
/// std::invalid_argument for anything else, or for a size that is not positive.
OnnxShapes parse_onnx_shapes(const std::string& text);
/// The text parse_onnx_shapes() reads back, e.g. "static:512x768".
std::string onnx_shapes_name(const OnnxShapes& shapes);

/// Options of export_onnx().
struct OnnxOptions {
  /// How H and W are declared (the batch is always symbolic).
  OnnxShapes shapes;
  /// The opset, kOnnxMinOpset..kOnnxMaxOpset.
  int64_t opset = 13;
  /// Application fields merged into skipzoo.json, as ExportOptions::metadata_json (checked the
  /// same way); "onnx" is written by the exporter and cannot be set.
  std::string metadata_json = "{}";
};

/// skipzoo.json for an ONNX file: export_metadata()'s, with "format": kOnnxExportFormat and
/// "onnx": {opset, shapes, input, output, runtimes} ("onnxruntime, opencv" when
/// OpenCV DNN can run it, "onnxruntime" for a U-Net with dynamic shapes). Throws as export_metadata() does,
/// and std::invalid_argument when metadata_json sets "onnx".
std::string onnx_metadata(const Model& model, const OnnxOptions& options = {});

/// The graph of model.net as export_onnx() writes it, output renamed to "logits", nothing
/// checked or written. Throws std::invalid_argument for an opset outside 13..17, static sizes
/// below 1, a static size that is not a multiple of input_multiple() (registry.h) (naming the module and
/// the option), static shapes for the MLP, and anything to_onnx() cannot express.
OnnxGraph onnx_graph(const Model& model, const OnnxOptions& options = {});

/// Builds the graph (onnx_graph()), embeds skipzoo.json, checks the ModelProto that is then
/// serialised with onnx::checker::check_model and strict shape inference, and writes `path`
/// atomically (a temporary file renamed into place). A model or option that cannot be expressed
/// throws std::invalid_argument before anything is written. Throws ExportError naming `path`
/// when the checks reject the model (a skipzoo bug) or the file cannot be written; no partial
/// file is left behind.
void export_onnx(const Model& model, const std::string& path, const OnnxOptions& options = {});

/// What an ONNX file holds, for tests and deployment code.
struct OnnxFileInfo {
  int64_t ir_version = 0;                          ///< ModelProto.ir_version
  int64_t opset = 0;                               ///< the default domain's opset
  std::string producer;                            ///< producer_name, "skipzoo" for skipzoo's exports
  std::map<std::string, std::string> metadata;     ///< metadata_props (skipzoo.json under kOnnxMetadataKey)
  std::vector<std::string> inputs, outputs;        ///< graph input and output names
  /// Dims of the first input and the first output: a size, or -1 for a symbolic or unknown one.
  std::vector<int64_t> input_dims, output_dims;
  /// dim_param of each of those dims ("" for fixed or unnamed ones).
  std::vector<std::string> input_params, output_params;
  std::vector<std::string> float_initializers;     ///< names of float32 initialisers, in file order
  std::vector<std::string> other_initializers;     ///< names of the other initialisers
  bool float16 = false;                            ///< whether any initialiser is float16
  std::vector<std::string> op_types;               ///< op_type of each node, in graph order
  /// kernel_shape of each Conv/ConvTranspose node; empty for one without the attribute.
  std::vector<std::vector<int64_t>> conv_kernel_shapes;
};

/// Reads and checks an ONNX file (onnx::checker::check_model). Throws ExportError naming `path`
/// when it is missing, empty, not an ONNX model (e.g. truncated) or fails the checker.
OnnxFileInfo inspect_onnx(const std::string& path);

}  // namespace skipzoo::models
