#pragma once
// SGD with momentum and AdamW as one pass over each parameter. torch::optim::SGD updates a
// parameter with five separate ops (weight decay, momentum scale, momentum add, Nesterov's
// look-ahead, the step), each a full pass over the tensor and two of them allocating: about 14
// tensor-sized reads and writes where the update needs 5 (read the weight, gradient and momentum;
// write the weight and momentum). torch::optim::AdamW makes nine passes (~22 reads and writes,
// two allocating) where its update needs 7. Optimizer steps are memory-bound, so this is time:
// ResNet-50's 25.6 M weights are 100 MiB per pass, the default U-Net's 7.8 M are 31 MiB
// (docs/benchmarks.md).
#include <torch/torch.h>

namespace skipzoo::app {

// torch::optim::SGD's algorithm, options, state ("momentum_buffer" per parameter) and
// serialization, with the update of each dense float CPU parameter fused into one loop
// (weight decay, momentum with dampening, Nesterov's look-ahead). Other parameters (other
// dtypes or devices, sparse gradients, a gradient whose strides differ from the weight's) get
// the same update from tensor ops. A momentum buffer starts as the first decayed gradient, as
// torch::optim::SGD's does. Results equal torch::optim::SGD's up to float rounding (one
// multiply-add may round once instead of twice).
class FusedSGD : public torch::optim::SGD {
 public:
  using torch::optim::SGD::SGD;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

// torch::optim::AdamW's algorithm (Loshchilov & Hutter 2019: decoupled weight decay, then Adam's
// bias-corrected moments), options, state ("step", "exp_avg", "exp_avg_sq" per parameter) and
// serialization, with the update of each dense float CPU parameter fused into one loop. Other
// parameters get the same update from tensor ops; with amsgrad the whole step is
// torch::optim::AdamW's. Results equal torch::optim::AdamW's up to float rounding (no fused
// multiply-add). Both optimizers copy a state tensor loaded in another layout than its parameter's
// (the model's layout chosen again on resume) into the parameter's once.
class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace skipzoo::app
