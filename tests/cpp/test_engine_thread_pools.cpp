// Which thread pool gets the cores: the share of MACs in matrix products (hand-counted), the
// choice from faked timings, and the pool really in force during each timed pass and after.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <skipzoo/models/registry.h>

#include "engine/json_file.h"
#include "engine/thread_pools.h"
#include "test_util.h"

using namespace skipzoo::app;

namespace {

// Puts both pools back as they were, whatever a test set.
struct RestorePools {
  int omp = at::get_num_threads(), blas = blas_threads();
  ~RestorePools() {
    at::set_num_threads(omp);
    if (blas > 0) set_blas_threads(blas);
  }
};

// A pass whose seconds depend on the pool in force when it runs, recording the pools it saw.
struct FakePoolPasses {
  FakePoolPasses(double openmp, double blas) : openmp_s(openmp), blas_s(blas) {}
  double openmp_s, blas_s;
  std::vector<std::pair<int, int>> seen;  // (intra-op threads, BLAS threads) per call
  std::function<double()> pass() {
    return [this] {
      seen.emplace_back(at::get_num_threads(), blas_threads());
      return at::get_num_threads() == 1 ? blas_s : openmp_s;
    };
  }
};

skipzoo::models::ModelSummary summary_of(std::vector<std::pair<std::string, int64_t>> layers) {
  skipzoo::models::ModelSummary s;
  for (auto& [type, macs] : layers) {
    skipzoo::models::LayerInfo l;
    l.type = type;
    l.macs = macs;
    s.layers.push_back(l);
    s.macs += macs;
  }
  return s;
}

}  // namespace

TEST(ThreadPools, MatmulShareCountsLinearLayersOnly) {
  EXPECT_DOUBLE_EQ(matmul_share(summary_of({{"Conv2d", 300}, {"BatchNorm2d", 0}, {"Linear", 100}})), 0.25);
  EXPECT_DOUBLE_EQ(matmul_share(summary_of({{"Linear", 7}, {"Linear", 5}})), 1.0);
  EXPECT_DOUBLE_EQ(matmul_share(summary_of({})), 0.0);
  // From a real forward pass: an MLP 4 -> 3 -> 2 is all matrix products (4*3 + 3*2 MACs).
  skipzoo::models::ModelConfig c;
  c.name = "mlp";
  c.in_channels = 4;
  c.classes = 2;
  c.options = R"({"width": 3, "depth": 1})";
  auto mlp = skipzoo::models::create_model(c, 0);
  const auto s = skipzoo::models::summarize(mlp.net, {1, 4});
  EXPECT_EQ(s.macs, 4 * 3 + 3 * 2);
  EXPECT_DOUBLE_EQ(matmul_share(s), 1.0);
}

TEST(ThreadPools, TheFasterPoolWinsAndRunsEachTimedPass) {
  RestorePools restore;
  if (blas_threads() < 0) GTEST_SKIP() << "the BLAS is not OpenBLAS: its threads cannot be set";
  at::set_num_threads(2);
  skipzoo::test::TempDir tmp;
  LayoutProbeOptions o;
  o.cache_file = tmp.file("layouts.json");
  o.workload = "train mlp 256x1024";
  FakePoolPasses blas_faster{0.065, 0.036};
  auto choice = choose_thread_pool(2, 1.0, blas_faster.pass(), o);
  EXPECT_EQ(choice.pool, ThreadPool::Blas);
  ASSERT_TRUE(choice.times.has_value());
  EXPECT_DOUBLE_EQ(choice.times->first, 0.065);
  EXPECT_DOUBLE_EQ(choice.times->second, 0.036);
  ASSERT_EQ(blas_faster.seen.size(), 2u * (1 + o.rounds));
  for (const auto& [omp, blas] : blas_faster.seen) {  // one pool at a time, never both wide
    EXPECT_TRUE((omp == 2 && blas == 1) || (omp == 1 && blas == 2)) << omp << " " << blas;
  }
  EXPECT_EQ(at::get_num_threads(), 1);  // the choice is in force afterwards
  EXPECT_EQ(blas_threads(), 2);
  EXPECT_EQ(choice.to_json()["pool"], "blas");
  EXPECT_NE(choice.describe().find("blas, 2 threads (OpenMP on one; matrix products 100% of MACs; 0.036 s vs 0.065 s"),
            std::string::npos) << choice.describe();

  // The same workload again, with the BLAS pool in force from the choice above: the cache answers
  // (the key names the budget of 2 threads, not the 1 intra-op thread left).
  FakePoolPasses untouched{0.01, 9.0};
  choice = choose_thread_pool(2, 1.0, untouched.pass(), o);
  EXPECT_TRUE(choice.times->cached);
  EXPECT_EQ(choice.pool, ThreadPool::Blas);
  EXPECT_TRUE(untouched.seen.empty());

  // A tie within 2% goes to OpenMP, which runs everything else.
  o.cache_file.clear();
  FakePoolPasses tie{1.0, 0.99};
  EXPECT_EQ(choose_thread_pool(2, 0.5, tie.pass(), o).pool, ThreadPool::OpenMP);
  EXPECT_EQ(at::get_num_threads(), 2);
  EXPECT_EQ(blas_threads(), 1);
}

TEST(ThreadPools, ConvNetsAndOneThreadAreNotTimed) {
  RestorePools restore;
  FakePoolPasses never{1.0, 0.001};
  LayoutProbeOptions o;
  auto choice = choose_thread_pool(2, kMatmulShareWorthTiming / 2, never.pass(), o);  // e.g. a ResNet's head
  EXPECT_EQ(choice.pool, ThreadPool::OpenMP);
  EXPECT_FALSE(choice.times.has_value());
  EXPECT_EQ(at::get_num_threads(), 2);
  if (blas_threads() >= 0) {
    EXPECT_EQ(blas_threads(), 1);
  }
  EXPECT_EQ(choose_thread_pool(1, 1.0, never.pass(), o).pool, ThreadPool::OpenMP);  // nothing to split
  EXPECT_EQ(choose_thread_pool(2, 1.0, {}, o).pool, ThreadPool::OpenMP);            // no pass to time
  const auto uncounted = choose_thread_pool(2, c10::nullopt, never.pass(), o);      // as `skipzoo train`
  EXPECT_EQ(uncounted.pool, ThreadPool::OpenMP);
  EXPECT_EQ(uncounted.to_json(), (nlohmann::json{{"pool", "openmp"}, {"threads", 2}}));
  EXPECT_TRUE(never.seen.empty());
  EXPECT_EQ(choice.to_json(), (nlohmann::json{{"pool", "openmp"}, {"threads", 2}, {"matmul_share", 0.05}}));
  EXPECT_THROW(use_thread_pool(ThreadPool::OpenMP, 0), std::invalid_argument);
}
