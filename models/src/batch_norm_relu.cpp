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

// One BatchNorm's batch statistics, its running statistics updated as torch::batch_norm does
// (momentum, unbiased variance), and the affine transform they give: y = x * scale + offset.
struct BatchStats {
  std::vector<double> mean, invstd, scale, offset;
};

BatchStats batch_stats(const Tensor& x, const detail::ActivationLayout& l, const Tensor& weight, const Tensor& bias,
                       Tensor running_mean, Tensor running_var, double momentum, double eps) {
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
  BatchStats st{std::vector<double>(C), std::vector<double>(C), std::vector<double>(C), std::vector<double>(C)};
  std::vector<double> unbiased_var(C);
  for (int64_t c = 0; c < C; ++c) {
    const double d = sum[c] / M;
    const double var = std::max(sum_sq[c] / M - d * d, 0.0);
    st.mean[c] = s[c] + d;
    st.invstd[c] = 1.0 / std::sqrt(var + eps);
    st.scale[c] = g[c] * st.invstd[c];
    st.offset[c] = b[c] - st.mean[c] * st.scale[c];
    unbiased_var[c] = var * M / (M - 1.0);
  }
  if (running_mean.defined()) {
    running_mean.mul_(1.0 - momentum).add_(channel_tensor(st.mean, running_mean), momentum);
    running_var.mul_(1.0 - momentum).add_(channel_tensor(unbiased_var, running_var), momentum);
  }
  return st;
}

// BatchNorm's backward from the two per-channel sums of its output gradient g' (sum g' and
// sum g' * (x - mean)): gamma's gradient, and the input gradient's coefficients
// dx = g' * k_grad + (x - mean) * k_x + k_const (as tensors, for the kernels).
struct InputGradCoefficients {
  Tensor d_gamma, k_grad, k_x, k_const;
};

InputGradCoefficients input_grad_coefficients(const std::vector<double>& sum_g, const std::vector<double>& sum_gx,
                                              const Tensor& weight, const Tensor& invstd, double M) {
  const int64_t C = invstd.size(0);
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
  return {channel_tensor(d_gamma, weight), channel_tensor(k_grad, invstd), channel_tensor(k_x, invstd),
          channel_tensor(k_const, invstd)};
}

detail::NormInput norm_input(const Tensor& x, const Tensor& mean, const InputGradCoefficients& k, Tensor& dx) {
  return {x.data_ptr<float>(),         mean.data_ptr<float>(),    k.k_grad.data_ptr<float>(),
          k.k_x.data_ptr<float>(),     k.k_const.data_ptr<float>(), dx.data_ptr<float>()};
}

