// `skipzoo bench peak`: the GFLOP/s of a large dense 3x3 convolution on this machine, forward and
// forward + backward, the reference that training throughput is compared with.
#include <cstdio>

#include "bench/core/bench_core.h"
#include "bench/bench_flags.h"

namespace skipzoo::app {

void add_bench_peak_command(CLI::App& bench_group) {
  auto* cmd = bench_group.add_subcommand(
      "peak", "dense 3x3 convolution GFLOP/s (forward, and forward + backward), contiguous and channels-last");
  cmd->footer("Threads: the global --threads. GFLOP/s = 2 x MACs (x3 with the backward pass) / median time.");
  auto o = std::make_shared<PeakOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--batch", o->batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--channels", o->channels, "input and output channels")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--size", o->size, "feature map height and width")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--iters", o->iters, "timed iterations per case")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", o->warmup, "untimed iterations per case")->capture_default_str()->check(CLI::NonNegativeNumber);
  add_device_flags(cmd, o->device, o->amp);
  cmd->add_flag("--json", *json, "print one JSON object instead of lines (default: off)");
  on_run(cmd, [o, json] {
    run_and_print(*json, [o] { return to_json(run_peak_bench(*o)); }, [](const nlohmann::json& j) {
      std::string text;
      char buf[256];
      std::snprintf(buf, sizeof buf, "conv %s, batch %lld, %lldx%lld, %s, %d threads:",
                    j["conv"].get<std::string>().c_str(), static_cast<long long>(j["batch"].get<int64_t>()),
                    static_cast<long long>(j["input"][1].get<int64_t>()),
                    static_cast<long long>(j["input"][2].get<int64_t>()), j["dtype"].get<std::string>().c_str(),
                    j["threads"].get<int>());
      text += buf;
      for (const auto& c : j["cases"]) {
        std::snprintf(buf, sizeof buf, "\n  %-16s %-13s %8.4f s  %7.1f GFLOP/s", c["pass"].get<std::string>().c_str(),
                      c["layout"].get<std::string>().c_str(), c["s"]["median"].get<double>(), c["gflops"].get<double>());
        text += buf;
      }
      std::snprintf(buf, sizeof buf, "\npeak: forward %.1f GFLOP/s, forward + backward %.1f GFLOP/s",
                    j["forward_gflops"].get<double>(), j["training_gflops"].get<double>());
      return text + buf;
    });
  });
}

}  // namespace skipzoo::app
