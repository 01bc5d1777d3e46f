#pragma once
/// @file
/// ONNX "twins": every zoo module appends the ONNX nodes that compute its eval-mode forward to
/// an OnnxGraph, reading its parameters and buffers as initialisers named by their state_dict
/// keys. It is the ONNX counterpart of the script twins (script.h); export_onnx() (onnx.h) turns
/// the graph into a checked .onnx file. The graph is plain C++ data, so these headers need no
/// ONNX or protobuf headers.
#include <torch/torch.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace skipzoo::models {

/// How the exported graph declares its input height and width (the batch is always symbolic).
enum class OnnxShapeMode {
  Dynamic,   ///< symbolic H and W; U-Nets pad to a multiple of 2^depth and crop inside the graph (needs ONNX Runtime)
  Multiple,  ///< symbolic H and W that U-Nets assume to be multiples of 2^depth: no shape arithmetic (OpenCV DNN runs it)
  Static     ///< fixed H x W (multiples of 2^depth for U-Nets): no shape arithmetic (OpenCV DNN runs it)
};

/// The input shapes of an exported graph: a mode, plus the size for OnnxShapeMode::Static.
struct OnnxShapes {
  OnnxShapeMode mode = OnnxShapeMode::Dynamic;  ///< how H and W are declared
  int64_t height = 0;  ///< the fixed H (Static only)
  int64_t width = 0;   ///< the fixed W (Static only)
};

/// One attribute of an ONNX node: an int, a float, a string or a list of ints.
struct OnnxAttribute {
  /// Which of the value fields is used.
  enum class Kind { Int, Float, String, Ints };
  std::string name;             ///< e.g. "kernel_shape"
  Kind kind = Kind::Int;        ///< the type of the value
  int64_t i = 0;                ///< Kind::Int
  float f = 0;                  ///< Kind::Float
  std::string s;                ///< Kind::String
  std::vector<int64_t> ints;    ///< Kind::Ints
  /// An int attribute, e.g. integer("group", 1).
  static OnnxAttribute integer(const std::string& name, int64_t value);
  /// A float attribute, e.g. real("epsilon", 1e-5).
  static OnnxAttribute real(const std::string& name, double value);
  /// A string attribute, e.g. text("mode", "linear").
  static OnnxAttribute text(const std::string& name, const std::string& value);
  /// A list-of-ints attribute, e.g. integers("kernel_shape", {3, 3}).
  static OnnxAttribute integers(const std::string& name, const std::vector<int64_t>& value);
};

/// One node of the graph, with one output.
struct OnnxNode {
  std::string op_type;                      ///< an ONNX operator of the default domain, e.g. "Conv"
  std::string name;                         ///< unique node name (the output's name)
  std::vector<std::string> inputs;          ///< tensor names; "" for an omitted optional input
  std::vector<std::string> outputs;         ///< tensor names
  std::vector<OnnxAttribute> attributes;    ///< the node's attributes
};

/// A constant of the graph: a float32 or int64 CPU tensor, contiguous.
struct OnnxInitializer {
  std::string name;      ///< a state_dict key, or "const::..." for constants of the graph itself
  torch::Tensor value;   ///< float32 (weights) or int64 (shapes, pads)
};

/// The graph being built: nodes in topological order and initialisers. Names of node outputs are
/// made unique from a hint (usually the module's state_dict prefix plus the operation).
class OnnxGraph {
 public:
  /// An empty graph whose input tensor is named `input`, exported with these shapes and opset.
  OnnxGraph(const OnnxShapes& shapes, int64_t opset, std::string input = "input");
  /// The shapes the graph is exported with (U-Nets decide on padding by it).
  const OnnxShapes& shapes() const { return shapes_; }
  /// The opset the graph is exported with.
  int64_t opset() const { return opset_; }
  /// The name of the graph's input tensor.
  const std::string& input() const { return input_; }

