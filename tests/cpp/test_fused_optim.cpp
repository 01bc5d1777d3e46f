// FusedSGD and FusedAdamW against torch::optim::SGD and AdamW (the references they must equal up
// to float rounding) and hand-computed steps; their state in LibTorch's format, so checkpoints
// load either way.
#include <gtest/gtest.h>

#include "engine/fused_optim.h"
#include "engine/optim.h"

#include <sstream>
#include <type_traits>

namespace app = skipzoo::app;

namespace {

// Parameters of each kind the optimizer meets: a channels-last conv weight, a channels-last 1x1
// one (its gradient comes with other strides in the size-1 dimensions), a plain matrix, a vector,
// a double tensor (tensor-op path), and one that never gets a gradient.
std::vector<torch::Tensor> make_params() {
  torch::manual_seed(11);
  return {torch::randn({8, 3, 3, 3}).contiguous(at::MemoryFormat::ChannelsLast).requires_grad_(),
          torch::randn({8, 4, 1, 1}).contiguous(at::MemoryFormat::ChannelsLast).requires_grad_(),
          torch::randn({40, 70000}).requires_grad_(),  // above one task's grain: several tasks
          torch::randn({17}).requires_grad_(), torch::randn({5, 4}, torch::kDouble).requires_grad_(),
          torch::randn({3}).requires_grad_()};
}

void set_grads(std::vector<torch::Tensor>& params, int step) {
  for (size_t i = 0; i + 1 < params.size(); ++i) {
    auto g = torch::sin(params[i].detach() * (step + 1) + static_cast<double>(i));
    params[i].mutable_grad() = params[i].size(-1) == 1 ? g.contiguous() : g.contiguous(params[i].suggest_memory_format());
  }
}

template <typename Options>
std::vector<torch::optim::OptimizerParamGroup> groups(const std::vector<torch::Tensor>& params, const Options& o) {
  // Two groups with different options, as make_optimizer() builds (decay / no decay).
  auto second = std::make_unique<Options>(o);
  second->weight_decay(0).lr(o.lr() * 2);
  std::vector<torch::optim::OptimizerParamGroup> g;
  // The double tensor (tensor-op path) is in the decayed group, the large one in the other.
  g.emplace_back(std::vector<torch::Tensor>{params[0], params[1], params[4]}, std::make_unique<Options>(o));
  g.emplace_back(std::vector<torch::Tensor>{params[2], params[3], params[5]}, std::move(second));
  return g;
}

double max_rel_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto x = a[i].detach().to(torch::kDouble), y = b[i].detach().to(torch::kDouble);
    worst = std::max(worst, ((x - y).abs().max() / y.abs().max().clamp_min(1e-12)).item<double>());
  }
  return worst;
}

// Steps [from, to) of both optimizers, each on its own copy of the parameters, same gradients.
void step_both(torch::optim::Optimizer& fused, std::vector<torch::Tensor>& fused_params, torch::optim::Optimizer& ref,
               std::vector<torch::Tensor>& ref_params, int from, int to) {
  for (int step = from; step < to; ++step) {
    set_grads(fused_params, step);
    set_grads(ref_params, step);
    fused.step();
    ref.step();
  }
}

// One step per gradient of a one-value parameter; its value after each.
std::vector<double> values_after_steps(torch::optim::Optimizer& optimizer, torch::Tensor& p,
                                       const std::vector<float>& grads) {
  std::vector<double> values;
  for (const float g : grads) {
    p.mutable_grad() = torch::full({1}, g);
    optimizer.step();
    values.push_back(p.item<double>());
  }
  return values;
}

// Two steps of each optimizer, then fresh optimizers over the same parameters, each loading the
// other's state through LibTorch's serialization, two more steps: the trajectories stay equal, so a
// checkpoint of either loads into the other (state filed under other keys would be lost).
template <typename Fused, typename Reference, typename Options>
void expect_states_swap(const Options& o) {
  auto a = make_params(), b = make_params();
  std::stringstream fused_state, ref_state;
  {
    Fused fused(groups(a, o), o);
    Reference ref(groups(b, o), o);
    step_both(fused, a, ref, b, 0, 2);
    torch::save(fused, fused_state);
    torch::save(ref, ref_state);
  }
  Fused fused(groups(a, o), o);
  Reference ref(groups(b, o), o);
  torch::load(ref, fused_state);
  torch::load(fused, ref_state);
  step_both(fused, a, ref, b, 2, 4);
  EXPECT_LT(max_rel_diff(a, b), 1e-6);
}

