#pragma once
/// @file
/// U-Net (Ronneberger et al. 2015, "U-Net: Convolutional Networks for Biomedical Image
/// Segmentation", MICCAI; Prince, *Understanding Deep Learning*, MIT Press 2023, fig. 11.10)
/// with "same" padding: the input is zero-padded to a multiple of 2^depth and the logits are
/// cropped back, so the output H x W equals the input H x W for any size, 1x1 included.
#include <skipzoo/models/norm.h>
#include <skipzoo/models/onnx_graph.h>
#include <skipzoo/models/script.h>
#include <torch/torch.h>

namespace skipzoo::models {

/// How a decoder step doubles H and W: Bilinear (upsample_bilinear2d, align_corners false,
/// channels kept) or Transpose (a 2x2 stride-2 transposed conv that halves the channels).
enum class Upsampling { Bilinear, Transpose };
/// Parses "bilinear" or "transpose". Throws std::invalid_argument for other names.
Upsampling parse_upsampling(const std::string& name);
/// The name parse_upsampling() reads back.
std::string upsampling_name(Upsampling mode);

/// Options of ConvBlock.
struct ConvBlockOptions {
  /// `in_channels` -> `out_channels`.
  ConvBlockOptions(int64_t in_channels, int64_t out_channels) : in_channels_(in_channels), out_channels_(out_channels) {}
  /// Input channels.
  TORCH_ARG(int64_t, in_channels);
  /// Output channels of both convolutions.
  TORCH_ARG(int64_t, out_channels);
  /// The norm layer after each convolution (Norm::None: the convolutions get a bias instead).
  TORCH_ARG(Norm, norm) = Norm::Batch;
};

/// (3x3 conv, norm, ReLU) twice, padding 1: (N, in, H, W) -> (N, out, H, W). Convs carry a bias
/// only when there is no norm to absorb it (Norm::None). Unlike Ronneberger et al. 2015's
/// unpadded convs, H and W are kept.
class ConvBlockImpl : public torch::nn::Cloneable<ConvBlockImpl>, public Scriptable, public OnnxExportable {
 public:
  /// The block `options` describe, He-initialised (init_he_fan_out).
  explicit ConvBlockImpl(const ConvBlockOptions& options);
  /// ConvBlockOptions(in, out).norm(norm).
  ConvBlockImpl(int64_t in, int64_t out, Norm norm = Norm::Batch) : ConvBlockImpl(ConvBlockOptions(in, out).norm(norm)) {}
  /// Creates and registers the layers (called by the constructor and by clone()).
  void reset() override;
  /// Writes the module and its options, e.g. "skipzoo::models::ConvBlock(...)", for `std::cout << *m`.
  void pretty_print(std::ostream& stream) const override;
  /// (N, in, H, W) -> (N, out, H, W).
  torch::Tensor forward(torch::Tensor x);
  /// The TorchScript twin with the same parameter names (see script.h).
  torch::jit::Module script_twin() const override;
  /// The ONNX twin (see onnx_graph.h): the same names and nodes, in inference form.
  std::string onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const override;

  /// The 3x3 convolutions: conv1 in -> out, conv2 out -> out.
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  /// The norm layers after conv1 and conv2 (Identity with Norm::None).
  torch::nn::AnyModule bn1, bn2;
  /// The options the block was built with.
  ConvBlockOptions options;
};
TORCH_MODULE(ConvBlock);

/// Options of UpBlock.
struct UpBlockOptions {
  /// `in_channels` from below, `skip_channels` of the skip connection, `out_channels`.
  UpBlockOptions(int64_t in_channels, int64_t skip_channels, int64_t out_channels)
      : in_channels_(in_channels), skip_channels_(skip_channels), out_channels_(out_channels) {}
  /// Channels of the input from the level below.
  TORCH_ARG(int64_t, in_channels);
  /// Channels of the skip connection; 0: none (forward(x) alone).
  TORCH_ARG(int64_t, skip_channels);
  /// Output channels.
  TORCH_ARG(int64_t, out_channels);
  /// Bilinear x2, or a 2x2 stride-2 transposed conv that halves the channels.
  TORCH_ARG(Upsampling, upsampling) = Upsampling::Bilinear;
  /// The ConvBlock's norm layers.
  TORCH_ARG(Norm, norm) = Norm::Batch;
};

/// Decoder step: upsample x2 (bilinear, or a 2x2 transposed conv that halves the channels),
/// concatenate the skip (if any) on the channels, then a ConvBlock:
/// x (N, in, H, W) and skip (N, skip, 2H, 2W) -> (N, out, 2H, 2W).
class UpBlockImpl : public torch::nn::Cloneable<UpBlockImpl>, public Scriptable, public OnnxExportable {
 public:
  /// The block `options` describe; its ConvBlock is He-initialised (init_he_fan_out), a
  /// transposed-conv upsampler keeps LibTorch's default init.
  explicit UpBlockImpl(const UpBlockOptions& options);
  /// UpBlockOptions(in, skip, out).upsampling(mode).norm(norm).
  UpBlockImpl(int64_t in, int64_t skip, int64_t out, Upsampling mode, Norm norm = Norm::Batch)
      : UpBlockImpl(UpBlockOptions(in, skip, out).upsampling(mode).norm(norm)) {}
  /// Creates and registers the layers (called by the constructor and by clone()).
  void reset() override;
  /// Writes the module and its options, e.g. "skipzoo::models::UpBlock(...)", for `std::cout << *m`.
  void pretty_print(std::ostream& stream) const override;
  /// x (N, in, H, W), skip (N, skip, 2H, 2W) or undefined -> (N, out, 2H, 2W). A skip whose
  /// batch, H or W differ makes torch::cat throw c10::Error.
  torch::Tensor forward(torch::Tensor x, torch::Tensor skip = {});
  /// The TorchScript twin; its forward takes (x, skip) when skip > 0, else (x).
  torch::jit::Module script_twin() const override;
  /// The ONNX twin (see onnx_graph.h): only for skip == 0; the U-Nets call onnx_up() with their skip.
  std::string onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const override;
  /// The ONNX twin of forward(x, skip): Resize (linear, pytorch_half_pixel, scales 2) or
  /// ConvTranspose, Concat with `skip` ("" for none), then the ConvBlock; returns the output's name.
  std::string onnx_up(OnnxGraph& g, const std::string& x, const std::string& skip, const std::string& prefix) const;

