#pragma once
// Progress on long work: a redrawn one-line bar with ETA on a terminal, and plain lines
// (one per epoch, plus occasional heartbeats) when stdout is a file or a pipe.
#include <chrono>
#include <iosfwd>
#include <string>

namespace skipzoo::app {

std::string format_duration(double seconds);  // "1:02:03", "02:03"
// "90s", "10m", "1h30m", "1.5h", "2d" or plain seconds ("600") -> seconds > 0; throws
// std::invalid_argument saying what was expected.
double parse_duration(const std::string& text);

class Progress {
 public:
  // `label` starts each line, e.g. "epoch 3/20"; total: units of work (batches, images).
  Progress(std::string label, int64_t total, std::ostream& out, bool tty);
  // Call after each unit; `stats` is appended as is ("loss 0.213  lr 1.0e-03 ...").
  void update(int64_t done, const std::string& stats);
  // Ends the bar with a final line.
  void finish(const std::string& stats);
  double elapsed() const;

 private:
  std::string label_;
  int64_t total_;
  std::ostream& out_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

bool stdout_is_tty();

}  // namespace skipzoo::app
