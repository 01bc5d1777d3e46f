// The dense-convolution peak (bench_core.h): what this machine's convolution kernels reach on a
// large, regular 3x3 layer, the yardstick for the models' GFLOP/s.
#include <torch/version.h>

#include <chrono>
#include <stdexcept>

#include "bench/core/bench_core.h"

namespace skipzoo::app {

namespace {

PeakCase measure(const PeakOptions& o, const torch::Device& device, bool channels_last, bool backward) {
  torch::manual_seed(0);
  const auto dtype = o.amp ? torch::kBFloat16 : torch::kFloat32;
  const auto format = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  const auto opts = torch::TensorOptions().device(device).dtype(dtype);
  auto x = torch::randn({o.batch, o.channels, o.size, o.size}, opts).contiguous(format);
  auto w = (torch::randn({o.channels, o.channels, 3, 3}, opts) * 0.02).contiguous(format);
  auto grad = torch::randn({o.batch, o.channels, o.size, o.size}, opts).contiguous(format);
  x.set_requires_grad(backward);
  w.set_requires_grad(backward);
  std::vector<double> seconds;
  for (int64_t i = 0; i < o.warmup + o.iters; ++i) {
    synchronize(device);
    const auto start = std::chrono::steady_clock::now();
    if (backward) {
      x.mutable_grad() = torch::Tensor();  // fresh gradients, as after zero_grad(set_to_none)
      w.mutable_grad() = torch::Tensor();
      auto y = torch::conv2d(x, w, {}, 1, 1);
      y.backward(grad);  // grad_input and grad_weight: two more products of the forward's size
    } else {
      c10::InferenceMode guard;
      auto y = torch::conv2d(x, w, {}, 1, 1);
    }
    synchronize(device);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (i >= o.warmup) seconds.push_back(s);
  }
  PeakCase c;
  c.channels_last = channels_last;
  c.backward = backward;
  c.time = time_stats(seconds);
  return c;
}

}  // namespace

PeakResult run_peak_bench(const PeakOptions& options) {
  if (options.batch < 1 || options.channels < 1 || options.size < 1 || options.iters < 1 || options.warmup < 0) {
    throw std::invalid_argument("batch, channels, size and iters must be >= 1 and warmup >= 0");
  }
  const auto device = bench_device(options.device);
  PeakResult r;
  r.options = options;
  r.macs = options.batch * options.channels * options.size * options.size * options.channels * 9;
  for (bool backward : {false, true}) {
    for (bool channels_last : {false, true}) {
      auto c = measure(options, device, channels_last, backward);
      c.gflops = (backward ? 3.0 : 1.0) * 2.0 * static_cast<double>(r.macs) / c.time.median / 1e9;
      double& best = backward ? r.training_gflops : r.forward_gflops;
      best = std::max(best, c.gflops);
      r.cases.push_back(c);
    }
  }
  return r;
}

nlohmann::json to_json(const PeakResult& r) {
  const auto& o = r.options;
  auto cases = nlohmann::json::array();
  for (const auto& c : r.cases) {
    cases.push_back({{"pass", c.backward ? "forward+backward" : "forward"},
                     {"layout", c.channels_last ? "channels_last" : "contiguous"},
                     {"s", to_json(c.time)},
                     {"gflops", c.gflops}});
  }
  return {{"bench", "peak"},
          {"implementation", "skipzoo"},
          {"conv", std::to_string(o.channels) + "->" + std::to_string(o.channels) + " 3x3"},
          {"batch", o.batch},
          {"input", {o.channels, o.size, o.size}},
          {"device", o.device},
          {"dtype", o.amp ? "bfloat16" : "float32"},
          {"threads", at::get_num_threads()},
          {"iters", o.iters},
          {"warmup", o.warmup},
          {"macs", r.macs},
          {"cases", cases},
          {"forward_gflops", r.forward_gflops},
          {"training_gflops", r.training_gflops},
          {"torch_version", TORCH_VERSION}};
}

}  // namespace skipzoo::app
