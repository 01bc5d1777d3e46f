#pragma once
// The measurements behind `skipzoo bench train` and `skipzoo bench peak`: a full training step
// of a zoo model and a dense 3x3 convolution. Free of CLI11 and OpenCV (LibTorch, the models
// library and nlohmann only), so bench/gpu/ builds the very same code against a CUDA LibTorch.
#include <nlohmann/json.hpp>
#include <skipzoo/models/registry.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "engine/layout.h"
#include "engine/thread_pools.h"

namespace skipzoo::app {

// ---- measuring --------------------------------------------------------------------------

struct TimeStats {
  double median = 0, mean = 0, min = 0, max = 0;  // seconds
};
// Throws std::invalid_argument for an empty list.
TimeStats time_stats(std::vector<double> seconds);
nlohmann::json to_json(const TimeStats& t);

// The process's high-water resident set size in MiB (getrusage's ru_maxrss, as Python's
// resource module reports it, so both sides of a comparison are measured alike).
double peak_rss_mib();

// "cpu" or "cuda[:N]"; throws std::invalid_argument naming the value when it is not usable here
// (e.g. cuda with a CPU-only LibTorch).
torch::Device bench_device(const std::string& name);

// Waits until the device has finished its queued work (CUDA); nothing to wait for on the CPU.
void synchronize(const torch::Device& device);

// ---- training step ----------------------------------------------------------------------

struct TrainBenchOptions {
  models::ModelConfig model;
  int64_t batch = 16;
  std::vector<int64_t> input;  // C,H,W (F for vector models); empty: the model's default size
  int64_t steps = 10;          // timed steps
  int64_t warmup = 3;          // untimed steps first
  Layout layout = Layout::Auto;  // as `skipzoo train`: auto times a pass in each layout first (cached)
  std::string layout_cache = default_layout_cache();
  bool grad_to_none = true;    // zero_grad(set_to_none): no memset, gradients allocated by backward
  std::string device = "cpu";
  bool amp = false;            // bfloat16 autocast for forward and loss
  double lr = 0.01;            // SGD, Nesterov momentum 0.9, weight decay 1e-4 on conv/linear weights
  uint64_t seed = 0;
};

struct TrainBenchResult {
  TrainBenchOptions options;   // model config resolved, input filled in
  std::string task;
  int64_t params = 0;
  int64_t macs_per_image = 0;  // forward multiply-accumulates (models::summarize)
  LayoutChoice layout;         // the layout the steps ran in
  int threads = 1;             // the global --threads
  c10::optional<ThreadPoolChoice> pool;  // which pool got them (CPU only)
  TimeStats step;              // seconds per step
  double images_per_s = 0;     // batch / median step
  double gflops = 0;           // 3 x 2 x MACs per step (forward + two backward products) / median step
  double peak_rss_mib = 0;
  double first_loss = 0, last_loss = 0;
};

// Builds the model (seeded), one random batch (N(0,1) inputs; uniform random labels: one per image for
// classifiers, one per pixel for segmentation models), and times warm-up + timed steps of
// zero_grad, forward, loss, backward, optimizer step and loss.item() (which a training loop reads
// and which waits for the device). Loss: cross-entropy (per pixel for segmentation), the mean
// square of the output for other models. Throws std::invalid_argument for unusable options.
TrainBenchResult run_train_bench(const TrainBenchOptions& options);
nlohmann::json to_json(const TrainBenchResult& r);

// ---- dense convolution peak -------------------------------------------------------------

struct PeakOptions {
  int64_t batch = 8, channels = 256, size = 56;  // a C -> C 3x3 conv, stride 1, padding 1, on size x size
  int64_t iters = 5, warmup = 2;
  std::string device = "cpu";
  bool amp = false;  // bfloat16 inputs and weights (tensor cores on CUDA)
};

struct PeakCase {
  bool channels_last = false;
  bool backward = false;  // forward + backward (input and weight gradients): 3x the forward MACs
  TimeStats time;
  double gflops = 0;      // from the median
};

struct PeakResult {
  PeakOptions options;
  int64_t macs = 0;  // one forward
  std::vector<PeakCase> cases;  // contiguous and channels-last, forward and forward + backward
  double forward_gflops = 0, training_gflops = 0;  // the best layout of each
};

PeakResult run_peak_bench(const PeakOptions& options);
nlohmann::json to_json(const PeakResult& r);

}  // namespace skipzoo::app