// relu(BN(x) + residual) or relu(BN(x) + BN_s(shortcut)): the residual and the shortcut's
// arguments are optional (the shortcut's five are given together, without a residual).
class BatchNormReLUFunction : public torch::autograd::Function<BatchNormReLUFunction> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const c10::optional<Tensor>& residual_arg, const c10::optional<Tensor>& running_mean,
                        const c10::optional<Tensor>& running_var, const c10::optional<Tensor>& shortcut_arg,
                        const c10::optional<Tensor>& shortcut_weight, const c10::optional<Tensor>& shortcut_bias,
                        const c10::optional<Tensor>& shortcut_running_mean,
                        const c10::optional<Tensor>& shortcut_running_var, double momentum, double eps,
                        double shortcut_momentum, double shortcut_eps, bool record) {
    // Optional tensors reach apply() as c10::optional: an undefined Tensor argument would not.
    const Tensor residual = residual_arg.value_or(Tensor()), shortcut = shortcut_arg.value_or(Tensor());
    TORCH_INTERNAL_ASSERT(!(residual.defined() && shortcut.defined()), "a residual or a shortcut, not both");
    const auto l = layout_of(x);
    const auto format = memory_format(l);
    const BatchStats st = batch_stats(x, l, weight, bias, running_mean.value_or(Tensor()),
                                      running_var.value_or(Tensor()), momentum, eps);
    std::vector<double> offset = st.offset, residual_scale(l.c, 1.0);
    Tensor r = residual.defined() ? residual.contiguous(format) : residual;
    BatchStats sst;
    if (shortcut.defined()) {
      r = shortcut.contiguous(format);
      sst = batch_stats(r, l, *shortcut_weight, *shortcut_bias, shortcut_running_mean.value_or(Tensor()),
                        shortcut_running_var.value_or(Tensor()), shortcut_momentum, shortcut_eps);
      residual_scale = sst.scale;
      for (int64_t c = 0; c < l.c; ++c) offset[c] += sst.offset[c];
    }

    auto y = torch::empty(x.sizes(), x.options().memory_format(format));
    Tensor positive;  // ReLU's mask, kept only for a backward
    if (record) positive = torch::empty(x.sizes(), x.options().dtype(torch::kByte).memory_format(format));
    const Tensor scale_t = channel_tensor(st.scale, x), offset_t = channel_tensor(offset, x),
                 residual_scale_t = channel_tensor(residual_scale, x);
    detail::scale_add_relu(x.data_ptr<float>(), r.defined() ? r.data_ptr<float>() : nullptr,
                           residual_scale_t.data_ptr<float>(), l, scale_t.data_ptr<float>(), offset_t.data_ptr<float>(),
                           y.data_ptr<float>(), record ? positive.data_ptr<uint8_t>() : nullptr);
    if (record) {
      // save_for_backward, not saved_data: the engine frees these once the backward has run.
      variable_list saved{x, weight, positive, channel_tensor(st.mean, x), channel_tensor(st.invstd, x)};
      if (shortcut.defined()) {
        saved.insert(saved.end(), {r, *shortcut_weight, channel_tensor(sst.mean, x), channel_tensor(sst.invstd, x)});
      }
      ctx->save_for_backward(saved);
      ctx->saved_data["residual_grad"] = residual.defined() && residual.requires_grad();
      ctx->saved_data["shortcut"] = shortcut.defined();
      // needs_input_grad counts only the tensors given (x, weight, bias, then the running
      // statistics given), not the argument positions.
      auto given = [](const c10::optional<Tensor>& t) { return t.has_value() && t->defined() ? 1 : 0; };
      ctx->saved_data["shortcut_edge"] = int64_t{3} + given(running_mean) + given(running_var);
    }
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    TORCH_CHECK(!torch::GradMode::is_enabled(),
                "skipzoo::batch_norm_relu has no second derivative (backward with create_graph=true)");
    const auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &weight = saved[1], &positive = saved[2], &mean = saved[3], &invstd = saved[4];
    const bool has_shortcut = ctx->saved_data["shortcut"].toBool();
    const bool residual_grad = ctx->saved_data["residual_grad"].toBool();
    const auto l = layout_of(x);
    const int64_t C = l.c;
    const double M = static_cast<double>(l.values_per_channel());
    const auto format = memory_format(l);
    const Tensor dy = grad_outputs[0].contiguous(format);
    auto empty_like_x = [&] { return torch::empty(x.sizes(), x.options().memory_format(format)); };

    Tensor d_residual;
    if (residual_grad) d_residual = empty_like_x();
    std::vector<double> sum_g(C), sum_gx(C), sum_gx2(has_shortcut ? C : 0);
    const detail::NormInput in{x.data_ptr<float>(), mean.data_ptr<float>()};
    detail::NormInput sc;
    if (has_shortcut) sc = {saved[5].data_ptr<float>(), saved[7].data_ptr<float>()};
    detail::masked_grad_sums(dy.data_ptr<float>(), positive.data_ptr<uint8_t>(), l, in, has_shortcut ? &sc : nullptr,
                             sum_g.data(), sum_gx.data(), sum_gx2.data(),
                             residual_grad ? d_residual.data_ptr<float>() : nullptr);

    // g' is the gradient of both normalised outputs: beta's gradient (sum g') is the same for both.
    const Tensor d_beta = channel_tensor(sum_g, weight);
    const auto k = input_grad_coefficients(sum_g, sum_gx, weight, invstd, M);
    InputGradCoefficients ks;
    if (has_shortcut) ks = input_grad_coefficients(sum_g, sum_gx2, saved[6], saved[8], M);
    // The input gradients asked for (a frozen stem's input, say, needs none), in one pass.
    Tensor dx, d_shortcut;
    std::vector<detail::NormInput> wanted;
    if (ctx->needs_input_grad(0)) {
      dx = empty_like_x();
      wanted.push_back(norm_input(x, mean, k, dx));
    }
    if (has_shortcut && ctx->needs_input_grad(ctx->saved_data["shortcut_edge"].toInt())) {
      d_shortcut = empty_like_x();
      wanted.push_back(norm_input(saved[5], saved[7], ks, d_shortcut));
    }
    if (!wanted.empty()) {
      detail::masked_affine_grad(dy.data_ptr<float>(), positive.data_ptr<uint8_t>(), l, wanted[0],
                                 wanted.size() > 1 ? &wanted[1] : nullptr);
    }
    // Each beta its own tensor: the engine may keep a gradient as the parameter's .grad.
    const Tensor d_shortcut_beta = has_shortcut ? channel_tensor(sum_g, saved[6]) : Tensor();
    return {dx,         k.d_gamma,  d_beta,          d_residual, Tensor(), Tensor(), d_shortcut, ks.d_gamma,
            d_shortcut_beta, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

c10::optional<Tensor> optional_tensor(const Tensor& t) { return t.defined() ? c10::optional<Tensor>(t) : c10::nullopt; }

// torch::nn::functional::batch_norm's check (ATen's batch_norm would return beta and an infinite
// running variance); an empty batch passes, as there.
void check_batch(const Tensor& x) {
  TORCH_CHECK(x.dim() < 2 || x.size(1) == 0 || x.numel() / x.size(1) != 1,
              "Expected more than 1 value per channel when training, got input size ", x.sizes());
}

// Whether a backward will need the node: grad mode on and some input requiring a gradient.
// Without a graph to record (NoGradGuard, or nothing requiring grad) no mask is kept.
bool records(std::initializer_list<Tensor> inputs) {
  if (!torch::GradMode::is_enabled()) return false;
  for (const auto& t : inputs) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

// `norm` as a torch::nn::BatchNorm2d in training mode with running statistics and an affine
// transform, which the fused node can stand in for (x 4-d); else nullptr.
torch::nn::BatchNorm2dImpl* training_batch_norm(torch::nn::AnyModule& norm, const Tensor& x) {
  auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(norm.ptr().get());
  const bool fits =
      bn != nullptr && bn->is_training() && bn->options.affine() && bn->options.track_running_stats() && x.dim() == 4;
  return fits ? bn : nullptr;
}

// What BatchNormImplBase::forward does before torch::batch_norm: counts the batch; returns the
// momentum (with momentum unset, the cumulative average's 1 / batches).
double count_batch(torch::nn::BatchNorm2dImpl& bn) {
  double momentum = bn.options.momentum().value_or(0.0);
  if (bn.num_batches_tracked.defined()) {
    torch::NoGradGuard no_grad;
    bn.num_batches_tracked += 1;
    if (!bn.options.momentum()) momentum = 1.0 / bn.num_batches_tracked.item<double>();
  }
  return momentum;
}

Tensor relu_after(torch::nn::AnyModule& norm, const Tensor& x, const Tensor& residual) {
  auto y = norm.forward(x);
  if (y.is_same(x)) return residual.defined() ? (x + residual).relu_() : torch::relu(x);  // leave the caller's x alone
  if (residual.defined()) y += residual;
  return y.relu_();
}

}  // namespace

Tensor batch_norm_relu_train(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                             Tensor running_mean, Tensor running_var, double momentum, double eps) {
  check_batch(x);
  if (kernels_take(x, weight, bias, residual, running_mean, running_var)) {
    RECORD_FUNCTION("skipzoo::batch_norm_relu", std::vector<c10::IValue>({x}));  // a named op in profiles
    return BatchNormReLUFunction::apply(x, weight, bias, optional_tensor(residual), optional_tensor(running_mean),
                                        optional_tensor(running_var), c10::nullopt, c10::nullopt, c10::nullopt, c10::nullopt,
                                        c10::nullopt, momentum, eps, 0.0, 0.0, records({x, weight, bias, residual}));
  }
  auto y = torch::batch_norm(x, weight, bias, running_mean, running_var, /*training=*/true, momentum, eps,
                             at::globalContext().userEnabledCuDNN());
  if (residual.defined()) y += residual;
  return y.relu_();
}

Tensor norm_relu(torch::nn::AnyModule& norm, const Tensor& x, const Tensor& residual) {
  if (auto* bn = training_batch_norm(norm, x)) {
    const double momentum = count_batch(*bn);
    return batch_norm_relu_train(x, bn->weight, bn->bias, residual, bn->running_mean, bn->running_var, momentum,
                                 bn->options.eps());
  }
  return relu_after(norm, x, residual);
}

Tensor norm_relu(torch::nn::AnyModule& norm, const Tensor& x, torch::nn::AnyModule& shortcut_norm,
                 const Tensor& shortcut) {
  auto* bn = training_batch_norm(norm, x);
  auto* sbn = training_batch_norm(shortcut_norm, shortcut);
  if (bn == nullptr || sbn == nullptr || shortcut.sizes() != x.sizes() ||
      !kernels_take(x, bn->weight, bn->bias, {}, bn->running_mean, bn->running_var) ||
      !kernels_take(shortcut, sbn->weight, sbn->bias, {}, sbn->running_mean, sbn->running_var)) {
    return norm_relu(norm, x, shortcut_norm.forward(shortcut));
  }
  const double momentum = count_batch(*bn), shortcut_momentum = count_batch(*sbn);
  check_batch(x);
  RECORD_FUNCTION("skipzoo::batch_norm_relu", std::vector<c10::IValue>({x}));
  return BatchNormReLUFunction::apply(
      x, bn->weight, bn->bias, c10::nullopt, optional_tensor(bn->running_mean), optional_tensor(bn->running_var), shortcut,
      sbn->weight, sbn->bias, optional_tensor(sbn->running_mean), optional_tensor(sbn->running_var), momentum, bn->options.eps(),
      shortcut_momentum, sbn->options.eps(), records({x, bn->weight, bn->bias, shortcut, sbn->weight, sbn->bias}));
}

}  // namespace skipzoo::models
