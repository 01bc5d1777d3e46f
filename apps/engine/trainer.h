#pragma once
// The one training engine. Segmentation and classification differ only in their TaskHooks
// (loss, validation, metadata) and their BatchSource; the loop, schedules, checkpoints,
// resume, progress, logs and plots are shared.
#include <nlohmann/json.hpp>
#include <skipzoo/models/registry.h>
#include <torch/torch.h>

#include <string>

#include "engine/checkpoint.h"
#include "engine/optim.h"

namespace skipzoo::app {

struct Batch {
  torch::Tensor inputs;   // [B,C,H,W] float
  torch::Tensor targets;  // [B,H,W] (segmentation) or [B] (classification), int64
};

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t batches_per_epoch() const = 0;
  // Starts `epoch` at batch `first_batch` (non-zero when resuming an interrupted epoch).
  virtual void start_epoch(int64_t epoch, int64_t first_batch) = 0;
  virtual bool next(Batch& batch) = 0;       // false at the end of the epoch
  virtual double wait_seconds() const = 0;   // cumulative time the trainer waited for data
};

class TaskHooks {
 public:
  virtual ~TaskHooks() = default;
  virtual torch::Tensor loss(const torch::Tensor& logits, const torch::Tensor& targets) = 0;
  // Evaluates the model (already in eval mode, on `device`); may write pictures into `dir`.
  // Returns a JSON object of metrics; main_metric() names the one to maximise.
  virtual nlohmann::json validate(models::Model& model, const torch::Device& device, const std::string& dir,
                                  int64_t epoch) = 0;
  virtual std::string main_metric() const = 0;
  virtual nlohmann::json export_metadata() const = 0;  // merged into model.ts's skipzoo.json
};

struct TrainOptions {
  int64_t epochs = 10;
  int64_t iters = 0;         // > 0: stop after this many optimizer steps instead
  int64_t val_every = 1;     // validate every N epochs (and after the last)
  OptimizerOptions optimizer;
  ScheduleOptions schedule;
  double clip_grad_norm = 0;  // 0: no clipping
  std::string device = "cpu";
  bool amp = true;            // bf16 autocast on CUDA; never on CPU
  bool channels_last = true;  // 4-D weights and batches in channels-last layout (oneDNN's NHWC kernels)
  bool export_model = true;   // write model.ts from the best checkpoint at the end
};

struct TrainResult {
  bool interrupted = false;
  int64_t epochs_done = 0;
  int64_t steps_done = 0;
  double best_metric = 0;
  int64_t best_epoch = -1;
  nlohmann::json last_metrics;
};

// Raised when the loss becomes NaN/inf: training stops, the last good checkpoint stays.
class NonFiniteLoss : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Trainer {
 public:
  // `config` holds every resolved option of the run; it is stored in each checkpoint.
  Trainer(models::Model& model, BatchSource& data, TaskHooks& task, TrainOptions options, nlohmann::json config,
          std::string run_dir);
  // Continues a run from its checkpoint (weights, optimizer, position, history, RNG).
  void resume(CheckpointReader& checkpoint);
  TrainResult run();

  int64_t total_steps() const;

 private:
  void place_model();  // on the device, in the training layout
  void save(const std::string& name);
  void log_epoch(nlohmann::json row);
  nlohmann::json validate(int64_t epoch);

  models::Model& model_;
  BatchSource& data_;
  TaskHooks& task_;
  TrainOptions options_;
  nlohmann::json config_;
  std::string run_dir_;
  torch::Device device_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  CheckpointState state_;
};

}  // namespace skipzoo::app
