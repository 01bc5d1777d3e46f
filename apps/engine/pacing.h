#pragma once
// Pacing a training run by measured time: how many optimizer steps fit a wall-clock budget
// (re-estimated as the run goes, so the learning-rate schedule ends at its floor when the
// budget does), when to validate (about ten times a run, at most ~10% of its time) and when
// to write last.ckpt. Pure bookkeeping: callers pass the run time, so tests can fake it.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>

namespace skipzoo::app {

struct PaceOptions {
  double budget_s = 0;           // > 0: the run (validation, checkpoints, export included) ends by then
  int64_t total_steps = 0;       // without a budget: the run's fixed number of steps
  int64_t val_every = 0;         // validate every N epochs; 0: auto (below)
  int64_t validations = 10;      // auto: about this many over the run, the last one at its end
  double max_val_share = 0.1;    // auto: validation takes at most this share of the run time
  double checkpoint_every_s = 60;  // last.ckpt at the first epoch end after this many seconds
};

class Pacer {
 public:
  explicit Pacer(PaceOptions options);
  const PaceOptions& options() const { return o_; }

  // Rebuilds the counts of a resumed run from its history (rows with "time_validation").
  void restore(const nlohmann::json& history);
  // A first estimate of a step's seconds before any step is measured (e.g. the layout probe's).
  void expect_step(double seconds);
  void record_step(double seconds);        // one training step's wall time
  void record_validation(double seconds, double run_time_at_end);
  void record_save(double seconds);        // one checkpoint write
  void record_overhead(double seconds);    // other epoch-end work (logs, plots)

  // The run's planned number of steps when `steps_done` are done at run time `now`: the fixed
  // total, or with a budget, steps_done plus the steps that still fit (validations, checkpoints
  // and the export reserved). A budget run ends when this equals steps_done.
  int64_t planned_total(int64_t steps_done, double now) const;
  // Whether to validate after epoch `epochs_done` (1-based); `last`: the run's final epoch.
  bool validate_after(int64_t epochs_done, int64_t steps_done, double now, bool last) const;
  bool checkpoint_due(double now) const { return now - last_save_at_ >= o_.checkpoint_every_s; }
  void saved_at(double now) { last_save_at_ = now; }

  double step_seconds() const;             // the recent mean (or the first estimate)
  double validation_seconds() const { return val_s_; }
  int64_t validations_done() const { return validations_done_; }
  // Seconds still needed at `now` for `steps_left` steps plus the reserved work: for an ETA.
  double seconds_left(int64_t steps_left, double now) const;

 private:
  double reserve() const;  // the final validation, the last checkpoints and the export
  int64_t future_validations(double now) const;

  PaceOptions o_;
  std::deque<double> recent_;  // the last steps' seconds
  double recent_sum_ = 0, first_estimate_ = 0;
  double overhead_ = 0;        // epoch-end work other than validation, per step
  int64_t steps_measured_ = 0, session_steps_ = 0;
  double val_s_ = 0, save_s_ = 0;
  int64_t validations_done_ = 0;
  double last_val_end_ = 0, last_save_at_ = 0;
};

}  // namespace skipzoo::app
