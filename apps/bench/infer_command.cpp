// `skipzoo bench infer`: inference latency of a zoo model as the eager C++ module (under
// InferenceMode), as its TorchScript export, or as the frozen + optimized export; or of a
// TorchScript file, or of an ONNX file through OpenCV DNN. bench/infer_python.py measures Python
// eager the same way.
#include <nlohmann/json.hpp>
#include <skipzoo/models/export.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <numeric>
#include <sys/resource.h>
#include <unistd.h>

#include "bench/bench_flags.h"
#include "cli/cli.h"
#include "cli/model_flags.h"
#include "engine/predictor.h"

namespace skipzoo::app {

namespace {

struct InferFlags {
  std::string model;
  models::ModelConfig config;  // name filled from `model` when it is not a file
  int64_t batch = 1;
  std::string input = "3,224,224";
  std::string mode;  // "" = eager for a model name, script for a file
  int warmup = 5, iters = 20;
  std::string grad_mode = "inference";  // or "no-grad": NoGradGuard, to measure what InferenceMode saves
  bool json = false;
};

using Forward = std::function<torch::Tensor(const torch::Tensor&)>;

// "script": the file as loaded; "optimized": a frozen file (or the file frozen now) after
// optimize_for_inference, which is what deployment code runs on the CPU.
Forward script_runner(const std::string& path, const std::string& mode) {
  auto module = models::load_torchscript(path).module;
  module = mode == "optimized" ? models::optimize_for_inference_cpu(module) : module;
  if (module.hasattr("training")) module.eval();
  return [module](const torch::Tensor& x) mutable { return module.forward({x}).toTensor(); };
}

// One callable forward, whatever the mode. A named model in script/optimized mode goes
// through a real export file (plain, or --optimize), so the timing is the deployment's.
Forward build_runner(const InferFlags& f, std::string& mode) {
  if (std::filesystem::exists(f.model) && std::filesystem::path(f.model).extension() == ".onnx") {
    if (!mode.empty() && mode != "onnx") throw UsageError("--mode " + mode + ": '" + f.model + "' is an ONNX file");
    mode = "onnx";
    return load_onnx_predictor(f.model, torch::kCPU).forward;
  }
  if (std::filesystem::exists(f.model)) {
    if (mode.empty()) mode = "script";
    if (mode == "eager") throw UsageError("--mode eager needs a model name; '" + f.model + "' is a TorchScript file");
    return script_runner(f.model, mode);
  }
  models::Model model;
  try {
    model = models::create_model(f.config, 0);
  } catch (const std::invalid_argument& e) {
    throw UsageError("--model '" + f.model + "' is neither a file nor a model: " + e.what());
  }
  if (mode.empty()) mode = "eager";
  if (mode == "eager") {
    model.module().eval();
    return [model](const torch::Tensor& x) mutable { return model.forward(x); };
  }
  const auto path = (std::filesystem::temp_directory_path() /
                     ("skipzoo_bench_" + std::to_string(::getpid()) + ".ts")).string();
  models::ExportOptions options;
  options.optimize = mode == "optimized";
  models::export_torchscript(model, path, options);
  try {
    auto forward = script_runner(path, mode);
    std::filesystem::remove(path);
    return forward;
  } catch (...) {
    std::filesystem::remove(path);
    throw;
  }
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

void run_bench(const InferFlags& flags) {
  InferFlags f = flags;
  f.config.name = f.model;
  auto shape = bench_input_dims(f.input);
  shape.insert(shape.begin(), f.batch);
  std::string mode = f.mode;
  auto forward = build_runner(f, mode);

  const auto x = torch::randn(shape);
  std::vector<double> ms;
  std::vector<int64_t> out_shape;
  auto timed = [&] {
    for (int i = 0; i < f.warmup; ++i) forward(x);
    for (int i = 0; i < f.iters; ++i) {
      const auto start = std::chrono::steady_clock::now();
      const auto y = forward(x);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      out_shape = y.sizes().vec();
    }
  };
  if (f.grad_mode == "inference") {
    c10::InferenceMode guard;
    timed();
  } else {
    torch::NoGradGuard guard;
    timed();
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);  // ru_maxrss: KiB on Linux
  const double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size());
  const double median = percentile(ms, 0.5);
  nlohmann::json j = {{"bench", "infer"},
                      {"model", f.model},
                      {"mode", mode},
                      {"batch", f.batch},
                      {"input", shape},
                      {"output", out_shape},
                      {"threads", at::get_num_threads()},
                      {"grad_mode", f.grad_mode},
                      {"warmup", f.warmup},
                      {"iters", f.iters},
                      {"ms_mean", mean},
                      {"ms_median", median},
                      {"ms_min", *std::min_element(ms.begin(), ms.end())},
                      {"ms_p90", percentile(ms, 0.9)},
                      {"images_per_s", 1000.0 * static_cast<double>(f.batch) / median},
                      {"peak_rss_mib", static_cast<double>(usage.ru_maxrss) / 1024.0},
                      {"skipzoo_version", SKIPZOO_VERSION},
                      {"torch_version", TORCH_VERSION}};
  if (f.json) {
    std::cout << j.dump() << "\n";
    return;
  }
  std::cout << std::fixed << std::setprecision(2) << f.model << " [" << mode << "] batch " << f.batch << ", "
            << at::get_num_threads() << " threads: median " << median << " ms, mean " << mean << " ms, min "
            << j["ms_min"].get<double>() << " ms, " << j["images_per_s"].get<double>() << " images/s\n";
}

}  // namespace

void add_bench_infer_command(CLI::App& bench_group) {
  auto* cmd = bench_group.add_subcommand(
      "infer", "inference latency and peak memory: eager C++ (InferenceMode), the TorchScript export, the optimized "
               "export, or an ONNX file through OpenCV DNN");
  cmd->footer("Threads: the global --threads. Inputs are random; the timed region is the forward call alone.");
  auto f = std::make_shared<InferFlags>();
  cmd->add_option("--model", f->model, "a model name (seeded initialisation), a TorchScript file or an ONNX file")
      ->required();
  add_model_config_flags(cmd, f->config);  // for a model name
  cmd->add_option("--batch", f->batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--input", f->input, "input size C,H,W (F for the MLP)")->capture_default_str();
  cmd->add_option("--mode", f->mode,
                  "eager (C++ module), script (the export file), optimized (the --optimize file + "
                  "optimize_for_inference) or onnx (a .onnx file through OpenCV DNN) "
                  "(default: eager for a name, script for a .ts file, onnx for a .onnx file)")
      ->check(CLI::IsMember({"eager", "script", "optimized", "onnx"}));
  cmd->add_option("--grad-mode", f->grad_mode, "inference (c10::InferenceMode) or no-grad (torch::NoGradGuard)")
      ->capture_default_str()
      ->check(CLI::IsMember({"inference", "no-grad"}));
  cmd->add_option("--warmup", f->warmup, "untimed iterations first")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--iters", f->iters, "timed iterations")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--json", f->json, "print one JSON object instead of a line (default: off)");
  on_run(cmd, [f] { run_bench(*f); });
}

}  // namespace skipzoo::app
