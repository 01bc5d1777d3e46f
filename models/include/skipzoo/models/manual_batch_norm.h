#pragma once
// BatchNorm written out as the chapter's operations (Prince, problem 11.5) with a backward pass
// derived by hand. Its parameters and buffers carry torch::nn::BatchNorm's names, so state
// dicts move freely between the two; any zoo model uses it with the option "norm": "manual".
#include <skipzoo/models/script.h>
#include <torch/torch.h>

namespace skipzoo::models {

// Training-mode batch norm over every dimension but 1 (the channels):
//   f1 = mean(x)   f2 = x - f1   f3 = f2^2   f4 = mean(f3)   f5 = sqrt(f4 + eps)
//   f6 = 1 / f5    f7 = f2 * f6  out = f7 * gamma + delta
// apply(x, gamma, delta, eps) returns {out, f1, f4}: the batch mean and the biased batch
// variance (per channel, not differentiable) feed the running statistics.
// backward walks the same operations in reverse with tensor ops only, no autograd inside.
struct ManualBatchNormFunction : public torch::autograd::Function<ManualBatchNormFunction> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                                                const torch::Tensor& gamma, const torch::Tensor& delta, double eps);
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs);
};

struct ManualBatchNormOptions {
  /* implicit */ ManualBatchNormOptions(int64_t num_features) : num_features_(num_features) {}
  TORCH_ARG(int64_t, num_features);
  TORCH_ARG(double, eps) = 1e-5;
  // running = (1 - momentum) * running + momentum * batch statistic, as torch::nn::BatchNorm.
  TORCH_ARG(double, momentum) = 0.1;
};

// D = 1: input (N, C) or (N, C, L); D = 2: input (N, C, H, W). Always affine, always tracking
// running statistics (the zoo's configuration). Training uses ManualBatchNormFunction and
// updates running_mean / running_var (unbiased) / num_batches_tracked as torch::batch_norm
// does; eval normalises with the running statistics.
template <size_t D>
class ManualBatchNormImpl : public torch::nn::Cloneable<ManualBatchNormImpl<D>>, public Scriptable {
 public:
  explicit ManualBatchNormImpl(const ManualBatchNormOptions& options);
  void reset() override;
  void reset_parameters();  // weight 1, bias 0, running statistics to their initial values
  torch::Tensor forward(const torch::Tensor& x);
  torch::jit::Module script_twin() const override;  // torch.batch_norm, same numbers
  void pretty_print(std::ostream& stream) const override;

  ManualBatchNormOptions options;
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;
};

using ManualBatchNorm1dImpl = ManualBatchNormImpl<1>;
using ManualBatchNorm2dImpl = ManualBatchNormImpl<2>;
TORCH_MODULE(ManualBatchNorm1d);
TORCH_MODULE(ManualBatchNorm2d);

// True for ManualBatchNorm1d/2d modules.
bool is_manual_batch_norm(const torch::nn::Module& module);

}  // namespace skipzoo::models
