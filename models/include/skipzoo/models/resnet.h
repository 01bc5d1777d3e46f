#pragma once
// The ResNet family: torchvision's ImageNet ResNets/ResNeXts/Wide ResNets (identical
// state_dict keys), the CIFAR ResNets of He et al. 2015 §4.2, and pre-activation ResNets.
#include <skipzoo/models/blocks.h>
#include <skipzoo/models/norm.h>
#include <skipzoo/models/script.h>
#include <torch/torch.h>

#include <vector>

namespace skipzoo::models {

enum class BlockType { Basic, Bottleneck };
enum class Stem {
  ImageNet,  // 7x7/2 conv, norm, ReLU, 3x3/2 max pool
  Cifar      // 3x3/1 conv (+ norm, ReLU unless pre-activation)
};

struct ResNetOptions {
  TORCH_ARG(BlockType, block) = BlockType::Basic;
  TORCH_ARG(bool, preact) = false;
  TORCH_ARG(std::vector<int64_t>, layers) = std::vector<int64_t>({2, 2, 2, 2});
  TORCH_ARG(std::vector<int64_t>, widths) = std::vector<int64_t>({64, 128, 256, 512});
  TORCH_ARG(Stem, stem) = Stem::ImageNet;
  TORCH_ARG(int64_t, num_classes) = 1000;  // 0: no head, forward returns pooled features
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(bool, zero_init_residual) = false;
  TORCH_ARG(int64_t, groups) = 1;
  TORCH_ARG(int64_t, width_per_group) = 64;
  // One flag per stage after the first: dilate instead of striding (segmentation).
  TORCH_ARG(std::vector<bool>, replace_stride_with_dilation) = std::vector<bool>();
  TORCH_ARG(Norm, norm) = Norm::Batch;
  TORCH_ARG(Shortcut, shortcut) = Shortcut::Projection;
};

class ResNetImpl : public torch::nn::Cloneable<ResNetImpl>, public Scriptable {
 public:
  explicit ResNetImpl(const ResNetOptions& options = {});
  void reset() override;
  torch::Tensor forward(torch::Tensor x);
  // The stem output (before max pooling) and each stage's output: the U-Net encoder's skips.
  std::vector<torch::Tensor> features(torch::Tensor x);
  torch::jit::Module script_twin() const override;

  int64_t num_blocks() const;           // K, the number of residual blocks
  int64_t stem_channels() const;        // channels of features()[0]
  std::vector<int64_t> stage_channels() const;  // channels of features()[1..]

  ResNetOptions options;
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::AnyModule bn1;                     // post-activation nets and the ImageNet stem
  std::vector<torch::nn::Sequential> stages;    // registered as layer1, layer2, ...
  torch::nn::AnyModule bn_final;                // pre-activation nets: norm before the head
  torch::nn::Linear fc{nullptr};

 private:
  torch::Tensor stem(torch::Tensor x);
  torch::Tensor head(torch::Tensor x);
  bool stem_norm() const { return !options.preact() || options.stem() == Stem::ImageNet; }
};
TORCH_MODULE(ResNet);

// torchvision builders (num_classes, in_channels, and the rest through options).
ResNetOptions resnet_options(const std::string& name);  // e.g. "resnet50", "resnet20", "preact_resnet18"
std::vector<std::string> resnet_names();

}  // namespace skipzoo::models
