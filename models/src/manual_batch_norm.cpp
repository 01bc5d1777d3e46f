#include <skipzoo/models/manual_batch_norm.h>
#include <torch/version.h>

#include <cmath>

namespace skipzoo::models {

namespace {

// Every dimension but the channels: the per-channel statistics reduce over these.
std::vector<int64_t> reduced_dims(const torch::Tensor& x) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return dims;
}

// gamma (C) -> (1, C, 1, ...) so that it broadcasts against x.
torch::Tensor per_channel(const torch::Tensor& v, int64_t dims) {
  std::vector<int64_t> shape(static_cast<size_t>(dims), 1);
  shape[1] = v.numel();
  return v.reshape(shape);
}

}  // namespace

torch::autograd::variable_list ManualBatchNormFunction::forward(torch::autograd::AutogradContext* ctx,
                                                                const torch::Tensor& x, const torch::Tensor& gamma,
                                                                const torch::Tensor& delta, double eps,
                                                                const ReplicaSum* replicas) {
  const auto dims = reduced_dims(x);
  int64_t n = x.numel() / x.size(1);  // values per channel: here, then over all replicas
  torch::Tensor f1, f4;
  if (replicas) {
    // The means over every replica's values: per-channel sums (in double) and the count, summed.
    auto sums = torch::cat({x.sum(dims).to(torch::kDouble), torch::tensor({static_cast<double>(n)}, torch::kDouble)});
    (*replicas)(sums);
    n = static_cast<int64_t>(std::llround(sums[-1].item<double>()));
    f1 = per_channel((sums.slice(0, 0, -1) / static_cast<double>(n)).to(x.dtype()), x.dim());
  } else {
    f1 = x.mean(dims, /*keepdim=*/true);
  }
  const auto f2 = x - f1;
  const auto f3 = f2 * f2;
  if (replicas) {
    auto squares = f3.sum(dims).to(torch::kDouble);
    (*replicas)(squares);
    f4 = per_channel((squares / static_cast<double>(n)).to(x.dtype()), x.dim());
  } else {
    f4 = f3.mean(dims, /*keepdim=*/true);
  }
  const auto f5 = torch::sqrt(f4 + eps);
  const auto f6 = 1.0 / f5;
  const auto f7 = f2 * f6;
  const auto g = per_channel(gamma, x.dim());
  auto out = f7 * g + per_channel(delta, x.dim());

  ctx->save_for_backward({f2, f6, gamma});
  ctx->saved_data["n"] = n;
  ctx->saved_data["replicas"] = reinterpret_cast<int64_t>(replicas);
  auto mean = f1.flatten(), var = f4.flatten(), count = torch::tensor(n, torch::kLong);
  ctx->mark_non_differentiable({mean, var, count});
  return {out, mean, var, count};
}

torch::autograd::variable_list ManualBatchNormFunction::backward(torch::autograd::AutogradContext* ctx,
                                                                 torch::autograd::variable_list grad_outputs) {
  const auto saved = ctx->get_saved_variables();
  const auto &f2 = saved[0], &f6 = saved[1], &gamma = saved[2];
  const double n = static_cast<double>(ctx->saved_data["n"].toInt());
  const auto* replicas = reinterpret_cast<const ReplicaSum*>(ctx->saved_data["replicas"].toInt());
  // A reduction that feeds the shared statistics: summed over every replica's values.
  const auto shared = [replicas](torch::Tensor t) {
    if (replicas) {
      t = t.contiguous();
      (*replicas)(t);
    }
    return t;
  };
  const auto dims = reduced_dims(f2);
  const auto& g_out = grad_outputs[0];  // d loss / d out; the statistics outputs carry none

  // Each line is d loss / d (that quantity), walking f7 * gamma + delta back to x.
  const auto f7 = f2 * f6;
  const auto d_delta = g_out.sum(dims);
  const auto d_gamma = (g_out * f7).sum(dims);
  const auto d_f7 = g_out * per_channel(gamma, f2.dim());
  const auto d_f6 = shared((d_f7 * f2).sum(dims, /*keepdim=*/true));  // f7 = f2 * f6, f6 broadcast
  auto d_f2 = d_f7 * f6;                                        // f2's first use, in f7
  const auto f5 = 1.0 / f6;
  const auto d_f5 = -d_f6 / (f5 * f5);                          // f6 = 1 / f5
  const auto d_f4 = d_f5 / (2.0 * f5);                          // f5 = sqrt(f4 + eps)
  const auto d_f3 = d_f4 / n;                                   // f4 = mean(f3), broadcast back
  d_f2 = d_f2 + d_f3 * 2.0 * f2;                                // f3 = f2^2: f2's second use
  const auto d_f1 = shared(-d_f2.sum(dims, /*keepdim=*/true));  // f2 = x - f1
  const auto d_x = d_f2 + d_f1 / n;                             // f1 = mean(x), and x in f2
  return {d_x, d_gamma, d_delta, torch::Tensor(), torch::Tensor()};
}

