#pragma once
// U-Net with a ResNet encoder. The encoder is a headless torchvision ResNet registered as
// `encoder`, so its keys are torchvision's with an "encoder." prefix and ImageNet weights can
// initialise it. The decoder upsamples x2 five times, joining the skips at strides 16..2.
#include <skipzoo/models/resnet.h>
#include <skipzoo/models/unet.h>

namespace skipzoo::models {

struct UNetResNetOptions {
  TORCH_ARG(std::string, encoder) = "resnet34";  // resnet18, resnet34 or resnet50
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, classes) = 2;
  TORCH_ARG(std::vector<int64_t>, decoder_widths) = std::vector<int64_t>({256, 128, 64, 32, 16});
  TORCH_ARG(Norm, norm) = Norm::Batch;
};

class UNetResNetImpl : public torch::nn::Cloneable<UNetResNetImpl>, public Scriptable {
 public:
  explicit UNetResNetImpl(const UNetResNetOptions& options = {});
  void reset() override;
  torch::Tensor forward(torch::Tensor x);
  torch::jit::Module script_twin() const override;

  UNetResNetOptions options;
  ResNet encoder{nullptr};
  torch::nn::ModuleList decoder{nullptr};
  torch::nn::Conv2d head{nullptr};
};
TORCH_MODULE(UNetResNet);

}  // namespace skipzoo::models
