#include <skipzoo/models/batch_norm_relu.h>

#include "batch_norm_relu_kernels.h"

#include <ATen/record_function.h>

#include <cmath>
#include <vector>

namespace skipzoo::models {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool is_float_cpu(const Tensor& t) {
  return t.defined() && t.scalar_type() == torch::kFloat && t.device().is_cpu() && t.layout() == torch::kStrided;
}

bool is_channel_vector(const Tensor& t, int64_t channels) {
  return is_float_cpu(t) && t.dim() == 1 && t.size(0) == channels;
}

// Whether the kernels take these inputs: float CPU tensors, x contiguous or channels-last (else
// the separate ops run).
bool kernels_take(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                  const Tensor& running_mean, const Tensor& running_var) {
  if (!is_float_cpu(x) || x.dim() != 4 || x.numel() == 0) return false;
  const int64_t C = x.size(1);
  if (!is_channel_vector(weight, C) || !is_channel_vector(bias, C)) return false;
  if (running_mean.defined() != running_var.defined()) return false;
  if (running_mean.defined() && (!is_channel_vector(running_mean, C) || !is_channel_vector(running_var, C))) return false;
  if (residual.defined() && (!is_float_cpu(residual) || residual.sizes() != x.sizes())) return false;
  return x.is_contiguous() || x.is_contiguous(at::MemoryFormat::ChannelsLast);
}

at::MemoryFormat memory_format(const detail::ActivationLayout& l) {
  return l.channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
}

// How the kernels walk x (see kernels_take): a tensor that is both contiguous and channels-last
// (one channel, or 1x1 planes) is the same bytes either way.
detail::ActivationLayout layout_of(const Tensor& x) {
  return {x.size(0), x.size(1), x.size(2) * x.size(3), !x.is_contiguous()};
}

Tensor channel_tensor(const std::vector<double>& values, const Tensor& like) {
  auto out = torch::empty({static_cast<int64_t>(values.size())}, like.options());
  auto* p = out.data_ptr<float>();
  for (size_t c = 0; c < values.size(); ++c) p[c] = static_cast<float>(values[c]);
  return out;
}

class BatchNormReLUFunction : public torch::autograd::Function<BatchNormReLUFunction> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const c10::optional<Tensor>& residual_arg, const c10::optional<Tensor>& running_mean_arg,
                        const c10::optional<Tensor>& running_var_arg, double momentum, double eps, bool record) {
    // Optional tensors reach apply() as c10::optional: an undefined Tensor argument would not.
    const Tensor residual = residual_arg.value_or(Tensor());
    Tensor running_mean = running_mean_arg.value_or(Tensor()), running_var = running_var_arg.value_or(Tensor());
    const auto l = layout_of(x);
    const int64_t C = l.c;
    const double M = static_cast<double>(l.values_per_channel());
    // One value of each channel as the shift of its sums (keeps the variance from cancelling).
    const Tensor shift = x.select(0, 0).select(1, 0).select(1, 0).contiguous();
    std::vector<double> sum(C), sum_sq(C);
    detail::channel_moments(x.data_ptr<float>(), l, shift.data_ptr<float>(), sum.data(), sum_sq.data());

    const Tensor gamma = weight.contiguous(), beta = bias.contiguous();
    const float* g = gamma.data_ptr<float>();
    const float* b = beta.data_ptr<float>();
    const float* s = shift.data_ptr<float>();
    std::vector<double> mean(C), invstd(C), scale(C), offset(C), unbiased_var(C);
    for (int64_t c = 0; c < C; ++c) {
      const double d = sum[c] / M;
      const double var = std::max(sum_sq[c] / M - d * d, 0.0);
      mean[c] = s[c] + d;
      invstd[c] = 1.0 / std::sqrt(var + eps);
      scale[c] = g[c] * invstd[c];
      offset[c] = b[c] - mean[c] * scale[c];
      unbiased_var[c] = var * M / (M - 1.0);
    }
    if (running_mean.defined()) {
      running_mean.mul_(1.0 - momentum).add_(channel_tensor(mean, running_mean), momentum);
      running_var.mul_(1.0 - momentum).add_(channel_tensor(unbiased_var, running_var), momentum);
    }

    const auto format = memory_format(l);
    const Tensor r = residual.defined() ? residual.contiguous(format) : residual;
    auto y = torch::empty(x.sizes(), x.options().memory_format(format));
    Tensor positive;  // ReLU's mask, kept only for a backward
    if (record) positive = torch::empty(x.sizes(), x.options().dtype(torch::kByte).memory_format(format));
    const Tensor scale_t = channel_tensor(scale, x), offset_t = channel_tensor(offset, x);
    detail::scale_add_relu(x.data_ptr<float>(), r.defined() ? r.data_ptr<float>() : nullptr, l, scale_t.data_ptr<float>(),
                           offset_t.data_ptr<float>(), y.data_ptr<float>(),
                           record ? positive.data_ptr<uint8_t>() : nullptr);
    if (record) {
      // save_for_backward, not saved_data: the engine frees these once the backward has run.
      ctx->save_for_backward({x, weight, positive, channel_tensor(mean, x), channel_tensor(invstd, x)});
      ctx->saved_data["residual_grad"] = residual.defined() && residual.requires_grad();
    }
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    TORCH_CHECK(!torch::GradMode::is_enabled(),
                "skipzoo::batch_norm_relu has no second derivative (backward with create_graph=true)");
    const auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &weight = saved[1], &positive = saved[2], &mean = saved[3], &invstd = saved[4];
    const bool residual_grad = ctx->saved_data["residual_grad"].toBool();
    const auto l = layout_of(x);
    const int64_t C = l.c;
    const double M = static_cast<double>(l.values_per_channel());
    const auto format = memory_format(l);
    const Tensor dy = grad_outputs[0].contiguous(format);

    Tensor d_residual;
    if (residual_grad) d_residual = torch::empty(x.sizes(), x.options().memory_format(format));
    std::vector<double> sum_g(C), sum_gx(C);
    detail::masked_grad_sums(dy.data_ptr<float>(), positive.data_ptr<uint8_t>(), x.data_ptr<float>(), l, mean.data_ptr<float>(),
                             sum_g.data(), sum_gx.data(), residual_grad ? d_residual.data_ptr<float>() : nullptr);

    const Tensor gamma = weight.contiguous();
    const float* g = gamma.data_ptr<float>();
    const float* inv = invstd.data_ptr<float>();
    std::vector<double> d_gamma(C), k_grad(C), k_x(C), k_const(C);
    for (int64_t c = 0; c < C; ++c) {
      d_gamma[c] = sum_gx[c] * inv[c];
      k_grad[c] = static_cast<double>(g[c]) * inv[c];
      k_x[c] = -k_grad[c] * inv[c] * inv[c] * sum_gx[c] / M;
      k_const[c] = -k_grad[c] * sum_g[c] / M;
    }
    auto dx = torch::empty(x.sizes(), x.options().memory_format(format));
    const Tensor kg = channel_tensor(k_grad, x), kx = channel_tensor(k_x, x), kc = channel_tensor(k_const, x);
    detail::masked_affine_grad(dy.data_ptr<float>(), positive.data_ptr<uint8_t>(), x.data_ptr<float>(), l, mean.data_ptr<float>(),
                               kg.data_ptr<float>(), kx.data_ptr<float>(), kc.data_ptr<float>(), dx.data_ptr<float>());
    return {dx,       channel_tensor(d_gamma, weight), channel_tensor(sum_g, weight), d_residual, Tensor(), Tensor(),
            Tensor(), Tensor(),                        Tensor()};
  }
};

}  // namespace

