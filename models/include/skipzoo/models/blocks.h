#pragma once
/// @file
/// Residual blocks: torchvision's BasicBlock and Bottleneck (He et al. 2015, "Deep Residual
/// Learning for Image Recognition", fig. 5; ResNet v1.5: the bottleneck strides on the 3x3),
/// the pre-activation variants of He et al. 2016 ("Identity Mappings in Deep Residual Networks":
/// BN-ReLU-conv, and no ReLU after the addition), and the simplest residual block of Prince,
/// *Understanding Deep Learning* (MIT Press 2023), ch. 11. Spatial sizes: a block with stride s
/// maps H to ceil(H / s) (3x3 convs pad by their dilation).
#include <skipzoo/models/norm.h>
#include <skipzoo/models/onnx_graph.h>
#include <skipzoo/models/script.h>
#include <torch/torch.h>

namespace skipzoo::models {

/// How a block matches the identity path when its output shape differs from its input
/// (He et al. 2015, §3.3, shortcut options A and B).
enum class Shortcut {
  Projection,  ///< option B: 1x1 conv with the block's stride (+ norm if post-activation): torchvision's downsample
  Pad          ///< option A (He et al. 2015, §4.2, the CIFAR nets): subsample and zero-pad channels, no parameters
};
/// Parses "B" or "projection", "A" or "pad". Throws std::invalid_argument for any other name.
Shortcut parse_shortcut(const std::string& name);
/// "A" (Pad) or "B" (Projection): the name stored in a model's resolved options.
std::string shortcut_name(Shortcut shortcut);

/// Options of BasicBlock, Bottleneck, PreActBasicBlock and PreActBottleneck.
struct BlockOptions {
  /// Input channels and `planes`, the width that sets the output channels (planes * expansion).
  BlockOptions(int64_t in_planes, int64_t planes) : in_planes_(in_planes), planes_(planes) {}
  /// Input channels C_in.
  TORCH_ARG(int64_t, in_planes);
  /// Stage width: output channels are planes * expansion (1 for basic blocks, 4 for bottlenecks).
  TORCH_ARG(int64_t, planes);
  /// Spatial stride, on the first 3x3 conv (and the shortcut): H -> ceil(H / stride).
  TORCH_ARG(int64_t, stride) = 1;
  /// Groups of the bottleneck's 3x3 conv: ResNeXt's cardinality (Xie et al. 2017, "Aggregated
  /// Residual Transformations for Deep Neural Networks"). Basic blocks require 1.
  TORCH_ARG(int64_t, groups) = 1;
  /// Channels per group at planes = 64: the bottleneck's inner width is
  /// int(planes * base_width / 64) * groups (128 with groups 1: wide ResNets, Zagoruyko &
  /// Komodakis 2016, "Wide Residual Networks"). Basic blocks require 64.
  TORCH_ARG(int64_t, base_width) = 64;
  /// Dilation of the 3x3 convs (padding follows it, so sizes depend on the stride only).
  /// BasicBlock requires 1.
  TORCH_ARG(int64_t, dilation) = 1;
  /// Norm layer after (post-activation) or before (pre-activation) each conv.
  TORCH_ARG(Norm, norm) = Norm::Batch;
  /// Shortcut used when stride != 1 or C_in != C_out; otherwise the shortcut is the identity.
  TORCH_ARG(Shortcut, shortcut) = Shortcut::Projection;
};

/// Options of PadShortcut.
struct PadShortcutOptions {
  /// `in_channels` -> `out_channels` (>= in_channels).
  PadShortcutOptions(int64_t in_channels, int64_t out_channels)
      : in_channels_(in_channels), out_channels_(out_channels) {}
  /// Input channels C_in.
  TORCH_ARG(int64_t, in_channels);
  /// Output channels C_out >= C_in: C_out - C_in zero channels are added.
  TORCH_ARG(int64_t, out_channels);
  /// Spatial step: x[:, :, ::stride, ::stride].
  TORCH_ARG(int64_t, stride) = 1;
};

/// Option A shortcut (He et al. 2015, §3.3 and §4.2): x[:, :, ::stride, ::stride] with zero
/// channels added, half before and the rest after: (N, C_in, H, W) ->
/// (N, C_out, ceil(H/stride), ceil(W/stride)). No parameters.
class PadShortcutImpl : public torch::nn::Cloneable<PadShortcutImpl>, public Scriptable, public OnnxExportable {
 public:
  /// Throws c10::Error when out_channels < in_channels (padding cannot remove channels).
  explicit PadShortcutImpl(const PadShortcutOptions& options);
  /// PadShortcutOptions(in_channels, out_channels).stride(stride).
  PadShortcutImpl(int64_t in_channels, int64_t out_channels, int64_t stride)
      : PadShortcutImpl(PadShortcutOptions(in_channels, out_channels).stride(stride)) {}
  /// Nothing to create: the module has no parameters or buffers.
  void reset() override {}
  /// Writes the module and its options, e.g. "skipzoo::models::PadShortcut(...)", for `std::cout << *m`.
  void pretty_print(std::ostream& stream) const override;
  /// (N, C_in, H, W) -> (N, C_out, ceil(H/stride), ceil(W/stride)).
  torch::Tensor forward(const torch::Tensor& x);
  /// The TorchScript twin (see script.h): the same slicing and torch.constant_pad_nd.
  torch::jit::Module script_twin() const override;
  /// The ONNX twin (see onnx_graph.h): Slice with steps (no shape arithmetic) and a channel Pad.
  std::string onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const override;

