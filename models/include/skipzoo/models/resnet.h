#pragma once
/// @file
/// The ResNet family (He et al. 2015, "Deep Residual Learning for Image Recognition"):
/// torchvision's ImageNet ResNets, ResNeXts (Xie et al. 2017, "Aggregated Residual
/// Transformations for Deep Neural Networks") and Wide ResNets (Zagoruyko & Komodakis 2016,
/// "Wide Residual Networks"), with identical state_dict keys; the CIFAR ResNets of He et al.
/// 2015, §4.2; and pre-activation ResNets (He et al. 2016, "Identity Mappings in Deep Residual
/// Networks").
#include <skipzoo/models/blocks.h>
#include <skipzoo/models/norm.h>
#include <skipzoo/models/onnx_graph.h>
#include <skipzoo/models/script.h>
#include <torch/torch.h>

#include <vector>

namespace skipzoo::models {

/// The block of every stage: Basic (two 3x3 convs, expansion 1) or Bottleneck (1x1-3x3-1x1,
/// expansion 4); pre-activation forms with ResNetOptions::preact.
enum class BlockType { Basic, Bottleneck };
/// The layers before the first stage.
enum class Stem {
  ImageNet,  ///< 7x7/2 conv, norm, ReLU, 3x3/2 max pool: H -> ceil(H/4) before the first stage
  Cifar      ///< 3x3/1 conv (+ norm, ReLU unless pre-activation): H unchanged (He et al. 2015, §4.2)
};

/// Options of ResNet; resnet_options() gives those of the named networks.
struct ResNetOptions {
  /// The block of every stage.
  TORCH_ARG(BlockType, block) = BlockType::Basic;
  /// Pre-activation blocks, and a final norm + ReLU before pooling (He et al. 2016).
  TORCH_ARG(bool, preact) = false;
  /// Blocks per stage; non-empty, as long as `widths`.
  TORCH_ARG(std::vector<int64_t>, layers) = std::vector<int64_t>({2, 2, 2, 2});
  /// `planes` of each stage (its output channels are widths[i] * expansion); widths[0] is also
  /// the stem's output channels.
  TORCH_ARG(std::vector<int64_t>, widths) = std::vector<int64_t>({64, 128, 256, 512});
  /// The stem.
  TORCH_ARG(Stem, stem) = Stem::ImageNet;
  /// Classes of the linear head. 0: no head, forward returns the pooled features.
  TORCH_ARG(int64_t, num_classes) = 1000;
  /// Input channels C.
  TORCH_ARG(int64_t, in_channels) = 3;
  /// After He init, calls every block's zero_init_residual(), so each starts as (close to) the
  /// identity (torchvision's option; Goyal et al. 2017, "Accurate, Large Minibatch SGD").
  TORCH_ARG(bool, zero_init_residual) = false;
  /// Groups of the bottleneck 3x3 convs: ResNeXt's cardinality (Xie et al. 2017). Basic blocks
  /// require 1.
  TORCH_ARG(int64_t, groups) = 1;
  /// Channels per group of the bottleneck 3x3 convs at width 64 (64: ResNet; 128 with groups 1:
  /// Wide ResNet, Zagoruyko & Komodakis 2016). Basic blocks require 64.
  TORCH_ARG(int64_t, width_per_group) = 64;
  /// One flag per stage after the first: dilate instead of striding, which keeps the resolution
  /// (segmentation). Empty: all false; otherwise layers.size() - 1 flags. Post-activation basic
  /// blocks do not support dilation.
  TORCH_ARG(std::vector<bool>, replace_stride_with_dilation) = std::vector<bool>();
  /// Norm layer of the stem and the blocks.
  TORCH_ARG(Norm, norm) = Norm::Batch;
  /// Shortcut of the blocks that change shape (options A and B, He et al. 2015, §3.3).
  TORCH_ARG(Shortcut, shortcut) = Shortcut::Projection;
};

/// ResNet with torchvision's module names and state_dict keys: stem, stages layer1..layerS
/// (the first with stride 1, the others 2), global average pooling, linear head fc.
/// (N, in_channels, H, W) -> (N, num_classes) logits, for any H, W (global pooling).
class ResNetImpl : public torch::nn::Cloneable<ResNetImpl>, public Scriptable, public OnnxExportable {
 public:
  /// Builds the network and He-initialises it (init_he_fan_out), then applies
  /// zero_init_residual if set. Throws c10::Error when layers is empty or differs in length from
  /// widths, when replace_stride_with_dilation has neither 0 nor layers.size() - 1 flags, or when
  /// a block rejects its options (e.g. groups != 1 or dilation with post-activation basic blocks).
  explicit ResNetImpl(const ResNetOptions& options = {});
  /// Creates, registers and initialises the layers (called by the constructor and by clone()).
  void reset() override;
  /// Writes the module and its options, e.g. "skipzoo::models::ResNet(...)", for `std::cout << *m`.
  void pretty_print(std::ostream& stream) const override;
  /// (N, in_channels, H, W) -> logits (N, num_classes), or with num_classes 0 the pooled
  /// features (N, widths.back() * expansion).
  torch::Tensor forward(torch::Tensor x);
  /// The stem output (before max pooling) and each stage's output: the U-Net encoder's skips.
  /// [0] is (N, widths[0], ceil(H/2), ceil(W/2)) for the ImageNet stem, (N, widths[0], H, W) for
  /// CIFAR; [1 + i] is (N, widths[i] * expansion, ...) at strides 4, 8, 16, 32 (ImageNet stem)
  /// or 1, 2, 4 (CIFAR), rounded up, unless dilated. Pre-activation nets: before bn_final.
  std::vector<torch::Tensor> features(torch::Tensor x);
  /// The TorchScript twin with the same names; it has features() too (see script.h).
  torch::jit::Module script_twin() const override;
  /// The ONNX twin (see onnx_graph.h): stem, stages, GlobalAveragePool, Flatten and Gemm.
  std::string onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const override;
  /// The ONNX twin of features(): the names of the stem's output and of each stage's output.
  std::vector<std::string> onnx_features(OnnxGraph& g, const std::string& input, const std::string& prefix) const;