Tensor batch_norm_relu_train(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                             Tensor running_mean, Tensor running_var, double momentum, double eps) {
  // torch::nn::functional::batch_norm's check (ATen's batch_norm would return beta and an
  // infinite running variance); an empty batch passes, as there.
  TORCH_CHECK(x.dim() < 2 || x.size(1) == 0 || x.numel() / x.size(1) != 1,
              "Expected more than 1 value per channel when training, got input size ", x.sizes());
  if (kernels_take(x, weight, bias, residual, running_mean, running_var)) {
    RECORD_FUNCTION("skipzoo::batch_norm_relu", std::vector<c10::IValue>({x}));  // a named op in profiles
    auto optional = [](const Tensor& t) { return t.defined() ? c10::optional<Tensor>(t) : c10::nullopt; };
    // Without a graph to record (NoGradGuard, or nothing requiring grad) no mask is kept.
    const bool record = torch::GradMode::is_enabled() &&
                        (x.requires_grad() || weight.requires_grad() || bias.requires_grad() ||
                         (residual.defined() && residual.requires_grad()));
    return BatchNormReLUFunction::apply(x, weight, bias, optional(residual), optional(running_mean),
                                        optional(running_var), momentum, eps, record);
  }
  auto y = torch::batch_norm(x, weight, bias, running_mean, running_var, /*training=*/true, momentum, eps,
                             at::globalContext().userEnabledCuDNN());
  if (residual.defined()) y += residual;
  return y.relu_();
}

Tensor norm_relu(torch::nn::AnyModule& norm, const Tensor& x, const Tensor& residual) {
  auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(norm.ptr().get());
  if (bn != nullptr && bn->is_training() && bn->options.affine() && bn->options.track_running_stats() && x.dim() == 4) {
    // What BatchNormImplBase::forward does before torch::batch_norm.
    double momentum = bn->options.momentum().value_or(0.0);
    if (bn->num_batches_tracked.defined()) {
      torch::NoGradGuard no_grad;
      bn->num_batches_tracked += 1;
      if (!bn->options.momentum()) momentum = 1.0 / bn->num_batches_tracked.item<double>();
    }
    return batch_norm_relu_train(x, bn->weight, bn->bias, residual, bn->running_mean, bn->running_var, momentum,
                                 bn->options.eps());
  }
  auto y = norm.forward(x);
  if (y.is_same(x)) return residual.defined() ? (x + residual).relu_() : torch::relu(x);  // leave the caller's x alone
  if (residual.defined()) y += residual;
  return y.relu_();
}

}  // namespace skipzoo::models