  /// Appends a node with one output, named uniquely after `hint`; returns the output's name.
  std::string add(const std::string& op_type, const std::vector<std::string>& inputs,
                  const std::vector<OnnxAttribute>& attributes = {}, const std::string& hint = "");
  /// A float32 initialiser named exactly `name` (a state_dict key) holding `value` as a
  /// contiguous float32 CPU tensor (sharing its storage when it already is one, a copy
  /// otherwise); returns `name`. Adding the same name again returns it without a second entry.
  std::string weight(const std::string& name, const torch::Tensor& value);
  /// An int64 constant (e.g. Pad's pads), named uniquely "const::<hint>"; returns its name.
  std::string ints(const std::string& hint, const std::vector<int64_t>& values);
  /// A float32 constant (e.g. Resize's scales), named uniquely "const::<hint>"; returns its name.
  std::string floats(const std::string& hint, const std::vector<float>& values);
  /// Renames the tensor `from` (a node's output) to `to` everywhere, e.g. the last output to
  /// "logits". Throws std::invalid_argument when `from` is not a node output or `to` is taken.
  void rename(const std::string& from, const std::string& to);

  /// The nodes in the order they were added (a topological order).
  const std::vector<OnnxNode>& nodes() const { return nodes_; }
  /// The initialisers in the order they were added.
  const std::vector<OnnxInitializer>& initializers() const { return initializers_; }

 private:
  std::string unique(const std::string& hint);
  std::string constant(const std::string& hint, torch::Tensor value);

  OnnxShapes shapes_;
  int64_t opset_;
  std::string input_;
  std::vector<OnnxNode> nodes_;
  std::vector<OnnxInitializer> initializers_;
  std::set<std::string> names_;  // every tensor name in use
};

/// Implemented by every zoo module; LibTorch's own layers are handled by to_onnx().
class OnnxExportable {
 public:
  virtual ~OnnxExportable() = default;
  /// Appends the nodes computing the eval-mode forward of the module to `g` for the tensor named
  /// `input`, with the module's parameters and buffers as initialisers named `prefix` + key (the
  /// module's state_dict prefix, e.g. "layer1.0."); returns the output tensor's name. Throws
  /// std::invalid_argument, naming the module (onnx_unsupported), for what ONNX cannot express.
  virtual std::string onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const = 0;
};

/// The ONNX twin of a zoo module (OnnxExportable) or of a supported LibTorch layer: Conv2d,
/// ConvTranspose2d (explicit zero padding), BatchNorm1d/2d (affine, with running statistics:
/// BatchNormalization in inference form), Linear (Gemm, for (N, F) inputs), ReLU, Identity
/// (no node) and Sequential (its children in order, prefixes "<key>."). Returns the output
/// tensor's name. Throws std::invalid_argument naming the module (`prefix`) and its type for
/// any other module (e.g. ModuleList, which has no forward) or options ONNX cannot express.
std::string to_onnx(OnnxGraph& g, const torch::nn::Module& module, const std::string& input, const std::string& prefix);

/// BatchNormalization in inference form over `input` with the initialisers prefix + weight,
/// bias, running_mean, running_var taken from `bn` (a BatchNorm or a ManualBatchNorm); returns
/// the output's name. Throws std::invalid_argument naming the module when one is missing.
std::string onnx_batch_norm(OnnxGraph& g, const torch::nn::Module& bn, const std::string& input,
                            const std::string& prefix, double eps);

/// A node name for operation `op` of the module at `prefix`: e.g. "layer1.0.conv1/Conv" for
/// prefix "layer1.0.conv1.", plain `op` for the root module.
std::string onnx_name(const std::string& prefix, const std::string& op);

/// A Relu node over `input`; returns its output's name.
std::string onnx_relu(OnnxGraph& g, const std::string& input, const std::string& prefix);

/// Throws std::invalid_argument "ONNX export: module '<path>' (<type>): <why>", the path being
/// `prefix` without its final dot ("the model" for the root module).
[[noreturn]] void onnx_unsupported(const std::string& prefix, const std::string& type, const std::string& why);

}  // namespace skipzoo::models
