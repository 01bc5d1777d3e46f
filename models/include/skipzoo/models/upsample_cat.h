#pragma once
/// @file
/// A U-Net decoder's input: the coarser features upsampled 2x (bilinear) and concatenated with the
/// encoder's skip features (Ronneberger et al. 2015, "U-Net", fig. 1; Prince 2023, *Understanding
/// Deep Learning*, fig. 11.10). As separate ops this writes the upsampled tensor, copies it and the
/// skip into the concatenation, and backward copies the concatenation's gradient apart again before
/// the upsampling's own backward; on channels-last tensors ATen's bilinear backward also converts
/// layouts. One node does it in one pass each way.
#include <torch/torch.h>

namespace skipzoo::models {

/// torch::cat({torch::upsample_bilinear2d(x, {2H, 2W}, align_corners=false), skip}, 1).
/// - x: (N, C_x, H, W); skip: (N, C_s, 2H, 2W), or undefined (no concatenation).
/// Returns (N, C_x + C_s, 2H, 2W). Float CPU tensors stored channels-last (at least one of them
/// not also contiguous, as one pixel or one channel is) with a skip of x's batch and 2H x 2W run
/// as one autograd node (first derivatives only: its backward is not itself differentiable),
/// shown in profiles as "skipzoo::upsample_cat", and return channels-last; anything else runs the
/// two ATen ops (the layout theirs), whose errors (c10::Error, e.g. for a skip of another size)
/// it passes on. Both give the same values.
torch::Tensor upsample_cat(const torch::Tensor& x, const torch::Tensor& skip);

}  // namespace skipzoo::models
