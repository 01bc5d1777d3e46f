#pragma once
// Analyses of a network before it is trained (what `skipzoo info` prints): a per-layer table
// with output shapes, parameters and multiply-accumulates, the residual network "unraveled"
// into paths, the variance of each residual block's output at initialisation, and the
// scale invariance that BatchNorm gives the weights before it.
#include <skipzoo/models/registry.h>
#include <torch/torch.h>

#include <string>
#include <vector>

namespace skipzoo::models {

// ---- per-layer table ---------------------------------------------------------------------

struct LayerInfo {
  std::string name;                   // state_dict prefix, e.g. "layer1.0.conv1"
  std::string type;                   // e.g. "Conv2d", "BatchNorm2d", "ManualBatchNorm2d"
  std::vector<int64_t> output_shape;  // of the last op it ran; empty when it did not run
  int64_t params = 0;                 // its own parameters
  int64_t trainable_params = 0;
  int64_t buffer_values = 0;          // its own buffers, e.g. BN running statistics
  int64_t macs = 0;                   // multiply-accumulates, summed over its ops
};

struct ModelSummary {
  std::vector<int64_t> input_shape, output_shape;  // batch dimension included
  std::vector<LayerInfo> layers;  // modules owning parameters or buffers, in state_dict order
  int64_t params = 0, trainable_params = 0, buffer_values = 0;
  int64_t param_bytes = 0, buffer_bytes = 0;
  int64_t macs = 0;              // sum over the layers
  int64_t activation_bytes = 0;  // distinct tensors the forward pass created (see summarize)
};

// Runs one forward pass of a zeros input of `input_shape` in eval mode without gradients and
// attributes every ATen op that reads a module's own parameter or buffer to that module
// (through an at::RecordFunction observer on this thread: LibTorch has no forward hooks).
// MACs are counted for convolutions (N * C_out * H_out * W_out * C_in/groups * kh * kw),
// transposed convolutions and matrix products (linear layers); norm layers, activations, pooling and additions
// count none, as torchvision's published "GFLOPS" (MACs) do. activation_bytes sums the
// storages of the tensors that the model's own code created (views and in-place results
// count once): about what training keeps for the backward pass. Training flags are restored.
// A forward that fails throws std::invalid_argument naming the input shape.
ModelSummary summarize(torch::nn::AnyModule& net, const std::vector<int64_t>& input_shape);

// One input (no batch dimension) for info and the analyses: C for vector models, C x 32 x 32
// for CIFAR-style ResNets and single blocks, C x 224 x 224 for the other image models.
std::vector<int64_t> default_input_shape(const Model& model);

// {1, 3, 224, 224} -> "1x3x224x224"; {} -> "-".
std::string shape_text(const std::vector<int64_t>& shape);

// "torch::nn::Conv2dImpl" -> "Conv2d", "skipzoo::models::ResNetImpl" -> "ResNet".
std::string short_type_name(const torch::nn::Module& module);

// ---- residual paths ----------------------------------------------------------------------

// K, the number of residual blocks (modules implementing ResidualBlock) in the network.
int64_t count_residual_blocks(const torch::nn::Module& module);

// A network of K residual blocks unravels into 2^K paths; C(K, l) of them pass through
// l blocks. Counts are exact decimal strings, whatever K (C(67, 33) already exceeds 2^64).
struct PathDistribution {
  int64_t blocks = 0;               // K
  std::vector<std::string> paths;   // paths[l] = C(K, l), l = 0..K
  std::string total;                // 2^K
  std::vector<double> share;        // C(K, l) / 2^K
  double mean_length = 0;           // sum over l of l * share[l]
};
PathDistribution residual_paths(int64_t blocks);

// ---- variance of each residual block's output --------------------------------------------

struct BlockVariance {
  std::string name;                   // e.g. "layer2.0"
  std::string type;
  std::vector<int64_t> input_shape, output_shape;
  double input_variance = 0;          // over every element of the batch
  double output_variance = 0;
  // The zoo's blocks project (or pad) the shortcut exactly when the shape changes.
  bool identity_shortcut() const { return input_shape == output_shape; }
};

// Feeds `input` through the network in training mode (BN normalises with the batch
// statistics, as in training) without gradients, recording the variance of the input and
// output of every residual block: the network itself when it is one, else each block of its
// Sequential containers (the ResNet stages). Buffers and training flags are restored.
// Throws std::invalid_argument when the network has no residual blocks.
std::vector<BlockVariance> block_variances(torch::nn::AnyModule& net, const torch::Tensor& input);

// ---- scale invariance (problem 11.7) -----------------------------------------------------

struct ScaleInvarianceOptions {
  int64_t steps = 45;
  double lr = 0.1;
  double weight_decay = 0.5;  // each step multiplies the conv weights by 1 - lr * weight_decay
};

struct ScaleInvarianceStep {
  int64_t step = 0;
  double conv_weight_norm = 0;  // L2 norm of all Conv2d weights together
  double output_change = 0;     // ||y_t - y_0|| / ||y_0|| on the fixed input, training-mode forward
};

// Minimises weight_decay / 2 * sum ||W||^2 over the network's Conv2d weights by SGD (autograd
// gradients), measuring the outputs for `input` after every step. A conv followed by BN
// computes BN(c W x) = BN(W x) for any c > 0, so its outputs stay put (up to BN's eps) while
// the norm shrinks; without BN they shrink with it. Changes the network's conv weights;
// running statistics and training flags are restored. Returns steps + 1 rows (step 0 first).
std::vector<ScaleInvarianceStep> scale_invariance(torch::nn::AnyModule& net, const torch::Tensor& input,
                                                  const ScaleInvarianceOptions& options = {});

// ---- helper ------------------------------------------------------------------------------

// Puts every module of a network in training or eval mode for a scope; on exit restores each
// module's flag and, if asked, the values of all buffers (BN running statistics).
class ScopedMode {
 public:
  ScopedMode(torch::nn::Module& root, bool training, bool restore_buffers);
  ~ScopedMode();
  ScopedMode(const ScopedMode&) = delete;
  ScopedMode& operator=(const ScopedMode&) = delete;

 private:
  std::vector<std::pair<torch::nn::Module*, bool>> flags_;  // in apply() order, parents first
  std::vector<std::pair<torch::Tensor, torch::Tensor>> buffers_;  // live tensor, saved copy
};

}  // namespace skipzoo::models
