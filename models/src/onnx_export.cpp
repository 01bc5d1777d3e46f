// ONNX export: the OnnxGraph of the twins becomes a ModelProto with declared input and output
// shapes and skipzoo.json, checked (onnx::checker and strict shape inference) before the file is
// renamed into place.
#include <nlohmann/json.hpp>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#include <skipzoo/models/onnx.h>
#include <skipzoo/models/unet.h>
#include <skipzoo/models/unet_resnet.h>

#include <fstream>
#include <regex>

#include "archive.h"

namespace skipzoo::models {

namespace {

using json = nlohmann::json;

// A declared dim: a size, a symbol, or neither (unknown).
struct Dim {
  int64_t value = -1;
  std::string param;
};

bool image_input(const Model& model) {
  try {
    return find_model(model.config.name).image_input;
  } catch (const std::invalid_argument&) {
    return true;  // a Model assembled outside the registry is taken as an image model
  }
}

std::vector<Dim> input_dims(const Model& model, const OnnxShapes& shapes) {
  if (model.config.in_channels < 1) {
    throw std::invalid_argument("ONNX export: the model's in_channels is not known (" +
                                std::to_string(model.config.in_channels) + "); create it through the registry");
  }
  std::vector<Dim> dims{{-1, "batch"}, {model.config.in_channels, ""}};
  if (!image_input(model)) return dims;
  if (shapes.mode == OnnxShapeMode::Static) return {dims[0], dims[1], {shapes.height, ""}, {shapes.width, ""}};
  return {dims[0], dims[1], {-1, "height"}, {-1, "width"}};
}

void declare(onnx::ValueInfoProto& v, const std::string& name, const std::vector<Dim>* dims) {
  v.set_name(name);
  auto* type = v.mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto_DataType_FLOAT);
  if (dims == nullptr) return;
  auto* shape = type->mutable_shape();
  for (const auto& d : *dims) {
    auto* dim = shape->add_dim();
    if (d.value >= 0) dim->set_dim_value(d.value);
    else if (!d.param.empty()) dim->set_dim_param(d.param);
  }
}

void fill_attribute(onnx::AttributeProto& a, const OnnxAttribute& attr) {
  a.set_name(attr.name);
  switch (attr.kind) {
    case OnnxAttribute::Kind::Int: a.set_type(onnx::AttributeProto_AttributeType_INT); a.set_i(attr.i); break;
    case OnnxAttribute::Kind::Float: a.set_type(onnx::AttributeProto_AttributeType_FLOAT); a.set_f(attr.f); break;
    case OnnxAttribute::Kind::String: a.set_type(onnx::AttributeProto_AttributeType_STRING); a.set_s(attr.s); break;
    case OnnxAttribute::Kind::Ints:
      a.set_type(onnx::AttributeProto_AttributeType_INTS);
      for (auto v : attr.ints) a.add_ints(v);
      break;
  }
}

// raw_data is little-endian, as x86 and ARM store these tensors.
void fill_tensor(onnx::TensorProto& t, const OnnxInitializer& init) {
  t.set_name(init.name);
  for (auto s : init.value.sizes()) t.add_dims(s);
  const bool is_float = init.value.scalar_type() == torch::kFloat32;
  if (!is_float && init.value.scalar_type() != torch::kInt64) throw std::logic_error("ONNX initialiser of an unexpected type");
  t.set_data_type(is_float ? onnx::TensorProto_DataType_FLOAT : onnx::TensorProto_DataType_INT64);
  t.set_raw_data(init.value.data_ptr(), init.value.numel() * init.value.element_size());
}

onnx::ModelProto to_proto(const OnnxGraph& g, const Model& model, const std::vector<Dim>& input,
                          const std::string& metadata) {
  onnx::ModelProto m;
  m.set_ir_version(g.opset() >= 15 ? 8 : 7);  // the IR version that came with each opset
  m.set_producer_name("skipzoo");
  m.set_producer_version(SKIPZOO_VERSION);
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(g.opset());
  auto* graph = m.mutable_graph();
  graph->set_name(model.config.name.empty() ? "model" : model.config.name);
  for (const auto& node : g.nodes()) {
    auto* n = graph->add_node();
    n->set_op_type(node.op_type);
    n->set_name(node.name);
    for (const auto& in : node.inputs) n->add_input(in);
    for (const auto& out : node.outputs) n->add_output(out);
    for (const auto& attr : node.attributes) fill_attribute(*n->add_attribute(), attr);
  }
  for (const auto& init : g.initializers()) fill_tensor(*graph->add_initializer(), init);
  declare(*graph->add_input(), g.input(), &input);
  declare(*graph->add_output(), "logits", nullptr);  // its shape comes from inference (declare_output)
  auto* prop = m.add_metadata_props();
  prop->set_key(kOnnxMetadataKey);
  prop->set_value(metadata);
  return m;
}

// OpenCV needs the output's shape declared: what shape inference finds, with the batch symbol and,
// for segmentation (output H, W = input H, W), the input's spatial dims where it finds none.
void declare_output(onnx::ModelProto& m, const Model& model, const std::vector<Dim>& input) {
  onnx::shape_inference::InferShapes(m);
  const auto& type = m.graph().output(0).type().tensor_type();
  const bool segmentation = model.task == "segmentation" && input.size() == 4;
  std::vector<Dim> dims;
  if (type.has_shape()) {
    for (const auto& d : type.shape().dim()) dims.push_back({d.has_dim_value() ? d.dim_value() : -1, d.dim_param()});
  } else if (segmentation) {  // a U-Net that pads: Pad with computed pads hides the shape
    dims = {input[0], {model.config.classes, ""}, input[2], input[3]};
  } else {
    throw std::logic_error("shape inference found no shape for 'logits'");
  }
  if (!dims.empty()) dims[0] = input[0];
  for (size_t i = 2; i < dims.size() && i < input.size(); ++i) {  // inference's "unk__N" symbols
    if (dims[i].param.rfind("unk__", 0) == 0) dims[i].param = input[i].param.empty() ? "" : "out_" + input[i].param;
  }
  if (segmentation && dims.size() == 4) {
    for (size_t i : {2, 3}) dims[i] = dims[i].value >= 0 ? dims[i] : input[i];
  }
  m.mutable_graph()->clear_value_info();
  m.mutable_graph()->mutable_output(0)->Clear();
  declare(*m.mutable_graph()->mutable_output(0), "logits", &dims);
}

// The checks of the exact proto that is written, before anything is: onnx::checker, then strict
// shape inference with type checks (a declared output shape that disagrees fails here). The
// checker runs on the proto, not the file: check_model(path) took 7 s for wide_resnet101_2's
// 500 MB, 15x the time of parsing and checking it in memory.
void check(onnx::ModelProto& m) {
  onnx::checker::check_model(m);
  onnx::shape_inference::InferShapes(m, onnx::OpSchemaRegistry::Instance(),
                                     onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict_mode=*/1));
  m.mutable_graph()->clear_value_info();
}

