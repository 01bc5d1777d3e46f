#pragma once
/// @file
/// The normalisation layer a zoo network puts after each conv (or linear) layer: BatchNorm
/// (Ioffe & Szegedy 2015, "Batch Normalization: Accelerating Deep Network Training by Reducing
/// Internal Covariate Shift"), none, or the hand-derived BatchNorm of manual_batch_norm.h.
/// "Prince 2023" is Prince, *Understanding Deep Learning* (MIT Press 2023), ch. 11.
#include <torch/torch.h>

#include <string>

namespace skipzoo::models {

/// Which normalisation layer a network uses: the "norm" option of every zoo model.
enum class Norm {
  Batch,   ///< torch::nn::BatchNorm1d/2d
  None,    ///< torch::nn::Identity: shows why BN matters (variance at initialisation, Prince 2023, problem 11.4)
  Manual   ///< ManualBatchNorm1d/2d: BatchNorm with the hand-derived backward of Prince 2023, problem 11.5
};

/// Parses "batch" (or "bn"), "none" or "manual". Throws std::invalid_argument for other names.
Norm parse_norm(const std::string& name);
/// The name parse_norm() reads back: "batch", "none" or "manual".
std::string norm_name(Norm norm);

/// A norm layer over `channels` feature maps, for (N, C, H, W) inputs; the shape is unchanged.
torch::nn::AnyModule make_norm2d(Norm norm, int64_t channels);
/// A norm layer over `features`, for (N, C) or (N, C, L) inputs; the shape is unchanged.
torch::nn::AnyModule make_norm1d(Norm norm, int64_t features);

/// Zeroes the scale (gamma, the "weight") of a norm layer, for zero_init_residual. Returns
/// false, changing nothing, when the layer has none (Norm::None's Identity).
bool zero_norm_scale(torch::nn::Module& norm);

}  // namespace skipzoo::models
