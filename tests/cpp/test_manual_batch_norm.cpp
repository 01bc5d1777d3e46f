// Problem 11.5: ManualBatchNorm's hand-derived backward against autograd through
// torch::batch_norm, finite differences, the built-in BN inside whole models, and TorchScript.
#include <gtest/gtest.h>
#include <skipzoo/models.h>
#include <skipzoo/models/manual_batch_norm.h>

#include <condition_variable>
#include <mutex>
#include <thread>

namespace zoo = skipzoo::models;

namespace {

constexpr double kEps = 1e-5;

torch::Tensor max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max(); }

struct Grads {
  torch::Tensor out, dx, dgamma, ddelta;
};

// sum(out * r): every output element gets its own upstream gradient r.
template <typename Norm>
Grads run(Norm norm, const torch::Tensor& x0, const torch::Tensor& g0, const torch::Tensor& d0, const torch::Tensor& r) {
  auto x = x0.clone().requires_grad_(), g = g0.clone().requires_grad_(), d = d0.clone().requires_grad_();
  auto out = norm(x, g, d);
  (out * r).sum().backward();
  return {out.detach(), x.grad(), g.grad(), d.grad()};
}

torch::Tensor manual(const torch::Tensor& x, const torch::Tensor& g, const torch::Tensor& d) {
  return zoo::ManualBatchNormFunction::apply(x, g, d, kEps, nullptr)[0];
}

torch::Tensor builtin(const torch::Tensor& x, const torch::Tensor& g, const torch::Tensor& d) {
  return torch::batch_norm(x, g, d, {}, {}, /*training=*/true, 0.1, kEps, false);
}

class ManualBatchNormShapes : public ::testing::TestWithParam<std::vector<int64_t>> {};

TEST_P(ManualBatchNormShapes, ForwardAndGradientsEqualTorchBatchNorm) {
  torch::manual_seed(0);
  const auto shape = GetParam();
  const auto opts = torch::dtype(torch::kDouble);
  auto x = torch::randn(shape, opts) * 3 + 1.5;
  auto g = torch::rand({shape[1]}, opts) + 0.5, d = torch::randn({shape[1]}, opts);
  auto r = torch::randn(shape, opts);
  const auto a = run(manual, x, g, d, r), b = run(builtin, x, g, d, r);
  EXPECT_LE(max_abs_diff(a.out, b.out).item<double>(), 1e-12);
  EXPECT_LE(max_abs_diff(a.dx, b.dx).item<double>(), 1e-10);
  EXPECT_LE(max_abs_diff(a.dgamma, b.dgamma).item<double>(), 1e-10);
  EXPECT_LE(max_abs_diff(a.ddelta, b.ddelta).item<double>(), 1e-10);
  EXPECT_GT(a.dx.abs().max().item<double>(), 1e-3);  // the comparison is not between zeros
}

INSTANTIATE_TEST_SUITE_P(OneAndTwoD, ManualBatchNormShapes,
                         ::testing::Values(std::vector<int64_t>{16, 5}, std::vector<int64_t>{4, 3, 7},
                                           std::vector<int64_t>{4, 3, 5, 6}, std::vector<int64_t>{2, 1, 3, 3}));

