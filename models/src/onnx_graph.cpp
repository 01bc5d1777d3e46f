// The OnnxGraph builder and the ONNX twins of LibTorch's own layers (the zoo's modules define
// theirs beside their script twins). Plain C++ data only: onnx_export.cpp writes the protobuf.
#include <skipzoo/models/onnx_graph.h>

#include <stdexcept>

#include "layer_options.h"

namespace skipzoo::models {

// ---- attributes and the graph -----------------------------------------------------------

OnnxAttribute OnnxAttribute::integer(const std::string& name, int64_t value) {
  OnnxAttribute a;
  a.name = name;
  a.kind = Kind::Int;
  a.i = value;
  return a;
}

OnnxAttribute OnnxAttribute::real(const std::string& name, double value) {
  OnnxAttribute a;
  a.name = name;
  a.kind = Kind::Float;
  a.f = static_cast<float>(value);
  return a;
}

OnnxAttribute OnnxAttribute::text(const std::string& name, const std::string& value) {
  OnnxAttribute a;
  a.name = name;
  a.kind = Kind::String;
  a.s = value;
  return a;
}

OnnxAttribute OnnxAttribute::integers(const std::string& name, const std::vector<int64_t>& value) {
  OnnxAttribute a;
  a.name = name;
  a.kind = Kind::Ints;
  a.ints = value;
  return a;
}

OnnxGraph::OnnxGraph(const OnnxShapes& shapes, int64_t opset, std::string input)
    : shapes_(shapes), opset_(opset), input_(std::move(input)) {
  names_.insert(input_);
}

std::string OnnxGraph::unique(const std::string& hint) {
  const std::string base = hint.empty() ? "t" : hint;
  std::string name = base;
  for (int n = 1; names_.count(name); ++n) name = base + "_" + std::to_string(n);
  names_.insert(name);
  return name;
}

std::string OnnxGraph::add(const std::string& op_type, const std::vector<std::string>& inputs,
                           const std::vector<OnnxAttribute>& attributes, const std::string& hint) {
  for (const auto& in : inputs) {
    if (!in.empty() && !names_.count(in)) throw std::logic_error("OnnxGraph: " + op_type + " reads unknown tensor '" + in + "'");
  }
  OnnxNode node;
  node.op_type = op_type;
  node.name = unique(hint.empty() ? op_type : hint);
  node.inputs = inputs;
  node.outputs = {node.name};
  node.attributes = attributes;
  nodes_.push_back(std::move(node));
  return nodes_.back().name;
}

std::string OnnxGraph::weight(const std::string& name, const torch::Tensor& value) {
  for (const auto& init : initializers_) {
    if (init.name == name) return name;
  }
  if (names_.count(name)) throw std::logic_error("OnnxGraph: initialiser name '" + name + "' is a node output");
  names_.insert(name);
  // Shares the module's storage when it is already a contiguous float32 CPU tensor: no copy of
  // large weights until the protobuf is filled.
  initializers_.push_back({name, value.detach().to(torch::kCPU, torch::kFloat32).contiguous()});
  return name;
}

std::string OnnxGraph::constant(const std::string& hint, torch::Tensor value) {
  const std::string name = unique("const::" + hint);
  initializers_.push_back({name, std::move(value)});
  return name;
}

std::string OnnxGraph::ints(const std::string& hint, const std::vector<int64_t>& values) {
  return constant(hint, torch::tensor(values, torch::kInt64));
}

std::string OnnxGraph::floats(const std::string& hint, const std::vector<float>& values) {
  return constant(hint, torch::tensor(values, torch::kFloat32));
}

void OnnxGraph::rename(const std::string& from, const std::string& to) {
  if (names_.count(to)) throw std::invalid_argument("OnnxGraph: cannot rename '" + from + "' to '" + to + "': taken");
  bool found = false;
  for (auto& node : nodes_) {
    for (auto& out : node.outputs) {
      if (out == from) {
        out = to;
        found = true;
      }
    }
    for (auto& in : node.inputs) {
      if (in == from) in = to;
    }
  }
  if (!found) throw std::invalid_argument("OnnxGraph: '" + from + "' is not a node output");
  names_.erase(from);
  names_.insert(to);
}

// ---- shared helpers ---------------------------------------------------------------------

void onnx_unsupported(const std::string& prefix, const std::string& type, const std::string& why) {
  const std::string path = prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1);
  const std::string who = path.empty() ? "the model (" + type + ")" : "module '" + path + "' (" + type + ")";
  throw std::invalid_argument("ONNX export: " + who + ": " + why);
}

std::string onnx_name(const std::string& prefix, const std::string& op) {
  return prefix.empty() ? op : prefix.substr(0, prefix.size() - 1) + "/" + op;
}

namespace {

// By value: `items` is a copy of the module's dictionary, gone when this returns (a reference
// into it dangled, and the ONNX writer read freed memory).
torch::Tensor tensor_of(const torch::nn::Module& m, const std::string& key, bool buffer, const std::string& prefix,
                        const std::string& type) {
  const auto items = buffer ? m.named_buffers(false) : m.named_parameters(false);
  const auto* t = items.find(key);
  if (t == nullptr || !t->defined()) onnx_unsupported(prefix, type, "has no '" + key + "' (affine BatchNorm with running statistics expected)");
  return *t;
}

}  // namespace

