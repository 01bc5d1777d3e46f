#pragma once
// A small reference evaluator of skipzoo's OnnxGraph in LibTorch: the operators the ONNX twins
// write, with ONNX's semantics. It runs the `dynamic` U-Net graphs (pad and crop from Shape
// arithmetic), which OpenCV DNN cannot load and no runtime on this platform (ONNX Runtime is
// not a bookworm package) can; the other graphs are checked against OpenCV DNN itself.
#include <skipzoo/models/onnx_graph.h>
#include <torch/torch.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace skipzoo::testing {

namespace onnx_reference_detail {

inline const models::OnnxAttribute* find_attr(const models::OnnxNode& n, const std::string& name) {
  for (const auto& a : n.attributes) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

inline std::vector<int64_t> ints_attr(const models::OnnxNode& n, const std::string& name, std::vector<int64_t> fallback) {
  const auto* a = find_attr(n, name);
  return a ? a->ints : fallback;
}

inline int64_t int_attr(const models::OnnxNode& n, const std::string& name, int64_t fallback) {
  const auto* a = find_attr(n, name);
  return a ? a->i : fallback;
}

inline std::vector<int64_t> to_ints(const torch::Tensor& t) {
  auto c = t.to(torch::kInt64).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// ONNX pads [x1_begin, x2_begin, ..., x1_end, x2_end, ...] -> LibTorch's (last_begin, last_end, ...).
inline std::vector<int64_t> torch_pads(const std::vector<int64_t>& pads) {
  const size_t rank = pads.size() / 2;
  std::vector<int64_t> out;
  for (size_t i = rank; i-- > 0;) {
    out.push_back(pads[i]);
    out.push_back(pads[rank + i]);
  }
  return out;
}

// Conv and pooling pads [top, left, bottom, right]: LibTorch takes symmetric ones only.
inline std::vector<int64_t> symmetric_pads(const models::OnnxNode& n) {
  const auto p = ints_attr(n, "pads", {0, 0, 0, 0});
  if (p[0] != p[2] || p[1] != p[3]) throw std::invalid_argument(n.name + ": asymmetric pads");
  return {p[0], p[1]};
}

inline torch::Tensor slice(const torch::Tensor& x, const std::vector<torch::Tensor>& in) {
  const auto starts = to_ints(in[1]), ends = to_ints(in[2]);
  std::vector<int64_t> axes(starts.size()), steps(starts.size(), 1);
  for (size_t i = 0; i < axes.size(); ++i) axes[i] = static_cast<int64_t>(i);
  if (in.size() > 3 && in[3].defined()) axes = to_ints(in[3]);
  if (in.size() > 4 && in[4].defined()) steps = to_ints(in[4]);
  auto y = x;
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t dim = x.size(axes[i]);
    auto clamp = [&](int64_t v) { return std::max<int64_t>(0, std::min(dim, v < 0 ? v + dim : v)); };
    y = y.slice(axes[i], clamp(starts[i]), clamp(ends[i]), steps[i]);
  }
  return y;
}

inline torch::Tensor run_node(const models::OnnxNode& n, const std::vector<torch::Tensor>& in) {
  const auto& op = n.op_type;
  if (op == "Conv" || op == "ConvTranspose") {
    const auto bias = in.size() > 2 ? in[2] : torch::Tensor();
    const auto strides = ints_attr(n, "strides", {1, 1}), dilations = ints_attr(n, "dilations", {1, 1});
    const auto group = int_attr(n, "group", 1);
    if (op == "Conv") return torch::conv2d(in[0], in[1], bias, strides, symmetric_pads(n), dilations, group);
    return torch::conv_transpose2d(in[0], in[1], bias, strides, symmetric_pads(n),
                                   ints_attr(n, "output_padding", {0, 0}), group, dilations);
  }
  if (op == "BatchNormalization") {
    return torch::batch_norm(in[0], in[1], in[2], in[3], in[4], false, 0.0, find_attr(n, "epsilon")->f, false);
  }
  if (op == "Relu") return torch::relu(in[0]);
  if (op == "Add") return in[0] + in[1];
  if (op == "Sub") return in[0] - in[1];
  if (op == "Mul") return in[0] * in[1];
  if (op == "Div") return in[0].is_floating_point() ? in[0] / in[1] : torch::div(in[0], in[1], "trunc");
  if (op == "MaxPool") {
    return torch::max_pool2d(in[0], ints_attr(n, "kernel_shape", {}), ints_attr(n, "strides", {1, 1}), symmetric_pads(n));
  }
  if (op == "GlobalAveragePool") return torch::adaptive_avg_pool2d(in[0], {1, 1});
  if (op == "Flatten") return in[0].flatten(int_attr(n, "axis", 1));
  if (op == "Gemm") {
    if (int_attr(n, "transB", 0) != 1 || int_attr(n, "transA", 0) != 0) throw std::invalid_argument(n.name + ": Gemm form");
    return torch::linear(in[0], in[1], in.size() > 2 ? in[2] : torch::Tensor());
  }
  if (op == "Slice") return slice(in[0], in);
  if (op == "Pad") return torch::constant_pad_nd(in[0], torch_pads(to_ints(in[1])), 0);
  if (op == "Concat") return torch::cat(std::vector<torch::Tensor>(in.begin(), in.end()), int_attr(n, "axis", 0));
  if (op == "Shape") return torch::tensor(in[0].sizes().vec(), torch::kInt64);
  if (op == "Identity") return in[0];
  if (op == "Resize") {  // linear, (pytorch_)half_pixel: what upsample_bilinear2d computes
    const auto scales = in[2].contiguous();
    const auto* s = scales.data_ptr<float>();
    const int64_t h = static_cast<int64_t>(in[0].size(2) * s[2]), w = static_cast<int64_t>(in[0].size(3) * s[3]);
    return torch::upsample_bilinear2d(in[0], {h, w}, false);
  }
  throw std::invalid_argument("onnx_reference: no evaluator for " + op);
}

}  // namespace onnx_reference_detail

// Runs `graph` on `input` and returns its output "logits".
inline torch::Tensor run_onnx_reference(const models::OnnxGraph& graph, const torch::Tensor& input) {
  c10::InferenceMode guard;
  std::map<std::string, torch::Tensor> values{{graph.input(), input}};
  for (const auto& init : graph.initializers()) values[init.name] = init.value;
  for (const auto& node : graph.nodes()) {
    std::vector<torch::Tensor> in;
    for (const auto& name : node.inputs) in.push_back(name.empty() ? torch::Tensor() : values.at(name));
    values[node.outputs.at(0)] = onnx_reference_detail::run_node(node, in);
  }
  return values.at("logits");
}

}  // namespace skipzoo::testing
