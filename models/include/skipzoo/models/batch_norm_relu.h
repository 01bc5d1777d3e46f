#pragma once
/// @file
/// BatchNorm, an optional residual and ReLU as one operation: y = relu(BN(x) + residual), the
/// tail of every conv-BN-ReLU and of every residual block (He et al. 2016, "Deep Residual
/// Learning for Image Recognition", fig. 2 and 5). These ops are memory-bound on a CPU: each pass
/// over the activations costs time, and the separate ops make many (BatchNorm's statistics and
/// normalisation, the addition, the clamp; backward ReLU's mask, BatchNorm's two). In training, on
/// float CPU tensors, this runs as two passes forward (statistics; normalise, add, clamp and keep
/// ReLU's mask as bytes) and two backward (per-channel sums of the masked gradient; the input
/// gradient), reading the byte mask instead of the float output. Elsewhere (inference, other
/// dtypes or devices, other norm layers) it is the separate ops. The backward is BatchNorm's
/// (Prince 2023, *Understanding Deep Learning*, problem 11.5) applied to ReLU's masked gradient.
#include <torch/torch.h>

namespace skipzoo::models {

/// y = relu(batch_norm(x) + residual) in training mode: batch statistics of `x`, which update
/// `running_mean` and `running_var` as torch::batch_norm does (momentum `momentum`, unbiased
/// variance), then the affine transform, the residual and the clamp, with one autograd node
/// giving the gradients of x, weight, bias and residual (first derivatives only: its backward
/// is not itself differentiable). Profilers show it as "skipzoo::batch_norm_relu".
/// - x: (N, C, H, W) float, contiguous or channels-last.
/// - weight, bias: (C) float (gamma, beta).
/// - residual: undefined (none) or x's shape; any layout.
/// - running_mean, running_var: (C) float, updated in place; undefined: not tracked.
/// - eps: added to the variance (torch::nn::BatchNorm2d's 1e-5).
/// Returns y in x's layout. Inputs it does not handle (another dtype, device or layout) go
/// through torch::batch_norm, `+` and torch::relu instead, whose errors it passes on. Throws
/// c10::Error "Expected more than 1 value per channel when training" (as torch::nn::BatchNorm2d)
/// when N * H * W is 1.
torch::Tensor batch_norm_relu_train(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                    const torch::Tensor& residual, torch::Tensor running_mean, torch::Tensor running_var,
                                    double momentum, double eps);

/// `norm`, then `residual` added (when defined), then ReLU: what ends a conv-norm-ReLU unit or a
/// residual block, for any norm layer of make_norm2d(). A torch::nn::BatchNorm2d in training
/// mode with running statistics and an affine transform goes through batch_norm_relu_train()
/// (counting num_batches_tracked, and with momentum unset its cumulative average, as the
/// module's own forward does); any other layer or mode runs `norm.forward(x) + residual` and
/// relu. Shapes: x (N, C, H, W), residual undefined or x's shape; returns x's shape.
torch::Tensor norm_relu(torch::nn::AnyModule& norm, const torch::Tensor& x, const torch::Tensor& residual = {});

/// relu(norm(x) + shortcut_norm(shortcut)): the tail of a residual block whose shortcut is a
/// projection, a 1x1 conv then a norm (He et al. 2016, option B; torchvision's "downsample"),
/// `shortcut` being that conv's output. When both norms are torch::nn::BatchNorm2d in training mode
/// (as in norm_relu) and the kernels take both inputs, one node computes both normalisations,
/// the sum and the clamp (each BatchNorm with its own batch and running statistics, parameters
/// and num_batches_tracked): the shortcut's normalised values and their gradient are never
/// stored. Otherwise it is norm_relu(norm, x, shortcut_norm.forward(shortcut)).
/// Shapes: x and shortcut (N, C, H, W); returns x's shape. Throws c10::Error as norm_relu, or
/// when the shapes differ (from the addition).
torch::Tensor norm_relu(torch::nn::AnyModule& norm, const torch::Tensor& x, torch::nn::AnyModule& shortcut_norm,
                        const torch::Tensor& shortcut);

}  // namespace skipzoo::models