// The state an optimizer keeps for `param` (LibTorch files it under the TensorImpl's address).
template <typename State, typename Optimizer>
const State& state_of(const Optimizer& opt, const torch::Tensor& param) {
  using Key = typename std::decay_t<decltype(opt.state())>::key_type;
  Key key;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream os;
    os << static_cast<const void*>(param.unsafeGetTensorImpl());
    key = os.str();
  } else {
    key = param.unsafeGetTensorImpl();
  }
  return static_cast<const State&>(*opt.state().at(key));
}

class FusedSGDOptions : public ::testing::TestWithParam<std::tuple<double, double, bool>> {};

TEST_P(FusedSGDOptions, FiveStepsEqualTorchOptimSGD) {
  const auto [momentum, dampening, nesterov] = GetParam();
  auto o = torch::optim::SGDOptions(0.05).momentum(momentum).dampening(dampening).nesterov(nesterov).weight_decay(1e-2);
  auto fused_params = make_params(), ref_params = make_params();
  app::FusedSGD fused(groups(fused_params, o), o);
  torch::optim::SGD ref(groups(ref_params, o), o);
  step_both(fused, fused_params, ref, ref_params, 0, 5);
  EXPECT_LT(max_rel_diff(fused_params, ref_params), 1e-6);
  EXPECT_GT(max_rel_diff(fused_params, make_params()), 1e-2);  // the parameters moved
  EXPECT_TRUE(fused_params[0].is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(torch::equal(fused_params[5], make_params()[5]));  // no gradient: untouched
  if (momentum != 0) {
    // The 1x1 weight (gradient with other strides) took the loop: its buffer is empty_like(p),
    // with p's strides; the tensor-op path would have cloned the gradient's.
    int found = 0;
    for (const auto& entry : fused.state()) {
      const auto& buffer = static_cast<const torch::optim::SGDParamState&>(*entry.second).momentum_buffer();
      if (buffer.sizes() == fused_params[1].sizes()) {
        EXPECT_EQ(buffer.strides(), fused_params[1].strides());
        ++found;
      }
    }
    EXPECT_EQ(found, 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, FusedSGDOptions,
                         ::testing::Values(std::make_tuple(0.9, 0.0, true), std::make_tuple(0.9, 0.0, false),
                                           std::make_tuple(0.5, 0.3, false), std::make_tuple(0.0, 0.0, false)));

TEST(FusedSGD, OneStepByHand) {
  // p = 2, g = 0.5, wd = 0.1, lr = 0.1, momentum 0.9, Nesterov. Step 1: d = 0.5 + 0.2 = 0.7,
  // b = 0.7, p = 2 - 0.1 * (0.7 + 0.63) = 1.867. Step 2 (g = 0.5): d = 0.5 + 0.1867 = 0.6867,
  // b = 0.63 + 0.6867 = 1.3167, p = 1.867 - 0.1 * (0.6867 + 1.18503) = 1.679827.
  auto p = torch::full({1}, 2.0f).requires_grad_();
  app::FusedSGD sgd({p}, torch::optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(0.1));
  const auto after = values_after_steps(sgd, p, {0.5f, 0.5f});
  EXPECT_NEAR(after[0], 1.867, 1e-6);
  EXPECT_NEAR(after[1], 1.679827, 1e-6);
}

TEST(FusedSGD, TheFirstStepNeverReadsItsNewMomentumBuffer) {
  // A freed block full of NaN is what the allocator hands out next for the same size; the first
  // step must only write the buffer (0 * NaN is NaN). Found by the block-cache-off benchmark test.
  auto p = torch::ones({1000}).requires_grad_();
  app::FusedSGD sgd({p}, torch::optim::SGDOptions(0.1).momentum(0.9));
  p.mutable_grad() = torch::ones({1000});
  { auto poison = torch::full({1000}, std::numeric_limits<float>::quiet_NaN()); }
  sgd.step();
  EXPECT_TRUE(torch::allclose(p, torch::full({1000}, 0.9f)));
}

TEST(FusedSGD, StateLoadsIntoTorchOptimSGDAndBack) {
  expect_states_swap<app::FusedSGD, torch::optim::SGD>(
      torch::optim::SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(1e-3));
}

TEST(FusedSGD, MakeOptimizerUsesIt) {
  torch::nn::Linear net(4, 2);
  app::OptimizerOptions o;
  o.kind = app::OptimizerKind::SGD;
  EXPECT_NE(dynamic_cast<app::FusedSGD*>(app::make_optimizer(*net, o).get()), nullptr);
}

TEST(FusedAdamW, MakeOptimizerUsesIt) {
  torch::nn::Linear net(4, 2);
  app::OptimizerOptions o;  // AdamW, the default
  EXPECT_NE(dynamic_cast<app::FusedAdamW*>(app::make_optimizer(*net, o).get()), nullptr);
}

TEST(FusedAdamW, SixStepsEqualTorchOptimAdamW) {
  for (const double wd : {0.0, 0.05}) {
    auto o = torch::optim::AdamWOptions(3e-3).eps(1e-6).weight_decay(wd);  // default betas (0.9, 0.999)
    auto fused_params = make_params(), ref_params = make_params();
    app::FusedAdamW fused(groups(fused_params, o), o);
    torch::optim::AdamW ref(groups(ref_params, o), o);
    step_both(fused, fused_params, ref, ref_params, 0, 6);
    EXPECT_LT(max_rel_diff(fused_params, ref_params), 1e-6) << "weight decay " << wd;
    EXPECT_GT(max_rel_diff(fused_params, make_params()), 1e-3);  // the parameters moved
    EXPECT_TRUE(torch::equal(fused_params[5], make_params()[5]));  // no gradient: untouched, no state
    EXPECT_EQ(fused.state().size(), ref.state().size());
    for (size_t i = 0; i + 1 < fused_params.size(); ++i) {  // the moments themselves, tightly
      const auto& f = state_of<torch::optim::AdamWParamState>(fused, fused_params[i]);
      const auto& r = state_of<torch::optim::AdamWParamState>(ref, ref_params[i]);
      EXPECT_EQ(f.step(), 6);
      EXPECT_LT(max_rel_diff({f.exp_avg(), f.exp_avg_sq()}, {r.exp_avg(), r.exp_avg_sq()}), 1e-6) << "parameter " << i;
      EXPECT_EQ(f.exp_avg().strides(), fused_params[i].strides());
    }
  }
}

TEST(FusedAdamW, StateInAnotherLayoutIsMovedToTheParameters) {
  // A checkpoint written with contiguous weights, resumed with channels-last ones.
  auto o = torch::optim::AdamWOptions(1e-2);
  auto a = make_params(), b = make_params();
  std::stringstream saved;
  {
    auto contiguous = make_params();
    for (auto& p : contiguous) p = p.detach().contiguous().requires_grad_();
    app::FusedAdamW before(groups(contiguous, o), o);
    set_grads(contiguous, 0);
    before.step();
    torch::save(before, saved);
  }
  std::stringstream copy(saved.str());
  app::FusedAdamW fused(groups(a, o), o);
  torch::optim::AdamW ref(groups(b, o), o);
  torch::load(fused, saved);
  torch::load(ref, copy);
  step_both(fused, a, ref, b, 1, 3);
  EXPECT_LT(max_rel_diff(a, b), 1e-6);
  const auto& f = state_of<torch::optim::AdamWParamState>(fused, a[0]);  // channels-last conv weight
  EXPECT_EQ(f.exp_avg().strides(), a[0].strides());
  EXPECT_EQ(f.exp_avg_sq().strides(), a[0].strides());
}

TEST(FusedAdamW, TwoStepsByHand) {
  // p = 1, g = 0.5 then 1, lr 0.1, betas (0.5, 0.75), eps 0.1, weight decay 0.2.
  // Step 1: p = 0.98; m = 0.25, v = 0.0625; denominator sqrt(v) / sqrt(1 - 0.75) + eps = 0.6,
  // step size 0.1 / (1 - 0.5) = 0.2: p = 0.98 - 0.2 * 0.25 / 0.6 = 0.896667 (eps inside the bias
  // correction would give 0.908571).
  // Step 2: p = 0.878733; m = 0.625, v = 0.296875; denominator sqrt(0.296875 / 0.4375) + 0.1 =
  // 0.923754, step size 0.1 / 0.75: p = 0.788522.
  auto p = torch::ones({1}).requires_grad_();
  app::FusedAdamW adam({p}, torch::optim::AdamWOptions(0.1).betas({0.5, 0.75}).eps(0.1).weight_decay(0.2));
  const auto after = values_after_steps(adam, p, {0.5f, 1.0f});
  EXPECT_NEAR(after[0], 0.8966667, 1e-6);
  EXPECT_NEAR(after[1], 0.7885218, 1e-6);
}

TEST(FusedAdamW, StateLoadsIntoTorchOptimAdamWAndBack) {
  expect_states_swap<app::FusedAdamW, torch::optim::AdamW>(torch::optim::AdamWOptions(1e-2).weight_decay(1e-2));
}

TEST(FusedAdamW, AmsgradIsTorchOptimAdamWs) {
  auto o = torch::optim::AdamWOptions(1e-2).amsgrad(true);
  auto a = make_params(), b = make_params();
  app::FusedAdamW fused(groups(a, o), o);
  torch::optim::AdamW ref(groups(b, o), o);
  step_both(fused, a, ref, b, 0, 3);
  EXPECT_EQ(max_rel_diff(a, b), 0.0);
}

}  // namespace
