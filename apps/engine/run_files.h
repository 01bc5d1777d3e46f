#pragma once
// The files of a run directory that are not checkpoints: config.json, metrics.csv,
// metrics.json and curves.png; the lock that keeps one training per directory; the clean-up of
// what a killed run left half-written.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "engine/json_file.h"

namespace skipzoo::app {

// Rewrites metrics.json, metrics.csv (one row per epoch; scalar values only, columns in
// order of first appearance) and curves.png (training loss and `main_metric` per epoch).
void write_run_logs(const std::string& run_dir, const nlohmann::json& history, const std::string& main_metric);

// An exclusive flock(2) on RUN_DIR/.lock for the life of the object, holding the owner's process
// id. The kernel releases it when the process ends, however it ends, so a killed run never
// leaves a stale lock. Throws std::runtime_error naming the directory and the other process's id
// when another process holds it.
class RunLock {
 public:
  explicit RunLock(const std::string& run_dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

// Removes the temporary files of atomic writes ("NAME.tmpPID_N") that processes no longer alive
// left in `run_dir` (a run killed while writing a checkpoint). Returns how many bytes it freed.
std::uintmax_t remove_stale_temporaries(const std::string& run_dir);

}  // namespace skipzoo::app
