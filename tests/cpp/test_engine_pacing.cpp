// Choosing the layout by measurement, pacing a run by time, and reading durations: all with
// faked timings, so the expected values are known exactly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/json_file.h"
#include "engine/layout.h"
#include "engine/optim.h"
#include "engine/pacing.h"
#include "engine/progress.h"
#include "test_util.h"

using namespace skipzoo::app;
namespace fs = std::filesystem;

namespace {
// A pass whose "seconds" are given, counting the calls per layout.
struct FakePasses {
  double contiguous, channels_last;
  int calls_contiguous = 0, calls_channels_last = 0;
  LayoutPass pass() {
    return [this](bool cl) {
      ++(cl ? calls_channels_last : calls_contiguous);
      return cl ? channels_last : contiguous;
    };
  }
};
}  // namespace

TEST(Layout, AutoPicksTheFasterLayoutAndCachesIt) {
  skipzoo::test::TempDir tmp;
  LayoutProbeOptions o;
  o.cache_file = tmp.file("layouts.json");
  o.workload = "train unet 8x1x128x128";
  FakePasses slow_nhwc{1.0, 1.4};
  auto choice = choose_layout(Layout::Auto, slow_nhwc.pass(), o);
  EXPECT_FALSE(choice.channels_last);
  ASSERT_TRUE(choice.times.has_value());
  EXPECT_DOUBLE_EQ(choice.times->contiguous, 1.0);
  EXPECT_DOUBLE_EQ(choice.times->channels_last, 1.4);
  EXPECT_FALSE(choice.cached);
  EXPECT_EQ(slow_nhwc.calls_contiguous, 1 + o.rounds);  // one untimed pass, then the timed rounds
  EXPECT_EQ(slow_nhwc.calls_channels_last, 1 + o.rounds);
  EXPECT_EQ(choice.to_json()["layout"], "contiguous");

  // The same workload on the same machine: the cache answers, nothing is timed.
  FakePasses untouched{9.0, 0.1};
  choice = choose_layout(Layout::Auto, untouched.pass(), o);
  EXPECT_TRUE(choice.cached);
  EXPECT_FALSE(choice.channels_last);
  EXPECT_EQ(untouched.calls_contiguous + untouched.calls_channels_last, 0);

  // Another workload is measured on its own.
  o.workload = "train unet 4x3x256x256";
  FakePasses fast_nhwc{1.0, 0.8};
  choice = choose_layout(Layout::Auto, fast_nhwc.pass(), o);
  EXPECT_TRUE(choice.channels_last);
  EXPECT_FALSE(choice.cached);
  EXPECT_EQ(read_json(o.cache_file).size(), 2u);
}

TEST(Layout, TiesGoToContiguousAndExplicitChoicesAreNotTimed) {
  LayoutProbeOptions o;  // no cache file
  FakePasses tie{1.0, 0.99};
  EXPECT_FALSE(choose_layout(Layout::Auto, tie.pass(), o).channels_last);  // within 2%
  FakePasses never{1.0, 1.0};
  auto cl = choose_layout(Layout::ChannelsLast, never.pass(), o);
  EXPECT_TRUE(cl.channels_last);
  EXPECT_FALSE(cl.times.has_value());
  EXPECT_FALSE(choose_layout(Layout::Contiguous, never.pass(), o).channels_last);
  EXPECT_EQ(never.calls_contiguous + never.calls_channels_last, 0);
  EXPECT_EQ(parse_layout("channels-last"), Layout::ChannelsLast);
  EXPECT_THROW(parse_layout("nhwc"), std::invalid_argument);
}

TEST(Layout, AnUnreadableCacheIsIgnoredAndReplaced) {
  skipzoo::test::TempDir tmp;
  LayoutProbeOptions o;
  o.cache_file = tmp.file("layouts.json");
  std::ofstream(o.cache_file) << "{ not json";
  FakePasses p{2.0, 1.0};
  EXPECT_TRUE(choose_layout(Layout::Auto, p.pass(), o).channels_last);
  EXPECT_TRUE(read_json(o.cache_file).is_object());
}

