// `skipzoo train seg` against the clock: a wall-clock budget that ends on time with a finished
// schedule and survives an interruption, the per-epoch time breakdown, and `--layout auto`
// choosing from (faked) measured timings.
#include <gtest/gtest.h>

#include <chrono>

#include "engine/json_file.h"
#include "seg_app_util.h"
#include "test_util.h"

using namespace skipzoo::test;
namespace app = skipzoo::app;
namespace fs = std::filesystem;

namespace {
double seconds_of(const std::function<void()>& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

TEST(SegTime, ABudgetEndsOnTimeWithAFinishedScheduleAndAValidModel) {
  TempDir tmp;
  const auto run = tmp.file("run");
  const double budget = 15;
  CliResult r;
  const double wall = seconds_of([&] { r = run_cli(train_seg(run, "--time 15s --layout contiguous")); });
  ASSERT_EQ(r.code, 0) << r.output;
  const auto history = app::read_json(run + "/metrics.json");
  ASSERT_GE(history.size(), 2u);
  const auto& last = history.back();
  const double step = last["seconds"].get<double>() / std::max<int64_t>(1, last["step"].get<int64_t>() -
                                                                           history[history.size() - 2]["step"].get<int64_t>());
  // On time: not before most of the budget, and past it by at most a step and the validation
  // (plus process start-up and exit, which the budget cannot see).
  EXPECT_GE(wall, 0.75 * budget) << r.output;
  EXPECT_LE(wall, budget + step + last["time_validation"].get<double>() + 2.0) << r.output;
  EXPECT_LE(last["elapsed"].get<double>(), budget + step + 1.0);
  // The schedule was fitted to the steps that fit: the last step ran at the floor (cosine: 0).
  EXPECT_NEAR(last["lr"].get<double>(), 0.0, 1e-12) << last.dump();
  EXPECT_GT(last["val_mIoU"].get<double>(), 0.0);
  // Where the time went: the parts add up to the steps' wall time.
  int64_t steps_before = 0;
  for (const auto& row : history) {
    // Every row is an epoch that took steps (never an empty one opened after the last step).
    EXPECT_GT(row["step"].get<int64_t>(), steps_before) << row.dump();
    steps_before = row["step"].get<int64_t>();
    const double parts = row["time_data"].get<double>() + row["time_compute"].get<double>() +
                         row["time_optimizer"].get<double>() + row["time_logging"].get<double>();
    EXPECT_GT(row["time_compute"].get<double>(), 0.0);
    EXPECT_GE(parts, 0.99 * row["seconds"].get<double>()) << row.dump();
  }
  // A valid export: predict runs from model.ts alone.
  r = run_cli("--threads 1 predict --model " + run + "/model.ts --input " + shapes_set() + "/val/images --out " +
              tmp.file("pred"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(fs::is_empty(tmp.file("pred/masks")));
}

TEST(SegTime, AResumedBudgetRunUsesOnlyWhatIsLeft) {
  TempDir tmp;
  const auto run = tmp.file("run"), log = tmp.file("log.txt");
  // Interrupted: SIGINT after the first epoch; the budget used so far is in last.ckpt.
  const std::string cmd = "exec " + std::string(SKIPZOO_CLI) + " " + train_seg(run, "--time 20s --layout contiguous") +
                          " > " + log + " 2>&1";
  int status = -1;
  const double first = seconds_of([&] { status = interrupt_after(cmd, log, "epoch 2 ", 120); });
  ASSERT_EQ(status, 130) << read_bytes(log);
  const auto used = app::read_json(run + "/metrics.json").back()["elapsed"].get<double>();
  EXPECT_LT(used, 20.0);
  CliResult r;
  const double second = seconds_of([&] { r = run_cli("--threads 1 train seg --resume " + run); });
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("of the 00:20 budget used"), std::string::npos) << r.output;
  const auto history = app::read_json(run + "/metrics.json");
  EXPECT_NEAR(history.back()["lr"].get<double>(), 0.0, 1e-12);
  EXPECT_LE(history.back()["elapsed"].get<double>(), 20.0 + 3.0);
  EXPECT_LE(first + second, 20.0 + 8.0) << "the resumed run has to fit the remaining budget";
}

TEST(SegTime, LayoutAutoTakesTheFasterOfTheMeasuredTimesAndRecordsIt) {
  TempDir tmp;
  const std::string env = "SKIPZOO_CACHE_DIR=" + tmp.path();
  const std::string flags = "--epochs 1 --patches-per-image 1 --no-export --layout auto";
  auto r = run_cli(train_seg(tmp.file("measured"), flags), env);
  ASSERT_EQ(r.code, 0) << r.output;
  auto layout = app::read_json(tmp.file("measured/config.json"))["layout"];
  EXPECT_EQ(layout["requested"], "auto");
  EXPECT_FALSE(layout["cached"].get<bool>());
  const bool channels_last = layout["channels_last_s"].get<double>() < layout["contiguous_s"].get<double>() / 1.02;
  EXPECT_EQ(layout["layout"], channels_last ? "channels-last" : "contiguous");
  EXPECT_NE(r.output.find("layout: "), std::string::npos) << r.output;

  // Fake the measurement in the cache, both ways: the run follows the faked times.
  const auto cache_file = tmp.file("layouts.json");
  auto cache = app::read_json(cache_file);
  ASSERT_EQ(cache.size(), 1u);
  for (const auto& [fast, slow, expected] : {std::tuple{"channels_last_s", "contiguous_s", "channels-last"},
                                             std::tuple{"contiguous_s", "channels_last_s", "contiguous"}}) {
    for (auto& entry : cache) {
      entry[fast] = 1.0;
      entry[slow] = 3.0;
    }
    app::write_json(cache_file, cache);
    const auto out = tmp.file(std::string("faked_") + expected);
    r = run_cli(train_seg(out, flags), env);
    ASSERT_EQ(r.code, 0) << r.output;
    layout = app::read_json(out + "/config.json")["layout"];
    EXPECT_EQ(layout["layout"], expected);
    EXPECT_TRUE(layout["cached"].get<bool>());
    EXPECT_DOUBLE_EQ(layout[fast].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(layout[slow].get<double>(), 3.0);
  }
}
