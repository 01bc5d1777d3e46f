// Reading ONNX files back: what tests and deployment code check (metadata, names, shapes).
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <skipzoo/models/onnx.h>

#include <filesystem>
#include <fstream>

#include "archive.h"

namespace skipzoo::models {

namespace {

onnx::ModelProto read_model(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw ExportError("ONNX file '" + path + "' does not exist");
  if (fs::is_directory(path, ec)) throw ExportError("ONNX file '" + path + "' is a folder");
  if (fs::file_size(path, ec) == 0) throw ExportError("ONNX file '" + path + "' is empty");
  onnx::ModelProto m;
  std::ifstream in(path, std::ios::binary);
  if (!in || !m.ParseFromIstream(&in) || !m.has_graph()) {
    throw ExportError("'" + path + "' is not an ONNX model (truncated or corrupt?)");
  }
  try {
    onnx::checker::check_model(m);
  } catch (const std::exception& e) {
    throw ExportError("ONNX file '" + path + "' fails onnx::checker: " + detail::brief(e));
  }
  return m;
}

void read_dims(const onnx::ValueInfoProto& v, std::vector<int64_t>& dims, std::vector<std::string>& params) {
  for (const auto& d : v.type().tensor_type().shape().dim()) {
    dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    params.push_back(d.dim_param());
  }
}

}  // namespace

OnnxFileInfo inspect_onnx(const std::string& path) {
  const auto m = read_model(path);
  OnnxFileInfo info;
  info.ir_version = m.ir_version();
  for (const auto& op : m.opset_import()) {
    if (op.domain().empty() || op.domain() == "ai.onnx") info.opset = op.version();
  }
  info.producer = m.producer_name();
  for (const auto& p : m.metadata_props()) info.metadata[p.key()] = p.value();
  const auto& g = m.graph();
  for (const auto& v : g.input()) info.inputs.push_back(v.name());
  for (const auto& v : g.output()) info.outputs.push_back(v.name());
  if (g.input_size() > 0) read_dims(g.input(0), info.input_dims, info.input_params);
  if (g.output_size() > 0) read_dims(g.output(0), info.output_dims, info.output_params);
  for (const auto& t : g.initializer()) {
    const bool is_float = t.data_type() == onnx::TensorProto_DataType_FLOAT;
    (is_float ? info.float_initializers : info.other_initializers).push_back(t.name());
    info.float16 = info.float16 || t.data_type() == onnx::TensorProto_DataType_FLOAT16;
  }
  for (const auto& n : g.node()) {
    info.op_types.push_back(n.op_type());
    if (n.op_type() != "Conv" && n.op_type() != "ConvTranspose") continue;
    std::vector<int64_t> kernel;
    for (const auto& a : n.attribute()) {
      if (a.name() == "kernel_shape") kernel.assign(a.ints().begin(), a.ints().end());
    }
    info.conv_kernel_shapes.push_back(kernel);
  }
  return info;
}

}  // namespace skipzoo::models
