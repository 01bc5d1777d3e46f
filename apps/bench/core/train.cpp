// The training-step benchmark (bench_core.h). bench/python_bench.py times the same step in
// Python: same optimizer, loss, data and timing, so their ratio is the framework's difference.
#include <skipzoo/models/analysis.h>
#include <skipzoo/models/weights.h>
#include <torch/version.h>

#include <chrono>
#include <stdexcept>

#include "bench/core/bench_core.h"
#include "engine/autocast.h"
#include "engine/optim.h"

namespace skipzoo::app {

namespace {

std::string dims_text(const std::vector<int64_t>& dims) {
  std::string s;
  for (auto d : dims) s += (s.empty() ? "" : ",") + std::to_string(d);
  return s;
}

std::vector<int64_t> checked_input(const TrainBenchOptions& o, const models::Model& model) {
  const auto expected = models::default_input_shape(model);
  if (o.input.empty()) return expected;
  if (o.input.size() != expected.size() || o.input[0] != model.config.in_channels) {
    throw std::invalid_argument("input " + dims_text(o.input) + " does not fit model '" + model.config.name +
                                "', which takes " + (expected.size() == 1 ? "F" : "C,H,W") + " with " +
                                std::to_string(model.config.in_channels) + " channels");
  }
  return o.input;
}

// Random labels the loss accepts: one class per image (classifiers) or per pixel (segmentation:
// the zoo's segmentation models keep the input's H x W).
torch::Tensor make_targets(const models::Model& model, const std::vector<int64_t>& input_shape) {
  const int64_t classes = model.config.classes;
  if (model.task == "classification") return torch::randint(classes, {input_shape[0]}, torch::kLong);
  if (model.task == "segmentation") {
    return torch::randint(classes, {input_shape[0], input_shape[2], input_shape[3]}, torch::kLong);
  }
  return {};
}

torch::Tensor loss_of(const torch::Tensor& output, const torch::Tensor& targets) {
  if (!targets.defined()) return output.to(torch::kFloat).square().mean();
  return torch::nn::functional::cross_entropy(output.to(torch::kFloat), targets);
}

// Warm-up and timed steps; returns the timed steps' seconds and records the first and last loss.
std::vector<double> time_steps(models::Model& model, const torch::Tensor& inputs, const torch::Tensor& targets,
                               const TrainBenchOptions& options, const torch::Device& device, TrainBenchResult& r) {
  OptimizerOptions sgd;
  sgd.kind = OptimizerKind::SGD;
  sgd.lr = options.lr;
  auto optimizer = make_optimizer(model.module(), sgd);
  std::vector<double> seconds;
  for (int64_t i = 0; i < options.warmup + options.steps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    model.module().zero_grad(options.grad_to_none);
    torch::Tensor loss;
    {
      AutocastGuard autocast(device, options.amp);
      loss = loss_of(model.forward(inputs), targets);
    }
    loss.backward();
    optimizer->step();
    const double value = loss.item<double>();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (i == 0) r.first_loss = value;
    r.last_loss = value;
    if (i >= options.warmup) seconds.push_back(s);
  }
  return seconds;
}

}  // namespace

TrainBenchResult run_train_bench(const TrainBenchOptions& options) {
  if (options.batch < 1 || options.steps < 1 || options.warmup < 0) {
    throw std::invalid_argument("batch and steps must be >= 1 and warmup >= 0");
  }
  const auto device = bench_device(options.device);
  if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);  // fixed shapes: let cuDNN pick
  TrainBenchResult r;
  r.options = options;
  models::Model model;
  try {
    model = models::create_model(options.model, options.seed);
  } catch (const std::exception& e) {
    throw std::invalid_argument(e.what());
  }
  r.options.model = model.config;
  r.task = model.task;
  r.options.input = checked_input(options, model);
  r.params = models::count_parameters(model.module());
  auto one = r.options.input;
  one.insert(one.begin(), 1);
  const auto summary = models::summarize(model.net, one);  // eval, no grad, on the CPU; flags restored
  r.macs_per_image = summary.macs;
  r.threads = at::get_num_threads();

  torch::manual_seed(options.seed);
  auto shape = r.options.input;
  shape.insert(shape.begin(), options.batch);
  auto inputs = torch::randn(shape).to(device);
  auto targets = make_targets(model, shape);
  if (targets.defined()) targets = targets.to(device);
  model.module().train();
  model.module().to(device);

  std::vector<double> seconds;
  try {
    LayoutProbeOptions probe;
    probe.cache_file = options.layout_cache;
    probe.workload = workload_key("train", model.config, inputs, device, options.amp);
    const auto loss = [&targets](const torch::Tensor& output) { return loss_of(output, targets); };
    const auto pass = training_pass(model, inputs, loss, device, options.amp);
    if (device.is_cpu()) use_thread_pool(ThreadPool::OpenMP, r.threads);  // the layout is timed with one pool
    if (inputs.dim() == 4) {
      r.layout = choose_layout(options.layout, pass, probe);
      apply_layout(model, r.layout.channels_last);
      if (r.layout.channels_last) inputs = inputs.contiguous(at::MemoryFormat::ChannelsLast);
    }
    if (device.is_cpu()) {
      r.pool = choose_thread_pool(r.threads, matmul_share(summary), [&] { return pass(r.layout.channels_last); },
                                  probe);
    }
    seconds = time_steps(model, inputs, targets, options, device, r);
  } catch (const c10::Error& e) {  // e.g. BatchNorm on one value per channel: a bad shape, not a crash
    throw std::invalid_argument("the training step of '" + model.config.name + "' failed for batch " +
                                std::to_string(options.batch) + ", input " + dims_text(r.options.input) + ": " +
                                e.what_without_backtrace());
  }
  r.step = time_stats(seconds);
  r.images_per_s = static_cast<double>(options.batch) / r.step.median;
  r.gflops = 6.0 * static_cast<double>(r.macs_per_image * options.batch) / r.step.median / 1e9;
  r.peak_rss_mib = peak_rss_mib();
  return r;
}

nlohmann::json to_json(const TrainBenchResult& r) {
  const auto& o = r.options;
  return {{"bench", "train"},
          {"implementation", "skipzoo"},
          {"model", o.model.name},
          {"options", nlohmann::json::parse(o.model.options)},
          {"task", r.task},
          {"params", r.params},
          {"batch", o.batch},
          {"input", o.input},
          {"steps", o.steps},
          {"warmup", o.warmup},
          {"channels_last", r.layout.channels_last},
          {"layout", r.layout.to_json()},
          {"grad_to_none", o.grad_to_none},
          {"device", o.device},
          {"amp", o.amp},
          {"threads", r.threads},
          {"thread_pool", r.pool ? r.pool->to_json() : nlohmann::json()},
          {"macs_per_image", r.macs_per_image},
          {"step_s", to_json(r.step)},
          {"s_per_step", r.step.median},
          {"images_per_s", r.images_per_s},
          {"gflops", r.gflops},
          {"peak_rss_mib", r.peak_rss_mib},
          {"first_loss", r.first_loss},
          {"last_loss", r.last_loss},
          {"torch_version", TORCH_VERSION}};
}

}  // namespace skipzoo::app