TEST(Pacer, FitsTheStepsThatRemainInTheBudget) {
  PaceOptions o;
  o.budget_s = 100;
  o.validations = 1;  // only the final validation
  Pacer p(o);
  EXPECT_GT(p.planned_total(0, 0), 1000000);  // nothing measured: plan far ahead
  for (int i = 0; i < 5; ++i) p.record_step(2.0);
  p.record_save(1.0);
  p.record_validation(4.0, 10.0);
  // 100 s budget at run time 30: 70 s left, minus the final validation (4), three checkpoint
  // writes (3) and one second for the export: 62 s, 31 steps of 2 s.
  EXPECT_EQ(p.planned_total(10, 30.0), 10 + 31);
  EXPECT_EQ(p.planned_total(40, 91.0), 40 + 0);  // 9 - 8 = 1 s left: less than a step
  EXPECT_EQ(p.planned_total(40, 89.0), 40 + 1);
  EXPECT_DOUBLE_EQ(p.seconds_left(5, 60.0), 40.0);
}

TEST(Pacer, AStepCountWithoutBudgetIsFixed) {
  PaceOptions o;
  o.total_steps = 250;
  Pacer p(o);
  p.record_step(3.0);
  EXPECT_EQ(p.planned_total(17, 1e6), 250);
}

TEST(Pacer, AutoValidationAboutTenTimesWithinItsShare) {
  PaceOptions o;
  o.total_steps = 1000;
  Pacer p(o);
  EXPECT_FALSE(p.validate_after(1, 50, 10, false));   // 5% of the run
  EXPECT_TRUE(p.validate_after(2, 100, 20, false));   // 10%
  p.record_validation(3.0, 23.0);
  EXPECT_FALSE(p.validate_after(3, 150, 30, false));  // 15%: the next point is 20%
  EXPECT_TRUE(p.validate_after(4, 200, 60, false));
  p.record_validation(30.0, 90.0);                    // a slow validation: 30 s
  // 30% reached, but 270 s of training must pass between two 30 s validations (10% share).
  EXPECT_FALSE(p.validate_after(6, 300, 200, false));
  EXPECT_TRUE(p.validate_after(6, 300, 361, false));
  EXPECT_TRUE(p.validate_after(7, 310, 100, true));   // the last epoch always validates
  o.val_every = 3;
  Pacer every(o);
  EXPECT_FALSE(every.validate_after(2, 100, 20, false));
  EXPECT_TRUE(every.validate_after(3, 150, 20, false));
}

TEST(Pacer, ResumeRestoresValidationsFromTheHistory) {
  PaceOptions o;
  o.total_steps = 100;
  Pacer p(o);
  p.restore(nlohmann::json::parse(R"([{"epoch": 1, "time_validation": 0, "elapsed": 5},
                                      {"epoch": 2, "time_validation": 2.5, "time_checkpoint": 0.5, "elapsed": 12}])"));
  EXPECT_EQ(p.validations_done(), 1);
  EXPECT_DOUBLE_EQ(p.validation_seconds(), 2.5);
  EXPECT_FALSE(p.validate_after(3, 15, 20, false));  // 15%: the second point is at 20%
  EXPECT_TRUE(p.validate_after(4, 20, 40, false));
}

TEST(Schedule, TheLastStepIsAtTheFloor) {
  ScheduleOptions s;
  for (const auto kind : {ScheduleKind::Cosine, ScheduleKind::Poly}) {
    s.kind = kind;
    const auto name = schedule_name(kind);
    EXPECT_DOUBLE_EQ(scheduled_lr(1.0, 0, 10, s), 1.0) << name;
    EXPECT_NEAR(scheduled_lr(1.0, 9, 10, s), 0.0, 1e-12) << name;
    EXPECT_GT(scheduled_lr(1.0, 8, 10, s), 0.0) << name;
  }
  s.kind = ScheduleKind::Cosine;
  s.min_lr_fraction = 0.05;
  EXPECT_NEAR(scheduled_lr(2.0, 9, 10, s), 0.1, 1e-12);
  EXPECT_DOUBLE_EQ(scheduled_lr(2.0, 0, 1, s), 0.1);  // a one-step run is all floor
}

TEST(Duration, ParsesUnitsAndRefusesTheRest) {
  EXPECT_DOUBLE_EQ(parse_duration("90s"), 90);
  EXPECT_DOUBLE_EQ(parse_duration("10m"), 600);
  EXPECT_DOUBLE_EQ(parse_duration("1h30m"), 5400);
  EXPECT_DOUBLE_EQ(parse_duration("1.5h"), 5400);
  EXPECT_DOUBLE_EQ(parse_duration("600"), 600);
  EXPECT_DOUBLE_EQ(parse_duration("2d"), 172800);
  for (const char* bad : {"", "m", "10x", "-5m", "0", "1h30", "abc", "1e400s", "5 m"}) {
    EXPECT_THROW(parse_duration(bad), std::invalid_argument) << bad;
  }
}