TEST(ManualBatchNorm, FiniteDifferenceGradcheck) {
  torch::manual_seed(1);
  const auto opts = torch::dtype(torch::kDouble);
  auto x = torch::randn({3, 2, 2, 3}, opts), g = torch::rand({2}, opts) + 0.5, d = torch::randn({2}, opts);
  auto r = torch::randn({3, 2, 2, 3}, opts);
  const auto analytic = run(manual, x, g, d, r);
  auto loss = [&](const torch::Tensor& xx, const torch::Tensor& gg, const torch::Tensor& dd) {
    torch::NoGradGuard no_grad;
    return (manual(xx, gg, dd) * r).sum().item<double>();
  };
  const double h = 1e-6;
  auto check = [&](const torch::Tensor& wrt, const torch::Tensor& grad, int which) {
    for (int64_t i = 0; i < wrt.numel(); ++i) {
      auto plus = wrt.clone(), minus = wrt.clone();
      plus.view(-1)[i] += h;
      minus.view(-1)[i] -= h;
      auto f = [&](const torch::Tensor& t) { return loss(which == 0 ? t : x, which == 1 ? t : g, which == 2 ? t : d); };
      const double numeric = (f(plus) - f(minus)) / (2 * h);
      EXPECT_NEAR(grad.view(-1)[i].item<double>(), numeric, 1e-7) << "input " << which << " element " << i;
    }
  };
  check(x, analytic.dx, 0);
  check(g, analytic.dgamma, 1);
  check(d, analytic.ddelta, 2);
}

