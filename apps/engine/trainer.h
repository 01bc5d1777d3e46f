#pragma once
// The one training engine. Segmentation and classification differ only in their TaskHooks
// (loss, validation) and their BatchSource; the loop, schedules, checkpoints,
// resume, progress, logs and plots are shared.
#include <nlohmann/json.hpp>
#include <skipzoo/models/registry.h>
#include <torch/torch.h>

#include <string>

#include "engine/checkpoint.h"
#include "engine/distributed.h"
#include "engine/layout.h"
#include "engine/optim.h"
#include "engine/pacing.h"
#include "engine/thread_pools.h"
#include "engine/weight_average.h"

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
  // Evaluates the model through `forward` (eval mode, no autograd, inputs [N,C,H,W] on the CPU
  // moved to `device` and into the model's layout); may write pictures into `dir`. Returns a
  // JSON object of metrics; main_metric() names the one to maximise.
  virtual nlohmann::json validate(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                                  const torch::Device& device, const std::string& dir, int64_t epoch) = 0;
  virtual std::string main_metric() const = 0;
  // Data-parallel runs: the ranks (null: one process). The loss completes its batch sums over
  // them; validation takes this rank's share of the images, and every rank returns the metrics
  // of the whole set. `dir` is empty on the ranks that write no files.
  void distribute(RankGroup* ranks) { ranks_ = ranks; }

 protected:
  RankGroup* ranks_ = nullptr;
  // This rank's share of `n` validation items: [first, last), in order.
  std::pair<size_t, size_t> share_of(size_t n) const;
};

struct TrainOptions {
  int64_t epochs = 30;
  int64_t iters = 0;           // > 0: stop after this many optimizer steps instead
  double time_budget = 0;      // seconds > 0: train until then instead (validation and export included);
                               // the schedule is fitted to the steps that fit, re-estimated as it runs
  int64_t val_every = 0;       // validate every N epochs (and after the last); 0: auto, about ten
                               // validations a run taking at most ~10% of its time
  double checkpoint_every = 60;  // seconds: last.ckpt at the first epoch end after this (and at each
                                 // validation, at the end and when interrupted)
  OptimizerOptions optimizer;
  ScheduleOptions schedule;
  double clip_grad_norm = 0;  // 0: no clipping
  std::string device = "cpu";
  bool amp = true;            // bf16 autocast on CUDA; never on CPU
  Layout layout = Layout::Auto;  // 4-D weights and batches: channels-last, contiguous, or measured
  double weight_average = 0;     // > 0: validate, keep as best.ckpt and export an exponential moving
                                 // average of the weights with this decay per step; 0: the weights
  std::string layout_cache = default_layout_cache();  // not part of the run's configuration
  DistOptions distributed;  // data-parallel settings (config.json keeps sync_bn; the rest is the launch's)
};
// The run's configuration (config.json "train"): every field but layout_cache; from_json keeps
// the defaults of missing keys and throws std::invalid_argument for unknown enum names.
void to_json(nlohmann::json& j, const TrainOptions& o);
void from_json(const nlohmann::json& j, TrainOptions& o);

struct TrainResult {
  bool interrupted = false;
  int64_t epochs_done = 0;
  int64_t steps_done = 0;
  double best_metric = 0;
  int64_t best_epoch = -1;
  nlohmann::json last_metrics;
  double run_seconds = 0;  // the run's time when run() returned, earlier sessions included
};

// Raised when the loss becomes NaN/inf: training stops, the last good checkpoint stays.
class NonFiniteLoss : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Trainer {
 public:
  // `config` holds every resolved option of the run; it is stored in each checkpoint.
  // `group`: the ranks of a data-parallel run (null: one process). Every rank runs a Trainer;
  // rank 0 alone writes the run directory and prints.
  Trainer(models::Model& model, BatchSource& data, TaskHooks& task, TrainOptions options, nlohmann::json config,
          std::string run_dir, Distributed* group = nullptr);
  // Continues a run from its checkpoint (weights, optimizer, position, history, RNG, run time).
  void resume(CheckpointReader& checkpoint);
  // Chooses the layout (options.layout; `auto` times a few passes of the first batch) and puts
  // the model in it; config()["layout"] records the choice. run() does this if not done yet.
  const LayoutChoice& prepare();
  TrainResult run();

  // The planned number of steps: fixed, or fitted to the time budget as measured so far.
  int64_t total_steps() const;
  const nlohmann::json& config() const { return config_; }

 private:
  struct Epoch;  // the running sums of the epoch in progress (kept in mid-epoch checkpoints)
  double run_time() const;               // seconds of this run, earlier sessions included
  double save(const std::string& name);  // returns the seconds it took; refuses a non-finite state
  std::string last_good_checkpoint() const;  // a sentence naming RUN/last.ckpt, or saying there is none
  nlohmann::json validate(int64_t epoch);
  double train_step(const Batch& batch, double lr, Epoch& sums);  // returns the loss
  std::string end_epoch(Epoch& sums, bool last, TrainResult& result);  // returns the summary line
  bool writes() const { return !group_ || group_->is_main(); }  // this process writes the run's files
  bool agree_to_stop();  // a stop was asked on any rank (the ranks stop at the same step)

  models::Model& model_;
  BatchSource& data_;
  TaskHooks& task_;
  TrainOptions options_;
  nlohmann::json config_;
  std::string run_dir_;
  torch::Device device_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  CheckpointState state_;
  Pacer pacer_;
  LayoutChoice layout_;
  int threads_ = at::get_num_threads();  // the global --threads, before a pool is chosen
  ThreadPoolChoice pool_;                // which pool runs them (CPU)
  std::unique_ptr<WeightAverage> average_;
  std::vector<torch::Tensor> resumed_average_;  // from a checkpoint, until the average exists
  bool prepared_ = false;
  double earlier_sessions_ = 0;  // run time before this process (a resumed run)
  Distributed* group_ = nullptr;
  std::unique_ptr<DataParallel> parallel_;
  bool stop_ = false;  // agreed by every rank
  int64_t saved_step_ = -1;  // the step last.ckpt holds (this process wrote it, or resumed from it)
};

// Seconds since the process started (steady clock): a time budget counts from there.
double process_seconds();

}  // namespace skipzoo::app