  /// The options the shortcut was built with.
  PadShortcutOptions options;
};
TORCH_MODULE(PadShortcut);

/// Option B shortcut, torchvision's `downsample`: a Sequential (keys "0", "1") of a 1x1 conv with
/// the block's stride and, in post-activation blocks, a norm layer. A subclass only to have a
/// plain forward(Tensor), so that it fits in an AnyModule next to PadShortcut.
class ProjectionImpl : public torch::nn::SequentialImpl {
 public:
  /// Sequential's constructors.
  using SequentialImpl::SequentialImpl;
  /// Runs the layers in order; in a block (N, C_in, H, W) -> (N, C_out, ceil(H/stride), ceil(W/stride)).
  torch::Tensor forward(torch::Tensor x) { return SequentialImpl::forward(x); }
};
TORCH_MODULE(Projection);

/// Implemented by the zoo's residual blocks (y = shortcut(x) + f(x)): the pieces that the
/// analyses (count_residual_blocks, block_variances) and ResNet's zero_init_residual need.
class ResidualBlock {
 public:
  virtual ~ResidualBlock() = default;
  /// Channels of the block's output.
  virtual int64_t out_channels() const = 0;
  /// Makes the residual branch f output zeros, so the block starts as (close to) the identity:
  /// torchvision's zero_init_residual (Goyal et al. 2017, "Accurate, Large Minibatch SGD").
  virtual void zero_init_residual() = 0;
};

/// torchvision's BasicBlock (He et al. 2015, fig. 5 left):
/// relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), two 3x3 convs, the first with the stride.
/// (N, in_planes, H, W) -> (N, planes, ceil(H/stride), ceil(W/stride)).
/// He-initialised on construction (init_he_fan_out), as inside a ResNet.
class BasicBlockImpl : public torch::nn::Cloneable<BasicBlockImpl>,
                       public Scriptable,
                       public OnnxExportable,
                       public ResidualBlock {
 public:
  /// Output channels per unit of `planes` (torchvision's BasicBlock.expansion).
  static constexpr int64_t expansion = 1;
  /// Builds the layers (see reset()). Throws c10::Error unless groups == 1, base_width == 64 and
  /// dilation == 1, or when a Pad shortcut would have to reduce channels.
  explicit BasicBlockImpl(const BlockOptions& options);
  /// Creates and registers the layers from `options` (called by the constructor and by clone()).
  void reset() override;
  /// Writes the module and its options, e.g. "skipzoo::models::BasicBlock(...)", for `std::cout << *m`.
  void pretty_print(std::ostream& stream) const override;
  /// (N, in_planes, H, W) -> (N, planes, ceil(H/stride), ceil(W/stride)).
  torch::Tensor forward(torch::Tensor x);
  /// The TorchScript twin with the same parameter names (see script.h).
  torch::jit::Module script_twin() const override;
  /// The ONNX twin (see onnx_graph.h): the same names and nodes, in inference form.
  std::string onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const override;
  /// planes * expansion.
  int64_t out_channels() const override { return options.planes() * expansion; }
  /// Zeroes bn2's scale (conv2's weight with Norm::None): the block starts as relu(shortcut(x)).
  void zero_init_residual() override;

  /// The options the block was built with.
  BlockOptions options;
  /// The 3x3 convolutions, no bias: conv1 (in_planes -> planes, with the stride), conv2.
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  /// The norm layers after conv1 and conv2, and the shortcut registered as "downsample": empty
  /// for the identity, else a Projection or a PadShortcut.
  torch::nn::AnyModule bn1, bn2, downsample;
};
TORCH_MODULE(BasicBlock);

/// torchvision's Bottleneck, ResNet v1.5 (He et al. 2015, fig. 5 right, with the stride on the
/// 3x3 conv instead of the first 1x1): 1x1 reduce, 3x3 (grouped for ResNeXt, Xie et al. 2017),
/// 1x1 expand, each followed by a norm, then add the shortcut and ReLU.
/// (N, in_planes, H, W) -> (N, 4 * planes, ceil(H/stride), ceil(W/stride)).
/// He-initialised on construction (init_he_fan_out), as inside a ResNet.
class BottleneckImpl : public torch::nn::Cloneable<BottleneckImpl>,
                       public Scriptable,
                       public OnnxExportable,
                       public ResidualBlock {
 public:
  /// Output channels per unit of `planes` (torchvision's Bottleneck.expansion).
  static constexpr int64_t expansion = 4;
  /// Builds the layers (see reset()). Throws c10::Error when a Pad shortcut would have to
  /// reduce channels.
  explicit BottleneckImpl(const BlockOptions& options);
  /// Creates and registers the layers from `options` (called by the constructor and by clone()).
  void reset() override;
  /// Writes the module and its options, e.g. "skipzoo::models::Bottleneck(...)", for `std::cout << *m`.
  void pretty_print(std::ostream& stream) const override;
  /// (N, in_planes, H, W) -> (N, 4 * planes, ceil(H/stride), ceil(W/stride)).
  torch::Tensor forward(torch::Tensor x);
  /// The TorchScript twin with the same parameter names (see script.h).
  torch::jit::Module script_twin() const override;
  /// The ONNX twin (see onnx_graph.h): the same names and nodes, in inference form.
  std::string onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const override;
  /// planes * expansion.
  int64_t out_channels() const override { return options.planes() * expansion; }
  /// Zeroes bn3's scale (conv3's weight with Norm::None): the block starts as relu(shortcut(x)).
  void zero_init_residual() override;

  /// The options the block was built with.
  BlockOptions options;
  /// conv1: 1x1 in_planes -> width (width = int(planes * base_width / 64) * groups); conv2: 3x3
  /// width -> width with the stride, groups and dilation; conv3: 1x1 width -> 4 * planes. No bias.
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  /// The norm layers after conv1..conv3, and the shortcut registered as "downsample": empty for
  /// the identity, else a Projection or a PadShortcut.
  torch::nn::AnyModule bn1, bn2, bn3, downsample;
};
TORCH_MODULE(Bottleneck);

/// Pre-activation basic block (He et al. 2016, fig. 4e, "full pre-activation"):
/// shortcut + conv2(relu(bn2(conv1(relu(bn1(x)))))), no ReLU after the addition. A projection
/// (without a norm of its own) or pad shortcut takes relu(bn1(x)); the identity takes x.
/// (N, in_planes, H, W) -> (N, planes, ceil(H/stride), ceil(W/stride)).
/// He-initialised on construction (init_he_fan_out), as inside a ResNet.
class PreActBasicBlockImpl : public torch::nn::Cloneable<PreActBasicBlockImpl>,
                             public Scriptable,
                             public OnnxExportable,
                             public ResidualBlock {
 public:
  /// Output channels per unit of `planes`.
  static constexpr int64_t expansion = 1;
  /// Builds the layers (see reset()). Throws c10::Error unless groups == 1 and base_width == 64,
  /// or when a Pad shortcut would have to reduce channels. Dilation is supported.
  explicit PreActBasicBlockImpl(const BlockOptions& options);
  /// Creates and registers the layers from `options` (called by the constructor and by clone()).
  void reset() override;
  /// Writes the module and its options, e.g. "skipzoo::models::PreActBasicBlock(...)", for `std::cout << *m`.
  void pretty_print(std::ostream& stream) const override;
  /// (N, in_planes, H, W) -> (N, planes, ceil(H/stride), ceil(W/stride)).
  torch::Tensor forward(torch::Tensor x);
  /// The TorchScript twin with the same parameter names (see script.h).
  torch::jit::Module script_twin() const override;
  /// The ONNX twin (see onnx_graph.h): the same names and nodes, in inference form.
  std::string onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const override;
  /// planes * expansion.
  int64_t out_channels() const override { return options.planes() * expansion; }
  /// Zeroes conv2's weight (there is no norm after it): the block starts as shortcut(x).
  void zero_init_residual() override;

  /// The options the block was built with.
  BlockOptions options;
  /// bn1 over the input (in_planes), bn2 over conv1's output, and the shortcut registered as
  /// "downsample" (empty for the identity, else a Projection without norm or a PadShortcut).
  torch::nn::AnyModule bn1, bn2, downsample;
  /// The 3x3 convolutions, no bias: conv1 (in_planes -> planes, with the stride), conv2.
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
};
TORCH_MODULE(PreActBasicBlock);

/// Pre-activation bottleneck (He et al. 2016): BN-ReLU-1x1, BN-ReLU-3x3 (stride, groups,
/// dilation), BN-ReLU-1x1, plus the shortcut, no ReLU after the addition. A projection (without
/// a norm of its own) or pad shortcut takes relu(bn1(x)); the identity takes x.
/// (N, in_planes, H, W) -> (N, 4 * planes, ceil(H/stride), ceil(W/stride)).
/// He-initialised on construction (init_he_fan_out), as inside a ResNet.
class PreActBottleneckImpl : public torch::nn::Cloneable<PreActBottleneckImpl>,
                             public Scriptable,
                             public OnnxExportable,
                             public ResidualBlock {
 public:
  /// Output channels per unit of `planes`.
  static constexpr int64_t expansion = 4;
  /// Builds the layers (see reset()). Throws c10::Error when a Pad shortcut would have to
  /// reduce channels.
  explicit PreActBottleneckImpl(const BlockOptions& options);
  /// Creates and registers the layers from `options` (called by the constructor and by clone()).
  void reset() override;
  /// Writes the module and its options, e.g. "skipzoo::models::PreActBottleneck(...)", for `std::cout << *m`.
  void pretty_print(std::ostream& stream) const override;
  /// (N, in_planes, H, W) -> (N, 4 * planes, ceil(H/stride), ceil(W/stride)).
  torch::Tensor forward(torch::Tensor x);
  /// The TorchScript twin with the same parameter names (see script.h).
  torch::jit::Module script_twin() const override;
  /// The ONNX twin (see onnx_graph.h): the same names and nodes, in inference form.
  std::string onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const override;
  /// planes * expansion.
  int64_t out_channels() const override { return options.planes() * expansion; }
  /// Zeroes conv3's weight (there is no norm after it): the block starts as shortcut(x).
  void zero_init_residual() override;

  /// The options the block was built with.
  BlockOptions options;
  /// bn1 over the input (in_planes), bn2 and bn3 over the inner width, and the shortcut
  /// registered as "downsample" (empty for the identity, else a Projection or a PadShortcut).
  torch::nn::AnyModule bn1, bn2, bn3, downsample;
  /// conv1: 1x1 in_planes -> width; conv2: 3x3 width -> width with the stride; conv3: 1x1
  /// width -> 4 * planes (width as in Bottleneck). No bias.
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
};
TORCH_MODULE(PreActBottleneck);

/// Options of PreActUnit.
struct PreActUnitOptions {
  /// A unit over `channels` feature maps.
  /* implicit */ PreActUnitOptions(int64_t channels) : channels_(channels) {}
  /// C, the channels in and out.
  TORCH_ARG(int64_t, channels);
  /// The norm layer over the input.
  TORCH_ARG(Norm, norm) = Norm::Batch;
};

/// The simplest residual block of Prince, *Understanding Deep Learning* (MIT Press 2023), ch. 11:
/// x + conv3x3(ReLU(BN(x))), channels in == out, stride 1: (N, C, H, W) -> (N, C, H, W).
/// Problem 11.8 counts its parameters (`skipzoo info preact_unit`).
class PreActUnitImpl : public torch::nn::Cloneable<PreActUnitImpl>,
                       public Scriptable,
                       public OnnxExportable,
                       public ResidualBlock {
 public:
  /// The unit `options` describe, He-initialised (init_he_fan_out).
  explicit PreActUnitImpl(const PreActUnitOptions& options);
  /// PreActUnitOptions(channels).norm(norm).
  PreActUnitImpl(int64_t channels, Norm norm) : PreActUnitImpl(PreActUnitOptions(channels).norm(norm)) {}
  /// Creates and registers bn1 and conv1 (called by the constructor and by clone()).
  void reset() override;
  /// Writes the module and its options, e.g. "skipzoo::models::PreActUnit(...)", for `std::cout << *m`.
  void pretty_print(std::ostream& stream) const override;
  /// (N, C, H, W) -> (N, C, H, W).
  torch::Tensor forward(torch::Tensor x);
  /// The TorchScript twin with the same parameter names (see script.h).
  torch::jit::Module script_twin() const override;
  /// The ONNX twin (see onnx_graph.h): the same names and nodes, in inference form.
  std::string onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const override;
  /// C, the channels in and out.
  int64_t out_channels() const override { return options.channels(); }
  /// Zeroes conv1's weight: the block starts as exactly the identity.
  void zero_init_residual() override;

  /// The norm layer over the input.
  torch::nn::AnyModule bn1;
  /// The 3x3 convolution, C -> C, no bias.
  torch::nn::Conv2d conv1{nullptr};
  /// The options the unit was built with.
  PreActUnitOptions options;
};
TORCH_MODULE(PreActUnit);

}  // namespace skipzoo::models