TEST(ManualBatchNorm, RunningStatisticsAndEvalMatchBuiltIn) {
  torch::manual_seed(2);
  zoo::ManualBatchNorm2d mine(3);
  torch::nn::BatchNorm2d theirs(3);
  for (int step = 0; step < 3; ++step) {
    auto x = torch::randn({4, 3, 5, 5}) * (step + 1) + step;
    EXPECT_TRUE(torch::allclose(mine->forward(x), theirs->forward(x), 1e-5, 1e-5));
  }
  EXPECT_TRUE(torch::allclose(mine->running_mean, theirs->running_mean, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(mine->running_var, theirs->running_var, 1e-6, 1e-6));
  EXPECT_EQ(mine->num_batches_tracked.item<int64_t>(), 3);
  EXPECT_EQ(theirs->num_batches_tracked.item<int64_t>(), 3);

  // Eval: (x - running_mean) / sqrt(running_var + eps), whatever the batch.
  mine->eval();
  auto x = torch::randn({2, 3, 4, 4});
  auto expected = (x - mine->running_mean.view({1, 3, 1, 1})) / (mine->running_var.view({1, 3, 1, 1}) + kEps).sqrt();
  EXPECT_TRUE(torch::allclose(mine->forward(x), expected, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(mine->forward(x.slice(0, 0, 1)), expected.slice(0, 0, 1), 1e-5, 1e-6));
}

namespace {
// Two replicas in two threads of one process: sum gives each the total of both tensors.
class TwoReplicas {
 public:
  void sum(int who, torch::Tensor& t) {
    std::unique_lock<std::mutex> lock(m_);
    parts_[who] = t.clone();
    if (++arrived_ == 2) {
      total_ = parts_[0] + parts_[1];
      arrived_ = 0;
      ++round_;
      cv_.notify_all();
    } else {
      const int round = round_;
      cv_.wait(lock, [&] { return round_ != round; });
    }
    t.copy_(total_);
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  torch::Tensor parts_[2], total_;
  int arrived_ = 0, round_ = 0;
};
}  // namespace

// --sync-bn's layer: two replicas with half a batch each give torch::batch_norm's output, input
// gradient and running statistics of the whole batch, and gamma's and delta's gradients summed
// over the replicas are the whole batch's.
TEST(ManualBatchNorm, SynchronisedOverReplicasEqualsTheWholeBatch) {
  torch::manual_seed(3);
  const auto x0 = torch::randn({8, 3, 5, 4}) * 2 + 1, r = torch::randn({8, 3, 5, 4});
  const auto gamma = torch::rand({3}) + 0.5, delta = torch::randn({3});
  torch::nn::BatchNorm2d reference(3);
  {
    torch::NoGradGuard no_grad;
    reference->weight.copy_(gamma);
    reference->bias.copy_(delta);
  }
  auto x = x0.clone().requires_grad_();
  auto whole = reference(x);
  (whole * r).sum().backward();

  TwoReplicas replicas;
  std::vector<zoo::ManualBatchNorm2d> layers;
  for (int who = 0; who < 2; ++who) {
    layers.emplace_back(3);
    torch::NoGradGuard no_grad;
    layers.back()->weight.copy_(gamma);
    layers.back()->bias.copy_(delta);
    layers.back()->replica_sum = [&replicas, who](torch::Tensor& t) { replicas.sum(who, t); };
  }
  std::vector<torch::Tensor> outs(2), dx(2);
  std::vector<std::thread> threads;
  for (int who = 0; who < 2; ++who) {
    threads.emplace_back([&, who] {
      auto xi = x0.slice(0, 4 * who, 4 * who + 4).clone().requires_grad_();
      auto out = layers[who](xi);
      (out * r.slice(0, 4 * who, 4 * who + 4)).sum().backward();
      outs[who] = out.detach();
      dx[who] = xi.grad();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LT(max_abs_diff(torch::cat(outs), whole.detach()).item<double>(), 1e-5);
  EXPECT_LT(max_abs_diff(torch::cat(dx), x.grad()).item<double>(), 1e-5);
  EXPECT_LT(max_abs_diff(layers[0]->weight.grad() + layers[1]->weight.grad(), reference->weight.grad()).item<double>(),
            1e-4);
  EXPECT_LT(max_abs_diff(layers[0]->bias.grad() + layers[1]->bias.grad(), reference->bias.grad()).item<double>(), 1e-4);
  for (const auto& layer : layers) {  // both replicas keep the whole batch's running statistics
    EXPECT_LT(max_abs_diff(layer->running_mean, reference->running_mean).item<double>(), 1e-6);
    EXPECT_LT(max_abs_diff(layer->running_var, reference->running_var).item<double>(), 1e-5);
  }
  // Without the replica sum, a half is normalised by its own statistics: another answer.
  zoo::ManualBatchNorm2d alone(3);
  {
    torch::NoGradGuard no_grad;
    alone->weight.copy_(gamma);
    alone->bias.copy_(delta);
  }
  EXPECT_GT(max_abs_diff(alone(x0.slice(0, 0, 4)), outs[0]).item<double>(), 1e-2);
}

TEST(ManualBatchNorm, StateDictIsBatchNormsAndLoadsStrictly) {
  std::vector<std::string> mine, theirs;
  for (const auto& kv : zoo::state_dict(*zoo::ManualBatchNorm1d(4))) mine.push_back(kv.first);
  for (const auto& kv : zoo::state_dict(*torch::nn::BatchNorm1d(4))) theirs.push_back(kv.first);
  EXPECT_EQ(mine, theirs);
  torch::nn::BatchNorm1d source(4);
  source->forward(torch::randn({8, 4}));
  zoo::ManualBatchNorm1d target(4);
  EXPECT_TRUE(zoo::load_state_dict(*target, zoo::state_dict(*source)).clean());
  EXPECT_TRUE(torch::equal(target->running_var, source->running_var));
}

TEST(ManualBatchNorm, ClearErrors) {
  zoo::ManualBatchNorm2d bn(3);
  auto message = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const c10::Error& e) {
      return std::string(e.what_without_backtrace());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([&] { bn->forward(torch::randn({2, 3, 4})); }).find("expected a 4-D input, got 3-D"),
            std::string::npos);
  EXPECT_NE(message([&] { bn->forward(torch::randn({2, 4, 3, 3})); }).find("expected 3 channels, got 4"),
            std::string::npos);
  EXPECT_NE(message([&] { bn->forward(torch::randn({1, 3, 1, 1})); }).find("more than 1 value per channel"),
            std::string::npos);
}

// Same weights, same data, a few SGD steps: the manual BN model tracks the built-in one.
void expect_same_training(const std::string& name, const std::string& batch_options,
                          const std::string& manual_options, const std::vector<int64_t>& input) {
  auto a = zoo::create_model({name, -1, -1, batch_options}, 0);
  auto b = zoo::create_model({name, -1, -1, manual_options}, 1);
  ASSERT_TRUE(zoo::load_state_dict(b.module(), zoo::state_dict(a.module())).clean());
  a.module().to(torch::kDouble);
  b.module().to(torch::kDouble);
  torch::optim::SGD sa(a.module().parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  torch::optim::SGD sb(b.module().parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  torch::manual_seed(3);
  for (int step = 0; step < 3; ++step) {
    auto x = torch::randn(input, torch::kDouble);
    sa.zero_grad();
    sb.zero_grad();
    auto ya = a.forward(x), yb = b.forward(x);
    auto target = torch::randn_like(ya);
    torch::mse_loss(ya, target).backward();
    torch::mse_loss(yb, target).backward();
    sa.step();
    sb.step();
  }
  const auto sa_dict = zoo::state_dict(a.module()), sb_dict = zoo::state_dict(b.module());
  ASSERT_EQ(sa_dict.size(), sb_dict.size());
  for (size_t i = 0; i < sa_dict.size(); ++i) {
    ASSERT_EQ(sa_dict[i].first, sb_dict[i].first);
    EXPECT_TRUE(torch::allclose(sa_dict[i].second.to(torch::kDouble), sb_dict[i].second.to(torch::kDouble), 1e-9,
                                1e-10))
        << name << " " << sa_dict[i].first;
  }
  a.module().eval();
  b.module().eval();
  auto x = torch::randn(input, torch::kDouble);
  EXPECT_TRUE(torch::allclose(a.forward(x), b.forward(x), 1e-9, 1e-10)) << name;
}

TEST(ManualBatchNorm, Resnet20TrainsLikeBuiltInBatchNorm) {
  expect_same_training("resnet20", R"({"norm":"batch"})", R"({"norm":"manual"})", {4, 3, 8, 8});
}

TEST(ManualBatchNorm, UNetTrainsLikeBuiltInBatchNorm) {
  expect_same_training("unet", R"({"depth":2,"base_width":4})", R"({"depth":2,"base_width":4,"norm":"manual"})",
                       {2, 3, 12, 12});
}

TEST(ManualBatchNorm, MlpTrainsLikeBuiltInBatchNorm) {
  expect_same_training("mlp", R"({"depth":3,"batchnorm":true})", R"({"depth":3,"norm":"manual"})", {16, 1});
}

TEST(ManualBatchNorm, ZooModelsUseItWithBatchNormInit) {
  EXPECT_EQ(zoo::parse_norm("manual"), zoo::Norm::Manual);
  EXPECT_EQ(zoo::norm_name(zoo::Norm::Manual), "manual");
  auto model = zoo::create_model({"resnet20", -1, -1, R"({"norm":"manual","zero_init_residual":true})"}, 0);
  int64_t manual = 0;
  for (const auto& item : model.module().named_modules()) {
    if (!zoo::is_manual_batch_norm(*item.value())) continue;
    ++manual;
    const auto weight = item.value()->named_parameters(false)["weight"];
    const bool zeroed = item.key().size() > 4 && item.key().substr(item.key().size() - 4) == ".bn2";
    EXPECT_TRUE(weight.eq(zeroed ? 0 : 1).all().item<bool>()) << item.key();
  }
  EXPECT_EQ(manual, 19);  // the stem's and two per block
  EXPECT_EQ(zoo::count_parameters(model.module()), 269'722);
}

TEST(ManualBatchNorm, ScriptTwinMatchesEagerInEval) {
  auto model = zoo::create_model({"resnet20", -1, -1, R"({"norm":"manual"})"}, 0);
  torch::manual_seed(4);
  model.forward(torch::randn({4, 3, 16, 16}) * 2 + 1);  // non-trivial running statistics
  model.module().eval();
  auto twin = zoo::to_torchscript(model.module());
  twin.eval();
  auto x = torch::randn({2, 3, 16, 16});
  auto expected = model.forward(x);
  auto got = twin.forward({x}).toTensor();
  EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-6)) << max_abs_diff(got, expected).item<double>();
}

}  // namespace