std::string runtime_note(const Model& model, const OnnxOptions& options) {
  return input_multiple(model) > 1 && options.shapes.mode == OnnxShapeMode::Dynamic ? "onnxruntime"
                                                                                         : "onnxruntime, opencv";
}

}  // namespace

OnnxShapes parse_onnx_shapes(const std::string& text) {
  if (text == "dynamic") return {OnnxShapeMode::Dynamic, 0, 0};
  if (text == "multiple") return {OnnxShapeMode::Multiple, 0, 0};
  std::smatch m;
  static const std::regex fixed(R"(static:(\d{1,6})x(\d{1,6}))");
  if (std::regex_match(text, m, fixed)) {
    OnnxShapes s{OnnxShapeMode::Static, std::stoll(m[1]), std::stoll(m[2])};
    if (s.height > 0 && s.width > 0) return s;
  }
  throw std::invalid_argument("unknown ONNX shapes '" + text +
                              "' (expected \"dynamic\" (U-Nets pad inside the graph: ONNX Runtime), \"multiple\" or "
                              "\"static:HxW\" with positive H and W (no shape arithmetic: OpenCV DNN runs them))");
}

std::string onnx_shapes_name(const OnnxShapes& shapes) {
  switch (shapes.mode) {
    case OnnxShapeMode::Dynamic: return "dynamic";
    case OnnxShapeMode::Multiple: return "multiple";
    case OnnxShapeMode::Static: return "static:" + std::to_string(shapes.height) + "x" + std::to_string(shapes.width);
  }
  return "?";
}

std::string onnx_metadata(const Model& model, const OnnxOptions& options) {
  ExportOptions base;
  base.metadata_json = options.metadata_json;
  json meta = json::parse(export_metadata(model, base));  // checks the app fields
  if (json::parse(options.metadata_json.empty() ? "{}" : options.metadata_json).contains("onnx")) {
    throw std::invalid_argument("export metadata: 'onnx' is written by skipzoo and cannot be set");
  }
  meta["format"] = kOnnxExportFormat;
  meta["onnx"] = {{"opset", options.opset},
                  {"shapes", onnx_shapes_name(options.shapes)},
                  {"input", "input"},
                  {"output", "logits"},
                  {"runtimes", runtime_note(model, options)}};
  return meta.dump(2);
}

OnnxGraph onnx_graph(const Model& model, const OnnxOptions& options) {
  if (options.opset < kOnnxMinOpset || options.opset > kOnnxMaxOpset) {
    throw std::invalid_argument("ONNX export: opset " + std::to_string(options.opset) + " is outside " +
                                std::to_string(kOnnxMinOpset) + ".." + std::to_string(kOnnxMaxOpset) +
                                " (what the writer and libonnx 1.12 support)");
  }
  const auto& s = options.shapes;
  if (s.mode == OnnxShapeMode::Static && (s.height < 1 || s.width < 1)) {
    throw std::invalid_argument("ONNX export: static shapes need a positive H x W, got " + onnx_shapes_name(s));
  }
  if (s.mode == OnnxShapeMode::Static && !image_input(model)) {
    onnx_unsupported("", model.config.name, "static:HxW shapes apply to image inputs; its input is (N, features)");
  }
  OnnxGraph g(s, options.opset);
  auto out = to_onnx(g, model.module(), g.input(), "");
  if (out == g.input()) out = g.add("Identity", {out}, {}, "Identity");
  g.rename(out, "logits");
  return g;
}

void export_onnx(const Model& model, const std::string& path, const OnnxOptions& options) {
  const auto metadata = onnx_metadata(model, options);  // bad metadata or options fail before any work
  const auto dims = input_dims(model, options.shapes);
  auto proto = to_proto(onnx_graph(model, options), model, dims, metadata);
  try {
    declare_output(proto, model, dims);
    check(proto);
  } catch (const std::exception& e) {
    throw ExportError("ONNX export of '" + model.config.name + "' to '" + path +
                      "': the model fails onnx::checker or shape inference (a skipzoo bug): " + detail::brief(e));
  }
  try {
    std::string bytes;
    if (!proto.SerializeToString(&bytes)) throw ExportError("cannot serialise the ONNX model (over 2 GB?)");
    write_file_atomic(path, bytes);
  } catch (const std::exception& e) {
    throw ExportError("cannot write ONNX file '" + path + "': " + detail::brief(e));
  }
}

}  // namespace skipzoo::models
