#pragma once
// Training checkpoints: run configuration, model weights, optimizer state, position in the run
// (epoch, batch within it, schedule step), RNG state, best metric and the metric history.
// Written atomically (temp file + rename), so a crash never leaves a broken checkpoint.
#include <torch/torch.h>

#include <limits>
#include <memory>
#include <string>

namespace skipzoo::app {

struct CheckpointState {
  std::string config_json = "{}";   // every resolved option of the run (model, data, training)
  int64_t epoch = 0;                // the epoch in progress (0-based)
  int64_t batch = 0;                // batches of `epoch` already done; 0 at an epoch boundary
  int64_t step = 0;                 // optimizer steps done: the schedule's position
  double best_metric = -std::numeric_limits<double>::infinity();
  int64_t best_epoch = -1;
  std::string history_json = "[]";  // one object per logged epoch
  double elapsed = 0;               // run time so far, seconds (a time budget counts it)
  std::string epoch_json = "{}";    // the running sums of an interrupted epoch
};

// `average`: the weight average's tensors (engine/weight_average.h), stored when not empty.
void save_checkpoint(const std::string& path, const CheckpointState& state, torch::nn::Module& model,
                     torch::optim::Optimizer* optimizer, const std::vector<torch::Tensor>& average = {});

// Opens a checkpoint; read the state first (it says which model to build), then load into it.
class CheckpointReader {
 public:
  explicit CheckpointReader(const std::string& path);  // throws std::runtime_error naming the file
  const CheckpointState& state() const { return state_; }
  void load_model(torch::nn::Module& model);
  void load_optimizer(torch::optim::Optimizer& optimizer);
  void restore_rng();
  // The stored weight average, or an empty list when the run kept none.
  std::vector<torch::Tensor> weight_average();

 private:
  std::string path_;
  torch::serialize::InputArchive archive_;
  CheckpointState state_;
};

// True when `path` looks like a skipzoo checkpoint (cheap: reads only the archive's records).
bool is_checkpoint(const std::string& path);

}  // namespace skipzoo::app
