#pragma once
/// @file
/// BatchNorm (Ioffe & Szegedy 2015) written out as the operations f1..f7 of Prince,
/// *Understanding Deep Learning* (MIT Press 2023), problem 11.5, with a backward pass derived by
/// hand. Its parameters and buffers carry torch::nn::BatchNorm's names, so state dicts move
/// freely between the two; any zoo model uses it with the option "norm": "manual".
#include <skipzoo/models/onnx_graph.h>
#include <skipzoo/models/script.h>
#include <torch/torch.h>

#include <functional>

namespace skipzoo::models {

/// Sums a tensor in place over the replicas of a data-parallel run (every replica calls it with
/// a tensor of the same shape, in the same order), without autograd. Set on a ManualBatchNorm,
/// it makes the layer's batch statistics those of the global batch: synchronised BatchNorm.
using ReplicaSum = std::function<void(torch::Tensor&)>;

/// The autograd function of training-mode batch norm over every dimension but 1 (the channels):
///   f1 = mean(x)   f2 = x - f1   f3 = f2^2   f4 = mean(f3)   f5 = sqrt(f4 + eps)
///   f6 = 1 / f5    f7 = f2 * f6  out = f7 * gamma + delta
/// apply(x, gamma, delta, eps, replicas) returns {out, f1, f4, n}: the batch mean and the biased
/// batch variance (per channel) and the values per channel (an int64 scalar), none of them
/// differentiable, feed the running statistics.
/// backward walks the same operations in reverse with tensor ops only, no autograd inside.
/// With `replicas` (may be null) the two means f1 and f4 are over the replicas' batches together,
/// and backward sums the two per-channel reductions that flow back into them (d f6 and d f1) over
/// the replicas too: each replica then gets the gradient of its share of the global batch, and
/// averaging gamma's and delta's gradients over the replicas (as DDP does) gives the global ones.
struct ManualBatchNormFunction : public torch::autograd::Function<ManualBatchNormFunction> {
  /// x (N, C, ...), gamma and delta (C) -> {out (x's shape), batch mean (C), biased batch variance
  /// (C), values per channel (int64 scalar)}.
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                                                const torch::Tensor& gamma, const torch::Tensor& delta, double eps,
                                                const ReplicaSum* replicas);
  /// The gradients of x, gamma and delta from that of `out` (the statistics carry none); none for
  /// eps and replicas.
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs);
};

/// Options of ManualBatchNorm1d/2d, named as torch::nn::BatchNormOptions (always affine, always
/// tracking running statistics).
struct ManualBatchNormOptions {
  /// Implicit, as BatchNormOptions: ManualBatchNorm2d(64) works.
  /* implicit */ ManualBatchNormOptions(int64_t num_features) : num_features_(num_features) {}
  /// C, the channels (features) normalised; >= 1.
  TORCH_ARG(int64_t, num_features);
  /// Added to the variance before the square root; > 0.
  TORCH_ARG(double, eps) = 1e-5;
  /// In [0, 1]: running = (1 - momentum) * running + momentum * batch statistic, as torch::nn::BatchNorm.
  TORCH_ARG(double, momentum) = 0.1;
};

/// D = 1: input (N, C) or (N, C, L); D = 2: input (N, C, H, W); the output has the input's shape.
/// Always affine, always tracking running statistics (the zoo's configuration). Training uses
/// ManualBatchNormFunction and updates running_mean / running_var (unbiased) /
/// num_batches_tracked as torch::batch_norm does; eval normalises with the running statistics.
template <size_t D>
class ManualBatchNormImpl : public torch::nn::Cloneable<ManualBatchNormImpl<D>>, public Scriptable, public OnnxExportable {
 public:
  /// Throws c10::Error unless num_features >= 1, eps > 0 and 0 <= momentum <= 1.
  explicit ManualBatchNormImpl(const ManualBatchNormOptions& options);
  /// Checks the options (as the constructor), registers weight, bias, running_mean, running_var
  /// and num_batches_tracked in BatchNorm's order and calls reset_parameters().
  void reset() override;
  /// Weight 1, bias 0, running statistics to their initial values (mean 0, variance 1, count 0).
  void reset_parameters();
  /// Normalises x per channel; shape unchanged. Throws c10::Error for an input of the wrong rank
  /// or channel count, and in training mode for one value per channel (e.g. N = 1 with (N, C)).
  torch::Tensor forward(const torch::Tensor& x);
  /// torch.batch_norm, the same numbers; updates the running statistics in training mode.
  torch::jit::Module script_twin() const override;
  /// The ONNX twin (see onnx_graph.h): BatchNormalization with the running statistics, as for torch::nn::BatchNorm.
  std::string onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const override;
  /// Prints e.g. "skipzoo::models::ManualBatchNorm2d(64, eps=1e-05, momentum=0.1)".
  void pretty_print(std::ostream& stream) const override;

  /// The options the layer was built with.
  ManualBatchNormOptions options;
  /// Parameters gamma ("weight") and delta ("bias"), buffers running_mean and running_var (all
  /// (C)) and num_batches_tracked (an int64 scalar): torch::nn::BatchNorm's names.
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  /// Empty: statistics of this process's batch. Set (data-parallel training's --sync-bn): training
  /// statistics of the replicas' batches together, and the running statistics from those.
  ReplicaSum replica_sum;
};

/// ManualBatchNorm for (N, C) or (N, C, L) inputs, in place of torch::nn::BatchNorm1d.
using ManualBatchNorm1dImpl = ManualBatchNormImpl<1>;
/// ManualBatchNorm for (N, C, H, W) inputs, in place of torch::nn::BatchNorm2d.
using ManualBatchNorm2dImpl = ManualBatchNormImpl<2>;
TORCH_MODULE(ManualBatchNorm1d);
TORCH_MODULE(ManualBatchNorm2d);

/// True for ManualBatchNorm1d/2d modules.
bool is_manual_batch_norm(const torch::nn::Module& module);

}  // namespace skipzoo::models
