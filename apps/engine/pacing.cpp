#include "engine/pacing.h"

#include <algorithm>
#include <cmath>

namespace skipzoo::app {

namespace {
constexpr size_t kRecentSteps = 32;      // the step-time estimate follows the run's recent pace
constexpr double kUnknownValShare = 0.05;  // of the budget, for the final validation before one is measured
constexpr double kUnknownSaveSeconds = 1.0;
}  // namespace

Pacer::Pacer(PaceOptions options) : o_(options) {}

void Pacer::restore(const nlohmann::json& history) {
  for (const auto& row : history) {
    if (const double v = row.value("time_validation", 0.0); v > 0) {
      ++validations_done_;
      val_s_ = v;
      last_val_end_ = row.value("elapsed", 0.0);
    }
    if (const double c = row.value("time_checkpoint", 0.0); c > 0) save_s_ = c;
  }
  if (!history.empty()) last_save_at_ = history.back().value("elapsed", 0.0);
}

void Pacer::expect_step(double seconds) { first_estimate_ = seconds; }

void Pacer::record_step(double seconds) {
  if (session_steps_++ == 0 && first_estimate_ > 0) return;  // a session's first step pays one-time setup
  recent_.push_back(seconds);
  recent_sum_ += seconds;
  if (recent_.size() > kRecentSteps) {
    recent_sum_ -= recent_.front();
    recent_.pop_front();
  }
  ++steps_measured_;
}

void Pacer::record_validation(double seconds, double run_time_at_end) {
  val_s_ = seconds;
  last_val_end_ = run_time_at_end;
  ++validations_done_;
}

void Pacer::record_save(double seconds) { save_s_ = seconds; }

void Pacer::record_overhead(double seconds) {
  // Spread over the steps measured so far: logs and plots cost a little per epoch.
  overhead_ = (overhead_ * static_cast<double>(std::max<int64_t>(steps_measured_ - 1, 0)) + seconds) /
              static_cast<double>(std::max<int64_t>(steps_measured_, 1));
}

double Pacer::step_seconds() const {
  return recent_.empty() ? first_estimate_ : recent_sum_ / static_cast<double>(recent_.size());
}

double Pacer::reserve() const {
  const double val = val_s_ > 0 ? val_s_ : kUnknownValShare * o_.budget_s;
  const double save = save_s_ > 0 ? save_s_ : kUnknownSaveSeconds;
  // After the last step: the final validation, best.ckpt and last.ckpt, then the export (which
  // reads a checkpoint back and compiles TorchScript: about another write plus a second).
  return val + 3 * save + 1.0;
}

int64_t Pacer::future_validations(double now) const {
  if (o_.val_every > 0 || o_.budget_s <= 0) return 0;
  const auto passed = static_cast<int64_t>(std::floor(now / o_.budget_s * static_cast<double>(o_.validations)));
  return std::max<int64_t>(0, o_.validations - 1 - std::max(validations_done_, passed));
}

int64_t Pacer::planned_total(int64_t steps_done, double now) const {
  if (o_.budget_s <= 0) return o_.total_steps;
  const double step = step_seconds();
  if (step <= 0) return steps_done + 1000000000;  // nothing measured yet: plan far ahead
  const double left = o_.budget_s - now;
  // Intermediate validations: their measured cost, or before one is measured their cap.
  const double vals = val_s_ > 0 ? std::min(static_cast<double>(future_validations(now)) * val_s_, o_.max_val_share * left)
                                 : (future_validations(now) > 0 ? o_.max_val_share * left : 0.0);
  const double avail = left - reserve() - vals;
  if (avail < step + overhead_) return steps_done;
  return steps_done + static_cast<int64_t>(std::floor(avail / (step + overhead_)));
}

bool Pacer::validate_after(int64_t epochs_done, int64_t steps_done, double now, bool last) const {
  if (last) return true;
  if (o_.val_every > 0) return epochs_done % o_.val_every == 0;
  const double progress = o_.budget_s > 0 ? now / o_.budget_s
                          : o_.total_steps > 0 ? static_cast<double>(steps_done) / static_cast<double>(o_.total_steps)
                                               : 1.0;
  const double next_point = static_cast<double>(validations_done_ + 1) / static_cast<double>(o_.validations);
  if (progress + 1e-9 < next_point) return false;
  // Keep validation within its share: train at least (1 - share) / share times its duration between two.
  if (val_s_ > 0 && now - last_val_end_ < val_s_ * (1 - o_.max_val_share) / o_.max_val_share) return false;
  return true;
}

double Pacer::seconds_left(int64_t steps_left, double now) const {
  if (o_.budget_s > 0) return std::max(0.0, o_.budget_s - now);
  const int64_t vals = o_.val_every > 0 ? 1 : std::max<int64_t>(1, o_.validations - validations_done_);
  return static_cast<double>(steps_left) * (step_seconds() + overhead_) + static_cast<double>(vals) * val_s_;
}

}  // namespace skipzoo::app
