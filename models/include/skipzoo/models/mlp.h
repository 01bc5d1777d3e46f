#pragma once
/// @file
/// A fully connected ReLU network, optionally with a norm layer between each linear layer and
/// its ReLU (Prince, *Understanding Deep Learning*, MIT Press 2023, problem 11.6: the parameters
/// BatchNorm adds). Layers live in a Sequential `layers`, as a Python user would write
/// nn.Sequential(Linear, BatchNorm1d, ReLU, ...).
#include <skipzoo/models/norm.h>
#include <skipzoo/models/onnx_graph.h>
#include <skipzoo/models/script.h>
#include <torch/torch.h>

namespace skipzoo::models {

/// Options of MLP (the registry's "mlp": --classes sets out_features, --in-channels in_features).
struct MLPOptions {
  /// Input features.
  TORCH_ARG(int64_t, in_features) = 1;
  /// Output features (of the last linear layer).
  TORCH_ARG(int64_t, out_features) = 1;
  /// Features of every hidden layer; >= 1.
  TORCH_ARG(int64_t, width) = 20;
  /// Number of hidden layers; >= 0 (0: a single linear layer).
  TORCH_ARG(int64_t, depth) = 10;
  /// Norm layer between each hidden linear layer and its ReLU; None: a plain MLP.
  TORCH_ARG(Norm, norm) = Norm::None;
};

/// depth x (Linear, [norm], ReLU), then Linear: (N, in_features) -> (N, out_features). Hidden
/// linear layers get He normal weights (fan_in, ReLU gain; He et al. 2015, "Delving Deep into
/// Rectifiers") and zero biases; the output layer keeps LibTorch's default init.
class MLPImpl : public torch::nn::Cloneable<MLPImpl>, public Scriptable, public OnnxExportable {
 public:
  /// Builds and initialises the layers. Throws c10::Error unless depth >= 0 and width >= 1.
  explicit MLPImpl(const MLPOptions& options = {});
  /// Creates, registers and initialises the layers (called by the constructor and by clone()).
  void reset() override;
  /// Writes the module and its options, e.g. "skipzoo::models::MLP(...)", for `std::cout << *m`.
  void pretty_print(std::ostream& stream) const override;
  /// (N, in_features) -> (N, out_features).
  torch::Tensor forward(torch::Tensor x);
  /// The TorchScript twin with the same parameter names (see script.h).
  torch::jit::Module script_twin() const override;
  /// The ONNX twin (see onnx_graph.h): Gemm, BatchNormalization and Relu nodes on (N, in_features).
  std::string onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const override;

  /// The options the network was built with.
  MLPOptions options;
  /// The layers in order, keys "0", "1", ... as Python's nn.Sequential numbers them.
  torch::nn::Sequential layers{nullptr};
};
TORCH_MODULE(MLP);

}  // namespace skipzoo::models
