#pragma once
/// @file
/// U-Net (Ronneberger et al. 2015) with a ResNet encoder (He et al. 2015). The encoder is a
/// headless torchvision ResNet registered as `encoder`, so its keys are torchvision's with an
/// "encoder." prefix and ImageNet weights can initialise it. The decoder upsamples x2 five
/// times, joining the skips at strides 16..2.
#include <skipzoo/models/resnet.h>
#include <skipzoo/models/unet.h>

namespace skipzoo::models {

/// Options of UNetResNet (the registry's unet_resnet18, unet_resnet34 and unet_resnet50).
struct UNetResNetOptions {
  /// The encoder: "resnet18", "resnet34" or "resnet50" (torchvision's, without its head).
  TORCH_ARG(std::string, encoder) = "resnet34";
  /// Input channels C (of the encoder's conv1).
  TORCH_ARG(int64_t, in_channels) = 3;
  /// Output channels: one logit map per class.
  TORCH_ARG(int64_t, classes) = 2;
  /// Output channels of the 5 decoder steps, which end at strides 16, 8, 4, 2 and 1; 5 entries.
  TORCH_ARG(std::vector<int64_t>, decoder_widths) = std::vector<int64_t>({256, 128, 64, 32, 16});
  /// Norm layer of the encoder and the decoder.
  TORCH_ARG(Norm, norm) = Norm::Batch;
};

/// U-Net with a ResNet encoder: the input is zero-padded (bottom/right) to a multiple of 32, the
/// encoder's features() feed 5 bilinear UpBlocks (skips: layer3, layer2, layer1, the stem, none),
/// a 1x1 conv head gives the logits, which are cropped back to H x W.
class UNetResNetImpl : public torch::nn::Cloneable<UNetResNetImpl>, public Scriptable, public OnnxExportable {
 public:
  /// Builds the network: the encoder He-initialised as a ResNet, the decoder's blocks by init_he_fan_out,
  /// the head with LibTorch's default init. Throws c10::Error for another encoder or
  /// decoder_widths without 5 entries.
  explicit UNetResNetImpl(const UNetResNetOptions& options = {});
  /// Creates, registers and initialises the layers (called by the constructor and by clone()).
  void reset() override;
  /// Writes the module and its options, e.g. "skipzoo::models::UNetResNet(...)", for `std::cout << *m`.
  void pretty_print(std::ostream& stream) const override;
  /// (N, in_channels, H, W) -> logits (N, classes, H, W), for any H, W >= 1.
  torch::Tensor forward(torch::Tensor x);
  /// The TorchScript twin; it pads and crops too, so it accepts any size.
  torch::jit::Module script_twin() const override;
  /// The ONNX twin (see onnx_graph.h): pads and crops inside the graph with OnnxShapeMode::Dynamic; otherwise the input must be a multiple of 32.
  std::string onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const override;

  /// The options the network was built with.
  UNetResNetOptions options;
  /// The headless ResNet (num_classes 0), registered as "encoder".
  ResNet encoder{nullptr};
  /// The 5 UpBlocks, deepest first.
  torch::nn::ModuleList decoder{nullptr};
  /// 1x1 conv with bias, decoder_widths.back() -> classes.
  torch::nn::Conv2d head{nullptr};
};
TORCH_MODULE(UNetResNet);

}  // namespace skipzoo::models