std::string onnx_relu(OnnxGraph& g, const std::string& input, const std::string& prefix) {
  return g.add("Relu", {input}, {}, onnx_name(prefix, "Relu"));
}

std::string onnx_batch_norm(OnnxGraph& g, const torch::nn::Module& bn, const std::string& input,
                            const std::string& prefix, double eps) {
  const std::string type = bn.name();
  std::vector<std::string> inputs{input};
  for (const auto& [key, buffer] : {std::pair<const char*, bool>{"weight", false}, {"bias", false},
                                    {"running_mean", true}, {"running_var", true}}) {
    inputs.push_back(g.weight(prefix + key, tensor_of(bn, key, buffer, prefix, type)));
  }
  return g.add("BatchNormalization", inputs, {OnnxAttribute::real("epsilon", eps)}, onnx_name(prefix, "BatchNormalization"));
}

// ---- LibTorch's layers ------------------------------------------------------------------

namespace {

using detail::get;
using detail::get_if;
using detail::vec;

// ONNX pads are [top, left, bottom, right]; LibTorch pads symmetrically with zeros.
template <typename Options>
std::vector<int64_t> onnx_pads(const Options& o, const std::string& prefix, const std::string& type) {
  if (get_if<torch::ExpandingArray<2>>(&o.padding()) == nullptr) onnx_unsupported(prefix, type, "string padding (\"same\"/\"valid\") is not exported; use explicit padding");
  if (get_if<torch::enumtype::kZeros>(&o.padding_mode()) == nullptr) onnx_unsupported(prefix, type, "only zero padding_mode can be exported");
  const auto p = vec(get<torch::ExpandingArray<2>>(o.padding()));
  return {p[0], p[1], p[0], p[1]};
}

// Conv and ConvTranspose share their inputs and most attributes; OpenCV needs kernel_shape.
template <typename Conv>
std::string conv(OnnxGraph& g, const Conv& c, const std::string& op, const std::string& x, const std::string& prefix,
                 const std::string& type) {
  const auto& o = c.options;
  std::vector<std::string> inputs{x, g.weight(prefix + "weight", c.weight)};
  if (c.bias.defined()) inputs.push_back(g.weight(prefix + "bias", c.bias));
  std::vector<OnnxAttribute> attrs{OnnxAttribute::integers("kernel_shape", vec(o.kernel_size())),
                                   OnnxAttribute::integers("strides", vec(o.stride())),
                                   OnnxAttribute::integers("pads", onnx_pads(o, prefix, type)),
                                   OnnxAttribute::integers("dilations", vec(o.dilation())),
                                   OnnxAttribute::integer("group", o.groups())};
  if (op == "ConvTranspose") attrs.push_back(OnnxAttribute::integers("output_padding", vec(o.output_padding())));
  return g.add(op, inputs, attrs, onnx_name(prefix, op));
}

template <typename BN>
std::string torch_batch_norm(OnnxGraph& g, const BN& bn, const std::string& x, const std::string& prefix,
                             const std::string& type) {
  if (!bn.options.affine() || !bn.options.track_running_stats()) {
    onnx_unsupported(prefix, type, "needs affine=true and track_running_stats=true (the export is an eval-mode graph)");
  }
  return onnx_batch_norm(g, bn, x, prefix, bn.options.eps());
}

}  // namespace

std::string to_onnx(OnnxGraph& g, const torch::nn::Module& module, const std::string& x, const std::string& prefix) {
  using namespace torch::nn;
  if (const auto* m = dynamic_cast<const OnnxExportable*>(&module)) return m->onnx_twin(g, x, prefix);
  if (const auto* m = dynamic_cast<const Conv2dImpl*>(&module)) return conv(g, *m, "Conv", x, prefix, "Conv2d");
  if (const auto* m = dynamic_cast<const ConvTranspose2dImpl*>(&module)) {
    return conv(g, *m, "ConvTranspose", x, prefix, "ConvTranspose2d");
  }
  if (const auto* m = dynamic_cast<const BatchNorm2dImpl*>(&module)) return torch_batch_norm(g, *m, x, prefix, "BatchNorm2d");
  if (const auto* m = dynamic_cast<const BatchNorm1dImpl*>(&module)) return torch_batch_norm(g, *m, x, prefix, "BatchNorm1d");
  if (const auto* m = dynamic_cast<const LinearImpl*>(&module)) {
    std::vector<std::string> inputs{x, g.weight(prefix + "weight", m->weight)};
    if (m->bias.defined()) inputs.push_back(g.weight(prefix + "bias", m->bias));
    return g.add("Gemm", inputs, {OnnxAttribute::integer("transB", 1)}, onnx_name(prefix, "Gemm"));
  }
  if (const auto* m = dynamic_cast<const SequentialImpl*>(&module)) {
    std::string y = x;
    for (const auto& child : m->named_children()) y = to_onnx(g, *child.value(), y, prefix + child.key() + ".");
    return y;
  }
  if (dynamic_cast<const ReLUImpl*>(&module)) return onnx_relu(g, x, prefix);
  if (dynamic_cast<const IdentityImpl*>(&module)) return x;
  onnx_unsupported(prefix, module.name(), "no ONNX twin for this module type");
}

}  // namespace skipzoo::models
