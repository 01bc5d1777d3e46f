#pragma once
// Small helpers shared by the networks: torchvision's conv shorthands and weight init.
#include <torch/torch.h>

namespace skipzoo::models {

torch::nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride = 1, int64_t groups = 1,
                          int64_t dilation = 1, bool bias = false);
torch::nn::Conv2d conv1x1(int64_t in, int64_t out, int64_t stride = 1, bool bias = false);

// torchvision's ResNet init: He normal (fan_out, ReLU) for conv weights, norm scale 1 and
// shift 0, conv biases 0. Linear layers keep LibTorch's default init, as torchvision does.
void init_he_fan_out(torch::nn::Module& root);

}  // namespace skipzoo::models