  /// K, the number of residual blocks (the sum of layers).
  int64_t num_blocks() const;
  /// Channels of features()[0]: widths[0].
  int64_t stem_channels() const;
  /// Channels of features()[1..]: widths[i] * expansion.
  std::vector<int64_t> stage_channels() const;

  /// The options the network was built with.
  ResNetOptions options;
  /// Stem conv, no bias: 7x7/2 (ImageNet stem) or 3x3/1 (CIFAR stem), in_channels -> widths[0].
  torch::nn::Conv2d conv1{nullptr};
  /// Stem norm: post-activation nets and the ImageNet stem; empty otherwise.
  torch::nn::AnyModule bn1;
  /// The stages, Sequentials of blocks registered as layer1, layer2, ...
  std::vector<torch::nn::Sequential> stages;
  /// Pre-activation nets: the norm (then ReLU) before pooling; empty otherwise.
  torch::nn::AnyModule bn_final;
  /// Linear head, widths.back() * expansion -> num_classes; null when num_classes is 0.
  torch::nn::Linear fc{nullptr};

 private:
  torch::Tensor stem(torch::Tensor x);
  torch::Tensor head(torch::Tensor x);
  bool stem_norm() const { return !options.preact() || options.stem() == Stem::ImageNet; }
};
TORCH_MODULE(ResNet);

/// The options of a named network; num_classes, in_channels and the rest can be changed on the
/// result. ImageNet (torchvision's builders): resnet18/34/50/101/152, resnext50_32x4d,
/// resnext101_32x8d, resnext101_64x4d, wide_resnet50_2, wide_resnet101_2. CIFAR (He et al. 2015,
/// §4.2: 6n+2 layers, widths 16-32-64, option A shortcuts, 10 classes): resnet20/32/44/56/110.
/// Pre-activation (He et al. 2016; CIFAR stem, 10 classes): preact_resnet18/34/110/164.
/// Throws std::invalid_argument for other names.
ResNetOptions resnet_options(const std::string& name);
/// The names resnet_options() knows, sorted.
std::vector<std::string> resnet_names();

}  // namespace skipzoo::models
