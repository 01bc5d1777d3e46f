// `skipzoo bench train`: images/s, s/step, GFLOP/s and peak memory of a full training step.
#include <cstdio>

#include "bench/core/bench_core.h"
#include "bench/bench_flags.h"
#include "engine/cpu_block_cache.h"
#include "cli/model_flags.h"

namespace skipzoo::app {

void add_bench_train_command(CLI::App& bench_group) {
  auto* cmd = bench_group.add_subcommand(
      "train", "training throughput: zero_grad, forward, loss, backward and SGD-momentum step, after warm-up");
  cmd->footer(
      "Threads: the global --threads, in LibTorch's OpenMP pool with OpenBLAS on one thread, or the other way round "
      "when matrix products are >= 10% of the MACs and a timed pass with each pool says so (as `skipzoo train`; "
      "cached per CPU). Data: one random batch made before timing (no loader). Loss: "
      "cross-entropy (per pixel for segmentation models). Optimizer: SGD, Nesterov momentum 0.9, lr 0.01, weight "
      "decay 1e-4 on conv/linear weights, as `skipzoo train --optimizer sgd`. GFLOP/s = 3 x 2 x the forward MACs "
      "of `skipzoo info` per step. bench/python_bench.py times the same step in PyTorch.");
  auto o = std::make_shared<TrainBenchOptions>();
  auto input = std::make_shared<std::string>();
  auto zero_grad = std::make_shared<std::string>("none");
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--model", o->model.name, "a zoo model name (`skipzoo models`), seeded initialisation")->required();
  add_model_config_flags(cmd, o->model);
  cmd->add_option("--batch", o->batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--input", *input, "input size C,H,W (F for vector models) (default: the model's, as `skipzoo info`)");
  cmd->add_option("--steps", o->steps, "timed steps")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", o->warmup, "untimed steps first")->capture_default_str()->check(CLI::NonNegativeNumber);
  auto layout = std::make_shared<std::string>("auto");
  cmd->add_option("--layout", *layout,
                  "weights and input layout: auto (time a training pass in each first, as `skipzoo train`; cached per "
                  "CPU), channels-last or contiguous")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "channels-last", "contiguous"}));
  cmd->add_option("--zero-grad", *zero_grad, "none (set_to_none: free the gradients) or zeros (memset them)")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "zeros"}));
  add_device_flags(cmd, o->device, o->amp);
  cmd->add_option("--seed", o->seed, "seed for the weights and the batch")->capture_default_str();
  cmd->add_flag("--json", *json, "print one JSON object instead of a line (default: off)");
  on_run(cmd, [o, input, zero_grad, json, layout] {
    if (!input->empty()) o->input = bench_input_dims(*input);
    o->layout = parse_layout(*layout);
    o->grad_to_none = *zero_grad == "none";
    run_and_print(*json, [o] {
      auto j = to_json(run_train_bench(*o));
      j["cpu_block_cache_mib"] = cpu_block_cache_budget() >> 20;  // SKIPZOO_CPU_CACHE_MB=0 turns it off
      return j;
    }, [](const nlohmann::json& j) {
      char text[512];
      std::snprintf(text, sizeof text,
                    "%s train, batch %lld, %d threads%s%s: %.4f s/step (median of %lld), %.1f images/s, %.1f GFLOP/s, "
                    "peak RSS %.0f MiB",
                    j["model"].get<std::string>().c_str(), static_cast<long long>(j["batch"].get<int64_t>()),
                    j["threads"].get<int>(),
                    j["thread_pool"].is_object() && j["thread_pool"]["pool"] == "blas" ? " in BLAS" : "",
                    j["channels_last"].get<bool>() ? ", channels-last" : "",
                    j["s_per_step"].get<double>(), static_cast<long long>(j["steps"].get<int64_t>()),
                    j["images_per_s"].get<double>(), j["gflops"].get<double>(), j["peak_rss_mib"].get<double>());
      return std::string(text);
    });
  });
}

}  // namespace skipzoo::app
