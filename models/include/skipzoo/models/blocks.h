#pragma once
// Residual blocks: torchvision's BasicBlock and Bottleneck (ResNet v1.5, stride on the 3x3)
// and the pre-activation variants of He et al. 2016 ("Identity Mappings in Deep Residual
// Networks"): BN-ReLU-conv, and no ReLU after the addition.
#include <skipzoo/models/norm.h>
#include <skipzoo/models/script.h>
#include <torch/torch.h>

namespace skipzoo::models {

// How a block matches the identity path when the shape changes.
enum class Shortcut {
  Projection,  // option B: 1x1 conv (+ norm); torchvision's `downsample`
  Pad          // option A (He et al. 2015, CIFAR): subsample and zero-pad channels, no parameters
};
Shortcut parse_shortcut(const std::string& name);  // "B"/"projection", "A"/"pad"
std::string shortcut_name(Shortcut shortcut);

struct BlockOptions {
  BlockOptions(int64_t in_planes, int64_t planes) : in_planes_(in_planes), planes_(planes) {}
  TORCH_ARG(int64_t, in_planes);
  TORCH_ARG(int64_t, planes);  // output channels are planes * expansion
  TORCH_ARG(int64_t, stride) = 1;
  TORCH_ARG(int64_t, groups) = 1;
  TORCH_ARG(int64_t, base_width) = 64;
  TORCH_ARG(int64_t, dilation) = 1;
  TORCH_ARG(Norm, norm) = Norm::Batch;
  TORCH_ARG(Shortcut, shortcut) = Shortcut::Projection;
};

// Option A shortcut: x[:, :, ::stride, ::stride] zero-padded from in to out channels.
class PadShortcutImpl : public torch::nn::Cloneable<PadShortcutImpl>, public Scriptable {
 public:
  PadShortcutImpl(int64_t in_channels, int64_t out_channels, int64_t stride);
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x);
  torch::jit::Module script_twin() const override;

 private:
  int64_t in_channels_, out_channels_, stride_;
};
TORCH_MODULE(PadShortcut);

// torchvision's `downsample`: a Sequential (keys "0", "1") with a plain forward, so that it
// fits in an AnyModule next to PadShortcut.
class ProjectionImpl : public torch::nn::SequentialImpl {
 public:
  using SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return SequentialImpl::forward(x); }
};
TORCH_MODULE(Projection);

// Residual blocks expose the pieces that analyses and init need.
class ResidualBlock {
 public:
  virtual ~ResidualBlock() = default;
  virtual int64_t out_channels() const = 0;
  // Makes the block start as (close to) the identity: torchvision's zero_init_residual.
  virtual void zero_init_residual() = 0;
};

class BasicBlockImpl : public torch::nn::Cloneable<BasicBlockImpl>,
                       public Scriptable,
                       public ResidualBlock {
 public:
  static constexpr int64_t expansion = 1;
  explicit BasicBlockImpl(const BlockOptions& options);
  void reset() override;
  torch::Tensor forward(torch::Tensor x);
  torch::jit::Module script_twin() const override;
  int64_t out_channels() const override { return options.planes() * expansion; }
  void zero_init_residual() override;

  BlockOptions options;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::AnyModule bn1, bn2, downsample;
};
TORCH_MODULE(BasicBlock);

class BottleneckImpl : public torch::nn::Cloneable<BottleneckImpl>,
                       public Scriptable,
                       public ResidualBlock {
 public:
  static constexpr int64_t expansion = 4;
  explicit BottleneckImpl(const BlockOptions& options);
  void reset() override;
  torch::Tensor forward(torch::Tensor x);
  torch::jit::Module script_twin() const override;
  int64_t out_channels() const override { return options.planes() * expansion; }
  void zero_init_residual() override;

  BlockOptions options;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::AnyModule bn1, bn2, bn3, downsample;
};
TORCH_MODULE(Bottleneck);

class PreActBasicBlockImpl : public torch::nn::Cloneable<PreActBasicBlockImpl>,
                             public Scriptable,
                             public ResidualBlock {
 public:
  static constexpr int64_t expansion = 1;
  explicit PreActBasicBlockImpl(const BlockOptions& options);
  void reset() override;
  torch::Tensor forward(torch::Tensor x);
  torch::jit::Module script_twin() const override;
  int64_t out_channels() const override { return options.planes() * expansion; }
  void zero_init_residual() override;  // zeroes conv2: there is no norm after it

  BlockOptions options;
  torch::nn::AnyModule bn1, bn2, downsample;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
};
TORCH_MODULE(PreActBasicBlock);

class PreActBottleneckImpl : public torch::nn::Cloneable<PreActBottleneckImpl>,
                             public Scriptable,
                             public ResidualBlock {
 public:
  static constexpr int64_t expansion = 4;
  explicit PreActBottleneckImpl(const BlockOptions& options);
  void reset() override;
  torch::Tensor forward(torch::Tensor x);
  torch::jit::Module script_twin() const override;
  int64_t out_channels() const override { return options.planes() * expansion; }
  void zero_init_residual() override;  // zeroes conv3

  BlockOptions options;
  torch::nn::AnyModule bn1, bn2, bn3, downsample;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
};
TORCH_MODULE(PreActBottleneck);

// The chapter's simplest residual block: x + conv3x3(ReLU(BN(x))), channels in == out.
class PreActUnitImpl : public torch::nn::Cloneable<PreActUnitImpl>,
                       public Scriptable,
                       public ResidualBlock {
 public:
  PreActUnitImpl(int64_t channels, Norm norm = Norm::Batch);
  void reset() override;
  torch::Tensor forward(torch::Tensor x);
  torch::jit::Module script_twin() const override;
  int64_t out_channels() const override { return channels_; }
  void zero_init_residual() override;

  torch::nn::AnyModule bn1;
  torch::nn::Conv2d conv1{nullptr};

 private:
  int64_t channels_;
  Norm norm_;
};
TORCH_MODULE(PreActUnit);

}  // namespace skipzoo::models
