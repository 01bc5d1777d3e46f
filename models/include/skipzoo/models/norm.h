#pragma once
// The normalisation layer a zoo network puts after each conv (or linear) layer.
#include <torch/torch.h>

#include <string>

namespace skipzoo::models {

enum class Norm {
  Batch,   // torch::nn::BatchNorm
  None,    // identity: shows why BN matters (variance at initialisation)
  Manual   // ManualBatchNorm: BatchNorm with the hand-derived backward of problem 11.5
};

Norm parse_norm(const std::string& name);  // "batch", "none", "manual"
std::string norm_name(Norm norm);

// A norm layer for `channels` feature maps (2d) or features (1d).
torch::nn::AnyModule make_norm2d(Norm norm, int64_t channels);
torch::nn::AnyModule make_norm1d(Norm norm, int64_t features);

// Zero the scale of a norm layer (zero_init_residual); false when it has none.
bool zero_norm_scale(torch::nn::Module& norm);

}  // namespace skipzoo::models
