#include "engine/fused_optim.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>

namespace skipzoo::app {
namespace {

constexpr int64_t kGrain = 1 << 15;  // values per task: big weights split across the threads

// The key torch::optim::Optimizer files a parameter's state under: its TensorImpl's address,
// as text in LibTorch 1.x and as the pointer itself in 2.x.
template <typename Key>
Key state_key(const torch::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream os;
    os << static_cast<const void*>(p.unsafeGetTensorImpl());
    return os.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

struct SGDStep {
  double lr, weight_decay, momentum, dampening;
  bool nesterov;
};

// d = g + wd * p; b = first ? d : momentum * b + (1 - dampening) * d;
// p -= lr * (nesterov ? d + momentum * b : b). With momentum 0, p -= lr * d and b is unused.
void fused_update(float* p, const float* g, float* b, int64_t n, const SGDStep& u, bool first) {
  // Scalars copied to locals: stores through the float pointers could alias a struct member,
  // which would keep the compiler from vectorising.
  const float lr = static_cast<float>(u.lr), wd = static_cast<float>(u.weight_decay);
  const float momentum = static_cast<float>(u.momentum), undamped = static_cast<float>(1.0 - u.dampening);
  const bool nesterov = u.nesterov;
  at::parallel_for(0, n, kGrain, [=](int64_t begin, int64_t end) {
    if (b == nullptr) {
      for (int64_t i = begin; i < end; ++i) p[i] -= lr * (g[i] + wd * p[i]);
      return;
    }
    for (int64_t i = begin; i < end; ++i) {
      const float d = g[i] + wd * p[i];
      // The first step's buffer is new memory: written, never read (0 * NaN would be NaN).
      const float m = first ? d : momentum * b[i] + undamped * d;
      b[i] = m;
      p[i] -= lr * (nesterov ? d + momentum * m : m);
    }
  });
}

// The same update from tensor ops, for what the loop does not take.
void tensor_update(torch::Tensor p, const torch::Tensor& grad, torch::Tensor& b, const SGDStep& u) {
  auto d = u.weight_decay != 0 ? grad.add(p, u.weight_decay) : grad;
  if (u.momentum != 0) {
    if (!b.defined()) {
      b = d.clone();
    } else {
      b.mul_(u.momentum).add_(d, 1.0 - u.dampening);
    }
    d = u.nesterov ? d.add(b, u.momentum) : b;
  }
  p.add_(d, -u.lr);
}

// Dense tensors whose values sit at the same offsets as p's: the same strides wherever a size
// is above 1 (a 1x1 conv weight's gradient may differ from the weight in the strides of its
// size-1 dimensions, as autograd allows).
bool fusable(const torch::Tensor& p, const torch::Tensor& g, const torch::Tensor& b) {
  auto same_dense_float = [&](const torch::Tensor& t) {
    if (t.scalar_type() != torch::kFloat || !t.device().is_cpu() || t.layout() != torch::kStrided ||
        !t.is_non_overlapping_and_dense() || t.sizes() != p.sizes()) {
      return false;
    }
    for (int64_t d = 0; d < t.dim(); ++d) {
      if (t.size(d) > 1 && t.stride(d) != p.stride(d)) return false;
    }
    return true;
  };
  return same_dense_float(p) && same_dense_float(g) && (!b.defined() || same_dense_float(b));
}

// A state tensor (momentum, moments) in p's strides: after the model's layout is chosen again
// on resume, a state loaded in the other layout is copied once into p's, so the loop takes it.
torch::Tensor in_layout_of(const torch::Tensor& p, const torch::Tensor& t) {
  if (!t.defined() || t.strides() == p.strides() || t.sizes() != p.sizes() || !p.is_non_overlapping_and_dense()) {
    return t;
  }
  auto copy = torch::empty_like(p, t.options());
  copy.copy_(t);
  return copy;
}

// The loss of an optimizer's closure, evaluated with gradients on, as LibTorch's optimizers do.
torch::Tensor run_closure(const torch::optim::Optimizer::LossClosure& closure) {
  if (!closure) return {};
  at::AutoGradMode enable_grad(true);
  return closure();
}

// Constants of one AdamW step, in float as the loop computes.
// Each is worked out in double and rounded to float once, as the scalars of LibTorch's ops are.
struct AdamWStep {
  float decay;          // 1 - lr * weight_decay
  float beta1, beta2;   // moment decay rates
  float rest1, rest2;   // 1 - beta1, 1 - beta2
  float sqrt_bias2;     // sqrt(1 - beta2^t)
  float step_size;      // lr / (1 - beta1^t)
  float eps;
};

// p *= decay; m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2;
// p -= step_size * m / (sqrt(v) / sqrt_bias2 + eps): torch::optim::AdamW's update, in one pass.
void fused_adamw(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& s) {
  const float decay = s.decay, beta1 = s.beta1, beta2 = s.beta2, sqrt_bias2 = s.sqrt_bias2;
  const float step_size = s.step_size, eps = s.eps, rest1 = s.rest1, rest2 = s.rest2;
  at::parallel_for(0, n, kGrain, [=](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float gi = g[i];
      const float mi = beta1 * m[i] + rest1 * gi;
      const float vi = beta2 * v[i] + rest2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = decay * p[i] - step_size * mi / (std::sqrt(vi) / sqrt_bias2 + eps);
    }
  });
}

}  // namespace

torch::Tensor FusedSGD::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = run_closure(closure);
  using Key = typename std::decay_t<decltype(state_)>::key_type;
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const torch::optim::SGDOptions&>(group.options());
    const SGDStep u{o.lr(), o.weight_decay(), o.momentum(), o.dampening(), o.nesterov()};
    for (auto& param : group.params()) {
      if (!param.grad().defined()) continue;
      auto p = param.data();
      const auto g = param.grad().data();
      torch::Tensor buffer;
      torch::optim::SGDParamState* state = nullptr;
      if (u.momentum != 0) {
        const Key key = state_key<Key>(param);
        auto it = state_.find(key);
        if (it == state_.end()) {
          it = state_.emplace(key, std::make_unique<torch::optim::SGDParamState>()).first;
        }
        state = static_cast<torch::optim::SGDParamState*>(it->second.get());
        buffer = in_layout_of(p, state->momentum_buffer());
      }
      if (!g.is_sparse() && fusable(p, g, buffer)) {
        const bool first = u.momentum != 0 && !buffer.defined();
        if (first) buffer = torch::empty_like(p);  // the same strides as p (dense)
        fused_update(p.data_ptr<float>(), g.data_ptr<float>(), u.momentum != 0 ? buffer.data_ptr<float>() : nullptr,
                     p.numel(), u, first);
        param.unsafeGetTensorImpl()->bump_version();  // as an in-place op on the parameter would
      } else {
        tensor_update(p, g, buffer, u);
      }
      if (state != nullptr) state->momentum_buffer(buffer);
    }
  }
  return loss;
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  for (const auto& group : param_groups_) {
    if (static_cast<const torch::optim::AdamWOptions&>(group.options()).amsgrad()) {
      return torch::optim::AdamW::step(closure);
    }
  }
  torch::NoGradGuard no_grad;
  torch::Tensor loss = run_closure(closure);
  using Key = typename std::decay_t<decltype(state_)>::key_type;
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    for (auto& param : group.params()) {
      if (!param.grad().defined()) continue;
      auto p = param.data();
      const auto g = param.grad().data();
      TORCH_CHECK(!g.is_sparse(), "AdamW does not support sparse gradients");
      const Key key = state_key<Key>(param);
      auto it = state_.find(key);
      if (it == state_.end()) {
        auto fresh = std::make_unique<torch::optim::AdamWParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
        it = state_.emplace(key, std::move(fresh)).first;
      }
      auto& state = static_cast<torch::optim::AdamWParamState&>(*it->second);
      state.step(state.step() + 1);
      const double bias1 = 1 - std::pow(beta1, state.step()), bias2 = 1 - std::pow(beta2, state.step());
      auto m = in_layout_of(p, state.exp_avg()), v = in_layout_of(p, state.exp_avg_sq());
      state.exp_avg(m);
      state.exp_avg_sq(v);
      if (fusable(p, g, m) && fusable(p, v, {})) {
        const AdamWStep s{static_cast<float>(1 - o.lr() * o.weight_decay()),
                          static_cast<float>(beta1),
                          static_cast<float>(beta2),
                          static_cast<float>(1 - beta1),
                          static_cast<float>(1 - beta2),
                          static_cast<float>(std::sqrt(bias2)),
                          static_cast<float>(o.lr() / bias1),
                          static_cast<float>(o.eps())};
        fused_adamw(p.data_ptr<float>(), g.data_ptr<float>(), m.data_ptr<float>(), v.data_ptr<float>(), p.numel(), s);
        param.unsafeGetTensorImpl()->bump_version();
      } else {  // the same update from tensor ops
        if (o.weight_decay() != 0) p.mul_(1 - o.lr() * o.weight_decay());
        m.mul_(beta1).add_(g, 1 - beta1);
        v.mul_(beta2).addcmul_(g, g, 1 - beta2);
        p.addcdiv_(m, (v.sqrt() / std::sqrt(bias2)).add_(o.eps()), -o.lr() / bias1);
      }
    }
  }
  return loss;
}

}  // namespace skipzoo::app
