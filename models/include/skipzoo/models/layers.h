#pragma once
/// @file
/// Small helpers shared by the networks: torchvision's conv shorthands and weight init.
#include <torch/torch.h>

namespace skipzoo::models {

/// torchvision's 3x3 convolution with padding = dilation:
/// (N, in, H, W) -> (N, out, ceil(H/stride), ceil(W/stride)). No bias by default: a norm follows.
torch::nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride = 1, int64_t groups = 1,
                          int64_t dilation = 1, bool bias = false);
/// torchvision's 1x1 convolution: (N, in, H, W) -> (N, out, ceil(H/stride), ceil(W/stride)).
torch::nn::Conv2d conv1x1(int64_t in, int64_t out, int64_t stride = 1, bool bias = false);

/// torchvision's ResNet init for `root` and every descendant of it: He normal
/// (fan_out, ReLU gain; He et al. 2015, "Delving Deep into Rectifiers") for Conv2d weights, conv
/// biases 0, norm scale 1 and shift 0 (BatchNorm1d/2d, ManualBatchNorm). Linear and
/// ConvTranspose2d layers keep LibTorch's default init, as in torchvision. Every residual block
/// and ConvBlock applies it to its layers on construction (in reset()), and the networks to their
/// stems, so a module built directly starts as the one create_model makes; classifier heads
/// (ResNet's fc, the U-Nets' 1x1 heads) and transposed convs keep LibTorch's default init.
void init_he_fan_out(torch::nn::Module& root);

}  // namespace skipzoo::models
