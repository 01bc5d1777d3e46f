#pragma once
/// @file
/// Analyses of a network before it is trained (what `skipzoo info` prints): a per-layer table
/// with output shapes, parameters and multiply-accumulates, the residual network "unraveled"
/// into paths (Veit et al. 2016, "Residual Networks Behave Like Ensembles of Relatively Shallow
/// Networks", NeurIPS), the variance of each residual block's output at initialisation, and the
/// scale invariance that BatchNorm (Ioffe & Szegedy 2015) gives the weights before it. They answer
/// problems 11.2, 11.4, 11.6, 11.7 and 11.8 of Prince, *Understanding Deep Learning* (MIT Press
/// 2023), ch. 11 "Residual networks" (docs/residual-networks.md).
#include <skipzoo/models/registry.h>
#include <torch/torch.h>

#include <string>
#include <vector>

namespace skipzoo::models {

// ---- per-layer table ---------------------------------------------------------------------

/// One row of summarize(): a module that owns parameters or buffers itself.
struct LayerInfo {
  std::string name;                   ///< state_dict prefix, e.g. "layer1.0.conv1"; "(root)" for the network itself
  std::string type;                   ///< short_type_name(), e.g. "Conv2d", "BatchNorm2d", "ManualBatchNorm2d"
  std::vector<int64_t> output_shape;  ///< of the last op it ran, batch included; empty when it did not run
  int64_t params = 0;                 ///< its own parameters (values, not tensors)
  int64_t trainable_params = 0;       ///< those of them with requires_grad
  int64_t buffer_values = 0;          ///< its own buffer values, e.g. BN running statistics
  int64_t macs = 0;                   ///< multiply-accumulates, summed over its ops
};

/// What summarize() measured for one input shape.
struct ModelSummary {
  std::vector<int64_t> input_shape, output_shape;  ///< batch dimension included
  std::vector<LayerInfo> layers;  ///< modules owning parameters or buffers, in state_dict order
  int64_t params = 0, trainable_params = 0, buffer_values = 0;  ///< sums over `layers`
  int64_t param_bytes = 0, buffer_bytes = 0;  ///< storage of the parameters and buffers, bytes
  int64_t macs = 0;              ///< sum over the layers
  int64_t activation_bytes = 0;  ///< bytes of the distinct tensors the forward pass created (see summarize)
};

/// Runs one forward pass of a zeros input of `input_shape` (batch included, e.g. {1, 3, 224, 224})
/// in eval mode without gradients and attributes every ATen op that reads a module's own
/// parameter or buffer to that module (through an at::RecordFunction observer on this thread:
/// LibTorch has no forward hooks). MACs are counted for convolutions
/// (N * C_out * H_out * W_out * C_in/groups * kh * kw), transposed convolutions and matrix
/// products (linear layers); norm layers, activations, pooling and additions count none, as
/// torchvision's published "GFLOPS" (MACs) do. activation_bytes sums the storages of the tensors
/// that the model's own code created (views and in-place results count once): about what
/// training keeps for the backward pass. Training flags are restored.
/// Throws std::invalid_argument naming the input shape when the forward pass fails (c10::Error).
ModelSummary summarize(torch::nn::AnyModule& net, const std::vector<int64_t>& input_shape);

/// One input shape (no batch dimension) for info and the analyses: {C} for vector models (the
/// MLP), {C, 32, 32} for CIFAR-style ResNets and single blocks, {C, 224, 224} for the other image
/// models; C is the model's in_channels. Throws std::invalid_argument when model.config.name is
/// not a registered model.
std::vector<int64_t> default_input_shape(const Model& model);

/// Formats a shape for tables: {1, 3, 224, 224} -> "1x3x224x224"; {} -> "-".
std::string shape_text(const std::vector<int64_t>& shape);

/// The module's C++ type name without namespace, template arguments and "Impl":
/// "torch::nn::Conv2dImpl" -> "Conv2d", "skipzoo::models::ResNetImpl" -> "ResNet".
std::string short_type_name(const torch::nn::Module& module);

// ---- residual paths ----------------------------------------------------------------------

/// K, the number of residual blocks (modules implementing ResidualBlock) in `module` and its
/// descendants.
int64_t count_residual_blocks(const torch::nn::Module& module);

/// How the 2^K paths of a network of K residual blocks, unravelled (Veit et al. 2016; Prince
/// 2023, problem 11.2), spread over their lengths: C(K, l) of them pass through l blocks. Counts
/// are exact decimal strings, whatever K (C(67, 33) already exceeds 2^64).
struct PathDistribution {
  int64_t blocks = 0;               ///< K
  std::vector<std::string> paths;   ///< paths[l] = C(K, l), l = 0..K
  std::string total;                ///< 2^K
  std::vector<double> share;        ///< C(K, l) / 2^K
  double mean_length = 0;           ///< sum over l of l * share[l] (= K / 2)
};
/// The path distribution of a network of `blocks` residual blocks (see count_residual_blocks).
/// Throws std::invalid_argument unless 0 <= blocks <= 10000.
PathDistribution residual_paths(int64_t blocks);

// ---- variance of each residual block's output --------------------------------------------

/// The input and output of one residual block as block_variances() measured them.
struct BlockVariance {
  std::string name;                   ///< state_dict prefix, e.g. "layer2.0"
  std::string type;                   ///< short_type_name(), e.g. "BasicBlock"
  std::vector<int64_t> input_shape, output_shape;  ///< (N, C, H, W) into and out of the block
  double input_variance = 0;          ///< population variance over every element of the batch
  double output_variance = 0;         ///< the same for the block's output
  /// Whether the shortcut is the identity: the zoo's blocks project (or pad) the shortcut
  /// exactly when the shape changes.
  bool identity_shortcut() const { return input_shape == output_shape; }
};

/// Feeds `input` (N, C, H, W) through the network in training mode (BN normalises with the batch
/// statistics, as in training) without gradients, recording the variance of the input and
/// output of every residual block: the network itself when it is one, else each block of its
/// Sequential containers (the ResNet stages). Prince 2023, problem 11.4: without BN the variance
/// grows from block to block. Buffers and training flags are restored.
/// Throws std::invalid_argument when the network has no residual blocks in Sequential containers.
std::vector<BlockVariance> block_variances(torch::nn::AnyModule& net, const torch::Tensor& input);

// ---- scale invariance (Prince 2023, problem 11.7) ---------------------------------------

/// Options of scale_invariance(): plain SGD on the weight-decay penalty alone.
struct ScaleInvarianceOptions {
  int64_t steps = 45;         ///< SGD steps (>= 0)
  double lr = 0.1;            ///< learning rate (> 0)
  double weight_decay = 0.5;  ///< >= 0; each step multiplies the conv weights by 1 - lr * weight_decay
};

/// One row of scale_invariance(), after `step` SGD steps.
struct ScaleInvarianceStep {
  int64_t step = 0;             ///< 0 is the network as given
  double conv_weight_norm = 0;  ///< L2 norm of all Conv2d weights together
  double output_change = 0;     ///< ||y_t - y_0|| / ||y_0|| on the fixed input, training-mode forward
};

/// Prince 2023, problem 11.7: minimises weight_decay / 2 * sum ||W||^2 over the network's Conv2d
/// weights by SGD (autograd gradients), measuring the outputs for `input` after every step. A conv
/// followed by BN computes BN(c W x) = BN(W x) for any c > 0, so its outputs stay put (up to BN's
/// eps) while the norm shrinks; without BN they shrink with it. Changes the network's conv weights
/// (and leaves no gradients); running statistics and training flags are restored. Returns
/// steps + 1 rows (step 0 first). Throws std::invalid_argument for options out of range, a network
/// without Conv2d layers, or an all-zero output for `input`.
std::vector<ScaleInvarianceStep> scale_invariance(torch::nn::AnyModule& net, const torch::Tensor& input,
                                                  const ScaleInvarianceOptions& options = {});

// ---- helper ------------------------------------------------------------------------------

/// Puts every module of a network in training or eval mode for a scope; on exit restores each
/// module's flag and, if asked, the values of all buffers (BN running statistics), so an analysis
/// leaves the network as it found it.
class ScopedMode {
 public:
  /// Records every module's flag (and copies the buffers if `restore_buffers`), then calls
  /// root.train(training).
  ScopedMode(torch::nn::Module& root, bool training, bool restore_buffers);
  /// Restores the flags and, if recorded, the buffer values.
  ~ScopedMode();
  ScopedMode(const ScopedMode&) = delete;
  ScopedMode& operator=(const ScopedMode&) = delete;

 private:
  std::vector<std::pair<torch::nn::Module*, bool>> flags_;  // in apply() order, parents first
  std::vector<std::pair<torch::Tensor, torch::Tensor>> buffers_;  // live tensor, saved copy
};

}  // namespace skipzoo::models
