#pragma once
// U-Net (Ronneberger et al. 2015; the book's figure 11.10) with "same" padding: the input is
// zero-padded to a multiple of 2^depth and the logits are cropped back, so the output H x W
// equals the input H x W for any size, 1x1 included.
#include <skipzoo/models/norm.h>
#include <skipzoo/models/script.h>
#include <torch/torch.h>

namespace skipzoo::models {

enum class Upsampling { Bilinear, Transpose };
Upsampling parse_upsampling(const std::string& name);  // "bilinear", "transpose"
std::string upsampling_name(Upsampling mode);

// conv3x3-norm-ReLU twice. Convs carry a bias only when there is no norm to absorb it.
class ConvBlockImpl : public torch::nn::Cloneable<ConvBlockImpl>, public Scriptable {
 public:
  ConvBlockImpl(int64_t in, int64_t out, Norm norm = Norm::Batch);
  void reset() override;
  torch::Tensor forward(torch::Tensor x);
  torch::jit::Module script_twin() const override;

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::AnyModule bn1, bn2;

 private:
  int64_t in_, out_;
  Norm norm_;
};
TORCH_MODULE(ConvBlock);

// Decoder step: upsample x2 (bilinear, or a 2x2 transposed conv that halves the channels),
// concatenate the skip (if any), then a ConvBlock.
class UpBlockImpl : public torch::nn::Cloneable<UpBlockImpl>, public Scriptable {
 public:
  UpBlockImpl(int64_t in, int64_t skip, int64_t out, Upsampling mode, Norm norm = Norm::Batch);
  void reset() override;
  torch::Tensor forward(torch::Tensor x, torch::Tensor skip = {});
  torch::jit::Module script_twin() const override;

  torch::nn::ConvTranspose2d up{nullptr};  // Transpose mode only
  ConvBlock conv{nullptr};

 private:
  int64_t in_, skip_, out_;
  Upsampling mode_;
  Norm norm_;
};
TORCH_MODULE(UpBlock);

struct UNetOptions {
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, classes) = 2;
  TORCH_ARG(int64_t, depth) = 4;        // number of 2x downsamplings
  TORCH_ARG(int64_t, base_width) = 32;  // channels at full resolution; doubles per level
  TORCH_ARG(Upsampling, upsampling) = Upsampling::Bilinear;
  TORCH_ARG(Norm, norm) = Norm::Batch;
};

class UNetImpl : public torch::nn::Cloneable<UNetImpl>, public Scriptable {
 public:
  explicit UNetImpl(const UNetOptions& options = {});
  void reset() override;
  torch::Tensor forward(torch::Tensor x);  // (N, C, H, W) -> logits (N, classes, H, W)
  torch::jit::Module script_twin() const override;

  UNetOptions options;
  torch::nn::ModuleList down{nullptr}, up{nullptr};
  torch::nn::Conv2d head{nullptr};
};
TORCH_MODULE(UNet);

// Pads H and W up to a multiple of `multiple` (zeros at the bottom/right); the U-Nets crop back.
torch::Tensor pad_to_multiple(const torch::Tensor& x, int64_t multiple);
// TorchScript source lines that do the same, and the crop: shared by the U-Net twins.
std::string script_pad_to_multiple(int64_t multiple);
std::string script_crop_return(const std::string& var);

}  // namespace skipzoo::models
