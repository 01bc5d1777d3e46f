#pragma once
// The loops behind batch_norm_relu_train(): float (N, C, H, W) activations stored either
// contiguous (N*C planes of H*W values) or channels-last (N*H*W rows of C values). Sums go
// through float blocks into double, in a fixed order: the same input gives the same bits
// whatever the thread count. The loops split work with at::parallel_for, which uses LibTorch's
// intra-op threads only when compiled with OpenMP (cmake/SkipzooTarget.cmake).
#include <cstdint>

namespace skipzoo::models::detail {

struct ActivationLayout {
  int64_t n = 0, c = 0, hw = 0;  // batch, channels, values per channel plane
  bool channels_last = false;
  int64_t values_per_channel() const { return n * hw; }
};

// Per channel c, over its n * hw values v: sum (v - shift[c]) and sum (v - shift[c])^2. A
// shift near the mean (any value of the channel) keeps the variance from cancelling.
void channel_moments(const float* x, const ActivationLayout& l, const float* shift, double* sum, double* sum_sq);

// out = max(x * scale[c] + offset[c] + residual * residual_scale[c], 0), NaN staying NaN;
// residual may be null (then residual_scale is not read). A residual_scale of 1 adds the residual
// as it is; BatchNorm's scale adds a second normalised input (offset holding both offsets).
// positive, when not null, gets ReLU's mask for the backward (0 where out <= 0, 1 elsewhere): a
// quarter of out's bytes to read back.
void scale_add_relu(const float* x, const float* residual, const float* residual_scale, const ActivationLayout& l,
                    const float* scale, const float* offset, float* out, uint8_t* positive);

// One normalised input of the backward: its values and batch means (C), and, for the input
// gradient, BatchNorm's per-channel coefficients (C each) and where the gradient goes.
struct NormInput {
  const float* x = nullptr;
  const float* mean = nullptr;
  const float* k_grad = nullptr;
  const float* k_x = nullptr;
  const float* k_const = nullptr;
  float* dx = nullptr;
};

// With g' = (positive ? dy : 0), positive from scale_add_relu: per channel, sum g' into sum_g and
// sum g' * (x - mean[c]) into sum_gx, and, when `shortcut` is not null, sum g' * (x2 - mean2[c])
// of the shortcut's input into sum_gx2; writes g' to masked_grad when it is not null (the
// residual's gradient; no shortcut then). Only the x and mean of the inputs are read.
void masked_grad_sums(const float* dy, const uint8_t* positive, const ActivationLayout& l, const NormInput& in,
                      const NormInput* shortcut, double* sum_g, double* sum_gx, double* sum_gx2, float* masked_grad);

// in.dx = (positive ? dy : 0) * k_grad[c] + (x - mean[c]) * k_x[c] + k_const[c]: BatchNorm's input
// gradient with its per-channel coefficients folded in; the same for `shortcut` when not null,
// in the same pass.
void masked_affine_grad(const float* dy, const uint8_t* positive, const ActivationLayout& l, const NormInput& in,
                        const NormInput* shortcut);

}  // namespace skipzoo::models::detail