  /// The 2x2 stride-2 transposed conv, in -> in/2 channels; Upsampling::Transpose only, else null.
  torch::nn::ConvTranspose2d up{nullptr};
  /// The ConvBlock after the concatenation: upsampled channels + skip -> out.
  ConvBlock conv{nullptr};
  /// The options the block was built with.
  UpBlockOptions options;
};
TORCH_MODULE(UpBlock);

/// Options of UNet (the registry's "unet": --classes, --in-channels and the JSON options depth,
/// base_width, upsampling, norm).
struct UNetOptions {
  /// Input channels C.
  TORCH_ARG(int64_t, in_channels) = 3;
  /// Output channels: one logit map per class.
  TORCH_ARG(int64_t, classes) = 2;
  /// Number of 2x downsamplings, 1..8; inputs are padded to a multiple of 2^depth.
  TORCH_ARG(int64_t, depth) = 4;
  /// Channels at full resolution, >= 2; doubles per level (base_width * 2^depth at the bottom).
  TORCH_ARG(int64_t, base_width) = 32;
  /// How the decoder upsamples.
  TORCH_ARG(Upsampling, upsampling) = Upsampling::Bilinear;
  /// Norm layer after every 3x3 conv.
  TORCH_ARG(Norm, norm) = Norm::Batch;
};

/// U-Net: ConvBlocks at base_width * 2^l channels joined by 2x2 max pooling, UpBlocks that join
/// the skip of every level, and a 1x1 conv head; pads the input (zeros, bottom/right) to a
/// multiple of 2^depth and crops the logits back.
class UNetImpl : public torch::nn::Cloneable<UNetImpl>, public Scriptable, public OnnxExportable {
 public:
  /// Builds the network from He-initialised blocks (init_he_fan_out); the 1x1 head keeps
  /// LibTorch's default init. Throws c10::Error unless
  /// 1 <= depth <= 8 and base_width >= 2.
  explicit UNetImpl(const UNetOptions& options = {});
  /// Creates, registers and initialises the layers (called by the constructor and by clone()).
  void reset() override;
  /// Writes the module and its options, e.g. "skipzoo::models::UNet(...)", for `std::cout << *m`.
  void pretty_print(std::ostream& stream) const override;
  /// (N, in_channels, H, W) -> logits (N, classes, H, W), for any H, W >= 1.
  torch::Tensor forward(torch::Tensor x);
  /// The TorchScript twin; it pads and crops too, so it accepts any size.
  torch::jit::Module script_twin() const override;
  /// The ONNX twin (see onnx_graph.h): pads and crops inside the graph with OnnxShapeMode::Dynamic; otherwise the input must be a multiple of 2^depth.
  std::string onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const override;

  /// The options the network was built with.
  UNetOptions options;
  /// Encoder ConvBlocks down[0..depth] (down[0] at full resolution, in_channels -> base_width)
  /// and decoder UpBlocks up[0..depth-1], deepest first.
  torch::nn::ModuleList down{nullptr}, up{nullptr};
  /// 1x1 conv with bias, base_width -> classes.
  torch::nn::Conv2d head{nullptr};
};
TORCH_MODULE(UNet);

/// Zero-pads (N, C, H, W) at the bottom and right to (N, C, ceil(H/m) * m, ceil(W/m) * m) for
/// m = `multiple`; returns x itself when nothing is missing. The U-Nets crop back.
torch::Tensor pad_to_multiple(const torch::Tensor& x, int64_t multiple);
/// TorchScript source lines that do the same to `x`, keeping its size in h and w: shared by the
/// U-Net twins.
std::string script_pad_to_multiple(int64_t multiple);
/// The TorchScript line that returns `var`[:, :, :h, :w], the crop undoing script_pad_to_multiple.
std::string script_crop_return(const std::string& var);

/// A U-Net input in an ONNX graph: the tensor the network runs on and, when the graph pads, the
/// name of an int64 [H, W] tensor with the size to crop back to ("" when nothing is padded).
struct OnnxPadded {
  std::string tensor;  ///< the (padded) input
  std::string size;    ///< the original [H, W], or "" when the graph does not pad
};
/// For the U-Net twins. OnnxShapeMode::Dynamic: nodes that zero-pad `input` at the bottom and
/// right to a multiple of `multiple` (Shape, Slice, Add, Div, Mul, Sub, Concat, Pad: ONNX Runtime,
/// not OpenCV). Multiple and Static: no nodes, the input is taken to be a multiple already.
/// Throws std::invalid_argument naming the module (`prefix`, `type`) and the option for a static
/// size that is not a multiple.
OnnxPadded onnx_pad_to_multiple(OnnxGraph& g, const std::string& input, int64_t multiple, const std::string& prefix,
                                const std::string& type);
/// Crops `x` back to padded.size with a Slice when the graph padded; returns `x` otherwise.
std::string onnx_crop(OnnxGraph& g, const std::string& x, const OnnxPadded& padded, const std::string& prefix);

}  // namespace skipzoo::models