// Up to LibTorch 2.1 Cloneable derives virtually from Module, so the most derived class names it;
// from 2.2 on the derivation is direct and the name goes through Cloneable's inherited constructor.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 2)
#define SKIPZOO_NAMED_MODULE(name) torch::nn::Cloneable<ManualBatchNormImpl<D>>(name)
#else
#define SKIPZOO_NAMED_MODULE(name) torch::nn::Module(name)
#endif

template <size_t D>
ManualBatchNormImpl<D>::ManualBatchNormImpl(const ManualBatchNormOptions& options_)
    : SKIPZOO_NAMED_MODULE("ManualBatchNorm" + std::to_string(D) + "d"), options(options_) {
  reset();
}
#undef SKIPZOO_NAMED_MODULE

template <size_t D>
void ManualBatchNormImpl<D>::reset() {
  TORCH_CHECK(options.num_features() >= 1, this->name(), ": num_features must be >= 1");
  TORCH_CHECK(options.momentum() >= 0 && options.momentum() <= 1, this->name(), ": momentum must be in [0, 1]");
  TORCH_CHECK(options.eps() > 0, this->name(), ": eps must be > 0");
  // torch::nn::BatchNorm's names and order, so state dicts are interchangeable.
  const int64_t c = options.num_features();
  weight = this->register_parameter("weight", torch::empty({c}));
  bias = this->register_parameter("bias", torch::empty({c}));
  running_mean = this->register_buffer("running_mean", torch::zeros({c}));
  running_var = this->register_buffer("running_var", torch::ones({c}));
  num_batches_tracked = this->register_buffer("num_batches_tracked", torch::tensor(0, torch::kLong));
  reset_parameters();
}

template <size_t D>
void ManualBatchNormImpl<D>::reset_parameters() {
  torch::NoGradGuard no_grad;
  weight.fill_(1);
  bias.zero_();
  running_mean.zero_();
  running_var.fill_(1);
  num_batches_tracked.zero_();
}

template <size_t D>
torch::Tensor ManualBatchNormImpl<D>::forward(const torch::Tensor& x) {
  const bool shape_ok = D == 1 ? (x.dim() == 2 || x.dim() == 3) : x.dim() == 4;
  TORCH_CHECK(shape_ok, this->name(), ": expected ", D == 1 ? "a 2-D or 3-D" : "a 4-D", " input, got ", x.dim(), "-D");
  TORCH_CHECK(x.size(1) == options.num_features(), this->name(), ": expected ", options.num_features(),
              " channels, got ", x.size(1));
  if (!this->is_training()) {
    return torch::batch_norm(x, weight, bias, running_mean, running_var, false, options.momentum(), options.eps(),
                             false);
  }
  int64_t n = x.numel() / x.size(1);
  TORCH_CHECK(n > 1 || replica_sum, this->name(), ": expected more than 1 value per channel when training, got input ",
              x.sizes());
  auto result = ManualBatchNormFunction::apply(x, weight, bias, options.eps(), replica_sum ? &replica_sum : nullptr);
  torch::NoGradGuard no_grad;
  n = result[3].item<int64_t>();  // over all replicas
  TORCH_CHECK(n > 1, this->name(), ": expected more than 1 value per channel over the replicas, got ", n);
  // torch::batch_norm's convention: the running variance is the unbiased one.
  const double m = options.momentum();
  running_mean.mul_(1 - m).add_(result[1], m);
  running_var.mul_(1 - m).add_(result[2] * (static_cast<double>(n) / (n - 1)), m);
  num_batches_tracked.add_(1);
  return result[0];
}

template <size_t D>
torch::jit::Module ManualBatchNormImpl<D>::script_twin() const {
  return batch_norm_twin(*this, this->name(), options.momentum(), options.eps());
}

template <size_t D>
std::string ManualBatchNormImpl<D>::onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const {
  return onnx_batch_norm(g, *this, input, prefix, options.eps());
}

template <size_t D>
void ManualBatchNormImpl<D>::pretty_print(std::ostream& stream) const {
  stream << "skipzoo::models::" << this->name() << "(" << options.num_features() << ", eps=" << options.eps()
         << ", momentum=" << options.momentum() << ")";
}

template class ManualBatchNormImpl<1>;
template class ManualBatchNormImpl<2>;

bool is_manual_batch_norm(const torch::nn::Module& module) {
  return dynamic_cast<const ManualBatchNorm1dImpl*>(&module) != nullptr ||
         dynamic_cast<const ManualBatchNorm2dImpl*>(&module) != nullptr;
}

}  // namespace skipzoo::models
